"""Prometheus HTTP API query results (``/api/v1/query``, ``query_range``) → ``metric_points``.

Accepted input
    The JSON a Prometheus-compatible server (Prometheus, Thanos, Mimir, VictoriaMetrics…)
    answers, saved to a file: the envelope ``{"status": "success", "data": {"resultType":
    …, "result": …}, "warnings": […]}`` or just its ``data`` object, one document per file
    or several concatenated as JSON lines (one response per line). Result types:

    * ``matrix`` (range query): ``[{"metric": {labels}, "values": [[ts, "v"], …],
      "histograms": [[ts, {native histogram}], …]}, …]``;
    * ``vector`` (instant query): ``[{"metric": {labels}, "value": [ts, "v"]}`` or
      ``"histogram": [ts, {…}]}, …]``;
    * ``scalar``: ``[ts, "v"]``.

    A ``"status": "error"`` response makes the file fail with the server's message (one
    such response among several JSON lines is rejected instead); a ``string`` result holds
    no metric and is rejected.

Mapping
    Every float sample → one ``'gauge'`` row (a query result has lost the counter/gauge
    distinction): ``metric_name`` = the ``__name__`` label, else the file's stem (queries
    like ``rate(x[5m])`` drop the name), ``attributes`` = the other labels as a JSON object,
    ``value`` = the sample string as a number (``NaN``, ``+Inf``, ``-Inf`` included),
    ``timestamp`` = the float unix seconds, exact to the ns (RFC 3339 strings are accepted
    too). Native histogram samples → one ``'histogram'`` row each: ``count``, ``sum``,
    ``explicit_bounds`` = every bucket boundary ascending, ``bucket_counts`` = the count of
    each interval between them (0 for gaps between populated buckets), n bounds → n+1
    counts; boundary inclusivity (the ``boundary_rule``) is not kept.
    **Service**: the first non-empty label of ``service.name``, ``service_name``,
    ``service``, then ``job``; else the fallback service.

Rejects
    For a bad point, the record number is the 1-based index of its series in the file
    (counted across all documents) and the reason names the point: a value that is not a
    number, a timestamp that is not a time, a sample that is not a ``[ts, value]`` pair.
    A whole bad document among JSON lines (error response, string result) is rejected
    under its 1-based document number.

Implementation
    The points are exploded and converted in DuckDB (``json_extract(…, '$.values[*]')`` +
    ``unnest``) and inserted with one ``INSERT … SELECT``; only native histograms (few,
    heavier objects) are converted in Python and appended as one Arrow table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, Reject

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

_STEM_EXT = re.compile(r"(\.(gz|json|jsonl|ndjson|txt|out|[0-9]+))+$", re.IGNORECASE)


def _stem(display: str) -> str:
    """The metric name of unnamed series: the file name without its extensions."""
    if display == "-":
        return "query_result"
    name = Path(display).name
    return _STEM_EXT.sub("", name) or name


def _ts_sql(expr: str) -> str:
    """SQL: a JSON timestamp text (float unix seconds or RFC 3339) → TIMESTAMP_NS."""
    return f"""CASE
        WHEN regexp_full_match({expr}, '-?[0-9]+(\\.[0-9]*)?')
            THEN make_timestamp_ns(TRY_CAST(TRY_CAST({expr} AS DECIMAL(38, 9)) * 1000000000
                                            AS BIGINT))
        WHEN TRY_CAST({expr} AS DOUBLE) IS NOT NULL
            THEN make_timestamp_ns(TRY_CAST(TRY_CAST({expr} AS DOUBLE) * 1e9 AS BIGINT))
        ELSE obsctl_ts({expr})
    END"""


def _label(key: str) -> str:
    return f"nullif((metric->>'$.\"{key}\"'), '')"


_DOCS_SQL = """
CREATE TEMP TABLE _obsctl_pa_docs AS
SELECT doc, data, j->>'status' AS status, j->>'errorType' AS error_type, j->>'error' AS error,
    data->>'resultType' AS rtype, json_type(data, '$.result') AS jtype
FROM (
    SELECT doc, j, coalesce(j->'data', j) AS data
    FROM (SELECT unnest($docs)::JSON AS j, generate_subscripts($docs, 1) AS doc)
)
"""

_DOC_INFO_SQL = """
SELECT doc, status, error_type, error, rtype, jtype FROM _obsctl_pa_docs ORDER BY doc
"""

# One row per series of a matrix/vector result, numbered across the whole file, with its
# name, attributes and service.
_SERIES_SQL = f"""
CREATE TEMP TABLE _obsctl_pa_series AS
SELECT row_number() OVER (ORDER BY doc, i) AS sidx, doc, rtype, r,
    coalesce(nullif((metric->>'__name__'), ''), $stem) AS metric_name,
    json_merge_patch(metric, '{{"__name__": null}}') AS attrs,
    coalesce({_label("service.name")}, {_label("service_name")}, {_label("service")},
             {_label("job")}) AS svc
FROM (
    SELECT *, coalesce(r->'metric', '{{}}'::JSON) AS metric
    FROM (
        SELECT doc, rtype,
            unnest(json_extract(data, '$.result[*]')) AS r,
            generate_subscripts(json_extract(data, '$.result[*]'), 1) AS i
        FROM _obsctl_pa_docs WHERE doc IN (SELECT unnest($docs_ok))
          AND rtype IN ('matrix', 'vector')
    )
)
"""

_POINTS_SQL = f"""
CREATE TEMP TABLE _obsctl_pa_points AS
WITH pts AS (
    SELECT sidx, unnest(json_extract(r, '$.values[*]')) AS p,
        generate_subscripts(json_extract(r, '$.values[*]'), 1) AS k
    FROM _obsctl_pa_series WHERE rtype = 'matrix'
    UNION ALL
    SELECT sidx, r->'value' AS p, 1 AS k
    FROM _obsctl_pa_series WHERE rtype = 'vector' AND (r->'value') IS NOT NULL
    UNION ALL
    SELECT NULL AS sidx, data->'result' AS p, doc AS k
    FROM _obsctl_pa_docs WHERE doc IN (SELECT unnest($docs_ok)) AND rtype = 'scalar'
), conv AS (
    SELECT sidx, k, p, p->>'$[0]' AS ts_raw, p->>'$[1]' AS v_raw FROM pts
), typed AS (
    SELECT *, {_ts_sql("ts_raw")} AS ts, TRY_CAST(v_raw AS DOUBLE) AS value FROM conv
)
SELECT sidx, k, ts, value,
    CASE
        WHEN json_type(p) <> 'ARRAY' OR json_array_length(p) <> 2
            THEN 'point ' || k || ' is not a [timestamp, value] pair'
        WHEN ts IS NULL THEN 'point ' || k || ': timestamp is not a time: ' || coalesce(ts_raw, '')
        WHEN value IS NULL THEN 'point ' || k || ': value is not a number: ' || coalesce(v_raw, '')
    END AS reason,
    CASE WHEN reason IS NOT NULL THEN left(p::VARCHAR, 200) END AS excerpt
FROM typed
"""

_INSERT_SQL = """
INSERT INTO metric_points BY NAME
SELECT coalesce(s.metric_name, $stem) AS metric_name, 'gauge' AS metric_type,
    coalesce(s.svc, $service) AS service_name, coalesce(s.attrs, '{}'::JSON) AS attributes,
    p.ts AS timestamp, p.value AS value, $source_id AS source_id, p.sidx AS line
FROM _obsctl_pa_points p LEFT JOIN _obsctl_pa_series s ON s.sidx = p.sidx
WHERE p.reason IS NULL
"""

_REJECTS_SQL = """
SELECT (SELECT count(*) FROM _obsctl_pa_points WHERE reason IS NOT NULL), sidx, reason, excerpt
FROM _obsctl_pa_points WHERE reason IS NOT NULL ORDER BY sidx, k LIMIT $keep
"""

_HIST_SQL = """
SELECT sidx, metric_name, svc, attrs::VARCHAR,
    coalesce(r->'histograms', '[]'::JSON)::VARCHAR, (r->'histogram')::VARCHAR
FROM _obsctl_pa_series
WHERE (r->'histograms') IS NOT NULL OR (r->'histogram') IS NOT NULL
"""

_TEMP_TABLES = ("_obsctl_pa_docs", "_obsctl_pa_series", "_obsctl_pa_points")


def _drop_temp(con: Any) -> None:
    """Drop the work tables; after an error the orchestrator's rollback removes them."""
    for t in _TEMP_TABLES:
        try:
            con.execute(f"DROP TABLE IF EXISTS {t}")
        except Exception:  # the transaction is aborted: the original error matters
            return


def _documents(text: str) -> list[str]:
    """The JSON documents of the file: the whole text, or one per line (JSON lines)."""
    import orjson

    stripped = text.strip()
    if not stripped:
        raise IngestError("file is empty")
    try:
        orjson.loads(stripped)
        return [stripped]
    except orjson.JSONDecodeError:
        pass
    docs = [ln for ln in (x.strip() for x in stripped.splitlines()) if ln]
    for i, d in enumerate(docs, 1):
        try:
            orjson.loads(d)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"not valid JSON (document {i}): {exc}") from None
    return docs


def load(src: Source, ctx: LoadContext) -> None:
    """Load a Prometheus HTTP API query result into ``metric_points``."""
    from obsctl.ingest.base import MAX_KEPT_REJECTS

    con = ctx.con
    docs = _documents(src.read_text())
    stem = _stem(src.display)
    try:
        con.execute(_DOCS_SQL, {"docs": docs})
        ok: list[int] = []
        for doc, status, etype, error, rtype, jtype in con.execute(_DOC_INFO_SQL).fetchall():
            if status == "error":
                msg = f"Prometheus API error response: {etype or 'error'}: {error or ''}".strip()
                if len(docs) == 1:
                    raise IngestError(f"{src.display}: {msg}")
                ctx.reject(doc, msg, docs[doc - 1][:200])
            elif rtype in ("matrix", "vector", "scalar") and jtype == "ARRAY":
                ok.append(doc)
            elif rtype == "string":
                ctx.reject(doc, "string result holds no metric", docs[doc - 1][:200])
            elif len(docs) == 1:
                raise IngestError(
                    f"{src.display}: not a Prometheus query result (no data.resultType/result)"
                )
            else:
                ctx.reject(doc, "not a Prometheus query result", docs[doc - 1][:200])
        con.execute(_SERIES_SQL, {"docs_ok": ok, "stem": stem})
        con.execute(_POINTS_SQL, {"docs_ok": ok})
        params = {"stem": stem, "service": ctx.service, "source_id": ctx.source_id}
        ctx.records += con.execute(_INSERT_SQL, params).fetchone()[0]
        rows = con.execute(_REJECTS_SQL, {"keep": MAX_KEPT_REJECTS}).fetchall()
        if rows:
            ctx.reject_many(rows[0][0], (Reject(r[1], r[2], r[3] or "") for r in rows))
        _load_native_histograms(con.execute(_HIST_SQL).fetchall(), ctx)
    finally:
        _drop_temp(con)


def _load_native_histograms(series: list[tuple[Any, ...]], ctx: LoadContext) -> None:
    """Native histogram samples (``histograms`` / ``histogram``) → 'histogram' rows."""
    if not series:
        return
    import orjson
    import pyarrow as pa

    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "metric_name",
            "service_name",
            "attributes",
            "timestamp",
            "count",
            "sum",
            "bucket_counts",
            "explicit_bounds",
            "line",
        )
    }
    for sidx, name, service, attrs_text, hists_text, hist_text in series:
        points = orjson.loads(hists_text) if hists_text else []
        if hist_text:
            points.append(orjson.loads(hist_text))
        for k, point in enumerate(points, 1):
            try:
                ts_ns, h = _native_point(point)
                bounds, counts = _native_buckets(h.get("buckets") or [])
                count = float(h["count"]) if "count" in h else None
                total = float(h["sum"]) if "sum" in h else None
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                ctx.reject(sidx, f"histogram {k}: {exc}", orjson.dumps(point).decode()[:200])
                continue
            cols["metric_name"].append(name)
            cols["service_name"].append(service)
            cols["attributes"].append(attrs_text)
            cols["timestamp"].append(ts_ns)
            cols["count"].append(count)
            cols["sum"].append(total)
            cols["bucket_counts"].append(counts)
            cols["explicit_bounds"].append(bounds)
            cols["line"].append(sidx)
    n = len(cols["metric_name"])
    table = pa.table(
        {
            "metric_name": pa.array(cols["metric_name"], pa.string()),
            "metric_type": pa.array(["histogram"] * n, pa.string()),
            "service_name": pa.array(cols["service_name"], pa.string()),
            "attributes": pa.array(cols["attributes"], pa.string()),
            "timestamp": pa.array(cols["timestamp"], pa.timestamp("ns")),
            "count": pa.array(cols["count"], pa.float64()),
            "sum": pa.array(cols["sum"], pa.float64()),
            "bucket_counts": pa.array(cols["bucket_counts"], pa.list_(pa.float64())),
            "explicit_bounds": pa.array(cols["explicit_bounds"], pa.list_(pa.float64())),
            "line": pa.array(cols["line"], pa.int64()),
        }
    )
    ctx.append("metric_points", table)


def _native_point(point: Any) -> tuple[int, dict[str, Any]]:
    """``[ts, {count, sum, buckets}]`` → (unix ns, histogram object)."""
    from decimal import Decimal

    if not isinstance(point, list) or len(point) != 2 or not isinstance(point[1], dict):
        raise ValueError("not a [timestamp, histogram] pair")
    ts_ns = int(Decimal(str(point[0])) * 1_000_000_000)
    return ts_ns, point[1]


def _native_buckets(buckets: list[Any]) -> tuple[list[float], list[float]]:
    """Native buckets ``[rule, "left", "right", "count"]`` → explicit bounds and counts.

    The bounds are every boundary, ascending; each bucket fills the interval between its
    two boundaries (buckets never overlap, so they are adjacent in the list), the other
    intervals count 0. n bounds → n+1 counts (the first below the lowest bound).
    """
    spans = [(float(b[1]), float(b[2]), float(b[3])) for b in buckets]
    bounds = sorted({x for lo, hi, _ in spans for x in (lo, hi)})
    index = {b: i for i, b in enumerate(bounds)}
    counts = [0.0] * (len(bounds) + 1)
    for lo, _hi, c in spans:
        counts[index[lo] + 1] += c
    return bounds, counts


_RESULT_TYPE = re.compile(rb'"resultType"\s*:\s*"(matrix|vector|scalar|string)"')
_ERROR = re.compile(rb'"status"\s*:\s*"error"')


def sniff(head: bytes, name: str) -> float:
    """Score Prometheus API JSON: an object with ``"resultType": "matrix|vector|…"``."""
    if head.lstrip()[:1] != b"{":
        return 0.0
    if _RESULT_TYPE.search(head):
        return 0.95 if b'"result"' in head else 0.9
    if _ERROR.search(head) and b'"errorType"' in head:
        return 0.6  # an error response: load() reports the server's message
    return 0.0


FORMATS = [
    FormatSpec(
        name="prometheus-api",
        signal="metrics",
        description="Prometheus HTTP API query / query_range JSON results (matrix, vector, scalar)",
        sniff=sniff,
        load=load,
        aliases=("query-range", "promapi"),
    )
]
