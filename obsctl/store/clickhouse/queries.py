"""The named ClickHouse queries: every line of ClickHouse SQL obsctl runs to read a store.

Each ``*_sql(table)`` returns the SQL for one probed table (``schema.TableInfo``), so a
query is written once and adapts to the table's generation. The record queries return the
columns of obsctl's canonical tables (``obsctl/store/migrations.py``) in the same Arrow
shapes the DuckDB store has:

* times as ``Int64`` nanoseconds since the epoch (``DateTime`` columns × 10⁹);
* attribute maps as JSON objects, without the ``''`` values that stand for a missing key
  in a ``Map(LowCardinality(String), String)`` (so a missing attribute reads as NULL);
* ``''``/``0`` that the exporter writes for an absent string/number read back as NULL;
* span kinds and status codes in the canonical spelling (``SERVER``, ``ERROR``) whichever
  generation wrote them (``SPAN_KIND_SERVER``/``Server``, ``STATUS_CODE_ERROR``/``Error``).

Every filter is a bound parameter (``{lo:Int64}``, ``{services:Array(String)}``); table
names come from the probe (``system.tables``) or from ``--store`` parameters, which
``obsctl.store.url`` restricts to plain identifiers.

Window filters are written twice: once exactly, on the nanosecond value, and once in the
sort key's own form (``toDateTime(Timestamp) >= toDateTime(fromUnixTimestamp64Nano(…))``),
which is what lets ClickHouse skip parts and granules with the primary index
(``tests/store/test_clickhouse.py`` checks this with ``EXPLAIN indexes = 1``).

Dialect notes for whoever adds a query: ``UInt64 - UInt64`` is signed in ClickHouse;
``quantileExactInclusive`` equals DuckDB's ``quantile_cont``; ``ARRAY JOIN`` replaces
``unnest``; names are case-sensitive.
"""

from __future__ import annotations

import re

from obsctl.store.clickhouse.schema import Layout, TableInfo

SETTINGS = "SETTINGS output_format_json_quote_64bit_integers = 0"
"""JSON built by ``toJSONString`` keeps 64-bit integers as numbers (event times)."""


def ns(table: TableInfo, column: str) -> str:
    """SQL: ``column`` as Int64 nanoseconds, whatever its time type."""
    type_ = table.columns.get(column, "")
    if type_.startswith("DateTime64") or type_.startswith("Nullable(DateTime64"):
        return f"toUnixTimestamp64Nano({column})"
    return f"toInt64(toUnixTimestamp({column})) * 1000000000"


def _const(table: TableInfo, param: str) -> str:
    """SQL: the parameter ``param`` (Int64 ns) as a value of the time column's type."""
    if table.nanoseconds:
        return f"fromUnixTimestamp64Nano({{{param}:Int64}})"
    return f"toDateTime(intDiv({{{param}:Int64}}, 1000000000))"


def _key_form(table: TableInfo, param: str) -> str:
    """SQL: the sort key's time element applied to the bound instant ``param``."""
    const = _const(table, param)
    if table.key_time == "TimestampTime":
        return f"toDateTime({const})"
    return re.sub(rf"\b{table.time_column}\b", lambda _: const, table.key_time)


def time_filter(table: TableInfo) -> str:
    """SQL: ``{lo} <= time < {hi}`` (both Int64 ns), plus the same bounds in the sort
    key's form so the primary index prunes (monotonic key ⇒ ``>=``/``<=`` are safe)."""
    t = ns(table, table.time_column)
    exact = f"{t} >= {{lo:Int64}} AND {t} < {{hi:Int64}}"
    if not table.key_time:
        return exact
    key = table.key_time
    return f"{key} >= {_key_form(table, 'lo')} AND {key} <= {_key_form(table, 'hi')} AND {exact}"


def where(table: TableInfo, *, services: bool) -> str:
    """The WHERE clause of a record query: window, and services when asked."""
    parts = [time_filter(table)]
    if services:
        parts.insert(0, "ServiceName IN {services:Array(String)}")
    return " AND ".join(parts)


def _text(table: TableInfo, column: str) -> str:
    """SQL: a string column with ``''`` (the exporter's "absent") as NULL."""
    if not table.has(column):
        return "CAST(NULL AS Nullable(String))"
    return f"nullIf(toString({column}), '')"


def _map(table: TableInfo, column: str, *, empty_null: bool) -> str:
    """SQL: a Map column as a JSON object without ``''`` values.

    ``empty_null``: an empty map reads as NULL (resource attributes, which the DuckDB
    store leaves NULL when a format has none) rather than ``{}`` (record attributes)."""
    if not table.has(column):
        return "CAST(NULL AS Nullable(String))" if empty_null else "'{}'"
    kept = f"mapFilter((k, v) -> v != '', {column})"
    if empty_null:
        return f"if(empty({kept}), NULL, toJSONString({kept}))"
    return f"toJSONString({kept})"


def logs_sql(layout: Layout, table: TableInfo, *, services: bool) -> str:
    """Log records in a window → the ``logs`` table's columns (``source_id`` bound)."""
    severity = (
        "nullIf(toInt16(SeverityNumber), 0)"
        if table.has("SeverityNumber")
        else "CAST(NULL AS Nullable(Int16))"
    )
    return f"""
SELECT
    {ns(table, "Timestamp")} AS timestamp,
    CAST(NULL AS Nullable(Int64)) AS observed_timestamp,
    {_text(table, "ServiceName")} AS service_name,
    {_text(table, "SeverityText")} AS severity_text,
    {severity} AS severity_number,
    Body AS body,
    nullIf(lower(TraceId), '') AS trace_id,
    nullIf(lower(SpanId), '') AS span_id,
    {_map(table, "LogAttributes", empty_null=False)} AS attributes,
    {_map(table, "ResourceAttributes", empty_null=True)} AS resource_attributes,
    {_text(table, "ScopeName")} AS scope_name
FROM {layout.database}.{table.name}
WHERE {where(table, services=services)}
{SETTINGS}
"""


_KIND = "nullIf(upper(replaceRegexpOne(toString(SpanKind), '^(?i:SPAN_KIND_)', '')), '')"
_STATUS = (
    "if(StatusCode = '', 'UNSET',"
    " upper(replaceRegexpOne(toString(StatusCode), '^(?i:STATUS_CODE_)', '')))"
)


def spans_sql(layout: Layout, table: TableInfo, *, by_trace: bool = False) -> str:
    """Spans in a window (or of the traces ``{trace_ids}``) → the ``spans`` table's columns."""
    start = ns(table, "Timestamp")
    events = "'[]'"
    if table.has("Events.Timestamp"):
        events = (
            "toJSONString(arrayMap((t, n, a) -> CAST((toUnixTimestamp64Nano(t), toString(n),"
            " mapFilter((k, v) -> v != '', a)), 'Tuple(time_unix_nano Int64, name String,"
            " attributes Map(String, String))'), `Events.Timestamp`, `Events.Name`,"
            " `Events.Attributes`))"
        )
    links = "'[]'"
    if table.has("Links.TraceId"):
        links = (
            "toJSONString(arrayMap((t, s, st, a) -> CAST((lower(t), lower(s), st,"
            " mapFilter((k, v) -> v != '', a)), 'Tuple(trace_id String, span_id String,"
            " trace_state String, attributes Map(String, String))'), `Links.TraceId`,"
            " `Links.SpanId`, `Links.TraceState`, `Links.Attributes`))"
        )
    if by_trace:
        # A trace's spans: the id index gives its time range, which keeps the partition
        # and primary-key pruning (the bloom filter on TraceId does the rest).
        cond = f"TraceId IN {{trace_ids:Array(String)}} AND {time_filter(table)}"
    else:
        cond = time_filter(table)
    return f"""
SELECT
    lower(TraceId) AS trace_id,
    lower(SpanId) AS span_id,
    nullIf(lower(ParentSpanId), '') AS parent_span_id,
    {_text(table, "TraceState")} AS trace_state,
    toString(SpanName) AS name,
    {_KIND} AS kind,
    {start} AS start_time,
    {start} + toInt64(Duration) AS end_time,
    toInt64(Duration) AS duration_ns,
    {_STATUS} AS status_code,
    {_text(table, "StatusMessage")} AS status_message,
    {_text(table, "ServiceName")} AS service_name,
    {_map(table, "SpanAttributes", empty_null=False)} AS attributes,
    {_map(table, "ResourceAttributes", empty_null=True)} AS resource_attributes,
    {_text(table, "ScopeName")} AS scope_name,
    {_text(table, "ScopeVersion")} AS scope_version,
    {events} AS events,
    {links} AS links
FROM {layout.database}.{table.name}
WHERE {cond}
{SETTINGS}
"""


def trace_bounds_sql(layout: Layout, index: TableInfo) -> str:
    """Trace ids → their [Start, End] seconds from ``otel_traces_trace_id_ts``."""
    return f"""
SELECT lower(TraceId) AS trace_id,
       toInt64(toUnixTimestamp(min(Start))) * 1000000000 AS lo,
       (toInt64(toUnixTimestamp(max(End))) + 1) * 1000000000 AS hi
FROM {layout.database}.{index.name}
WHERE TraceId IN {{trace_ids:Array(String)}}
GROUP BY TraceId
"""


_TEMPORALITY = (
    "multiIf(AggregationTemporality = 1, 'delta', AggregationTemporality = 2, 'cumulative', NULL)"
)


def metrics_sql(layout: Layout, kind: str, table: TableInfo, *, services: bool) -> str:
    """One metric table's points in a window → the ``metric_points`` table's columns."""
    null_f = "CAST(NULL AS Nullable(Float64))"
    null_i = "CAST(NULL AS Nullable(Int32))"
    null_a = "CAST(NULL AS Nullable(String))"  # arrays are cast in DuckDB from JSON text
    value = "Value" if kind in ("gauge", "sum") else null_f
    monotonic = "IsMonotonic" if kind == "sum" else "CAST(NULL AS Nullable(Bool))"
    temporality = _TEMPORALITY if table.has("AggregationTemporality") else null_a
    counted = kind in ("histogram", "exponential_histogram", "summary")
    count = "toFloat64(Count)" if counted else null_f
    total = "Sum" if counted else null_f
    has_minmax = kind in ("histogram", "exponential_histogram") and table.has("Min")
    # The exporter writes 0 for an absent min/max: both 0 reads as "not recorded".
    minimum = "if(Min = 0 AND Max = 0, NULL, Min)" if has_minmax else null_f
    maximum = "if(Min = 0 AND Max = 0, NULL, Max)" if has_minmax else null_f
    buckets = bounds = pos = neg = quantiles = null_a
    scale = zero = pos_off = neg_off = null_i
    if kind == "histogram":
        buckets = "toJSONString(arrayMap(x -> toFloat64(x), BucketCounts))"
        bounds = "toJSONString(ExplicitBounds)"
    if kind == "exponential_histogram":
        scale, zero = "Scale", "toFloat64(ZeroCount)"
        pos_off, neg_off = "PositiveOffset", "NegativeOffset"
        pos = "toJSONString(arrayMap(x -> toFloat64(x), PositiveBucketCounts))"
        neg = "toJSONString(arrayMap(x -> toFloat64(x), NegativeBucketCounts))"
    if kind == "summary":
        quantiles = (
            "toJSONString(arrayMap((q, v) -> CAST((q, v), 'Tuple(quantile Float64,"
            " value Float64)'), `ValueAtQuantiles.Quantile`, `ValueAtQuantiles.Value`))"
        )
    start = (
        f"nullIf({ns(table, 'StartTimeUnix')}, 0)"
        if table.has("StartTimeUnix")
        else "CAST(NULL AS Nullable(Int64))"
    )
    return f"""
SELECT
    MetricName AS metric_name,
    {kind!r} AS metric_type,
    {_text(table, "MetricUnit")} AS unit,
    {_text(table, "MetricDescription")} AS description,
    {_text(table, "ServiceName")} AS service_name,
    {_map(table, "Attributes", empty_null=False)} AS attributes,
    {_map(table, "ResourceAttributes", empty_null=True)} AS resource_attributes,
    {_text(table, "ScopeName")} AS scope_name,
    {ns(table, "TimeUnix")} AS timestamp,
    {start} AS start_timestamp,
    {value} AS value,
    {monotonic} AS is_monotonic,
    {temporality} AS aggregation_temporality,
    {count} AS count,
    {total} AS sum,
    {minimum} AS min,
    {maximum} AS max,
    {buckets} AS bucket_counts,
    {bounds} AS explicit_bounds,
    {scale} AS exp_scale,
    {zero} AS exp_zero_count,
    {pos_off} AS exp_positive_offset,
    {pos} AS exp_positive_counts,
    {neg_off} AS exp_negative_offset,
    {neg} AS exp_negative_counts,
    {quantiles} AS quantiles,
    {"toInt32(Flags)" if table.has("Flags") else null_i} AS flags
FROM {layout.database}.{table.name}
WHERE {where(table, services=services)}
{SETTINGS}
"""


def extent_sql(layout: Layout, table: TableInfo) -> str:
    """Rows, first and last record time (ns) and services of a whole table.

    ``min``/``max``/``count`` of the partition key's column are answered from part
    metadata (ClickHouse's implicit minmax projection), so this stays cheap on big tables.
    """
    t = ns(table, table.time_column)
    return f"""
SELECT count() AS records, min({t}) AS lo, max({t}) AS hi
FROM {layout.database}.{table.name}
"""


def span_end_sql(layout: Layout, table: TableInfo) -> str:
    """The latest span end (start + Duration) among spans starting in ``[lo, hi)``: the
    caller passes the last hour before the last start, so only the newest parts are read
    (a span running longer than that and ending last would be missed)."""
    t = ns(table, table.time_column)
    return f"""
SELECT max({t} + toInt64(Duration)) FROM {layout.database}.{table.name}
WHERE {time_filter(table)}
"""


def bucket_counts_sql(layout: Layout, table: TableInfo) -> str:
    """Rows per bucket ``(t - {t0}) // {w}`` over ``[lo, hi)`` (how much of a stretch fits)."""
    t = ns(table, table.time_column)
    return f"""
SELECT intDiv({t} - {{t0:Int64}}, {{w:Int64}}) AS b, count() AS n
FROM {layout.database}.{table.name}
WHERE {time_filter(table)}
GROUP BY b
"""


def log_rates_sql(layout: Layout, table: TableInfo, *, service: bool) -> str:
    """Error and warning records per bucket ``b = (t - {t0}) // {w}`` over ``[lo, hi)``:
    the same table as ``investigate._LOG_RATES`` (the onset search's log series)."""
    t = ns(table, table.time_column)
    only = " AND ServiceName = {service:String}" if service else ""
    return f"""
SELECT intDiv({t} - {{t0:Int64}}, {{w:Int64}}) AS b,
       countIf(SeverityNumber >= 17) AS errors,
       countIf(SeverityNumber >= 13 AND SeverityNumber < 17) AS warnings
FROM {layout.database}.{table.name}
WHERE {time_filter(table)}{only}
GROUP BY b
"""


def span_rates_sql(layout: Layout, table: TableInfo, *, service: bool) -> str:
    """Failed spans and root-span p95 per bucket: ``investigate._SPAN_RATES`` in
    ClickHouse (``quantileExactInclusive`` is DuckDB's ``quantile_cont``; a bucket without
    roots has NULL, as DuckDB's FILTER gives)."""
    t = ns(table, table.time_column)
    only = " AND ServiceName = {service:String}" if service else ""
    return f"""
SELECT intDiv({t} - {{t0:Int64}}, {{w:Int64}}) AS b,
       countIf({_STATUS} = 'ERROR') AS failed_spans,
       if(countIf(ParentSpanId = '') = 0, NULL,
          quantileExactInclusiveIf(0.95)(toInt64(Duration), ParentSpanId = '')) AS root_p95
FROM {layout.database}.{table.name}
WHERE {time_filter(table)}{only}
GROUP BY b
"""


def services_sql(layout: Layout, table: TableInfo) -> str:
    """Distinct service names of a table (for ``status``)."""
    return f"""
SELECT DISTINCT toString(ServiceName) AS service FROM {layout.database}.{table.name}
WHERE ServiceName != '' ORDER BY service
"""


def count_sql(layout: Layout, table: TableInfo, *, services: bool) -> str:
    """Rows of a table in a window (and services): what a load would fetch."""
    return f"""
SELECT count() FROM {layout.database}.{table.name}
WHERE {where(table, services=services)}
"""
