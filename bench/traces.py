"""Trace analysis speed: ``traces show`` on one huge trace, ``services``/``deps`` on 1M spans.

Usage::

    python bench/traces.py [--trace-spans 100000] [--spans 1000000] [--repeat 3]

Synthetic spans are generated directly in DuckDB (no JSON files) into a temporary store:

* one trace of ``--trace-spans`` spans, a ternary tree (span ``j``'s parent is
  ``(j - 1) // 3``) whose intervals nest with small gaps, 10 services, 40 operations;
* ``--spans`` spans in traces of 20 spans each, of the same shape, spread over an hour.

It prints, best of ``--repeat``:

* ``traces show`` end to end as a user runs it (``obsctl traces show ID > file``, a
  subprocess: start-up, load, tree, critical path, render) and the in-process split;
* ``traces services`` and ``traces deps`` over the ``--spans`` spans (the analysis call,
  and the CLI end to end to a file).

Goals (issue #6): ``show`` on 100k spans under 2 s; ``services`` and ``deps`` over 1M
spans in about a second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GEN_SQL = """
INSERT INTO spans
WITH base AS (
    SELECT i AS gid, i // $per AS t, i % $per AS j FROM range($n) r(i)
),
geo AS (
    SELECT *, floor(ln(2 * j + 1) / ln(3) + 1e-9)::BIGINT AS d FROM base
),
pos AS (
    SELECT *, j - (pow(3, d)::BIGINT - 1) // 2 AS q,
           $width / pow(3, d) AS w,
           $t0 + t * $stride AS tb
    FROM geo
)
SELECT printf('%032x', t + $tid_base) AS trace_id,
       printf('%016x', j + 1) AS span_id,
       CASE WHEN j = 0 THEN NULL ELSE printf('%016x', (j - 1) // 3 + 1) END AS parent_span_id,
       NULL AS trace_state,
       'op-' || ((j * 7 + d) % 40) AS name,
       CASE WHEN j % 2 = 0 THEN 'SERVER' ELSE 'CLIENT' END AS kind,
       make_timestamp_ns((tb + q * w + d * 1000)::BIGINT) AS start_time,
       make_timestamp_ns((tb + (q + 1) * w - d * 1000)::BIGINT) AS end_time,
       ((q + 1) * w - d * 1000)::BIGINT - (q * w + d * 1000)::BIGINT AS duration_ns,
       CASE WHEN hash(gid) % 100 = 0 THEN 'ERROR' ELSE 'UNSET' END AS status_code,
       NULL AS status_message,
       'svc-' || ((j + d) % 10) AS service_name,
       ('{"http.route":"/r' || (j % 7) || '","peer.service":"svc-' || ((j + 1) % 10)
        || '"}')::JSON AS attributes,
       ('{"service.name":"svc-' || ((j + d) % 10) || '","service.version":"1.'
        || (t % 3) || '"}')::JSON AS resource_attributes,
       NULL AS scope_name, NULL AS scope_version,
       '[]'::JSON AS events, '[]'::JSON AS links,
       1 AS source_id, gid AS line
FROM pos
"""


def generate(store_path: Path, trace_spans: int, spans: int) -> str:
    """Fill a store with one big trace and ``spans`` spans in 20-span traces."""
    from obsctl.store import Store

    with Store.open(store_path) as s:
        s.con.execute(
            GEN_SQL,
            {
                "n": trace_spans,
                "per": trace_spans,
                "width": 60e9,
                "t0": 1_774_540_000_000_000_000,
                "stride": 0,
                "tid_base": 0xABC0000000,
            },
        )
        s.con.execute(
            GEN_SQL,
            {
                "n": spans,
                "per": 20,
                "width": 50e6,
                "t0": 1_774_540_100_000_000_000,
                "stride": 3600e9 / max(spans // 20, 1),
                "tid_base": 1,
            },
        )
        s.con.execute("CHECKPOINT")
    return f"{0xABC0000000:032x}"


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace-spans", type=int, default=100_000)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from obsctl.analysis import traces
    from obsctl.analysis.trace_tree import build_tree
    from obsctl.render.console import OutputPolicy, make_console
    from obsctl.render.traces import Waterfall
    from obsctl.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        t = time.perf_counter()
        big = generate(path, args.trace_spans, args.spans)
        print(
            f"generated {args.trace_spans:,} + {args.spans:,} spans in"
            f" {time.perf_counter() - t:.1f}s"
        )
        obsctl = [sys.executable, "-m", "obsctl", "--store", str(path)]
        env = dict(os.environ, COLUMNS="120")
        out = Path(tmp) / "out.txt"

        def cli(*args_: str) -> None:
            with out.open("w") as fh:
                subprocess.run(
                    [*obsctl, *args_], stdout=fh, stderr=subprocess.DEVNULL, check=True, env=env
                )

        show = best(lambda: cli("traces", "show", big), args.repeat)
        lines = sum(1 for _ in out.open())
        with Store.open(path, read_only=True) as s:
            tid = traces.resolve_trace_id(s, big)
            t = time.perf_counter()
            table = s.query(traces.SPAN_COLUMNS_SQL, {"trace_id": tid})
            t_load = time.perf_counter() - t
            t = time.perf_counter()
            tree = build_tree(table, tid)
            t_tree = time.perf_counter() - t
            t = time.perf_counter()
            with open(os.devnull, "w") as null:
                Waterfall(tree, color=False).write(make_console(null, OutputPolicy(), width=120))
            t_render = time.perf_counter() - t
            filt = traces.TraceFilter()
            svc = best(lambda: traces.services(s, filt), args.repeat)
            dep = best(lambda: traces.deps(s, filt), args.repeat)
        svc_cli = best(lambda: cli("traces", "services"), args.repeat)
        dep_cli = best(lambda: cli("traces", "deps"), args.repeat)
        n = args.trace_spans
        print(
            f"traces show, {n:,}-span trace ({lines:,} lines to a file):"
            f" {show:.2f}s end to end (goal < 2s)"
        )
        print(
            f"  in process: load {t_load:.2f}s · tree + critical path {t_tree:.2f}s ·"
            f" render {t_render:.2f}s"
        )
        total = args.spans + n
        print(
            f"traces services over {total:,} spans: {svc:.2f}s analysis,"
            f" {svc_cli:.2f}s end to end (goal ~1s)"
        )
        print(
            f"traces deps over {total:,} spans: {dep:.2f}s analysis,"
            f" {dep_cli:.2f}s end to end (goal ~1s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
