"""Pilot tests of ``obsctl tui``: navigation, the waterfall, the shared window, inert data.

The central one walks the issue's "done when" path on the demo incident with the
keyboard alone: error logs → the failing trace's waterfall → the profile of the service
that holds the critical path, whose hot function comes first. Expected names come from
the scenario's ground truth, never from the TUI.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Input, TabbedContent

from obsctl.tui.logs import LogTable
from obsctl.tui.waterfall import HEADER, Waterfall
from tests.tui.conftest import HOSTILE, HOSTILE_TRACE, SIZE, TRUTH, onset, settle


def active(app: Any) -> str:
    return str(app.query_one(TabbedContent).active)


def profile_top(app: Any) -> str:
    table = app.query_one("#profiles-table", DataTable)
    return str(table.get_row_at(0)[-1])


async def test_error_logs_to_trace_to_the_hot_function(demo_store, make_app):
    """Logs (ERROR toggle) → the newest error pattern's lines → enter on a line with a
    trace id → its waterfall → c (the span holding the most critical-path time) → p →
    that service's profiles, hot function first."""
    app = make_app(demo_store, since=onset(), view="logs")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")  # at least ERROR
        await settle(pilot)
        table = app.query_one(LogTable)
        first = table.current()
        assert first is not None and first.level in ("ERROR", "FATAL")
        await pilot.press("t")  # patterns of the error lines: new ones first
        await settle(pilot)
        patterns = app.query_one("#logs-patterns", DataTable)
        assert str(patterns.get_row_at(0)[0]) == "new"
        await pilot.press("enter")  # that pattern's lines
        await settle(pilot)
        row = table.current()
        assert row is not None and row.level == "ERROR" and row.trace_id
        assert table.total == int(str(patterns.get_row_at(0)[1]).replace(",", ""))
        await pilot.press("enter")  # the line's trace
        await settle(pilot)
        assert active(app) == "traces"
        waterfall = app.query_one(Waterfall)
        assert app.focused is waterfall
        assert waterfall.trace_tree is not None
        assert waterfall.trace_tree.trace_id == row.trace_id
        node = waterfall.node
        assert node is not None and waterfall.services[node] == row.service  # the log's span
        await pilot.press("c")  # the critical path's bottleneck
        await settle(pilot)
        node = waterfall.node
        assert node is not None and waterfall.crit[node]
        assert waterfall.services[node] == TRUTH.span_service
        await pilot.press("p")  # its service's profiles
        await settle(pilot)
        assert active(app) == "profiles"
        assert app.query_one("#profiles-view").service == TRUTH.span_service
        assert profile_top(app) == TRUTH.function


async def test_views_by_key_and_by_mouse(demo_store, make_app):
    app = make_app(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert active(app) == "overview"
        for key, tab in zip("2345", ("logs", "metrics", "traces", "profiles"), strict=True):
            await pilot.press(key)
            await settle(pilot)
            assert active(app) == tab
        await pilot.click("#--content-tab-logs")
        await settle(pilot)
        assert active(app) == "logs"
        assert app.focused is app.query_one(LogTable)


async def test_fold_a_subtree_and_search(demo_store, make_app):
    app = make_app(demo_store, view="traces")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the slowest trace
        await settle(pilot)
        w = app.query_one(Waterfall)
        total = len(w.rows_shown)
        assert total == w.trace_tree.forest.size
        root = w.node
        size = int(w.sizes[root])
        assert size > 1
        await pilot.press("space")  # fold the root: one row left
        assert len(w.rows_shown) == total - (size - 1)
        assert w.render_line(HEADER).text.lstrip("┃ ")[0] == "▸"
        await pilot.press("space")
        assert len(w.rows_shown) == total
        await pilot.press("down", "j")
        assert w.cursor == 2
        await pilot.press("space", "k", "space")  # a child's subtree, then the root
        await pilot.press("right")  # unfold the root: the child stays folded
        await pilot.press("home")
        # search reveals a match under a folded span
        service = w.services[int(w.trace_tree.forest.order[-1])]
        await pilot.press("space", "slash")
        box = app.query_one("#span-search", Input)
        assert app.focused is box
        await pilot.press(*service, "enter")
        await settle(pilot)
        assert app.focused is w
        assert w.matches is not None and w.matches[w.node]
        assert w.services[w.node] == service


async def test_critical_path_toggle(demo_store, make_app):
    app = make_app(demo_store, view="traces")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        w = app.query_one(Waterfall)
        await pilot.press("c")
        assert w.critical_on
        node = w.node
        assert w.crit[node]
        assert w.crit_time[node] == max(w.crit_time[: w.n_rows])
        assert "(highlighted)" in w.render_line(0).text
        await pilot.press("c")
        assert not w.critical_on


async def test_window_is_shared_by_every_view(demo_store, make_app):
    app = make_app(demo_store, view="logs")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        everything = app.query_one(LogTable).total
        await pilot.press("w")
        await pilot.pause()
        since = app.screen.query_one("#since", Input)
        since.value = "10m"
        await pilot.press("enter")
        await settle(pilot)
        assert app.window.start_ns == app.data_end - 10 * 60 * 10**9
        assert app.window.end_ns is None
        assert 0 < app.query_one(LogTable).total < everything
        await pilot.press("4")
        await settle(pilot)
        traces = app.query_one("#traces-table", DataTable)
        assert traces.row_count > 0
        # a malformed value is refused in the dialog, and the window stays
        await pilot.press("w")
        await pilot.pause()
        app.screen.query_one("#since", Input).value = "yesterday"
        await pilot.press("enter")
        await pilot.pause()
        assert "is not" in str(app.screen.query_one("#window-error").render())
        await pilot.press("escape")
        assert app.window.start_ns == app.data_end - 10 * 60 * 10**9


async def test_incident_window_from_the_investigation(demo_store, make_app):
    app = make_app(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        inv = app.query_one("#overview-view").investigation
        assert inv is not None and inv.found
        await pilot.press("i")
        await settle(pilot)
        assert app.window.start_ns == inv.window.start_ns


async def test_log_table_fetches_only_the_pages_in_view(demo_store, make_app):
    app = make_app(demo_store, view="logs")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(LogTable)
        assert table.total > 5000
        assert set(table.pages.keys()) == {0}
        await pilot.press("end")
        await settle(pilot)
        last = (table.total - 1) // 200
        assert last in table.pages and len(table.pages.keys()) <= 3
        assert table.cursor == table.total - 1 and table.current() is not None
        await pilot.press("pageup")
        assert table.cursor < table.total - 1


async def test_help_and_command_palette(demo_store, make_app):
    app = make_app(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Show Profiles")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert active(app) == "profiles"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


@pytest.mark.parametrize("view", ["logs", "traces"])
async def test_markup_and_escapes_in_data_stay_text(hostile_store, make_app, view):
    app = make_app(hostile_store, view="logs")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(LogTable)
        line = table.render_line(0)
        assert "[red]x[/red]" in line.text
        assert "\\x1b[31mred\\x1b[0m" in line.text
        assert "\x1b" not in line.text
        if view == "logs":
            return
        await pilot.press("enter")  # the line's trace
        await settle(pilot)
        w = app.query_one(Waterfall)
        text = "".join(w.render_line(y).text for y in range(HEADER, HEADER + 2))
        assert "[red]x[/red]" in text and "\\x1b[31m" in text and "\x1b" not in text
        detail = str(app.query_one("#span-text").render())
        assert detail.count("[red]x[/red]") >= 3  # name, status message, attribute key/value
        assert "\x1b" not in detail
        assert w.trace_tree.trace_id == HOSTILE_TRACE
        assert HOSTILE not in detail  # the escape is shown, never passed through


async def test_trace_filter_box(demo_store, make_app):
    app = make_app(demo_store, view="traces")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await pilot.press(*f"service:{TRUTH.span_service} errors", "enter")
        await settle(pilot)
        table = app.query_one("#traces-table", DataTable)
        assert table.row_count > 0
        assert all("✗" in str(table.get_row_at(i)[3]) for i in range(table.row_count))
