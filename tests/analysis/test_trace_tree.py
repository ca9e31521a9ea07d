"""The span tree: structure repairs, self time, critical path, folding — on hand-built
broken traces, on every corpus trace file and on the demo incident."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from obsctl.analysis import trace_tree as tt
from obsctl.analysis.trace_tree import build_forest, build_tree, fold
from tests.conftest import FIXTURES

MS = 1_000_000


def trace(*rows: tuple) -> pa.Table:
    """Rows ``(span_id, parent, start_ms, end_ms[, kind[, service[, status[, source]]]])``."""
    cols: dict[str, list] = {
        k: []
        for k in (
            "span_id", "parent_span_id", "name", "kind", "service_name",
            "start_ns", "end_ns", "status_code", "source_id",
        )
    }  # fmt: skip
    for r in rows:
        sid, parent, s, e, *rest = r
        kind = rest[0] if len(rest) > 0 else "INTERNAL"
        svc = rest[1] if len(rest) > 1 else "svc"
        status = rest[2] if len(rest) > 2 else "UNSET"
        src = rest[3] if len(rest) > 3 else 1
        cols["span_id"].append(sid)
        cols["parent_span_id"].append(parent)
        cols["name"].append(f"op-{sid}")
        cols["kind"].append(kind)
        cols["service_name"].append(svc)
        cols["start_ns"].append(None if s is None else int(s * MS))
        cols["end_ns"].append(None if e is None else int(e * MS))
        cols["status_code"].append(status)
        cols["source_id"].append(src)
    return pa.table(cols, schema=pa.schema([
        ("span_id", pa.string()), ("parent_span_id", pa.string()), ("name", pa.string()),
        ("kind", pa.string()), ("service_name", pa.string()), ("start_ns", pa.int64()),
        ("end_ns", pa.int64()), ("status_code", pa.string()), ("source_id", pa.int64()),
    ]))  # fmt: skip


def uid_index(tree: tt.TraceTree) -> dict[str, int]:
    return {u: i for i, u in enumerate(tree.forest.uid)}


def segments(tree: tt.TraceTree) -> list[tuple[str, float, float]]:
    f = tree.forest
    return [
        (f.uid[v], a / MS, b / MS)
        for v, a, b in zip(
            f.seg_node.tolist(), f.seg_start.tolist(), f.seg_end.tolist(), strict=True
        )
    ]


def assert_tiles(forest: tt.Forest) -> None:
    """Each trace's critical-path segments tile its root's interval exactly."""
    by_trace: dict[int, list[tuple[int, int]]] = {}
    for v, a, b in zip(
        forest.seg_node.tolist(), forest.seg_start.tolist(), forest.seg_end.tolist(), strict=True
    ):
        assert b > a
        by_trace.setdefault(int(forest.trace[v]), []).append((a, b))
    for t, root in enumerate(forest.roots.tolist()):
        segs = by_trace.get(t, [])
        lo, hi = int(forest.cp_start[root]), int(forest.cp_end[root])
        if lo == hi:
            assert segs == []
            continue
        assert segs[0][0] == lo and segs[-1][1] == hi
        assert all(x[1] == y[0] for x, y in itertools.pairwise(segs))
        assert sum(b - a for a, b in segs) == hi - lo
    assert (forest.self_time >= 0).all()
    assert (forest.self_time <= forest.end - forest.start).all()


# --------------------------------------------------------------------------- basics


def test_sequential_children_critical_path_and_self_time():
    t = build_tree(trace(
        ("a", None, 0, 100),
        ("b", "a", 10, 40),
        ("c", "a", 50, 90),
        ("d", "c", 60, 70),
    ))  # fmt: skip
    assert segments(t) == [
        ("a", 0, 10), ("b", 10, 40), ("a", 40, 50), ("c", 50, 60), ("d", 60, 70),
        ("c", 70, 90), ("a", 90, 100),
    ]  # fmt: skip
    idx = uid_index(t)
    st = t.forest.self_time
    assert st[idx["a"]] == 30 * MS and st[idx["c"]] == 30 * MS and st[idx["d"]] == 10 * MS
    assert t.forest.depth[idx["d"]] == 2
    assert [t.forest.uid[v] for v in t.forest.order] == ["a", "b", "c", "d"]
    assert t.warnings == ()


def test_overlapping_children_follow_the_last_finisher():
    # b and c overlap: c finishes last and is taken; b ends after c starts, so it is
    # skipped; the walk resumes at c's start and finds nothing else.
    t = build_tree(trace(("a", None, 0, 100), ("b", "a", 0, 60), ("c", "a", 30, 80)))
    assert segments(t) == [("a", 0, 30), ("c", 30, 80), ("a", 80, 100)]
    idx = uid_index(t)
    assert not t.forest.critical[idx["b"]]
    # self time counts the union of children once
    assert t.forest.self_time[idx["a"]] == 20 * MS


def test_orphans_attach_under_the_single_root_and_say_so():
    t = build_tree(trace(("a", None, 0, 100), ("x", "missing", 20, 30)))
    idx = uid_index(t)
    f = t.forest
    assert f.parent[idx["x"]] == idx["a"]
    assert f.flags[idx["x"]] & tt.ORPHAN
    assert f.missing_parent[idx["x"]] == "missing"
    assert any("missing from the trace" in w and "the root" in w for w in t.warnings)
    # an adopted orphan does not count against the root's self time
    assert f.self_time[idx["a"]] == 100 * MS
    assert_tiles(f)


def test_several_roots_get_a_synthetic_root():
    t = build_tree(trace(("a", None, 0, 10), ("b", None, 20, 30), ("c", "gone", 5, 25)))
    f = t.forest
    root = t.root
    assert f.uid[root] == tt.SYNTHETIC_UID and f.flags[root] & tt.SYNTHETIC
    assert (f.cp_start[root], f.cp_end[root]) == (0, 30 * MS)
    assert sorted(f.uid[v] for v in np.nonzero(f.parent == root)[0]) == ["a", "b", "c"]
    assert any("2 root spans" in w for w in t.warnings)
    assert_tiles(f)


def test_no_root_at_all():
    t = build_tree(trace(("a", "p1", 0, 10), ("b", "p2", 5, 30)))
    assert t.forest.uid[t.root] == tt.SYNTHETIC_UID
    assert any("no root span" in w for w in t.warnings)


def test_clock_skew_moves_the_subtree_and_overruns_are_clamped_for_the_path():
    t = build_tree(trace(
        ("a", None, 100, 200),
        ("b", "a", 90, 140),  # starts 10 ms before its parent: skew
        ("c", "b", 95, 100),  # moves with b
        ("d", "a", 150, 260),  # ends after its parent: async/overrun
    ))  # fmt: skip
    f = t.forest
    idx = uid_index(t)
    assert f.flags[idx["b"]] & tt.SKEW and not f.flags[idx["c"]] & tt.SKEW
    assert (f.layout_start[idx["b"]], f.layout_end[idx["b"]]) == (100 * MS, 150 * MS)
    assert (f.layout_start[idx["c"]], f.layout_end[idx["c"]]) == (105 * MS, 110 * MS)
    assert f.flags[idx["d"]] & tt.OVERRUN
    assert f.layout_end[idx["d"]] == 260 * MS  # drawn as recorded
    assert f.cp_end[idx["d"]] == 200 * MS  # clamped for the critical path
    assert t.duration_ns == 160 * MS and t.root_duration_ns == 100 * MS
    assert any("clock skew" in w for w in t.warnings)
    assert_tiles(f)


def test_duplicate_span_ids_are_kept_and_disambiguated():
    t = build_tree(trace(("a", None, 0, 10), ("b", "a", 1, 5), ("b", "a", 1, 5)))
    f = t.forest
    assert sorted(f.uid) == ["a", "b", "b#2"]
    assert all(f.flags[i] & tt.DUPLICATE for i, u in enumerate(f.uid) if u.startswith("b"))
    assert any("share a span id" in w for w in t.warnings)


def test_children_of_a_duplicated_id_stay_with_their_own_file():
    # the same trace loaded from two files: two trees, not doubled children
    t = build_tree(trace(
        ("r", None, 0, 10, "SERVER", "s", "UNSET", 1), ("c", "r", 2, 4, "CLIENT", "s", "UNSET", 1),
        ("r", None, 0, 10, "SERVER", "s", "UNSET", 2), ("c", "r", 2, 4, "CLIENT", "s", "UNSET", 2),
    ))  # fmt: skip
    f = t.forest
    for child in (1, 3):
        assert f.parent[child] == child - 1


def test_zipkin_shared_span_server_half_under_client_half():
    t = build_tree(trace(
        ("root", None, 0, 100, "SERVER", "a"),
        ("rpc", "root", 10, 90, "CLIENT", "a"),
        ("rpc", "root", 12, 88, "SERVER", "b"),
        ("db", "rpc", 20, 60, "CLIENT", "b"),
    ))  # fmt: skip
    f = t.forest
    idx = uid_index(t)
    assert f.parent[idx["rpc~server"]] == idx["rpc"]
    assert f.parent[idx["db"]] == idx["rpc~server"]
    assert [f.depth[idx[u]] for u in ("root", "rpc", "rpc~server", "db")] == [0, 1, 2, 3]
    assert f.self_time[idx["rpc"]] == 4 * MS
    assert_tiles(f)


def test_parent_cycles_are_cut():
    t = build_tree(trace(("r", None, 0, 100), ("a", "b", 10, 20), ("b", "a", 30, 40)))
    f = t.forest
    assert (f.flags & tt.CYCLE).any()
    assert len(f.order) == f.size  # everything drawn once
    assert any("cycle" in w for w in t.warnings)
    assert_tiles(f)


def test_missing_times_are_taken_from_children_or_parent():
    t = build_tree(trace(
        ("r", None, 0, 100), ("p", "r", None, None), ("k", "p", 20, 50), ("z", "r", None, None),
    ))  # fmt: skip
    f = t.forest
    idx = uid_index(t)
    assert (f.start[idx["p"]], f.end[idx["p"]]) == (20 * MS, 50 * MS)
    assert (f.start[idx["z"]], f.end[idx["z"]]) == (0, 0)
    assert f.flags[idx["p"]] & tt.NO_TIMING and f.flags[idx["z"]] & tt.NO_TIMING
    assert_tiles(f)


def test_a_deep_chain_needs_no_recursion():
    n = 50_000
    rows = [("s0", None, 0, 2 * n)]
    rows += [(f"s{i}", f"s{i - 1}", i, 2 * n - i) for i in range(1, n)]
    t = build_tree(trace(*rows))
    assert int(t.forest.depth.max()) == n - 1
    assert_tiles(t.forest)


def test_fold_collapses_fast_sibling_subtrees_into_one_row():
    t = build_tree(trace(
        ("r", None, 0, 100),
        ("slow", "r", 0, 50),
        ("f1", "r", 50, 51), ("f1a", "f1", 50, 51),
        ("f2", "r", 60, 62, "INTERNAL", "svc", "ERROR"),
        ("slow2", "slow", 10, 40),
    ))  # fmt: skip
    errors = np.zeros(t.forest.size, dtype=bool)
    errors[: t.forest.n_rows] = [c == "ERROR" for c in t.spans.column("status_code").to_pylist()]
    rows = fold(t, 5 * MS, errors)
    plain = [r for r in rows if isinstance(r, int)]
    folds = [r for r in rows if not isinstance(r, int)]
    assert [t.forest.uid[v] for v in plain] == ["r", "slow", "slow2"]
    assert len(folds) == 1
    assert (folds[0].folded, folds[0].spans, folds[0].errors) == (2, 3, 1)
    assert (folds[0].start, folds[0].end) == (50 * MS, 62 * MS)
    assert fold(t, None) == t.forest.order.tolist()


def test_forest_of_many_traces_matches_single_trees():
    a = trace(("a", None, 0, 10), ("b", "a", 2, 5))
    b = trace(("a", None, 100, 130), ("c", "a", 105, 125), ("d", None, 140, 150))
    both = pa.concat_tables([a, b]).append_column("trace", pa.array([0, 0, 1, 1, 1]))
    f = build_forest(both)
    assert len(f.roots) == 2
    assert f.uid[f.roots[1]] == tt.SYNTHETIC_UID
    assert_tiles(f)
    single = build_tree(b).forest
    assert f.self_time[2:5].tolist() == single.self_time[:3].tolist()


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory: pytest.TempPathFactory, corpus: Path):
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    s = Store.open(tmp_path_factory.mktemp("tree-corpus") / "store.duckdb")
    ingest_paths(s, [str(corpus / "traces")])
    yield s
    s.close()


@pytest.fixture(scope="module")
def demo_forest(tmp_path_factory: pytest.TempPathFactory):
    from obsctl.analysis.traces import FOREST_SQL, TRACES_SQL
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("tree-demo") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(FIXTURES / "checkout-incident" / "traces")])
        table = s.query(FOREST_SQL.format(traces=TRACES_SQL.format(having="")))
    return table, build_forest(table)


def test_every_corpus_trace_draws_with_a_tiling_critical_path(corpus_store, corpus):
    from obsctl.analysis.traces import load_trace

    ids = [r[0] for r in corpus_store.rows("SELECT DISTINCT trace_id FROM spans")]
    files = {r[0] for r in corpus_store.rows("SELECT DISTINCT path FROM sources")}
    assert len(files) == len(list((corpus / "traces").rglob("*.json")))
    assert len(ids) >= 20
    for tid in ids:
        t = load_trace(corpus_store, tid)
        assert len(t.forest.order) == t.forest.size, tid
        assert t.spans.num_rows == corpus_store.scalar(
            "SELECT count(*) FROM spans WHERE trace_id = ?", [tid]
        )
        assert_tiles(t.forest)


def test_corpus_repairs_are_reported(corpus_store):
    from obsctl.analysis.traces import load_trace

    skew = load_trace(corpus_store, "1e223ff1f80f1c69")  # zipkin skew.json
    f = skew.forest
    assert np.count_nonzero(f.flags & tt.SHARED) == 2 and (f.flags & tt.SKEW).any()
    assert any(u.endswith("~server") for u in f.uid)
    dups = load_trace(corpus_store, "0000000000000001")  # jaeger ui_01 + domain_01
    assert any("#2" in u for u in dups.forest.uid)


def test_demo_critical_paths_tile_and_self_times_are_non_negative(demo_forest):
    table, forest = demo_forest
    assert len(forest.roots) > 1000
    assert forest.n_rows == table.num_rows
    assert_tiles(forest)
    assert np.count_nonzero(forest.flags & tt.SYNTHETIC) == 0  # the demo's traces are whole
