"""``obsctl export --to``: push a loaded store into the ClickHouse exporter's tables.

A team keeps its telemetry in ClickHouse, written by the OpenTelemetry Collector's
``clickhouse`` exporter; pushing a support bundle there puts the incident next to the
rest, for their dashboards and for ``obsctl --store clickhouse://…``. The steps:

1. check, before anything is written, that every exporter table that already exists has
   exactly the columns (names and types) of the generation we write
   (``ddl.SPECS[…].expected_columns``): inserting into another generation would misplace
   or truncate data, so that is a ``UsageError`` naming the table and the difference;
2. create the tables that are absent (``ddl.create_tables``, the exporter's DDL);
3. per exporter table, stream the ``otel_rows`` query out of DuckDB as Arrow record
   batches and hand each to ``client.insert_arrow`` (one ``INSERT … FORMAT Arrow`` per
   batch): no Python per row, and memory bounded by one batch.

``otel_traces_trace_id_ts`` is filled by the exporter's materialized view as spans are
inserted, exactly as when the Collector writes. An export is not atomic across tables: a
failure half-way leaves the batches already inserted (the error says which table).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from obsctl.errors import QueryError, UsageError
from obsctl.export import ExportedTable
from obsctl.store import one_line

if TYPE_CHECKING:
    from obsctl.store import Store
    from obsctl.store.url import StoreURL
    from obsctl.timewindow import TimeWindow

BATCH_ROWS = 100_000
"""Rows per ``INSERT``: ClickHouse makes one part per insert, so fewer, larger inserts
(it recommends at least 1,000 rows each) keep merges cheap; 100k exporter rows are a few
tens of MB of Arrow."""

_NOT_INSERTED = ("ALIAS", "MATERIALIZED", "EPHEMERAL")


def export_clickhouse(
    store: Store,
    url: StoreURL,
    window: TimeWindow | None = None,
    services: list[str] | tuple[str, ...] | None = None,
    *,
    batch_rows: int = BATCH_ROWS,
) -> list[ExportedTable]:
    """Write the store's logs, spans and metric points into the exporter's tables.

    Args:
        store: the local store (read-only is enough).
        url: a ``clickhouse://`` or ``chdb://`` target (table names from its parameters).
        window: only records whose time falls in it (``None``: all).
        services: only these services (``None`` or empty: all).
        batch_rows: rows per insert.

    Returns:
        One ``ExportedTable`` per exporter data table, in ``otel_rows.QUERIES`` order
        (tables of no rows included, with 0).

    Raises:
        UsageError: ``url`` is a DuckDB store, or a target table exists with other columns.
        QueryError: ClickHouse refused a statement or an insert.
    """
    import pyarrow as pa

    from obsctl.export import otel_rows
    from obsctl.store.clickhouse import client as chclient
    from obsctl.store.clickhouse import ddl

    if url.engine not in ("clickhouse", "chdb"):
        raise UsageError(
            "export --to needs a ClickHouse target (clickhouse://USER@HOST:PORT/DB or "
            "chdb:///DIR); to write files use --parquet DIR"
        )
    otel_rows.register(store.con)
    names = ddl.table_names(url)
    client = chclient.connect(url, create=True)
    try:
        check_tables(client, url)
        try:
            ddl.create_tables(client, url)
        except Exception as exc:
            raise QueryError(f"cannot create the exporter tables: {one_line(exc)}") from None
        results = []
        for default, q in otel_rows.QUERIES.items():
            target = names[default]
            started = time.perf_counter()
            sql, params = otel_rows.clickhouse_sql(q, window, services)
            reader = store.stream(sql, params, batch_rows=batch_rows)
            rows = 0
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                try:
                    client.insert_arrow(
                        target, pa.Table.from_batches([batch]), database=url.database
                    )
                except Exception as exc:
                    raise QueryError(
                        f"insert into {url.database}.{target} failed after {rows:,} rows: "
                        f"{one_line(exc)}"
                    ) from None
                rows += batch.num_rows
            skip_sql, skip_params = otel_rows.skipped_sql(q, services)
            skipped = int(store.scalar(skip_sql, skip_params) or 0)
            results.append(
                ExportedTable(
                    f"{url.database}.{target}", rows, skipped, time.perf_counter() - started
                )
            )
        return results
    finally:
        client.close()


def check_tables(client: Any, url: StoreURL) -> None:
    """Refuse a target whose existing exporter tables have other columns than ours.

    Columns that are never inserted (``ALIAS``, ``MATERIALIZED``, ``EPHEMERAL``) are
    ignored; a table that does not exist yet is fine (it will be created).

    Raises:
        UsageError: naming the first table that differs and how.
    """
    from obsctl.store.clickhouse import ddl

    names = ddl.table_names(url)
    wanted = {names[d]: spec for d, spec in ddl.SPECS.items()}
    try:
        result = client.query(
            "SELECT table, name, type, default_kind FROM system.columns"
            " WHERE database = {db:String} AND table IN {tables:Array(String)}"
            " ORDER BY table, position",
            parameters={"db": url.database, "tables": sorted(wanted)},
        )
    except Exception as exc:
        raise QueryError(f"cannot read the columns of {url.display}: {one_line(exc)}") from None
    found: dict[str, dict[str, str]] = {}
    for table, name, typ, default_kind in result.result_rows:
        if default_kind in _NOT_INSERTED:
            continue
        found.setdefault(table, {})[name] = typ
    for table, spec in wanted.items():
        have = found.get(table)
        if have is None:
            continue
        diff = describe_difference(spec.expected_columns(), have)
        if diff:
            raise UsageError(
                f"{url.database}.{table} exists with other columns than the exporter table "
                f"obsctl writes ({diff}); export to another database "
                "(…?database=NAME) or other table names (logs_table=, traces_table=, "
                "metrics_table=), or drop the table"
            )


def describe_difference(expected: dict[str, str], have: dict[str, str]) -> str:
    """A short account of how ``have`` (name → type) differs from ``expected``; ``""``
    when they are the same."""
    missing = [n for n in expected if n not in have]
    extra = [n for n in have if n not in expected]
    changed = [
        f"{n} is {have[n]}, expected {t}" for n, t in expected.items() if n in have and have[n] != t
    ]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing[:4]) + (" …" if len(missing) > 4 else ""))
    if extra:
        parts.append("unexpected " + ", ".join(extra[:4]) + (" …" if len(extra) > 4 else ""))
    parts.extend(changed[:3])
    return "; ".join(parts)
