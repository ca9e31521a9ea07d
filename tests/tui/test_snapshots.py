"""Snapshots of the main screens on the demo incident (``pytest --snapshot-update`` writes
them to ``__snapshots__/``). Deterministic: fixed size and window, animations off, every
worker finished before the picture is taken."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from tests.tui.conftest import SIZE, TRUTH, onset, settled

RECORDED_WITH = "8.2"
"""Textual minor version the SVGs in ``__snapshots__`` were drawn with. Another Textual
draws the same screen with other bytes (its widgets' look changes between releases), so
the comparison only means something on that version; the Pilot tests in test_app.py check
behaviour on any version."""

pytestmark = pytest.mark.skipif(
    not version("textual").startswith(RECORDED_WITH + "."),
    reason=f"snapshots recorded with textual {RECORDED_WITH}.x; run --snapshot-update",
)

UNTIL = "2026-03-26T16:52:00Z"
"""A fixed end, so that no view depends on what "the end of the data" resolves to."""


def test_overview(snap_compare, demo_store, make_app):
    app = make_app(demo_store, since=onset(), until=UNTIL)
    assert snap_compare(app, terminal_size=SIZE, run_before=settled())


def test_logs_errors(snap_compare, demo_store, make_app):
    app = make_app(demo_store, since=onset(), until=UNTIL, view="logs")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled("e"))


def test_metrics(snap_compare, demo_store, make_app):
    app = make_app(demo_store, since=onset(), until=UNTIL, view="metrics")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled())


def test_traces_waterfall(snap_compare, demo_store, make_app):
    app = make_app(demo_store, since=onset(), until=UNTIL, view="traces")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled("enter", "down", "down"))


def test_profiles_diff(snap_compare, demo_store, make_app):
    app = make_app(demo_store, since=onset(), until=UNTIL, view="profiles")

    async def culprit_diff(pilot):
        await settled()(pilot)
        app.query_one("#profiles-view").show_service(TRUTH.span_service)
        await settled("d")(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=culprit_diff)
