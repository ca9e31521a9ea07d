"""``obsctl investigate``: the demo incident end to end, the JSON schema, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obsctl.cli.exit_codes import ExitCode
from obsctl.demo.scenario import SCENARIOS
from tests.conftest import FIXTURES

DEMO = FIXTURES / "checkout-incident"
TRUTH = SCENARIOS["payment-cpu"]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("investigate") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO)])
    return path


@pytest.fixture(scope="module")
def doc(demo_store: Path) -> dict:
    from typer.testing import CliRunner

    from obsctl.cli import app

    r = CliRunner().invoke(app, ["--store", str(demo_store), "investigate", "-f", "json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_names_the_culprit_service_and_function_first(doc):
    top = doc["suspects"][0]
    assert top["service"] == TRUTH.truth.service
    assert top["function"] == TRUTH.truth.function
    assert top["confidence"] == "high"
    # evidence from every step that has something to say, with ids to follow up
    steps = {e["step"] for e in top["evidence"]}
    assert {"traces", "metrics", "logs", "profiles"} <= steps
    assert all(e["text"] for e in top["evidence"])
    assert any(e["command"] and e["command"].startswith("obsctl ") for e in top["evidence"])


def test_finds_the_window_from_the_data(doc):
    from obsctl.analysis.investigate import rfc3339

    onset = TRUTH.onset_ns
    start = doc["window"]["start"]
    # the window opens at the first signs (warnings after the deploy), at most a few
    # minutes before the symptoms' onset and not after it
    assert rfc3339(onset - 5 * 60 * 10**9) <= start <= rfc3339(onset + 60 * 10**9)
    assert doc["baseline"]["end"] == start
    assert doc["window"]["found_from"] != "given"


def test_json_schema(doc):
    assert set(doc) >= {"window", "baseline", "steps", "suspects", "timeline", "found"}
    assert [s["step"] for s in doc["steps"]] == ["logs", "metrics", "traces", "profiles"]
    for s in doc["suspects"]:
        assert set(s) >= {"rank", "service", "operation", "function", "score", "evidence"}
    scores = [s["score"] for s in doc["suspects"]]
    assert scores == sorted(scores, reverse=True)
    times = [t["time"] for t in doc["timeline"]]
    assert times == sorted(times)
    logs = doc["steps"][0]["findings"]
    assert logs["first_error"]["location"].endswith(tuple(f":{n}" for n in range(1, 10**6)))


def test_table_view_has_the_four_steps_and_suspects(cli, demo_store, monkeypatch):
    monkeypatch.setenv("OBSCTL_STORE", str(demo_store))
    monkeypatch.setenv("COLUMNS", "120")
    r = cli("investigate")
    assert r.exit_code == 0, r.stderr
    for title in ("LOGS", "METRICS", "TRACES", "PROFILES", "SUSPECTS"):
        assert title in r.stdout
    assert TRUTH.truth.function in r.stdout
    assert "\x1b[" not in r.stdout  # not a terminal: no colour


def test_quiet_data_exits_nothing_found(cli, tmp_path):
    lines = [
        f'time=2026-03-26T16:{m:02d}:{s:02d}Z level=info service=api msg="request served" n={m}'
        for m in range(10, 50)
        for s in (0, 20, 40)
    ]
    f = tmp_path / "quiet.logfmt"
    f.write_text("\n".join(lines) + "\n")
    r = cli("investigate", f)
    assert r.exit_code == ExitCode.NOTHING_FOUND, r.stderr
    assert "nothing left its baseline" in r.stderr


def test_empty_store_is_not_found(cli):
    r = cli("investigate")
    assert r.exit_code == ExitCode.NOT_FOUND


def test_readme_documents_the_json_schema(doc):
    """The README's schema table names exactly the top-level fields the JSON carries,
    and each step's documented findings keys are the ones emitted."""
    import re

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("### Investigate") :]
    section = section[: section.index("\n### ")]
    fields = re.findall(r"^\| `([a-z_\[\]]+)` \|", section, flags=re.M)
    top = {f for f in fields if "[" not in f}
    assert top == set(doc)
    for step in doc["steps"]:
        row = next(line for line in section.splitlines() if f"`steps[{step['step']}]" in line)
        for key in step["findings"]:
            assert f"`{key}" in row, (step["step"], key)


def test_table_view_shows_each_steps_evidence_for_the_culprit(cli, demo_store, monkeypatch):
    monkeypatch.setenv("OBSCTL_STORE", str(demo_store))
    monkeypatch.setenv("COLUMNS", "160")
    r = cli("investigate")
    suspects = r.stdout[r.stdout.index("SUSPECTS") :]
    first = suspects.split("\n  2  ")[0]
    for step in ("logs", "metrics", "traces", "profiles"):
        assert f"     {step} " in first, step
