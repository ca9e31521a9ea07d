"""The generator: the committed fixture is what it writes, deterministically, at any scale."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.demo.conftest import BUNDLE, FIXTURE_ARGS


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _content(path: Path) -> bytes:
    """A file's content; gzip files decompressed (zlib builds may compress differently)."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_committed_fixture_is_what_the_generator_writes(tmp_path: Path) -> None:
    from obsctl.demo import generate

    summary = generate(tmp_path, **FIXTURE_ARGS)
    fresh, committed = _files(tmp_path), _files(BUNDLE)
    assert sorted(fresh) == sorted(committed), (
        "fixtures/checkout-incident is stale: regenerate it with"
        " `obsctl demo fixtures/checkout-incident --force --gzip`"
    )
    stale = [rel for rel in fresh if _content(fresh[rel]) != _content(committed[rel])]
    assert stale == [], f"regenerate fixtures/checkout-incident; differing: {stale[:5]}"
    assert sorted(f.path for f in summary.files) == sorted(fresh)
    assert summary.bytes <= 4 * 1024 * 1024


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    from obsctl.demo import generate

    args = {"scenario": "gateway-errors", "scale": 0.3}
    generate(tmp_path / "a", seed=3, gzip=True, **args)
    generate(tmp_path / "b", seed=3, gzip=True, **args)
    generate(tmp_path / "c", seed=4, gzip=True, **args)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert sorted(a) == sorted(b)
    assert all(a[rel].read_bytes() == b[rel].read_bytes() for rel in a)  # gzip too (mtime 0)
    assert (
        a["traces/otel-traces.jsonl.gz"].read_bytes()
        != c["traces/otel-traces.jsonl.gz"].read_bytes()
    )


def test_scale_multiplies_the_traffic_not_the_story() -> None:
    from obsctl.demo.scenario import SCENARIOS
    from obsctl.demo.traffic import simulate

    small = simulate(SCENARIOS["payment-cpu"], scale=0.5, seed=1)
    large = simulate(SCENARIOS["payment-cpu"], scale=2, seed=1)
    assert large.request_count / small.request_count == pytest.approx(4, rel=0.1)
    assert len(large.spans) / len(small.spans) == pytest.approx(4, rel=0.15)
    assert [i.pod for i in large.instances] == [i.pod for i in small.instances]


def test_summary_counts_what_was_written(tmp_path: Path) -> None:
    from obsctl.demo import generate

    summary = generate(tmp_path, scale=0.2, seed=5)
    by_path = {f.path: f for f in summary.files}
    spans = 0
    for line in (tmp_path / "traces/otel-traces.jsonl").open():
        request = json.loads(line)
        for rs in request["resourceSpans"]:
            spans += sum(len(ss["spans"]) for ss in rs["scopeSpans"])
    assert by_path["traces/otel-traces.jsonl"].records == spans > 0
    assert by_path["logs/postgres.log"].format == "postgres"
    assert by_path["metrics/node.prom"].records == sum(
        1 for line in (tmp_path / "metrics/node.prom").open() if not line.startswith("#")
    )
    jsonl = (tmp_path / "logs/cart.jsonl").read_text().splitlines()
    assert by_path["logs/cart.jsonl"].records == len(jsonl)
    assert summary.records("profiles") == 240
    assert all(f.bytes == (tmp_path / f.path).stat().st_size for f in summary.files)


def test_regenerating_replaces_earlier_demo_files_only(tmp_path: Path) -> None:
    from obsctl.demo import bundle_files, generate

    generate(tmp_path, scale=0.1)
    (tmp_path / "notes.txt").write_text("mine")
    generate(tmp_path, scale=0.1, gzip=True)
    names = [p.relative_to(tmp_path).as_posix() for p in bundle_files(tmp_path)]
    assert "traces/otel-traces.jsonl.gz" in names
    assert not [n for n in names if n.endswith((".jsonl", ".prom", ".log", ".logfmt"))]
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "nope"}, "unknown scenario 'nope'"),
        ({"scale": 0}, "scale must be between"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    from obsctl.demo import generate
    from obsctl.errors import UsageError

    with pytest.raises(UsageError, match=message):
        generate(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_every_scenario_documents_its_ground_truth() -> None:
    from obsctl.demo.scenario import SCENARIOS, START
    from obsctl.demo.stacks import CATALOGS

    assert START.isoformat() == "2026-03-26T16:12:00+00:00"
    for sc in SCENARIOS.values():
        t = sc.truth
        assert 0 < t.onset_minute < sc.minutes
        assert t.operation and t.span_service and t.span_kind in ("SERVER", "CLIENT")
        assert t.first_log and t.cause
        if t.function is not None:
            assert sc.culprit_code is not None and sc.culprit_code.function == t.function
            stacks = CATALOGS[sc.culprit_code.service].culprit
            assert all(t.function in stack.split(";") for _, stack in stacks)
