"""``investigate`` on every demo scenario: a general method, judged on each story's truth.

Each scenario puts the fault somewhere else (a service's own code, a database behind a
client span, an external dependency); the same code must find each from the data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from obsctl.demo.scenario import SCENARIOS


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from obsctl.analysis.investigate import investigate
    from obsctl.demo import generate
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    name = request.param
    root: Path = tmp_path_factory.mktemp(name)
    generate(root / "bundle", scenario=name, seed=7)
    with Store.open(root / "store.duckdb") as s:
        ingest_paths(s, [str(root / "bundle")])
        result = investigate(s)
    assert result is not None
    return SCENARIOS[name], result


def test_the_culprit_leads(case):
    scenario, result = case
    truth = scenario.truth
    top = result.suspects[0]
    assert top.service == truth.service
    if truth.span_service != truth.service:  # the fault sits behind a client span
        assert top.caller == truth.span_service
    if truth.function:
        assert top.function == truth.function


def test_the_window_opens_near_the_onset(case):
    scenario, result = case
    lo, hi = scenario.onset_ns - 5 * 60 * 10**9, scenario.onset_ns + 2 * 60 * 10**9
    assert lo <= result.window.start_ns <= hi
    assert result.baseline.end_ns == result.window.start_ns


def test_first_error_belongs_to_the_incident(case):
    """Not the background error a system always has: a record of a pattern that is new
    or grew in the window, inside the window."""
    _scenario, result = case
    first = result.steps[0].findings["first_error"]
    assert first is not None
    assert first["pattern_status"] in ("new", "grown")
    assert result.window.start_ns <= first["time"] < result.window.end_ns
    assert ":" in first["location"]  # file:line to open it


def test_timeline_is_ordered_and_starts_inside_the_data(case):
    _scenario, result = case
    times = [t["time"] for t in result.timeline]
    assert times == sorted(times)
    assert {t["signal"] for t in result.timeline} >= {"logs", "metrics"}
