"""Views of ``analysis.logs``: the record listing and the histogram chart.

The record listing is an ordinary ``formats.Listing``: the table view shows time (ms),
level (coloured), service and message, while json/ndjson/csv serialise every field of the
same Arrow table. Message text only ever becomes ``Text`` through ``render.safe``, so
markup and escape sequences in log lines stay inert and newlines show as ``⏎``.

The histogram is drawn like lnav's: time runs left to right, one column (or a few) per
bucket, bars stacked by level with the most severe at the bottom, where the eye starts.
The geometry is a pure function (``stack_cells``) tested with exact strings; the Rich
renderable (``HistogramView``) only lays it out with a count axis, a time axis and a
legend. With colour, a cell holds two levels — an eighth-block in the lower level's
colour over the upper level's background — so bars are smooth to 1/8 of a row; without
colour every level has its own glyph and heights round to whole rows. A level with at
least one record in a bucket always gets at least one unit of height: a single error
among thousands of info lines must stay visible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from obsctl.render.formats import Column, Listing

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console, ConsoleOptions, RenderResult

    from obsctl.analysis.logs import Histogram

LEVEL_ORDER: tuple[str | None, ...] = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", None)
"""Levels from most severe; ``None`` = records without a severity. Bars stack in this
order from the bottom."""

LEVEL_STYLES: dict[str | None, str] = {
    "FATAL": "bold red",
    "ERROR": "red",
    "WARN": "yellow",
    "INFO": "",
    "DEBUG": "dim",
    "TRACE": "dim",
    None: "",
}
"""Style of the level cell in the record table."""

BAR_COLOURS: dict[str | None, str] = {
    "FATAL": "magenta",
    "ERROR": "red",
    "WARN": "yellow",
    "INFO": "grey62",
    "DEBUG": "grey37",
    "TRACE": "grey27",
    None: "blue",
}
"""Bar colour per level in the histogram (fatal set apart from error)."""

BAR_GLYPHS: dict[str | None, str] = {
    "FATAL": "█",
    "ERROR": "▓",
    "WARN": "▒",
    "INFO": "░",
    "DEBUG": ":",
    "TRACE": ".",
    None: "+",
}
"""Bar glyph per level when there is no colour (pipes, ``NO_COLOR``)."""

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def _level_style(value: object) -> str:
    return LEVEL_STYLES.get(value if isinstance(value, str) else None, "")


def records_listing(table: pa.Table) -> Listing:
    """The record table: time, level, service, message (json/csv get every column).

    Args:
        table: a result of ``analysis.logs.search`` (or ``search_stream`` for the machine
            formats, which ignore the column hints).
    """
    return Listing(
        table,
        columns=[
            Column("time", kind="time"),
            Column("level", kind="text", max_width=5),
            Column("service", kind="text", max_width=20, min_width=8),
            Column("body", "message", kind="text", max_width=4000, min_width=30),
        ],
        styles={"level": _level_style},
    )


# --------------------------------------------------------------------------- geometry


def stack_cells(
    segments: Sequence[tuple[str | None, int]], peak: int, height: int, *, eighths: bool
) -> list[tuple[str, str | None, str | None]]:
    """One bar, bottom cell first: ``(char, lower level, upper level)`` per cell.

    Args:
        segments: ``(level, count)`` from the bottom of the stack up.
        peak: the count that fills ``height`` rows.
        height: rows of the chart.
        eighths: resolve to 1/8 of a row (colour) rather than whole rows (glyphs).

    Returns:
        ``height`` cells. ``char`` is an eighth-block (colour: foreground = lower level,
        background = upper level) or, without ``eighths``, the lower level's glyph; empty
        cells are ``(" ", None, None)``.
    """
    unit = 8 if eighths else 1
    room = height * unit
    sizes: list[tuple[str | None, int]] = []
    for level, n in segments:
        if n > 0 and peak > 0:
            sizes.append((level, max(1, round(n / peak * room))))
    while sum(s for _, s in sizes) > room:  # the minimum of 1 unit can overshoot: trim
        i = max(range(len(sizes)), key=lambda k: sizes[k][1])
        sizes[i] = (sizes[i][0], sizes[i][1] - 1)
    # level of each unit from the bottom
    units: list[str | None] = []
    for level, s in sizes:
        units.extend([level] * s)
    filled = len(units)
    cells: list[tuple[str, str | None, str | None]] = []
    for row in range(height):
        lo = row * unit
        if lo >= filled:
            cells.append((" ", None, None))
            continue
        lower = units[lo]
        if not eighths:
            cells.append((BAR_GLYPHS[lower], lower, None))
            continue
        same = 0
        while same < unit and lo + same < filled and units[lo + same] == lower:
            same += 1
        upper = units[lo + same] if same < unit and lo + same < filled else None
        cells.append((_EIGHTHS[same], lower, upper))
    return cells


# --------------------------------------------------------------------------- chart


@dataclass
class _Bars:
    starts: list[int]
    """Start (ns) of each displayed column's first bucket."""
    counts: list[dict[str | None, int]]
    """Per displayed column: level → count."""
    per_column: int
    """Buckets merged into one displayed column."""


def _bars(hist: Histogram, max_columns: int) -> _Bars:
    import pyarrow as pa

    starts = hist.table.column("bucket").cast(pa.int64()).to_pylist()
    levels = hist.table.column("level").to_pylist()
    counts = hist.table.column("count").to_pylist()
    by_bucket: dict[int, dict[str | None, int]] = {}
    for s, lv, n in zip(starts, levels, counts, strict=True):
        by_bucket.setdefault(s, {})[lv] = n
    ordered = sorted(by_bucket)
    k = _merge_factor(ordered, hist.bucket_ns, max_columns)
    wide = hist.bucket_ns * k
    merged_starts: list[int] = []
    merged: list[dict[str | None, int]] = []
    for s in ordered:
        key = s // wide * wide
        if not merged_starts or merged_starts[-1] != key:
            merged_starts.append(key)
            merged.append({})
        for lv, n in by_bucket[s].items():
            merged[-1][lv] = merged[-1].get(lv, 0) + n
    return _Bars(merged_starts, merged, k)


def _merge_factor(starts: list[int], width: int, max_columns: int) -> int:
    """How many buckets one displayed column holds so that all fit in ``max_columns``:
    1 if they fit, else preferably a factor making the merged width a nice one (1m, not
    27s); columns are aligned on multiples of the merged width."""
    from obsctl.analysis.logs import NICE_BUCKETS_NS, bucket_count

    if not starts or len(starts) <= max_columns:
        return 1
    first, end = starts[0], starts[-1] + width

    def fits(k: int) -> bool:
        return bucket_count(first, end, width * k) <= max_columns

    smallest = next((k for k in range(2, len(starts) + 1) if fits(k)), len(starts))
    nice = [w // width for w in NICE_BUCKETS_NS if w % width == 0]
    return next((k for k in nice if smallest <= k <= 2.5 * smallest and fits(k)), smallest)


def width_label(ns: int) -> str:
    """A bucket width as its shortest name: ``500ms``, ``30s``, ``5m``, ``6h``, ``1d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if ns % (size * 1_000_000_000) == 0:
            return f"{ns // (size * 1_000_000_000)}{unit}"
    if ns % 1_000_000 == 0:
        return f"{ns // 1_000_000}ms"
    return f"{ns}ns"


def _time_label(ns: int, step_ns: int, multi_day: bool, multi_year: bool = False) -> str:
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)
    if step_ns >= 86400 * 1_000_000_000:
        return t.strftime("%Y-%m-%d" if multi_year else "%m-%d")
    if step_ns < 1_000_000_000:
        return t.strftime("%H:%M:%S") + f".{(ns % 1_000_000_000) // 1_000_000:03d}"
    hm = t.strftime("%H:%M:%S" if step_ns < 60 * 1_000_000_000 else "%H:%M")
    return f"{t:%m-%d} {hm}" if multi_day else hm


def _ticks(
    starts: list[int], width_ns: int, col_w: int, multi_day: bool, multi_year: bool = False
) -> tuple[list[int], int]:
    """Columns that get a time label and the label step (ns): the finest nice step, a
    multiple of the bucket width, whose labels do not crowd each other."""
    from obsctl.analysis.logs import NICE_BUCKETS_NS

    first = starts[0] if starts else 0
    for step in NICE_BUCKETS_NS:
        if step % width_ns or step // width_ns > max(1, len(starts) // 2):
            continue
        need = len(_time_label(first, step, multi_day, multi_year)) + 3
        if step // width_ns * col_w >= need:
            return [i for i, s in enumerate(starts) if s % step == 0], step
    need = len(_time_label(first, width_ns, multi_day, multi_year)) + 3
    every = max(1, -(-need // col_w))
    return list(range(0, len(starts), every)), width_ns * every


class HistogramView:
    """Rich renderable: stacked level bars over a time axis, a count axis and a legend."""

    def __init__(self, hist: Histogram, *, height: int = 12) -> None:
        """Args:
        hist: the result of ``analysis.logs.histogram``.
        height: chart rows.
        """
        self.hist = hist
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.style import Style
        from rich.text import Text

        from obsctl.render import units

        hist = self.hist
        colour = not console.no_color and console.color_system is not None
        if hist.total == 0 or hist.start_ns is None:
            yield Text("no log records to count", style="dim")
            return
        width = options.max_width
        label_w = len(units.fmt_count(self._peak_guess()))
        avail = max(10, width - label_w - 2)
        bars = _bars(hist, avail)
        peak = max((sum(c.values()) for c in bars.counts), default=0)
        label_w = max(label_w, len(units.fmt_count(peak)))
        avail = max(10, width - label_w - 2)
        n = len(bars.starts)
        col_w = max(1, min(4, avail // max(1, n)))
        gap = 1 if col_w >= 3 else 0
        bar_w = col_w - gap
        present = [lv for lv in LEVEL_ORDER if any(lv in c for c in bars.counts)]
        columns = [
            stack_cells([(lv, c.get(lv, 0)) for lv in present], peak, self.height, eighths=colour)
            for c in bars.counts
        ]
        span_ns = hist.end_ns - hist.start_ns if hist.end_ns else 0
        bucket_ns = hist.bucket_ns * bars.per_column
        start_t = units.fmt_time(hist.start_ns, precision="s")
        end_t = units.fmt_time(hist.end_ns, precision="s")
        same_day = start_t[:10] == end_t[:10]
        title = Text.assemble(
            (f"{units.fmt_count(hist.total)} log records", "bold"),
            f" per {width_label(bucket_ns)}",
            f" · {start_t} → {end_t[11:] if same_day else end_t} UTC",
            f" ({units.fmt_duration_ns(span_ns)})",
        )
        yield title
        half = round(peak / 2)
        for row in range(self.height - 1, -1, -1):
            line = Text()
            if row == self.height - 1:
                line.append(f"{units.fmt_count(peak):>{label_w}} ┤", "dim")
            elif row == (self.height - 1) // 2 and peak >= 10:
                line.append(f"{units.fmt_count(half):>{label_w}} ┤", "dim")
            else:
                line.append(f"{'':>{label_w}} │", "dim")
            for cells in columns:
                char, lower, upper = cells[row]
                if colour and lower is not None:
                    style = Style(
                        color=BAR_COLOURS[lower],
                        bgcolor=BAR_COLOURS[upper] if upper is not None else None,
                    )
                    line.append(char * bar_w, style)
                else:
                    line.append(char * bar_w)
                if gap:
                    line.append(" " * gap)
            line.rstrip()
            yield line
        multi_day = not same_day
        multi_year = start_t[:4] != end_t[:4]
        ticks, step = _ticks(bars.starts, bucket_ns, col_w, multi_day, multi_year)
        axis = ["─"] * (n * col_w)
        labels = [" "] * (n * col_w + 12)
        last_end = -1
        for i in ticks:
            pos = i * col_w
            axis[pos] = "┬"
            text = _time_label(bars.starts[i], step, multi_day, multi_year)
            room = min(n * col_w + 4, options.max_width - label_w - 2)
            if pos <= last_end or pos + len(text) > room:
                continue
            labels[pos : pos + len(text)] = list(text)
            last_end = pos + len(text)
        yield Text(f"{'0':>{label_w}} └" + "".join(axis), style="dim")
        yield Text(" " * (label_w + 2) + "".join(labels).rstrip(), style="dim")
        legend = Text(" " * (label_w + 2))
        totals = self._totals()
        for lv in present:
            name = lv or "no level"
            if colour:
                legend.append("█", Style(color=BAR_COLOURS[lv]))
            else:
                legend.append(BAR_GLYPHS[lv])
            legend.append(f" {name} {units.fmt_count(totals.get(lv, 0))}   ")
        if bars.per_column > 1:
            legend.append(
                f"(each column: {bars.per_column} buckets of {width_label(hist.bucket_ns)})",
                "dim",
            )
        legend.rstrip()
        yield legend

    def _peak_guess(self) -> int:
        import pyarrow.compute as pc

        total = pc.sum(self.hist.table.column("count")).as_py()
        return int(total or 0)

    def _totals(self) -> dict[str | None, int]:
        out: dict[str | None, int] = {}
        levels = self.hist.table.column("level").to_pylist()
        counts = self.hist.table.column("count").to_pylist()
        for lv, n in zip(levels, counts, strict=True):
            out[lv] = out.get(lv, 0) + n
        return out
