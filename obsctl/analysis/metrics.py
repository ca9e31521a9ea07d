"""Step 2 — metrics: what is loaded, the numbers behind a chart, and what moved.

Every function takes a ``MetricFilter`` (which points) and returns plain data: Arrow
tables for listings and a frozen ``SeriesSet`` for one metric's chart. Nothing here knows
about terminals. SQL lives in named constants composed with fixed fragments only; user
values (metric name, services, label keys and values, times) are bound as ``$name``
parameters, so a second engine can supply its own dialect later.

Design decisions:

* **A stream is not a series.** Cumulative values can only be differenced within one
  *stream*: one metric of one process (service + resource attributes + scope + point
  attributes). Two instances of ``payment`` report the same counter name with the same
  attributes; interleaving their cumulative values would invent resets. So differences
  are taken per stream (``lag() OVER (PARTITION BY stream ORDER BY t)``) and only then
  are streams merged into the displayed **series** = service + point attributes, the
  way ``sum without (instance) (rate(x[1m]))`` does in Prometheus.
* **What a value is**, by type (``kind``):

  - gauges and non-monotonic cumulative sums (up-down counters) → ``value``: the average
    of the points in each step;
  - monotonic cumulative sums (counters) → ``rate/s``: each point's increase over the
    previous point of its stream divided by the seconds between them, a negative
    increase (or a new start time) being a reset whose increase is the new value; rates
    are averaged per stream and step, then summed over the streams of a series;
  - delta sums → ``rate/s``: the deltas of a step summed and divided by the step;
  - histograms and exponential histograms → ``p50/p95/p99``: per-interval bucket counts
    (cumulative points differenced bucket by bucket per stream, resets restart from the
    new counts; delta points as they are), summed per series and step, then each
    quantile interpolated linearly inside its bucket like Prometheus'
    ``histogram_quantile`` (lowest bucket starts at 0 when its bound is positive, a
    quantile in the +Inf bucket is the highest finite bound). Exponential buckets are
    turned into explicit ``(lower, upper]`` ranges first: index ``i`` covers
    ``(base^i, base^(i+1)]`` with ``base = 2^(2^-scale)``, ``i = offset + position``;
    the zero bucket is ``[0, 0]``, negative buckets mirror the positive ones;
  - summaries → ``quantiles``: the quantiles as given, averaged per step.

  A stream with a single cumulative histogram point (a scrape of a Prometheus text file)
  has nothing to difference: its counts since start are used as they are, so a snapshot
  still has quantiles. A single counter point has no rate and yields nothing.
* **Steps** are "nice" widths (1s … 30d, those of ``analysis.logs``) aligned on the
  epoch: the finest that gives at most ``MAX_POINTS`` points over the range *and* is no
  finer than the median sampling interval (a 15 s step over 30 s scrapes would leave
  every other step empty).
* **All series at once**: ``series_values`` returns every series' bucketed values in one
  table (histograms as three series ``name p50``/``p95``/``p99``). ``compare`` is built on
  it, and so is the anomaly detector (``analysis.metric_anomalies``).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from obsctl.errors import InputNotFound, UsageError
from obsctl.timewindow import TimeWindow, parse_duration

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.store import Store

SECOND = 1_000_000_000

MAX_POINTS = 200
"""At most this many steps over the range when the step is chosen automatically."""

MAX_STEPS = 100_000
"""More steps than this is refused: ``--step`` too fine for the range."""

QUANTILES = (0.5, 0.95, 0.99)
"""Quantiles computed from histogram buckets."""

KIND_VALUE = "value"
KIND_RATE = "rate/s"
KIND_QUANTILES = "p50/p95/p99"
KIND_SUMMARY = "quantiles"

# --------------------------------------------------------------------------- filter


@dataclass(frozen=True)
class MetricFilter:
    """Which metric points an analysis looks at."""

    services: tuple[str, ...] = ()
    """Only these services (empty: all)."""
    labels: tuple[tuple[str, str], ...] = ()
    """Point attributes that must equal these values (``key``, ``value``), all of them.
    Values compare as text: ``status=200`` matches the number 200 too."""
    window: TimeWindow = field(default_factory=TimeWindow)
    """Only points in this window."""

    @classmethod
    def from_options(
        cls,
        *,
        services: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
        window: TimeWindow | None = None,
    ) -> MetricFilter:
        """Build a filter from command-line values.

        Args:
            services: ``--service`` values.
            labels: ``--label`` values, each ``key=value``.
            window: the resolved time window.

        Raises:
            UsageError: a label is not ``key=value`` or has an empty key.
        """
        pairs = []
        for text in labels or ():
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--label {text!r} is not key=value (e.g. http.route=/cart)")
            pairs.append((key.strip(), value))
        return cls(
            services=tuple(s for s in services or () if s),
            labels=tuple(pairs),
            window=window or TimeWindow(),
        )


_ATTR_MAP = """json_transform(attributes, '"MAP(VARCHAR, VARCHAR)"')"""


def _where(
    filt: MetricFilter, name: str | None = None, window: TimeWindow | None = None
) -> tuple[str, dict[str, Any]]:
    """``WHERE`` over ``metric_points`` from fixed clauses, values bound as parameters."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if name is not None:
        clauses.append("metric_name = $name")
        params["name"] = name
    if filt.services:
        clauses.append("list_contains($services, service_name)")
        params["services"] = list(filt.services)
    for i, (key, value) in enumerate(filt.labels):
        clauses.append(f"{_ATTR_MAP}[$lk{i}] = $lv{i}")
        params[f"lk{i}"], params[f"lv{i}"] = key, value
    w = window if window is not None else filt.window
    if w.start_ns is not None:
        clauses.append("timestamp >= make_timestamp_ns($start)")
        params["start"] = w.start_ns
    if w.end_ns is not None:
        clauses.append("timestamp < make_timestamp_ns($end)")
        params["end"] = w.end_ns
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


# --------------------------------------------------------------------------- list

TYPE_SQL = """CASE WHEN metric_type = 'sum' AND coalesce(is_monotonic, false) THEN 'counter'
     ELSE metric_type END"""
"""SQL: the metric type as listed (``counter`` for monotonic sums)."""

LIST_SQL = f"""
SELECT metric_name AS metric,
       {TYPE_SQL} AS type,
       any_value(unit) AS unit,
       count(DISTINCT (coalesce(service_name, ''), coalesce(attributes::VARCHAR, '')))::BIGINT
           AS series,
       list_sort(list_distinct(flatten(list(coalesce(json_keys(attributes), []))))) AS labels,
       list_sort(list_distinct(list(service_name))) AS services,
       min(timestamp) AS first,
       max(timestamp) AS last,
       count(*)::BIGINT AS points
FROM metric_points {{where}}
GROUP BY metric_name, type
ORDER BY metric_name, type
"""
"""One row per metric name and type."""


def list_metrics(store: Store, filt: MetricFilter | None = None) -> pa.Table:
    """The metrics loaded, one row per name (and type, if a name has several).

    Args:
        store: the open store.
        filt: which points count (services, labels, window).

    Returns:
        ``metric``, ``type`` (gauge, counter, sum, histogram, exponential_histogram,
        summary), ``unit``, ``series`` (distinct service + attributes), ``labels``
        (attribute keys, sorted), ``services`` (sorted), ``first``/``last``
        (timestamp[ns]) and ``points``, ordered by name.
    """
    where, params = _where(filt or MetricFilter())
    return store.query(LIST_SQL.format(where=where), params)


def metric_names(store: Store) -> list[str]:
    """Every metric name in the store, sorted."""
    return [r[0] for r in store.rows(NAMES_SQL)]


NAMES_SQL = "SELECT DISTINCT metric_name FROM metric_points ORDER BY 1"
"""Every metric name."""


# --------------------------------------------------------------------------- values

_SERIES_SQL = f"""coalesce(service_name, '')
    || CASE WHEN coalesce(len(json_keys(attributes)), 0) = 0 THEN ''
    ELSE '{{' || array_to_string(list_transform(list_sort(map_entries({_ATTR_MAP})),
        lambda e: e.key || '=' || coalesce(e.value, '')), ',') || '}}' END"""
"""SQL: a point's series label ``service{k=v,…}``, keys sorted (stable across key order)."""

VALUES_SQL = """
WITH pts AS (
    SELECT metric_name AS metric, metric_type AS mtype, unit,
           coalesce(service_name, '') AS service,
           {series} AS series,
           attributes,
           hash(metric_name, service_name, resource_attributes::VARCHAR,
                attributes::VARCHAR, scope_name) AS stream,
           CASE WHEN metric_type = 'gauge' THEN 'value'
                WHEN metric_type = 'sum' AND aggregation_temporality = 'delta' THEN 'delta'
                WHEN metric_type = 'sum' AND coalesce(is_monotonic, false) THEN 'rate'
                WHEN metric_type = 'sum' THEN 'value'
                WHEN metric_type IN ('histogram', 'exponential_histogram') THEN 'hist'
                WHEN metric_type = 'summary' THEN 'summary'
                ELSE 'value' END AS k,
           aggregation_temporality = 'delta' AS is_delta,
           epoch_ns(timestamp) AS t, epoch_ns(start_timestamp) AS t0,
           value, count, bucket_counts, explicit_bounds, exp_scale, exp_zero_count,
           exp_positive_offset, exp_positive_counts, exp_negative_offset,
           exp_negative_counts, quantiles
    FROM metric_points {where}
),
lagged AS (
    SELECT *,
           lag(t) OVER w AS pt, lag(value) OVER w AS pv, lag(count) OVER w AS pc,
           lag(t0) OVER w AS pt0, count(*) OVER (PARTITION BY stream) AS npts,
           (t - $origin) // $step AS tb
    FROM pts WHERE t IS NOT NULL
    WINDOW w AS (PARTITION BY stream ORDER BY t)
),
levels AS (
    SELECT metric, mtype, unit, 'value' AS kind, series, any_value(attributes) AS labels,
           service, tb, NULL::DOUBLE AS quantile, avg(value) AS value
    FROM lagged WHERE k = 'value' AND value IS NOT NULL
    GROUP BY metric, mtype, unit, series, service, tb
),
deltas AS (
    SELECT metric, mtype, unit, 'rate/s' AS kind, series, any_value(attributes) AS labels,
           service, tb, NULL::DOUBLE AS quantile, sum(value) / ($step / 1e9) AS value
    FROM lagged WHERE k = 'delta' AND value IS NOT NULL
    GROUP BY metric, mtype, unit, series, service, tb
),
stream_rates AS (
    SELECT metric, mtype, unit, series, any_value(attributes) AS labels, service, stream, tb,
           avg(CASE WHEN value < pv OR (t0 IS DISTINCT FROM pt0 AND t0 IS NOT NULL
                                        AND pt0 IS NOT NULL)
                    THEN value ELSE value - pv END / ((t - pt) / 1e9)) AS rate
    FROM lagged
    WHERE k = 'rate' AND pt IS NOT NULL AND t > pt AND value IS NOT NULL AND pv IS NOT NULL
    GROUP BY metric, mtype, unit, series, service, stream, tb
),
rates AS (
    SELECT metric, mtype, unit, 'rate/s' AS kind, series, any_value(labels) AS labels,
           service, tb, NULL::DOUBLE AS quantile, sum(rate) AS value
    FROM stream_rates GROUP BY metric, mtype, unit, series, service, tb
),
hist_points AS (
    SELECT *,
           is_delta OR npts = 1 OR pt IS NOT NULL AS keep,
           NOT is_delta AND (count < pc OR (t0 IS DISTINCT FROM pt0 AND t0 IS NOT NULL
                                            AND pt0 IS NOT NULL)) AS reset,
           is_delta OR npts = 1 AS raw,
           pow(2.0, pow(2.0, -coalesce(exp_scale, 0))) AS base
    FROM lagged WHERE k = 'hist'
),
buckets AS (
    SELECT stream, metric, mtype, unit, series, attributes, service, t, tb, keep, reset, raw,
           unnest(range(1, len(bucket_counts) + 1)) AS i, unnest(bucket_counts) AS n,
           explicit_bounds AS b
    FROM hist_points WHERE mtype = 'histogram' AND bucket_counts IS NOT NULL
),
explicit_ranges AS (
    SELECT stream, metric, mtype, unit, series, attributes, service, t, tb, keep, reset, raw,
           CASE WHEN i = 1 THEN (CASE WHEN len(b) > 0 AND b[1] > 0 THEN 0.0
                                      ELSE '-inf'::DOUBLE END)
                ELSE b[i - 1] END AS lo,
           CASE WHEN i > len(b) THEN 'inf'::DOUBLE ELSE b[i] END AS hi,
           n
    FROM buckets
),
exp_ranges AS (
    SELECT stream, metric, mtype, unit, series, attributes, service, t, tb, keep, reset, raw,
           pow(base, exp_positive_offset + unnest(range(len(exp_positive_counts)))) AS lo,
           pow(base, exp_positive_offset + unnest(range(len(exp_positive_counts))) + 1) AS hi,
           unnest(exp_positive_counts) AS n
    FROM hist_points WHERE mtype = 'exponential_histogram' AND exp_positive_counts IS NOT NULL
    UNION ALL
    SELECT stream, metric, mtype, unit, series, attributes, service, t, tb, keep, reset, raw,
           -pow(base, exp_negative_offset + unnest(range(len(exp_negative_counts))) + 1),
           -pow(base, exp_negative_offset + unnest(range(len(exp_negative_counts)))),
           unnest(exp_negative_counts)
    FROM hist_points WHERE mtype = 'exponential_histogram' AND exp_negative_counts IS NOT NULL
    UNION ALL
    SELECT stream, metric, mtype, unit, series, attributes, service, t, tb, keep, reset, raw,
           0.0, 0.0, exp_zero_count
    FROM hist_points WHERE mtype = 'exponential_histogram' AND exp_zero_count IS NOT NULL
),
ranges AS (SELECT * FROM explicit_ranges UNION ALL SELECT * FROM exp_ranges),
interval_counts AS (
    SELECT metric, mtype, unit, series, attributes, service, tb, keep, lo, hi,
           CASE WHEN raw OR reset THEN n
                ELSE greatest(n - coalesce(lag(n) OVER (PARTITION BY stream, lo, hi
                                                         ORDER BY t), 0), 0) END AS n
    FROM ranges
),
hist_sums AS (
    SELECT metric, mtype, unit, series, any_value(attributes) AS labels, service, tb, lo, hi,
           sum(n) AS n
    FROM interval_counts WHERE keep
    GROUP BY metric, mtype, unit, series, service, tb, lo, hi
),
hist_cum AS (
    SELECT *,
           sum(n) OVER (PARTITION BY metric, series, tb ORDER BY hi, lo
                        ROWS UNBOUNDED PRECEDING) AS cum,
           sum(n) OVER (PARTITION BY metric, series, tb) AS total
    FROM hist_sums
),
hist_pick AS (
    SELECT metric, mtype, unit, series, any_value(labels) AS labels, service, tb,
           q.q AS quantile, any_value(total) AS total,
           min_by({{'lo': lo, 'hi': hi, 'n': n, 'cum': cum}}, (hi, lo)) AS pick
    FROM hist_cum, (SELECT unnest($quantiles::DOUBLE[]) AS q) AS q
    WHERE total > 0 AND cum >= q.q * total
    GROUP BY metric, mtype, unit, series, service, tb, q.q
),
hists AS (
    SELECT metric, mtype, unit, 'p50/p95/p99' AS kind, series, labels, service, tb, quantile,
           CASE WHEN pick.hi = 'inf'::DOUBLE THEN pick.lo
                WHEN pick.lo = '-inf'::DOUBLE OR pick.n <= 0 THEN pick.hi
                ELSE pick.lo + (pick.hi - pick.lo)
                     * (quantile * total - (pick.cum - pick.n)) / pick.n END AS value
    FROM hist_pick
),
summaries AS (
    SELECT metric, mtype, unit, 'quantiles' AS kind, series, any_value(attributes) AS labels,
           service, tb, e.quantile AS quantile, avg(e.value) AS value
    FROM (SELECT *, unnest(quantiles) AS e FROM lagged WHERE k = 'summary')
    WHERE e.value IS NOT NULL AND NOT isnan(e.value)
    GROUP BY metric, mtype, unit, series, service, tb, e.quantile
),
vals AS (
    SELECT * FROM levels UNION ALL SELECT * FROM deltas UNION ALL SELECT * FROM rates
    UNION ALL SELECT * FROM hists UNION ALL SELECT * FROM summaries
)
SELECT metric, mtype, unit, kind, series, labels, service,
       make_timestamp_ns($origin + tb * $step) AS time, quantile, value
FROM vals WHERE value IS NOT NULL AND isfinite(value)
"""
"""Every series' value per step: ``metric, mtype, unit, kind, series, labels, service,
time, quantile, value`` (see the module docstring for what ``value`` is per type)."""

EXTENT_SQL = """
SELECT epoch_ns(min(timestamp)), epoch_ns(max(timestamp)), count(*),
       (SELECT median(d) FROM (
            SELECT epoch_ns(timestamp) - lag(epoch_ns(timestamp)) OVER (
                PARTITION BY metric_name, service_name, resource_attributes::VARCHAR,
                             attributes::VARCHAR, scope_name ORDER BY timestamp) AS d
            FROM metric_points {where}) WHERE d > 0)
FROM metric_points {where}
"""
"""First and last timestamp (ns), point count and median sampling interval (ns)."""


def parse_step(text: str) -> int:
    """A ``--step`` value (``30s``, ``1m``…) in nanoseconds.

    Raises:
        UsageError: not a positive duration.
    """
    ns = parse_duration(text)
    if not ns or ns <= 0:
        raise UsageError(f"--step {text!r} is not a positive duration (e.g. 30s, 1m, 5m)")
    return ns


def choose_step(start_ns: int, end_ns: int, interval_ns: int | None = None) -> int:
    """The automatic step for ``[start_ns, end_ns)``.

    Args:
        start_ns: start of the range.
        end_ns: end of the range (exclusive).
        interval_ns: the median sampling interval; the step is never finer.

    Returns:
        The finest nice width (``analysis.logs.NICE_BUCKETS_NS``) giving at most
        ``MAX_POINTS`` steps and at least ``interval_ns``.
    """
    from obsctl.analysis.logs import NICE_BUCKETS_NS, bucket_count

    for w in NICE_BUCKETS_NS:
        if w < SECOND or (interval_ns and w < interval_ns):
            continue
        if bucket_count(start_ns, end_ns, w) <= MAX_POINTS:
            return w
    return NICE_BUCKETS_NS[-1]


@dataclass(frozen=True)
class _Range:
    start_ns: int
    end_ns: int
    step_ns: int
    points: int


def _range(
    store: Store, filt: MetricFilter, name: str | None, step_ns: int | None
) -> _Range | None:
    where, params = _where(filt, name)
    first, last, points, interval = store.rows(EXTENT_SQL.format(where=where), params)[0]
    if not points:
        return None
    start = filt.window.start_ns if filt.window.start_ns is not None else int(first)
    end = filt.window.end_ns if filt.window.end_ns is not None else int(last) + 1
    step = step_ns or choose_step(start, end, int(interval) if interval else None)
    from obsctl.analysis.logs import bucket_count

    if bucket_count(start, end, step) > MAX_STEPS:
        raise UsageError(
            f"--step is too fine: {bucket_count(start, end, step):,} steps over this range"
            f" (at most {MAX_STEPS:,})"
        )
    return _Range(start, end, step, int(points))


def _values(store: Store, filt: MetricFilter, name: str | None, origin: int, step: int) -> pa.Table:
    where, params = _where(filt, name)
    sql = VALUES_SQL.format(where=where, series=_SERIES_SQL)
    params.update(origin=origin, step=step, quantiles=list(QUANTILES))
    return store.query(sql + " ORDER BY metric, series, quantile, time", params)


def quantile_label(q: float) -> str:
    """``0.95`` → ``p95``, ``0.999`` → ``p99.9``."""
    return "p" + f"{q * 100:.6g}"


# --------------------------------------------------------------------------- series


@dataclass(frozen=True)
class SeriesSet:
    """One metric's series over time: the numbers behind a chart."""

    metric: str
    """Metric name."""
    type: str
    """gauge, counter, sum, histogram, exponential_histogram or summary."""
    unit: str | None
    """Unit as reported (UCUM-ish: ``s``, ``By``, ``1``, ``{retry}``), if any."""
    kind: str
    """What ``value`` is: ``value``, ``rate/s`` (per second), ``p50/p95/p99`` (quantiles of
    a histogram) or ``quantiles`` (those a summary gives)."""
    table: pa.Table
    """``series`` (label text ``service{k=v,…}``, the key), ``labels`` (attributes JSON),
    ``service``, ``time`` (timestamp[ns], start of the step), ``value``, and for quantile
    kinds ``quantile`` (0.5, 0.95…); ordered by series, quantile, time."""
    step_ns: int
    """Step width in ns."""
    start_ns: int | None = None
    """Start of the charted range (aligned on the step)."""
    end_ns: int | None = None
    """End of the charted range (exclusive)."""

    @property
    def series_names(self) -> list[str]:
        """The distinct series labels, in table order."""
        seen: dict[str, None] = {}
        for s in self.table.column("series").to_pylist():
            seen.setdefault(s, None)
        return list(seen)


def _not_found(store: Store, name: str) -> InputNotFound:
    names = metric_names(store)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        low = name.lower()
        close = [n for n in names if low in n.lower()][:3]
    hint = f"; did you mean {', '.join(close)}?" if close else "; see 'obsctl metrics list'"
    if not names:
        hint = "; no metrics are loaded"
    return InputNotFound(f"no metric named {name!r}{hint}")


def series(store: Store, name: str, filt: MetricFilter, step_ns: int | None = None) -> SeriesSet:
    """One metric's values per step and series.

    Args:
        store: the open store.
        name: the metric name (exact).
        filt: services, labels and window.
        step_ns: step width (``None``: choose, see ``choose_step``).

    Returns:
        The ``SeriesSet``; its table is empty when no point of the metric matches
        the filter.

    Raises:
        InputNotFound: no metric has this name (the message suggests close names).
        UsageError: ``step_ns`` gives more than ``MAX_STEPS`` steps.
    """
    import pyarrow as pa

    info = store.rows(META_SQL, {"name": name})
    if not info:
        raise _not_found(store, name)
    mtype, unit = info[0]
    rng = _range(store, filt, name, step_ns)
    kind = {
        "gauge": KIND_VALUE,
        "counter": KIND_RATE,
        "histogram": KIND_QUANTILES,
        "exponential_histogram": KIND_QUANTILES,
        "summary": KIND_SUMMARY,
    }.get(mtype, KIND_VALUE)
    if rng is None:
        empty = pa.table(
            {
                "series": pa.array([], pa.string()),
                "labels": pa.array([], pa.string()),
                "service": pa.array([], pa.string()),
                "time": pa.array([], pa.timestamp("ns")),
                "value": pa.array([], pa.float64()),
            }
        )
        return SeriesSet(name, mtype, unit, kind, empty, step_ns or SECOND)
    origin = rng.start_ns // rng.step_ns * rng.step_ns
    table = _values(store, filt, name, origin, rng.step_ns)
    if table.num_rows:
        kind = table.column("kind")[0].as_py()
    cols = ["series", "labels", "service", "time", "value"]
    if kind in (KIND_QUANTILES, KIND_SUMMARY):
        cols.append("quantile")
    return SeriesSet(name, mtype, unit, kind, table.select(cols), rng.step_ns, origin, rng.end_ns)


META_SQL = f"""
SELECT {TYPE_SQL} AS type, any_value(unit)
FROM metric_points WHERE metric_name = $name
GROUP BY type ORDER BY count(*) DESC LIMIT 1
"""
"""The type and unit of a metric (the most common, should a name carry several)."""


# --------------------------------------------------------------------------- all series


SERIES_VALUES_SQL = """
SELECT CASE WHEN quantile IS NULL THEN metric
            ELSE metric || ' p' || printf('%g', quantile * 100) END AS metric,
       kind, series, labels, service, unit, time, value
FROM ({values})
"""


def series_values(
    store: Store, filt: MetricFilter, step_ns: int | None = None
) -> tuple[pa.Table, int]:
    """Every series of every metric, bucketed: the input of comparisons and anomaly detection.

    One vectorised query (no Python per point). Each metric contributes the values
    ``series`` would chart: gauges and up-down sums as the step average, counters and
    delta sums as per-second rates, histograms as three series named ``"<metric> p50"``,
    ``"<metric> p95"`` and ``"<metric> p99"``, summaries as one series per quantile given
    (``"<metric> p90"``…).

    Args:
        store: the open store.
        filt: services, labels and window (``filt.window`` bounds the points read).
        step_ns: step width (``None``: the automatic step over the filter's range, at
            least the median sampling interval, see ``choose_step``).

    Returns:
        ``(table, step_ns)``. The table has one row per series and step with a value
        (empty steps have no row): ``series_key`` (``"<metric> <series>"``, unique),
        ``metric`` (with the ``pNN`` suffix for quantiles), ``kind`` (``value``,
        ``rate/s``, ``p50/p95/p99``, ``quantiles``), ``series`` (``service{k=v,…}``),
        ``labels`` (attributes JSON), ``service``, ``unit``, ``time`` (timestamp[ns], start
        of the step, aligned on multiples of the step since the epoch) and ``value``
        (DOUBLE); ordered by ``series_key`` then ``time``.

    Raises:
        UsageError: ``step_ns`` gives more than ``MAX_STEPS`` steps.
    """
    rng = _range(store, filt, None, step_ns)
    step = rng.step_ns if rng else (step_ns or SECOND)
    origin = rng.start_ns // step * step if rng else 0
    where, params = _where(filt)
    values = VALUES_SQL.format(where=where, series=_SERIES_SQL)
    params.update(origin=origin, step=step, quantiles=list(QUANTILES))
    sql = (
        "SELECT metric || ' ' || series AS series_key, * FROM ("
        + SERIES_VALUES_SQL.format(values=values)
        + ") ORDER BY series_key, time"
    )
    return store.query(sql, params), step


# --------------------------------------------------------------------------- compare

COMPARE_SQL = """
WITH v AS ({values}),
tagged AS (
    SELECT *, CASE WHEN epoch_ns(time) >= $ws AND epoch_ns(time) < $we THEN 'w'
                   WHEN epoch_ns(time) >= $bs AND epoch_ns(time) < $be THEN 'b' END AS side
    FROM v
),
base AS (
    SELECT series_key, median(value) AS med, count(*) AS n
    FROM tagged WHERE side = 'b' GROUP BY series_key
),
base_mad AS (
    SELECT series_key, median(abs(value - med)) AS mad
    FROM tagged JOIN base USING (series_key) WHERE side = 'b' GROUP BY series_key
),
win AS (
    SELECT series_key, median(value) AS med, count(*) AS n
    FROM tagged WHERE side = 'w' GROUP BY series_key
),
meta AS (
    SELECT series_key, any_value(metric) AS metric, any_value(kind) AS kind,
           any_value(series) AS series, any_value(service) AS service,
           any_value(labels) AS labels, any_value(unit) AS unit
    FROM tagged WHERE side IS NOT NULL GROUP BY series_key
)
SELECT meta.metric, meta.kind, meta.series, meta.service, meta.labels, meta.unit,
       base.med AS baseline, win.med AS window,
       win.med - base.med AS change,
       CASE WHEN base.med <> 0 THEN (win.med - base.med) / abs(base.med) END AS change_ratio,
       CASE WHEN base_mad.mad > 1e-9 * greatest(abs(base.med), abs(win.med))
            THEN (win.med - base.med) / (1.4826 * base_mad.mad) END AS robust_z,
       coalesce(base.n, 0)::BIGINT AS baseline_points,
       coalesce(win.n, 0)::BIGINT AS window_points
FROM meta
LEFT JOIN base USING (series_key)
LEFT JOIN base_mad USING (series_key)
LEFT JOIN win USING (series_key)
ORDER BY abs(robust_z) DESC NULLS LAST, abs(change_ratio) DESC NULLS LAST,
         abs(change) DESC NULLS LAST, meta.metric, meta.series
"""
"""Each series' median in the baseline and the window, and how far it moved."""

_FAR_PAST = 0
_FAR_FUTURE = 2**62


def compare(
    store: Store,
    baseline: TimeWindow,
    window: TimeWindow,
    filt: MetricFilter | None = None,
    step_ns: int | None = None,
) -> pa.Table:
    """Every series' change between a baseline window and a window, biggest move first.

    Values are those of ``series_values`` (gauge value, counter rate, histogram
    quantiles) at a step chosen over both windows together.

    Args:
        store: the open store.
        baseline: the "before" window (open sides: the data's extent).
        window: the window to compare (open sides: the data's extent).
        filt: services and labels (its window is ignored).
        step_ns: step width (``None``: automatic).

    Returns:
        ``metric`` (``pNN`` suffix for quantiles), ``kind``, ``series``, ``service``,
        ``labels``, ``unit``, ``baseline`` and ``window`` (medians of the step values),
        ``change`` (window − baseline), ``change_ratio`` (change / |baseline|; NULL for a
        zero baseline), ``robust_z`` (change / (1.4826 · MAD of the baseline); NULL when
        the MAD is 0 or below 1e-9 of the medians, i.e. float noise on a flat
        baseline), ``baseline_points``, ``window_points``, ``score`` (how much it
        moved, as ``metrics anomalies`` ranks: capped robust z × effect); best score
        first (series seen in only one window last).
    """
    filt = filt or MetricFilter()
    bs = baseline.start_ns if baseline.start_ns is not None else _FAR_PAST
    be = baseline.end_ns if baseline.end_ns is not None else _FAR_FUTURE
    ws = window.start_ns if window.start_ns is not None else _FAR_PAST
    we = window.end_ns if window.end_ns is not None else _FAR_FUTURE
    lo, hi = min(bs, ws), max(be, we)
    span = TimeWindow(None if lo == _FAR_PAST else lo, None if hi == _FAR_FUTURE else hi)
    f = replace(filt, window=span)
    rng = _range(store, f, None, step_ns)
    step = rng.step_ns if rng else (step_ns or SECOND)
    origin = rng.start_ns // step * step if rng else 0
    where, params = _where(f)
    values = (
        "SELECT metric || ' ' || series AS series_key, * FROM ("
        + SERIES_VALUES_SQL.format(values=VALUES_SQL.format(where=where, series=_SERIES_SQL))
        + ")"
    )
    params.update(origin=origin, step=step, quantiles=list(QUANTILES), bs=bs, be=be, ws=ws, we=we)
    return _ranked(store.query(COMPARE_SQL.format(values=values), params))


def _ranked(table: pa.Table) -> pa.Table:
    """``table`` with a ``score`` column (``metric_anomalies.change_score``: the robust z
    capped, times the effect, utilisations judged on consumed headroom; scaled down for
    a baseline of few points), best first;
    series seen in only one window keep a NULL score and come last."""
    import numpy as np
    import pyarrow as pa

    from obsctl.analysis.metric_anomalies import (
        baseline_trust,
        change_score,
        utilisation_capacity,
    )

    def col(name: str) -> np.ndarray:
        return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)

    base, level, z = col("baseline"), col("window"), col("robust_z")
    capacity = np.array(
        [
            utilisation_capacity(m, u, np.array([b, w]))
            for m, u, b, w in zip(
                table.column("metric").to_pylist(),
                table.column("unit").to_pylist(),
                base,
                level,
                strict=True,
            )
        ]
    )
    trust = baseline_trust(col("baseline_points"))
    score = change_score(z, base, level, capacity) * trust
    score = np.where(np.isnan(base) | np.isnan(level), np.nan, score)
    table = table.append_column("score", pa.array(score, from_pandas=True))
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    return table.take(pa.array(order))
