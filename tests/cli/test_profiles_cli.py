"""``obsctl profiles …``: stdout, stderr and exit code as a user sees them."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from obsctl.cli.exit_codes import ExitCode
from tests.conftest import CORPUS, FIXTURES

DEMO = FIXTURES / "checkout-incident"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the demo incident's profiles (loaded once)."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("demo-profiles-cli") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO / "profiles")])
    return path


@pytest.fixture
def demo(cli, demo_store, monkeypatch):
    """Run obsctl against the demo store, 100 columns wide."""
    monkeypatch.setenv("OBSCTL_STORE", str(demo_store))
    monkeypatch.setenv("COLUMNS", "100")
    return cli


@pytest.fixture(scope="module")
def truth():
    """The demo's ground truth and its onset as an RFC 3339 time."""
    from obsctl.demo.scenario import DEFAULT_SCENARIO, SCENARIOS, START

    scenario = SCENARIOS[DEFAULT_SCENARIO]
    onset = START + timedelta(minutes=scenario.truth.onset_minute)
    return scenario.truth, onset.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_list(demo):
    r = demo("profiles", "list", "--service", "payment")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["id", "service", "type", "sample", "types", "default"]
    assert len(lines) == 41 and all(" payment " in ln for ln in lines[1:])
    assert all(len(ln) <= 100 for ln in lines)
    rows = json.loads(demo("profiles", "list", "-f", "json").stdout)
    assert len(rows) == 240
    first = rows[0]
    assert first["sample_types"] == ["samples/count", "cpu/nanoseconds"]
    assert first["default_type"] == "cpu" and first["unit"] == "nanoseconds"
    assert first["time"].endswith("Z") and first["source"].endswith(".pb.gz")
    assert first["total"] > 0


def test_top_table(demo, truth):
    gt, _ = truth
    r = demo("profiles", "top", "--service", gt.service, "-n", "5")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{gt.service} · cpu (nanoseconds) · 40 profiles")
    assert lines[1].split() == ["flat", "flat%", "sum%", "cum", "cum%", "function"]
    assert len(lines) == 7
    assert lines[2].split()[-1] == gt.function  # the culprit burns the most CPU overall
    assert all(len(ln) <= 100 for ln in lines)
    assert "showing 5 of" in r.stderr


def test_top_json_and_cum_order(demo, truth):
    gt, _ = truth
    rows = json.loads(demo("profiles", "top", "-s", gt.service, "-f", "json").stdout)
    assert set(rows[0]) == {"function", "flat", "flat_pct", "sum_pct", "cum", "cum_pct"}
    assert sum(r["flat_pct"] for r in rows) == pytest.approx(100.0)
    flats = [r["flat"] for r in rows]
    assert flats == sorted(flats, reverse=True)
    by_cum = json.loads(demo("profiles", "top", "-s", gt.service, "--cum", "-f", "json").stdout)
    assert by_cum[0]["cum_pct"] == max(r["cum_pct"] for r in rows)  # a root frame
    cums = [r["cum"] for r in by_cum]
    assert cums == sorted(cums, reverse=True)
    two = json.loads(demo("profiles", "top", "-s", gt.service, "-n", "2", "-f", "json").stdout)
    assert two == rows[:2]


def test_top_sample_type_and_window(demo, truth):
    gt, onset = truth
    r = demo("profiles", "top", "-s", gt.service, "--sample-type", "samples", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and float(rows[0]["flat"]).is_integer()  # counts, not nanoseconds
    late = demo("profiles", "top", "-s", gt.service, "--since", onset, "-n", "1")
    assert f"{onset[:10]} {onset[11:19]}" in late.stdout.splitlines()[0]


def test_peek(demo, truth):
    gt, _ = truth
    short = gt.function.rsplit(".", 1)[-1]
    r = demo("profiles", "peek", short, "-s", gt.service)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["value", "of", "total", "of", "cum", "function"]
    me = [ln for ln in lines if ln.endswith(gt.function) and "↑" not in ln and "↓" not in ln]
    assert len(me) == 1 and "100.00%" in me[0]
    assert any("↑" in ln for ln in lines) and any("↓" in ln for ln in lines)
    assert lines[-1].rstrip().endswith("· (self)")
    assert f"is {gt.function}" in r.stderr
    rows = json.loads(demo("profiles", "peek", gt.function, "-s", gt.service, "-f", "json").stdout)
    assert {r["relation"] for r in rows} == {"caller", "function", "callee", "self"}
    assert set(rows[0]) == {"relation", "function", "value", "pct", "share"}


def test_tree(demo, truth):
    gt, _ = truth
    r = demo("profiles", "tree", gt.function, "-s", gt.service)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split()[:3] == ["value", "of", "total"]
    assert lines[2].rstrip().endswith(gt.function) and "100.00%" in lines[2]
    assert any("└─ " in ln for ln in lines)
    whole = demo("profiles", "tree", "-s", gt.service, "--depth", "2", "-f", "ndjson")
    rows = [json.loads(ln) for ln in whole.stdout.splitlines()]
    assert rows[0]["function"] == "(root)" and max(r["depth"] for r in rows) == 2
    assert set(rows[0]) == {"id", "parent", "depth", "function", "value", "self", "pct", "share"}


def test_flame_terminal_fits_the_width(demo, truth):
    gt, _ = truth
    r = demo("profiles", "flame", "-s", gt.service)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(gt.service)
    assert lines[1].startswith("│(root) 100.0%")  # no colour when not a terminal
    assert all(len(ln) <= 100 for ln in lines)
    assert "\x1b" not in r.stdout
    assert any(gt.function.rsplit(".", 1)[-1] in ln for ln in lines)


def test_flame_svg(demo, truth, tmp_path):
    gt, _ = truth
    out = tmp_path / "flame.svg"
    r = demo("profiles", "flame", "-s", gt.service, "--svg", out, "--title", "payment CPU")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and f"wrote {out}" in r.stderr
    root = ET.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    names = {g.get("data-n") for g in root.iter(f"{ns}g") if g.get("class") == "f"}
    assert gt.function in names
    piped = demo("profiles", "flame", "-s", gt.service, "--svg", "-")
    assert piped.stdout.startswith("<?xml") and ET.fromstring(piped.stdout.encode())


def test_diff_puts_the_culprit_first(demo, truth, tmp_path):
    gt, onset = truth
    base = f"..{onset}"
    svg = tmp_path / "diff.svg"
    args = ["profiles", "diff", "-s", gt.service, "--base", base, "--target", f"{onset}.."]
    r = demo(*args, "--svg", svg)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert " → target " in lines[0] and "profiles" in lines[0]
    assert lines[1].split()[:4] == ["base", "cum", "target", "cum"]
    assert lines[2].rstrip().endswith(gt.function[-30:])  # long names lose their start
    assert lines[-1].startswith("target ") and " vs base " in lines[-1]
    assert all(len(ln) <= 100 for ln in lines)
    assert ET.parse(svg).getroot() is not None and f"wrote {svg}" in r.stderr
    rows = json.loads(demo(*args, "-f", "json").stdout)
    assert rows[0]["function"] == gt.function
    assert rows[0]["cum_change"] > 0 and rows[0]["target_cum_pct"] > rows[0]["base_cum_pct"]
    assert {"base_flat_pct", "target_flat_pct", "flat_change", "score"} <= set(rows[0])


def test_diff_default_windows(demo, truth):
    gt, _ = truth
    r = demo("profiles", "diff", "-s", gt.service, "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)[0]["function"] == gt.function  # last 15m vs before


@pytest.mark.parametrize("fmt", ["folded", "speedscope"])
def test_export_round_trips_through_ingest(demo, cli, truth, tmp_path, monkeypatch, fmt):
    gt, _ = truth
    out = tmp_path / f"payment.{fmt}"
    r = demo("profiles", "export", "--format", fmt, out, "-s", gt.service)
    assert r.exit_code == 0, r.stderr
    assert f"wrote {out}" in r.stderr
    before = json.loads(demo("profiles", "top", "-s", gt.service, "-f", "json").stdout)
    monkeypatch.setenv("OBSCTL_STORE", str(tmp_path / "again.duckdb"))
    assert cli("ingest", out, "--service", gt.service).exit_code == 0
    after = json.loads(cli("profiles", "top", "-f", "json").stdout)
    assert [r["function"] for r in after] == [r["function"] for r in before]
    for a, b in zip(after, before, strict=True):
        assert a["flat"] == pytest.approx(b["flat"]) and a["cum"] == pytest.approx(b["cum"])
    if fmt == "speedscope":
        doc = json.loads(out.read_text())
        assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"


def test_export_to_stdout(demo):
    r = demo("profiles", "export", "-", "-s", "cart")
    assert r.exit_code == 0, r.stderr
    assert all(ln.rsplit(" ", 1)[1].isdigit() for ln in r.stdout.splitlines())


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["top", "-s", "nope"], ExitCode.NOT_FOUND, "no profiles match service nope"),
        (["top", "-t", "alloc_space"], ExitCode.NOT_FOUND, "no selected profile has sample"),
        (["peek", "no.such.function"], ExitCode.NOT_FOUND, "no function 'no.such.function'"),
        (["peek", "ServeHTTP"], ExitCode.USAGE, "part of several function names"),
        (["tree", "nothing-like-it"], ExitCode.NOT_FOUND, "no function"),
        (["top", "--since", "yesterday"], ExitCode.USAGE, "--since 'yesterday'"),
        (["diff", "--target", "soon"], ExitCode.USAGE, "--target 'soon'"),
        (["diff", "--target", "1h..", "--base", "2000-01-01..2000-01-02"],
         ExitCode.NOT_FOUND, "base window"),
        (["export", "--format", "pprof", "x.pb"], ExitCode.USAGE, "choose folded or speedscope"),
    ],
)  # fmt: skip
def test_errors(demo, args, code, message):
    r = demo("profiles", *args)
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("obsctl: error: ") and message in r.stderr


def test_empty_store_says_what_to_do(cli):
    cli("ingest", CORPUS / "logs" / "logfmt" / "lnav_grafana.0.logfmt")
    r = cli("profiles", "top")
    assert r.exit_code == ExitCode.NOT_FOUND
    assert "no profiles are loaded" in r.stderr
    listed = cli("profiles", "list")
    assert listed.exit_code == 0 and "no profiles match" in listed.stderr


def test_corpus_pprof_heap_top_in_bytes(cli):
    cli("ingest", CORPUS / "profiles" / "pprof" / "parca_alloc_objects.heap.pb.gz")
    r = cli("profiles", "top", "-n", "3")
    assert r.exit_code == 0, r.stderr
    head = r.stdout.splitlines()[0]
    assert "alloc_space (bytes)" in head
    assert any(u in r.stdout for u in ("KiB", "MiB", "GiB"))
