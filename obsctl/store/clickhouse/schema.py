"""Which generation of the exporter's schema each table is: probed once per table.

Real clusters keep tables created by several collector versions side by side, and the
exporter never migrates a table it finds. What differs, and what obsctl reads here:

* ``otel_logs`` with ``TimestampTime DateTime`` in the sort key (``ORDER BY (ServiceName,
  TimestampTime, Timestamp)``), or without it (``ORDER BY (ServiceName, SeverityText,
  toUnixTimestamp(Timestamp), TraceId)``);
* time columns as ``DateTime64(9)`` (nanoseconds) or ``DateTime`` (seconds);
* span kinds and status codes spelled ``SPAN_KIND_SERVER``/``STATUS_CODE_ERROR`` (older
  writers) or ``Server``/``Error`` (current) — a data difference, normalised in the
  queries for every row, so mixed tables read right too.

The probe reads ``system.columns`` and ``system.tables`` (two small queries for the whole
database). The sort key's time expression is kept as ClickHouse wrote it, so that window
filters can be written in that same form (``toDateTime(Timestamp) >= …``) and ClickHouse
prunes parts and granules with the primary index — see ``queries.time_filter``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from obsctl.store.clickhouse import ddl
from obsctl.store.url import StoreURL

METRIC_KINDS = ddl.METRIC_KINDS
"""Metric point types, in the exporter's table-name spelling (``otel_metrics_<kind>``)."""


@dataclass(frozen=True)
class TableInfo:
    """One exporter table as found in the database."""

    name: str
    """Table name (``otel_logs``…)."""
    columns: dict[str, str]
    """Column name → ClickHouse type, as ``system.columns`` reports them."""
    sorting_key: str
    """``system.tables.sorting_key`` (e.g. ``ServiceName, TimestampTime, Timestamp``)."""
    time_column: str
    """The record-time column: ``Timestamp`` (logs, spans) or ``TimeUnix`` (metrics)."""
    key_time: str
    """The sort key's element that orders by time, written as in the key (``TimestampTime``,
    ``toDateTime(Timestamp)``, ``toUnixTimestamp(Timestamp)``,
    ``toUnixTimestamp64Nano(TimeUnix)``), or ``""`` when the key has none."""

    @property
    def time_type(self) -> str:
        """The time column's type, ``DateTime64(9)`` or ``DateTime`` (maybe with a zone)."""
        return self.columns.get(self.time_column, "")

    @property
    def nanoseconds(self) -> bool:
        """Whether the time column keeps sub-second precision (``DateTime64``)."""
        return self.time_type.startswith("DateTime64")

    def has(self, column: str) -> bool:
        """Whether the table has ``column`` (``Events.Timestamp`` for Nested parts)."""
        return column in self.columns


@dataclass(frozen=True)
class Layout:
    """The exporter tables present in one database, probed once per store opening."""

    database: str
    logs: TableInfo | None
    traces: TableInfo | None
    trace_index: TableInfo | None
    """``otel_traces_trace_id_ts``: trace id → [Start, End], for look-ups by id."""
    metrics: dict[str, TableInfo]
    """Metric kind (``gauge``…) → table, only the kinds present."""

    def tables(self) -> list[tuple[str, TableInfo]]:
        """(signal, table) for every record table present, logs → traces → metrics."""
        out: list[tuple[str, TableInfo]] = []
        if self.logs:
            out.append(("logs", self.logs))
        if self.traces:
            out.append(("traces", self.traces))
        out.extend(("metrics", t) for t in self.metrics.values())
        return out


_COLUMNS_SQL = """
SELECT table, name, type FROM system.columns
WHERE database = {db:String} AND table IN {tables:Array(String)}
ORDER BY table, position
"""

_TABLES_SQL = """
SELECT name, sorting_key FROM system.tables
WHERE database = {db:String} AND name IN {tables:Array(String)}
"""


def table_names(url: StoreURL) -> dict[str, str]:
    """Role → table name for ``url``'s configured names
    (``metrics.gauge`` → ``otel_metrics_gauge``), from the DDL's own naming."""
    names = ddl.table_names(url)
    roles = {
        "logs": names["otel_logs"],
        "traces": names["otel_traces"],
        "trace_index": names["otel_traces_trace_id_ts"],
    }
    roles.update({f"metrics.{k}": names[f"otel_metrics_{k}"] for k in METRIC_KINDS})
    return roles


def probe(client: Any, url: StoreURL) -> Layout:
    """Find the exporter tables in ``url``'s database and how each was created."""
    names = table_names(url)
    wanted = list(names.values())
    params = {"db": url.database, "tables": wanted}
    columns: dict[str, dict[str, str]] = {}
    for table, name, type_ in client.query(_COLUMNS_SQL, parameters=params).result_rows:
        columns.setdefault(table, {})[name] = type_
    keys = dict(client.query(_TABLES_SQL, parameters=params).result_rows)

    def info(role: str, time_column: str) -> TableInfo | None:
        name = names[role]
        if name not in columns:
            return None
        key = keys.get(name, "") or ""
        return TableInfo(
            name=name,
            columns=columns[name],
            sorting_key=key,
            time_column=time_column,
            key_time=_key_time(key, time_column),
        )

    return Layout(
        database=url.database,
        logs=info("logs", "Timestamp"),
        traces=info("traces", "Timestamp"),
        trace_index=info("trace_index", "Start"),
        metrics={k: t for k in METRIC_KINDS if (t := info(f"metrics.{k}", "TimeUnix")) is not None},
    )


def _split_key(key: str) -> list[str]:
    """Top-level elements of a sorting key (commas inside parentheses kept)."""
    parts, depth, cur = [], 0, []
    for ch in key:
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


_TIME_FUNCS = re.compile(
    r"^(toDateTime|toUnixTimestamp|toUnixTimestamp64Nano|toUnixTimestamp64Micro|"
    r"toUnixTimestamp64Milli|toStartOfSecond|toStartOfMinute|toStartOfHour|toDate)\((\w+)\)$"
)


def _key_time(key: str, column: str) -> str:
    """The first sort-key element that is ``column``, ``TimestampTime`` or a monotonic
    function of ``column`` — the form a window filter must take to use the index."""
    for part in _split_key(key):
        if part in (column, "TimestampTime"):
            return part
        m = _TIME_FUNCS.match(part)
        if m and m.group(2) == column:
            return part
    return ""
