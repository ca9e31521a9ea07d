"""pprof protobuf ingest, checked against the real corpus and pprof's own ``-top`` output.

Expected figures come from outside the module under test: sample counts from a small
stdlib protobuf wire walker written here, flat/total figures from
``profiles/pprof_top/NAME.N.top.txt`` (``go tool pprof -top -symbolize=none``).
"""

from __future__ import annotations

import gzip
import random
import re
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS

PPROF_FILES = sorted(p.name for p in (CORPUS / "profiles/pprof").glob("*.pb.gz"))


# ---- an independent, minimal protobuf reader (stdlib only) ---------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of one message (value: int or bytes)."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wire == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(wire)
        yield num, wire, val


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def wire_facts(path: Path) -> tuple[int, int, int]:
    """(samples, sample types, non-zero sample values) read straight off the wire."""
    data = gzip.decompress(path.read_bytes())
    samples = types = nonzero = 0
    for num, _, val in _fields(data):
        if num == 1:
            types += 1
        elif num == 2:
            samples += 1
            for snum, swire, sval in _fields(val):
                if snum != 2:
                    continue
                if swire == 2:  # packed
                    p = 0
                    while p < len(sval):
                        v, p = _varint(sval, p)
                        nonzero += _signed(v) != 0
                else:
                    nonzero += _signed(sval) != 0
    return samples, types, nonzero


# ---- pprof -top parsing ---------------------------------------------------------------

_SCALE = {
    "": 1, "ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "mins": 60e9, "hrs": 3600e9,
    "B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4,
}  # fmt: skip
_QTY = re.compile(r"^(-?[0-9.]+)([a-zµA-Z]*)$")


def _qty(text: str) -> tuple[float, float]:
    """A pprof quantity ('7.12s', '1.68MB', '24029') → (base value, rounding tolerance)."""
    m = _QTY.match(text)
    assert m, text
    num, unit = m.groups()
    decimals = len(num.split(".")[1]) if "." in num else 0
    scale = _SCALE[unit]
    return float(num) * scale, 0.5 * 10**-decimals * scale


def parse_top(path: Path) -> dict:
    lines = path.read_text().splitlines()
    out: dict = {"type": None, "rows": []}
    for i, line in enumerate(lines):
        if line.startswith("Type: "):
            out["type"] = line[6:].strip()
        m = re.match(r"Showing nodes accounting for (\S+), (\S+)% of (\S+) total", line)
        if m:
            out["total"] = _qty(m.group(3))
        if line.split()[:2] == ["flat", "flat%"]:
            for row in lines[i + 1 :]:
                parts = row.split(None, 5)
                name = re.sub(r" \((partial-)?inline\)$", "", parts[5])
                out["rows"].append((name, _qty(parts[0])[0], float(parts[1].rstrip("%"))))
            break
    return out


# ---- tests ------------------------------------------------------------------------------


def test_corpus_has_the_expected_files():
    assert len(PPROF_FILES) == 18


@pytest.mark.parametrize("name", PPROF_FILES)
def test_pprof_file_matches_pprof_top(corpus, store, load, name):
    path = corpus / "profiles/pprof" / name
    report = load(path)
    (fr,) = report.files
    assert fr.status == "loaded", fr.error
    assert (fr.format, fr.records, fr.rejected, fr.unit) == ("pprof", 1, 0, "profiles")

    samples, ntypes, nonzero = wire_facts(path)
    assert samples >= 1
    assert store.scalar("SELECT count(*) FROM profile_samples") == nonzero
    (types,) = store.rows("SELECT sample_types FROM profiles")[0]
    assert len(types) == ntypes

    stem = name.removesuffix(".pb.gz")
    tops = sorted((corpus / "profiles/pprof_top").glob(f"{stem}.*.top.txt"))
    assert len(tops) == ntypes
    for top_path in tops:
        n = int(top_path.name.removeprefix(stem + ".").split(".")[0])
        top = parse_top(top_path)
        stype = types[n]["type"]
        if top["type"] is not None:
            assert stype == top["type"]
        total = store.scalar(
            "SELECT coalesce(sum(abs(value)), 0) FROM profile_samples WHERE sample_type = ?",
            [stype],
        )
        want, tol = top["total"]
        assert abs(total - want) <= tol + 1e-9, (top_path.name, total, want)
        flat = dict(
            store.rows(
                "SELECT stack[1].function, sum(value) FROM profile_samples"
                " WHERE sample_type = ? GROUP BY 1",
                [stype],
            )
        )
        assert top["rows"], top_path.name
        for fn, pprof_flat, pprof_pct in top["rows"]:
            ours = flat.get(fn, 0.0)
            pct = 100.0 * abs(ours) / total if total else 0.0  # pprof prints |flat|%
            assert abs(pct - pprof_pct) <= 0.05, (top_path.name, fn, pct, pprof_pct)
            if pprof_flat:
                assert fn in flat, (top_path.name, fn)


def test_large_cpu_profile_loads_fast(corpus, store, load):
    path = corpus / "profiles/pprof/google_proftest_large.cpu.pb.gz"
    start = time.perf_counter()
    report = load(path)
    elapsed = time.perf_counter() - start
    assert report.files[0].status == "loaded"
    assert elapsed < 3.0, f"large.cpu took {elapsed:.2f}s"
    samples, _, _ = wire_facts(path)
    assert samples == 20430
    assert store.scalar(
        "SELECT count(*) FROM profile_samples WHERE sample_type = 'samples'"
    ) == store.scalar("SELECT count(*) FROM profile_samples WHERE sample_type = 'cpu'")
    assert store.scalar("SELECT max(len(stack)) FROM profile_samples") == 62


def test_profile_header_fields(corpus, store, load):
    load(corpus / "profiles/pprof/google_report_sample.cpu.pb.gz")
    row = store.rows(
        "SELECT service_name, profile_type, sample_types, default_sample_type, period_type,"
        " period_unit, period, time::VARCHAR, duration_ns, attributes->>'$.main_binary'"
        " FROM profiles"
    )[0]
    assert row == (
        "google_report_sample.cpu",
        "cpu",
        [{"type": "samples", "unit": "count"}, {"type": "cpu", "unit": "nanoseconds"}],
        "cpu",  # no default_sample_type in the file: pprof takes the last type
        "cpu",
        "nanoseconds",
        10000000.0,
        "2017-09-29 20:57:59.25723537",
        2002012950,
        "/usr/local/google/home/sanjay/go/src/github.com/google/pprof/internal/report/"
        "testdata/sample.bin",
    )


def test_default_sample_type_and_heap_kind(corpus, store, load):
    load(corpus / "profiles/pprof/parca_alloc_objects.heap.pb.gz")
    load(corpus / "profiles/pprof/google_driver_go.nomappings.crash.pb.gz")
    load(corpus / "profiles/pprof/parca_fgprof.wall.pb.gz")
    rows = store.rows(
        "SELECT service_name, profile_type, default_sample_type, time::VARCHAR FROM profiles"
        " ORDER BY profile_id"
    )
    assert rows == [
        ("parca_alloc_objects.heap", "alloc", "alloc_space", "2020-12-17 10:08:38.549304626"),
        ("google_driver_go.nomappings.crash", "heap", "inuse_space",
         "2017-02-17 17:15:31.621578004"),
        ("parca_fgprof.wall", "wall", "time", "2022-12-01 08:58:12.670395"),
    ]  # fmt: skip


def test_inlined_frames_are_separate_entries_leaf_first(corpus, store, load):
    load(corpus / "profiles/pprof/google_report_sample.cpu.pb.gz")
    stack = store.rows(
        "SELECT stack FROM profile_samples WHERE sample_type = 'cpu'"
        " AND stack[1].function = 'math.Abs' AND stack[1].line = 16 LIMIT 1"
    )[0][0]
    # math.Abs is inlined into main.busyLoop: one location, two lines, innermost first.
    assert [f["function"] for f in stack] == [
        "math.Abs", "main.busyLoop", "main.main", "runtime.main"
    ]  # fmt: skip
    assert stack[0] == {
        "function": "math.Abs",
        "file": "/usr/lib/google-golang/src/math/abs.go",
        "line": 16,
    }
    assert stack[1]["line"] == 37


def test_labels_string_and_numeric(corpus, store, load):
    load(corpus / "profiles/pprof/parca_labels.cpu.pb.gz")
    load(corpus / "profiles/pprof/parca_alloc_objects.heap.pb.gz")
    apis = store.rows(
        "SELECT DISTINCT labels->>'$.api' FROM profile_samples WHERE labels->>'$.api' IS NOT NULL"
        " ORDER BY 1"
    )
    assert apis and all(isinstance(a, str) and a for (a,) in apis)
    assert store.scalar(
        "SELECT count(*) FROM profile_samples WHERE json_type(labels->'$.bytes') = 'UBIGINT'"
    ) == store.scalar(
        "SELECT count(*) FROM profile_samples ps JOIN profiles p USING (profile_id)"
        " WHERE p.service_name = 'parca_alloc_objects.heap'"
    )
    assert (
        store.scalar(
            "SELECT count(*) FROM profile_samples WHERE sample_type = 'alloc_space'"
            " AND labels = '{\"bytes\":1048576}'"
        )
        > 0
    )
    # numeric labels without num_unit: no label_units recorded
    assert (
        store.scalar(
            "SELECT attributes->'$.label_units' FROM profiles"
            " WHERE service_name = 'parca_alloc_objects.heap'"
        )
        is None
    )


def test_unsymbolized_locations_are_named_like_pprof(corpus, store, load):
    load(corpus / "profiles/pprof/google_driver_cppbench.cpu_no_samples_type.pb.gz")
    load(corpus / "profiles/pprof/google_driver_go.nomappings.crash.pb.gz")
    names = {
        r[0] for r in store.rows("SELECT DISTINCT unnest(stack).function FROM profile_samples")
    }
    assert {"[cppbench_server_main]", "[libc-2.15.so]", "<unknown>"} <= names
    assert store.scalar(
        "SELECT DISTINCT stack[1].file FROM profile_samples"
        " WHERE stack[1].function = '[libc-2.15.so]'"
    ).endswith("/libc-2.15.so")


LEGACY = {
    "google_cppbench.heap.legacy.txt": "legacy text profile",
    "google_gobench.cpu.legacy": "legacy binary CPU profile",
    "google_cppbench.heap.legacy.string": "pprof text dump",
    "google_gobench.cpu.legacy.string": "pprof text dump",
}


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_profiles_are_refused_with_a_conversion_hint(corpus, store, load, name):
    report = load(corpus / "profiles/pprof_legacy" / name)
    (fr,) = report.files
    assert fr.status == "failed"
    assert fr.format is None
    assert LEGACY[name] in fr.error
    assert "go tool pprof -proto FILE > FILE.pb.gz" in fr.error
    for table in ("sources", "profiles", "profile_samples", "rejects"):
        assert store.scalar(f"SELECT count(*) FROM {table}") == 0


def test_legacy_refused_even_when_forced(corpus, store, load):
    report = load(corpus / "profiles/pprof_legacy/google_gobench.cpu.legacy", format="pprof")
    assert report.files[0].status == "failed"
    assert "go tool pprof -proto" in report.files[0].error
    assert store.scalar("SELECT count(*) FROM sources") == 0


def test_plain_and_double_gzipped_profiles(corpus, store, load, tmp_path):
    raw = gzip.decompress((corpus / "profiles/pprof/parca_fib.cpu.pb.gz").read_bytes())
    plain = tmp_path / "svc-a" / "cpu.pprof"
    plain.parent.mkdir()
    plain.write_bytes(raw)
    twice = tmp_path / "svc-b" / "cpu.pb.gz"
    twice.parent.mkdir()
    twice.write_bytes(gzip.compress(gzip.compress(raw)))
    report = load(plain, twice)
    assert [(f.status, f.format, f.records) for f in report.files] == [
        ("loaded", "pprof", 1),
        ("loaded", "pprof", 1),
    ]
    counts = store.rows(
        "SELECT service_name, count(*) FROM profile_samples JOIN profiles USING (profile_id)"
        " GROUP BY 1 ORDER BY 1"
    )
    _, _, nonzero = wire_facts(corpus / "profiles/pprof/parca_fib.cpu.pb.gz")
    assert counts == [("svc-a", nonzero), ("svc-b", nonzero)]


def test_sniff_does_not_claim_random_binary_or_text():
    from obsctl.ingest.profiles_pprof import sniff

    rng = random.Random(1234)
    for _ in range(200):
        blob = rng.randbytes(rng.randint(16, 4096))
        assert sniff(blob, "x.bin") < 0.5
        assert sniff(gzip.compress(blob), "x.pb.gz") < 0.5
    assert sniff(b'{"resourceSpans": []}\n', "trace.json") == 0
    assert sniff(b"a;b;c 1\na;b 2\n", "stacks.txt") == 0
    assert sniff(b"# HELP x y\n# TYPE x counter\nx 1\n", "m.prom") == 0


def _handmade_profile() -> bytes:
    """A tiny profile written with the wire format by hand (no obsctl code involved)."""

    def vint(n: int) -> bytes:
        out = bytearray()
        n &= (1 << 64) - 1
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)

    def fld(num: int, val: int | bytes) -> bytes:
        if isinstance(val, bytes):
            return vint(num << 3 | 2) + vint(len(val)) + val
        return vint(num << 3) + vint(val)

    def msg(*parts: bytes) -> bytes:
        return b"".join(parts)

    strings = ["", "samples", "count", "wait", "nanoseconds", "main.run", "main.go",
               "worker", "thread", "size", "bytes", "main.helper"]  # fmt: skip
    st = {s: i for i, s in enumerate(strings)}
    out = [
        fld(1, msg(fld(1, st["samples"]), fld(2, st["count"]))),
        fld(1, msg(fld(1, st["wait"]), fld(2, st["nanoseconds"]))),
        # sample 1: leaf location 2 (helper inlined into run), labels str + num with unit,
        # the key 'thread' twice
        fld(2, msg(fld(1, 2), fld(1, 1), fld(2, 3), fld(2, 1500),
                   fld(3, msg(fld(1, st["thread"]), fld(2, st["worker"]))),
                   fld(3, msg(fld(1, st["thread"]), fld(2, st["main.go"]))),
                   fld(3, msg(fld(1, st["size"]), fld(3, 4096), fld(4, st["bytes"]))))),
        # sample 2: one value only for two sample types -> rejected
        fld(2, msg(fld(1, 1), fld(2, 7))),
        # sample 3: unknown location id -> rejected
        fld(2, msg(fld(1, 99), fld(2, 1), fld(2, 2))),
        # sample 4: zero 'wait' -> only a 'samples' row
        fld(2, msg(fld(1, 1), fld(2, 2), fld(2, 0))),
        fld(4, msg(fld(1, 1), fld(3, 0x1000), fld(4, msg(fld(1, 1), fld(2, 10))))),
        fld(4, msg(fld(1, 2), fld(3, 0x2000),
                   fld(4, msg(fld(1, 2), fld(2, 42))), fld(4, msg(fld(1, 1), fld(2, 12))))),
        fld(5, msg(fld(1, 1), fld(2, st["main.run"]), fld(4, st["main.go"]))),
        fld(5, msg(fld(1, 2), fld(2, st["main.helper"]), fld(4, st["main.go"]))),
    ]  # fmt: skip
    out += [fld(6, s.encode()) for s in strings]
    out.append(fld(9, 1_700_000_000_123_456_789))
    return b"".join(out)


def test_handmade_profile_rejects_labels_and_inlining(store, load, tmp_path):
    path = tmp_path / "checkout" / "block.pb"
    path.parent.mkdir()
    path.write_bytes(_handmade_profile())
    (fr,) = load(path).files
    assert (fr.status, fr.format, fr.records, fr.rejected) == ("loaded", "pprof", 1, 2)
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (2, "sample has 1 values for 2 sample types"),
        (3, "sample references an unknown location id"),
    ]
    rows = store.rows(
        "SELECT sample_type, unit, value, [f.function || ':' || f.line FOR f IN stack], labels"
        " FROM profile_samples ORDER BY sample_type, value"
    )
    assert rows == [
        ("samples", "count", 2.0, ["main.run:10"], None),
        ("samples", "count", 3.0, ["main.helper:42", "main.run:12", "main.run:10"],
         '{"thread":["worker","main.go"],"size":4096}'),
        ("wait", "nanoseconds", 1500.0, ["main.helper:42", "main.run:12", "main.run:10"],
         '{"thread":["worker","main.go"],"size":4096}'),
    ]  # fmt: skip
    assert store.rows(
        "SELECT service_name, time::VARCHAR, default_sample_type, attributes->>'$.label_units.size'"
        " FROM profiles"
    ) == [("checkout", "2023-11-14 22:13:20.123456789", "wait", "bytes")]


def test_go_debug1_text_profile_is_refused(store, load, tmp_path):
    path = tmp_path / "goroutine.txt"
    path.write_text(
        "goroutine profile: total 2\n1 @ 0x43a0c5 0x4337b7\n#\t0x43a0c4\truntime.gopark+0x124\n"
    )
    (fr,) = load(path).files
    assert fr.status == "failed"
    assert "legacy text profile" in fr.error and "goroutine profile: total 2" in fr.error
    assert "go tool pprof -proto FILE > FILE.pb.gz" in fr.error
    assert store.scalar("SELECT count(*) FROM sources") == 0
