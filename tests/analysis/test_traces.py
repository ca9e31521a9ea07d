"""Store queries of step 3: list, one trace, services (self time), deps, critical path,
compare (BubbleUp) and error origins — on the demo incident and the corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from obsctl.analysis import traces as T
from obsctl.analysis.trace_tree import NO_TIMING
from obsctl.demo.scenario import SCENARIOS, START
from obsctl.errors import InputNotFound, UsageError
from obsctl.timewindow import TimeWindow
from tests.conftest import FIXTURES

TRUTH = SCENARIOS["payment-cpu"].truth
ONSET_NS = int(START.timestamp() * 1e9) + int(TRUTH.onset_minute * 60e9)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("traces-demo") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(FIXTURES / "checkout-incident" / "traces")])
    s = Store.open(path, read_only=True)
    yield s
    s.close()


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory: pytest.TempPathFactory, corpus: Path):
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    s = Store.open(tmp_path_factory.mktemp("traces-corpus") / "store.duckdb")
    ingest_paths(s, [str(corpus / "traces")])
    yield s
    s.close()


# --------------------------------------------------------------------------- list


def test_list_sorts_limits_and_counts(demo):
    table, matched = T.list_traces(demo, T.TraceFilter(limit=5))
    total = demo.scalar("SELECT count(DISTINCT trace_id) FROM spans")
    assert matched == total and table.num_rows == 5
    d = table.column("duration_ns").to_pylist()
    assert d == sorted(d, reverse=True)
    assert table.column_names == [
        "trace_id", "root_service", "root_operation", "start", "duration_ns", "spans",
        "service_count", "services", "errors", "error",
    ]  # fmt: skip
    oldest, _ = T.list_traces(demo, T.TraceFilter(limit=3, sort="start"))
    starts = oldest.column("start").cast("int64").to_pylist()
    assert starts == sorted(starts)
    assert starts[0] == demo.scalar("SELECT epoch_ns(min(start_time)) FROM spans")


def test_list_filters(demo):
    filt = T.TraceFilter.from_options(
        services=[TRUTH.span_service],
        operation=TRUTH.operation,
        errors=True,
        min_duration="1s",
        attrs=["http.route=/charge"],
        window=TimeWindow(ONSET_NS, None),
    )
    table, matched = T.list_traces(demo, filt)
    assert matched > 0
    assert all(table.column("error").to_pylist())
    assert min(table.column("duration_ns").to_pylist()) >= 1_000_000_000
    assert all(TRUTH.span_service in s for s in table.column("services").to_pylist())
    assert min(table.column("start").cast("int64").to_pylist()) >= ONSET_NS
    none, n = T.list_traces(demo, T.TraceFilter.from_options(attrs=["http.route=/nowhere"]))
    assert n == 0 and none.num_rows == 0


def test_filter_rejects_bad_values():
    with pytest.raises(UsageError):
        T.TraceFilter.from_options(attrs=["novalue"])
    with pytest.raises(UsageError):
        T.TraceFilter.from_options(min_duration="fast")
    with pytest.raises(UsageError):
        T.TraceFilter.from_options(sort="size")


# --------------------------------------------------------------------------- one trace


def test_trace_ids_full_short_and_prefix(demo, corpus_store):
    tid = demo.scalar("SELECT min(trace_id) FROM spans")
    assert T.resolve_trace_id(demo, tid.upper()) == tid
    assert T.resolve_trace_id(demo, tid[:10]) == tid
    assert T.resolve_trace_id(corpus_store, "1e223ff1f80f1c69") == "0" * 16 + "1e223ff1f80f1c69"
    with pytest.raises(InputNotFound):
        T.resolve_trace_id(demo, "f" * 32)
    with pytest.raises(UsageError):
        T.resolve_trace_id(demo, "not-hex")
    with pytest.raises(UsageError):  # a prefix shared by many traces
        T.resolve_trace_id(corpus_store, "000000")


def test_load_trace_rows_and_tree(demo):
    slowest, _ = T.list_traces(demo, T.TraceFilter(limit=1))
    tid = slowest.column("trace_id")[0].as_py()
    tree = T.load_trace(demo, tid)
    assert tree.trace_id == tid
    assert tree.spans.num_rows == slowest.column("spans")[0].as_py()
    assert tree.duration_ns == slowest.column("duration_ns")[0].as_py()
    f = tree.forest
    assert f.critical[tree.root] or f.critical[f.parent == tree.root].any()


# --------------------------------------------------------------------------- services


def _tree_self_times(store, skip_untimed: bool = True) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for (tid,) in store.rows("SELECT DISTINCT trace_id FROM spans"):
        t = T.load_trace(store, tid)
        f = t.forest
        if skip_untimed and np.count_nonzero(f.flags & NO_TIMING):
            continue
        svc = t.spans.column("service_name").to_pylist()
        names = t.spans.column("name").to_pylist()
        for v in range(f.n_rows):
            k = (svc[v] or "", names[v])
            out[k] = out.get(k, 0) + int(f.self_time[v])
    return out


def test_services_self_time_in_sql_equals_the_trees_on_the_corpus(corpus_store):
    table = T.services(corpus_store)
    sql = dict(
        zip(
            zip(
                table.column("service").to_pylist(),
                table.column("operation").to_pylist(),
                strict=True,
            ),
            table.column("self_ns").to_pylist(),
            strict=True,
        )
    )
    tree = _tree_self_times(corpus_store)
    assert tree and all(sql[k] == v for k, v in tree.items())


def test_services_on_the_demo_blame_the_callee(demo):
    table = T.services(demo, T.TraceFilter(window=TimeWindow(ONSET_NS, None)))
    rows = table.to_pylist()
    assert all(r["self_ns"] >= 0 and r["self_ns"] <= r["total_ns"] for r in rows)
    assert all(r["p50_ns"] <= r["p95_ns"] <= r["p99_ns"] for r in rows)
    assert abs(sum(r["self_share"] for r in rows) - 1) < 1e-9
    top = rows[0]  # most self time in the incident window
    assert top["service"] == TRUTH.span_service
    # the root operation spends almost nothing itself: its callees are slow
    roots, _ = T.list_traces(demo, T.TraceFilter(limit=1))
    root = next(
        r for r in rows
        if (r["service"], r["operation"])
        == (roots.column("root_service")[0].as_py(), roots.column("root_operation")[0].as_py())
    )  # fmt: skip
    assert root["self_ratio"] < 0.05
    assert top["rate_per_s"] > 0 and 0 <= top["error_ratio"] <= 1


# --------------------------------------------------------------------------- deps


def test_deps_edges_and_uninstrumented_callees(demo):
    table = T.deps(demo)
    rows = {(r["caller"], r["callee"]): r for r in table.to_pylist()}
    callers_of_truth = [k for k in rows if k[1] == TRUTH.span_service]
    assert callers_of_truth and not rows[callers_of_truth[0]]["external"]
    external = [r for r in rows.values() if r["external"]]
    assert external and all(r["callee"] for r in external)
    assert all(r["caller"] != r["callee"] or r["external"] for r in rows.values())
    # every cross-service parent/child pair is counted once
    internal_calls = sum(r["calls"] for r in rows.values() if not r["external"])
    assert internal_calls == demo.scalar(
        "SELECT count(*) FROM spans c JOIN spans p ON p.trace_id = c.trace_id"
        " AND p.span_id = c.parent_span_id WHERE p.service_name <> c.service_name"
    )
    only = T.deps(demo, T.TraceFilter(services=(TRUTH.span_service,)))
    assert all(TRUTH.span_service in (r["caller"], r["callee"]) for r in only.to_pylist())


# --------------------------------------------------------------------------- critical path


def test_critical_path_summary_points_at_the_culprit(demo):
    filt = T.TraceFilter(window=TimeWindow(ONSET_NS, None))
    res = T.critical_path_summary(demo, filt, TimeWindow(None, ONSET_NS))
    rows = res.table.to_pylist()
    assert res.traces > 0 and res.baseline_traces and res.baseline_traces > 0
    assert abs(sum(r["share"] for r in rows) - 1) < 1e-9
    assert rows[0]["service"] == TRUTH.service  # biggest growth per trace
    assert rows[0]["change_ns"] > 0
    # per trace, the critical-path time adds up to the traces' root durations
    total = sum(r["critical_ns"] for r in rows)
    _table, forest = T._load_forest(demo, filt)
    roots = forest.roots
    assert total == int((forest.cp_end[roots] - forest.cp_start[roots]).sum())
    plain = T.critical_path_summary(demo, filt)
    assert plain.baseline_traces is None
    assert "change_ns" not in plain.table.column_names


# --------------------------------------------------------------------------- compare


def _keys(result: T.Comparison) -> list[str]:
    seen: list[str] = []
    for k in result.table.column("key").to_pylist():
        if k not in seen:
            seen.append(k)
    return seen


def test_compare_window_finds_the_deploy(demo):
    filt = T.TraceFilter(window=TimeWindow(ONSET_NS, None))
    res = T.compare(demo, filt, mode="window", baseline=TimeWindow(None, ONSET_NS))
    assert res.outlier_traces > 0 and res.baseline_traces > 0
    assert "service.version" in _keys(res)[:3]
    scores = res.table.column("score").to_pylist()
    assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
    # id-like keys are skipped, not ranked
    assert res.skipped_keys and all(":" in k for k in res.skipped_keys)
    for key in res.skipped_keys:
        assert key.split(":", 1)[1] not in _keys(res)
    # shares per key sum to one in each group
    rows = [r for r in res.table.to_pylist() if r["key"] == "service.version"]
    assert abs(sum(r["outliers"] for r in rows) - 1) < 1e-9
    assert abs(sum(r["baseline"] for r in rows) - 1) < 1e-9


def test_compare_slow_and_errors(demo):
    slow = T.compare(demo, T.TraceFilter(), mode="slow")
    assert slow.threshold_ns and slow.outlier_traces < slow.baseline_traces
    fixed = T.compare(demo, T.TraceFilter(), mode="slow", threshold_ns=slow.threshold_ns * 2)
    assert fixed.outlier_traces < slow.outlier_traces
    err = T.compare(demo, T.TraceFilter(), mode="errors")
    status = [r for r in err.table.to_pylist() if r["key"] == "status" and r["value"] == "ERROR"]
    assert status and status[0]["outliers"] > 0 and status[0]["baseline"] == 0
    with pytest.raises(UsageError):
        T.compare(demo, T.TraceFilter(), mode="window")


# --------------------------------------------------------------------------- errors


def test_error_origins_are_the_deepest_failures(demo):
    table = T.error_origins(demo)
    rows = table.to_pylist()
    assert rows and all(r["origins"] >= r["traces"] > 0 for r in rows)
    failed = demo.scalar("SELECT count(DISTINCT trace_id) FROM spans WHERE status_code = 'ERROR'")
    assert all(0 < r["share"] <= 1 for r in rows)
    assert sum(r["traces"] for r in rows) >= failed
    # a root that failed because a child failed is not an origin
    roots, _ = T.list_traces(demo, T.TraceFilter(errors=True, limit=1))
    root = (roots.column("root_service")[0].as_py(), roots.column("root_operation")[0].as_py())
    assert root not in {(r["service"], r["operation"]) for r in rows}
    assert all(len(r["examples"]) <= 3 for r in rows)
