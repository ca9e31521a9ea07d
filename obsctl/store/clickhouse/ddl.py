"""The OpenTelemetry Collector ClickHouse exporter's tables, as ``export --to`` creates them.

``obsctl export --to clickhouse://…|chdb://…`` writes a loaded bundle into the very tables
the Collector's ``clickhouse`` exporter writes, so that a team's dashboards, the read side
of obsctl (``obsctl.store.clickhouse.schema``) and anything else built on the exporter see
the incident like any other telemetry. When a table is absent it is created here with the
exporter's *current generation* DDL (the one with ``otel_logs.TimestampTime`` and
nanosecond ``DateTime64(9)`` metric times), written as our own templates:

* database and table names come from the ``StoreURL`` (``logs_table``, ``traces_table``,
  ``metrics_table`` + ``_gauge|_sum|_histogram|_exponential_histogram|_summary``), always
  back-quoted (``url.py`` already accepts only plain names);
* ``ENGINE = MergeTree`` and no TTL: an exported incident is kept until someone drops it,
  where the exporter's default is a cluster-wide retention;
* column lists, codecs, skip indexes, ``PARTITION BY``, ``PRIMARY KEY`` and ``ORDER BY``
  are the exporter's, so parts prune the same way for obsctl's reads as for the exporter's.

The tables are described as data (``TableSpec``), rendered to SQL by
``create_statements``; ``expected_columns`` gives the physical columns as ClickHouse's
``system.columns`` reports them (``Nested`` flattened to ``Events.Name Array(…)``,
``Boolean`` as ``Bool``), which is what ``export`` compares an existing table against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obsctl.store.url import StoreURL

MAP = "Map(LowCardinality(String), String)"
"""The exporter's attribute type: every attribute value as a string."""

METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
"""The five metric tables' suffixes, also the store's ``metric_points.metric_type`` values."""

TABLES: dict[str, tuple[str, ...]] = {
    "logs": ("otel_logs",),
    "traces": ("otel_traces", "otel_traces_trace_id_ts", "otel_traces_trace_id_ts_mv"),
    "metrics": tuple(f"otel_metrics_{k}" for k in METRIC_KINDS),
}
"""The exporter's objects per signal under their default names, in creation order (a
materialized view after the tables it reads and writes). ``table_names(url)`` maps these
default names to the names configured in a ``--store``/``--to`` URL."""


@dataclass(frozen=True)
class Column:
    """One column of an exporter table."""

    name: str
    type: str
    """ClickHouse type; for a ``Nested`` column, ``""`` (see ``fields``)."""
    extra: str = ""
    """``DEFAULT …`` and/or ``CODEC(…)`` as written after the type."""
    fields: tuple[tuple[str, str], ...] = ()
    """A ``Nested`` column's (name, type) fields."""

    def sql(self) -> str:
        """The column's line in ``CREATE TABLE``."""
        if self.fields:
            inner = ", ".join(f"{n} {t}" for n, t in self.fields)
            typ = f"Nested({inner})"
        else:
            typ = self.type
        return f"{self.name} {typ}" + (f" {self.extra}" if self.extra else "")

    def physical(self) -> dict[str, str]:
        """The column as ``system.columns`` lists it (``Nested`` → one array per field)."""
        if self.fields:
            return {f"{self.name}.{n}": f"Array({_canonical(t)})" for n, t in self.fields}
        return {self.name: _canonical(self.type)}


def _canonical(typ: str) -> str:
    return "Bool" if typ == "Boolean" else typ


@dataclass(frozen=True)
class TableSpec:
    """One exporter table: columns, skip indexes and the MergeTree keys."""

    name: str
    """Default name (``otel_logs``…)."""
    columns: tuple[Column, ...]
    indexes: tuple[str, ...]
    """``INDEX …`` definitions, as written in ``CREATE TABLE``."""
    partition_by: str
    order_by: str
    primary_key: str = ""
    """Only when it differs from ``ORDER BY`` (``otel_logs``)."""
    settings: str = "index_granularity = 8192, ttl_only_drop_parts = 1"

    def create(self, database: str, table: str) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for this spec under ``database``.``table``."""
        body = ",\n    ".join([*(c.sql() for c in self.columns), *self.indexes])
        keys = f"PARTITION BY {self.partition_by}\n"
        if self.primary_key:
            keys += f"PRIMARY KEY {self.primary_key}\n"
        keys += f"ORDER BY {self.order_by}\n"
        return (
            f"CREATE TABLE IF NOT EXISTS {_q(database)}.{_q(table)}\n(\n    {body}\n)\n"
            f"ENGINE = MergeTree\n{keys}SETTINGS {self.settings}"
        )

    def expected_columns(self) -> dict[str, str]:
        """Physical columns, name → type, as ``system.columns`` reports them."""
        out: dict[str, str] = {}
        for c in self.columns:
            out.update(c.physical())
        return out


def _q(name: str) -> str:
    """A back-quoted identifier (names are plain already; quoting keeps keywords safe)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _map_indexes(*pairs: tuple[str, str]) -> tuple[str, ...]:
    out = []
    for short, col in pairs:
        out.append(f"INDEX idx_{short}_key mapKeys({col}) TYPE bloom_filter(0.01) GRANULARITY 1")
        out.append(
            f"INDEX idx_{short}_value mapValues({col}) TYPE bloom_filter(0.01) GRANULARITY 1"
        )
    return tuple(out)


_Z = "CODEC(ZSTD(1))"
_TRACE_ID_INDEX = "INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1"

LOGS = TableSpec(
    "otel_logs",
    (
        Column("Timestamp", "DateTime64(9)", "CODEC(Delta(8), ZSTD(1))"),
        Column("TimestampTime", "DateTime", "DEFAULT toDateTime(Timestamp)"),
        Column("TraceId", "String", _Z),
        Column("SpanId", "String", _Z),
        Column("TraceFlags", "UInt8"),
        Column("SeverityText", "LowCardinality(String)", _Z),
        Column("SeverityNumber", "UInt8"),
        Column("ServiceName", "LowCardinality(String)", _Z),
        Column("Body", "String", _Z),
        Column("ResourceSchemaUrl", "LowCardinality(String)", _Z),
        Column("ResourceAttributes", MAP, _Z),
        Column("ScopeSchemaUrl", "LowCardinality(String)", _Z),
        Column("ScopeName", "String", _Z),
        Column("ScopeVersion", "LowCardinality(String)", _Z),
        Column("ScopeAttributes", MAP, _Z),
        Column("LogAttributes", MAP, _Z),
    ),
    (
        _TRACE_ID_INDEX,
        *_map_indexes(
            ("res_attr", "ResourceAttributes"),
            ("scope_attr", "ScopeAttributes"),
            ("log_attr", "LogAttributes"),
        ),
        "INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8",
    ),
    partition_by="toDate(TimestampTime)",
    primary_key="(ServiceName, TimestampTime)",
    order_by="(ServiceName, TimestampTime, Timestamp)",
)

TRACES = TableSpec(
    "otel_traces",
    (
        Column("Timestamp", "DateTime64(9)", "CODEC(Delta(8), ZSTD(1))"),
        Column("TraceId", "String", _Z),
        Column("SpanId", "String", _Z),
        Column("ParentSpanId", "String", _Z),
        Column("TraceState", "String", _Z),
        Column("SpanName", "LowCardinality(String)", _Z),
        Column("SpanKind", "LowCardinality(String)", _Z),
        Column("ServiceName", "LowCardinality(String)", _Z),
        Column("ResourceAttributes", MAP, _Z),
        Column("ScopeName", "String", _Z),
        Column("ScopeVersion", "String", _Z),
        Column("SpanAttributes", MAP, _Z),
        Column("Duration", "UInt64", "CODEC(ZSTD(1))"),
        Column("StatusCode", "LowCardinality(String)", _Z),
        Column("StatusMessage", "String", _Z),
        Column(
            "Events",
            "",
            _Z,
            (
                ("Timestamp", "DateTime64(9)"),
                ("Name", "LowCardinality(String)"),
                ("Attributes", MAP),
            ),
        ),
        Column(
            "Links",
            "",
            _Z,
            (
                ("TraceId", "String"),
                ("SpanId", "String"),
                ("TraceState", "String"),
                ("Attributes", MAP),
            ),
        ),
    ),
    (
        _TRACE_ID_INDEX,
        *_map_indexes(("res_attr", "ResourceAttributes"), ("span_attr", "SpanAttributes")),
        "INDEX idx_duration Duration TYPE minmax GRANULARITY 1",
    ),
    partition_by="toDate(Timestamp)",
    order_by="(ServiceName, SpanName, toDateTime(Timestamp))",
)

TRACE_ID_TS = TableSpec(
    "otel_traces_trace_id_ts",
    (
        Column("TraceId", "String", _Z),
        Column("Start", "DateTime", "CODEC(Delta, ZSTD(1))"),
        Column("End", "DateTime", "CODEC(Delta, ZSTD(1))"),
    ),
    ("INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1",),
    partition_by="toDate(Start)",
    order_by="(TraceId, Start)",
)

_METRIC_HEAD = (
    Column("ResourceAttributes", MAP, _Z),
    Column("ResourceSchemaUrl", "String", _Z),
    Column("ScopeName", "String", _Z),
    Column("ScopeVersion", "String", _Z),
    Column("ScopeAttributes", MAP, _Z),
    Column("ScopeDroppedAttrCount", "UInt32", _Z),
    Column("ScopeSchemaUrl", "String", _Z),
    Column("ServiceName", "LowCardinality(String)", _Z),
    Column("MetricName", "String", _Z),
    Column("MetricDescription", "String", _Z),
    Column("MetricUnit", "String", _Z),
    Column("Attributes", MAP, _Z),
    Column("StartTimeUnix", "DateTime64(9)", "CODEC(Delta, ZSTD(1))"),
    Column("TimeUnix", "DateTime64(9)", "CODEC(Delta, ZSTD(1))"),
)
_EXEMPLARS = Column(
    "Exemplars",
    "",
    _Z,
    (
        ("FilteredAttributes", MAP),
        ("TimeUnix", "DateTime64(9)"),
        ("Value", "Float64"),
        ("SpanId", "String"),
        ("TraceId", "String"),
    ),
)
_FLAGS = Column("Flags", "UInt32", _Z)
_MINMAX_TEMPORALITY = (
    Column("Min", "Float64", _Z),
    Column("Max", "Float64", _Z),
    Column("AggregationTemporality", "Int32", _Z),
)
_COUNT_SUM = (Column("Count", "UInt64", "CODEC(Delta, ZSTD(1))"), Column("Sum", "Float64", _Z))

_METRIC_TAILS: dict[str, tuple[Column, ...]] = {
    "gauge": (Column("Value", "Float64", _Z), _FLAGS, _EXEMPLARS),
    "sum": (
        Column("Value", "Float64", _Z),
        _FLAGS,
        _EXEMPLARS,
        Column("AggregationTemporality", "Int32", _Z),
        Column("IsMonotonic", "Boolean", "CODEC(Delta, ZSTD(1))"),
    ),
    "histogram": (
        *_COUNT_SUM,
        Column("BucketCounts", "Array(UInt64)", _Z),
        Column("ExplicitBounds", "Array(Float64)", _Z),
        _EXEMPLARS,
        _FLAGS,
        *_MINMAX_TEMPORALITY,
    ),
    "exponential_histogram": (
        *_COUNT_SUM,
        Column("Scale", "Int32", _Z),
        Column("ZeroCount", "UInt64", _Z),
        Column("PositiveOffset", "Int32", _Z),
        Column("PositiveBucketCounts", "Array(UInt64)", _Z),
        Column("NegativeOffset", "Int32", _Z),
        Column("NegativeBucketCounts", "Array(UInt64)", _Z),
        _EXEMPLARS,
        _FLAGS,
        *_MINMAX_TEMPORALITY,
    ),
    "summary": (
        *_COUNT_SUM,
        Column("ValueAtQuantiles", "", _Z, (("Quantile", "Float64"), ("Value", "Float64"))),
        _FLAGS,
    ),
}

METRICS = {
    kind: TableSpec(
        f"otel_metrics_{kind}",
        (*_METRIC_HEAD, *_METRIC_TAILS[kind]),
        _map_indexes(
            ("res_attr", "ResourceAttributes"),
            ("scope_attr", "ScopeAttributes"),
            ("attr", "Attributes"),
        ),
        partition_by="toDate(TimeUnix)",
        order_by="(ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))",
    )
    for kind in METRIC_KINDS
}

SPECS: dict[str, TableSpec] = {s.name: s for s in (LOGS, TRACES, TRACE_ID_TS, *METRICS.values())}
"""Every exporter table by default name (the materialized view is not a table)."""

MV = "otel_traces_trace_id_ts_mv"


def table_names(url: StoreURL) -> dict[str, str]:
    """Default exporter name → the name in ``url`` (its ``*_table`` parameters)."""
    out = {"otel_logs": url.logs_table}
    out["otel_traces"] = url.traces_table
    out["otel_traces_trace_id_ts"] = f"{url.traces_table}_trace_id_ts"
    out[MV] = f"{url.traces_table}_trace_id_ts_mv"
    for kind in METRIC_KINDS:
        out[f"otel_metrics_{kind}"] = f"{url.metrics_table}_{kind}"
    return out


def create_statement(url: StoreURL, default_name: str) -> str:
    """``CREATE … IF NOT EXISTS`` of one exporter object (default name) for ``url``."""
    names = table_names(url)
    db = url.database
    if default_name == MV:
        return (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {_q(db)}.{_q(names[MV])}\n"
            f"TO {_q(db)}.{_q(names['otel_traces_trace_id_ts'])}\n"
            "AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End\n"
            f"FROM {_q(db)}.{_q(names['otel_traces'])}\n"
            "WHERE TraceId != ''\nGROUP BY TraceId"
        )
    return SPECS[default_name].create(db, names[default_name])


def create_statements(url: StoreURL) -> list[str]:
    """Every exporter object's ``CREATE … IF NOT EXISTS``, in creation order."""
    return [create_statement(url, name) for names in TABLES.values() for name in names]


def existing(client: Any, url: StoreURL) -> set[str]:
    """Names of the tables and views that already exist in ``url.database``."""
    result = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}",
        parameters={"db": url.database},
    )
    return {row[0] for row in result.result_rows}


def create_tables(client: Any, url: StoreURL) -> list[str]:
    """Create the exporter objects ``url.database`` lacks.

    Args:
        client: a ``clickhouse_connect`` client (``obsctl.store.clickhouse.client.connect``).
        url: where, and under which table names.

    Returns:
        The names (as in ``url``) of the objects created, in creation order; empty when
        every one existed.
    """
    names = table_names(url)
    have = existing(client, url)
    created = []
    for group in TABLES.values():
        for default in group:
            if names[default] in have:
                continue
            client.command(create_statement(url, default))
            created.append(names[default])
    return created
