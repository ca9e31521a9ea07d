"""Exports of the local store to engines that scale out: ClickHouse and Parquet.

``otel_rows``   ONE set of named DuckDB queries rendering the store's canonical tables as
                the OpenTelemetry Collector ClickHouse exporter's rows (its table and column
                names, its spellings), shared by both targets
``clickhouse``  ``export_clickhouse``: into the exporter's tables of a ClickHouse server
                or a chDB directory (``obsctl export --to``)
``parquet``     ``export_parquet``: hive-partitioned Parquet per exporter table
                (``obsctl export --parquet``)

Like ``analysis``, this package returns plain data and never prints: the CLI presents the
``ExportedTable`` list each export returns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportedTable:
    """What an export wrote into one target table."""

    table: str
    """The target: ``database.table`` for ClickHouse, the table directory for Parquet."""
    rows: int
    """Rows written."""
    skipped: int = 0
    """Store rows of this table's kind that matched the filters but could not be written:
    a log record with neither ``timestamp`` nor ``observed_timestamp``, a span without a
    start time, a metric point without a timestamp (the exporter's tables need a time)."""
    seconds: float = 0.0
    """Wall time spent on this table."""
