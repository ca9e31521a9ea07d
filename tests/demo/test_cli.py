"""``obsctl demo`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path


def test_demo_writes_a_bundle_and_lists_it(cli, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = cli("demo", out, "--scale", "0.2", "--seed", "3", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    paths = [r["path"] for r in rows]
    assert paths[:3] == ["traces/otel-traces.jsonl", "logs/otel-logs.jsonl", "logs/cart.jsonl"]
    assert "profiles/payment/" in paths
    payment = next(r for r in rows if r["path"] == "profiles/payment/")
    assert payment["files"] == payment["records"] == 40
    assert (out / "traces/otel-traces.jsonl").stat().st_size == rows[0]["bytes"]
    assert f"obsctl ingest {out}" in result.stderr


def test_demo_refuses_a_non_empty_directory_unless_forced(cli, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    result = cli("demo", tmp_path, "--scale", "0.1")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("obsctl: error: ") and "--force" in result.stderr
    forced = cli("demo", tmp_path, "--scale", "0.1", "--gzip", "--force", "-f", "csv")
    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout.startswith('"path","format","signal","files","records","bytes"\n')
    assert (tmp_path / "traces/otel-traces.jsonl.gz").is_file()
    assert (tmp_path / "keep.txt").read_text() == "x"


def test_demo_bad_scenario_is_a_usage_error(cli, tmp_path: Path) -> None:
    result = cli("demo", tmp_path / "b", "--scenario", "meltdown")
    assert result.exit_code == 2
    assert "unknown scenario 'meltdown'" in result.stderr
    assert result.stdout == ""


def test_demo_then_ingest_loads_everything(cli, tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert cli("demo", out, "--scale", "0.1", "--scenario", "db-slow").exit_code == 0
    result = cli("ingest", out, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 247
    assert {r["status"] for r in rows} == {"loaded"}
    assert sum(r["rejected"] for r in rows) == 0


def test_help_lists_every_scenario() -> None:
    from obsctl.cli.demo import SCENARIO_NAMES
    from obsctl.demo.scenario import DEFAULT_SCENARIO, SCENARIOS

    assert tuple(SCENARIOS) == SCENARIO_NAMES
    assert SCENARIO_NAMES[0] == DEFAULT_SCENARIO
