"""Logs: every matching record in a virtual table, a histogram, and the pattern view.

The table never holds the records: a worker asks ``analysis.logs.record_index`` for the
row ids of the matching records (8 bytes each), and pages of ``PAGE`` records are
fetched with ``records_at`` as they scroll into view, so millions of lines scroll like
ten. Enter on a line that carries a trace id opens that trace's waterfall.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import ContentSwitcher, DataTable, Input, Static
from textual.worker import get_current_worker

from obsctl.errors import ObsctlError
from obsctl.render.logs import LEVEL_STYLES
from obsctl.render.safe import clean
from obsctl.render.units import fmt_count, fmt_time
from obsctl.tui.widgets import OpenTrace, View, inert, reset_table

if TYPE_CHECKING:
    import pyarrow as pa
    from textual.widget import Widget

    from obsctl.analysis.logs import LogFilter

LEVELS = ("INFO", "WARN", "ERROR")
"""The minimum levels the toggles offer (``None``: every record)."""

PAGE = 200
"""Records fetched per page."""

PATTERN_COLUMNS = ("status", "count", "baseline", "growth", "levels", "services", "template")

_LEVEL_STYLE = {k: Style.parse(v) if v else Style() for k, v in LEVEL_STYLES.items()}


# --------------------------------------------------------------------------- filter text


@dataclass(frozen=True)
class FilterText:
    """What the filter box says: a substring, and ``service:``, ``trace:``, ``re:`` terms."""

    text: str = ""
    services: tuple[str, ...] = ()
    trace: str | None = None
    grep: str | None = None
    words: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str) -> FilterText:
        """``payment timeout service:checkout trace:7bb2… re:'order=\\w+'``."""
        try:
            tokens = shlex.split(value)
        except ValueError:
            tokens = value.split()
        words, services, trace, grep = [], [], None, None
        for tok in tokens:
            key, sep, rest = tok.partition(":")
            if sep and key in ("service", "s") and rest:
                services.append(rest)
            elif sep and key == "trace" and rest:
                trace = rest
            elif sep and key == "re" and rest:
                grep = rest
            else:
                words.append(tok)
        return cls(" ".join(words), tuple(services), trace, grep, words)


_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def template_regex(template: str) -> str:
    """A regular expression (RE2) matching the messages of a mined template: constant
    parts literal, each ``<*>`` any text, whitespace runs any whitespace."""
    parts = []
    for piece in template.split("<*>"):
        esc = "".join("\\" + c if c in _RE2_SPECIAL else c for c in piece)
        parts.append(re.sub(r"\s+", r"\\s+", esc))
    return ".*".join(parts)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    """One displayed record (strings already cleaned)."""

    time: str
    level: str | None
    service: str
    trace_id: str | None
    span_id: str | None
    body: str
    location: str


class LogTable(ScrollView, can_focus=True):
    """A virtual table of log records: only the visible pages are fetched and drawn."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"logtable--cursor", "logtable--placeholder"}
    DEFAULT_CSS = """
    LogTable { height: 1fr; overflow-x: hidden; }
    LogTable > .logtable--cursor { background: $accent 30%; }
    LogTable:focus > .logtable--cursor { background: $accent 60%; }
    LogTable > .logtable--placeholder { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "open", "Open trace"),
    ]

    class PagesWanted(Message):
        """Pages of the current index are needed on screen."""

        def __init__(self, generation: int, pages: list[int]) -> None:
            super().__init__()
            self.generation = generation
            self.pages = pages

    class Highlighted(Message):
        """The cursor moved to a record (``None`` while its page loads)."""

        def __init__(self, row: Row | None, position: int, total: int) -> None:
            super().__init__()
            self.row = row
            self.position = position
            self.total = total

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generation = 0
        self.index: pa.Array | None = None
        self.total = 0
        self.cursor = 0
        self.pages: LRUCache[int, list[Row]] = LRUCache(64)
        self.pending: set[int] = set()
        self.time_width = 12
        self._strips: LRUCache[tuple[int, bool, int], Strip] = LRUCache(512)

    # ------------------------------------------------------------- data in

    def reset(self, index: pa.Array, multi_day: bool) -> int:
        """Show the records of a new index (cursor on the first); returns the generation
        that page results must carry."""
        self.generation += 1
        self.index = index
        self.total = len(index)
        self.cursor = 0
        self.pages.clear()
        self.pending.clear()
        self._strips.clear()
        self.time_width = 23 if multi_day else 12
        self.virtual_size = Size(0, self.total)
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()
        self.call_after_refresh(self._want_visible)
        self._post_highlight()
        return self.generation

    def add_page(self, generation: int, page: int, rows: list[Row]) -> None:
        """A fetched page (ignored if it belongs to an older index)."""
        if generation != self.generation:
            return
        self.pending.discard(page)
        self.pages[page] = rows
        self._strips.clear()
        self.refresh()
        if self.cursor // PAGE == page:
            self._post_highlight()

    def current(self) -> Row | None:
        """The record under the cursor, if its page is loaded."""
        rows = self.pages.get(self.cursor // PAGE)
        if rows is None:
            return None
        i = self.cursor % PAGE
        return rows[i] if i < len(rows) else None

    # ------------------------------------------------------------- paging

    def _want_visible(self) -> None:
        if not self.total:
            return
        first = int(self.scroll_y)
        last = min(self.total - 1, first + max(self.size.height, 1))
        wanted = [
            p
            for p in range(first // PAGE, last // PAGE + 1)
            if p not in self.pages and p not in self.pending
        ]
        if wanted:
            self.pending.update(wanted)
            self.post_message(self.PagesWanted(self.generation, wanted))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._want_visible()

    def on_resize(self) -> None:
        self._strips.clear()
        self.virtual_size = Size(0, self.total)
        self._want_visible()

    # ------------------------------------------------------------- drawing

    def render_line(self, y: int) -> Strip:
        row = int(self.scroll_y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if row >= self.total:
            return Strip.blank(width, base)
        selected = row == self.cursor
        key = (row, selected, width)
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        rows = self.pages.get(row // PAGE)
        if rows is None or row % PAGE >= len(rows):
            style = base + self.get_component_rich_style("logtable--placeholder")
            strip = Strip([Segment("  …", style)]).extend_cell_length(width, base)
            return strip
        r = rows[row % PAGE]
        if selected:
            base = base + self.get_component_rich_style("logtable--cursor")
        svc_w = 14
        segments = [
            Segment(r.time.ljust(self.time_width) + " ", base + Style(dim=True)),
            Segment((r.level or "").ljust(5) + " ", base + _LEVEL_STYLE.get(r.level, Style())),
            Segment(_fit(r.service, svc_w).ljust(svc_w) + " ", base + Style(color="cyan")),
            Segment("⤷ " if r.trace_id else "  ", base + Style(color="magenta", bold=True)),
            Segment(r.body, base),
        ]
        strip = Strip(segments).crop_extend(0, width, base)
        self._strips[key] = strip
        return strip

    # ------------------------------------------------------------- keys

    def _post_highlight(self) -> None:
        self.post_message(self.Highlighted(self.current(), self.cursor, self.total))

    def move_to(self, row: int) -> None:
        """Put the cursor on ``row`` and scroll it into view."""
        if not self.total:
            return
        row = max(0, min(self.total - 1, row))
        if row == self.cursor:
            return
        self.cursor = row
        height = max(1, self.size.height)
        top = int(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)
        self._strips.clear()
        self.refresh()
        self._want_visible()
        self._post_highlight()

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.size.height - 1))

    def action_edge(self, end: int) -> None:
        self.move_to(self.total - 1 if end else 0)

    def action_open(self) -> None:
        r = self.current()
        if r is None:
            return
        if not r.trace_id:
            self.app.notify("this record carries no trace id", severity="warning")
            return
        self.post_message(OpenTrace(r.trace_id, r.span_id))

    def on_click(self, event: Any) -> None:
        self.focus()
        self.move_to(int(self.scroll_y) + event.y)
        if event.chain == 2:
            self.action_open()


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _rows(table: pa.Table, multi_day: bool) -> list[Row]:
    """A fetched page as display rows (one page: a few hundred records)."""
    import pyarrow as pa

    times = table.column("time").cast(pa.int64()).to_pylist()
    cols = {
        c: table.column(c).to_pylist()
        for c in ("level", "service", "trace_id", "span_id", "body", "file", "line")
    }
    out = []
    for i, ns in enumerate(times):
        t = fmt_time(ns, precision="ms") if ns is not None else "—"
        line = cols["line"][i]
        location = clean(cols["file"][i] or "") + (f":{line}" if line is not None else "")
        out.append(
            Row(
                time=t if multi_day else t[11:],
                level=cols["level"][i],
                service=clean(cols["service"][i] or ""),
                trace_id=cols["trace_id"][i] or None,
                span_id=cols["span_id"][i] or None,
                body=clean(cols["body"][i]),
                location=location,
            )
        )
    return out


# --------------------------------------------------------------------------- the view


class LevelBar(Static):
    """The level toggles (clickable): every record, or at least INFO / WARN / ERROR."""

    class Picked(Message):
        def __init__(self, level: str | None) -> None:
            super().__init__()
            self.level = level

    def show(self, current: str | None) -> None:
        line = Text("level ", style="dim", no_wrap=True)
        for level in (None, *LEVELS):
            label = f" {level}+ " if level else " all "
            on_ = level == current
            style = Style(reverse=on_, bold=on_, meta={"@click": f"pick({level!r})"})
            if level and not on_:
                style += Style.parse(LEVEL_STYLES.get(level, "") or "none")
            line.append(label, style)
            line.append(" ")
        self.update(line)

    def action_pick(self, level: str | None) -> None:
        self.post_message(self.Picked(level))


class LogsView(View):
    """The Logs screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("e", "level('ERROR')", "Errors"),
        Binding("W", "level('WARN')", "Warnings+"),
        Binding("L", "cycle_level", "Level"),
        Binding("t", "patterns", "Patterns"),
        Binding("H", "histogram", "Histogram"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.level: str | None = None
        self.filter = FilterText()
        self.patterns_shown = False
        self._multi_day = False
        self._pattern_rows: list[dict[str, Any]] = []

    def compose(self) -> Any:
        with Horizontal(id="logs-bar"):
            yield Input(
                placeholder="filter: text  service:NAME  trace:ID  re:REGEX   (/ to focus)",
                id="logs-filter",
            )
            yield LevelBar(id="logs-levels")
        yield Static(id="logs-histogram")
        with ContentSwitcher(initial="logs-table", id="logs-switcher"):
            yield LogTable(id="logs-table")
            yield DataTable(id="logs-patterns", cursor_type="row", zebra_stripes=True)
        yield Static(id="logs-record")
        yield Static(id="logs-summary")

    def on_mount(self) -> None:
        self.query_one(LevelBar).show(self.level)
        reset_table(self.query_one("#logs-patterns", DataTable), PATTERN_COLUMNS)

    def main_widget(self) -> Widget:
        if self.patterns_shown:
            return self.query_one("#logs-patterns", DataTable)
        return self.query_one(LogTable)

    def commands(self) -> list[tuple[str, Any, str]]:
        """Palette entries of this view."""
        return [
            ("Logs: errors only", lambda: self.action_level("ERROR"), "key e"),
            ("Logs: warnings and errors", lambda: self.action_level("WARN"), "key W"),
            ("Logs: every level", lambda: self.set_level(None), ""),
            ("Logs: patterns / lines", self.action_patterns, "key t"),
            ("Logs: histogram on/off", self.action_histogram, "key H"),
        ]

    # ------------------------------------------------------------- filter state

    def log_filter(self) -> LogFilter:
        """The analysis filter: window, service, level and the filter box."""
        from obsctl.analysis.logs import LogFilter

        services = self.filter.services or ((self.obsctl.service,) if self.obsctl.service else ())
        return LogFilter.from_options(
            text=self.filter.text or None,
            level=self.level,
            services=services,
            trace=self.filter.trace,
            grep=self.filter.grep,
            window=self.obsctl.window,
        )

    def set_level(self, level: str | None) -> None:
        """Keep records at or above ``level`` (``None``: all)."""
        self.level = level
        self.query_one(LevelBar).show(level)
        self.reload()

    def action_level(self, level: str) -> None:
        self.set_level(None if self.level == level else level)

    def action_cycle_level(self) -> None:
        order = (None, *LEVELS)
        self.set_level(order[(order.index(self.level) + 1) % len(order)])

    @on(LevelBar.Picked)
    def _picked(self, event: LevelBar.Picked) -> None:
        self.set_level(event.level)

    def action_filter(self) -> None:
        self.query_one("#logs-filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#logs-filter", Input)
        if box.value:
            box.value = ""
            self._apply_filter("")
        self.focus_main()

    @on(Input.Submitted, "#logs-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        self._apply_filter(event.value)
        self.focus_main()

    def _apply_filter(self, value: str) -> None:
        self.filter = FilterText.parse(value)
        self.reload()

    def show_trace(self, trace_id: str) -> None:
        """Show the records of one trace (from a waterfall)."""
        self.stale = False
        value = f"trace:{trace_id}"
        self.query_one("#logs-filter", Input).value = value
        self.level = None
        self.query_one(LevelBar).show(None)
        if self.patterns_shown:
            self.action_patterns()
        self._apply_filter(value)
        self.focus_main()

    def action_patterns(self) -> None:
        self.patterns_shown = not self.patterns_shown
        target = "logs-patterns" if self.patterns_shown else "logs-table"
        self.query_one(ContentSwitcher).current = target
        if self.patterns_shown:
            self._load_patterns()
        self.focus_main()

    def action_histogram(self) -> None:
        h = self.query_one("#logs-histogram", Static)
        h.display = not h.display

    # ------------------------------------------------------------- loading

    def reload(self) -> None:
        try:
            filt = self.log_filter()
        except ObsctlError as exc:
            self._summary(Text(str(exc), style="red"))
            return
        self._summary(Text("counting…", style="dim"))
        self._load_index(filt)
        self._load_histogram(filt)
        if self.patterns_shown:
            self._load_patterns()

    @work(thread=True, exit_on_error=False, exclusive=True, group="logs-index")
    def _load_index(self, filt: LogFilter) -> None:
        from obsctl.analysis import logs

        worker = get_current_worker()
        try:
            with self.obsctl.pool.store() as s:
                index = logs.record_index(s, filt)
                span = s.rows(
                    "SELECT epoch_ns(min(timestamp)), epoch_ns(max(timestamp)) FROM logs"
                )[0]
        except ObsctlError as exc:
            self.deliver(self._summary, Text(str(exc), style="red"))
            return
        if not worker.is_cancelled:
            multi = bool(span[0] is not None and (span[1] - span[0]) > 86_400 * 10**9)
            self.deliver(self._index_ready, index, multi)

    def _index_ready(self, index: pa.Array, multi_day: bool) -> None:
        self._multi_day = multi_day
        self.query_one(LogTable).reset(index, multi_day)
        self._summary()

    @on(LogTable.PagesWanted)
    def _pages_wanted(self, event: LogTable.PagesWanted) -> None:
        table = self.query_one(LogTable)
        if table.index is None:
            return
        for page in event.pages:
            ids = table.index.slice(page * PAGE, PAGE)
            self._fetch_page(event.generation, page, ids)

    @work(thread=True, exit_on_error=False, group="logs-pages")
    def _fetch_page(self, generation: int, page: int, ids: pa.Array) -> None:
        from obsctl.analysis import logs

        with self.obsctl.pool.store() as s:
            rows = _rows(logs.records_at(s, ids), self._multi_day)
        self.deliver(self._page_ready, generation, page, rows)

    def _page_ready(self, generation: int, page: int, rows: list[Row]) -> None:
        self.query_one(LogTable).add_page(generation, page, rows)

    @work(thread=True, exit_on_error=False, exclusive=True, group="logs-histogram")
    def _load_histogram(self, filt: LogFilter) -> None:
        from obsctl.analysis import logs
        from obsctl.render.logs import HistogramView

        with self.obsctl.pool.store() as s:
            hist = logs.histogram(s, filt)
        if not get_current_worker().is_cancelled:
            view = HistogramView(hist, height=5) if hist.total else Text("")
            self.deliver(self._histogram_ready, view)

    def _histogram_ready(self, view: Any) -> None:
        self.query_one("#logs-histogram", Static).update(view)

    @on(LogTable.Highlighted)
    def _highlighted(self, event: LogTable.Highlighted) -> None:
        r = event.row
        box = self.query_one("#logs-record", Static)
        if r is None:
            box.update(Text(""))
        else:
            text = Text(no_wrap=False)
            text.append(r.time + " ", "dim")
            text.append(f"{r.level or '—'} ", LEVEL_STYLES.get(r.level, "") or "")
            text.append(r.service + " ", "cyan")
            text.append(r.body)
            text.append("\n")
            text.append(r.location, "dim")
            if r.trace_id:
                text.append(f"  trace {r.trace_id}", "magenta")
                if r.span_id:
                    text.append(f" span {r.span_id}", "magenta")
                text.append("  (enter: waterfall)", "dim")
            box.update(text)
        self._summary()

    def _summary(self, note: Text | None = None) -> None:
        table = self.query_one(LogTable)
        line = Text(no_wrap=True, overflow="ellipsis")
        if note is not None:
            line.append_text(note)
        else:
            pos = f"{table.cursor + 1:,} of " if table.total else ""
            line.append(f"{pos}{fmt_count(table.total)} records", "bold")
            if self.level:
                line.append(f" · {self.level}+", LEVEL_STYLES.get(self.level, "") or "")
            if self.filter.text or self.filter.services or self.filter.trace or self.filter.grep:
                line.append(" · filter ")
                line.append_text(inert(self.query_one("#logs-filter", Input).value, "italic"))
            line.append("   ⤷ = has a trace: enter opens its waterfall", "dim")
        self.query_one("#logs-summary", Static).update(line)

    # ------------------------------------------------------------- patterns

    @work(thread=True, exit_on_error=False, exclusive=True, group="logs-patterns")
    def _load_patterns(self) -> None:
        from obsctl.analysis import log_patterns
        from obsctl.timewindow import baseline_window

        w = self.obsctl.window
        base = baseline_window(None, w, self.obsctl.data_end)
        service = self.obsctl.service
        if len(self.filter.services) == 1:
            service = self.filter.services[0]
        with self.obsctl.pool.store() as s:
            table = log_patterns.patterns(
                s,
                start_ns=w.start_ns,
                end_ns=w.end_ns,
                service=service,
                baseline=None if base is None else (base.start_ns or 0, base.end_ns or 0),
            )
        if not get_current_worker().is_cancelled:
            self.deliver(self._patterns_ready, table)

    def _patterns_ready(self, table: pa.Table) -> None:
        from obsctl.analysis.logs import LEVELS as SEVERITY

        floor = SEVERITY.get(self.level or "", 0)
        text = self.filter.text.lower()
        rows = []
        cols = ["template", "count", "baseline_count", "growth", "status", "levels", "services"]
        for r in table.select(cols).to_pylist():
            levels = r.get("levels") or []
            if floor and not any(SEVERITY.get(lv or "", 0) >= floor for lv in levels):
                continue
            if text and text not in (r.get("template") or "").lower():
                continue
            rows.append(r)
        self._pattern_rows = rows
        dt = self.query_one("#logs-patterns", DataTable)
        reset_table(dt, PATTERN_COLUMNS)
        status_style = {"new": "bold red", "grown": "yellow", "shrunk": "cyan", "gone": "dim"}
        for i, r in enumerate(rows):
            growth = r.get("growth")
            dt.add_row(
                Text(r.get("status") or "", status_style.get(r.get("status") or "", "")),
                Text(fmt_count(r["count"]), justify="right"),
                Text(fmt_count(r.get("baseline_count")), justify="right"),
                Text("—" if growth is None else f"×{growth:.3g}", justify="right"),
                inert(",".join(x or "?" for x in r.get("levels") or [])),
                inert(", ".join(x or "?" for x in r.get("services") or [])),
                inert(r.get("template")),
                key=str(i),
            )
        self._summary(Text(f"{len(rows):,} patterns · enter shows a pattern's lines"))

    @on(DataTable.RowSelected, "#logs-patterns")
    def _pattern_chosen(self, event: DataTable.RowSelected) -> None:
        r = self._pattern_rows[int(str(event.row_key.value))]
        value = "re:" + shlex.quote(template_regex(r["template"] or ""))
        services = r.get("services") or []
        if len(services) == 1 and services[0]:
            value = f"service:{shlex.quote(services[0])} " + value
        self.query_one("#logs-filter", Input).value = value
        self.patterns_shown = False
        self.query_one(ContentSwitcher).current = "logs-table"
        self._apply_filter(value)
        self.focus_main()
