"""Small pieces shared by the views: the request messages, the ``View`` base, the status
bar and a block chart of one series with the shared window marked."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from rich.style import Style
from rich.text import Text
from textual.containers import Container
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from obsctl.render.safe import clean, safe_text
from obsctl.render.units import fmt_duration_ns, fmt_time

if TYPE_CHECKING:
    from textual.widget import Widget as _Widget

    from obsctl.timewindow import TimeWindow
    from obsctl.tui.app import ObsctlApp


# --------------------------------------------------------------------------- messages


class OpenTrace(Message):
    """Show this trace's waterfall (from a log line, a trace row)."""

    def __init__(self, trace_id: str, span_id: str | None = None) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.span_id = span_id


class OpenProfile(Message):
    """Show the profiles of this service."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service


class Deliver(Message):
    """A worker's result, applied on the UI thread by the view that posted it (workers
    never touch widgets)."""

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        super().__init__()
        self.callback = callback
        self.args = args


class OpenLogs(Message):
    """Show the log records of this trace."""

    def __init__(self, trace_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id


# --------------------------------------------------------------------------- views


class View(Container):
    """The content of one screen (a tab). Loads its data when first shown, and again
    when the shared window changes — at once when it is the visible one, else when it
    is next shown."""

    stale: bool = True
    """Whether the data shown predates the current window."""

    @property
    def obsctl(self) -> ObsctlApp:
        """The app, typed."""
        return cast("ObsctlApp", self.app)

    def deliver(self, callback: Callable[..., object], *args: Any) -> None:
        """From a worker thread: run ``callback(*args)`` on the UI thread."""
        self.post_message(Deliver(callback, args))

    def on_deliver(self, message: Deliver) -> None:
        message.stop()
        message.callback(*message.args)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.app.notify(
                clean(str(error) or type(error).__name__),
                title="error",
                severity="error",
                markup=False,
            )

    def ensure_loaded(self) -> None:
        """Reload if stale."""
        if self.stale:
            self.stale = False
            self.reload()

    def reload(self) -> None:
        """Start the workers that fetch this view's data (override)."""

    def main_widget(self) -> _Widget | None:
        """The widget to focus when the view is shown (override)."""
        return None

    def focus_main(self) -> None:
        """Focus ``main_widget`` (if any)."""
        w = self.main_widget()
        if w is not None:
            w.focus()


class StatusBar(Static):
    """One line: store, shared window and service filter."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, store: str, window: TimeWindow, service: str | None, note: str = "") -> None:
        """Redraw with these values (all text inert)."""
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("obsctl", style="bold")
        line.append(" · ")
        line.append_text(safe_text(store))
        line.append(" · window ")
        line.append(window_text(window), style="bold")
        if service:
            line.append(" · service ")
            line.append_text(safe_text(service, "bold"))
        if note:
            line.append(" · ")
            line.append_text(safe_text(note, "dim"))
        self.update(line)


def window_text(window: TimeWindow) -> str:
    """``2026-03-26 16:30:00 → 16:52:05 (22m05s)`` (open sides: ``start`` / ``end``;
    ``all the data`` when both are open)."""
    a, b = window.start_ns, window.end_ns
    if a is None and b is None:
        return "all the data"
    left = "start" if a is None else fmt_time(a, precision="s")
    right = "end" if b is None else fmt_time(b, precision="s")
    if a is not None and b is not None and left[:10] == right[:10]:
        right = right[11:]
    span = f" ({fmt_duration_ns(b - a)})" if a is not None and b is not None else ""
    return f"{left} → {right}{span}"


def clock(ns: int | None) -> str:
    """``HH:MM:SS.mmm`` of an instant (UTC)."""
    return "—" if ns is None else fmt_time(ns, precision="ms")[11:]


def spark(values: Any, width: int) -> str:
    """A NumPy array as a sparkline (NaN = gap), scaled to its own maximum."""
    import numpy as np

    from obsctl.render.metrics import sparkline

    v = np.asarray(values, dtype=np.float64)
    top = np.nanmax(v) if v.size and np.isfinite(v).any() else 0.0
    if not top or top <= 0:
        scaled = [None if not np.isfinite(x) else 0.0 for x in v.tolist()]
    else:
        scaled = [None if not np.isfinite(x) else max(0.0, x / top) for x in v.tolist()]
    return sparkline(scaled, width)


# --------------------------------------------------------------------------- chart

_EIGHTHS = " ▁▂▃▄▅▆▇█"


class SeriesChart(Widget):
    """One series as a block chart (bars smooth to 1/8 of a row), the columns inside
    the shared window drawn bright and marked ``▔`` below the axis."""

    DEFAULT_CSS = """
    SeriesChart { height: 14; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._title: Text = Text("")
        self._times: Any = None
        self._values: Any = None
        self._window: tuple[int | None, int | None] = (None, None)
        self._fmt: Any = str
        self._message = "select a series"

    def plot(
        self,
        title: Text,
        times: Any,
        values: Any,
        window: TimeWindow,
        fmt: Any,
    ) -> None:
        """Draw ``values`` (NumPy, NaN = no data) at ``times`` (ns, ascending).

        Args:
            title: the first line (already inert ``Text``).
            times: step starts, ns since the epoch.
            values: the series' values.
            window: the shared window (marked).
            fmt: value → label in the series' unit.
        """
        self._title = title
        self._times, self._values = times, values
        self._window = (window.start_ns, window.end_ns)
        self._fmt = fmt
        self._message = ""
        self.refresh()

    def clear(self, message: str) -> None:
        """Show ``message`` instead of a chart."""
        self._times = self._values = None
        self._message = message
        self.refresh()

    def render(self) -> Text:
        import numpy as np

        if self._times is None or not len(self._times):
            return Text(self._message, style="dim")
        height = max(3, self.size.height - 4)
        times = np.asarray(self._times, dtype=np.int64)
        vals = np.asarray(self._values, dtype=np.float64)
        finite = vals[np.isfinite(vals)]
        lo = float(min(0.0, finite.min())) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        if hi <= lo:
            hi = lo + 1.0
        labels = [self._fmt(hi), self._fmt((hi + lo) / 2), self._fmt(lo)]
        label_w = max(len(x) for x in labels)
        width = max(10, self.size.width - label_w - 2)
        # one column per slice of the steps: the largest value of the slice
        edges = np.linspace(0, len(vals), width + 1).astype(np.int64)
        col = np.full(width, np.nan)
        col_t = np.zeros(width, dtype=np.int64)
        for i in range(width):
            a, b = edges[i], max(edges[i + 1], edges[i] + 1)
            part = vals[a:b]
            part = part[np.isfinite(part)]
            if part.size:
                col[i] = part.max()
            col_t[i] = times[min(a, len(times) - 1)]
        w0, w1 = self._window
        inside = np.ones(width, dtype=bool)
        if w0 is not None:
            inside &= col_t >= w0
        if w1 is not None:
            inside &= col_t < w1
        eighths = np.where(
            np.isfinite(col), np.rint((col - lo) / (hi - lo) * height * 8), -1
        ).astype(np.int64)
        bright, dimmed = Style(color="cyan"), Style(color="grey42")
        out = Text(no_wrap=True, overflow="crop")
        out.append_text(self._title)
        out.append("\n")
        for r in range(height):
            floor = (height - 1 - r) * 8
            if r == 0:
                out.append(f"{labels[0]:>{label_w}} ┤", "dim")
            elif r == height // 2:
                out.append(f"{labels[1]:>{label_w}} ┤", "dim")
            elif r == height - 1:
                out.append(f"{labels[2]:>{label_w}} ┤", "dim")
            else:
                out.append(f"{'':>{label_w}} │", "dim")
            for i in range(width):
                e = eighths[i] - floor
                ch = " " if eighths[i] < 0 else _EIGHTHS[int(min(max(e, 0), 8))]
                if eighths[i] >= 0 and r == height - 1 and e <= 0:
                    ch = "▁"  # a zero still shows the series is there
                out.append(ch, bright if inside[i] else dimmed)
            out.append("\n")
        out.append(" " * label_w + " └" + "─" * width + "\n", "dim")
        marks = "".join("▔" if x else " " for x in inside)
        out.append(" " * (label_w + 2))
        out.append(marks.rstrip(), "bold cyan")
        out.append("\n")
        first, last = clock(int(times[0]))[:8], clock(int(times[-1]))[:8]
        out.append(
            " " * (label_w + 2) + first + " " * max(1, width - len(first) - len(last)) + last, "dim"
        )
        return out


def reset_table(table: DataTable[Any], labels: tuple[str, ...]) -> None:
    """Empty a ``DataTable`` and give it these columns (widths are measured afresh: a
    cleared table would keep the widths of its first content)."""
    table.clear(columns=True)
    for label in labels:
        table.add_column(label, key=label)


def inert(value: object, style: str | Style = "") -> Text:
    """Data as ``Text``: no markup, control characters visible."""
    return safe_text(value, style)


def plain(value: object) -> str:
    """Data as a plain string with control characters visible (for ``Segment``\\ s)."""
    return clean(value)
