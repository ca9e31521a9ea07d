"""CSV time series (``timestamp,value[,…]``) → ``metric_points``.

Accepted input
    A header row, then one row per instant: a **time column** and one or more **numeric
    value columns**, e.g. the NAB benchmark files (``timestamp,value``), spreadsheet or
    Grafana "export CSV" tables (``time,cpu,mem``), or ``date,host,latency_ms``. The time
    column is the first one named ``timestamp``, ``time``, ``ts``, ``date``, ``datetime``
    (also ``@timestamp``, ``time_stamp``, ``_time``), else the first column if its values
    parse as times. Delimiter ``,`` ``;`` tab or ``|`` (found from the header);
    double-quoted fields with ``""`` escapes; ``#`` comment lines and blank lines skipped.
    Times are ISO 8601 / RFC 3339 (``T`` or space, fraction, ``Z`` or offset — naive times
    are taken as UTC) or unix epochs in s/ms/µs/ns (told apart by magnitude).

Mapping
    Each numeric column is a ``'gauge'`` series named after its header, except a generic
    ``value`` column, which takes the file's stem (``nyc_taxi.csv`` → ``nyc_taxi``).
    Columns that are neither the time nor numeric (judged on the first rows) are labels:
    they go to ``attributes`` of every point of their row (``{"host": "a"}``); a label
    column ``service.name`` / ``service_name`` / ``service`` / ``job`` gives the row's
    service, else the fallback service. ``line`` = the row's line. Every row is kept, even
    when time goes backwards or repeats (NAB's machine_temperature file does both).

Rejects (line + reason)
    A row with the wrong number of fields, a time that does not parse, a non-empty value
    that is not a number (one reject per cell; the row's other values still load). Empty
    cells are missing samples: no row, no reject.

What it does not claim
    CSV without a parseable time column, or without any numeric column besides it — e.g.
    loghub's ``*_structured.csv`` / ``*_templates.csv`` (parsed log lines, not metrics) —
    scores 0 in ``sniff``; ``load`` refuses such a file as a whole.

Implementation
    The header is read in Python from the first bytes; the rows go through
    ``src.line_batches()`` into DuckDB: ``string_split`` (a regex only for lines with
    quotes), one ``unnest`` of a list of (column, cell) structs per row to unpivot, and one
    ``INSERT … SELECT``. Fast time parsing uses a cast; only other spellings go through the
    ``obsctl_ts`` macro, on the rows that need it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, Reject

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

TIME_NAMES = ("timestamp", "time", "ts", "date", "datetime", "@timestamp", "time_stamp", "_time")
"""Header names taken as the time column (case-insensitive), in order of preference."""

SERVICE_COLUMNS = ("service.name", "service_name", "service", "job")
DELIMITERS = (",", ";", "\t", "|")
SAMPLE_ROWS = 50

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?\s*(Z|z|UTC|[+-]\d{2}(:?\d{2})?)?$"
)
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(nan|NaN|inf|Inf|infinity)$")
_STEM_EXT = re.compile(r"(\.(gz|csv|tsv|txt|[0-9]+))+$", re.IGNORECASE)


@dataclass
class Layout:
    """What the header and first rows say about a CSV time series file."""

    delimiter: str
    header_line: int
    """1-based line of the header row."""
    columns: list[str]
    time_col: int
    value_cols: list[int]
    label_cols: list[int]
    by_name: bool
    """Whether the time column was recognised by its name (stronger evidence)."""


def _is_time(s: str) -> bool:
    s = s.strip()
    if _ISO.match(s):
        return True
    if _NUMBER.match(s):
        try:
            x = abs(float(s))
        except ValueError:
            return False
        # Plausible epochs (2001–2096) in s, ms, µs or ns.
        return any(1e9 * k <= x < 4e9 * k for k in (1, 1e3, 1e6, 1e9))
    return False


def _is_number(s: str) -> bool:
    return bool(_NUMBER.match(s.strip()))


def layout(head: bytes) -> Layout | None:
    """Find delimiter, header, time, value and label columns from the first bytes."""
    text = head.decode("utf-8", "replace")
    lines = [ln.rstrip("\r") for ln in text.split("\n")]  # as line_batches numbers them
    if len(head) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # possibly cut mid-line
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#")):
        start += 1
    if start >= len(lines) - 1:
        return None
    header = lines[start]
    if header.lstrip()[:1] in ("{", "[", "<"):
        return None
    counts = {d: header.count(d) for d in DELIMITERS}
    delim = max(DELIMITERS, key=lambda d: counts[d])
    if counts[delim] == 0:
        return None
    body = [ln for ln in lines[start + 1 : start + 1 + SAMPLE_ROWS] if ln.strip()]
    body = [ln for ln in body if not ln.startswith("#")]
    if not body:
        return None
    try:
        rows = list(csv.reader(io.StringIO("\n".join([header, *body])), delimiter=delim))
    except csv.Error:
        return None
    columns = [c.strip() for c in rows[0]]
    n = len(columns)
    data = [r for r in rows[1:] if len(r) == n]
    if n < 2 or len(data) < 0.8 * (len(rows) - 1):
        return None
    lowered = [c.lower() for c in columns]
    by_name = False
    time_col = -1
    for name in TIME_NAMES:
        if name in lowered:
            time_col = lowered.index(name)
            by_name = True
            break
    if time_col < 0:
        time_col = 0
    tvals = [r[time_col] for r in data if r[time_col].strip()]
    if not tvals or sum(_is_time(v) for v in tvals) < 0.8 * len(tvals):
        return None
    value_cols, label_cols = [], []
    for j in range(n):
        if j == time_col:
            continue
        vals = [r[j] for r in data if r[j].strip()]
        if vals and sum(_is_number(v) for v in vals) >= 0.8 * len(vals):
            value_cols.append(j)
        else:
            label_cols.append(j)
    if not value_cols:
        return None
    return Layout(delim, start + 1, columns, time_col, value_cols, label_cols, by_name)


def sniff(head: bytes, name: str) -> float:
    """Score CSV with a time column and numeric value columns (0 for anything else)."""
    try:
        lay = layout(head)
    except Exception:
        return 0.0
    if lay is None:
        return 0.0
    score = 0.9 if lay.by_name else 0.8
    if len(lay.label_cols) > len(lay.value_cols) + 2:
        score -= 0.2  # mostly text: a table that happens to have a time and a number
    return score


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _stem(display: str) -> str:
    if display == "-":
        return "value"
    name = Path(display).name
    return _STEM_EXT.sub("", name) or name


def _field_split_sql(delim: str) -> str:
    """SQL: the fields of ``text`` (plain split; a regex for lines with quotes)."""
    d = re.escape(delim) if delim != "\t" else "\\t"
    pattern = f'(?:^|{d})("(?:[^"]|"")*"|[^{d}"]*)'
    return (
        f"CASE WHEN contains(text, '\"') THEN list_transform("
        f"regexp_extract_all(text, {_sql_str(pattern)}, 1), lambda x: CASE WHEN "
        f"starts_with(x, '\"') THEN replace(x[2:-2], '\"\"', '\"') ELSE x END) "
        f"ELSE string_split(text, {_sql_str(delim)}) END"
    )


_FAST_TS = (
    "CASE WHEN regexp_full_match(tv, '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}"
    "(:[0-9]{2}(\\.[0-9]+)?)?)?Z?') THEN TRY_CAST(rtrim(tv, 'Z') AS TIMESTAMP_NS) "
    "WHEN regexp_full_match(tv, '-?[0-9]{1,19}') THEN obsctl_epoch_int(TRY_CAST(tv AS BIGINT)) "
    "WHEN regexp_full_match(tv, '-?[0-9]+\\.[0-9]*') THEN obsctl_epoch(TRY_CAST(tv AS DOUBLE)) "
    "END"
)


def load(src: Source, ctx: LoadContext) -> None:
    """Load a CSV time series file into ``metric_points``."""
    from obsctl.ingest.base import MAX_KEPT_REJECTS

    lay = layout(src.head)
    if lay is None:
        raise IngestError(
            f"{src.display}: not a CSV time series (needs a header with a time column "
            "and at least one numeric column)"
        )
    con = ctx.con
    stem = _stem(src.display)
    cols = lay.columns
    series = ", ".join(
        f"{{'col': {_sql_str(cols[j])}, "
        f"'metric': {_sql_str(stem if cols[j].lower() == 'value' else cols[j])}, "
        f"'cell': trim(f[{j + 1}])}}"
        for j in lay.value_cols
    )
    if lay.label_cols:
        attrs = (
            "json_object("
            + ", ".join(f"{_sql_str(cols[j])}, f[{j + 1}]" for j in lay.label_cols)
            + ")"
        )
    else:
        attrs = "'{}'::JSON"
    svc_cols = [j for name in SERVICE_COLUMNS for j in lay.label_cols if cols[j].lower() == name]
    svc = "NULL"
    if svc_cols:
        svc = "coalesce(" + ", ".join(f"nullif(trim(f[{j + 1}]), '')" for j in svc_cols) + ")"

    schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])

    def batches() -> Iterator[pa.RecordBatch]:
        for b in src.line_batches():
            yield b
            if ctx.progress:
                ctx.progress(src.consumed)

    con.register("_obsctl_csv_reader", pa.RecordBatchReader.from_batches(schema, batches()))
    try:
        con.execute(
            "CREATE TEMP TABLE _obsctl_csv_raw AS SELECT line, text FROM _obsctl_csv_reader"
            " WHERE line > $header AND text <> '' AND NOT starts_with(text, '#')",
            {"header": lay.header_line},
        )
    finally:
        con.unregister("_obsctl_csv_reader")
    try:
        con.execute(
            f"""
            CREATE TEMP TABLE _obsctl_csv_rows AS
            SELECT line, f, len(f) AS nf, trim(f[{lay.time_col + 1}]) AS tv, {_FAST_TS} AS ts
            FROM (SELECT line, {_field_split_sql(lay.delimiter)} AS f
                  FROM _obsctl_csv_raw WHERE trim(text) <> '')
            """
        )
        # Other time spellings (offsets, commas…) only on the rows the fast path missed.
        con.execute("UPDATE _obsctl_csv_rows SET ts = obsctl_ts(tv) WHERE ts IS NULL AND tv <> ''")
        ncols = len(cols)
        cells = f"""
            SELECT line, ts, s.col AS col, s.metric AS metric, s.cell AS cell,
                TRY_CAST(s.cell AS DOUBLE) AS value, attrs, svc
            FROM (
                SELECT line, ts, unnest([{series}]) AS s, {attrs} AS attrs, {svc} AS svc
                FROM _obsctl_csv_rows WHERE nf = {ncols} AND ts IS NOT NULL
            )
            WHERE s.cell <> ''
        """
        ctx.records += con.execute(
            f"""
            INSERT INTO metric_points BY NAME
            SELECT metric AS metric_name, 'gauge' AS metric_type,
                coalesce(svc, $service) AS service_name, attrs AS attributes,
                ts AS timestamp, value, $source_id AS source_id, line
            FROM ({cells}) WHERE value IS NOT NULL
            """,
            {"service": ctx.service, "source_id": ctx.source_id},
        ).fetchone()[0]
        rows = con.execute(
            f"""
            WITH bad AS (
                SELECT line, 'expected {ncols} fields, got ' || nf AS reason
                FROM _obsctl_csv_rows WHERE nf <> {ncols}
                UNION ALL
                SELECT line, 'time does not parse: ' || tv
                FROM _obsctl_csv_rows WHERE nf = {ncols} AND ts IS NULL
                UNION ALL
                SELECT line, 'column ' || col || ': not a number: ' || cell
                FROM ({cells}) WHERE value IS NULL
            ), kept AS (
                SELECT (SELECT count(*) FROM bad) AS total, line, reason FROM bad
                ORDER BY line LIMIT $keep
            )
            SELECT k.total, k.line, k.reason, r.text
            FROM kept k JOIN _obsctl_csv_raw r ON r.line = k.line ORDER BY k.line
            """,
            {"keep": MAX_KEPT_REJECTS},
        ).fetchall()
        if rows:
            ctx.reject_many(rows[0][0], (Reject(r[1], r[2], r[3] or "") for r in rows))
    finally:
        for t in ("_obsctl_csv_raw", "_obsctl_csv_rows"):
            try:
                con.execute(f"DROP TABLE IF EXISTS {t}")
            except Exception:  # transaction aborted: keep the original error; rollback cleans
                break


FORMATS = [
    FormatSpec(
        name="csv-metrics",
        signal="metrics",
        description="CSV time series: a time column and numeric value columns (NAB, exports)",
        sniff=sniff,
        load=load,
        aliases=("csv",),
    )
]
