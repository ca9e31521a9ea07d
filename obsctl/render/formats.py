"""THE output-format registry: one place maps a result table to every output format.

Every listing command ends in ``write(listing, fmt, ...)`` and takes its ``--format``
choices from ``names()``. All writers read the same Arrow table, so ``table`` and ``csv``
agree cell for cell. Serialisation is columnwise: timestamps become RFC 3339 strings with
nanoseconds in Arrow (never through Python ``datetime``, which would drop them), CSV goes
through ``pyarrow.csv``, JSON rows through orjson one record batch at a time, and columns
of DuckDB type JSON (field metadata ``obsctl.json``) are embedded as JSON, not as strings.
A listing's data may also be a ``pyarrow.RecordBatchReader``: json, ndjson and csv then
write it batch by batch (an export of millions of rows is never held at once), and the
table view reads it whole (give it a bounded result).

The human ``table`` view builds Rich ``Text`` from data through ``render.safe`` only.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console


@dataclass(frozen=True)
class Column:
    """How the ``table`` view shows one column (machine formats ignore this)."""

    name: str
    """Column in the Arrow table."""
    header: str | None = None
    """Heading (defaults to the name)."""
    kind: str = "auto"
    """``auto``, ``text``, ``int``, ``float``, ``pct`` (a percentage), ``fraction`` (0–1
    shown as a percentage), ``factor`` (``×3.2``), ``time``, ``duration_ns``, ``bytes``,
    ``list`` (comma-separated), ``json``, or ``time_s`` (a time to the second)."""
    style: str = ""
    """Rich style for the cells."""
    justify: str | None = None
    """``left``/``right``; numbers default right."""
    max_width: int | None = None
    """Truncate wider cells with an ellipsis."""
    no_wrap: bool = True
    """Keep cells on one line."""
    min_width: int | None = None
    """Narrowest this column may be squeezed to when the terminal is narrow."""
    ellipsis: str = "right"
    """Where to cut a cell too wide for its column: ``right``, or ``left`` for paths (the
    file name is the part worth keeping)."""
    optional: int = 0
    """Non-zero: left out of the table view when the terminal is too narrow to show every
    column at its minimum width, highest number first (ties: rightmost first); machine
    formats always carry the data."""


@dataclass
class Listing:
    """A result to print: the data plus presentation hints for the table view."""

    table: pa.Table | pa.RecordBatchReader
    """The data; every format serialises exactly these columns. A reader is streamed
    batch by batch by the machine formats."""
    columns: Sequence[Column] | None = None
    """Table-view columns (subset/order/kinds); ``None`` shows every column."""
    title: str | None = None
    """Shown above the table view."""
    footer: str | None = None
    """Shown under the table view (a summary line)."""
    styles: dict[str, Callable[[Any], str]] = field(default_factory=dict)
    """Per-column functions from a cell value to a Rich style (e.g. level colours)."""
    view: pa.Table | None = None
    """What the table view reads instead of ``table``: the data plus helper columns
    formatted for people (``now`` in units, a sparkline…). Machine formats ignore it."""


Writer = Callable[[Listing, IO[str], "Console | None"], None]

_WRITERS: dict[str, Writer] = {}


def register(name: str) -> Callable[[Writer], Writer]:
    """Decorator adding a writer under ``name``."""

    def deco(fn: Writer) -> Writer:
        _WRITERS[name] = fn
        return fn

    return deco


def names() -> list[str]:
    """The format names, ``table`` first (for ``--format`` help and validation)."""
    return list(_WRITERS)


def write(
    data: Listing | pa.Table,
    fmt: str,
    stream: IO[str] | None = None,
    *,
    console: Console | None = None,
) -> None:
    """Write ``data`` to ``stream`` (default stdout) in format ``fmt``."""
    from obsctl.errors import UsageError

    listing = data if isinstance(data, Listing) else Listing(data)
    try:
        writer = _WRITERS[fmt]
    except KeyError:
        raise UsageError(
            f"unknown output format {fmt!r}; choose from {', '.join(names())}"
        ) from None
    writer(listing, stream if stream is not None else sys.stdout, console)


# --------------------------------------------------------------------------- helpers


def _is_json_field(f: pa.Field) -> bool:
    return bool(f.metadata and f.metadata.get(b"obsctl.json") == b"1")


def _has_time(t: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_time(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_time(t.field(i).type) for i in range(t.num_fields))
    return False


def _time_text(arr: pa.Array) -> pa.Array:
    """One array with its timestamps (also inside lists and structs) as RFC 3339 text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_timestamp(t):
        return pc.strftime(arr, format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_date(t):
        return arr.cast(pa.string())
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        return cls.from_arrays(arr.offsets, _time_text(arr.values), mask=arr.is_null())
    if pa.types.is_struct(t):
        fields = [_time_text(arr.field(i)) for i in range(t.num_fields)]
        names = [t.field(i).name for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(fields, names=names, mask=arr.is_null())
    return arr


def _stringify_times(table: pa.Table) -> pa.Table:
    """Timestamp columns (also nested in lists and structs) → RFC 3339 strings in UTC,
    keeping the column's precision."""
    import pyarrow as pa

    cols = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if _has_time(f.type):
            chunks = [_time_text(c) for c in col.chunks]
            col = pa.chunked_array(chunks) if chunks else pa.chunked_array([], pa.string())
            f = pa.field(f.name, col.type, metadata=f.metadata)
        cols.append((f, col))
    return pa.table([c for _, c in cols], schema=pa.schema([f for f, _ in cols]))


def _tables(data: pa.Table | pa.RecordBatchReader) -> Iterator[pa.Table]:
    """The data as one table, or for a reader one table per record batch (at least one,
    empty if the reader is, so the header/schema is always known)."""
    import pyarrow as pa

    if not isinstance(data, pa.RecordBatchReader):
        yield data
        return
    empty = True
    for batch in data:
        empty = False
        yield pa.Table.from_batches([batch])
    if empty:
        yield data.schema.empty_table()


def _binary(stream: IO[str]) -> IO[bytes] | None:
    buf = getattr(stream, "buffer", None)
    if buf is not None:
        stream.flush()
    return buf


def _emit(stream: IO[str], data: bytes) -> None:
    buf = _binary(stream)
    if buf is not None:
        buf.write(data)
        buf.flush()
    else:
        stream.write(data.decode("utf-8"))


def _json_rows(table: pa.Table) -> Any:
    """Yield lists of row dicts per record batch, JSON columns embedded as fragments."""
    import orjson

    table = _stringify_times(table)
    json_cols = [f.name for f in table.schema if _is_json_field(f)]
    for batch in table.to_batches(max_chunksize=8192):
        rows = batch.to_pylist()
        if json_cols:
            for row in rows:
                for c in json_cols:
                    v = row[c]
                    if v is not None:
                        row[c] = orjson.Fragment(v)
        yield rows


def _dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def _default(value: Any) -> Any:
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


# --------------------------------------------------------------------------- writers


@register("table")
def _write_table(listing: Listing, stream: IO[str], console: Console | None) -> None:
    import pyarrow as pa
    from rich.table import Table

    from obsctl.render.console import OutputPolicy, make_console

    con = console or make_console(stream, OutputPolicy())
    tbl = listing.view if listing.view is not None else listing.table
    if not isinstance(tbl, pa.Table):  # a reader: the table view shows bounded results
        tbl = tbl.read_all()
    cols = list(listing.columns) if listing.columns else [Column(n) for n in tbl.column_names]
    rt = Table(
        title=listing.title,
        title_justify="left",
        caption=listing.footer,
        caption_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
    )
    kinds = [c.kind if c.kind != "auto" else _auto_kind(tbl.schema.field(c.name)) for c in cols]
    data = {c.name: _cell_values(tbl.column(c.name)) for c in cols}
    rows = []
    for i in range(tbl.num_rows):
        cells = []
        for c, kind in zip(cols, kinds, strict=True):
            v = data[c.name][i]
            style_fn = listing.styles.get(c.name)
            cells.append(format_cell(v, kind, style_fn(v) if style_fn else ""))
        rows.append(cells)
    widths = _fit_widths(listing, cols, kinds, rows, con.width)
    while sum(widths) + 2 * (len(cols) - 1) > con.width and any(c.optional for c in cols):
        j = max((c.optional, k) for k, c in enumerate(cols) if c.optional)[1]
        del cols[j], kinds[j]
        for row in rows:
            del row[j]
        widths = _fit_widths(listing, cols, kinds, rows, con.width)
    for j, (c, width) in enumerate(zip(cols, widths, strict=True)):
        if c.ellipsis == "left":
            for row in rows:
                cell = row[j]
                if cell.cell_len > width:
                    cell.plain = "…" + cell.plain[len(cell.plain) - width + 1 :]
    for c, kind, width in zip(cols, kinds, widths, strict=True):
        numeric = kind in ("int", "float", "pct", "fraction", "factor", "duration_ns", "bytes")
        rt.add_column(
            c.header or c.name,
            justify=c.justify or ("right" if numeric else "left"),  # type: ignore[arg-type]
            style=c.style,
            no_wrap=c.no_wrap,
            width=width,
            overflow="ellipsis",
        )
    for cells in rows:
        rt.add_row(*cells)
    con.print(rt)


def _fit_widths(
    listing: Listing, cols: list[Column], kinds: list[str], rows: list[list[Any]], total: int
) -> list[int]:
    """Column widths that fit ``total`` cells.

    Short and numeric columns keep their natural width; wide text columns share what is
    left, in proportion to their natural widths, never below a readable minimum. (Left to
    itself, Rich shrinks every column alike or crops the table's right-hand columns.)
    """
    natural = []
    for j, (c, kind) in enumerate(zip(cols, kinds, strict=True)):
        header = c.header or c.name
        w = max([len(header), *(row[j].cell_len for row in rows)])
        cap = c.max_width or _MAX_WIDTH.get(kind)
        natural.append(min(w, cap) if cap else w)
    flexible = [
        kind in ("text", "json", "list")
        and w > _FIXED_UP_TO
        # a column whose cells all have one length holds ids or codes: never cut those,
        # unless the column declares a min_width (it is free text, however many rows)
        and (
            c.min_width is not None
            or len({row[j].cell_len for row in rows if row[j].plain != "—"}) > 1
        )
        for j, (c, kind, w) in enumerate(zip(cols, kinds, natural, strict=True))
    ]
    padding = 2 * (len(cols) - 1)
    fixed = sum(w for w, f in zip(natural, flexible, strict=True) if not f)
    wanted = sum(w for w, f in zip(natural, flexible, strict=True) if f)
    room = total - padding - fixed
    if wanted <= room or not wanted:
        return natural
    floors = [
        min(w, max(c.min_width or _FLEX_MIN, len(c.header or c.name))) if f else w
        for c, w, f in zip(cols, natural, flexible, strict=True)
    ]
    spare = max(0, room - sum(fl for fl, f in zip(floors, flexible, strict=True) if f))
    extra = sum(w - fl for w, fl, f in zip(natural, floors, flexible, strict=True) if f)
    return [
        fl + (spare * (w - fl) // extra if f and extra else 0)
        for w, fl, f in zip(natural, floors, flexible, strict=True)
    ]


_MAX_WIDTH = {"json": 48, "text": 64, "list": 48}
_FIXED_UP_TO = 16
_FLEX_MIN = 12


def _cell_values(col: pa.ChunkedArray) -> list[Any]:
    """Python values of a column; timestamps as integer ns (datetime would drop ns)."""
    import pyarrow as pa

    if pa.types.is_timestamp(col.type):
        scale = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[col.type.unit]
        return [None if v is None else v * scale for v in col.cast(pa.int64()).to_pylist()]
    return col.to_pylist()


def _escape_controls(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Make C0 control characters (ESC above all) visible in a string column.

    CSV is data, but it is also ``cat``-ed to terminals: an ESC from a hostile log line
    must not reach one. Tabs and newlines are kept (CSV quoting handles them).
    """
    import pyarrow.compute as pc

    pattern = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    if not pc.any(pc.match_substring_regex(col, pattern)).as_py():
        return col
    for code in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]:
        col = pc.replace_substring(col, chr(code), f"\\x{code:02x}")
    return col


def _auto_kind(f: pa.Field) -> str:
    import pyarrow as pa

    t = f.type
    if _is_json_field(f):
        return "json"
    if pa.types.is_timestamp(t):
        return "time"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    return "text"


def format_cell(value: Any, kind: str, style: str = "") -> Any:
    """One cell of the table view as inert Rich ``Text``."""
    from obsctl.render import units
    from obsctl.render.safe import safe_text

    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return safe_text("—", "dim")
    if kind == "int":
        return safe_text(units.fmt_count(value), style)
    if kind == "float":
        return safe_text(f"{value:,.4g}" if abs(value) < 1e6 else units.fmt_count(value), style)
    if kind == "pct":
        return safe_text(f"{value:.1f}%", style)
    if kind == "fraction":
        return safe_text(f"{value * 100:.1f}%", style)
    if kind == "factor":
        return safe_text(f"×{value:.3g}", style)
    if kind == "duration_ns":
        return safe_text(units.fmt_duration_ns(value), style)
    if kind == "bytes":
        return safe_text(units.fmt_bytes(value), style)
    if kind == "time":
        return safe_text(units.fmt_time(value), style)
    if kind == "time_s":
        return safe_text(units.fmt_time(value, precision="s"), style)
    if kind == "list" and isinstance(value, list):
        return safe_text(", ".join(str(v) for v in value), style)
    if isinstance(value, list | dict):
        return safe_text(_dumps(value).decode(), style)
    return safe_text(value, style)


@register("json")
def _write_json(listing: Listing, stream: IO[str], console: Console | None) -> None:
    out = io.BytesIO()
    out.write(b"[")
    first = True
    for table in _tables(listing.table):
        for rows in _json_rows(table):
            for row in rows:
                out.write(b"\n  " if first else b",\n  ")
                out.write(_dumps(row))
                first = False
            _emit(stream, out.getvalue())
            out = io.BytesIO()
    out.write(b"\n]\n" if not first else b"]\n")
    _emit(stream, out.getvalue())


@register("ndjson")
def _write_ndjson(listing: Listing, stream: IO[str], console: Console | None) -> None:
    for table in _tables(listing.table):
        for rows in _json_rows(table):
            _emit(stream, b"".join(_dumps(r) + b"\n" for r in rows))


@register("csv")
def _write_csv(listing: Listing, stream: IO[str], console: Console | None) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = True
    for part in _tables(listing.table):
        table = _stringify_times(part)
        cols = []
        for f, col in zip(table.schema, table.columns, strict=True):
            if pa.types.is_nested(f.type):
                col = pa.array(
                    [None if v is None else _dumps(v).decode() for v in col.to_pylist()],
                    pa.string(),
                )
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                col = _escape_controls(col)
            cols.append(col)
        table = pa.table(cols, names=table.column_names)
        out = io.BytesIO()
        options = pacsv.WriteOptions(quoting_style="needed", include_header=header)
        pacsv.write_csv(table, out, options)
        _emit(stream, out.getvalue())
        header = False
