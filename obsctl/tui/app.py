"""The ``obsctl tui`` application: five views over one store and one shared time window.

Views are tabs (keys ``1``–``5`` or a click); the window (``w``) and the service filter
apply to every view, and a view reloads when it is shown after they changed. Requests
between views are messages that bubble up here: a log line or a trace row asks for a
waterfall (``OpenTrace``), a span for its service's profiles (``OpenProfile``) or its
trace's logs (``OpenLogs``).

DuckDB work runs in thread workers. A DuckDB connection must not serve two threads at
once, so the app keeps a small pool of read-only connections (``StorePool``): a worker
borrows one for its query and gives it back, and concurrent workers (a page of logs
while the investigation runs) each get their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, TabbedContent, TabPane

from obsctl.errors import ObsctlError
from obsctl.timewindow import TimeWindow, WindowSpec
from obsctl.tui.widgets import OpenLogs, OpenProfile, OpenTrace, StatusBar, View

if TYPE_CHECKING:
    from obsctl.store import Store

VIEWS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("logs", "Logs"),
    ("metrics", "Metrics"),
    ("traces", "Traces"),
    ("profiles", "Profiles"),
)
"""Tab id and title, in key order (``1``…``5``)."""


class StorePool:
    """Read-only connections to one store, each used by one thread at a time."""

    def __init__(self, path: str | Path | None) -> None:
        from obsctl.store import open_read
        from obsctl.store.url import parse

        self.path = path
        self._idle: list[Store] = []
        self._all: list[Store] = []
        self._lock = threading.Lock()
        # A ClickHouse/chDB store is read once into a working set; workers get their own
        # connections to it (``RemoteStore.reader``).
        self._root: Any = open_read(path) if parse(path).remote else None

    @contextmanager
    def store(self) -> Iterator[Store]:
        """Borrow a connection for the duration of a ``with`` block."""
        from obsctl.store import Store

        with self._lock:
            s = self._idle.pop() if self._idle else None
        if s is None:
            s = self._root.reader() if self._root else Store.open(self.path, read_only=True)
            with self._lock:
                self._all.append(s)
        try:
            yield s
        finally:
            with self._lock:
                self._idle.append(s)

    def close(self) -> None:
        """Close every connection (idle or not: called when the app exits)."""
        with self._lock:
            for s in self._all:
                s.close()
            if self._root is not None:
                self._root.close()
                self._root = None
            self._all.clear()
            self._idle.clear()


class WindowScreen(ModalScreen[tuple[str, str, str] | None]):
    """Edit the shared window (and the service filter): Enter applies, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, since: str, until: str, service: str, check: Callable[..., str]) -> None:
        super().__init__()
        self._values = (since, until, service)
        self._check = check

    def compose(self) -> ComposeResult:
        since, until, service = self._values
        with Vertical(id="window-dialog"):
            yield Label(
                "Time window: a duration before the end of the data (15m, 2h)\n"
                "or a UTC time (2026-03-26T16:30:00Z); empty = open.",
                markup=False,
            )
            with Horizontal(classes="window-row"):
                yield Label("since ", markup=False)
                yield Input(since, placeholder="start of the data", id="since")
            with Horizontal(classes="window-row"):
                yield Label("until ", markup=False)
                yield Input(until, placeholder="end of the data", id="until")
            with Horizontal(classes="window-row"):
                yield Label("service", markup=False)
                yield Input(service, placeholder="all services", id="service")
            yield Label("", id="window-error", markup=False)
            with Horizontal(classes="window-row"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#since", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        values = tuple(
            self.query_one(f"#{k}", Input).value.strip() for k in ("since", "until", "service")
        )
        problem = self._check(*values)
        if problem:
            self.query_one("#window-error", Label).update(problem)
            return
        self.dismiss(values)  # type: ignore[arg-type]

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ObsctlCommands(Provider):
    """The command palette's obsctl actions (views, window, the current view's actions)."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        assert isinstance(app, ObsctlApp)
        out: list[tuple[str, Callable[[], object], str]] = []
        for i, (tab, title) in enumerate(VIEWS, 1):
            out.append((f"Show {title}", lambda t=tab: app.show_view(t), f"key {i}"))
        out.append(("Set the time window…", app.action_window, "key w"))
        out.append(("Reset the time window", app.reset_window, "the whole data"))
        out.append(("Show the keys", app.action_help, "key ?"))
        for title, action, help_text in app.view_commands():
            out.append((title, action, help_text))
        out.append(("Quit", app.exit, "key q"))
        return out

    async def discover(self) -> Hits:
        for title, action, help_text in self._commands():
            yield DiscoveryHit(title, action, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), action, help=help_text)


class ObsctlApp(App[None]):
    """Interactive triage: overview, logs, metrics, traces (waterfall) and profiles."""

    CSS_PATH = "obsctl.tcss"
    TITLE = "obsctl"
    COMMANDS: ClassVar = App.COMMANDS | {ObsctlCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(i), f"show_view('{tab}')", title, show=True)
            for i, (tab, title) in enumerate(VIEWS, 1)
        ),
        Binding("w", "window", "Window"),
        Binding("question_mark", "help", "Keys"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        store: str | Path | None = None,
        *,
        since: str | None = None,
        until: str | None = None,
        service: str | None = None,
        view: str = "overview",
    ) -> None:
        """Open the store and resolve the window (before the UI starts: errors such as a
        missing store or a malformed ``--since`` are raised here, as ``ObsctlError``).

        Args:
            store: the store file (``None``: the default resolution).
            since: start of the shared window (as ``--since``).
            until: its end (as ``--until``).
            service: only this service in every view.
            view: the view shown first (``overview``, ``logs``…).
        """
        super().__init__()
        from obsctl.store import resolve_path
        from obsctl.store.url import parse
        from obsctl.timewindow import data_end_ns

        self.pool = StorePool(store)
        url = parse(store)
        self.store_name = url.display if url.remote else resolve_path(url.path).name
        """The store as the status bar names it."""
        spec = WindowSpec.parse(since, until)
        with self.pool.store() as s:
            self.data_end: int | None = data_end_ns(s)
        self.since, self.until = since or "", until or ""
        self.window: TimeWindow = spec.resolve_at(self.data_end)
        self.service: str | None = service or None
        self.first_view = view

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        from obsctl.tui.logs import LogsView
        from obsctl.tui.metrics import MetricsView
        from obsctl.tui.overview import OverviewView
        from obsctl.tui.profiles import ProfilesView
        from obsctl.tui.traces import TracesView

        classes = {
            "overview": OverviewView,
            "logs": LogsView,
            "metrics": MetricsView,
            "traces": TracesView,
            "profiles": ProfilesView,
        }
        yield StatusBar(id="status")
        with TabbedContent(initial=self.first_view, id="views"):
            for i, (tab, title) in enumerate(VIEWS, 1):
                with TabPane(f"{i} {title}", id=tab):
                    yield classes[tab](id=f"{tab}-view")
        yield Footer()

    def on_mount(self) -> None:
        self._show_status()
        self.call_after_refresh(self._activate, self.first_view)

    def on_unmount(self) -> None:
        self.pool.close()

    def _show_status(self, note: str = "") -> None:
        self.query_one(StatusBar).show(self.store_name, self.window, self.service, note)

    def view(self, tab: str) -> View:
        """The view of a tab."""
        return self.query_one(f"#{tab}-view", View)

    @property
    def active_view(self) -> View:
        """The view on screen."""
        return self.view(self.query_one(TabbedContent).active or self.first_view)

    def _activate(self, tab: str) -> None:
        v = self.view(tab)
        v.ensure_loaded()
        v.focus_main()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._activate(event.pane.id)

    def show_view(self, tab: str) -> View:
        """Switch to a view (loading it if need be) and return it."""
        tabs = self.query_one(TabbedContent)
        if tabs.active != tab:
            tabs.active = tab
        else:
            self._activate(tab)
        return self.view(tab)

    def action_show_view(self, tab: str) -> None:
        self.show_view(tab)

    # ----------------------------------------------------------------- window

    def check_window(self, since: str, until: str, service: str = "") -> str:
        """Why ``since``/``until`` cannot be the window (``""`` when they can)."""
        try:
            WindowSpec.parse(since or None, until or None).resolve_at(self.data_end)
        except ObsctlError as exc:
            return str(exc)
        return ""

    def set_window(self, since: str, until: str, service: str | None = None) -> None:
        """Make ``since``/``until`` (and ``service``) the shared window of every view.

        Raises:
            UsageError: malformed or empty window.
        """
        window = WindowSpec.parse(since or None, until or None).resolve_at(self.data_end)
        self.since, self.until = since, until
        if service is not None:
            self.service = service or None
        self.window = window
        self._show_status()
        for v in self.query(View):
            v.stale = True
        self.active_view.ensure_loaded()

    def use_window(self, window: TimeWindow) -> None:
        """Make a resolved window (the incident's) the shared one."""
        from obsctl.analysis.investigate import rfc3339

        end = window.end_ns
        open_end = end is None or (self.data_end is not None and end > self.data_end)
        self.set_window(rfc3339(window.start_ns) or "", "" if open_end else rfc3339(end) or "")

    def reset_window(self) -> None:
        """Back to the whole data."""
        self.set_window("", "")

    def action_window(self) -> None:
        def done(values: tuple[str, str, str] | None) -> None:
            if values is not None:
                self.set_window(*values)

        self.push_screen(
            WindowScreen(self.since, self.until, self.service or "", self.check_window), done
        )

    # ----------------------------------------------------------------- help, palette

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def view_commands(self) -> list[tuple[str, Callable[[], object], str]]:
        """The current view's own actions, for the command palette."""
        out: list[tuple[str, Callable[[], object], str]] = []
        try:
            view = self.active_view
        except Exception:
            return out
        commands = getattr(view, "commands", None)
        if commands is not None:
            out.extend(commands())
        return out

    # ----------------------------------------------------------------- requests

    def on_open_trace(self, message: OpenTrace) -> None:
        from obsctl.tui.traces import TracesView

        view = self.show_view("traces")
        assert isinstance(view, TracesView)
        view.open_trace(message.trace_id, message.span_id)

    def on_open_profile(self, message: OpenProfile) -> None:
        from obsctl.tui.profiles import ProfilesView

        view = self.show_view("profiles")
        assert isinstance(view, ProfilesView)
        view.show_service(message.service)

    def on_open_logs(self, message: OpenLogs) -> None:
        from obsctl.tui.logs import LogsView

        view = self.show_view("logs")
        assert isinstance(view, LogsView)
        view.show_trace(message.trace_id)
