"""Chrome/V8 ``.cpuprofile`` and ``perf script`` ingest, against the corpus samples."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CORPUS

CHROME = CORPUS / "profiles/other/chrome65_simple.cpuprofile.json"
PERF = CORPUS / "profiles/perf_script/flamegraph_perf-dd-stacks-01.perf-script.txt"
PERF_COLLAPSED = CORPUS / "profiles/folded/flamegraph_perf-dd-stacks-01-collapsed-all.txt"


@pytest.fixture(autouse=True)
def _registered_formats() -> Iterator[None]:
    """Make sure both modules are in the detector's registry (whatever its list says)."""
    from obsctl.ingest import detect

    saved = detect.FORMAT_MODULES
    extra = tuple(
        m
        for m in ("obsctl.ingest.profiles_chrome", "obsctl.ingest.profiles_perf")
        if m not in saved
    )
    # before the generic text/JSON formats, as the detector's order breaks ties
    detect.FORMAT_MODULES = extra + saved
    detect.registry.cache_clear()
    yield
    detect.FORMAT_MODULES = saved
    detect.registry.cache_clear()


def stacks(store, sample_type: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for frames, value in store.rows(
        "SELECT [f.function FOR f IN stack], value FROM profile_samples WHERE sample_type = ?",
        [sample_type],
    ):
        out[tuple(frames)] += value
    return dict(out)


# ---- Chrome .cpuprofile -----------------------------------------------------------------


def chrome_expected() -> tuple[dict, dict]:
    doc = json.loads(CHROME.read_text())
    nodes = {n["id"]: n for n in doc["nodes"]}
    parent = {c: n["id"] for n in doc["nodes"] for c in n.get("children", [])}

    def path(nid: int) -> tuple[str, ...]:
        out = []
        while nid in nodes:
            cf = nodes[nid]["callFrame"]
            if not (cf["functionName"] == "(root)" and nid not in parent):
                out.append(cf["functionName"] or "(anonymous)")
            nid = parent.get(nid, -1)
        return tuple(out)

    t = doc["startTime"]
    times = []
    for d in doc["timeDeltas"]:
        t += d
        times.append(t)
    times.append(doc["endTime"])
    counts: dict = defaultdict(float)
    durations: dict = defaultdict(float)
    for i, nid in enumerate(doc["samples"]):
        counts[path(nid)] += 1
        durations[path(nid)] += (times[i + 1] - times[i]) * 1000
    return dict(counts), dict(durations)


def test_chrome_cpuprofile(store, load):
    (fr,) = load(CHROME).files
    assert (fr.status, fr.format, fr.records, fr.rejected, fr.unit) == (
        "loaded", "chrome-cpuprofile", 1, 0, "profiles"
    )  # fmt: skip
    counts, durations = chrome_expected()
    assert stacks(store, "samples") == counts
    got = stacks(store, "time")
    assert got.keys() == durations.keys()
    for k, v in durations.items():
        assert got[k] == pytest.approx(v, abs=1e-6)
    assert counts[("d", "b", "a", "(anonymous)")] == 14
    assert store.rows(
        "SELECT profile_type, sample_types, default_sample_type, duration_ns, time FROM profiles"
    ) == [
        ("cpu", [{"type": "samples", "unit": "count"}, {"type": "time", "unit": "nanoseconds"}],
         "time", 47_892_000, None)
    ]  # fmt: skip
    # V8 line numbers are 0-based; stored 1-based. The leaf 'd' is declared on line 13.
    assert store.scalar(
        "SELECT DISTINCT stack[1] FROM profile_samples WHERE stack[1].function = 'd'"
    ) == {"function": "d", "file": None, "line": 14}


def test_chrome_unknown_node_rejected(store, load, tmp_path):
    doc = json.loads(CHROME.read_text())
    doc["samples"][3] = 999
    path = tmp_path / "web" / "x.cpuprofile"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    (fr,) = load(path).files
    assert (fr.status, fr.records, fr.rejected) == ("loaded", 1, 1)
    assert store.rows("SELECT line, reason FROM rejects") == [
        (4, "sample names unknown node id 999")
    ]
    assert (
        store.scalar("SELECT sum(value) FROM profile_samples WHERE sample_type = 'samples'")
        == len(doc["samples"]) - 1
    )


def test_chrome_sniff():
    from obsctl.ingest.profiles_chrome import sniff

    assert sniff(CHROME.read_bytes(), "x.json") >= 0.9
    assert sniff(b'{"traceEvents": []}', "trace.json") == 0
    assert sniff(b'{"level": "info", "msg": "nodes"}\n', "log.json") == 0


# ---- perf script --------------------------------------------------------------------------


def perf_expected(path: Path) -> tuple[dict, dict, list[list[str]]]:
    """Parse perf script with the stdlib: (count per stack, period per stack, blocks)."""
    counts: dict = defaultdict(float)
    periods: dict = defaultdict(float)
    blocks = []
    for block in re.split(r"\n\s*\n", path.read_text().strip("\n")):
        header, *frames = block.split("\n")
        period = float(header.split(":")[1].split()[0])
        names = []
        for fr in frames:
            _addr, rest = fr.strip().split(None, 1)
            sym, dso = rest.rsplit(" (", 1)
            dso = dso.rstrip(")")
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            if sym == "[unknown]" and dso != "[unknown]":
                sym = f"[{dso.rsplit('/', 1)[-1]}]"
            names.append(sym)
        counts[tuple(names)] += 1
        periods[tuple(names)] += period
        blocks.append(names)
    return dict(counts), dict(periods), blocks


def test_perf_script(store, load):
    (fr,) = load(PERF).files
    assert (fr.status, fr.format, fr.records, fr.rejected, fr.unit) == (
        "loaded", "perf-script", 1, 0, "profiles"
    )  # fmt: skip
    counts, periods, blocks = perf_expected(PERF)
    assert len(blocks) == PERF.read_text().count("cpu-clock:") == 11
    assert stacks(store, "samples") == counts
    assert stacks(store, "cpu-clock") == periods
    assert store.rows(
        "SELECT profile_type, sample_types, default_sample_type, period_type, period_unit,"
        " duration_ns, time FROM profiles"
    ) == [
        ("cpu", [{"type": "samples", "unit": "count"},
                 {"type": "cpu-clock", "unit": "nanoseconds"}],
         "cpu-clock", "cpu-clock", "nanoseconds", 101_008_000, None)
    ]  # fmt: skip
    assert store.rows("SELECT DISTINCT labels FROM profile_samples") == [
        ('{"comm":"dd","pid":29776}',)
    ]
    leaf = store.scalar(
        "SELECT stack[1] FROM profile_samples WHERE sample_type = 'samples'"
        " AND stack[1].function = 'fsnotify'"
    )
    assert leaf == {
        "function": "fsnotify",
        "file": "/lib/modules/4.1.0-virtual/build/vmlinux",
        "line": None,
    }


def test_perf_script_agrees_with_stackcollapse(store, load):
    """Same stacks and period sums as FlameGraph's own collapse of this file.

    stackcollapse-perf.pl only emits a sample on the blank line that ends it, so it drops
    the file's last block (no trailing blank line); that one sample is the difference.
    """
    load(PERF)
    collapsed: dict = defaultdict(float)
    for line in PERF_COLLAPSED.read_text().splitlines():
        frames, count = line.rsplit(" ", 1)
        names = [f.removesuffix("_[k]") for f in frames.split(";")][1:]  # drop comm 'dd'
        collapsed[tuple(reversed(names))] += float(count)
    ours = stacks(store, "cpu-clock")
    _, _, blocks = perf_expected(PERF)
    last = tuple(blocks[-1])
    ours[last] -= 10101010
    if ours[last] == 0:
        del ours[last]
    assert ours == dict(collapsed)


def test_perf_script_handmade_edge_cases(store, load, tmp_path):
    path = tmp_path / "browser" / "perf.out"
    path.parent.mkdir()
    path.write_text(
        "# ========\n"
        "# captured on    : Thu Jan  1 00:00:00 2024\n"
        "\t  7f00aa orphan (/usr/bin/x)\n"
        "   Web Content  1234/1240 [002]  100.000100:     250000 cycles:u: \n"
        "\t    7f00aa foo::bar(int, char)+0x1a (/usr/lib/libxul.so)\n"
        "\t    7f00bb main (/usr/bin/firefox)\n"
        "\n"
        "swapper     0 [000]   100.000200: sched:sched_switch: prev_comm=swapper next_pid=1\n"
        "\tffffffff81000000 __schedule+0x10 ([kernel.kallsyms])\n"
        "\n"
        "perf 99 100.000300: cpu-clock:  ffffffff81000001 do_idle ([kernel.kallsyms])\n"
        "\n"
        "garbage line\n"
    )
    (fr,) = load(path).files
    assert (fr.status, fr.format, fr.records, fr.rejected) == ("loaded", "perf-script", 1, 2)
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (3, "frame line before any sample header"),
        (13, "neither a sample header nor a stack frame"),
    ]
    rows = store.rows(
        "SELECT sample_type, unit, value, [f.function FOR f IN stack], stack[1].file, labels"
        " FROM profile_samples ORDER BY sample_type, labels"
    )
    assert rows == [
        ("cpu-clock", "nanoseconds", 1.0, ["do_idle"], "[kernel.kallsyms]",
         '{"comm":"perf","pid":99}'),
        ("cycles:u", "count", 250000.0, ["foo::bar(int, char)", "main"],
         "/usr/lib/libxul.so", '{"comm":"Web Content","pid":1234,"tid":1240}'),
        ("samples", "count", 1.0, ["foo::bar(int, char)", "main"],
         "/usr/lib/libxul.so", '{"comm":"Web Content","pid":1234,"tid":1240}'),
        ("samples", "count", 1.0, ["do_idle"], "[kernel.kallsyms]",
         '{"comm":"perf","pid":99}'),
        ("samples", "count", 1.0, ["__schedule"], "[kernel.kallsyms]",
         '{"comm":"swapper","pid":0}'),
        ("sched:sched_switch", "count", 1.0, ["__schedule"], "[kernel.kallsyms]",
         '{"comm":"swapper","pid":0}'),
    ]  # fmt: skip
    assert store.rows(
        "SELECT service_name, profile_type, default_sample_type, duration_ns FROM profiles"
    ) == [("browser", "cpu", "cycles:u", 200_000)]


def test_perf_sniff_and_text_without_samples(store, load, tmp_path):
    from obsctl.ingest.profiles_perf import sniff

    assert sniff(PERF.read_bytes(), "out.txt") >= 0.9
    assert sniff(PERF_COLLAPSED.read_bytes(), "x.txt") == 0
    assert sniff(b"2024-01-01 12:00:00 INFO hello\n", "app.log") == 0
    path = tmp_path / "empty.perf"
    path.write_text("# only comments\nnothing here\n")
    (fr,) = load(path, format="perf-script").files
    assert fr.status == "failed" and "no perf script sample headers" in fr.error
    assert store.scalar("SELECT count(*) FROM sources") == 0
