"""Profiles: the top functions and an icicle of one service's profiles in the window,
or — in diff mode — how each function's share changed against the time before it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Select, Static
from textual.worker import get_current_worker

from obsctl.errors import ObsctlError
from obsctl.render.profiles import (
    Icicle,
    diff_rgb,
    fmt_pct,
    fmt_points,
    icicle_boxes,
    icicle_rows,
    selection_line,
    value_formatter,
)
from obsctl.render.safe import clean
from obsctl.tui.widgets import View, inert, reset_table

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from textual.widget import Widget

    from obsctl.analysis.profiles import DiffResult, DiffTree, TopResult

TOP_ROWS = 200
"""Functions listed in the table."""

ALL = "(all services)"


class DiffIcicle:
    """A differential icicle (Rich renderable): laid out on the target window, each frame
    coloured by the change of its share — red grew, blue shrank (``render.profiles``'
    geometry and colours, as the SVG of ``profiles diff --flame`` draws them)."""

    def __init__(self, tree: DiffTree) -> None:
        self.tree = tree

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        import numpy as np

        nodes = self.tree.nodes
        width = max(20, options.max_width)
        target = nodes.column("target").to_numpy()
        base = nodes.column("base").to_numpy()
        tt, bt = self.tree.target_total or 1.0, self.tree.base_total or 1.0
        change = (target / tt - base / bt) * 100
        scale = float(np.abs(change[1:]).max()) if len(change) > 1 else 0.0
        boxes = icicle_boxes(
            nodes.column("x").to_numpy(),
            target,
            nodes.column("depth").to_numpy(),
            scale=max(float(target[0]), 0.0) if len(target) else 0.0,
            width=width,
        )
        names = nodes.column("name").to_pylist()
        yield Text("differential icicle: width = the window, red grew, blue shrank", style="dim")
        yield from icicle_rows(
            boxes,
            names,
            width,
            color=True,
            fill=lambda n: diff_rgb(float(change[n]), scale),
            suffix=lambda n: f"{change[n]:+.1f}",
        )


class ProfilesView(View):
    """The Profiles screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "diff", "Diff mode"),
        Binding("s", "next_service", "Next service"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.diff_mode = False
        self.service: str | None = None
        self._services: list[str] = []
        self._quiet_select = False

    def compose(self) -> Any:
        with Horizontal(id="profiles-bar"):
            yield Select[str]([], prompt="service", allow_blank=True, id="profiles-service")
            yield Static(id="profiles-mode")
        yield DataTable(id="profiles-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="profiles-flame"):
            yield Static(id="profiles-icicle")

    def main_widget(self) -> Widget:
        return self.query_one("#profiles-table", DataTable)

    def commands(self) -> list[tuple[str, Any, str]]:
        """Palette entries of this view."""
        return [
            ("Profiles: diff mode on/off", self.action_diff, "key d"),
            ("Profiles: next service", self.action_next_service, "key s"),
        ]

    def show_service(self, service: str) -> None:
        """Show one service's profiles (from a waterfall's ``p``)."""
        self.service = service
        self.stale = False
        self._sync_select()
        self.reload()
        self.focus_main()

    def action_diff(self) -> None:
        self.diff_mode = not self.diff_mode
        self.reload()

    def action_next_service(self) -> None:
        if not self._services:
            return
        choices = [None, *self._services]
        i = choices.index(self.service) if self.service in choices else 0
        self.service = choices[(i + 1) % len(choices)]
        self._sync_select()
        self.reload()

    def _sync_select(self) -> None:
        sel = self.query_one("#profiles-service", Select)
        self._quiet_select = True
        if self.service and self.service not in self._services:
            self._services = sorted({*self._services, self.service})
            sel.set_options((inert(s), s) for s in self._services)
        sel.value = self.service if self.service else Select.BLANK
        self._quiet_select = False

    @on(Select.Changed, "#profiles-service")
    def _service_chosen(self, event: Select.Changed) -> None:
        if self._quiet_select:
            return
        value = event.value
        self.service = None if value is Select.BLANK else str(value)
        self.reload()

    # ------------------------------------------------------------- loading

    def reload(self) -> None:
        from obsctl.timewindow import baseline_window

        window = self.obsctl.window
        mode = Text(no_wrap=True, overflow="ellipsis")
        if self.diff_mode:
            base = baseline_window(None, window, self.obsctl.data_end)
            if base is None:
                self._message(
                    "diff mode compares the window with the time before it: give the"
                    " window a start (w, or i on the Overview for the incident's)"
                )
                return
            mode.append("diff", "bold reverse")
            mode.append("  the window vs before it · d: back to top", "dim")
        else:
            mode.append("top", "bold reverse")
            mode.append("  functions in the window, by flat · d: diff vs before it", "dim")
        self.query_one("#profiles-mode", Static).update(mode)
        self.query_one("#profiles-icicle", Static).update(Text("loading…", style="dim"))
        self._load(self.service or self.obsctl.service, self.diff_mode)

    def _message(self, text: str) -> None:
        self.query_one("#profiles-table", DataTable).clear(columns=True)
        self.query_one("#profiles-icicle", Static).update(Text(text, style="yellow"))
        self.query_one("#profiles-mode", Static).update(Text(""))

    @work(thread=True, exit_on_error=False, exclusive=True, group="profiles")
    def _load(self, service: str | None, diff: bool) -> None:
        from dataclasses import replace

        from obsctl.analysis import profiles, status
        from obsctl.timewindow import TimeWindow, baseline_window

        window = self.obsctl.window
        filt = profiles.ProfileFilter.from_options(
            services=[service] if service else None, window=window
        )
        with self.obsctl.pool.store() as s:
            services = next(
                (list(sig.services) for sig in status.signals(s) if sig.signal == "profiles"), []
            )
            try:
                if diff:
                    base = baseline_window(None, window, self.obsctl.data_end) or TimeWindow()
                    f = replace(filt, window=TimeWindow())
                    result: Any = profiles.diff(s, f, base, window)
                    tree: Any = profiles.diff_tree(s, f, base, window)
                else:
                    result = profiles.top(s, filt)
                    tree = profiles.call_tree(s, filt)
            except ObsctlError as exc:
                self.deliver(self._failed, services, str(exc))
                return
        if not get_current_worker().is_cancelled:
            self.deliver(self._ready, services, result, tree)

    def _set_services(self, services: list[str]) -> None:
        if services != self._services:
            self._services = services
            sel = self.query_one("#profiles-service", Select)
            self._quiet_select = True
            sel.set_options((inert(s), s) for s in services)
            if self.service in services:
                sel.value = self.service
            self._quiet_select = False

    def _failed(self, services: list[str], message: str) -> None:
        self._set_services(services)
        self._message(clean(message))

    def _ready(self, services: list[str], result: Any, tree: Any) -> None:
        from obsctl.analysis.profiles import DiffResult

        self._set_services(services)
        if isinstance(result, DiffResult):
            self._show_diff(result)
            self.query_one("#profiles-icicle", Static).update(DiffIcicle(tree))
        else:
            self._show_top(result)
            self.query_one("#profiles-icicle", Static).update(Icicle(tree))

    def _show_top(self, result: TopResult) -> None:
        dt = self.query_one("#profiles-table", DataTable)
        reset_table(dt, ("flat", "flat%", "cum", "cum%", "function"))
        fmt = value_formatter(result.selection.sample_type.unit)
        rows = result.table.slice(0, TOP_ROWS).to_pylist()
        for i, r in enumerate(rows):
            dt.add_row(
                Text(fmt(r["flat"]), justify="right"),
                Text(fmt_pct(r["flat_pct"]), justify="right"),
                Text(fmt(r["cum"]), justify="right"),
                Text(fmt_pct(r["cum_pct"]), justify="right"),
                inert(r["function"], "bold" if i == 0 else ""),
                key=str(i),
            )
        mode = self.query_one("#profiles-mode", Static)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("top", "bold reverse")
        line.append(" ")
        line.append_text(inert(selection_line(result.selection, result.total)))
        line.append(" · d: diff vs before the window", "dim")
        mode.update(line)

    def _show_diff(self, result: DiffResult) -> None:
        dt = self.query_one("#profiles-table", DataTable)
        reset_table(dt, ("before", "window", "change", "self before", "self window", "function"))
        rows = result.table.slice(0, TOP_ROWS).to_pylist()
        for i, r in enumerate(rows):
            change = r["cum_change"]
            dt.add_row(
                Text(fmt_pct(r["base_cum_pct"]), justify="right"),
                Text(fmt_pct(r["target_cum_pct"]), justify="right"),
                Text(
                    fmt_points(change),
                    justify="right",
                    style="red" if change > 0 else ("blue" if change < 0 else ""),
                ),
                Text(fmt_pct(r["base_flat_pct"]), justify="right"),
                Text(fmt_pct(r["target_flat_pct"]), justify="right"),
                inert(r["function"], "bold" if i == 0 else ""),
                key=str(i),
            )
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("diff", "bold reverse")
        line.append(" ")
        line.append_text(inert(selection_line(result.target)))
        line.append(" · vs before it (cum share, points) · d: back to top", "dim")
        self.query_one("#profiles-mode", Static).update(line)
