"""Views of ``analysis.metrics``: the metric list, a terminal line chart, the comparison.

The chart is drawn in braille: each character cell holds 2×4 dots, so a 100-column
terminal gives ~180 horizontal dots — one per step of a ~150-point series. The geometry
is a pure function (``braille_grid``) from lines of ``(x, y)`` points to a grid of
``(char, series index)`` cells, tested with exact strings; consecutive points are joined
by straight dot lines, a ``None`` point breaks the line (a step with no data stays a
gap rather than being interpolated over). Where two series cross one cell, the later
series owns its colour (the dots of both stay).

``LineChart`` only lays the grid out: a title, a y axis labelled in the metric's unit
(seconds → ms/s, ratio ``1`` in 0–1 → %, ``By`` → KiB/MiB, rates get ``/s``), the time
axis of the logs histogram, and a legend whose series labels are attacker-controlled
attribute values and therefore go through ``render.safe``. A metric with many series
charts the first ``MAX_LINES`` and says how many were left out; a histogram with one
series charts p50, p95 and p99, with several series only p95.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from obsctl.render.formats import Column, Listing

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console, ConsoleOptions, RenderResult

    from obsctl.analysis.metrics import SeriesSet

PALETTE = ("cyan", "magenta", "yellow", "green", "bright_blue", "red", "bright_white", "orange3")
"""Series colours, in legend order."""

MAX_LINES = 8
"""Series drawn in one chart; more are counted in the legend."""

_DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bit for (row 0–3 from the top, column 0–1) within a cell."""


# --------------------------------------------------------------------------- geometry


def braille_grid(
    lines: Sequence[Sequence[tuple[float, float] | None]],
    width: int,
    height: int,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
) -> list[list[tuple[str, int | None]]]:
    """Plot lines on a ``width`` × ``height`` grid of braille cells.

    Args:
        lines: per series, its points ``(x, y)`` in x order; ``None`` breaks the line.
        width: cells across (2 dots each).
        height: cells down (4 dots each).
        x_range: ``(x0, x1)`` mapped to the first and last dot column.
        y_range: ``(y0, y1)`` mapped to the bottom and top dot row.

    Returns:
        ``height`` rows, top first, of ``width`` cells ``(char, series)``: a braille
        character (``" "`` when empty) and the index of the last series drawn in it.
    """
    dots_w, dots_h = width * 2, height * 4
    masks = [[0] * width for _ in range(height)]
    owner: list[list[int | None]] = [[None] * width for _ in range(height)]
    x0, x1 = x_range
    y0, y1 = y_range
    xs = (dots_w - 1) / (x1 - x0) if x1 > x0 else 0.0
    ys = (dots_h - 1) / (y1 - y0) if y1 > y0 else 0.0

    def to_dot(p: tuple[float, float]) -> tuple[int, int]:
        dx = round((p[0] - x0) * xs) if xs else 0
        dy = round((p[1] - y0) * ys) if ys else dots_h // 2
        return min(max(dx, 0), dots_w - 1), min(max(dy, 0), dots_h - 1)

    def plot(dx: int, dy: int, idx: int) -> None:
        row_from_top = dots_h - 1 - dy
        r, c = row_from_top // 4, dx // 2
        masks[r][c] |= _DOT_BITS[row_from_top % 4][dx % 2]
        owner[r][c] = idx

    for idx, pts in enumerate(lines):
        prev: tuple[int, int] | None = None
        for p in pts:
            if p is None or not all(map(math.isfinite, p)):
                prev = None
                continue
            cur = to_dot(p)
            if prev is None:
                plot(*cur, idx)
            else:
                for dx, dy in _segment(prev, cur):
                    plot(dx, dy, idx)
            prev = cur
    return [
        [(chr(0x2800 + m) if m else " ", o) for m, o in zip(mrow, orow, strict=True)]
        for mrow, orow in zip(masks, owner, strict=True)
    ]


def _segment(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """Dots of the straight line from ``a`` to ``b`` (both included), Bresenham."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    out = []
    while True:
        out.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return out
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def grid_text(grid: list[list[tuple[str, int | None]]]) -> str:
    """The grid's characters as lines (for tests and plain output)."""
    return "\n".join("".join(ch for ch, _ in row).rstrip() for row in grid)


# --------------------------------------------------------------------------- units


def fmt_value(value: float | None, unit: str | None, kind: str = "value") -> str:
    """A metric value in its unit: ``250ms``, ``27.5%``, ``1.2 MiB``, ``3.4/s``.

    Args:
        value: the number.
        unit: the metric's unit (``s``, ``ms``, ``us``, ``ns``, ``1``, ``%``, ``By``…).
        kind: ``rate/s`` appends ``/s``.
    """
    from obsctl.render import units

    if value is None or not math.isfinite(value):
        return "—"
    u = (unit or "").strip()
    scale = {"s": 1e9, "ms": 1e6, "us": 1e3, "µs": 1e3, "ns": 1.0}.get(u)
    if scale is not None:
        text = "0" if value == 0 else units.fmt_duration_ns(value * scale)
    elif u == "1" and kind != "rate/s":
        text = f"{value * 100:.3g}%"
    elif u == "%":
        text = f"{value:.3g}%"
    elif u in ("By", "bytes", "B"):
        text = units.fmt_bytes(value)
    else:
        text = _short(value)
        if u and not u.startswith("{"):
            text += f" {u}"
    return text + "/s" if kind == "rate/s" else text


def fmt_change(baseline: float | None, value: float | None, rel: float | None) -> str:
    """A change as a person says it (``+35%``, ``×19``, ``new``): see
    ``metric_anomalies.change_text``."""
    from obsctl.analysis.metric_anomalies import change_text

    return change_text(baseline, value, rel)


def _short(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _ratio_unit(unit: str | None, lo: float, hi: float) -> bool:
    return (unit or "") == "1" and lo >= 0 and hi <= 1.5


# --------------------------------------------------------------------------- listings


def list_listing(table: pa.Table) -> Listing:
    """``obsctl metrics list``: name, type, unit, series, services, labels, range, points."""
    return Listing(
        table,
        columns=[
            Column("metric", kind="text", max_width=48, min_width=30),
            Column("type", kind="text"),
            Column("unit", kind="text", max_width=10),
            Column("series", kind="int"),
            Column("points", kind="int"),
            Column("services", kind="list", max_width=30, min_width=10),
            Column("labels", kind="list", max_width=40, min_width=10),
        ],
    )


def compare_listing(table: pa.Table, footer: str | None = None) -> Listing:
    """``obsctl metrics compare`` as a table view (values in their units).

    The view adds formatted helper columns; machine formats write ``table`` itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    units_col = table.column("unit").to_pylist()
    kinds = table.column("kind").to_pylist()
    shown = {}
    for name in ("baseline", "window", "change"):
        vals = table.column(name).to_pylist()
        shown[name] = pa.array(
            [fmt_value(v, u, k) for v, u, k in zip(vals, units_col, kinds, strict=True)]
        )
    view = table
    for name, arr in shown.items():
        view = view.append_column(f"_{name}", arr)
    view = view.append_column("_pct", pc.multiply(table.column("change_ratio"), 100.0))
    return Listing(
        view,
        columns=[
            Column("metric", kind="text", max_width=40, min_width=32),
            Column("series", kind="text", max_width=60, min_width=14),
            Column("_baseline", "baseline", justify="right"),
            Column("_window", "window", justify="right"),
            Column("_change", "change", justify="right"),
            Column("_pct", "change %", kind="pct"),
            Column("robust_z", "robust z", kind="float"),
        ],
        footer=footer,
    )


# --------------------------------------------------------------------------- chart


class LineChart:
    """Rich renderable: a ``SeriesSet`` as braille lines over a time axis, with a legend."""

    def __init__(self, data: SeriesSet, *, height: int = 14) -> None:
        """Args:
        data: the result of ``analysis.metrics.series``.
        height: chart rows.
        """
        self.data = data
        self.height = height

    def _lines(self) -> tuple[list[str], list[list[tuple[int, float]]], int]:
        """(labels, points per line as (ns, value), series left out)."""
        import pyarrow as pa

        t = self.data.table
        names = t.column("series").to_pylist()
        times = t.column("time").cast(pa.int64()).to_pylist()
        values = t.column("value").to_pylist()
        qs = t.column("quantile").to_pylist() if "quantile" in t.column_names else None
        distinct = list(dict.fromkeys(names))
        by: dict[tuple[str, float | None], list[tuple[int, float]]] = {}
        for i, (n, ts, v) in enumerate(zip(names, times, values, strict=True)):
            q = qs[i] if qs else None
            by.setdefault((n, q), []).append((ts, v))
        keys = list(by)
        if qs and len(distinct) > 1:
            keys = [k for k in keys if k[1] == 0.95] or keys
        extra = 0
        series_shown = list(dict.fromkeys(k[0] for k in keys))
        if len(series_shown) > MAX_LINES:
            extra = len(series_shown) - MAX_LINES
            keep = set(series_shown[:MAX_LINES])
            keys = [k for k in keys if k[0] in keep]
        from obsctl.analysis.metrics import quantile_label

        labels = [n if q is None else f"{quantile_label(q)} {n}" for n, q in keys]
        return labels, [by[k] for k in keys], extra

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.style import Style
        from rich.text import Text

        from obsctl.render import units
        from obsctl.render.logs import _time_label, width_label
        from obsctl.render.safe import clean, safe_text

        d = self.data
        colour = not console.no_color and console.color_system is not None
        if d.table.num_rows == 0 or d.start_ns is None or d.end_ns is None:
            yield Text(f"no points of {clean(d.metric)} match", style="dim")
            return
        labels, lines, extra = self._lines()
        vals = [v for pts in lines for _, v in pts]
        lo, hi = min(vals), max(vals)
        if lo >= 0 and (lo <= 0.5 * hi or _ratio_unit(d.unit, lo, hi)):
            lo = 0.0
        if hi == lo:
            hi = lo + (abs(lo) or 1.0)
        top_l, mid_l, bot_l = (fmt_value(v, d.unit, d.kind) for v in (hi, (hi + lo) / 2, lo))
        label_w = max(len(top_l), len(mid_l), len(bot_l))
        n_steps = max(1, (d.end_ns - d.start_ns + d.step_ns - 1) // d.step_ns)
        avail = max(10, options.max_width - label_w - 2)
        width = avail
        step = d.step_ns
        x_last = d.start_ns + (n_steps - 1) * step
        plot_lines: list[list[tuple[float, float] | None]] = []
        for pts in lines:
            out: list[tuple[float, float] | None] = []
            prev_t = None
            for ts, v in pts:
                if prev_t is not None and ts - prev_t > step:
                    out.append(None)  # missing steps: a gap, not an interpolated line
                out.append((float(ts), float(v)))
                prev_t = ts
            plot_lines.append(out)
        grid = braille_grid(
            plot_lines, width, self.height, (float(d.start_ns), float(x_last)), (lo, hi)
        )
        start_t = units.fmt_time(d.start_ns, precision="s")
        end_t = units.fmt_time(d.end_ns, precision="s")
        same_day = start_t[:10] == end_t[:10]
        unit = f" ({clean(d.unit)})" if d.unit else ""
        kind = {"rate/s": "rate per second", "value": "value"}.get(d.kind, d.kind)
        yield Text.assemble(
            (clean(d.metric), "bold"), f" · {d.type}{unit} · {kind} per {width_label(step)}"
        )
        for r, row in enumerate(grid):
            line = Text()
            if r == 0:
                line.append(f"{top_l:>{label_w}} ┤", "dim")
            elif r == self.height // 2:
                line.append(f"{mid_l:>{label_w}} ┤", "dim")
            elif r == self.height - 1:
                line.append(f"{bot_l:>{label_w}} ┤", "dim")
            else:
                line.append(f"{'':>{label_w}} │", "dim")
            for ch, who in row:
                if colour and who is not None:
                    line.append(ch, Style(color=PALETTE[who % len(PALETTE)]))
                else:
                    line.append(ch)
            line.rstrip()
            yield line
        # time axis: one tick per nice step, positions scaled from steps to columns
        starts = [d.start_ns + i * step for i in range(n_steps)]
        multi_day = not same_day
        col_per_step = width / n_steps
        ticks, tick_step = _ticks_scaled(starts, step, col_per_step, multi_day)
        axis = ["─"] * width
        labels_row = [" "] * (width + 12)
        last_end = -1
        for i in ticks:
            pos = min(width - 1, int(i * col_per_step))
            axis[pos] = "┬"
            text = _time_label(starts[i], tick_step, multi_day)
            if pos <= last_end or pos + len(text) > width + 4:
                continue
            labels_row[pos : pos + len(text)] = list(text)
            last_end = pos + len(text)
        yield Text(" " * label_w + " └" + "".join(axis), style="dim")
        yield Text(" " * (label_w + 2) + "".join(labels_row).rstrip(), style="dim")
        yield Text(
            " " * (label_w + 2) + f"{start_t} → {end_t[11:] if same_day else end_t} UTC",
            style="dim",
        )
        shown, common = legend_labels(labels)
        if common:
            line = Text.assemble(" " * (label_w + 2), ("all: ", "dim"), safe_text(common, "dim"))
            line.truncate(options.max_width, overflow="ellipsis")
            yield line
        for i, name in enumerate(shown):
            legend = Text(" " * (label_w + 2))
            if colour:
                legend.append("━━", Style(color=PALETTE[i % len(PALETTE)]))
            else:
                legend.append(f"{i + 1:>2}")
            legend.append(" ")
            legend.append_text(safe_text(name))
            legend.truncate(options.max_width, overflow="ellipsis")
            yield legend
        if extra:
            yield Text(
                " " * (label_w + 2)
                + f"… and {extra} more series (narrow with --service or --label k=v)",
                style="dim",
            )


def legend_labels(labels: list[str]) -> tuple[list[str], str]:
    """Legend texts without the ``k=v`` pairs all series share, and those shared pairs.

    ``["p95 a{x=1,y=2}", "p95 a{x=1,y=3}"]`` → ``(["p95 a{y=2}", "p95 a{y=3}"], "x=1")``:
    with long attribute lists the part that tells series apart is otherwise cut off.
    (Display only: a value holding a comma may split oddly, but stays inert text.)
    """
    if len(labels) < 2:
        return labels, ""
    parts = []
    for text in labels:
        head, brace, rest = text.partition("{")
        pairs = rest[:-1].split(",") if brace and rest.endswith("}") else []
        parts.append((head, pairs))
    common = set(parts[0][1]).intersection(*(set(p) for _, p in parts[1:]))
    if not common:
        return labels, ""
    out = []
    for (head, pairs), text in zip(parts, labels, strict=True):
        keep = [p for p in pairs if p not in common]
        out.append(f"{head}{{{','.join(keep)}}}" if keep else head if pairs else text)
    return out, ",".join(p for p in parts[0][1] if p in common)


def _ticks_scaled(
    starts: list[int], step: int, col_per_step: float, multi_day: bool
) -> tuple[list[int], int]:
    """Ticks when several steps share a column: the finest nice multiple of the step
    whose labels, at ``col_per_step`` columns per step, do not crowd each other."""
    from obsctl.analysis.logs import NICE_BUCKETS_NS
    from obsctl.render.logs import _time_label

    for tick in NICE_BUCKETS_NS:
        if tick % step:
            continue
        need = len(_time_label(starts[0], tick, multi_day)) + 3
        if tick // step * col_per_step >= need:
            return [i for i, s in enumerate(starts) if s % tick == 0], tick
    return [0], step


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float] | None, width: int = 14) -> str:
    """0–1 values as block characters (``▁`` … ``█``), at most ``width`` of them (each the
    largest of its share of the values); ``None`` values as spaces."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [
            max((v for v in values[int(i * step) : int((i + 1) * step)] if v is not None),
                default=None)
            for i in range(width)
        ]  # fmt: skip
    top = len(SPARK) - 1
    return "".join(" " if v is None else SPARK[min(top, max(0, round(v * top)))] for v in values)


def anomalies_listing(table: pa.Table, *, footer: str | None = None) -> Listing:
    """Ranked anomalies: score, metric, series, when it started, direction, change, kind.

    The sparkline is drawn for the table view only; machine formats get its 0–1 values.
    """
    import pyarrow as pa

    from obsctl.render.formats import Column, Listing

    spark = pa.array([sparkline(v) for v in table.column("sparkline").to_pylist()], pa.string())
    arrows = pa.array(
        ["↑" if d == "up" else "↓" for d in table.column("direction").to_pylist()], pa.string()
    )
    series = pa.array(
        [
            _series_text(svc, lab)
            for svc, lab in zip(
                table.column("service").to_pylist(), table.column("labels").to_pylist(), strict=True
            )
        ],
        pa.string(),
    )
    from obsctl.render.units import fmt_time

    starts = [
        None if v is None else v.value if hasattr(v, "value") else v
        for v in table.column("start").cast(pa.int64()).to_pylist()
    ]
    days = {ns // 86_400_000_000_000 for ns in starts if ns is not None}
    clock = [
        None if ns is None else fmt_time(ns, precision="s")[11 if len(days) == 1 else 0 :]
        for ns in starts
    ]
    shown = table.append_column("spark", spark).append_column("dir", arrows)
    extra = []
    if "related" in table.column_names:
        rel = table.column("related").combine_chunks()
        services = rel.flatten().field("service").to_pylist()
        offsets = rel.offsets.to_pylist()
        shown = shown.append_column(
            "also",
            pa.array(
                [_related_text(services[a:b]) for a, b in itertools.pairwise(offsets)],
                pa.string(),
            ),
        )
        extra = [Column("also", "with", max_width=26, optional=3)]
    shown = shown.append_column("series", series).append_column(
        "since", pa.array(clock, pa.string())
    )
    units_col = table.column("unit").to_pylist()
    measure = table.column("measure").to_pylist()
    base = table.column("baseline").to_pylist()
    now = table.column("value").to_pylist()
    for name, vals in (("_baseline", base), ("_now", now)):
        shown = shown.append_column(
            name,
            pa.array(
                [fmt_value(v, u, k) for v, u, k in zip(vals, units_col, measure, strict=True)]
            ),
        )
    shown = shown.append_column(
        "_change",
        pa.array(
            [
                fmt_change(b, v, r)
                for b, v, r in zip(
                    base, now, table.column("relative_change").to_pylist(), strict=True
                )
            ],
            pa.string(),
        ),
    )
    return Listing(
        table,
        view=shown,
        columns=[
            Column("score", kind="float"),
            Column("metric", min_width=33, max_width=40),
            Column("series", min_width=12, max_width=48),
            Column("since"),
            Column("_baseline", "baseline", justify="right", optional=2),
            Column("_now", "now", justify="right"),
            Column("_change", "change", justify="right"),
            Column("spark", "trend", optional=1),
            *extra,
        ],
        footer=footer,
    )


def _related_text(services: list[str | None]) -> str:
    """``+3 checkout, frontend``: how many series were folded into a row, and their
    services (earliest mover first)."""
    if not services:
        return ""
    return f"+{len(services)} " + ", ".join(dict.fromkeys(s or "?" for s in services))


def _series_text(service: str | None, labels: str | None) -> str:
    """``payment{http.route=/charge,…}`` from a service and a labels JSON object."""
    import json

    try:
        pairs = json.loads(labels) if labels else {}
    except ValueError:
        pairs = {}
    inner = (
        ",".join(f"{k}={v}" for k, v in sorted(pairs.items())) if isinstance(pairs, dict) else ""
    )
    return f"{service or ''}{{{inner}}}" if inner else (service or "")
