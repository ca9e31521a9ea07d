"""OTLP metrics (``ExportMetricsServiceRequest``, JSON or protobuf) → ``metric_points``.

Accepts the Collector ``file`` exporter's JSON lines (one request per line, vectorised in
DuckDB) and a single request document (the opentelemetry-proto examples); see
``obsctl.ingest.otlp`` for the shapes and encodings. One row per data point, with the
metric's ``name``/``unit``/``description`` ('' → NULL), the point's ``attributes``, the
resource's attributes and ``service.name`` (else the fallback), the scope name,
``timestamp`` (``timeUnixNano``), ``start_timestamp`` (``startTimeUnixNano``, NULL when
0), ``flags`` and ``line`` (the request's line; NULL for a single document). By type:

* ``gauge`` / ``sum``: ``value`` = ``asDouble`` or ``asInt``; a sum also has
  ``is_monotonic`` (missing → false) and ``aggregation_temporality``.
* ``histogram``: ``count``, ``sum``, ``min``, ``max``, ``bucket_counts``,
  ``explicit_bounds``.
* ``exponential_histogram``: ``count``, ``sum``, ``min``, ``max``, ``exp_scale``,
  ``exp_zero_count``, ``exp_positive_offset``/``exp_positive_counts``,
  ``exp_negative_offset``/``exp_negative_counts`` (``zeroThreshold`` is not stored).
* ``summary``: ``count``, ``sum``, ``quantiles`` = ``[{quantile, value}]``.

``aggregation_temporality``: 1 / ``AGGREGATION_TEMPORALITY_DELTA`` → ``delta``, 2 →
``cumulative``, unspecified → NULL. Proto3 omits zero values (the protobuf JSON mapping
and the Collector's writer leave them out), so missing non-optional numbers take their
zero default: ``count``, ``flags``, ``exp_scale``, ``exp_zero_count``, bucket offsets, a
summary's ``sum`` and quantile fields; missing lists are ``[]``. A histogram's ``sum``,
``min`` and ``max`` are ``optional`` in the proto and stay NULL when absent. Exemplars are
dropped (the schema has no place for them). A metric with none of the five data fields
(e.g. the pre-0.9 ``intGauge``) is rejected with its request's line and name.

Two specs: ``otlp-metrics`` (JSON, sniffed from the ``resource…`` key that opens the
document, 0.95) and ``otlp-proto-metrics``: binary protobuf, one
``ExportMetricsServiceRequest`` or the Collector file exporter's ``format: proto`` frames
(uint32 big-endian length + message). Its sniff (0.8) walks the wire format down to the
first record and checks every field's wire type against the OTLP schema, so other protobuf
files (pprof) are not claimed. The messages are decoded with ``opentelemetry-proto`` and
converted by protobuf's JSON mapping (base64 ids, enum names), then loaded by the same
SQL; ``line`` is the frame number. Decoding is per message in Python: binary files are not
the bulk path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from obsctl.ingest import otlp

if TYPE_CHECKING:
    from obsctl.ingest.base import LoadContext

ROOT = "resourceMetrics"
TEMPORALITY = ["UNSPECIFIED", "DELTA", "CUMULATIVE"]
TYPES = {
    "gauge": "gauge",
    "sum": "sum",
    "histogram": "histogram",
    "exponentialHistogram": "exponential_histogram",
    "summary": "summary",
}
"""OTLP data field → ``metric_type``."""


def _point(n: otlp.Names, **fields: object) -> dict:
    return {
        n("attributes"): otlp.kvlist_type(n),
        n("startTimeUnixNano"): "VARCHAR",
        n("timeUnixNano"): "VARCHAR",
        "flags": "VARCHAR",
        **{n(k): v for k, v in fields.items()},
    }


def _structure(n: otlp.Names) -> dict:
    buckets = {"offset": "BIGINT", n("bucketCounts"): ["DOUBLE"]}
    stats = {"count": "DOUBLE", "sum": "DOUBLE", "min": "DOUBLE", "max": "DOUBLE"}
    temporality = {n("aggregationTemporality"): "VARCHAR"}
    metric = {
        "name": "VARCHAR",
        "description": "VARCHAR",
        "unit": "VARCHAR",
        "gauge": {n("dataPoints"): [_point(n, asDouble="DOUBLE", asInt="DOUBLE")]},
        "sum": {
            n("dataPoints"): [_point(n, asDouble="DOUBLE", asInt="DOUBLE")],
            n("isMonotonic"): "VARCHAR",
            **temporality,
        },
        "histogram": {
            n("dataPoints"): [
                _point(n, bucketCounts=["DOUBLE"], explicitBounds=["DOUBLE"], **stats)
            ],
            **temporality,
        },
        n("exponentialHistogram"): {
            n("dataPoints"): [
                _point(
                    n,
                    scale="BIGINT",
                    zeroCount="DOUBLE",
                    positive=buckets,
                    negative=buckets,
                    **stats,
                )
            ],
            **temporality,
        },
        "summary": {
            n("dataPoints"): [
                _point(
                    n,
                    count="DOUBLE",
                    sum="DOUBLE",
                    quantileValues=[{"quantile": "DOUBLE", "value": "DOUBLE"}],
                )
            ]
        },
    }
    return otlp.request_type(n, ROOT, "scopeMetrics", "metrics", metric)


def _check(n: otlp.Names) -> dict:
    # Enough to find metrics without a supported data field; the data point lists are
    # read as lists of NULL BOOLEANs (cheap, never an error).
    present = {n("dataPoints"): ["BOOLEAN"]}
    metric = {"name": "VARCHAR", **{n(k): present for k in TYPES}}
    return otlp.request_type(n, ROOT, "scopeMetrics", "metrics", metric)


# Proto3 leaves zero values out (the protobuf decoder and many writers omit them), so the
# non-optional numbers and lists take their default when missing; ``sum``/``min``/``max``
# of histograms are ``optional`` in the proto and stay NULL when absent.
_STATS = "coalesce(p.count, 0) AS count, p.sum AS sum, p.min AS min, p.max AS max"


def _buckets(n: otlp.Names, side: str) -> str:
    b = f"p.{side}"
    return (
        f"CASE WHEN {b} IS NOT NULL THEN coalesce(TRY_CAST({b}.offset AS INTEGER), 0) END"
        f" AS exp_{side}_offset,"
        f" CASE WHEN {b} IS NOT NULL THEN coalesce({b}.{n.q('bucketCounts')}, []) END"
        f" AS exp_{side}_counts"
    )


def _columns(n: otlp.Names, field: str) -> str:
    """The type-specific columns of one data point ``p``."""
    q = n.q
    if field in ("gauge", "sum"):
        return f"coalesce(p.{q('asDouble')}, p.{q('asInt')}) AS value"
    if field == "histogram":
        return (
            f"{_STATS}, coalesce(p.{q('bucketCounts')}, []) AS bucket_counts,"
            f" coalesce(p.{q('explicitBounds')}, []) AS explicit_bounds"
        )
    if field == "exponentialHistogram":
        return (
            f"{_STATS}, coalesce(TRY_CAST(p.scale AS INTEGER), 0) AS exp_scale,"
            f" coalesce(p.{q('zeroCount')}, 0) AS exp_zero_count,"
            f" {_buckets(n, 'positive')}, {_buckets(n, 'negative')}"
        )
    return (
        "coalesce(p.count, 0) AS count, coalesce(p.sum, 0) AS sum,"
        f" coalesce(list_transform(p.{q('quantileValues')}, lambda _q:"
        " {'quantile': coalesce(_q.quantile, 0), 'value': coalesce(_q.value, 0)}), [])"
        " AS quantiles"
    )


def _branch(n: otlp.Names, field: str) -> str:
    """SELECT of every data point of one type, in ``metric_points`` columns."""
    q = n.q
    data = f"m.{q(field)}"
    monotonic = (
        f"lower(coalesce({data}.{q('isMonotonic')}, 'false')) = 'true'"
        if field == "sum"
        else "NULL::BOOLEAN"
    )
    if field in ("gauge", "summary"):
        temporality = "NULL"
    else:
        temporality = otlp.enum_sql(
            f"{data}.{q('aggregationTemporality')}",
            TEMPORALITY,
            "AGGREGATION_TEMPORALITY_",
            None,
        )
        temporality = f"nullif(lower({temporality}), 'unspecified')"
    return f"""
        SELECT line, svc, res_attrs, scope_name, metric_name, unit, description,
               '{TYPES[field]}' AS metric_type, aggregation_temporality, is_monotonic,
               {otlp.attrs_json_sql(f"p.{q('attributes')}", n)} AS attributes,
               {otlp.ts_sql(f"p.{q('timeUnixNano')}")} AS timestamp,
               {otlp.ts_sql(f"p.{q('startTimeUnixNano')}")} AS start_timestamp,
               coalesce(TRY_CAST(p.flags AS INTEGER), 0) AS flags,
               {_columns(n, field)}
        FROM (
            SELECT line, svc, res_attrs, scope_name,
                   coalesce(m.name, '') AS metric_name, nullif(m.unit, '') AS unit,
                   nullif(m.description, '') AS description,
                   {temporality}::VARCHAR AS aggregation_temporality,
                   {monotonic} AS is_monotonic,
                   unnest({data}.{q("dataPoints")}) AS p
            FROM m WHERE {data} IS NOT NULL
        )"""


def _insert(ctx: LoadContext, n: otlp.Names, requests: str) -> None:
    q = n.q
    scopes = otlp.scope_lists_sql("rm", n, "scopeMetrics")
    points = " UNION ALL BY NAME ".join(_branch(n, f) for f in TYPES)
    otlp.insert_count(
        ctx,
        f"""
        WITH rm AS (SELECT line, unnest(r.{q(ROOT)}) AS rm FROM {requests}),
        sm AS (
            SELECT line,
                   {otlp.service_sql(f"rm.{q('resource')}.{q('attributes')}", n)} AS svc,
                   {otlp.attrs_json_sql(f"rm.{q('resource')}.{q('attributes')}", n)} AS res_attrs,
                   unnest({scopes}) AS sm
            FROM rm
        ), m AS MATERIALIZED (
            SELECT line, svc, res_attrs,
                   {otlp.scope_field_sql("sm", n, "name")} AS scope_name,
                   unnest(sm.metrics) AS m
            FROM sm
        )
        INSERT INTO metric_points BY NAME
        SELECT * EXCLUDE (svc, res_attrs),
               coalesce(svc, $service) AS service_name,
               res_attrs AS resource_attributes,
               $source_id AS source_id
        FROM ({points})
        """,
        {"service": ctx.service, "source_id": ctx.source_id},
    )


def _reject(ctx: LoadContext, n: otlp.Names, table: str) -> None:
    q = n.q
    scopes = otlp.scope_lists_sql("rm", n, "scopeMetrics")
    missing = " AND ".join(f"m.{q(f)} IS NULL" for f in TYPES)
    otlp.reject_from_sql(
        ctx,
        f"""
        WITH rm AS (SELECT line, unnest(chk.{q(ROOT)}) AS rm FROM {table}),
             sm AS (SELECT line, unnest({scopes}) AS sm FROM rm),
             m AS (SELECT line, unnest(sm.metrics) AS m FROM sm)
        SELECT line,
               'metric ' || coalesce('"' || m.name || '"', 'without name')
                 || ' has no gauge, sum, histogram, exponentialHistogram or summary'
                 AS reason,
               left(to_json(m)::VARCHAR, 200) AS excerpt
        FROM m WHERE {missing}
        """,
    )


FORMATS = otlp.formats(
    otlp.SignalSQL(
        signal="metrics",
        root=ROOT,
        what="ExportMetricsServiceRequest",
        proto_module="opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        structure=_structure,
        check=_check,
        insert=_insert,
        reject=_reject,
    )
)

sniff = FORMATS[0].sniff
"""``resourceMetrics`` (or snake_case) opening the JSON → 0.95."""
