"""``analysis.profiles``: pprof's numbers on every corpus file, trees, diff, exports."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from obsctl.analysis import profiles as prof
from obsctl.errors import InputNotFound, UsageError
from obsctl.timewindow import TimeWindow
from tests.conftest import CORPUS, FIXTURES

PROFILES = CORPUS / "profiles"
PPROF_TOP = PROFILES / "pprof_top"
DEMO_PROFILES = FIXTURES / "checkout-incident" / "profiles"

# ------------------------------------------------------------------ pprof's own -top output

_ROW = re.compile(r"^\s*(\S+)\s+(\S+)%\s+(\S+)%\s+(\S+)\s+(\S+)%\s+(.*)$")


def parse_pprof_top(path: Path) -> list[tuple[str, float, float]]:
    """(function, flat%, cum%) rows of ``go tool pprof -top`` output, in its order.

    pprof appends `` (inline)`` / `` (partial-inline)`` to a node reached through inlined
    calls; that is an annotation, not part of the function's name.
    """
    rows = []
    started = False
    for line in path.read_text().splitlines():
        if line.split()[:2] == ["flat", "flat%"]:
            started = True
            continue
        if started and line.strip():
            m = _ROW.match(line)
            assert m, line
            name = re.sub(r" \((partial-)?inline\)$", "", m.group(6))
            rows.append((name, float(m.group(2)), float(m.group(5))))
    return rows


def _top_cases() -> list[tuple[Path, str]]:
    cases = []
    for top in sorted(PPROF_TOP.glob("*.top.txt")):
        _, index = top.name.removesuffix(".top.txt").rsplit(".", 1)
        cases.append((top, index))
    return cases


@pytest.mark.parametrize(("top_file", "index"), _top_cases(), ids=lambda v: getattr(v, "name", v))
def test_top_agrees_with_pprof(top_file, index, store, load):
    """flat% and cum% of pprof's leading functions match to 0.05 points, in its order.

    pprof prints percentages of negative values (delta heap profiles) without their sign
    (its ``measurement.Percentage`` takes the absolute value) while the values keep it;
    obsctl keeps the sign on both, so magnitudes are compared.
    """
    stem = top_file.name.removesuffix(".top.txt").rsplit(".", 1)[0]
    pprof_file = PROFILES / "pprof" / f"{stem}.pb.gz"
    report = load(pprof_file)
    assert not report.failed
    expected = parse_pprof_top(top_file)
    assert expected, top_file
    result = prof.top(store, prof.ProfileFilter(sample_type=index))
    got = {r["function"]: r for r in result.table.to_pylist()}
    for name, flat_pct, cum_pct in expected[:25]:
        assert name in got, f"{name!r} missing from obsctl's top"
        assert abs(got[name]["flat_pct"]) == pytest.approx(flat_pct, abs=0.05), name
        assert abs(got[name]["cum_pct"]) == pytest.approx(cum_pct, abs=0.05), name
    # the same order: pprof only hides the nodes under its -nodefraction
    ours = [
        f
        for f in result.table.column("function").to_pylist()
        if f in dict.fromkeys(n for n, _, _ in expected)
    ]
    assert ours == [n for n, _, _ in expected]


def test_every_pprof_file_and_type_has_a_reference():
    """The agreement test covers every corpus pprof file (and all of its sample types)."""
    covered = {t.name.removesuffix(".top.txt").rsplit(".", 1)[0] for t in PPROF_TOP.iterdir()}
    assert {p.name.removesuffix(".pb.gz") for p in (PROFILES / "pprof").glob("*.pb.gz")} == covered


def test_sample_type_by_name_matches_index(store, load):
    load(PROFILES / "pprof" / "parca_alloc_objects.heap.pb.gz")
    by_name = prof.top(store, prof.ProfileFilter(sample_type="inuse_space"))
    by_index = prof.top(store, prof.ProfileFilter(sample_type="3"))
    assert by_name.table.equals(by_index.table)
    default = prof.top(store, prof.ProfileFilter())
    # parca_alloc_objects declares default_sample_type = alloc_space
    assert default.selection.sample_type.name == "alloc_space"
    assert default.selection.sample_type.defaulted
    assert set(default.selection.sample_type.others) == {
        "alloc_objects",
        "inuse_objects",
        "inuse_space",
    }
    with pytest.raises(InputNotFound, match=r"alloc_spaces.*did you mean alloc_space"):
        prof.top(store, prof.ProfileFilter(sample_type="alloc_spaces"))
    with pytest.raises(InputNotFound, match="0 to 3"):
        prof.top(store, prof.ProfileFilter(sample_type="9"))


def test_default_is_last_sample_type_without_a_declared_default(store, load):
    load(PROFILES / "pprof" / "google_report_sample.cpu.pb.gz")
    sel = prof.select(store, prof.ProfileFilter())
    assert (sel.sample_type.name, sel.sample_type.unit) == ("cpu", "nanoseconds")


def test_mixed_defaults_pick_the_most_common_and_say_so(store, load):
    load(
        PROFILES / "pprof" / "parca_fib.cpu.pb.gz", PROFILES / "pprof" / "parca_profile1.cpu.pb.gz"
    )
    load(PROFILES / "pprof" / "parca_alloc_objects.heap.pb.gz")
    sel = prof.select(store, prof.ProfileFilter())
    assert sel.sample_type.name == "cpu"
    assert sel.sample_type.mixed_defaults == ("alloc_space",)
    # the heap profile carries no 'cpu' samples: the aggregate is the two CPU profiles
    cpu_only = prof.top(store, prof.ProfileFilter(profile_ids=_ids(store, "cpu")))
    both = prof.top(store, prof.ProfileFilter())
    assert both.total == pytest.approx(cpu_only.total)


def _ids(store, profile_type: str) -> tuple[int, ...]:
    rows = store.rows("SELECT profile_id FROM profiles WHERE profile_type = ?", [profile_type])
    return tuple(r[0] for r in rows)


# ------------------------------------------------------------------ every corpus file


def _corpus_profiles() -> list[Path]:
    out = []
    for folder in ("pprof", "folded", "speedscope", "other", "perf_script"):
        out.extend(sorted((PROFILES / folder).iterdir()))
    return out


@pytest.mark.parametrize("path", _corpus_profiles(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_profile_gives_top_and_flame(path, store, load):
    report = load(path)
    if path.name.startswith("invalid_"):  # speedscope refuses these too
        assert report.failed
        return
    assert not report.failed, report.failed
    result = prof.top(store, prof.ProfileFilter())
    assert result.table.num_rows > 0
    tree = prof.call_tree(store, prof.ProfileFilter())
    values = tree.nodes.column("value").to_pylist()
    assert tree.nodes.column("name")[0].as_py() == prof.ROOT
    if min(values) >= 0:  # no delta profile: the sums close
        assert sum(result.table.column("flat").to_pylist()) == pytest.approx(result.total)
        assert values[0] == pytest.approx(result.total)
        assert result.table.column("sum_pct")[-1].as_py() == pytest.approx(100.0)
    # each node's inclusive value is its self value plus its children's
    selfs = tree.nodes.column("self").to_pylist()
    for i in range(min(len(tree), 400)):
        kids = tree.children(i)
        assert values[i] == pytest.approx(selfs[i] + sum(values[k] for k in kids), rel=1e-9)
    # and both flame views draw it
    import io
    import xml.etree.ElementTree as ET

    from rich.console import Console

    from obsctl.render.profiles import Icicle, flame_svg

    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(Icicle(tree))
    assert len(buf.getvalue().splitlines()) >= 2
    assert all(len(line) <= 100 for line in buf.getvalue().splitlines())
    assert ET.fromstring(flame_svg(tree)).findall(".//{http://www.w3.org/2000/svg}rect")


# ------------------------------------------------------------------ a reference on folded stacks


def folded_reference(path: Path) -> tuple[dict[str, float], dict[str, float], float]:
    """Flat and cum per function of a folded file, computed the slow, obvious way."""
    flat: dict[str, float] = defaultdict(float)
    cum: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        # the count follows the last run of blanks (a frame ending in blanks loses them)
        m = re.fullmatch(r"(.*?)[ \t]+(\d+(?:\.\d*)?)[ \t\r]*", line)
        if not m or not m.group(1):
            continue
        frames = m.group(1).split(";")
        value = float(m.group(2))
        total += value
        flat[frames[-1]] += value
        for f in set(frames):
            cum[f] += value
    return flat, cum, total


@pytest.mark.parametrize(
    "name",
    [
        "speedscope_recursion.txt",
        "speedscope_alternating.txt",
        "flamegraph_perf-java-stacks-01-collapsed-all.txt",
        "flamegraph_perf-vertx-stacks-01-collapsed-all.txt",
    ],
)
def test_flat_and_cum_on_folded_stacks(name, store, load):
    """Recursion counts once in cum (a;b;a;b: a and b each get the sample once)."""
    path = PROFILES / "folded" / name
    load(path)
    flat, cum, total = folded_reference(path)
    result = prof.top(store, prof.ProfileFilter())
    assert result.total == pytest.approx(total)
    got = {r["function"]: r for r in result.table.to_pylist()}
    assert set(got) == set(cum)
    for f in cum:
        assert got[f]["cum"] == pytest.approx(cum[f]), f
        assert got[f]["flat"] == pytest.approx(flat.get(f, 0.0)), f


def test_focused_tree_counts_recursion_once(store, load):
    load(PROFILES / "folded" / "speedscope_recursion.txt")
    top = {r["function"]: r for r in prof.top(store, prof.ProfileFilter()).table.to_pylist()}
    for fn in ("a", "b"):
        tree = prof.call_tree(store, prof.ProfileFilter(), focus=fn)
        assert tree.focus == fn
        assert tree.nodes.column("value")[0].as_py() == pytest.approx(top[fn]["cum"])


# ------------------------------------------------------------------ the demo incident


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A store holding the demo incident's profiles (loaded once), read-only."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("demo-profiles") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO_PROFILES)])
    s = Store.open(path, read_only=True)
    yield s
    s.close()


def _truth():
    from obsctl.demo.scenario import DEFAULT_SCENARIO, SCENARIOS, START

    scenario = SCENARIOS[DEFAULT_SCENARIO]
    onset = START + timedelta(minutes=scenario.truth.onset_minute)
    onset_ns = int(onset.timestamp()) * 1_000_000_000
    return scenario.truth, onset_ns


def test_diff_puts_the_culprit_function_first(demo):
    truth, onset_ns = _truth()
    filt = prof.ProfileFilter(services=(truth.service,))
    result = prof.diff(demo, filt, TimeWindow(None, onset_ns), TimeWindow(onset_ns, None))
    first = result.table.to_pylist()[0]
    assert first["function"] == truth.function
    assert first["cum_change"] > 20 and first["flat_change"] > 10
    assert result.base.profiles and result.target.profiles
    # shares are of each window's own total
    rows = result.table.to_pylist()
    assert sum(r["base_flat_pct"] for r in rows) == pytest.approx(100.0)
    assert sum(r["target_flat_pct"] for r in rows) == pytest.approx(100.0)


def test_diff_tree_colours_the_culprit_red(demo):
    truth, onset_ns = _truth()
    filt = prof.ProfileFilter(services=(truth.service,))
    tree = prof.diff_tree(demo, filt, TimeWindow(None, onset_ns), TimeWindow(onset_ns, None))
    names = tree.nodes.column("name").to_pylist()
    node = names.index(truth.function)
    assert tree.change(node) > 20
    assert tree.target_share(0) == pytest.approx(1.0)
    assert tree.base_share(0) == pytest.approx(1.0)


def test_diff_of_a_window_with_itself_changes_nothing(demo):
    truth, onset_ns = _truth()
    w = TimeWindow(onset_ns, None)
    result = prof.diff(demo, prof.ProfileFilter(services=(truth.service,)), w, w)
    assert max(abs(v) for v in result.table.column("score").to_pylist()) == pytest.approx(0)


def test_diff_normalises_each_window_to_its_own_total(store):
    """A target with three times the samples of the same mix shows no change."""
    _insert(store, "svc", 1_000, {("main", "work"): 10, ("main", "idle"): 30})
    _insert(store, "svc", 2_000, {("main", "work"): 30, ("main", "idle"): 90})
    _insert(store, "svc", 3_000, {("main", "work"): 80, ("main", "idle"): 40})
    filt = prof.ProfileFilter(services=("svc",))
    same = prof.diff(store, filt, TimeWindow(None, 1_500), TimeWindow(1_500, 2_500))
    assert all(abs(v) < 1e-9 for v in same.table.column("score").to_pylist())
    assert same.target_total == 3 * same.base_total
    grown = prof.diff(store, filt, TimeWindow(None, 1_500), TimeWindow(2_500, None))
    work = {r["function"]: r for r in grown.table.to_pylist()}["work"]
    assert work["base_flat_pct"] == pytest.approx(25.0)
    assert work["target_flat_pct"] == pytest.approx(80 / 120 * 100)
    assert grown.table.column("function")[0].as_py() == "work"
    with pytest.raises(InputNotFound, match="base window"):
        prof.diff(store, filt, TimeWindow(None, 10), TimeWindow(2_500, None))


def _insert(store, service: str, time_ns: int, stacks: dict[tuple[str, ...], float]) -> None:
    """One CPU profile written straight into the store (stacks root first)."""
    import pyarrow as pa

    pid = store.scalar("SELECT coalesce(max(profile_id), 0) + 1 FROM profiles")
    store.con.execute(
        "INSERT INTO profiles (profile_id, service_name, profile_type, sample_types,"
        " default_sample_type, time, source_id) VALUES (?, ?, 'cpu',"
        " [{'type': 'cpu', 'unit': 'nanoseconds'}], 'cpu', make_timestamp_ns(?), 0)",
        [pid, service, time_ns],
    )
    rows = pa.table(
        {
            "profile_id": [pid] * len(stacks),
            "sample_type": ["cpu"] * len(stacks),
            "unit": ["nanoseconds"] * len(stacks),
            "value": [float(v) for v in stacks.values()],
            "stack": [
                [{"function": f, "file": None, "line": None} for f in reversed(s)] for s in stacks
            ],
        }
    )
    store.con.register("_rows", rows)
    store.con.execute("INSERT INTO profile_samples BY NAME SELECT * FROM _rows")
    store.con.unregister("_rows")


def test_window_selects_by_profile_start_and_skips_timeless_profiles(demo, store, load):
    truth, onset_ns = _truth()
    all_ = prof.select(demo, prof.ProfileFilter(services=(truth.service,)))
    after = prof.select(
        demo, prof.ProfileFilter(services=(truth.service,), window=TimeWindow(onset_ns, None))
    )
    assert 0 < after.profiles < all_.profiles
    assert after.start_ns >= onset_ns
    load(PROFILES / "folded" / "speedscope_simple.txt")  # folded stacks carry no time
    assert prof.select(store, prof.ProfileFilter()).profiles == 1
    with pytest.raises(InputNotFound, match="no profiles match the time window"):
        prof.select(store, prof.ProfileFilter(window=TimeWindow(0, None)))


def test_peek_edges_add_up(demo):
    truth, _ = _truth()
    filt = prof.ProfileFilter(services=(truth.service,))
    p = prof.peek(demo, filt, truth.function.rsplit(".", 1)[-1])  # a unique part of the name
    assert p.function == truth.function
    callees = sum(p.callees.column("value").to_pylist())
    assert callees + p.flat == pytest.approx(p.cum)  # no recursion under it
    assert sum(p.callers.column("share").to_pylist()) == pytest.approx(100.0)
    top = {r["function"]: r for r in prof.top(demo, filt).table.to_pylist()}
    assert p.cum == pytest.approx(top[truth.function]["cum"])
    assert p.flat == pytest.approx(top[truth.function]["flat"])


def test_unknown_and_ambiguous_functions(demo):
    filt = prof.ProfileFilter()
    with pytest.raises(InputNotFound, match="no function"):
        prof.peek(demo, filt, "no.such.function")
    with pytest.raises(UsageError, match="part of several function names"):
        prof.peek(demo, filt, "runtime.")
    with pytest.raises(InputNotFound, match="no profiles match service"):
        prof.top(demo, prof.ProfileFilter(services=("nope",)))


def test_tree_rows_prune_and_keep_depth_first_order(demo):
    truth, _ = _truth()
    tree = prof.call_tree(demo, prof.ProfileFilter(services=(truth.service,)))
    rows = prof.tree_rows(tree, min_fraction=0.05).to_pylist()
    assert rows[0]["function"] == prof.ROOT and rows[0]["share"] == pytest.approx(100)
    assert all(r["share"] >= 5 for r in rows)
    for r in rows[1:]:
        parent = rows[r["parent"]]
        assert parent["id"] < r["id"] and parent["depth"] == r["depth"] - 1
    assert truth.function in {r["function"] for r in rows}
    shallow = prof.tree_rows(tree, max_depth=2).to_pylist()
    assert max(r["depth"] for r in shallow) == 2


def test_call_tree_layout_places_children_inside_their_parent(demo):
    tree = prof.call_tree(demo, prof.ProfileFilter(services=(_truth()[0].service,)))
    x = tree.nodes.column("x").to_pylist()
    v = tree.nodes.column("value").to_pylist()
    for i in range(len(tree)):
        edge = x[i]
        for k in tree.children(i):
            assert x[k] == pytest.approx(edge)  # siblings abut, largest first
            edge += v[k]
        assert edge <= x[i] + v[i] + 1e-6
        kids = [v[k] for k in tree.children(i)]
        assert kids == sorted(kids, reverse=True)


# ------------------------------------------------------------------ exports


@pytest.mark.parametrize(
    "source",
    [
        PROFILES / "pprof" / "parca_profile1.cpu.pb.gz",
        PROFILES / "pprof" / "google_report_sample.cpu.pb.gz",
        PROFILES / "folded" / "flamegraph_perf-java-stacks-01-collapsed-all.txt",
        DEMO_PROFILES / "payment",
    ],
    ids=lambda p: p.name,
)
def test_export_folded_round_trips(source, store, load, tmp_path):
    """Export folded, load it into a fresh store: the same top, function by function."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    load(source)
    before = prof.top(store, prof.ProfileFilter())
    text, skipped = prof.folded_text(prof.stack_paths(store, prof.ProfileFilter()))
    assert skipped == 0
    out = tmp_path / "export.folded"
    out.write_text(text)
    with Store.open(tmp_path / "again.duckdb") as again:
        assert not ingest_paths(again, [str(out)], format="folded").failed
        after = prof.top(again, prof.ProfileFilter())
    _same_top(before, after)


@pytest.mark.parametrize(
    "source",
    [PROFILES / "pprof" / "parca_fib.cpu.pb.gz", DEMO_PROFILES / "checkout"],
    ids=lambda p: p.name,
)
def test_export_speedscope_is_valid_and_round_trips(source, store, load, tmp_path):
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    load(source)
    before = prof.top(store, prof.ProfileFilter())
    doc = prof.speedscope_document(prof.stack_paths(store, prof.ProfileFilter()), "x", "obsctl")
    check_speedscope_schema(doc)
    assert doc["profiles"][0]["unit"] == "nanoseconds"
    out = tmp_path / "export.speedscope.json"
    out.write_text(json.dumps(doc))
    with Store.open(tmp_path / "again.duckdb") as again:
        assert not ingest_paths(again, [str(out)]).failed
        after = prof.top(again, prof.ProfileFilter())
    _same_top(before, after)


def check_speedscope_schema(doc: dict) -> None:
    """The rules of speedscope's file-format-schema.json for a file of sampled profiles."""
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert all(isinstance(f["name"], str) for f in frames)
    assert all(set(f) <= {"name", "file", "line", "col"} for f in frames)
    assert isinstance(doc.get("name", ""), str) and isinstance(doc.get("exporter", ""), str)
    assert 0 <= doc.get("activeProfileIndex", 0) < len(doc["profiles"])
    units = {"none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}
    for p in doc["profiles"]:
        assert p["type"] == "sampled"
        assert isinstance(p["name"], str) and p["unit"] in units
        assert isinstance(p["startValue"], int | float) and p["endValue"] >= p["startValue"]
        assert len(p["samples"]) == len(p["weights"])
        assert all(isinstance(w, int | float) and w >= 0 for w in p["weights"])
        assert all(0 <= i < len(frames) for s in p["samples"] for i in s)


def _same_top(before: prof.TopResult, after: prof.TopResult) -> None:
    assert after.total == pytest.approx(before.total)
    a = {r["function"]: (r["flat"], r["cum"]) for r in after.table.to_pylist()}
    b = {r["function"]: (r["flat"], r["cum"]) for r in before.table.to_pylist()}
    assert a.keys() == b.keys()
    for f, (flat, cum) in b.items():
        assert a[f] == pytest.approx((flat, cum), rel=1e-9), f


def test_folded_export_keeps_frames_on_one_line():
    import pyarrow as pa

    paths = prof.StackPaths(
        table=pa.table({"path": [["main", "a;b", "x\ny"], ["main"]], "value": [2.5, -1.0]}),
        selection=None,  # type: ignore[arg-type]
        total=3.5,
    )
    text, skipped = prof.folded_text(paths)
    assert text == "main;a:b;x y 2.5\n"
    assert skipped == 1
