"""Small inline-SVG chart primitives for the HTML report: axes, lines, bands, bars.

Everything returns SVG *text* (``str``) meant to sit inside an HTML page, so a report
stays one self-contained file: no script, no font, no image from anywhere. Shapes carry
CSS classes rather than colours where the page can style them (light and dark themes),
and take explicit fills only where the colour is data (a service's colour).

Geometry is separate from drawing: ``Plot`` maps time and value to pixels, the tick
functions pick round positions (``time_ticks`` clock labels, ``duration_ticks`` offsets
such as ``0s 2s 4s``, ``value_ticks`` 1-2-5 steps, ``log_ticks`` powers of ten), and the
drawing functions only format. Every piece of text — labels, tooltips (``<title>``),
attribute values — goes through ``esc``: data can never become markup.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from obsctl.render.safe import clean

SECOND = 1_000_000_000

TIME_STEPS_NS: tuple[int, ...] = tuple(
    s * SECOND
    for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
) + tuple(d * 86400 * SECOND for d in (1, 2, 7, 14, 30))
"""Round steps between clock ticks (1 s … 30 days)."""

_XML_BAD = re.compile("[\ufffe\uffff\ud800-\udfff]")


def esc(value: object) -> str:
    """Text safe in SVG/HTML content and in quoted attributes: control characters made
    visible (``render.safe.clean``), characters XML forbids written as ``\\uXXXX``,
    ``& < > " '`` escaped."""
    text = _XML_BAD.sub(lambda m: f"\\u{ord(m.group()):04x}", clean(value))
    return html.escape(text, quote=True)


def num(v: float) -> str:
    """A coordinate, short: ``12.5``, ``300``."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Plot:
    """The plotting area of a chart and its scales (pixels inside the ``<svg>``)."""

    left: float
    top: float
    width: float
    height: float
    t0: float
    """Value (time, ns) at the left edge."""
    t1: float
    """Value at the right edge."""
    y0: float = 0.0
    """Value at the bottom edge."""
    y1: float = 1.0
    """Value at the top edge."""
    log: bool = False
    """Logarithmic value axis (``y0`` must then be > 0)."""

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, t: float) -> float:
        """Pixel column of time ``t`` (clamped to the plot)."""
        span = (self.t1 - self.t0) or 1.0
        f = min(1.0, max(0.0, (t - self.t0) / span))
        return self.left + f * self.width

    def y(self, v: float) -> float:
        """Pixel row of value ``v`` (clamped to the plot)."""
        if self.log:
            lo, hi = math.log10(self.y0), math.log10(self.y1)
            f = (math.log10(max(v, self.y0)) - lo) / ((hi - lo) or 1.0)
        else:
            f = (v - self.y0) / ((self.y1 - self.y0) or 1.0)
        return self.bottom - min(1.0, max(0.0, f)) * self.height


def time_ticks(t0: int, t1: int, max_ticks: int = 8) -> list[tuple[int, str]]:
    """Clock ticks at a round step with at most ``max_ticks`` in ``[t0, t1]``, labelled
    ``HH:MM`` (``HH:MM:SS`` under a minute; the date too beyond a day), UTC."""
    span = max(t1 - t0, 1)
    step = next((s for s in TIME_STEPS_NS if span / s <= max_ticks), TIME_STEPS_NS[-1])
    fmt = "%H:%M:%S" if step < 60 * SECOND else "%H:%M"
    if span > 86400 * SECOND:
        fmt = "%m-%d" if step >= 86400 * SECOND else "%m-%d %H:%M"
    first = -(-t0 // step) * step
    return [
        (t, dt.datetime.fromtimestamp(t // SECOND, dt.UTC).strftime(fmt))
        for t in range(first, t1 + 1, step)
    ]


def _nice_step(span: float, max_ticks: int) -> float:
    raw = span / max(max_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)


def value_ticks(lo: float, hi: float, max_ticks: int = 5) -> list[float]:
    """Round values (1, 2, 2.5, 5 × 10ⁿ steps) covering ``[lo, hi]``: the first at or
    below ``lo``, the last at or above ``hi``, so they can be the axis' ends."""
    if not hi > lo:
        hi = lo + 1.0
    step = _nice_step(hi - lo, max_ticks)
    start = math.floor(lo / step) * step
    out = []
    v = start
    while v < hi + step * 0.999:
        out.append(round(v, 12))
        v += step
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over ``[lo, hi]`` (both > 0): powers of ten, with 2× and 5×
    in between when that gives fewer than four."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks = [10.0**e for e in range(a, b + 1)]
    if len(ticks) < 4:
        ticks = sorted({m * 10.0**e for e in range(a, b + 1) for m in (1, 2, 5)})
        ticks = [t for t in ticks if lo / 1.0001 <= t <= hi * 5]
    return ticks


def duration_ticks(
    total_ns: int, fmt: Callable[[float], str], max_ticks: int = 8
) -> list[tuple[int, str]]:
    """Offsets ``0, step, 2·step…`` up to ``total_ns`` at a 1-2-5 step, labelled by
    ``fmt`` (e.g. ``render.units.fmt_duration_ns``)."""
    step = max(1, int(_nice_step(max(total_ns, 1), max_ticks)))
    return [(t, fmt(t)) for t in range(0, total_ns + 1, step)]


# --------------------------------------------------------------------------- drawing


def svg_open(width: int, height: int, *, cls: str, label: str) -> str:
    """The ``<svg>`` start tag (scales to its container's width) with an accessible
    title."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{esc(cls)}" role="img"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' preserveAspectRatio="xMinYMin meet"><title>{esc(label)}</title>'
    )


def text(x: float, y: float, value: object, *, cls: str = "", anchor: str = "start") -> str:
    """A text label."""
    c = f' class="{esc(cls)}"' if cls else ""
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return f'<text x="{num(x)}" y="{num(y)}"{c}{a}>{esc(value)}</text>'


def time_axis(plot: Plot, ticks: Sequence[tuple[float, str]], *, top: bool = False) -> str:
    """Vertical grid lines at ``ticks`` and their labels under (or over) the plot."""
    out = ['<g class="axis x">']
    y = plot.top - 6 if top else plot.bottom + 15
    for t, label in ticks:
        x = plot.x(t)
        out.append(
            f'<line class="grid" x1="{num(x)}" y1="{num(plot.top)}" x2="{num(x)}"'
            f' y2="{num(plot.bottom)}"/>'
        )
        out.append(text(x, y, label, anchor="middle"))
    edge = plot.top if top else plot.bottom
    out.append(
        f'<line class="edge" x1="{num(plot.left)}" y1="{num(edge)}" x2="{num(plot.right)}"'
        f' y2="{num(edge)}"/>'
    )
    out.append("</g>")
    return "".join(out)


def value_axis(plot: Plot, ticks: Sequence[float], fmt: Callable[[float], str], unit: str) -> str:
    """Horizontal grid lines at ``ticks``, their labels left of the plot and the unit
    written along the axis."""
    out = ['<g class="axis y">']
    for v in ticks:
        y = plot.y(v)
        out.append(
            f'<line class="grid" x1="{num(plot.left)}" y1="{num(y)}" x2="{num(plot.right)}"'
            f' y2="{num(y)}"/>'
        )
        out.append(text(plot.left - 6, y + 4, fmt(v), anchor="end"))
    cx, cy = plot.left - 52, plot.top + plot.height / 2
    out.append(
        f'<text class="unit" x="{num(cx)}" y="{num(cy)}" text-anchor="middle"'
        f' transform="rotate(-90 {num(cx)} {num(cy)})">{esc(unit)}</text>'
    )
    out.append("</g>")
    return "".join(out)


def band(plot: Plot, start: float, end: float, *, cls: str, label: str | None = None) -> str:
    """A shaded time range over the plot's full height, labelled at its top left."""
    x0, x1 = plot.x(start), plot.x(end)
    if x1 - x0 < 0.5:
        return ""
    out = (
        f'<rect class="{esc(cls)}" x="{num(x0)}" y="{num(plot.top)}" width="{num(x1 - x0)}"'
        f' height="{num(plot.height)}"><title>{esc(label or "")}</title></rect>'
    )
    if label and x1 - x0 > 7 * len(label):
        out += text(x0 + 5, plot.top + 13, label, cls=f"{cls}-label")
    return out


def vline(plot: Plot, at: float, *, cls: str, label: str | None = None) -> str:
    """A vertical marker line at time ``at``."""
    x = plot.x(at)
    out = (
        f'<line class="{esc(cls)}" x1="{num(x)}" y1="{num(plot.top)}" x2="{num(x)}"'
        f' y2="{num(plot.bottom)}"><title>{esc(label or "")}</title></line>'
    )
    return out


def polyline(
    plot: Plot, times: Sequence[float], values: Sequence[float | None], *, cls: str
) -> str:
    """A line through the points, broken where a value is missing (``None``/NaN); a
    point alone between gaps is drawn as a dot."""
    parts: list[str] = []
    dots: list[str] = []
    run: list[tuple[float, float]] = []

    def flush() -> None:
        if len(run) == 1:
            dots.append(f'<circle class="{esc(cls)} dot" cx="{num(run[0][0])}"'
                        f' cy="{num(run[0][1])}" r="1.8"/>')  # fmt: skip
        elif run:
            parts.append("M" + " L".join(f"{num(x)},{num(y)}" for x, y in run))
        run.clear()

    for t, v in zip(times, values, strict=True):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            flush()
            continue
        run.append((plot.x(t), plot.y(v)))
    flush()
    path = f'<path class="{esc(cls)}" d="{" ".join(parts)}"/>' if parts else ""
    return path + "".join(dots)


LEGEND_CHAR = 6.3
"""Average glyph width (px) of legend text at 11px, to lay entries out."""


def legend_width(items: Sequence[tuple[str, str]], *, gap: float = 18) -> float:
    """Width ``legend`` takes for ``items``."""
    return sum(20 + LEGEND_CHAR * len(label) + gap for _, label in items) - gap


def legend(items: Sequence[tuple[str, str]], x: float, y: float, *, gap: float = 18) -> str:
    """``(css class, label)`` entries — a short stroke and the label — in a row from
    ``(x, y)`` (``y`` is the text baseline)."""
    out = ['<g class="legend">']
    cx = x
    for cls, label in items:
        out.append(
            f'<line class="{esc(cls)}" x1="{num(cx)}" y1="{num(y - 4)}" x2="{num(cx + 16)}"'
            f' y2="{num(y - 4)}"/>'
        )
        out.append(text(cx + 20, y, label))
        cx += 20 + LEGEND_CHAR * len(label) + gap
    out.append("</g>")
    return "".join(out)


def hbar(
    x: float,
    y: float,
    width: float,
    height: float,
    *,
    cls: str = "",
    fill: str | None = None,
    tip: str | None = None,
) -> str:
    """A horizontal bar (at least 1 px wide so that instants stay visible)."""
    c = f' class="{esc(cls)}"' if cls else ""
    f = f' fill="{esc(fill)}"' if fill else ""
    t = f"<title>{esc(tip)}</title>" if tip else ""
    return (
        f'<rect{c} x="{num(x)}" y="{num(y)}" width="{num(max(width, 1.0))}"'
        f' height="{num(height)}"{f}>{t}</rect>'
    )


# --------------------------------------------------------------------------- line chart


@dataclass(frozen=True)
class Line:
    """One series of a line chart."""

    label: str
    cls: str
    """CSS class (its stroke colour)."""
    values: Sequence[float | None]


@dataclass(frozen=True)
class Band:
    """A shaded time range (the incident window, the baseline)."""

    start: float
    end: float
    cls: str
    label: str


@dataclass(frozen=True)
class LineChart:
    """A time-series chart: lines over shared times, bands behind them."""

    title: str
    times: Sequence[float]
    """X of every point (ns since the epoch)."""
    lines: Sequence[Line]
    t0: float
    t1: float
    unit: str
    """Value axis label (with its unit)."""
    fmt: Callable[[float], str]
    """Tick label for a value."""
    bands: Sequence[Band] = field(default_factory=tuple)
    log: bool = False
    """Logarithmic value axis (values ≤ 0 are not drawn)."""
    width: int = 960
    height: int = 260


def line_chart(chart: LineChart) -> str:
    """The chart as an ``<svg>`` element: bands, grid, axes with time labels and the
    unit, the lines and a legend above the plot."""
    values = [
        v
        for line in chart.lines
        for v in line.values
        if v is not None and not math.isnan(v) and (v > 0 or not chart.log)
    ]
    if chart.log and values:
        ticks = log_ticks(min(values), max(values))
        y0, y1 = ticks[0], ticks[-1]
    else:
        ticks = value_ticks(0.0, max(values, default=1.0) or 1.0)
        y0, y1 = ticks[0], ticks[-1]
    plot = Plot(
        left=74,
        top=30,
        width=chart.width - 74 - 16,
        height=chart.height - 30 - 30,
        t0=chart.t0,
        t1=chart.t1,
        y0=y0,
        y1=y1,
        log=chart.log and bool(values),
    )
    out = [svg_open(chart.width, chart.height, cls="chart", label=chart.title)]
    for b in chart.bands:
        out.append(band(plot, b.start, b.end, cls=b.cls, label=b.label))
    out.append(value_axis(plot, ticks, chart.fmt, chart.unit))
    out.append(time_axis(plot, time_ticks(int(chart.t0), int(chart.t1))))
    for line in chart.lines:
        vals = [None if (v is not None and chart.log and v <= 0) else v for v in line.values]
        out.append(polyline(plot, chart.times, vals, cls=f"line {line.cls}"))
    out.append(text(plot.left, 20, chart.title, cls="chart-title"))
    items = [(f"line {line.cls}", line.label) for line in chart.lines]
    out.append(legend(items, plot.right - legend_width(items), 20))
    out.append("</svg>")
    return "".join(out)
