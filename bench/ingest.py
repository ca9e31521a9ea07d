"""Ingest throughput: obsctl vs DuckDB's own read of the same file.

Generates (once, cached in --dir) a ~1 GiB JSON-lines log file with OTel-like fields and
nanosecond timestamps, and a large OTLP JSON trace file (collector file-exporter shape),
then times, each in a fresh subprocess (so peak RSS is per step):

* DuckDB raw:   CREATE TABLE t AS SELECT * FROM read_json(file)            (logs)
                read_json + unnest(resourceSpans/scopeSpans/spans)          (traces)
* obsctl:       obsctl ingest FILE into a new store

and prints seconds, MB/s, peak RSS and the obsctl/DuckDB ratio. Run by hand:

    python bench/ingest.py [--dir /tmp/obsctl-bench] [--log-gib 1.0] [--trace-mib 300]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SERVICES = ["frontend", "checkout", "cart", "payment", "inventory", "pricing", "order"]
LEVELS = ["INFO"] * 14 + ["DEBUG"] * 4 + ["WARN"] * 2 + ["ERROR"]
MESSAGES = [
    "request handled in {n} ms",
    "GET /api/cart/{n} returned 200",
    "cache miss for key product:{n}",
    "payment authorised for order {n}",
    "retrying payment charge (attempt {k}/3)",
    "connection pool exhausted, waited {n} ms",
]


def gen_logs(path: Path, target_bytes: int, seed: int = 7) -> None:
    import orjson

    rnd = random.Random(seed)
    t = 1_760_000_000_000_000_000
    written = 0
    with open(path, "wb") as f:
        while written < target_bytes:
            buf = []
            for _ in range(20000):
                t += rnd.randint(10_000, 900_000)
                s, ns = divmod(t, 1_000_000_000)
                ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{ns:09d}Z"
                rec = {
                    "timestamp": ts,
                    "level": rnd.choice(LEVELS),
                    "service": rnd.choice(SERVICES),
                    "message": rnd.choice(MESSAGES).format(
                        n=rnd.randint(1, 99999), k=rnd.randint(1, 3)
                    ),
                    "trace_id": f"{rnd.getrandbits(128):032x}",
                    "span_id": f"{rnd.getrandbits(64):016x}",
                    "http.method": rnd.choice(["GET", "POST"]),
                    "http.status_code": rnd.choice([200, 200, 200, 201, 404, 500]),
                    "host": {"name": f"ip-10-0-{rnd.randint(0, 9)}-{rnd.randint(1, 254)}"},
                    "user_id": rnd.randint(1, 10**6),
                }
                buf.append(orjson.dumps(rec))
            chunk = b"\n".join(buf) + b"\n"
            f.write(chunk)
            written += len(chunk)


def gen_traces(path: Path, target_bytes: int, seed: int = 11) -> None:
    import orjson

    rnd = random.Random(seed)
    t = 1_760_000_000_000_000_000
    written = 0

    def attr(k: str, v: object) -> dict:
        if isinstance(v, bool):
            return {"key": k, "value": {"boolValue": v}}
        if isinstance(v, int):
            return {"key": k, "value": {"intValue": str(v)}}
        return {"key": k, "value": {"stringValue": str(v)}}

    with open(path, "wb") as f:
        while written < target_bytes:
            resource_spans = []
            for svc in SERVICES:
                spans = []
                for _ in range(40):
                    t += rnd.randint(100_000, 5_000_000)
                    dur = int(rnd.lognormvariate(16, 1))
                    spans.append(
                        {
                            "traceId": f"{rnd.getrandbits(128):032x}",
                            "spanId": f"{rnd.getrandbits(64):016x}",
                            "parentSpanId": f"{rnd.getrandbits(64):016x}",
                            "name": rnd.choice(["GET /cart", "POST /charge", "SELECT stock"]),
                            "kind": rnd.choice([1, 2, 3]),
                            "startTimeUnixNano": str(t),
                            "endTimeUnixNano": str(t + dur),
                            "attributes": [
                                attr(f"app.attr{i}", rnd.randint(0, 999)) for i in range(12)
                            ]
                            + [attr("http.route", "/charge"), attr("http.status_code", 200)]
                            + [attr(f"app.flag{i}", rnd.random() < 0.5) for i in range(6)],
                            "events": [
                                {
                                    "timeUnixNano": str(t + dur // 2),
                                    "name": "retry",
                                    "attributes": [attr("attempt", 1)],
                                }
                            ],
                            "status": {"code": rnd.choice([0, 0, 0, 1, 2])},
                        }
                    )
                resource_spans.append(
                    {
                        "resource": {
                            "attributes": [
                                attr("service.name", svc),
                                attr("host.name", "ip-10-0-3-7"),
                            ]
                        },
                        "scopeSpans": [
                            {"scope": {"name": "io.opentelemetry.http"}, "spans": spans}
                        ],
                    }
                )
            line = orjson.dumps({"resourceSpans": resource_spans}) + b"\n"
            f.write(line)
            written += len(line)


DUCKDB_LOGS = """
import duckdb, sys
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE t AS SELECT * FROM read_json(?)", [sys.argv[1]])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""

DUCKDB_TRACES = """
import duckdb, sys
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
con.execute('''CREATE TABLE t AS
  SELECT unnest(ss.spans, recursive := true), rs.resource
  FROM (SELECT unnest(resourceSpans) rs FROM read_json(?, format='newline_delimited')),
       (SELECT unnest(rs.scopeSpans) ss)''', [sys.argv[1]])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""

OBSCTL = """
import sys
from obsctl.store import Store
from obsctl.ingest import ingest_paths
with Store.open(sys.argv[2]) as s:
    r = ingest_paths(s, [sys.argv[1]])
    f = r.files[0]
    assert f.status == "loaded", f.error
    if "logs" in sys.argv[1]:
        # nanoseconds kept (DuckDB's automatic schema would round them to microseconds)
        ns = s.scalar("SELECT count(*) FROM logs WHERE epoch_ns(timestamp) % 1000 <> 0")
        assert ns > 0.99 * f.records, ns
    print(f.records)
"""


def run(code: str, *args: str) -> tuple[float, float, str]:
    """Run code in a fresh interpreter; return (seconds, peak RSS MiB, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"benchmark step failed: {args}")
    return elapsed, usage.ru_maxrss / 1024, out.strip()


def measure(label: str, raw_code: str, path: Path, work: Path) -> None:
    size = path.stat().st_size / 2**20
    results = {}
    for name, code in (("duckdb", raw_code), ("obsctl", OBSCTL)):
        db = work / f"{name}-{label}.duckdb"
        for p in (db, Path(str(db) + ".wal")):
            p.unlink(missing_ok=True)
        secs, rss, rows = run(code, str(path), str(db))
        results[name] = secs
        print(
            f"  {name:7s} {secs:7.2f} s  {size / secs:7.1f} MiB/s  peak RSS {rss:7.0f} MiB"
            f"  rows {rows}"
        )
        db.unlink(missing_ok=True)
    print(f"  ratio obsctl/duckdb = {results['obsctl'] / results['duckdb']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/obsctl-bench")
    ap.add_argument("--log-gib", type=float, default=1.0)
    ap.add_argument("--trace-mib", type=float, default=300)
    ap.add_argument("--keep", action="store_true", help="keep generated files for re-runs")
    args = ap.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    logs = work / f"logs-{args.log_gib:g}gib.jsonl"
    traces = work / f"traces-{args.trace_mib:g}mib.otlp.jsonl"
    if not logs.exists():
        print(f"generating {logs} …", flush=True)
        gen_logs(logs, int(args.log_gib * 2**30))
    if not traces.exists():
        print(f"generating {traces} …", flush=True)
        gen_traces(traces, int(args.trace_mib * 2**20))
    print(f"JSON-lines logs: {logs.stat().st_size / 2**20:.0f} MiB")
    measure("logs", DUCKDB_LOGS, logs, work)
    print(f"OTLP JSON traces: {traces.stat().st_size / 2**20:.0f} MiB")
    measure("traces", DUCKDB_TRACES, traces, work)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
