"""Folded/collapsed stacks ingest against the real corpus (FlameGraph and speedscope files).

Expected stacks are computed here with the stdlib, independently of the module.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import CORPUS

FOLDED_FILES = sorted(p.name for p in (CORPUS / "profiles/folded").glob("*.txt"))


def expected(path: Path) -> tuple[dict[tuple[str, ...], float], list[int]]:
    """Leaf-first stack → summed count, and the 1-based numbers of invalid lines."""
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("utf-8-sig")
    stacks: dict[tuple[str, ...], float] = defaultdict(float)
    bad = []
    for i, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r").rstrip()
        if not line.strip() or line.lstrip().startswith(("#", "//")):
            continue
        parts = re.split(r"[ \t]+", line)
        if len(parts) < 2 or not re.fullmatch(r"\d+(\.\d*)?", parts[-1]):
            bad.append(i)
            continue
        frames = line[: line.rfind(parts[-1])].rstrip()
        if not frames.strip():
            bad.append(i)
            continue
        stacks[tuple(reversed(frames.split(";")))] += float(parts[-1])
    return dict(stacks), bad


def stored(store) -> dict[tuple[str, ...], float]:
    rows = store.rows(
        "SELECT [f.function FOR f IN stack], value FROM profile_samples"
        " WHERE sample_type = 'samples'"
    )
    out: dict[tuple[str, ...], float] = {}
    for frames, value in rows:
        key = tuple(frames)
        assert key not in out, f"identical stack stored twice: {key}"
        out[key] = value
    return out


def test_corpus_has_the_expected_files():
    assert len(FOLDED_FILES) == 15


@pytest.mark.parametrize("name", FOLDED_FILES)
def test_folded_corpus_file(corpus, store, load, name):
    path = corpus / "profiles/folded" / name
    want, bad = expected(path)
    (fr,) = load(path).files
    assert fr.status == "loaded", fr.error
    assert (fr.format, fr.records, fr.rejected, fr.unit) == ("folded", 1, len(bad), "profiles")
    assert stored(store) == want
    assert store.rows(
        "SELECT profile_type, sample_types, default_sample_type, time, service_name FROM profiles"
    ) == [
        (
            "cpu",
            [{"type": "samples", "unit": "count"}],
            "samples",
            None,
            name.removesuffix(".txt"),
        )
    ]
    assert store.scalar(
        "SELECT count(*) FROM profile_samples WHERE unit = 'count' AND labels IS NULL"
        " AND list_bool_and([f.file IS NULL AND f.line IS NULL FOR f IN stack])"
    ) == len(want)


def test_repeated_stacks_are_summed_leaf_first(corpus, store, load):
    load(corpus / "profiles/folded/speedscope_simple.txt")
    assert store.rows(
        "SELECT [f.function FOR f IN stack], value FROM profile_samples ORDER BY value, len(stack)"
    ) == [(["d", "b", "a"], 4.0), (["b", "a"], 5.0), (["c", "b", "a"], 5.0)]


def test_frames_with_spaces_split_on_last_space(corpus, store, load):
    load(corpus / "profiles/folded/flamegraph_perf-vertx-stacks-01-collapsed-all.txt")
    frames = {
        r[0] for r in store.rows("SELECT DISTINCT unnest(stack).function FROM profile_samples")
    }
    assert "oopDesc* PSPromotionManager::copy_to_survivor_space<false>_[j]" in frames or any(
        " " in f for f in frames
    )
    assert all(not re.search(r" \d+$", f) for f in frames)


def test_pid_prefix_and_large_counts(corpus, store, load):
    load(corpus / "profiles/folded/flamegraph_perf-iperf-stacks-pidtid-01-collapsed-pid.txt")
    load(corpus / "profiles/folded/flamegraph_perf-dd-stacks-01-collapsed-all.txt")
    roots = store.rows(
        "SELECT DISTINCT p.service_name, stack[-1].function FROM profile_samples"
        " JOIN profiles p USING (profile_id) ORDER BY ALL"
    )
    assert ("flamegraph_perf-dd-stacks-01-collapsed-all", "dd") in roots
    assert any(r[1].startswith("iperf-") for r in roots)
    assert (
        store.scalar(
            "SELECT value FROM profile_samples WHERE stack[1].function = '__srcu_read_unlock_[k]'"
            " AND stack[3].function = 'vfs_write_[k]' AND stack[-2].function = '[unknown]'"
        )
        == 20202020.0
    )


def test_invalid_line_rejected_with_line_number(corpus, store, load):
    (fr,) = load(corpus / "profiles/folded/speedscope_simple-with-invalids.txt").files
    assert (fr.records, fr.rejected) == (1, 1)
    assert fr.first_reject.line == 8
    assert store.rows("SELECT line, excerpt FROM rejects") == [(8, "invalid line")]


def test_utf16_and_crlf_give_the_same_profile(corpus, store, load):
    for name in ("speedscope_simple.txt", "speedscope_simple-crlf.txt",
                 "speedscope_simple-utf16-le.txt", "speedscope_simple-utf16-be.txt"):  # fmt: skip
        load(corpus / "profiles/folded" / name)
    per_profile = store.rows(
        "SELECT profile_id, list(([f.function FOR f IN stack], value) ORDER BY value, len(stack))"
        " FROM profile_samples GROUP BY 1 ORDER BY 1"
    )
    assert len(per_profile) == 4
    assert len({repr(p[1]) for p in per_profile}) == 1


def test_handmade_edge_cases(store, load, tmp_path):
    path = tmp_path / "api" / "cpu.folded"
    path.parent.mkdir()
    path.write_bytes(
        "\ufeffmain;std::vector<int, alloc> push   12345678901234\r\n"
        "\r\n"
        "// comment\n"
        "main;work 2.5\n"
        "main;work 1\n"
        "no count here\n"
        " 7\n"
        "main;émoji ☃ 3".encode()
    )
    (fr,) = load(path).files
    assert (fr.status, fr.format, fr.records, fr.rejected) == ("loaded", "folded", 1, 2)
    assert store.rows("SELECT line FROM rejects ORDER BY line") == [(6,), (7,)]
    assert store.rows(
        "SELECT [f.function FOR f IN stack], value, service_name FROM profile_samples"
        " JOIN profiles USING (profile_id) ORDER BY value"
    ) == [
        (["émoji ☃", "main"], 3.0, "api"),
        (["work", "main"], 3.5, "api"),
        (["std::vector<int, alloc> push", "main"], 12345678901234.0, "api"),
    ]


def test_file_without_any_stack_fails_cleanly(store, load, tmp_path):
    path = tmp_path / "x.collapsed"
    path.write_text("# only a comment\nnot a stack\n")
    (fr,) = load(path, format="collapsed").files
    assert fr.status == "failed"
    assert "no folded stack lines" in fr.error and "line 2" in fr.error
    assert store.scalar("SELECT count(*) FROM sources") == 0


def test_sniff_claims_folded_not_prometheus_or_logs():
    from obsctl.ingest.profiles_folded import sniff

    assert sniff(b"a;b;c 1\na;b 5", "x.txt") >= 0.9
    assert sniff(b"# HELP up x\n# TYPE up gauge\nup 1\n", "m.txt") == 0
    assert sniff(b"2024-01-01 12:00:00 INFO started in 5\n", "app.log") == 0
    assert sniff(b'{"a": 1}\n', "x.json") == 0
    # W3C/IIS access log: '#' headers, ';' in user agents, lines ending in numbers
    iis = (CORPUS / "logs/access/lnav_w3c_big.iis.log").read_bytes()[: 64 << 10]
    assert sniff(iis, "lnav_w3c_big.iis.log") == 0
