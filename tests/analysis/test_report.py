"""``analysis.report``: the investigation plus chart data, computed from the same store.

On the demo incident (payment-cpu) every part is present and agrees with the store and
the story; on db-slow (a database at fault, no profiles of it) and on a store of logs
only, the missing parts are said, not drawn.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from obsctl.demo.scenario import SCENARIOS
from tests.conftest import FIXTURES

DEMO = FIXTURES / "checkout-incident"
SCENARIO = SCENARIOS["payment-cpu"]


def _investigated(path: Path) -> tuple[Any, Any, Any]:
    from obsctl.analysis.investigate import investigate
    from obsctl.analysis.report import build
    from obsctl.store import Store

    s = Store.open(path, read_only=True)
    inv = investigate(s)
    assert inv is not None
    return s, inv, build(s, inv)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``(store, investigation, report)`` of the demo incident."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("report") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO)])
    s, inv, rep = _investigated(path)
    yield s, inv, rep
    s.close()


def test_report_is_built_on_the_investigation(demo):
    _s, inv, rep = demo
    assert rep.investigation is inv and rep.found
    assert rep.step("traces") is inv.steps[2]
    # the investigation's own command first, then every piece of evidence's, once each
    assert rep.commands[0].startswith("obsctl investigate --since ")
    assert len(set(rep.commands)) == len(rep.commands)
    for s in inv.suspects:
        for e in s.evidence:
            assert e.command is None or e.command in rep.commands


def test_series_cover_baseline_and_window(demo):
    s, inv, rep = demo
    ser = rep.series
    assert 60 <= ser.table.num_rows <= 200
    times = ser.table.column("time").to_pylist()
    assert all(b - a == ser.bucket_ns for a, b in itertools.pairwise(times))
    assert ser.start_ns <= inv.baseline.start_ns and ser.end_ns >= inv.window.end_ns - 1
    assert ser.has_logs and ser.has_spans and rep.series_note is None
    # the counts are the store's
    errors = s.scalar(
        "SELECT count(*) FROM logs WHERE severity_number >= 17 AND timestamp >="
        " make_timestamp_ns($a) AND timestamp < make_timestamp_ns($b)",
        {"a": ser.start_ns, "b": ser.end_ns},
    )
    assert ser.log_errors == errors
    failed = s.scalar(
        "SELECT count(*) FROM spans WHERE status_code = 'ERROR' AND start_time >="
        " make_timestamp_ns($a) AND start_time < make_timestamp_ns($b)",
        {"a": ser.start_ns, "b": ser.end_ns},
    )
    assert ser.failed_spans == failed
    per_min = 60e9 / ser.bucket_ns
    assert sum(ser.table.column("log_errors_per_min").to_pylist()) == pytest.approx(
        errors * per_min
    )


def test_series_show_the_incident(demo):
    _s, _inv, rep = demo
    rows = rep.series.table.to_pylist()
    onset = SCENARIO.onset_ns

    def mean(key: str, before: bool) -> float:
        vals = [
            r[key]
            for r in rows
            if r[key] is not None
            and (r["time"] < onset if before else r["time"] >= onset + 3 * 60 * 10**9)
        ]
        return sum(vals) / len(vals)

    assert mean("failed_spans_per_min", False) > 5 * mean("failed_spans_per_min", True)
    assert mean("p95_ns", False) > 5 * mean("p95_ns", True)
    p = [(r["p50_ns"], r["p95_ns"], r["p99_ns"]) for r in rows if r["p50_ns"] is not None]
    assert all(a <= b <= c for a, b, c in p)


def test_waterfall_is_the_exemplar_slow_trace(demo):
    s, inv, rep = demo
    wf = rep.waterfall
    ex = inv.steps[2].findings["exemplar_slow_trace"]
    assert wf.trace_id == ex["trace_id"] and rep.waterfall_note is None
    assert wf.spans == s.scalar(
        "SELECT count(*) FROM spans WHERE trace_id = $t", {"t": wf.trace_id}
    )
    assert len(wf.rows) + wf.hidden == wf.spans
    assert wf.rows[0].depth == 0 and wf.rows[0].start_offset_ns == 0
    assert all(b.depth <= a.depth + 1 for a, b in itertools.pairwise(wf.rows))
    assert wf.errors == sum(r.error for r in wf.rows) > 0
    assert any(r.critical for r in wf.rows)
    assert wf.critical_segments
    assert all(0 <= row < len(wf.rows) for row, _, _ in wf.critical_segments)
    assert set(wf.services) == {r.service for r in wf.rows if r.service}


def test_a_big_trace_is_cut_to_a_tree_of_the_most_telling_spans(demo):
    from obsctl.analysis.report import waterfall

    s, _inv, rep = demo
    full = rep.waterfall
    cut = waterfall(s, full.trace_id, max_rows=8)
    assert len(cut.rows) <= 8
    assert cut.hidden == full.spans - len(cut.rows)
    assert sum(r.hidden_below for r in cut.rows) == cut.hidden
    assert cut.rows[0].depth == 0  # the root stays
    assert all(b.depth <= a.depth + 1 for a, b in itertools.pairwise(cut.rows))
    # the critical path comes first: the longest kept spans are on it
    longest = max(cut.rows[1:], key=lambda r: r.duration_ns)
    assert longest.critical
    # segments of cut spans go to a drawn ancestor: still the whole path
    total = sum(b - a for _, a, b in cut.critical_segments)
    assert total == sum(b - a for _, a, b in full.critical_segments)


def test_profile_diff_of_the_culprit(demo):
    _s, _inv, rep = demo
    p = rep.profile
    assert p is not None and rep.profile_note is None
    assert (p.service, p.function) == (SCENARIO.truth.service, SCENARIO.truth.function)
    names = p.tree.nodes.column("name").to_pylist()
    node = names.index(SCENARIO.truth.function)
    assert p.tree.change(node) > 10  # points of the profile: it grew


def test_chart_bucket_is_round_and_in_range():
    from obsctl.analysis.report import chart_bucket

    minute = 60 * 10**9
    assert chart_bucket(0, 40 * minute) == 30 * 10**9  # 80 buckets
    for span in (10**9, 7 * minute, 3 * 3600 * 10**9, 9 * 86400 * 10**9):
        w = chart_bucket(1_774_540_800 * 10**9, 1_774_540_800 * 10**9 + span)
        assert 60 <= -(-span // w) <= 201


# --------------------------------------------------------------------------- gaps


def test_a_database_fault_has_no_profile_and_says_so(tmp_path):
    """db-slow: the fault is postgres behind inventory's client spans; no profile covers
    it, so no flame graph — and the report says why."""
    from obsctl.demo import generate
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    truth = SCENARIOS["db-slow"].truth
    generate(tmp_path / "bundle", scenario="db-slow", seed=7)
    with Store.open(tmp_path / "store.duckdb") as s:
        ingest_paths(s, [str(tmp_path / "bundle")])
    s, inv, rep = _investigated(tmp_path / "store.duckdb")
    try:
        assert inv.suspects[0].service == truth.service
        assert rep.profile is None
        assert rep.profile_note == f"no profiles cover {truth.service}"
        assert rep.waterfall is not None and rep.series is not None
    finally:
        s.close()


def test_logs_only_says_what_is_missing(tmp_path):
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    with Store.open(tmp_path / "store.duckdb") as s:
        ingest_paths(s, [str(DEMO / "logs")])
    s, _inv, rep = _investigated(tmp_path / "store.duckdb")
    try:
        assert rep.series is not None and rep.series.has_logs and not rep.series.has_spans
        assert "no spans" in (rep.series_note or "")
        assert rep.waterfall is None and rep.waterfall_note.startswith("no traces loaded")
        assert rep.profile is None
        assert rep.profile_note in ("no profiles loaded", "no suspect to explain")
    finally:
        s.close()
