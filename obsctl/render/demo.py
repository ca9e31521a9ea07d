"""The ``obsctl demo`` summary: what was written, one row per file (profiles per folder)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obsctl.render.formats import Column, Listing

if TYPE_CHECKING:
    from obsctl.demo import DemoSummary


def demo_listing(summary: DemoSummary, took: float) -> Listing:
    """One row per file; a service's profiles share one row (their directory)."""
    import pyarrow as pa

    from obsctl.render.units import fmt_bytes, fmt_count

    rows: dict[str, dict] = {}
    for f in summary.files:
        key = f.path.rsplit("/", 1)[0] + "/" if f.format == "pprof" else f.path
        row = rows.setdefault(
            key,
            {
                "path": key,
                "format": f.format,
                "signal": f.signal,
                "files": 0,
                "records": 0,
                "bytes": 0,
            },
        )
        row["files"] += 1
        row["records"] += f.records
        row["bytes"] += f.bytes
    table = pa.Table.from_pylist(
        list(rows.values()),
        schema=pa.schema(
            [
                ("path", pa.string()),
                ("format", pa.string()),
                ("signal", pa.string()),
                ("files", pa.int64()),
                ("records", pa.int64()),
                ("bytes", pa.int64()),
            ]
        ),
    )
    sc = summary.scenario
    footer = (
        f"scenario {sc.name} · scale {summary.scale:g} · seed {summary.seed} ·"
        f" {fmt_count(summary.requests)} requests · {fmt_count(summary.records('traces'))} spans"
        f" · {fmt_count(summary.records('logs'))} log records · {len(summary.files)} files,"
        f" {fmt_bytes(summary.bytes)} in {took:.1f}s"
    )
    return Listing(
        table,
        columns=[
            Column("path", max_width=48, min_width=24),
            Column("format"),
            Column("signal"),
            Column("files", kind="int"),
            Column("records", kind="int"),
            Column("bytes", kind="bytes"),
        ],
        title=f"{summary.out_dir}: {sc.title}",
        footer=footer,
    )
