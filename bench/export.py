"""Export speed: ``obsctl export --parquet`` and ``--to chdb://`` in rows per second.

Usage::

    python bench/export.py [--scale 1] [--repeat 3] [--store PATH]

Without ``--store`` it ingests the demo incident (``fixtures/checkout-incident`` at
``--scale 1``, else a bundle that ``obsctl.demo.generate`` writes at that scale) into a
temporary store, then exports the whole store, best of ``--repeat``:

* to Parquet (``export_parquet``, a fresh directory each time);
* to an embedded chDB (``export_clickhouse``, a fresh directory each time, tables
  created by the exporter DDL); the time to open chDB is included, as a user pays it.

It prints rows per exporter table, the seconds of each target and rows/s over all rows
(logs + spans + metric points), and the split per table of the best run.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_store(path: Path, scale: float, work: Path) -> None:
    """Ingest the demo incident (the fixture, or a generated bundle) into ``path``."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    if scale == 1:
        bundle = ROOT / "fixtures" / "checkout-incident"
    else:
        from obsctl.demo import generate

        bundle = work / "bundle"
        generate(bundle, scale=scale, gzip=True)
    with Store.open(path) as s:
        ingest_paths(s, [str(bundle)])


def run(label: str, export, repeat: int) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    """Best wall time of ``export()`` over ``repeat`` runs, and its results."""
    best, results = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        results = export()
        best = min(best, time.perf_counter() - started)
    rows = sum(r.rows for r in results)
    print(f"{label:<10} {rows:>10,} rows  {best:6.2f} s  {rows / best:>10,.0f} rows/s")
    return best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale (1 = fixture)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", type=Path, help="export this store instead of the demo")
    args = parser.parse_args()

    from obsctl.export.clickhouse import export_clickhouse
    from obsctl.export.parquet import export_parquet
    from obsctl.store import Store
    from obsctl.store.url import parse

    with tempfile.TemporaryDirectory(prefix="obsctl-bench-export-") as tmp:
        work = Path(tmp)
        store_path = args.store
        if store_path is None:
            store_path = work / "store.duckdb"
            started = time.perf_counter()
            build_store(store_path, args.scale, work)
            print(f"demo scale {args.scale:g} ingested in {time.perf_counter() - started:.1f} s")
        with Store.open(store_path, read_only=True) as s:
            counts = {t: s.scalar(f"SELECT count(*) FROM {t}") for t in ("logs", "spans")}
            counts["metric_points"] = s.scalar("SELECT count(*) FROM metric_points")
            print("store: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

            def parquet() -> list:
                out = work / "parquet"
                shutil.rmtree(out, ignore_errors=True)
                return export_parquet(s, out)

            def chdb() -> list:
                out = work / "chdb"
                shutil.rmtree(out, ignore_errors=True)
                return export_clickhouse(s, parse(f"chdb://{out}"))

            report = [run("parquet", parquet, args.repeat)]
            if importlib.util.find_spec("chdb") is None:
                print("chdb       not installed (pip install 'obsctl[chdb]'): skipped")
            else:
                report.append(run("chdb", chdb, args.repeat))
        for label, (_, results) in zip(("parquet", "chdb"), report, strict=False):
            print(f"\n{label}: per table (last run)")
            for r in results:
                name = r.table.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
                rate = f"{r.rows / r.seconds:>10,.0f} rows/s" if r.rows and r.seconds else ""
                print(f"  {name:<36} {r.rows:>9,}  {r.seconds:6.2f} s  {rate}")


if __name__ == "__main__":
    main()
