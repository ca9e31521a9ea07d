"""``obsctl traces …``: stdout, stderr and exit codes as a user sees them."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import pytest

from obsctl.cli.exit_codes import ExitCode
from obsctl.demo.scenario import SCENARIOS
from obsctl.render.traces import (
    axis_labels,
    bar_cells,
    bar_geometries,
    bar_geometry,
    bar_text,
    nice_step,
    service_colour,
)
from tests.conftest import FIXTURES

DEMO = FIXTURES / "checkout-incident"
TRUTH = SCENARIOS["payment-cpu"].truth
HOSTILE = '[red]pwn[/red]\x1b[2J<script>"q"|'


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("demo-traces-cli") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO / "traces")])
    return path


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One OTLP trace whose names and attributes carry markup, ESC and quotes."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    d = tmp_path_factory.mktemp("hostile-traces")
    t0 = 1_774_540_000_000_000_000

    def span(sid: str, parent: str, name: str, a: int, b: int, svc: str) -> dict:
        return {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
            "scopeSpans": [{"spans": [{
                "traceId": "ab" * 16, "spanId": sid, "parentSpanId": parent, "name": name,
                "kind": 2, "startTimeUnixNano": str(t0 + a), "endTimeUnixNano": str(t0 + b),
                "attributes": [{"key": HOSTILE, "value": {"stringValue": HOSTILE}}],
                "status": {"code": 2, "message": HOSTILE},
            }]}],
        }  # fmt: skip

    doc = {"resourceSpans": [
        span("1" * 16, "", HOSTILE, 0, 10_000_000, "front"),
        span("2" * 16, "1" * 16, "call", 1_000_000, 9_000_000, HOSTILE),
    ]}  # fmt: skip
    (d / "trace.json").write_text(json.dumps(doc))
    path = d / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(d / "trace.json")])
    return path


@pytest.fixture
def demo(cli, demo_store, monkeypatch):
    """Run obsctl against the demo store, 100 columns wide."""
    monkeypatch.setenv("OBSCTL_STORE", str(demo_store))
    monkeypatch.setenv("COLUMNS", "100")
    return cli


def slowest(demo) -> str:
    r = demo("traces", "list", "--limit", "1", "--format", "json")
    return json.loads(r.stdout)[0]["trace_id"]


# --------------------------------------------------------------------------- geometry


def test_bar_geometry_exact_strings():
    assert bar_text(0, 100, 0, 100, 10) == "██████████"
    assert bar_text(0, 50, 0, 100, 10) == "█████     "
    assert bar_text(0, 33, 0, 100, 10) == "███▎      "
    assert bar_text(12.5, 37.5, 0, 100, 10) == " ██▊      "  # start partial: ▐/█ plain
    assert bar_text(50, 50, 0, 100, 10) == "     ▏    "  # at least an eighth
    assert bar_text(100, 100, 0, 100, 10) == "         ▕"
    cells = bar_cells(12.5, 37.5, 0, 100, 10)
    assert (cells[1].char, cells[1].reverse) == ("▎", True)  # 6/8 filled on the right
    g = bar_geometry(10, 90, 0, 100, 8)
    # 10%..90% of 8 cells = eighths 6..58: 2/8 on the right of cell 0, 6 full, 2/8 of cell 7
    assert (g.lead, g.first, g.first_reverse, g.full, g.last) == (0, "▊", True, 6, "▎")


def test_bar_geometries_agree_with_the_scalar_version():
    starts = [i * 3.7 % 100 for i in range(200)]
    ends = [s + (i % 7) * 4.1 for i, s in enumerate(starts)]
    for width in (5, 17, 60):
        many = bar_geometries(starts, ends, 0, 130, width)
        for (s, e), got in zip(zip(starts, ends, strict=True), many, strict=True):
            g = bar_geometry(s, e, 0, 130, width)
            assert got == (g.lead, g.first, g.first_reverse, g.full, g.last)


def test_axis_and_palette():
    assert nice_step(10e9, 100) == 1_000_000_000
    axis = axis_labels(10e9, 50)
    assert axis == "0         2s        4s        6s        8s        "
    assert service_colour("payment") == service_colour("payment")


# --------------------------------------------------------------------------- list / show


def test_list_table_and_limit_note(demo):
    r = demo("traces", "list", "--sort", "duration", "--limit", "5")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["trace", "start", "duration", "spans"]
    assert len(lines) == 6 and all(len(ln) <= 100 for ln in lines)
    assert r.stderr.startswith("showing 5 of ")


def test_list_machine_formats(demo):
    r = demo("traces", "list", "--errors", "--limit", "3", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 3 and all(row["error"] == "true" for row in rows)
    r = demo("traces", "list", "-s", TRUTH.span_service, "--min-duration", "2s", "-n", "0",
             "-f", "ndjson")  # fmt: skip
    docs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert docs and all(d["duration_ns"] >= 2e9 for d in docs)
    assert r.stderr == ""


def test_list_bad_options_are_usage_errors(demo):
    for args in (["--attr", "nokey"], ["--min-duration", "soon"], ["--sort", "size"],
                 ["--since", "yesterday"]):  # fmt: skip
        r = demo("traces", "list", *args)
        assert r.exit_code == ExitCode.USAGE, args
        assert r.stdout == ""


def test_show_waterfall(demo):
    tid = slowest(demo)
    r = demo("traces", "show", tid)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"trace {tid} · ") and " spans · " in lines[0]
    assert lines[1].lstrip().startswith("0")
    assert all(len(ln) <= 100 for ln in lines)
    assert lines[2].startswith("┃ ")  # the root is on the critical path
    assert any("✗" in ln for ln in lines)
    assert "\x1b" not in r.stdout  # no colour when piped
    spans = json.loads(demo("traces", "show", tid, "-f", "json").stdout)["spans"]
    assert len(lines) == 2 + len(spans)


def test_show_collapse_folds_fast_subtrees(demo):
    tid = slowest(demo)
    full = demo("traces", "show", tid).stdout.splitlines()
    folded = demo("traces", "show", tid, "--collapse-below", "50ms").stdout.splitlines()
    assert len(folded) < len(full)
    assert any("⋯" in ln and "under 50ms" in ln for ln in folded)


def test_show_json_schema(demo):
    tid = slowest(demo)
    r = demo("traces", "show", tid[:12], "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["trace_id"] == tid
    assert {"trace_id", "spans", "critical_path", "warnings"} <= set(doc)
    for s in doc["spans"]:
        assert {
            "span_id", "parent_span_id", "service", "name", "depth", "start_offset_ns",
            "duration_ns", "self_time_ns", "critical", "status", "attributes",
        } <= set(s)  # fmt: skip
        assert s["self_time_ns"] >= 0 and isinstance(s["attributes"], dict)
    root = doc["spans"][0]
    assert root["parent_span_id"] is None and root["depth"] == 0
    ids = {s["span_id"] for s in doc["spans"]}
    assert all(s["parent_span_id"] in ids for s in doc["spans"][1:])
    path = doc["critical_path"]
    assert path[0]["start_offset_ns"] == root["start_offset_ns"]
    assert path[-1]["end_offset_ns"] == root["start_offset_ns"] + root["duration_ns"]
    assert all(a["end_offset_ns"] == b["start_offset_ns"] for a, b in itertools.pairwise(path))
    crit = {s["span_id"] for s in doc["spans"] if s["critical"]}
    assert {p["span_id"] for p in path} == crit


def test_show_span_rows_as_csv(demo):
    tid = slowest(demo)
    rows = list(csv.DictReader(io.StringIO(demo("traces", "show", tid, "-f", "csv").stdout)))
    assert rows and rows[0]["depth"] == "0" and "self_time_ns" in rows[0]


def test_show_unknown_and_bad_ids(demo):
    r = demo("traces", "show", "f" * 32)
    assert r.exit_code == ExitCode.NOT_FOUND
    assert r.stdout == "" and r.stderr.startswith("obsctl: error: no trace")
    r = demo("traces", "show", "xyz")
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""


def test_show_corpus_skew_notes(cli, tmp_path, corpus, monkeypatch):
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path / "skew.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(corpus / "traces" / "zipkin" / "skew.json")])
    monkeypatch.setenv("OBSCTL_STORE", str(path))
    r = cli("traces", "show", "1e223ff1f80f1c69")
    assert r.exit_code == 0
    assert "clock skew" in r.stderr and "skew" in r.stdout
    doc = json.loads(cli("traces", "show", "1e223ff1f80f1c69", "-f", "json").stdout)
    assert any("clock_skew" in s["flags"] for s in doc["spans"])
    assert doc["warnings"]


def test_hostile_text_stays_inert(cli, hostile_store, monkeypatch):
    monkeypatch.setenv("OBSCTL_STORE", str(hostile_store))
    monkeypatch.setenv("COLUMNS", "160")
    r = cli("traces", "show", "ab" * 16)
    assert r.exit_code == 0, r.stderr
    assert "\x1b" not in r.stdout and "[red]pwn[/red]\\x1b[2J" in r.stdout
    dot = cli("traces", "deps", "-f", "dot").stdout
    assert "\x1b" not in dot and '\\"q\\"' in dot
    mer = cli("traces", "deps", "-f", "mermaid").stdout
    assert "&lt;script&gt;" in mer and "&quot;q&quot;" in mer and "&#124;" in mer
    table = cli("traces", "services").stdout
    assert "\x1b" not in table


# --------------------------------------------------------------------------- many traces


def test_services(demo):
    r = demo("traces", "services", "--since", "15m")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["service", "operation", "calls", "rate/s"]
    assert lines[1].split()[0] == TRUTH.span_service
    rows = json.loads(demo("traces", "services", "-f", "json", "-n", "0").stdout)
    assert {"p50_ns", "p95_ns", "p99_ns", "self_ns", "self_share", "error_ratio"} <= set(rows[0])


def test_deps_formats(demo):
    r = demo("traces", "deps")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].split()[:3] == [
        "caller",
        "callee",
        "calls",
    ]
    dot = demo("traces", "deps", "--format", "dot").stdout
    assert dot.startswith("digraph services {") and dot.rstrip().endswith("}")
    assert f'-> "{TRUTH.span_service}"' in dot and "style=dashed" in dot
    mer = demo("traces", "deps", "--format", "mermaid").stdout
    assert mer.startswith("flowchart LR") and "-->|" in mer
    rows = json.loads(demo("traces", "deps", "-f", "json").stdout)
    assert {"caller", "callee", "calls", "errors", "p50_ns", "p95_ns", "external"} <= set(rows[0])
    assert demo("traces", "deps", "-f", "yaml").exit_code == ExitCode.USAGE


def test_critical_path(demo):
    r = demo("traces", "critical-path", "--since", "2026-03-26T16:32:00Z")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["service", "operation", "per", "trace"]
    assert lines[1].split()[0] == TRUTH.service
    assert "baseline" in lines[0] and "vs" in r.stdout.splitlines()[-1]
    rows = json.loads(demo("traces", "critical-path", "--since", "15m", "-f", "json").stdout)
    assert {"per_trace_ns", "share", "baseline_per_trace_ns", "change_ns"} <= set(rows[0])
    plain = json.loads(demo("traces", "critical-path", "--min-duration", "1s", "-f", "json").stdout)
    assert plain and "change_ns" not in plain[0]


def test_compare(demo):
    r = demo("traces", "compare", "--window", "2026-03-26T16:32:00Z..")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["score", "attribute", "value", "outliers", "baseline", "diff"]
    top = " ".join(lines[1:8])
    assert "service.version" in top
    assert any(ln.startswith("outliers ") and " baseline " in ln for ln in lines)
    assert "skipped id-like keys" in r.stderr
    rows = json.loads(demo("traces", "compare", "--slow", "-f", "json").stdout)
    assert {"scope", "key", "value", "outliers", "baseline", "diff", "score"} <= set(rows[0])
    r = demo("traces", "compare", "--errors", "-f", "csv")
    assert r.exit_code == 0
    assert next(csv.reader(io.StringIO(r.stdout)))[:3] == ["scope", "key", "value"]
    assert demo("traces", "compare", "--slow", "--errors").exit_code == ExitCode.USAGE
    assert demo("traces", "compare", "--slow", "--window", "5m").exit_code == ExitCode.USAGE


def test_errors(demo):
    r = demo("traces", "errors")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["service", "operation", "traces"]
    rows = json.loads(demo("traces", "errors", "-f", "json").stdout)
    assert rows and isinstance(rows[0]["examples"], list)
    assert demo("traces", "show", rows[0]["examples"][0]).exit_code == 0
