"""Views of ``analysis.profiles``: listings, a terminal icicle, SVG flame graphs.

Listings (``list``, ``top``, ``peek``, ``tree``, ``diff``) go through the format registry:
machine formats get the analysis tables as they are, while the table view gets a bounded
display table whose values are already written in the sample type's unit (``1.21s``,
``3.5 MiB``, ``1,204``) and percentages to two decimals, as pprof prints them.

Flame graphs are drawn from a tree's ``x``/``value``/``depth`` columns by one pure
geometry function per medium:

* ``icicle_boxes`` maps nodes to character cells (root on the top row, callees below):
  both edges of a node are rounded to the nearest column, so siblings never overlap or
  leave gaps and a child never leaves its parent; nodes narrower than a cell drop out.
  ``Icicle`` lays the boxes out as rows of Rich ``Text``: each box is coloured by a
  stable hash of the function's package (the same package keeps its colour across runs
  and views), labelled with the name shortened from the left (``…fraud.(*Rule).scan``:
  the method is the informative end) and closed by a one-cell gap; without colour each
  box starts with ``│`` instead. Names go through ``render.safe``: markup and escape
  sequences stay text.
* ``svg_frames`` maps nodes to pixel rectangles for the SVG writers. ``flame_svg`` and
  ``diff_svg`` write a standalone SVG (inline CSS and JavaScript, no network): every
  frame has a ``<title>`` tooltip (name, value, share; base → target for a diff),
  clicking a frame zooms into it (its ancestors span the width, everything else hides),
  *Reset zoom* and *Search* (highlight the frames whose name contains a text and say
  their share) sit at the top. Every name is XML-escaped and its control characters made
  visible; the script reads names from attributes as text, never as markup. The
  differential graph is laid out on the target and coloured by the change of each
  frame's inclusive share: red grew, blue shrank, the deeper the larger the change
  (relative to the largest change drawn); unchanged frames are grey.
"""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from obsctl.render.formats import Column, Listing
from obsctl.render.safe import clean
from obsctl.render.units import fmt_bytes, fmt_count, fmt_duration_ns, fmt_time

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from rich.console import Console, ConsoleOptions, RenderResult

    from obsctl.analysis.profiles import (
        CallTree,
        DiffResult,
        DiffTree,
        Peek,
        Selection,
        TopResult,
    )

# --------------------------------------------------------------------------- values

_TIME_UNITS = {"nanoseconds": 1, "ns": 1, "microseconds": 1e3, "us": 1e3,
               "milliseconds": 1e6, "ms": 1e6, "seconds": 1e9, "s": 1e9}  # fmt: skip


def value_formatter(unit: str | None) -> Callable[[float | None], str]:
    """How values of a sample type read: durations, byte sizes or plain counts."""
    u = (unit or "").lower()
    if u in _TIME_UNITS:
        scale = _TIME_UNITS[u]
        return lambda v: "—" if v is None else ("0" if v == 0 else fmt_duration_ns(v * scale))
    if u in ("bytes", "byte", "b"):
        return lambda v: "—" if v is None else ("0" if v == 0 else fmt_bytes(v))
    return lambda v: "—" if v is None else _count(v)


def _count(v: float) -> str:
    if abs(v) >= 1e15:
        return f"{v:.4g}"
    return fmt_count(round(v, 3) if not float(v).is_integer() else int(v))


def fmt_pct(v: float | None) -> str:
    """A percentage as pprof prints it: two decimals (``72.73%``), ``—`` when unknown."""
    if v is None or v != v:
        return "—"
    return f"{v:.2f}%"


def fmt_points(v: float | None) -> str:
    """A change of share in percentage points, signed (``+53.25``)."""
    if v is None or v != v:
        return "—"
    return f"{v:+.2f}"


def type_name(name: str) -> str:
    """A sample type's name for display (``''`` for the empty name some files carry)."""
    return name or "''"


def selection_line(sel: Selection, total: float | None = None) -> str:
    """``payment · cpu (nanoseconds) · 40 profiles · 16:12:00 → 16:52:00 UTC · total 46m``."""
    st = sel.sample_type
    parts = [", ".join(sel.services) if sel.services else "all services"]
    parts.append(f"{type_name(st.name)} ({st.unit})" if st.unit else type_name(st.name))
    parts.append(f"{sel.profiles:,} profile{'s' if sel.profiles != 1 else ''}")
    if sel.start_ns is not None and sel.end_ns is not None:
        parts.append(
            f"{fmt_time(sel.start_ns, precision='s')} → {fmt_time(sel.end_ns, precision='s')[11:]}"
            " UTC"
        )
    if total is not None:
        parts.append(f"total {value_formatter(st.unit)(total)}")
    return " · ".join(parts)


def write_table(listing: Listing, console: Console) -> None:
    """Print a listing's table view with its title as one line above it.

    The title (what was selected) is often wider than the table; as a table title Rich
    would wrap it to the table's width. Here it is one line, cut with ``…`` if need be.
    """
    import dataclasses

    from rich.text import Text

    from obsctl.render import formats

    if listing.title:
        heading = Text(clean(listing.title), style="bold")
        console.print(heading, no_wrap=True, overflow="ellipsis", crop=True)
    formats.write(dataclasses.replace(listing, title=None), "table", console.file, console=console)


def _str_column(values: Sequence[Any]) -> pa.Array:
    import pyarrow as pa

    return pa.array([None if v is None else str(v) for v in values], pa.string())


# --------------------------------------------------------------------------- listings


def list_listing(table: pa.Table) -> Listing:
    """``profiles list``'s table view: the ``total`` written in each profile's unit."""
    import pyarrow as pa

    totals = table.column("total").to_pylist()
    units = table.column("unit").to_pylist()
    shown = [value_formatter(u)(t) for t, u in zip(totals, units, strict=True)]
    display = table.append_column("total_text", pa.array(shown, pa.string()))
    columns = [
        Column("profile_id", "id", kind="int"),
        Column("service", kind="text", max_width=24),
        Column("type"),
        Column("sample_types", "sample types", kind="list", max_width=40, min_width=16),
        Column("default_type", "default"),
        Column("total_text", "total", justify="right"),
        Column("time", kind="time_s"),
        Column("duration_ns", "duration", kind="duration_ns"),
        Column("source", kind="text", max_width=48, min_width=16, ellipsis="left"),
    ]
    return Listing(display, columns=columns)


def _function_column() -> Column:
    """Function names, cut on the left when too long: the method is the informative end."""
    return Column("function", kind="text", min_width=24, max_width=200, ellipsis="left")


def top_listing(result: TopResult, limit: int | None) -> Listing:
    """``profiles top``'s table view: pprof's columns, values in the sample type's unit."""
    import pyarrow as pa

    table = result.table if not limit else result.table.slice(0, limit)
    fmt = value_formatter(result.selection.sample_type.unit)
    display = pa.table(
        {
            "flat": _str_column([fmt(v) for v in table.column("flat").to_pylist()]),
            "flat%": _str_column([fmt_pct(v) for v in table.column("flat_pct").to_pylist()]),
            "sum%": _str_column([fmt_pct(v) for v in table.column("sum_pct").to_pylist()]),
            "cum": _str_column([fmt(v) for v in table.column("cum").to_pylist()]),
            "cum%": _str_column([fmt_pct(v) for v in table.column("cum_pct").to_pylist()]),
            "function": table.column("function"),
        }
    )
    right = [Column(n, justify="right") for n in ("flat", "flat%", "sum%", "cum", "cum%")]
    return Listing(
        display,
        columns=[*right, _function_column()],
        title=selection_line(result.selection, result.total),
    )


def peek_table(peek: Peek) -> pa.Table:
    """``profiles peek`` for machine formats: one row per caller, the function, callees.

    Columns ``relation`` (``caller``, ``function``, ``callee``, ``self``), ``function``,
    ``value``, ``pct`` (of the total) and ``share`` (of the function's cum).
    """
    import pyarrow as pa

    def part(relation: str, t: pa.Table) -> pa.Table:
        return pa.table(
            {
                "relation": pa.array([relation] * t.num_rows, pa.string()),
                "function": t.column("function").cast(pa.string()),
                "value": t.column("value").cast(pa.float64()),
                "pct": t.column("pct").cast(pa.float64()),
                "share": t.column("share").cast(pa.float64()),
            }
        )

    total = peek.total or float("nan")
    cum = peek.cum or float("nan")
    me = pa.table(
        {
            "function": [peek.function],
            "value": [peek.cum],
            "pct": [peek.cum / total * 100],
            "share": [100.0 if peek.cum else float("nan")],
        }
    )
    self_row = pa.table(
        {
            "function": [peek.function],
            "value": [peek.flat],
            "pct": [peek.flat / total * 100],
            "share": [peek.flat / cum * 100],
        }
    )
    return pa.concat_tables(
        [
            part("caller", peek.callers),
            part("function", me),
            part("callee", peek.callees),
            part("self", self_row),
        ]
    )


def _peek_style(cell: Any) -> str:
    """The peeked function's own row (no arrow) in bold, ``(self)`` dim."""
    text = str(cell or "")
    if not text.startswith(" "):
        return "bold"
    return "dim" if text.endswith("(self)") else ""


def peek_listing(peek: Peek) -> Listing:
    """``profiles peek``'s table view: callers (``↑``) above the function, callees (``↓``)
    below it, each with its value, % of the total and share of the function's cum
    (pprof's ``-peek``); ``(self)`` is the function's flat."""
    import pyarrow as pa

    rows = peek_table(peek)
    fmt = value_formatter(peek.selection.sample_type.unit)
    rel = rows.column("relation").to_pylist()
    names = rows.column("function").to_pylist()
    prefix = {"caller": "  ↑ ", "function": "", "callee": "  ↓ ", "self": "  · "}
    shown = [prefix[r] + (n if r != "self" else "(self)") for r, n in zip(rel, names, strict=True)]
    display = pa.table(
        {
            "value": _str_column([fmt(v) for v in rows.column("value").to_pylist()]),
            "pct": _str_column([fmt_pct(v) for v in rows.column("pct").to_pylist()]),
            "share": _str_column([fmt_pct(v) for v in rows.column("share").to_pylist()]),
            "function": pa.array(shown, pa.string()),
        }
    )
    return Listing(
        display,
        columns=[
            Column("value", justify="right"),
            Column("pct", "of total", justify="right"),
            Column("share", "of cum", justify="right"),
            Column("function", kind="text", min_width=24, max_width=200),
        ],
        title=selection_line(peek.selection, peek.total),
        styles={"function": _peek_style},
    )


def tree_listing(rows: pa.Table, tree: CallTree) -> Listing:
    """``profiles tree``'s table view: the kept rows of ``analysis.tree_rows`` with tree
    guides (``├─``, ``└─``) before each function."""
    import pyarrow as pa

    fmt = value_formatter(tree.selection.sample_type.unit)
    parents = rows.column("parent").to_pylist()
    names = rows.column("function").to_pylist()
    guides = tree_guides(parents)
    display = pa.table(
        {
            "value": _str_column([fmt(v) for v in rows.column("value").to_pylist()]),
            "pct": _str_column([fmt_pct(v) for v in rows.column("pct").to_pylist()]),
            "share": _str_column([fmt_pct(v) for v in rows.column("share").to_pylist()]),
            "self": _str_column([fmt(v) for v in rows.column("self").to_pylist()]),
            "function": pa.array([g + n for g, n in zip(guides, names, strict=True)]),
        }
    )
    root = "of " + ("cum" if tree.focus else "total")
    return Listing(
        display,
        columns=[
            Column("value", justify="right"),
            Column("pct", "of total", justify="right"),
            *([Column("share", root, justify="right")] if tree.focus else []),
            Column("self", justify="right"),
            Column("function", kind="text", min_width=24, max_width=240),
        ],
        title=selection_line(tree.selection, tree.total),
    )


def tree_guides(parents: Sequence[int]) -> list[str]:
    """Box-drawing prefixes for rows in depth-first order given each row's parent row.

    >>> tree_guides([-1, 0, 1, 0])
    ['', '├─ ', '│  └─ ', '└─ ']
    """
    n = len(parents)
    last = [True] * n  # is the row its parent's last child?
    seen: dict[int, int] = {}
    for i in range(n - 1, -1, -1):
        p = parents[i]
        if p >= 0:
            last[i] = p not in seen
            seen[p] = i
    out: list[str] = []
    lines: list[str] = []  # per depth: the continuation of the ancestors' columns
    depth = [0] * n
    for i, p in enumerate(parents):
        if p < 0:
            out.append("")
            lines = []
            continue
        depth[i] = depth[p] + 1
        d = depth[i]
        lines = lines[: d - 1]
        out.append("".join(lines) + ("└─ " if last[i] else "├─ "))
        lines.append("   " if last[i] else "│  ")
    return out


CHANGE_STYLE_UP = "red"
CHANGE_STYLE_DOWN = "blue"


def _change_style(v: Any) -> str:
    text = str(v or "")
    if text.startswith("+") and text.strip("+0.") != "":
        return CHANGE_STYLE_UP
    if text.startswith("-") and text.strip("-0.") != "":
        return CHANGE_STYLE_DOWN
    return "dim"


def diff_listing(result: DiffResult, limit: int | None, footer: str | None = None) -> Listing:
    """``profiles diff``'s table view: each function's cum and flat share in the base and
    the target window, and the change in points (red grew, blue shrank)."""
    import pyarrow as pa

    table = result.table if not limit else result.table.slice(0, limit)

    def col(name: str, f: Callable[[Any], str]) -> pa.Array:
        return _str_column([f(v) for v in table.column(name).to_pylist()])

    display = pa.table(
        {
            "base_cum": col("base_cum_pct", fmt_pct),
            "target_cum": col("target_cum_pct", fmt_pct),
            "cum_change": col("cum_change", fmt_points),
            "base_flat": col("base_flat_pct", fmt_pct),
            "target_flat": col("target_flat_pct", fmt_pct),
            "flat_change": col("flat_change", fmt_points),
            "function": table.column("function"),
        }
    )
    st = result.target.sample_type
    fmt = value_formatter(st.unit)
    title = (
        f"{', '.join(result.target.services) or 'all services'} · {type_name(st.name)}"
        f" · base {fmt(result.base_total)} ({result.base.profiles:,} profiles)"
        f" → target {fmt(result.target_total)} ({result.target.profiles:,} profiles)"
        " · % of each window's total"
    )
    return Listing(
        display,
        columns=[
            Column("base_cum", "base cum", justify="right"),
            Column("target_cum", "target cum", justify="right"),
            Column("cum_change", "change", justify="right"),
            Column("base_flat", "base flat", justify="right"),
            Column("target_flat", "target flat", justify="right"),
            Column("flat_change", "change", justify="right"),
            _function_column(),
        ],
        title=title,
        footer=footer,
        styles={"cum_change": _change_style, "flat_change": _change_style},
    )


# --------------------------------------------------------------------------- names, colours

_SEPARATORS = re.compile(r"(::|/|\.|\\)")


def package_of(name: str) -> str:
    """The package/module part of a function name, for colouring.

    Go ``payment/internal/fraud.(*Rule).scan`` → ``payment/internal/fraud``; Java and
    Python ``com.shop.Cart.add`` → ``com.shop.Cart``; C++ ``ns::Class::f`` →
    ``ns::Class``; a ``[library.so]`` or a name without separators is its own package.
    """
    if name.startswith("[") or not name:
        return name
    head, slash, tail = name.rpartition("/")
    if "::" in tail:
        return head + slash + tail.rsplit("::", 1)[0]
    m = re.match(r"[^.(]*", tail)
    first = m.group(0) if m else tail
    if slash:  # Go: the package is the path up to the first dot after the last slash
        return head + slash + first
    if tail.count(".") >= 2:
        return tail.rsplit(".", 1)[0]
    return first


def _hash01(text: str, salt: int) -> float:
    return (zlib.crc32(f"{salt}:{text}".encode()) % 10_000) / 10_000


def flame_rgb(name: str) -> tuple[int, int, int]:
    """A warm flame colour, stable for a function's package (flamegraph.pl's palette)."""
    pkg = package_of(name)
    if name == "(root)":
        return (200, 200, 200)
    v1, v2, v3 = _hash01(pkg, 1), _hash01(pkg, 2), _hash01(pkg, 3)
    return (205 + int(50 * v1), int(80 + 150 * v2), int(55 * v3))


def diff_rgb(change: float, scale: float) -> tuple[int, int, int]:
    """Red for a grown share, blue for a shrunk one, deeper for larger changes.

    Args:
        change: change of the frame's share, in points.
        scale: the largest ``|change|`` drawn (full colour).
    """
    if not scale or abs(change) < 0.005:
        return (224, 224, 224)
    a = min(1.0, (abs(change) / scale) ** 0.5)
    fade = int(235 - 175 * a)
    return (255, fade, fade) if change > 0 else (fade, fade, 255)


def short_label(name: str, width: int) -> str:
    """``name`` in at most ``width`` cells, cut sensibly.

    The end of a qualified name (the method) says the most, so whole leading components
    (package path, class) are dropped first, behind ``…``; a single component still too
    long: its last component, cut at its end. Below 2 cells there is no label.

    >>> short_label("payment/internal/fraud.(*VelocityRule).scanWindow", 28)
    '…(*VelocityRule).scanWindow'
    """
    if width <= 0:
        return ""
    if len(name) <= width:
        return name
    if width < 2:
        return ""
    cuts = [m.end() for m in _SEPARATORS.finditer(name)]
    for c in cuts:
        rest = name[c:]
        if rest and len(rest) + 1 <= width:
            return "…" + rest
    last = name[cuts[-1] :] if cuts and cuts[-1] < len(name) else name
    return last[: width - 1] + "…"


# --------------------------------------------------------------------------- icicle


@dataclass(frozen=True)
class Box:
    """One node of a terminal icicle: its row and columns ``[col0, col1)``."""

    node: int
    depth: int
    col0: int
    col1: int


def icicle_boxes(
    x: Sequence[float],
    value: Sequence[float],
    depth: Sequence[int],
    *,
    scale: float,
    width: int,
    max_depth: int | None = None,
) -> list[Box]:
    """Map tree nodes to character cells (pure geometry).

    Args:
        x: each node's left edge in value units (``CallTree.nodes['x']``).
        value: each node's width in value units (negative counts as 0).
        depth: each node's level (0 = root).
        scale: the value the full ``width`` stands for (the root's value).
        width: columns available.
        max_depth: deepest level drawn.

    Returns:
        The boxes at least one column wide, in node order.
    """
    import numpy as np

    xs = np.asarray(x, dtype=np.float64)
    vs = np.maximum(np.asarray(value, dtype=np.float64), 0.0)
    ds = np.asarray(depth, dtype=np.int64)
    if not len(xs) or scale <= 0 or width <= 0:
        return []
    c0 = np.rint(xs / scale * width).astype(np.int64)
    c1 = np.rint((xs + vs) / scale * width).astype(np.int64)
    np.clip(c0, 0, width, out=c0)
    np.clip(c1, 0, width, out=c1)
    keep = c1 - c0 >= 1
    if max_depth is not None:
        keep &= ds <= max_depth
    idx = np.flatnonzero(keep)
    return [Box(int(i), int(ds[i]), int(c0[i]), int(c1[i])) for i in idx]


def icicle_rows(
    boxes: Sequence[Box],
    names: Sequence[str],
    width: int,
    *,
    color: bool,
    fill: Callable[[int], tuple[int, int, int]],
    suffix: Callable[[int], str] | None = None,
) -> list[Any]:
    """Rows of Rich ``Text`` for the boxes (top row: depth 0).

    Each box is its (safe) label, shortened to fit, padded to the box width minus one
    cell, then a one-cell gap; with colour the label sits on the box's fill, without
    colour the box opens with ``│``.
    """
    from rich.style import Style
    from rich.text import Text

    depth = max((b.depth for b in boxes), default=-1)
    rows: list[list[Box]] = [[] for _ in range(depth + 1)]
    for b in boxes:
        rows[b.depth].append(b)
    out = []
    for row in rows:
        text = Text(no_wrap=True, overflow="crop")
        col = 0
        for b in sorted(row, key=lambda b: b.col0):
            if b.col0 > col:
                text.append(" " * (b.col0 - col))
            w = b.col1 - b.col0
            label = clean(names[b.node])
            extra = suffix(b.node) if suffix else ""
            if color:
                inner = w - 1
                body = _fit(label, extra, inner)
                r, g, bl = fill(b.node)
                style = Style(color="black", bgcolor=f"rgb({r},{g},{bl})")
                if inner > 0:
                    text.append(body.ljust(inner), style=style)
                    text.append(" ")
                else:
                    text.append("▏", style=Style(color=f"rgb({r},{g},{bl})"))
            else:
                body = _fit(label, extra, w - 1)
                text.append("│" + body.ljust(w - 1))
            col = b.col1
        out.append(text)
    return out


def _fit(label: str, extra: str, width: int) -> str:
    """The label with its suffix (a share) when both fit, else the label shortened."""
    if extra and len(label) + 1 + len(extra) <= width:
        return f"{label} {extra}"
    return short_label(label, width)


class Icicle:
    """A flame graph in the terminal, root on top (``profiles flame``).

    Fits the console's width; boxes narrower than a column are not drawn, levels below
    ``max_depth`` neither. The first line says what is drawn and how much was left out.
    """

    def __init__(self, tree: CallTree, *, max_depth: int | None = None) -> None:
        self.tree = tree
        self.max_depth = max_depth

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        tree = self.tree
        width = max(20, options.max_width)
        nodes = tree.nodes
        values = nodes.column("value").to_numpy()
        scale = max(float(values[0]), 0.0) if len(values) else 0.0
        boxes = icicle_boxes(
            nodes.column("x").to_numpy(),
            values,
            nodes.column("depth").to_numpy(),
            scale=scale,
            width=width,
            max_depth=self.max_depth,
        )
        names = _names_for(nodes, boxes)
        total = tree.total
        drawn = len(boxes)
        head = selection_line(tree.selection, total)
        if tree.focus:
            head += f" · below {clean(tree.focus)}"
        yield Text(head, style="bold", no_wrap=True, overflow="ellipsis")
        if not boxes:
            yield Text("nothing to draw (no samples)", style="dim")
            return
        color = console.color_system is not None and not console.no_color
        share = values / total * 100 if total else values * 0

        def suffix(node: int) -> str:
            return f"{share[node]:.1f}%"

        yield from icicle_rows(
            boxes,
            names,
            width,
            color=color,
            fill=lambda n: flame_rgb(names[n]),
            suffix=suffix,
        )
        left = len(nodes) - drawn
        if left:
            yield Text(
                f"{drawn:,} of {len(nodes):,} frames drawn (the others are narrower than a"
                " column; --svg FILE draws them all)",
                style="dim",
                no_wrap=True,
                overflow="ellipsis",
            )


def _names_for(nodes: pa.Table, boxes: Sequence[Box]) -> dict[int, str]:
    """Names of the drawn nodes only (a tree may have 10⁵ nodes)."""
    import pyarrow as pa

    idx = [b.node for b in boxes]
    taken = nodes.column("name").take(pa.array(idx, pa.int64())).to_pylist()
    return dict(zip(idx, taken, strict=True))


# --------------------------------------------------------------------------- SVG


@dataclass(frozen=True)
class SvgFrame:
    """One frame of an SVG flame graph (fractions of the root's width)."""

    node: int
    depth: int
    x: float
    w: float


def svg_frames(
    x: Sequence[float],
    value: Sequence[float],
    depth: Sequence[int],
    *,
    scale: float,
    width_px: float,
    min_px: float = 0.1,
) -> list[SvgFrame]:
    """Nodes at least ``min_px`` wide at ``width_px`` (pure geometry; x, w in 0-1)."""
    import numpy as np

    xs = np.asarray(x, dtype=np.float64)
    vs = np.maximum(np.asarray(value, dtype=np.float64), 0.0)
    ds = np.asarray(depth, dtype=np.int64)
    if not len(xs) or scale <= 0:
        return []
    fx, fw = xs / scale, vs / scale
    idx = np.flatnonzero(fw * width_px >= min_px)
    return [SvgFrame(int(i), int(ds[i]), float(fx[i]), float(fw[i])) for i in idx]


_XML_BAD = re.compile("[\ufffe\uffff\ud800-\udfff]")


def xml_text(value: object) -> str:
    """Text safe in XML content and attributes: controls visible, markup escaped."""
    text = clean(value)
    text = _XML_BAD.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return html.escape(text, quote=True)


_SVG_CSS = """
text { font-family: Verdana, 'DejaVu Sans', sans-serif; font-size: 12px; fill: #000; }
#title { font-size: 17px; }
#subtitle, #details, .button { font-size: 12px; fill: #333; }
.button { cursor: pointer; fill: #06c; }
.button:hover { text-decoration: underline; }
.f { cursor: pointer; }
.f:hover rect { stroke: #000; stroke-width: 0.6; }
.f.anc rect { opacity: 0.55; }
.f.hide { display: none; }
.f.match rect { fill: #e040e0 !important; }
"""

_SVG_JS = """
(function () {
  'use strict';
  var W = +document.documentElement.getAttribute('data-width');
  var PAD = +document.documentElement.getAttribute('data-pad');
  var CH = 7.1;  // approximate width of a character at 12px
  var frames = Array.prototype.slice.call(document.querySelectorAll('g.f'));
  var info = frames.map(function (g) {
    return {g: g, x: +g.getAttribute('data-x'), w: +g.getAttribute('data-w'),
            d: +g.getAttribute('data-d'), n: g.getAttribute('data-n'),
            r: g.querySelector('rect'), t: g.querySelector('text'),
            tip: g.getAttribute('data-tip')};
  });
  var details = document.getElementById('details');
  function fit(name, px) {
    var n = Math.floor((px - 6) / CH);
    if (n < 2) return '';
    if (name.length <= n) return name;
    var seps = /(::|\\/|\\.|\\\\)/g, m;
    while ((m = seps.exec(name)) !== null) {
      var rest = name.substring(m.index + m[0].length);
      if (rest.length && rest.length + 1 <= n) return '\\u2026' + rest;
    }
    var parts = name.split(/::|\\/|\\.|\\\\/), last = parts[parts.length - 1] || name;
    return last.substring(0, n - 1) + '\\u2026';
  }
  function place(f, x, w) {
    f.r.setAttribute('x', (PAD + x).toFixed(2));
    f.r.setAttribute('width', Math.max(w - 0.5, 0.1).toFixed(2));
    f.t.setAttribute('x', (PAD + x + 3).toFixed(2));
    f.t.textContent = fit(f.n, w);
  }
  function zoom(z) {
    info.forEach(function (f) {
      var eps = 1e-9, inside = f.d >= z.d && f.x >= z.x - eps && f.x + f.w <= z.x + z.w + eps;
      var above = f.d < z.d && f.x <= z.x + eps && f.x + f.w >= z.x + z.w - eps;
      f.g.classList.remove('anc');
      if (inside) {
        var w = f.w / z.w * W;
        if (w < 0.1) { f.g.classList.add('hide'); return; }
        f.g.classList.remove('hide');
        place(f, (f.x - z.x) / z.w * W, w);
      } else if (above) {
        f.g.classList.remove('hide');
        f.g.classList.add('anc');
        place(f, 0, W);
      } else {
        f.g.classList.add('hide');
      }
    });
  }
  function reset() { zoom({x: 0, w: 1, d: 0}); }
  info.forEach(function (f) {
    f.g.addEventListener('click', function () { zoom(f); });
    f.g.addEventListener('mouseover', function () { details.textContent = f.tip; });
    f.g.addEventListener('mouseout', function () { details.textContent = ' '; });
  });
  document.getElementById('reset').addEventListener('click', reset);
  document.getElementById('search').addEventListener('click', function () {
    var term = window.prompt('Highlight frames whose name contains:', '');
    info.forEach(function (f) { f.g.classList.remove('match'); });
    if (!term) { details.textContent = ' '; return; }
    var low = term.toLowerCase(), spans = [];
    info.forEach(function (f) {
      if (f.n.toLowerCase().indexOf(low) < 0) return;
      f.g.classList.add('match');
      spans.push([f.x, f.x + f.w]);
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -1;
    spans.forEach(function (s) {
      if (s[0] >= end) { covered += s[1] - s[0]; end = s[1]; }
      else if (s[1] > end) { covered += s[1] - end; end = s[1]; }
    });
    details.textContent = 'matched ' + spans.length + ' frames, ' + (covered * 100).toFixed(2) +
      '% of the width';
  });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') reset(); });
})();
"""


_SVG_INLINE_CSS = """
svg.obsctl-flame text { font-family: Verdana, 'DejaVu Sans', sans-serif; font-size: 12px;
  fill: #000; }
svg.obsctl-flame .title { font-size: 17px; }
svg.obsctl-flame .subtitle { font-size: 12px; fill: #333; }
svg.obsctl-flame .f:hover rect { stroke: #000; stroke-width: 0.6; }
"""
"""Styles of an embedded graph, scoped to it (an inline ``<style>`` applies to the page)."""


def _svg_document(
    frames: Sequence[SvgFrame],
    names: dict[int, str],
    tips: dict[int, str],
    fills: dict[int, tuple[int, int, int]],
    *,
    title: str,
    subtitle: str,
    width: int,
    standalone: bool = True,
) -> str:
    """The standalone SVG: header, buttons, one ``<g>`` per frame, inline CSS/JS.

    With ``standalone=False``, an ``<svg>`` element to embed in an HTML page instead: no
    XML declaration, no ids, no buttons and no script (each frame's ``<title>`` still
    gives its tooltip), styles scoped to ``svg.obsctl-flame``.
    """
    row = 17
    pad = 10
    top = 60
    depth = max((f.depth for f in frames), default=0)
    height = top + (depth + 1) * row + (40 if standalone else 8)
    inner = width - 2 * pad
    if standalone:
        out = [
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
            f'<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="{width}"'
            f' height="{height}" viewBox="0 0 {width} {height}" data-width="{inner}"'
            f' data-pad="{pad}">',
            f"<style>{_SVG_CSS}</style>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfbf4"/>',
            f'<text id="title" x="{width / 2:.0f}" y="24" text-anchor="middle">'
            f"{xml_text(title)}</text>",
            f'<text id="subtitle" x="{width / 2:.0f}" y="42" text-anchor="middle">'
            f"{xml_text(subtitle)}</text>",
            f'<text id="reset" class="button" x="{pad}" y="24">Reset zoom</text>',
            f'<text id="search" class="button" x="{width - pad}" y="24"'
            ' text-anchor="end">Search</text>',
            f'<text id="details" x="{pad}" y="{height - 12}"> </text>',
            '<g id="frames">',
        ]
    else:
        out = [
            f'<svg class="obsctl-flame" xmlns="http://www.w3.org/2000/svg" role="img"'
            f' width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
            f"<title>{xml_text(title)}</title>",
            f"<style>{_SVG_INLINE_CSS}</style>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfbf4"/>',
            f'<text class="title" x="{width / 2:.0f}" y="24" text-anchor="middle">'
            f"{xml_text(title)}</text>",
            f'<text class="subtitle" x="{width / 2:.0f}" y="42" text-anchor="middle">'
            f"{xml_text(subtitle)}</text>",
            "<g>",
        ]
    for f in frames:
        x = pad + f.x * inner
        w = f.w * inner
        y = top + f.depth * row
        r, g, b = fills[f.node]
        name = names[f.node]
        label = xml_text(short_label(clean(name), int((w - 6) // 7.1)))
        tip = tips[f.node]
        out.append(
            f'<g class="f" data-x="{f.x:.9g}" data-w="{f.w:.9g}" data-d="{f.depth}"'
            f' data-n="{xml_text(name)}" data-tip="{xml_text(tip)}">'
            f"<title>{xml_text(tip)}</title>"
            f'<rect x="{x:.2f}" y="{y}" width="{max(w - 0.5, 0.1):.2f}" height="{row - 1}"'
            f' rx="2" fill="rgb({r},{g},{b})"/>'
            f'<text x="{x + 3:.2f}" y="{y + 12}">{label}</text></g>'
        )
    out.append("</g>")
    if standalone:
        out.append(f"<script><![CDATA[{_SVG_JS}]]></script>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_layout(nodes: pa.Table, values: np.ndarray, width: int) -> tuple[list[Any], Any]:
    """Frames of an SVG flame graph (the root spans the width; ``values`` sizes each node)
    and the display names of the drawn ones — shared by ``flame_svg`` and ``diff_svg``."""
    scale = max(float(values[0]), 0.0) if len(values) else 0.0
    frames = svg_frames(
        nodes.column("x").to_numpy(),
        values,
        nodes.column("depth").to_numpy(),
        scale=scale,
        width_px=width - 20,
    )
    return frames, _names_for(nodes, [Box(f.node, f.depth, 0, 0) for f in frames])


def flame_svg(tree: CallTree, *, title: str | None = None, width: int = 1200) -> str:
    """A standalone interactive SVG flame graph (icicle: callers above callees).

    Frames narrower than 0.1 px are left out (as flamegraph.pl does); the subtitle says
    how many.
    """
    import numpy as np

    nodes = tree.nodes
    values = nodes.column("value").to_numpy()
    frames, names = _svg_layout(nodes, values, width)
    fmt = value_formatter(tree.selection.sample_type.unit)
    selfs = nodes.column("self").to_numpy()
    total = tree.total or float("nan")
    tips = {}
    for f in frames:
        v = float(values[f.node])
        tip = f"{names[f.node]} — {fmt(v)} ({v / total * 100:.2f}%)"
        if selfs[f.node]:
            tip += f", self {fmt(float(selfs[f.node]))}"
        tips[f.node] = tip
    fills = {f.node: flame_rgb(names[f.node]) for f in frames}
    sub = selection_line(tree.selection, tree.total)
    if tree.focus:
        sub += f" · below {tree.focus}"
    left = int(np.size(values)) - len(frames)
    if left:
        sub += f" · {left:,} frames under 0.1 px not drawn"
    return _svg_document(
        frames,
        names,
        tips,
        fills,
        title=title or "Flame graph",
        subtitle=sub + " · click to zoom",
        width=width,
    )


def diff_svg(
    tree: DiffTree, *, title: str | None = None, width: int = 1200, standalone: bool = True
) -> str:
    """A standalone differential flame graph: laid out on the target, each frame coloured
    by the change of its inclusive share (red grew, blue shrank).

    ``standalone=False`` gives an ``<svg>`` element to embed in HTML (see
    ``_svg_document``): no script, so no click to zoom.
    """
    import numpy as np

    nodes = tree.nodes
    target = nodes.column("target").to_numpy()
    base = nodes.column("base").to_numpy()
    frames, names = _svg_layout(nodes, target, width)
    bt = tree.base_total or float("nan")
    tt = tree.target_total or float("nan")
    bshare = base / bt * 100
    tshare = target / tt * 100
    change = np.nan_to_num(tshare - bshare)
    drawn = [f.node for f in frames]
    scale_pts = float(np.max(np.abs(change[drawn]))) if drawn else 0.0
    tips = {
        n: f"{names[n]} — base {bshare[n]:.2f}% → target {tshare[n]:.2f}% ({change[n]:+.2f} pts)"
        for n in drawn
    }
    fills = {n: diff_rgb(float(change[n]), scale_pts) for n in drawn}
    st = tree.target.sample_type
    fmt = value_formatter(st.unit)
    sub = (
        f"{', '.join(tree.target.services) or 'all services'} · {type_name(st.name)} · width:"
        f" target ({fmt(tree.target_total)}, {tree.target.profiles:,} profiles) · colour:"
        f" change of share vs base ({fmt(tree.base_total)}, {tree.base.profiles:,} profiles)"
        " · red grew, blue shrank" + (" · click to zoom" if standalone else "")
    )
    return _svg_document(
        frames,
        names,
        tips,
        fills,
        title=title or "Differential flame graph",
        subtitle=sub,
        width=width,
        standalone=standalone,
    )
