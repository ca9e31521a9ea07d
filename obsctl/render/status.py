"""Views of ``analysis.status``: the signals table and the sources table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from obsctl.render.formats import Column, Listing

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.analysis.status import SignalSummary


def signals_listing(
    signals: Sequence[SignalSummary],
    store_path: str,
    sources: tuple[int, int] = (0, 0),
    remote: bool = False,
) -> Listing:
    """One row per signal: records, sources, services, start, end; ``sources`` is
    (files loaded, records rejected) for the footer; ``remote``: a ClickHouse store,
    whose sources are the exporter's tables."""
    import pyarrow as pa

    table = pa.table(
        {
            "signal": [s.signal for s in signals],
            "records": pa.array([s.records for s in signals], pa.int64()),
            "sources": pa.array([s.sources for s in signals], pa.int64()),
            "service_count": pa.array([len(s.services) for s in signals], pa.int64()),
            "services": pa.array([list(s.services) for s in signals], pa.list_(pa.string())),
            "start": pa.array([s.start for s in signals], pa.timestamp("us")),
            "end": pa.array([s.end for s in signals], pa.timestamp("us")),
        }
    )
    return Listing(
        table,
        columns=[
            Column("signal", style="bold"),
            Column("records", kind="int"),
            Column("sources", kind="int"),
            Column("service_count", "services", kind="int"),
            Column("start", kind="time"),
            Column("end", kind="time"),
            Column("services", "names", kind="list", max_width=60),
        ],
        title=f"store {store_path}",
        footer=(
            f"{sources[0]:,} exporter tables · list them with: obsctl status --sources"
            if remote
            else f"{sources[0]:,} files loaded, {sources[1]:,} records rejected"
            " · list them with: obsctl status --sources"
        ),
    )


def sources_listing(sources: pa.Table) -> Listing:
    """One row per loaded file."""
    return Listing(
        sources,
        columns=[
            Column("source_id", "id", kind="int"),
            Column("path", max_width=60, min_width=36, ellipsis="left"),
            Column("format"),
            Column("signal"),
            Column("records", kind="int"),
            Column("rejected", kind="int"),
            Column("bytes", kind="bytes"),
        ],
        title="sources",
    )
