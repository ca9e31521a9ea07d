"""Prometheus text exposition (0.0.4) and OpenMetrics 1.0 text → ``metric_points``.

Accepted input
    Everything a ``/metrics`` scrape, a node_exporter textfile, ``promtool tsdb dump`` or a
    saved OpenMetrics page looks like: ``# HELP``, ``# TYPE`` (counter, gauge, histogram,
    gaugehistogram, summary, untyped, unknown, info, stateset), ``# UNIT`` and ``# EOF``
    lines, other ``#`` comments (ignored), blank lines, and samples
    ``name{label="value",…} value [timestamp] [# {exemplar labels} value [ts]]``. Label
    values keep their escapes ``\\"``, ``\\\\`` and ``\\n`` (other backslash pairs stay as
    written, as Prometheus does); Prometheus 3 UTF-8 names are accepted too: quoted label
    names (``{"service.name"="x"}``) and a quoted metric name inside the braces
    (``{"my.metric",a="b"} 1``). Values may be ``NaN``, ``+Inf``/``-Inf``. ``# EOF`` does
    not end the file: several scrapes concatenated in one file all load.

Timestamps
    A sample timestamp is milliseconds in 0.0.4 and float seconds in OpenMetrics; as the
    two dialects cannot be told apart reliably (0.0.4 files often end with ``# EOF``),
    an integer is read by magnitude (``obsctl_epoch_int``: ≥ 1e11 is ms, smaller is
    seconds); a number with a fraction or exponent below 1e11 is seconds, exact to the
    ns (larger ones go by magnitude too).
    A sample **without** timestamp was taken at an unknown scrape time: the file's
    modification time (``st_mtime_ns``) stands in for it, the best available guess.

Mapping (one row per sample, except histograms and summaries)
    * counter → ``metric_type='sum'``, ``is_monotonic=true``,
      ``aggregation_temporality='cumulative'``, ``metric_name`` = the sample name as
      PromQL knows it (``foo_total``, also for OpenMetrics ``# TYPE foo counter``);
    * gauge, untyped, unknown, info, stateset, and every sample of a family without
      ``# TYPE`` → ``'gauge'`` named after the sample (so an untyped ``foo_bucket`` stays
      a ``foo_bucket`` gauge with its ``le`` label, as Prometheus stores it);
    * histogram / gaugehistogram → ONE ``'histogram'`` row per (family, labels without
      ``le``, timestamp): ``explicit_bounds`` = the finite ``le`` values ascending,
      ``bucket_counts`` = per-bucket (non-cumulative, OpenTelemetry style) counts, n bounds
      → n+1 counts, the last one for ``+Inf`` (taken from ``_count`` when the ``+Inf``
      bucket is missing); ``count``/``sum`` from ``_count``/``_sum`` (``_gcount``/``_gsum``
      for gauge histograms); histograms are ``cumulative``, gauge histograms have no
      temporality;
    * summary → ONE ``'summary'`` row per (family, labels without ``quantile``,
      timestamp) with ``quantiles`` = [{quantile, value}] ascending, ``count`` and ``sum``;
    * ``<family>_created`` samples of counters, histograms and summaries become the
      ``start_timestamp`` of the matching series (same labels and timestamp) and are not
      rows themselves; one that matches no series is rejected.
    The same series repeated at the same timestamp (concatenated scrapes without
    timestamps) gives one row per repetition (the n-th ``_sum`` joins the n-th buckets).

Columns
    ``attributes`` = all labels as a JSON object with keys sorted (minus ``le`` /
    ``quantile`` on histogram / summary rows), ``unit`` from ``# UNIT``, ``description``
    from ``# HELP`` (unescaped); ``line`` = the sample's line (a histogram's or summary's
    first line). **Service**: the first non-empty of the labels ``service.name``,
    ``service_name``, ``service``, then ``job``; else the fallback service. Labels are
    kept in ``attributes`` either way. **Exemplars** (``# {…} v ts`` after a sample) are
    dropped: the schema has no place for them.

Implementation
    Fully vectorised, no per-line Python: ``src.line_batches()`` is copied into a DuckDB
    temp table; string functions split each sample line into name / labels text / value /
    timestamp (the full regex only for lines carrying a ``#``, i.e. exemplars); labels are
    parsed, validated and the family resolved once per *distinct* (name, labels) text —
    a file of repeated scrapes repeats the same series — by joining the ``# TYPE`` lines by
    family name (the exact name first, then the name without a suffix valid for the
    family's type); histograms and summaries are assembled with ``GROUP BY`` +
    ``list(… ORDER BY le)``. Rejected, with line and reason: lines that are neither a
    sample nor a comment, malformed ``# HELP/TYPE/UNIT`` lines and unknown types (the
    family's samples then load as untyped), malformed names or labels, duplicate label
    names, non-numeric values or timestamps, bad ``le``/``quantile`` labels, a histogram
    family sample without a ``_bucket/_sum/_count`` suffix, orphan ``_created`` samples.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from obsctl.ingest.base import FormatSpec, LoadContext, Reject

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

# --- regular expressions (RE2 syntax, shared by DuckDB and the Python sniffer) ----------
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_QSTR = r'"(?:[^"\\]|\\.)*"'
_LNAME = rf"(?:[a-zA-Z_][a-zA-Z0-9_]*|{_QSTR})"
_PAIR = rf"({_LNAME})[ \t]*=[ \t]*\"((?:[^\"\\]|\\.)*)\""
_ITEM = rf"(?:{_LNAME}[ \t]*=[ \t]*{_QSTR}|{_QSTR})"
_LABELS = rf"[ \t]*(?:{_ITEM}[ \t]*(?:,[ \t]*{_ITEM}[ \t]*)*,?[ \t]*)?"
_SAMPLE = (
    rf"^[ \t]*({_NAME})?[ \t]*(?:\{{((?:[^\"}}]|{_QSTR})*)\}})?[ \t]+([^ \t#][^ \t]*)"
    rf"(?:[ \t]+([^ \t#][^ \t]*))?[ \t]*(#.*)?$"
)
_META = rf"^[ \t]*#[ \t]*(HELP|TYPE|UNIT)[ \t]+({_NAME}|{_QSTR})(?:[ \t]+(.*))?$"
_QNAME_HEAD = rf"^[ \t]*({_QSTR})[ \t]*(?:,|$)"

_WS = "' \t\r'"
"""SQL literal of the blanks trimmed from lines (a real tab and CR inside)."""

_TYPES = (
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "untyped",
    "unknown",
    "info",
    "stateset",
)


def _sql_str(s: str) -> str:
    """A SQL string literal (DuckDB strings have no backslash escapes)."""
    return "'" + s.replace("'", "''") + "'"


def _unescape(expr: str) -> str:
    """SQL undoing Prometheus escapes (\\\\, \\", \\n) of a text expression."""
    return (
        f"CASE WHEN contains({expr}, '\\') THEN replace(replace(replace(replace({expr},"
        f" '\\\\', chr(0)), '\\\"', '\"'), '\\n', chr(10)), chr(0), '\\') ELSE {expr} END"
    )


def _unquote(expr: str) -> str:
    """SQL turning a possibly quoted name (``"a.b"``) into the plain name."""
    return f"CASE WHEN starts_with({expr}, '\"') THEN {_unescape(f'{expr}[2:-2]')} ELSE {expr} END"


def _json_obj(pairs: str) -> str:
    """SQL building a JSON object text from a list of (key, value) structs."""
    return (
        f"'{{' || array_to_string(list_transform({pairs}, lambda p: "
        f"to_json(p[1])::VARCHAR || ':' || to_json(p[2])::VARCHAR), ',') || '}}'"
    )


def _label(key: str) -> str:
    return f"nullif(list_extract(vals, list_position(keys, {_sql_str(key)})), '')"


_TYPE_LIST = ", ".join(_sql_str(t) for t in _TYPES)
_COMMENT = r"^[ \t]*#"
_META_HEAD = r"^[ \t]*#[ \t]*(HELP|TYPE|UNIT)([ \t]|$)"

# Step 1: the raw lines (a cheap single-threaded copy of the Arrow stream); the regexes then
# run over this table, in parallel.
_RAW_SQL = """
CREATE TEMP TABLE _obsctl_prom_raw AS
SELECT line, text AS t FROM _obsctl_prom_reader WHERE text <> ''
"""

# Step 2: # HELP / # TYPE / # UNIT lines (kw = '' when malformed), then one row per family
# (the first declaration wins).
_META_LINES_SQL = f"""
CREATE TEMP TABLE _obsctl_prom_meta_lines AS
SELECT line, m.kw AS kw, {_unquote("m.fam")} AS fam, trim(coalesce(m.rest, ''), {_WS}) AS rest
FROM (
    SELECT line, regexp_extract(t, {_sql_str(_META)}, ['kw', 'fam', 'rest']) AS m
    FROM _obsctl_prom_raw WHERE regexp_matches(t, {_sql_str(_META_HEAD)})
)
"""

_META_SQL = f"""
CREATE TEMP TABLE _obsctl_prom_meta AS
SELECT fam AS family,
    arg_min(lower(rest), line) FILTER (WHERE kw = 'TYPE' AND lower(rest) IN ({_TYPE_LIST}))
        AS mtype,
    arg_min({_unescape("rest")}, line) FILTER (WHERE kw = 'HELP') AS help,
    arg_min(nullif(rest, ''), line) FILTER (WHERE kw = 'UNIT') AS unit
FROM _obsctl_prom_meta_lines WHERE kw <> ''
GROUP BY fam
"""

# Step 3: every non-comment line split into name, labels text, value and timestamp
# (``value_raw = ''``: not a sample). Plain string functions do it (the labels run from
# the first ``{`` to the last ``}``, the value and timestamp are the blank-separated
# tokens after them); lines with a ``#`` (exemplars) take the full regex. Names and label
# syntax are checked later, once per distinct series.
_PARSED_SQL = f"""
CREATE TEMP TABLE _obsctl_prom_parsed AS
WITH lines AS (
    SELECT line, t, strpos(t, '{{') AS b, length(t) - strpos(reverse(t), '}}') + 1 AS e
    FROM _obsctl_prom_raw
    WHERE NOT regexp_matches(t, {_sql_str(_COMMENT)}) AND regexp_matches(t, '[^ \t]')
), fast AS (
    SELECT line, b, e,
        string_split(CASE WHEN contains(tail, chr(9)) OR contains(tail, '  ')
                          THEN regexp_replace(trim(tail, {_WS}), '[ \t]+', ' ', 'g')
                          ELSE trim(tail) END, ' ') AS tok,
        CASE WHEN b > 0 THEN trim(t[:b - 1], {_WS}) END AS head,
        CASE WHEN b > 0 THEN t[b + 1:e - 1] ELSE '' END AS labels
    FROM (
        SELECT *, CASE WHEN b > 0 THEN t[e + 1:] ELSE t END AS tail FROM lines
        WHERE NOT contains(t, '#') AND (b = 0 OR e > b)
    )
)
SELECT line,
    CASE WHEN b > 0 THEN head ELSE tok[1] END AS name0,
    labels AS labels_raw,
    CASE WHEN b > 0 AND len(tok) <= 2 THEN coalesce(tok[1], '')
         WHEN b = 0 AND len(tok) <= 3 THEN coalesce(tok[2], '')
         ELSE '' END AS value_raw,
    coalesce(CASE WHEN b > 0 THEN tok[2] ELSE tok[3] END, '') AS ts_raw
FROM fast
UNION ALL
SELECT line, s.name, s.labels, s.value, s.ts
FROM (
    SELECT line,
        regexp_extract(t, {_sql_str(_SAMPLE)}, ['name', 'labels', 'value', 'ts', 'ex']) AS s
    FROM lines WHERE contains(t, '#') OR (b > 0 AND e < b)
)
"""

# Step 4: one row per distinct (name, labels) text — a file of repeated scrapes repeats the
# same few thousand series — with its labels parsed, its family and type resolved, its
# role in the family (value, bucket, sum, count, quantile, created…) and ``gid``, the
# number of its group: histogram / summary rows gather the series of one family whose
# labels are equal without ``le`` / ``quantile``. ``reason`` rejects all its samples.
_SERIES_SQL = f"""
CREATE TEMP TABLE _obsctl_prom_series AS
WITH names AS (
    SELECT DISTINCT name0, labels_raw FROM _obsctl_prom_parsed WHERE value_raw <> ''
), raw AS (
    SELECT *,
        CASE WHEN labels_raw <> '' THEN regexp_extract(labels_raw, {_sql_str(_QNAME_HEAD)}, 1)
             ELSE '' END AS qname
    FROM names
), kv AS (
    SELECT name0, labels_raw, qname,
        CASE WHEN name0 <> '' THEN name0 ELSE {_unquote("qname")} END AS name,
        list_transform(regexp_extract_all(pairs_raw, {_sql_str(_PAIR)}, 1),
                       lambda k: {_unquote("k")}) AS keys,
        list_transform(regexp_extract_all(pairs_raw, {_sql_str(_PAIR)}, 2),
                       lambda v: {_unescape("v")}) AS vals,
        labels_raw = '' OR regexp_full_match(labels_raw, {_sql_str(_LABELS)}) AS labels_ok
    FROM (
        SELECT *, CASE WHEN qname <> ''
                       THEN regexp_replace(labels_raw, {_sql_str(_QNAME_HEAD)}, '')
                       ELSE labels_raw END AS pairs_raw
        FROM raw
    )
), fam AS (
    SELECT kv.*,
        regexp_extract(name, '^(.*)_(total|created|bucket|count|sum|gcount|gsum|info)$',
                       ['base', 'suffix']) AS bs,
        e.mtype AS etype
    FROM kv LEFT JOIN _obsctl_prom_meta e ON e.family = kv.name
), res AS (
    SELECT fam.*, bs.suffix AS suffix, b.mtype AS btype,
        CASE
            WHEN etype IN ('counter', 'gauge', 'untyped', 'unknown', 'info', 'stateset',
                           'summary') THEN 'exact'
            WHEN b.mtype = 'counter' AND bs.suffix IN ('total', 'created') THEN 'base'
            WHEN b.mtype = 'info' AND bs.suffix = 'info' THEN 'base'
            WHEN b.mtype = 'histogram' AND bs.suffix IN ('bucket', 'count', 'sum', 'created')
                THEN 'base'
            WHEN b.mtype = 'gaugehistogram'
                 AND bs.suffix IN ('bucket', 'gcount', 'gsum', 'count', 'sum', 'created')
                THEN 'base'
            WHEN b.mtype = 'summary' AND bs.suffix IN ('count', 'sum', 'created') THEN 'base'
            WHEN etype IN ('histogram', 'gaugehistogram') THEN 'bad'
            ELSE 'none'
        END AS how
    FROM fam LEFT JOIN _obsctl_prom_meta b ON b.family = fam.bs.base AND fam.bs.base <> ''
), typed AS (
    SELECT *,
        CASE WHEN how = 'base' THEN bs.base ELSE name END AS family,
        CASE how WHEN 'exact' THEN etype WHEN 'base' THEN btype ELSE 'untyped' END AS mtype,
        CASE
            WHEN how = 'base' AND suffix = 'created' THEN 'created'
            WHEN how = 'base' AND btype IN ('histogram', 'gaugehistogram', 'summary')
                THEN suffix
            WHEN how = 'exact' AND etype = 'summary' THEN 'quantile'
            ELSE 'value'
        END AS role
    FROM res
), checked AS (
    SELECT *,
        list_sort(list_zip(keys, vals)) AS pairs,
        list_extract(vals, list_position(keys, 'le')) AS le_raw,
        list_extract(vals, list_position(keys, 'quantile')) AS q_raw,
        TRY_CAST(le_raw AS DOUBLE) AS le,
        TRY_CAST(q_raw AS DOUBLE) AS q,
        CASE
            WHEN name = '' OR (name0 <> '' AND qname <> '')
                 OR NOT (name0 = '' OR regexp_full_match(name0, {_sql_str(_NAME)}))
                THEN 'malformed metric name'
            WHEN NOT labels_ok THEN 'malformed labels'
            WHEN len(list_distinct(keys)) < len(keys) THEN 'duplicate label name'
            WHEN how = 'bad' THEN etype || ' family sample needs a _bucket, _sum or _count suffix'
            WHEN role = 'bucket' AND le_raw IS NULL THEN 'histogram bucket without le label'
            WHEN role = 'bucket' AND (le IS NULL OR isnan(le) OR le = '-inf'::DOUBLE)
                THEN 'bad le label: ' || le_raw
            WHEN role = 'quantile' AND q_raw IS NULL
                THEN 'summary sample without quantile label'
            WHEN role = 'quantile' AND (q IS NULL OR isnan(q)) THEN 'bad quantile label: ' || q_raw
        END AS reason
    FROM typed
), out AS (
    SELECT name0, labels_raw, reason, name, family, mtype, role, le, q,
        CASE WHEN reason IS NULL THEN {_json_obj("pairs")} END AS attrs,
        CASE
            WHEN reason IS NOT NULL THEN NULL
            WHEN mtype IN ('histogram', 'gaugehistogram')
                THEN {_json_obj("list_filter(pairs, lambda p: p[1] <> 'le')")}
            WHEN mtype = 'summary'
                THEN {_json_obj("list_filter(pairs, lambda p: p[1] <> 'quantile')")}
            ELSE {_json_obj("pairs")}
        END AS gattrs,
        coalesce({_label("service.name")}, {_label("service_name")}, {_label("service")},
                 {_label("job")}) AS svc
    FROM checked
)
SELECT row_number() OVER () AS sid, dense_rank() OVER (ORDER BY family, gattrs) AS gid, *
FROM out
"""

# Step 5: the samples: series number, value and timestamp (NULL ``sid``: not a sample).
_SAMPLES_SQL = """
CREATE TEMP TABLE _obsctl_prom_samples AS
SELECT p.line, r.sid, r.gid, r.role, r.le, r.q,
    TRY_CAST(p.value_raw AS DOUBLE) AS value,
    CASE WHEN r.role = 'created' THEN p.value_raw END AS value_raw,
    CASE
        WHEN p.ts_raw = '' THEN make_timestamp_ns($mtime_ns)
        WHEN regexp_full_match(p.ts_raw, '-?[0-9]{1,19}')
            THEN obsctl_epoch_int(TRY_CAST(p.ts_raw AS BIGINT))
        WHEN abs(TRY_CAST(p.ts_raw AS DOUBLE)) < 1e11
            THEN make_timestamp_ns(TRY_CAST(
                TRY_CAST(p.ts_raw AS DECIMAL(38, 9)) * 1000000000 AS BIGINT))
        ELSE obsctl_epoch(TRY_CAST(p.ts_raw AS DOUBLE))
    END AS ts,
    CASE
        WHEN p.value_raw = '' THEN 'not a Prometheus sample or comment line'
        WHEN r.reason IS NOT NULL THEN r.reason
        WHEN value IS NULL THEN 'value is not a number: ' || p.value_raw
        WHEN ts IS NULL THEN 'timestamp is not a number: ' || p.ts_raw
    END AS reason
FROM _obsctl_prom_parsed p
LEFT JOIN _obsctl_prom_series r ON r.name0 = p.name0 AND r.labels_raw = p.labels_raw
"""

# Step 6: `_created` samples, numbered per group and timestamp (the n-th `_created` of a
# series at a timestamp belongs to its n-th repetition).
_CREATED_SQL = """
CREATE TEMP TABLE _obsctl_prom_created AS
SELECT gid, ts, occ, line,
    make_timestamp_ns(TRY_CAST(TRY_CAST(value_raw AS DECIMAL(38, 9)) * 1000000000
                               AS BIGINT)) AS start_ts
FROM (
    SELECT *, row_number() OVER (PARTITION BY gid, ts ORDER BY line) AS occ
    FROM _obsctl_prom_samples
    WHERE reason IS NULL AND role = 'created'
)
"""

# Step 7: the rows. Gauges (one per sample), counters (one per sample, with the start
# time of their `_created`), histograms and summaries (one per group and timestamp).
_GAUGES_SQL = """
INSERT INTO metric_points BY NAME
SELECT r.name AS metric_name, 'gauge' AS metric_type, m.unit AS unit, m.help AS description,
    coalesce(r.svc, $service) AS service_name, r.attrs::JSON AS attributes,
    s.ts AS timestamp, s.value AS value, $source_id AS source_id, s.line AS line
FROM _obsctl_prom_samples s
JOIN _obsctl_prom_series r ON r.sid = s.sid
LEFT JOIN _obsctl_prom_meta m ON m.family = r.family
WHERE s.reason IS NULL AND s.role = 'value' AND r.mtype <> 'counter'
"""

_COUNTERS_SQL = """
INSERT INTO metric_points BY NAME
SELECT r.name AS metric_name, 'sum' AS metric_type, m.unit AS unit, m.help AS description,
    coalesce(r.svc, $service) AS service_name, r.attrs::JSON AS attributes,
    s.ts AS timestamp, {start} AS start_timestamp, s.value AS value,
    true AS is_monotonic, 'cumulative' AS aggregation_temporality,
    $source_id AS source_id, s.line AS line
FROM (
    SELECT * {occ} FROM _obsctl_prom_samples
    WHERE reason IS NULL AND role = 'value'
      AND sid IN (SELECT sid FROM _obsctl_prom_series WHERE mtype = 'counter')
) s
JOIN _obsctl_prom_series r ON r.sid = s.sid
LEFT JOIN _obsctl_prom_meta m ON m.family = r.family
{join}
"""
_COUNTER_OCC = ", row_number() OVER (PARTITION BY gid, ts ORDER BY line) AS occ"
_CREATED_JOIN = (
    "LEFT JOIN _obsctl_prom_created c ON c.gid = s.gid AND c.ts = s.ts AND c.occ = s.occ"
)

_HISTOGRAMS_SQL = """
INSERT INTO metric_points BY NAME
SELECT r.family AS metric_name, 'histogram' AS metric_type, m.unit, m.help AS description,
    coalesce(r.svc, $service) AS service_name, r.gattrs::JSON AS attributes,
    h.ts AS timestamp, c.start_ts AS start_timestamp,
    CASE WHEN r.mtype = 'histogram' THEN 'cumulative' END AS aggregation_temporality,
    coalesce(h.cnt, h.inf_cum) AS count, h.sm AS sum,
    CASE WHEN h.has_buckets THEN
        list_transform(coalesce(h.cum, []), lambda x, i: x - coalesce(h.cum[i - 1], 0))
        || [coalesce(h.inf_cum, h.cnt, h.cum[-1], 0) - coalesce(h.cum[-1], 0)]
    END AS bucket_counts,
    CASE WHEN h.has_buckets THEN coalesce(h.bounds, []) END AS explicit_bounds,
    $source_id AS source_id, h.line AS line
FROM (
    SELECT gid, ts, occ, min(line) AS line, min(sid) AS sid,
        list(le ORDER BY le) FILTER (WHERE role = 'bucket' AND le < 'inf'::DOUBLE) AS bounds,
        list(value ORDER BY le) FILTER (WHERE role = 'bucket' AND le < 'inf'::DOUBLE) AS cum,
        any_value(value) FILTER (WHERE role = 'bucket' AND le = 'inf'::DOUBLE) AS inf_cum,
        any_value(value) FILTER (WHERE role IN ('count', 'gcount')) AS cnt,
        any_value(value) FILTER (WHERE role IN ('sum', 'gsum')) AS sm,
        bool_or(role = 'bucket') AS has_buckets
    FROM (
        SELECT *, row_number() OVER (PARTITION BY gid, ts, role, le ORDER BY line) AS occ
        FROM _obsctl_prom_samples
        WHERE reason IS NULL AND role IN ('bucket', 'count', 'sum', 'gcount', 'gsum')
          AND sid IN (SELECT sid FROM _obsctl_prom_series
                      WHERE mtype IN ('histogram', 'gaugehistogram'))
    )
    GROUP BY gid, ts, occ
) h
JOIN _obsctl_prom_series r ON r.sid = h.sid
LEFT JOIN _obsctl_prom_meta m ON m.family = r.family
LEFT JOIN _obsctl_prom_created c ON c.gid = h.gid AND c.ts = h.ts AND c.occ = h.occ
"""

_SUMMARIES_SQL = """
INSERT INTO metric_points BY NAME
SELECT r.family AS metric_name, 'summary' AS metric_type, m.unit, m.help AS description,
    coalesce(r.svc, $service) AS service_name, r.gattrs::JSON AS attributes,
    g.ts AS timestamp, c.start_ts AS start_timestamp,
    g.cnt AS count, g.sm AS sum, g.quantiles AS quantiles,
    $source_id AS source_id, g.line AS line
FROM (
    SELECT gid, ts, occ, min(line) AS line, min(sid) AS sid,
        list({'quantile': q, 'value': value} ORDER BY q) FILTER (WHERE role = 'quantile')
            AS quantiles,
        any_value(value) FILTER (WHERE role = 'count') AS cnt,
        any_value(value) FILTER (WHERE role = 'sum') AS sm
    FROM (
        SELECT *, row_number() OVER (PARTITION BY gid, ts, role, q ORDER BY line) AS occ
        FROM _obsctl_prom_samples
        WHERE reason IS NULL AND role IN ('quantile', 'count', 'sum')
          AND sid IN (SELECT sid FROM _obsctl_prom_series WHERE mtype = 'summary')
    )
    GROUP BY gid, ts, occ
) g
JOIN _obsctl_prom_series r ON r.sid = g.sid
LEFT JOIN _obsctl_prom_meta m ON m.family = r.family
LEFT JOIN _obsctl_prom_created c ON c.gid = g.gid AND c.ts = g.ts AND c.occ = g.occ
"""

# `_created` samples whose series is absent (no counter value, histogram or summary sample
# in the same group, at the same timestamp and repetition).
_ORPHAN_CREATED = """
SELECT c.line FROM _obsctl_prom_created c
WHERE NOT EXISTS (
    SELECT 1 FROM (
        SELECT gid, ts,
            row_number() OVER (PARTITION BY gid, ts, role, le, q ORDER BY line) AS occ
        FROM _obsctl_prom_samples
        WHERE reason IS NULL AND role <> 'created'
          AND sid IN (SELECT sid FROM _obsctl_prom_series
                      WHERE mtype IN ('counter', 'histogram', 'gaugehistogram', 'summary'))
    ) s
    WHERE s.gid = c.gid AND s.ts = c.ts AND s.occ = c.occ
)
"""

_REJECTS_SQL = f"""
WITH bad AS (
    SELECT line, reason FROM _obsctl_prom_samples WHERE reason IS NOT NULL
    UNION ALL
    SELECT line, CASE WHEN kw = '' THEN 'malformed # HELP/TYPE/UNIT line'
                      ELSE 'unknown metric type: ' || rest END
    FROM _obsctl_prom_meta_lines
    WHERE kw = '' OR (kw = 'TYPE' AND lower(rest) NOT IN ({_TYPE_LIST}))
    {{orphans}}
), kept AS (
    SELECT (SELECT count(*) FROM bad) AS total, line, reason FROM bad ORDER BY line LIMIT $keep
)
SELECT k.total, k.line, k.reason, r.t FROM kept k JOIN _obsctl_prom_raw r ON r.line = k.line
ORDER BY k.line
"""
_ORPHANS_UNION = (
    f"UNION ALL SELECT line, '_created sample without a matching series' FROM ({_ORPHAN_CREATED})"
)

_TEMP_TABLES = (
    "_obsctl_prom_raw",
    "_obsctl_prom_meta_lines",
    "_obsctl_prom_meta",
    "_obsctl_prom_parsed",
    "_obsctl_prom_series",
    "_obsctl_prom_samples",
    "_obsctl_prom_created",
)


def load(src: Source, ctx: LoadContext) -> None:
    """Load a Prometheus / OpenMetrics text file into ``metric_points``."""
    from obsctl.ingest.base import MAX_KEPT_REJECTS

    con = ctx.con
    schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])

    def batches() -> Iterator[pa.RecordBatch]:
        for b in src.line_batches():
            yield b
            if ctx.progress:
                ctx.progress(src.consumed)

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    params = {"service": ctx.service, "source_id": ctx.source_id}
    con.register("_obsctl_prom_reader", reader)
    try:
        con.execute(_RAW_SQL)
    finally:
        con.unregister("_obsctl_prom_reader")
    try:
        con.execute(_META_LINES_SQL)
        con.execute(_META_SQL)
        con.execute(_PARSED_SQL)
        con.execute(_SERIES_SQL)
        con.execute(_SAMPLES_SQL, {"mtime_ns": os.stat(src.path).st_mtime_ns})
        con.execute(_CREATED_SQL)
        has_created = con.execute("SELECT count(*) FROM _obsctl_prom_created").fetchone()[0]
        counters = _COUNTERS_SQL.format(
            start=("c.start_ts" if has_created else "NULL::TIMESTAMP_NS"),
            occ=(_COUNTER_OCC if has_created else ""),
            join=(_CREATED_JOIN if has_created else ""),
        )
        for sql in (_GAUGES_SQL, counters, _HISTOGRAMS_SQL, _SUMMARIES_SQL):
            ctx.records += con.execute(sql, params).fetchone()[0]
        rejects = _REJECTS_SQL.format(orphans=_ORPHANS_UNION if has_created else "")
        rows = con.execute(rejects, {"keep": MAX_KEPT_REJECTS}).fetchall()
        if rows:
            ctx.reject_many(rows[0][0], (Reject(r[1], r[2], r[3] or "") for r in rows))
    finally:
        for t in _TEMP_TABLES:
            try:
                con.execute(f"DROP TABLE IF EXISTS {t}")
            except Exception:  # transaction aborted: keep the original error; rollback cleans
                break


# --- sniffing ---------------------------------------------------------------------------
_META_LINE = re.compile(r"^#[ \t]*(HELP|TYPE)[ \t]+[a-zA-Z_:\"][^ \t]*", re.M)
_TYPE_LINE = re.compile(
    r"^#[ \t]*TYPE[ \t]+\S+[ \t]+(counter|gauge|histogram|gaugehistogram|summary|untyped|"
    r"unknown|info|stateset)[ \t]*$",
    re.M,
)
_SAMPLE_LINE = re.compile(
    r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?[ \t]+"
    r"([-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|NaN|Inf))"
    r"([ \t]+-?\d+(\.\d+)?([eE][-+]?\d+)?)?([ \t]+#.*)?$"
)
_BRACE_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*="')


def sniff(head: bytes, name: str) -> float:
    """Score Prometheus / OpenMetrics text: ``# TYPE`` lines or ``name{l="v"} 1`` samples."""
    try:
        text = head.decode("utf-8", "replace")
    except Exception:
        return 0.0
    if _TYPE_LINE.search(text) or (_META_LINE.search(text) and "# EOF" in text):
        return 0.95
    if not text or text.lstrip()[:1] in ("{", "["):
        return 0.0
    lines = text.splitlines()
    if len(head) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # possibly cut mid-line
    samples = braced = other = 0
    for ln in lines[:2000]:
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        if _SAMPLE_LINE.match(ln):
            samples += 1
            braced += bool(_BRACE_SAMPLE.match(ln))
        else:
            other += 1
    if samples == 0:
        return 0.0
    ratio = samples / (samples + other)
    hinted = bool(re.search(r"\.(prom|om|metrics)(\.txt)?(\.gz)?$|metrics", name, re.I))
    if _META_LINE.search(text) and ratio >= 0.8:
        return 0.9
    if braced and ratio >= 0.9:
        return 0.9
    if ratio == 1.0:
        # Only bare `name value [ts]` lines: plausible, but weak evidence on its own.
        return 0.85 if hinted else 0.5
    return 0.0


FORMATS = [
    FormatSpec(
        name="prometheus",
        signal="metrics",
        description="Prometheus text exposition 0.0.4 / OpenMetrics 1.0 (scrapes, textfiles)",
        sniff=sniff,
        load=load,
        aliases=("openmetrics", "prom"),
    )
]
