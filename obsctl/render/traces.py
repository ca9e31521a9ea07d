"""Views of ``analysis.traces``: the waterfall, the listings, the dependency graph.

**Waterfall.** One row per span in tree order: a critical-path gutter (``┃``), the
indented service (a stable colour per service name) and operation (``✗`` when it
failed), a time bar, the duration and short notes (``self`` time of critical spans,
repairs such as ``orphan`` or ``skew``). Bars have sub-cell precision: ``bar_cells``
(pure, tested with exact strings) maps an interval to cells of eighths. The end of a bar
uses the left-aligned blocks ``▏▎▍▌▋▊▉``; its start, which needs a *right*-aligned
partial block Unicode does not have, is drawn on a terminal as the complementary
left block in reverse video, and without colour as ``▕``/``▐``/``█``. Critical spans are
drawn in full colour, the others dimmed. The renderable yields Rich ``Segment``\\ s
directly (no ``Text`` per row), so 100k rows render in well under a second; every piece
of span data goes through ``render.safe.clean`` first.

**Dependency graph.** ``to_dot`` and ``to_mermaid`` write the ``deps`` table for
post-mortems; labels are escaped for each language (quotes, backslashes, newlines in
DOT; Mermaid labels are quoted and ``"``/``<``/``>`` become entities).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from obsctl.render.formats import Column, Listing

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.style import Style

    from obsctl.analysis.trace_tree import TraceTree
    from obsctl.analysis.traces import Comparison, CriticalPathSummary

PALETTE = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "bright_blue",
    "orange3",
    "medium_purple1",
    "spring_green2",
    "deep_pink3",
    "dark_cyan",
    "gold3",
    "steel_blue1",
)
"""Service colours; a service keeps its colour across traces and runs (CRC-32 of its name)."""

LEFT_BLOCKS = " ▏▎▍▌▋▊▉█"
"""Left-aligned blocks of 0–8 eighths of a cell."""

CRITICAL_MARK = "┃"
"""Gutter mark of a span on the critical path."""
ERROR_MARK = "✗"
"""Mark after the operation of a failed span."""


def service_colour(service: str | None) -> str:
    """The stable palette colour of a service."""
    return PALETTE[zlib.crc32((service or "").encode()) % len(PALETTE)]


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Cell:
    """One cell of a bar: a character, and whether it must be drawn in reverse video."""

    char: str
    reverse: bool = False


@dataclass(frozen=True)
class Bar:
    """A bar's geometry in cells: ``lead`` blanks, an optional partial first cell, ``full``
    full cells, an optional partial last cell, then blanks to the axis width."""

    lead: int
    """Blank cells before the bar."""
    first: str
    """The partial first cell's character ('' for none)."""
    first_reverse: bool
    """Whether ``first`` is drawn in reverse video (its filled part is on the right)."""
    full: int
    """Full cells."""
    last: str
    """The partial last cell's character ('' for none)."""


def bar_geometry(start: float, end: float, t0: float, t1: float, width: int) -> Bar:
    """Where the bar for ``[start, end]`` sits on a ``width``-cell axis from ``t0`` to ``t1``.

    Positions are rounded to eighths of a cell; a bar is at least one eighth wide. A
    partial first cell is a left block in reverse video (the filled part is its right
    side); a bar within one cell is left-aligned in it unless it touches the cell's right
    edge.
    """
    eighths = width * 8
    span = (t1 - t0) or 1
    a = round((start - t0) / span * eighths)
    b = round((end - t0) / span * eighths)
    a = min(max(a, 0), eighths - 1)
    b = min(max(b, a + 1), eighths)
    ca, fa = divmod(a, 8)
    cb, fb = divmod(b, 8)
    if cb == ca or (cb == ca + 1 and fb == 0):
        n = b - a
        if fa and fa + n == 8:
            return Bar(ca, LEFT_BLOCKS[fa], True, 0, "")
        return Bar(ca, LEFT_BLOCKS[n], False, 0, "")
    first = LEFT_BLOCKS[fa] if fa else ""
    full = cb - ca - (1 if fa else 0)
    last = LEFT_BLOCKS[fb] if fb else ""
    return Bar(ca, first, bool(fa), full, last)


def bar_geometries(
    start: Any, end: Any, t0: float, t1: float, width: int
) -> list[tuple[int, str, bool, int, str]]:
    """``bar_geometry`` for arrays of intervals at once (NumPy), as plain tuples."""
    import numpy as np

    eighths = width * 8
    span = float(t1 - t0) or 1.0
    a = np.rint((np.asarray(start, dtype=np.float64) - t0) / span * eighths).astype(np.int64)
    b = np.rint((np.asarray(end, dtype=np.float64) - t0) / span * eighths).astype(np.int64)
    a = np.clip(a, 0, eighths - 1)
    b = np.minimum(np.maximum(b, a + 1), eighths)
    ca, fa = np.divmod(a, 8)
    cb, fb = np.divmod(b, 8)
    single = (cb == ca) | ((cb == ca + 1) & (fb == 0))
    n = b - a
    edge = single & (fa > 0) & (fa + n == 8)
    blocks = np.array([*LEFT_BLOCKS, ""], dtype=object)
    first_idx = np.where(single, np.where(edge, fa, np.minimum(n, 8)), np.where(fa > 0, fa, 9))
    first = blocks[first_idx]
    rev = np.where(single, edge, fa > 0)
    full = np.where(single, 0, cb - ca - (fa > 0))
    last = blocks[np.where(single | (fb == 0), 9, fb)]
    return list(
        zip(ca.tolist(), first.tolist(), rev.tolist(), full.tolist(), last.tolist(), strict=True)
    )


def bar_cells(start: float, end: float, t0: float, t1: float, width: int) -> list[Cell]:
    """The bar as exactly ``width`` cells (see ``bar_geometry``)."""
    g = bar_geometry(start, end, t0, t1, width)
    cells = [Cell(" ")] * g.lead
    if g.first:
        cells.append(Cell(g.first, g.first_reverse))
    cells += [Cell("█")] * g.full
    if g.last:
        cells.append(Cell(g.last))
    return cells + [Cell(" ")] * (width - len(cells))


def plain_cell(cell: Cell) -> str:
    """A cell for output without colour: reverse video becomes the nearest right block."""
    if not cell.reverse:
        return cell.char
    filled = 8 - LEFT_BLOCKS.index(cell.char)
    return "▕" if filled <= 2 else ("▐" if filled <= 5 else "█")


def bar_text(start: float, end: float, t0: float, t1: float, width: int) -> str:
    """The bar as plain characters (tests, no-colour output)."""
    return "".join(plain_cell(c) for c in bar_cells(start, end, t0, t1, width))


def nice_step(span_ns: float, cells: int, min_gap: int = 10) -> int:
    """A round tick step (1, 2, 5 × 10^k ns) giving ticks at least ``min_gap`` cells apart."""
    if span_ns <= 0 or cells <= 0:
        return 1
    raw = span_ns * min_gap / cells
    k = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if m * k >= raw:
            return int(m * k)
    return int(10 * k)


def axis_labels(span_ns: float, width: int) -> str:
    """The time axis: labels (``0``, ``250ms``, ``500ms``…) at their cells, ``width`` wide."""
    from obsctl.render.units import fmt_duration_ns

    out = [" "] * width
    if width <= 0:
        return ""
    step = nice_step(span_ns, width)
    t = 0
    last_end = -1
    while t <= span_ns:
        col = round(t / span_ns * width) if span_ns else 0
        label = "0" if t == 0 else fmt_duration_ns(t)
        if col > last_end and col + len(label) <= width:
            out[col : col + len(label)] = list(label)
            last_end = col + len(label)
        t += step
    return "".join(out)


# --------------------------------------------------------------------------- waterfall


class Waterfall:
    """A Rich renderable drawing a trace as a waterfall (see the module docstring).

    ``write`` is the fast path the CLI uses for large traces: the same rows, written as
    finished lines (ANSI codes pre-rendered once per style) instead of Rich segments.
    """

    def __init__(
        self,
        tree: TraceTree,
        *,
        collapse_below_ns: int | None = None,
        color: bool = True,
    ) -> None:
        self.tree = tree
        self.collapse_below_ns = collapse_below_ns
        self.color = color

    def header(self) -> str:
        """The first line: id, extent, spans, services, errors."""
        from obsctl.render.units import fmt_duration_ns

        t = self.tree
        n = t.spans.num_rows
        services = len(set(t.spans.column("service_name").to_pylist()))
        errs = sum(1 for c in t.spans.column("status_code").to_pylist() if c == "ERROR")
        parts = [
            f"trace {t.trace_id}",
            fmt_duration_ns(t.duration_ns),
            f"{n:,} span{'s' if n != 1 else ''}",
            f"{services} service{'s' if services != 1 else ''}",
        ]
        if errs:
            parts.append(f"{errs} error{'s' if errs != 1 else ''}")
        return " · ".join(parts)

    def rows(self, width: int) -> Iterator[list[tuple[str, Style | None]]]:
        """The lines of the drawing as pieces ``(text, style)``, ``width`` cells at most."""
        import numpy as np
        from rich.cells import cell_len, set_cell_size
        from rich.style import Style

        from obsctl.analysis import trace_tree as tt
        from obsctl.render.safe import clean
        from obsctl.render.units import fmt_duration_ns

        t = self.tree
        f = t.forest
        n = f.n_rows
        width = max(width, 60)
        cleaned: dict[Any, str] = {}

        def cl(x: Any) -> str:
            c = cleaned.get(x)
            if c is None:
                c = cleaned[x] = clean(x) if x else ""
            return c

        services = [cl(x) for x in t.spans.column("service_name").to_pylist()]
        names = [cl(x) for x in t.spans.column("name").to_pylist()]
        messages = t.spans.column("status_message").to_pylist()
        failed = np.zeros(f.size, dtype=bool)
        failed[:n] = [c == "ERROR" for c in t.spans.column("status_code").to_pylist()]
        rows = tt.fold(t, self.collapse_below_ns, failed)

        depth = f.depth.tolist()
        max_depth = int(f.depth.max()) + 1 if f.size else 0
        widths: dict[tuple[str, str], int] = {}
        natural = 10
        for r in rows[:5000]:
            v = r if isinstance(r, int) else r.node
            if v >= n:
                continue
            key = (services[v], names[v])
            w = widths.get(key)
            if w is None:
                w = widths[key] = cell_len(key[0]) + cell_len(key[1]) + 3
            natural = max(natural, min(depth[v], 12) + w)
        label_w = min(max(natural, 20), max(20, width * 2 // 5))
        indent_cap = min(max_depth, label_w // 3)
        dur_w = 7
        note_w = max(16, width // 7)
        bar_w = max(10, width - 2 - label_w - 1 - 1 - dur_w - 1 - note_w)
        t0, t1 = t.start_ns, t.end_ns

        color = self.color
        dim = Style(dim=True) if color else None
        bold = Style(bold=True) if color else None
        red = Style(color="red", bold=True) if color else None
        gutter_style = Style(color="bright_yellow", bold=True) if color else None
        styles: dict[tuple[str, bool], tuple[Style | None, Style | None, Style | None]] = {}

        def style_for(service: str, critical: bool) -> tuple[Style | None, ...]:
            key = (service, critical)
            st = styles.get(key)
            if st is None:
                if color:
                    c = service_colour(service)
                    st = (
                        Style(color=c, bold=critical),
                        Style(color=c, dim=not critical),
                        Style(color=c, dim=not critical, reverse=True),
                    )
                else:
                    st = (None, None, None)
                styles[key] = st
            return st

        crit = f.critical.tolist()
        ls = f.layout_start.tolist()
        le = f.layout_end.tolist()
        selft = f.self_time.tolist()
        flags = f.flags.tolist()
        has_kids = np.zeros(f.size, dtype=bool)
        has_kids[f.parent[f.parent >= 0]] = True
        kids = has_kids.tolist()
        failed_l = failed.tolist()
        label_cache: dict[tuple[str, str, int, bool], tuple[str, str, int]] = {}
        geo = bar_geometries(f.layout_start, f.layout_end, t0, t1, bar_w)

        head = self.header()
        if cell_len(head) > width - 16:
            head = set_cell_size(head, width - 17) + "…"
        line: list[tuple[str, Style | None]] = [(head, None)]
        if color:
            line += [("  " + CRITICAL_MARK, gutter_style), (" critical path", None)]
        yield line
        axis = axis_labels(t1 - t0, bar_w).rstrip()
        yield [(" " * (2 + label_w + 1), None), (axis, dim)]

        for r in rows:
            if type(r) is int:
                v = r
            else:
                assert isinstance(r, tt.FoldedRow)
                v = r.node
                d = min(depth[v] + 1, indent_cap)
                label = " " * d + f"⋯ {r.spans:,} span{'s' if r.spans != 1 else ''} under "
                label += fmt_duration_ns(self.collapse_below_ns)
                g = bar_geometry(r.start, r.end, t0, t1, bar_w)
                used = g.lead + (1 if g.first else 0) + g.full + (1 if g.last else 0)
                dots = " " * g.lead + "·" * (used - g.lead)
                line = [("  ", None), (set_cell_size(label, label_w), dim), (" ", None)]
                if r.errors:
                    dots += " " * (bar_w - used)
                    line += [(dots, dim), (" " * (dur_w + 2), None)]
                    line.append((f"{r.errors} failed {ERROR_MARK}", red))
                else:
                    line.append((dots, dim))
                yield line
                continue
            is_crit = crit[v]
            synthetic = v >= n
            service = "" if synthetic else services[v]
            name = "(trace)" if synthetic else names[v]
            name_style, bar_style, rev_style = style_for(service, is_crit)
            d = min(depth[v], indent_cap)
            err = failed_l[v]
            key3 = (service, name, d, err)
            cached = label_cache.get(key3)
            if cached is None:
                room = label_w - d
                svc = ""
                if service:
                    svc = set_cell_size(service, min(cell_len(service), max(room // 2, 4)))
                op_room = room - cell_len(svc) - (1 if svc else 0) - (2 if err else 0)
                op = name
                if cell_len(name) > op_room:
                    op = set_cell_size(name, max(op_room - 1, 0)) + "…"
                used = d + cell_len(svc) + (1 if svc else 0) + cell_len(op) + (2 if err else 0)
                cached = label_cache[key3] = (svc, op, used)
            svc, op, used = cached
            lead, first, rev, full, last = geo[v]
            tail = bar_w - lead - (1 if first else 0) - full - (1 if last else 0)
            pad = " " * max(label_w - used, 0) + " "
            if color:
                line = [
                    (CRITICAL_MARK if is_crit else " ", gutter_style if is_crit else None),
                    (" " + " " * d, None),
                ]
                if svc:
                    line += [(svc, name_style), (" ", None)]
                line.append((op, bold if is_crit else None))
                if err:
                    line.append((" " + ERROR_MARK, red))
                line.append((pad + " " * lead, None))
                if first:
                    line.append((first, rev_style if rev else bar_style))
                line.append(("█" * full + last, bar_style))
                line.append((" " * tail, None))
            else:
                if rev:
                    first = plain_cell(Cell(first, True))
                text = (
                    f"{CRITICAL_MARK if is_crit else ' '} {' ' * d}{svc}{' ' if svc else ''}{op}"
                    f"{' ' + ERROR_MARK if err else ''}{pad}{' ' * lead}{first}{'█' * full}"
                    f"{last}{' ' * tail}"
                )
                line = [(text, None)]
            dur = fmt_duration_ns(le[v] - ls[v])
            line.append((" " + dur.rjust(dur_w), bold if is_crit else None))
            notes = []
            if err and messages[v]:
                notes.append(cl(messages[v]))
            if is_crit and kids[v] and not synthetic and selft[v] < le[v] - ls[v]:
                notes.append(f"self {fmt_duration_ns(selft[v])}")
            fl = flags[v]
            if fl:
                if fl & tt.ORPHAN:
                    notes.append("cycle" if fl & tt.CYCLE else "orphan")
                if fl & tt.SKEW:
                    notes.append("skew")
                if fl & tt.OVERRUN:
                    notes.append("overruns")
                if fl & tt.DUPLICATE:
                    notes.append("dup")
                if fl & tt.NO_TIMING:
                    notes.append("no time")
            if notes:
                note = " · ".join(notes)
                if cell_len(note) > note_w:
                    note = set_cell_size(note, note_w - 1) + "…"
                line.append((" " + note, dim))
            yield line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        for line in self.rows(options.max_width):
            for text, style in line:
                if text:
                    yield Segment(text, style)
            yield Segment.line()

    def write(self, console: Console) -> None:
        """Write the drawing to ``console``'s file (colour as the console decides)."""
        from rich.color import ColorSystem

        systems = {
            "standard": ColorSystem.STANDARD,
            "256": ColorSystem.EIGHT_BIT,
            "truecolor": ColorSystem.TRUECOLOR,
            "windows": ColorSystem.WINDOWS,
        }
        system = systems.get(console.color_system or "")
        codes: dict[int, tuple[str, str]] = {}
        out = console.file
        buf: list[str] = []
        for line in self.rows(console.width):
            if system is None:
                buf.append("".join(text for text, _ in line).rstrip())
                if len(buf) >= 4096:
                    out.write("\n".join(buf) + "\n")
                    buf = []
                continue
            parts = []
            for text, style in line:
                if style is None or system is None:
                    parts.append(text)
                    continue
                c = codes.get(id(style))
                if c is None:
                    pre, _, post = style.render("\x00", color_system=system).partition("\x00")
                    c = codes[id(style)] = (pre, post)
                parts.append(c[0] + text + c[1] if text else "")
            buf.append("".join(parts))
            if len(buf) >= 4096:
                out.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            out.write("\n".join(buf) + "\n")
        out.flush()


def trace_document(tree: TraceTree) -> dict[str, Any]:
    """The ``traces show --format json`` document (stable schema, see the README).

    Offsets are nanoseconds from the start of the drawing (the earliest drawn span);
    spans come in display order; ``attributes`` is embedded as JSON.
    """
    import orjson

    from obsctl.analysis import trace_tree as tt

    f = tree.forest
    n = f.n_rows
    t0 = tree.start_ns
    sp = tree.spans
    services = sp.column("service_name").to_pylist()
    names = sp.column("name").to_pylist()
    kinds = sp.column("kind").to_pylist()
    status = sp.column("status_code").to_pylist()
    messages = sp.column("status_message").to_pylist()
    attrs = sp.column("attributes").to_pylist()
    uid = f.uid
    parent = f.parent.tolist()
    depth = f.depth.tolist()
    ls = f.layout_start.tolist()
    le = f.layout_end.tolist()
    selft = f.self_time.tolist()
    crit = f.critical.tolist()
    flags = f.flags.tolist()
    spans = []
    for v in f.order.tolist():
        p = parent[v]
        real = v < n
        row: dict[str, Any] = {
            "span_id": uid[v],
            "parent_span_id": uid[p] if p >= 0 else None,
            "service": services[v] if real else None,
            "name": names[v] if real else "(trace)",
            "kind": kinds[v] if real else None,
            "depth": depth[v],
            "start_offset_ns": ls[v] - t0,
            "duration_ns": le[v] - ls[v],
            "self_time_ns": selft[v],
            "critical": crit[v],
            "status": status[v] if real else "UNSET",
            "status_message": messages[v] if real else None,
            "attributes": orjson.Fragment(attrs[v]) if real and attrs[v] else {},
            "flags": tt.flag_names(flags[v]),
        }
        if v in f.missing_parent:
            row["missing_parent_span_id"] = f.missing_parent[v]
        spans.append(row)
    path = [
        {"span_id": uid[v], "start_offset_ns": a - t0, "end_offset_ns": b - t0}
        for v, a, b in zip(
            f.seg_node.tolist(), f.seg_start.tolist(), f.seg_end.tolist(), strict=True
        )
    ]
    return {
        "trace_id": tree.trace_id,
        "start_time_unix_nano": t0,
        "duration_ns": tree.duration_ns,
        "root_duration_ns": tree.root_duration_ns,
        "span_count": n,
        "warnings": list(tree.warnings),
        "spans": spans,
        "critical_path": path,
    }


# --------------------------------------------------------------------------- listings


def list_listing(table: pa.Table, footer: str | None = None) -> Listing:
    """``obsctl traces list`` as a table (the root span's service and name in one column;
    machine formats write ``table`` itself)."""
    import pyarrow as pa

    root = [
        f"{s or ''} {o or ''}".strip()
        for s, o in zip(
            table.column("root_service").to_pylist(),
            table.column("root_operation").to_pylist(),
            strict=True,
        )
    ]
    table = table.append_column("_root", pa.array(root, pa.string()))
    return Listing(
        table,
        columns=[
            Column("trace_id", "trace", kind="text"),
            Column("start", kind="time_s"),
            Column("duration_ns", "duration", kind="duration_ns"),
            Column("spans", kind="int"),
            Column("errors", kind="int"),
            Column("_root", "root span", kind="text", max_width=60, min_width=12),
        ],
        footer=footer,
        styles={"errors": lambda v: "red" if v else "dim"},
    )


def services_listing(table: pa.Table, footer: str | None = None) -> Listing:
    """``obsctl traces services``."""
    return Listing(
        table,
        columns=[
            Column("service", kind="text", max_width=24, min_width=8),
            Column("operation", kind="text", max_width=44, min_width=12),
            Column("calls", kind="int"),
            Column("rate_per_s", "rate/s", kind="float"),
            Column("error_ratio", "errors", kind="fraction"),
            Column("p50_ns", "p50", kind="duration_ns"),
            Column("p95_ns", "p95", kind="duration_ns"),
            Column("p99_ns", "p99", kind="duration_ns"),
            Column("self_ns", "self time", kind="duration_ns"),
            Column("self_ratio", "self %", kind="fraction"),
            Column("self_share", "share", kind="fraction"),
        ],
        footer=footer,
        styles={"error_ratio": lambda v: "red" if v and v >= 0.01 else ""},
    )


def deps_listing(table: pa.Table, footer: str | None = None) -> Listing:
    """``obsctl traces deps`` as a table (machine formats write ``table`` itself)."""
    import pyarrow as pa

    ext = ["uninstrumented" if e else "" for e in table.column("external").to_pylist()]
    table = table.append_column("_ext", pa.array(ext, pa.string()))
    return Listing(
        table,
        columns=[
            Column("caller", kind="text", max_width=24, min_width=8),
            Column("callee", kind="text", max_width=30, min_width=8),
            Column("calls", kind="int"),
            Column("errors", kind="int"),
            Column("error_ratio", "error %", kind="fraction"),
            Column("p50_ns", "p50", kind="duration_ns"),
            Column("p95_ns", "p95", kind="duration_ns"),
            Column("_ext", "note", kind="text"),
        ],
        footer=footer,
        styles={"error_ratio": lambda v: "red" if v and v >= 0.01 else ""},
    )


def critical_path_listing(summary: CriticalPathSummary, footer: str | None = None) -> Listing:
    """``obsctl traces critical-path``."""
    cols = [
        Column("service", kind="text", max_width=24, min_width=8),
        Column("operation", kind="text", max_width=44, min_width=12),
        Column("per_trace_ns", "per trace", kind="duration_ns"),
        Column("share", kind="fraction"),
        Column("on_path_ratio", "on path", kind="fraction"),
    ]
    if summary.baseline_traces is not None:
        cols += [
            Column("baseline_per_trace_ns", "baseline", kind="duration_ns"),
            Column("baseline_share", "base share", kind="fraction"),
            Column("change_ns", "change", kind="duration_ns"),
        ]
    return Listing(
        summary.table,
        columns=cols,
        footer=footer,
        styles={"change_ns": lambda v: "red" if v and v > 0 else "green"},
    )


def compare_listing(result: Comparison, per_key: int = 3, keys: int = 15) -> Listing:
    """``obsctl traces compare`` as a table: the top ``keys`` keys, ``per_key`` values each.

    The table view shows a reduced copy; machine formats write every row.
    """
    import pyarrow as pa

    t = result.table
    scope = t.column("scope").to_pylist()
    key = t.column("key").to_pylist()
    seen: dict[tuple[str, str], int] = {}
    keep = []
    for i, k in enumerate(zip(scope, key, strict=True)):
        c = seen.get(k)
        if c is None:
            if len(seen) >= keys:
                continue
            c = 0
        if c < per_key:
            keep.append(i)
        seen[k] = c + 1
    shown = t.take(pa.array(keep, pa.int64())) if keep else t.slice(0, 0)
    # show each key's name and score once, on its first row
    names = []
    scores = []
    prev = None
    for s, k, sc in zip(
        shown.column("scope").to_pylist(),
        shown.column("key").to_pylist(),
        shown.column("score").to_pylist(),
        strict=True,
    ):
        first = (s, k) != prev
        names.append((k if s == "span" else f"{k} (resource)") if first else "")
        scores.append(f"{sc:.3f}" if first else "")
        prev = (s, k)
    view = shown.append_column("_key", pa.array(names, pa.string())).append_column(
        "_score", pa.array(scores, pa.string())
    )
    return Listing(
        view,
        columns=[
            Column("_score", "score", kind="text", justify="right"),
            Column("_key", "attribute", kind="text", max_width=36, min_width=12),
            Column("value", kind="text", max_width=40, min_width=10),
            Column("outliers", kind="fraction"),
            Column("baseline", kind="fraction"),
            Column("diff", kind="fraction"),
        ],
        styles={"diff": lambda v: "red" if v and v > 0 else ("green" if v else "")},
    )


def errors_listing(table: pa.Table, footer: str | None = None) -> Listing:
    """``obsctl traces errors``."""
    return Listing(
        table,
        columns=[
            Column("service", kind="text", max_width=24, min_width=8),
            Column("operation", kind="text", max_width=40, min_width=12),
            Column("traces", kind="int"),
            Column("share", "of failed", kind="fraction"),
            Column("message", kind="text", max_width=50, min_width=12),
            Column("examples", "example", kind="text"),
        ],
        footer=footer,
    )


# --------------------------------------------------------------------------- graphs


def _dot_escape(text: str) -> str:
    from obsctl.render.safe import clean

    return clean(text).replace("\\", "\\\\").replace('"', '\\"')


def to_dot(table: pa.Table) -> str:
    """The ``deps`` table as a Graphviz digraph (one edge per row; labels escaped)."""
    from obsctl.render.units import fmt_count, fmt_duration_ns

    lines = ["digraph services {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    nodes: dict[str, bool] = {}
    rows = table.to_pylist()
    for r in rows:
        nodes.setdefault(r["caller"], False)
        nodes[r["callee"]] = nodes.get(r["callee"], False) or bool(r["external"])
    for name, external in nodes.items():
        extra = ", style=dashed" if external else ""
        lines.append(f'  "{_dot_escape(name)}" [label="{_dot_escape(name)}"{extra}];')
    for r in rows:
        label = f"{fmt_count(r['calls'])} calls"
        if r["errors"]:
            label += f", {fmt_count(r['errors'])} errors"
        label += f"\\np95 {fmt_duration_ns(r['p95_ns'])}"
        colour = ', color="red"' if r["errors"] else ""
        lines.append(
            f'  "{_dot_escape(r["caller"])}" -> "{_dot_escape(r["callee"])}"'
            f' [label="{label}"{colour}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    from obsctl.render.safe import clean

    return (
        clean(text)
        .replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "&#124;")
    )


def to_mermaid(table: pa.Table) -> str:
    """The ``deps`` table as a Mermaid flowchart (node ids generated, labels quoted)."""
    from obsctl.render.units import fmt_count, fmt_duration_ns

    ids: dict[str, str] = {}
    external: dict[str, bool] = {}
    rows = table.to_pylist()
    for r in rows:
        for name in (r["caller"], r["callee"]):
            ids.setdefault(name, f"n{len(ids)}")
        external[r["callee"]] = external.get(r["callee"], False) or bool(r["external"])
    lines = ["flowchart LR"]
    for name, nid in ids.items():
        label = _mermaid_label(name)
        lines.append(f'  {nid}(["{label}"])' if external.get(name) else f'  {nid}["{label}"]')
    for r in rows:
        label = f"{fmt_count(r['calls'])} calls"
        if r["errors"]:
            label += f", {fmt_count(r['errors'])} errors"
        label += f", p95 {fmt_duration_ns(r['p95_ns'])}"
        lines.append(f'  {ids[r["caller"]]} -->|"{_mermaid_label(label)}"| {ids[r["callee"]]}')
    return "\n".join(lines) + "\n"


def join_lines(parts: Iterable[str]) -> str:
    """Join note fragments with ``·``."""
    return " · ".join(p for p in parts if p)
