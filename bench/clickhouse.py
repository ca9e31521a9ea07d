"""Reading a ClickHouse store: working-set load speed, and commands local vs chDB.

Usage::

    python bench/clickhouse.py [--scale 1] [--repeat 3]

Builds the demo incident's store (``--scale 1``: the fixture; else a bundle generated at
that scale), pushes it into an embedded chDB with ``export_clickhouse``, then prints, best
of ``--repeat``:

* the working-set load: every logs/spans/metrics row of the store read through the named
  ClickHouse queries into DuckDB (rows/s, chDB's ~0.5 s opening included);
* ``status``, ``traces services`` and ``investigate`` through the CLI on the local store
  and on chDB (whole command, in process).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from export import build_store  # noqa: E402  (bench/export.py: the same demo store)


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from typer.testing import CliRunner

    from obsctl.cli import app
    from obsctl.export.clickhouse import export_clickhouse
    from obsctl.store import Store, open_read
    from obsctl.store.url import parse

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        local = work / "store.duckdb"
        build_store(local, args.scale, work)
        url = f"chdb://{work}/ch"
        with Store.open(local, read_only=True) as s:
            export_clickhouse(s, parse(url))
            rows = sum(
                s.scalar(f"SELECT count(*) FROM {t}") for t in ("logs", "spans", "metric_points")
            )

        def load() -> None:
            with open_read(url) as r:
                assert r.loaded is not None and sum(r.loaded.rows.values()) == rows

        secs = best(load, args.repeat)
        print(f"store: {rows:,} rows (logs + spans + metric points), scale {args.scale:g}")
        print(f"working-set load from chDB: {secs:.2f} s, {rows / secs:,.0f} rows/s")

        runner = CliRunner()
        print(f"{'command':<22}{'local':>10}{'chDB':>10}")
        for cmd in (["status"], ["traces", "services"], ["investigate"]):

            def go(store: str, cmd: list[str] = cmd) -> None:
                r = runner.invoke(app, ["--store", store, *cmd, "-f", "json"])
                assert r.exit_code in (0, 8), r.stderr

            a = best(lambda: go(str(local)), args.repeat)
            b = best(lambda: go(url), args.repeat)
            print(f"{' '.join(cmd):<22}{a:>9.2f}s{b:>9.2f}s")


if __name__ == "__main__":
    main()
