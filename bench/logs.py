"""Template-mining throughput and accuracy: obsctl's miner against drain3.

Usage::

    python bench/logs.py [--lines 1000000] [--drain-lines 200000] [--input FILE] [--repeat 3]

Messages: ``--input`` (one message per line), else a synthetic mix of ``--lines``
messages built from the loghub samples' Content (Apache, HDFS, Linux, OpenSSH …) and the
demo incident's log bodies, every value re-drawn per line (digit runs and hex ids; not
the digits of names such as ``ssh2``), so ids, addresses, ports and sizes vary as in
real logs: most lines are distinct, few masked shapes are.

For each tool the script prints lines/s over the messages (obsctl: ``mine`` end to end —
masking in DuckDB, clustering, and the per-line template array; drain3: ``add_log_message``
per line with number, hex and IP masks, on the first ``--drain-lines``; each the best of
``--repeat`` runs, as the machine may be shared) and the grouping
accuracy (GA) on each loghub sample.

drain3 is not a dependency of obsctl; install it for this benchmark only::

    .venv/bin/pip install drain3

Without it the drain3 rows are skipped.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from loghub_accuracy import DEFAULT_CORPUS, grouping_accuracy, load_system, systems  # noqa: E402

DEMO_BODIES = [
    "request completed",
    "charge authorized amount=118.40 currency=USD card=4111********5075",
    "fraud rule evaluation over budget: 128 ms for card=5521********3347",
    "order placed order=ord-27a37bfc6f total=91.20 currency=USD items=3",
    "payment timeout after 2000ms order=ord-78c85a029c",
    "retrying payment charge (attempt 2/3)",
    "item added to cart quantity=2",
    "redis connection reset, retrying",
    "checkpoint complete: wrote 2310 buffers (14.1%); 0 WAL file(s) added, 0 removed, 3 "
    "recycled; write=24.503 s, sync=0.004 s, total=24.547 s",
    "GET /api/products/1042 200 12ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
]

# Values: hex ids of 8+ digits, and digit runs not glued after a letter (ssh2, jk2_init
# and tty2 are names, not values).
_VALUE = re.compile(r"\b[0-9a-f]{8,}\b|(?<![A-Za-z0-9])\d+")


def synthetic(n: int, seed: int = 7) -> list[str]:
    """``n`` messages: loghub contents and demo bodies with every value re-drawn."""
    base = list(DEMO_BODIES)
    for _name, path in systems(DEFAULT_CORPUS):
        base.extend(load_system(path)[0])
    rng = random.Random(seed)
    pick = rng.choice

    def redraw(m: re.Match[str]) -> str:
        alphabet = "0123456789" if m.group().isdigit() else "0123456789abcdef"
        return "".join(pick(alphabet) for _ in m.group())

    return [_VALUE.sub(redraw, pick(base)) for _ in range(n)]


def drain3_miner() -> Callable[[str], int] | None:
    """A fresh drain3 miner with number/hex/IP masks (``add → cluster id``), or None."""
    try:
        from drain3 import TemplateMiner
        from drain3.masking import MaskingInstruction
        from drain3.template_miner_config import TemplateMinerConfig
    except ImportError:
        return None
    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    cfg.masking_instructions = [
        MaskingInstruction(
            r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})"
            r"((?=[^A-Za-z0-9])|$)",
            "IP",
        ),
        MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(0x[a-fA-F0-9]+)((?=[^A-Za-z0-9])|$)", "HEX"),
        MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    ]
    miner = TemplateMiner(config=cfg)

    def add(message: str) -> int:
        return miner.add_log_message(message)["cluster_id"]

    return add


def obsctl_templates(messages: Sequence[str]) -> list[str]:
    """obsctl's template per message."""
    from obsctl.analysis.log_patterns import mine

    return mine(messages).templates.to_pylist()


def main(argv: Sequence[str] | None = None) -> int:
    """Print lines/s and loghub GA for obsctl and drain3."""
    import pyarrow as pa

    from obsctl.analysis.log_patterns import mine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument(
        "--drain-lines", type=int, default=200_000, help="lines fed to drain3 for its rate (0: all)"
    )
    ap.add_argument("--input", type=Path, help="messages, one per line")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts")
    ap.add_argument(
        "--store-gib",
        type=float,
        default=1.0,
        help="JSON-lines GiB to load for the search/histogram latencies (0: skip)",
    )
    ap.add_argument("--dir", type=Path, default=Path("/tmp/obsctl-bench"))
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    if args.input:
        messages = args.input.read_text(encoding="utf-8", errors="replace").splitlines()
    else:
        messages = synthetic(args.lines)
    print(f"{len(messages):,} messages prepared in {time.perf_counter() - t0:.1f}s")
    arr = pa.array(messages, pa.string())

    mine(messages[:1000])  # warm up imports and DuckDB
    dt_obs = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = mine(arr)
        templates = result.templates
        dt_obs = min(dt_obs, time.perf_counter() - t0)
    obs_rate = len(messages) / dt_obs
    print(
        f"obsctl  {len(messages):>9,} lines {dt_obs:7.2f}s {obs_rate:>12,.0f} lines/s"
        f"  ({result.patterns.num_rows:,} patterns, {len(templates):,} labels)"
    )

    drain_rate = None
    if drain3_miner() is None:
        print("drain3  skipped: not installed (.venv/bin/pip install drain3)")
    else:
        sub = messages if args.drain_lines <= 0 else messages[: args.drain_lines]
        dt_dr = float("inf")
        for _ in range(args.repeat):
            add = drain3_miner()
            assert add is not None
            t0 = time.perf_counter()
            for m in sub:
                add(m)
            dt_dr = min(dt_dr, time.perf_counter() - t0)
        drain_rate = len(sub) / dt_dr
        print(
            f"drain3  {len(sub):>9,} lines {dt_dr:7.2f}s {drain_rate:>12,.0f} lines/s"
            "  (number/hex/IP masks)"
        )
        print(f"speed-up {obs_rate / drain_rate:.1f}x (best of {args.repeat} runs each)")

    print(f"\n{'GA':<10} {'obsctl':>7} {'drain3':>7}")
    for name, path in systems(DEFAULT_CORPUS):
        contents, truth = load_system(path)
        ga_obs = grouping_accuracy(truth, obsctl_templates(contents))
        ga_dr = ""
        if drain_rate is not None:
            fresh = drain3_miner()
            assert fresh is not None
            ids = [fresh(c) for c in contents]
            ga_dr = f"{grouping_accuracy(truth, [str(i) for i in ids]):.3f}"
        print(f"{name:<10} {ga_obs:>7.3f} {ga_dr:>7}")
    if args.store_gib > 0:
        store_latency(args.dir, args.store_gib, args.repeat)
    return 0


def store_latency(work: Path, gib: float, repeat: int) -> None:
    """Search and histogram latency over a store of ~4M lines per GiB (bench/ingest.py's
    generator), as `obsctl logs` runs them."""
    import dataclasses

    from ingest import gen_logs

    from obsctl.analysis import logs
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store
    from obsctl.timewindow import resolve

    work.mkdir(parents=True, exist_ok=True)
    src = work / f"logs-{gib:g}gib.jsonl"
    if not src.exists():
        print(f"\ngenerating {src} …", flush=True)
        gen_logs(src, int(gib * 2**30))
    db = work / f"logs-{gib:g}gib.duckdb"
    if not db.exists():
        with Store.open(db) as s:
            ingest_paths(s, [str(src)])
    with Store.open(db, read_only=True) as s:
        n = s.scalar("SELECT count(*) FROM logs")
        print(f"\nstore: {n:,} log records from {src.stat().st_size / 2**30:.2f} GiB of JSON lines")
        base = logs.LogFilter()
        cases: list[tuple[str, Callable[[], object]]] = [
            ("count, text 'cache miss'", lambda: logs.count(s, logs.LogFilter.from_options(
                text="cache miss"))),
            ("count, --level error --service payment", lambda: logs.count(
                s, logs.LogFilter.from_options(level="error", services=["payment"]))),
            ("search, --level error, first 200", lambda: logs.search(
                s, logs.LogFilter.from_options(level="error"), limit=200)),
            ("search, --grep 'attempt [23]/3' --since 5m", lambda: logs.search(
                s, dataclasses.replace(logs.LogFilter.from_options(grep="attempt [23]/3"),
                                       window=resolve(s, "5m")), limit=200)),
            ("histogram, all records", lambda: logs.histogram(s, base)),
            ("histogram, --level warn", lambda: logs.histogram(
                s, logs.LogFilter.from_options(level="warn"))),
        ]  # fmt: skip
        for label, fn in cases:
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            print(f"  {label:<44} {best * 1000:8.1f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
