"""speedscope JSON ingest against the speedscope project's own sample files."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tests.conftest import CORPUS

SS = CORPUS / "profiles/speedscope"
VALID = sorted(p.name for p in SS.glob("*.json") if not p.name.startswith("invalid_"))


def stacks_by_profile(store) -> dict[int, dict[tuple[str, ...], float]]:
    out: dict[int, dict[tuple[str, ...], float]] = defaultdict(dict)
    for pid, frames, value in store.rows(
        "SELECT profile_id, [f.function FOR f IN stack], value FROM profile_samples"
    ):
        out[pid][tuple(frames)] = value
    return dict(out)


def test_corpus_has_the_expected_files():
    assert len(VALID) == 4
    assert len(list(SS.glob("invalid_*.json"))) == 2


@pytest.mark.parametrize("name", VALID)
def test_valid_corpus_files_load_every_profile(store, load, name):
    doc = json.loads((SS / name).read_text())
    (fr,) = load(SS / name).files
    assert fr.status == "loaded", fr.error
    assert (fr.format, fr.records, fr.rejected, fr.unit) == (
        "speedscope", len(doc["profiles"]), 0, "profiles"
    )  # fmt: skip
    assert store.scalar("SELECT count(*) FROM profiles") == len(doc["profiles"])
    rows = store.rows(
        "SELECT attributes->>'$.name', attributes->>'$.profile_kind', time FROM profiles"
        " ORDER BY profile_id"
    )
    assert rows == [(p["name"], p["type"], None) for p in doc["profiles"]]


def test_sampled_weights_are_summed_leaf_first_in_nanoseconds(store, load):
    path = SS / "simple-sampled.v0.1.2.speedscope.json"
    doc = json.loads(path.read_text())
    names = [f["name"] for f in doc["shared"]["frames"]]
    (prof,) = doc["profiles"]
    want: dict[tuple[str, ...], float] = defaultdict(float)
    for sample, weight in zip(prof["samples"], prof["weights"], strict=True):
        want[tuple(names[i] for i in reversed(sample))] += weight * 1e9
    load(path)
    assert stacks_by_profile(store) == {1: dict(want)}
    assert store.rows(
        "SELECT profile_type, sample_types, default_sample_type, duration_ns FROM profiles"
    ) == [("cpu", [{"type": "time", "unit": "nanoseconds"}], "time", 14_000_000_000)]
    assert store.scalar("SELECT DISTINCT unit FROM profile_samples") == "nanoseconds"


def test_evented_profile_equals_the_folded_original(corpus, store, load):
    # The speedscope sample 'simple.speedscope.json' was exported from folded simple.txt.
    load(SS / "simple.v0.0.1.evented.speedscope.json")
    load(SS / "simple-no-pretty-print.v0.0.1.evented.speedscope.json")
    load(corpus / "profiles/folded/speedscope_simple.txt")
    by_profile = stacks_by_profile(store)
    assert by_profile[1] == by_profile[3] == by_profile[2]
    assert by_profile[1] == {("c", "b", "a"): 5.0, ("d", "b", "a"): 4.0, ("b", "a"): 5.0}
    assert store.rows("SELECT DISTINCT sample_type, unit FROM profile_samples") == [
        ("samples", "count")
    ]


def test_two_profiles_keep_names_and_active_index(store, load):
    load(SS / "two-sampled.v0.6.0.speedscope.json")
    assert store.rows(
        "SELECT attributes->>'$.name', (attributes->>'$.active')::BOOLEAN,"
        " attributes->>'$.file_name', attributes->>'$.exporter', service_name"
        " FROM profiles ORDER BY profile_id"
    ) == [
        ("one", False, "Two Samples", "speedscope@0.6.0", "two-sampled"),
        ("two", True, "Two Samples", "speedscope@0.6.0", "two-sampled"),
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("invalid_incomplete-trace.speedscope.json", "frame 'A' opened at 0 is never closed"),
        ("invalid_out-of-order-events.speedscope.json",
         "event 7 closes frame 'B' at 4 while 'A' is the innermost open frame"),
    ],
)  # fmt: skip
def test_invalid_corpus_files_fail_cleanly(store, load, name, reason):
    (fr,) = load(SS / name).files
    assert fr.status == "failed"
    assert "no valid speedscope profile" in fr.error
    assert reason in fr.error
    for table in ("sources", "profiles", "profile_samples", "rejects"):
        assert store.scalar(f"SELECT count(*) FROM {table}") == 0


def test_valid_profiles_load_and_invalid_ones_are_rejected(store, load, tmp_path):
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {
            "frames": [
                {"name": "main", "file": "app.py", "line": 3},
                {"name": "work", "file": "app.py", "line": 10, "col": 4},
            ]
        },
        "profiles": [
            {
                "type": "evented", "name": "thread-1", "unit": "milliseconds",
                "startValue": 0, "endValue": 10,
                "events": [
                    {"type": "O", "frame": 0, "at": 0},
                    {"type": "O", "frame": 1, "at": 1},
                    {"type": "C", "frame": 1, "at": 3},
                    {"type": "C", "frame": 0, "at": 10},
                ],
            },
            {
                "type": "sampled", "name": "thread-2", "unit": "none",
                "startValue": 0, "endValue": 1,
                "samples": [[0, 5]], "weights": [1],
            },
            {
                "type": "sampled", "name": "thread-3", "unit": "bytes",
                "startValue": 0, "endValue": 1,
                "samples": [[0, 1], [0, 1], [0]], "weights": [100, 28, 0],
            },
        ],
    }  # fmt: skip
    path = tmp_path / "worker" / "profile.speedscope.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    (fr,) = load(path).files
    assert (fr.status, fr.records, fr.rejected) == ("loaded", 2, 1)
    assert store.rows("SELECT line, reason FROM rejects") == [
        (2, "profile 'thread-2': sample 1: frame index 5 out of range (0..1)")
    ]
    assert store.rows(
        "SELECT p.attributes->>'$.name', profile_type, sample_type, unit, stack, value"
        " FROM profile_samples JOIN profiles p USING (profile_id) ORDER BY 1, value"
    ) == [
        ("thread-1", "cpu", "time", "nanoseconds",
         [{"function": "work", "file": "app.py", "line": 10},
          {"function": "main", "file": "app.py", "line": 3}], 2e6),
        ("thread-1", "cpu", "time", "nanoseconds",
         [{"function": "main", "file": "app.py", "line": 3}], 8e6),
        ("thread-3", "heap", "space", "bytes",
         [{"function": "work", "file": "app.py", "line": 10},
          {"function": "main", "file": "app.py", "line": 3}], 128.0),
    ]  # fmt: skip
    assert store.scalar("SELECT DISTINCT service_name FROM profiles") == "worker"


def test_sniff():
    from obsctl.ingest.profiles_speedscope import sniff

    for p in SS.glob("*.json"):
        assert sniff(p.read_bytes(), p.name) >= 0.9
    assert sniff(b'{"resourceSpans": [{"scopeSpans": []}]}', "x.json") == 0
    assert sniff(b'{"data": [{"traceID": "a", "spans": []}]}', "x.json") == 0
