"""``obsctl export``: push the loaded store to ClickHouse, or write it as Parquet.

``--to clickhouse://…|chdb://…`` writes into the OpenTelemetry Collector ClickHouse
exporter's tables (created when absent), so an incident can join a team's cluster;
``--parquet DIR`` writes hive-partitioned Parquet per exporter table for DuckDB,
ClickHouse or Spark. ``--since/--until/--service`` export a slice. stdout lists the target
tables with the rows written and skipped (``--format`` for scripts); the target, the total
and what is not exported (profiles) go to stderr.

Option errors (neither or both targets, a DuckDB ``--to``, ``--overwrite`` without
``--parquet``, a bad time) are usage errors, exit 2, raised before the store is opened.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from obsctl.cli.options import (
    FormatOpt,
    ServiceOpt,
    SinceOpt,
    StoreOpt,
    UntilOpt,
    emit,
    note,
    read_store,
    state,
    store_path,
)

ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="ClickHouse target: clickhouse://USER@HOST:PORT/DB[?secure=true] (password from"
        " OBSCTL_CLICKHOUSE_PASSWORD) or chdb:///DIR; the exporter's tables are created when"
        " absent.",
        metavar="URL",
        show_default=False,
    ),
]
ParquetOpt = Annotated[
    str | None,
    typer.Option(
        "--parquet",
        help="Write hive-partitioned Parquet into DIR/<exporter table>/date=YYYY-MM-DD/.",
        metavar="DIR",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option("--overwrite", help="With --parquet: replace the tables of an earlier export."),
]


def export(
    ctx: typer.Context,
    to: ToOpt = None,
    parquet: ParquetOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    service: ServiceOpt = None,
    overwrite: OverwriteOpt = False,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Export logs, traces and metrics to ClickHouse (the OpenTelemetry exporter's tables)
    or to Parquet; profiles are not exported."""
    from obsctl.errors import UsageError
    from obsctl.store import Store
    from obsctl.store.url import parse
    from obsctl.timewindow import WindowSpec

    if (to is None) == (parquet is None):
        raise UsageError("give one target: --to URL (ClickHouse, chDB) or --parquet DIR")
    if overwrite and parquet is None:
        raise UsageError("--overwrite applies to --parquet (ClickHouse tables are appended to)")
    url = None
    if to is not None:
        url = parse(to)
        if not url.remote:
            raise UsageError(
                f"--to {to!r}: not a ClickHouse URL (clickhouse://USER@HOST:PORT/DB or "
                "chdb:///DIR); to write files use --parquet DIR"
            )
    if parse(store_path(ctx, store)).remote:
        raise UsageError(
            "export reads the local store: --store must be a DuckDB store (a path or "
            "duckdb:///PATH), not a ClickHouse one"
        )
    spec = WindowSpec.parse(since, until)
    services = [s for s in service or [] if s] or None
    policy = state(ctx).policy
    started = time.perf_counter()
    with read_store(ctx, store) as s:
        assert isinstance(s, Store)
        window = spec.resolve(s)
        window = window if window.bounded else None
        profiles = _profiles(s, services)
        if url is not None:
            from obsctl.export.clickhouse import export_clickhouse

            results = export_clickhouse(s, url, window, services)
            where = url.display
        else:
            from obsctl.export.parquet import export_parquet

            assert parquet is not None
            results = export_parquet(s, parquet, window, services, overwrite=overwrite)
            where = parquet
    elapsed = time.perf_counter() - started
    emit(policy, format, _listing(results))
    rows = sum(r.rows for r in results)
    rate = f" ({rows / elapsed:,.0f} rows/s)" if elapsed > 0 and rows else ""
    note(policy, f"exported {rows:,} rows to {_printable(where)} in {elapsed:.1f}s{rate}")
    skipped = sum(r.skipped for r in results)
    if skipped:
        note(policy, f"{skipped:,} records without a time were skipped (the tables need one)")
    if profiles:
        note(
            policy,
            f"{profiles:,} profiles not exported: the ClickHouse exporter has no stable"
            " profile tables",
        )


def _profiles(store: object, services: list[str] | None) -> int:
    """How many loaded profiles (of ``services``) the export leaves out."""
    sql = "SELECT count(*) FROM profiles"
    if services:
        sql += " WHERE list_contains($services::VARCHAR[], service_name)"
    return int(store.scalar(sql, {"services": services} if services else None) or 0)  # type: ignore[attr-defined]


def _listing(results: list) -> object:
    """The per-table result as a ``Listing`` (columns ``table``, ``rows``, ``skipped``)."""
    import pyarrow as pa

    from obsctl.render.formats import Column, Listing

    table = pa.table(
        {
            "table": pa.array([r.table for r in results], pa.string()),
            "rows": pa.array([r.rows for r in results], pa.int64()),
            "skipped": pa.array([r.skipped for r in results], pa.int64()),
        }
    )
    return Listing(
        table,
        columns=[
            Column("table", "target table", kind="text", ellipsis="left", min_width=20),
            Column("rows", kind="int"),
            Column("skipped", kind="int"),
        ],
    )


def _printable(text: str) -> str:
    """A path or URL for a stderr note, with control characters made visible."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))
