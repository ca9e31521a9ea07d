"""Step 3 — traces: *where* the latency or the failure sits.

Store queries over the ``spans`` table, returning Arrow tables (listings) or a
``TraceTree`` (one trace). SQL lives in named constants composed with fixed fragments;
user values (services, operation, attribute keys and values, times, ids) are bound as
``$name`` parameters.

Design decisions:

* **A trace is placed in time by its first span.** Window filters (``--since/--until``)
  keep traces that *start* in the window for trace-level views (list, critical path,
  compare) and spans that start in it for span-level views (services, deps).
* **One rule for parents, in SQL and in Python.** A child names its parent by span id,
  and real exports repeat ids (duplicates, Zipkin shared client/server halves). The rule
  of ``analysis.trace_tree`` — a Zipkin server half hangs under its client half; else
  the row of the parent id from the child's own file, else the server-side row, else
  the earliest — is written once more as SQL (``EDGES_SQL``) so that ``services`` (self
  time) and ``deps`` aggregate millions of spans in DuckDB and agree with the waterfall.
* **Self time is exact**, computed for whole windows in SQL: the span's duration minus
  the union of its children's intervals clipped to it (children sorted by start, a
  running maximum of the previous ends). It never goes negative, and a slow downstream
  call is not blamed on its caller.
* **The critical path is sequential by nature** (walk back from the end, following the
  last-finishing child), so ``critical_path_summary`` loads the selected traces' spans as
  Arrow and runs the iterative walk of ``trace_tree`` once over all of them (O(spans)),
  then aggregates the segments with NumPy.
* **Compare is BubbleUp**: two groups of traces (window vs baseline, slow vs the rest,
  failed vs the rest); for every span attribute, resource attribute and a few span
  columns, the share of each group's spans with each value ("(missing)" included),
  ranked by total variation distance. Keys with too many distinct values (ids, urls,
  timestamps) are skipped: they set every span apart and explain nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsctl.errors import InputNotFound, UsageError
from obsctl.timewindow import TimeWindow, parse_duration

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.analysis.trace_tree import TraceTree
    from obsctl.store import Store

SORTS = ("duration", "start")
"""``traces list --sort`` keys."""

COMPARE_MAX_VALUES = 20
"""A compare key with at most this many distinct values is always kept."""
COMPARE_MAX_RATIO = 0.02
"""Above ``COMPARE_MAX_VALUES``, a key is kept only if its distinct values are at most
this share of the spans carrying it (hosts among a million spans yes, order ids no)."""
COMPARE_HARD_CAP = 500
"""A key with more distinct values than this is always skipped."""

MISSING = "(missing)"
"""The value of a compare key on spans that do not carry it."""


# --------------------------------------------------------------------------- filter


@dataclass(frozen=True)
class TraceFilter:
    """Which traces (and spans) an analysis looks at."""

    services: tuple[str, ...] = ()
    """Traces touching one of these services (empty: all)."""
    operation: str | None = None
    """Traces with a span of this name (of one of ``services``, if given)."""
    min_duration_ns: int | None = None
    """Traces at least this long."""
    errors: bool = False
    """Only traces with a failed span."""
    attrs: tuple[tuple[str, str], ...] = ()
    """Traces with a span whose attribute (span or resource) ``key`` equals ``value``,
    compared as text; all pairs must hold (each on some span)."""
    window: TimeWindow = field(default_factory=TimeWindow)
    """Traces starting in this window."""
    limit: int | None = None
    """At most this many traces (``None``: all)."""
    sort: str = "duration"
    """``duration`` (longest first) or ``start`` (oldest first)."""
    reverse: bool = False
    """Reverse the sort."""

    @classmethod
    def from_options(
        cls,
        *,
        services: Sequence[str] | None = None,
        operation: str | None = None,
        min_duration: str | None = None,
        errors: bool = False,
        attrs: Sequence[str] | None = None,
        window: TimeWindow | None = None,
        limit: int | None = None,
        sort: str = "duration",
        reverse: bool = False,
    ) -> TraceFilter:
        """Build a filter from command-line text.

        Raises:
            UsageError: a malformed ``--attr``, ``--min-duration`` or ``--sort``.
        """
        pairs = []
        for text in attrs or ():
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--attr {text!r} is not key=value (e.g. http.route=/charge)")
            pairs.append((key.strip(), value))
        if sort not in SORTS:
            raise UsageError(f"--sort {sort!r}: choose from {', '.join(SORTS)}")
        return cls(
            services=tuple(s for s in services or () if s),
            operation=operation or None,
            min_duration_ns=parse_min_duration(min_duration),
            errors=errors,
            attrs=tuple(pairs),
            window=window or TimeWindow(),
            limit=limit or None,
            sort=sort,
            reverse=reverse,
        )


def parse_min_duration(text: str | None, option: str = "--min-duration") -> int | None:
    """``250ms``, ``2s``… in nanoseconds (``None`` for no text).

    Raises:
        UsageError: not a duration.
    """
    if text is None or not text.strip():
        return None
    ns = parse_duration(text)
    if ns is None:
        raise UsageError(f"{option} {text!r} is not a duration (e.g. 250ms, 2s, 1m)")
    return ns


_ATTR_MAP = """json_transform({col}, '"MAP(VARCHAR, VARCHAR)"')"""


def _trace_having(filt: TraceFilter, params: dict[str, Any]) -> list[str]:
    """``HAVING`` clauses over a ``GROUP BY trace_id`` of spans (values bound)."""
    out: list[str] = []
    svc = ""
    if filt.services:
        params["services"] = list(filt.services)
        svc = "list_contains($services, service_name)"
        out.append(f"bool_or({svc})")
    if filt.operation:
        params["operation"] = filt.operation
        out.append(f"bool_or(name = $operation{' AND ' + svc if svc else ''})")
    if filt.errors:
        out.append("bool_or(status_code = 'ERROR')")
    for i, (key, value) in enumerate(filt.attrs):
        params[f"ak{i}"], params[f"av{i}"] = key, value
        span = _ATTR_MAP.format(col="attributes")
        res = _ATTR_MAP.format(col="resource_attributes")
        out.append(f"bool_or({span}[$ak{i}] = $av{i} OR {res}[$ak{i}] = $av{i})")
    return out


def _window_clauses(w: TimeWindow, col: str, params: dict[str, Any], tag: str = "") -> list[str]:
    out = []
    if w.start_ns is not None:
        out.append(f"{col} >= make_timestamp_ns($start{tag})")
        params[f"start{tag}"] = w.start_ns
    if w.end_ns is not None:
        out.append(f"{col} < make_timestamp_ns($end{tag})")
        params[f"end{tag}"] = w.end_ns
    return out


TRACES_SQL = """
SELECT trace_id,
       min(start_time) AS start,
       epoch_ns(max(coalesce(end_time, start_time))) - epoch_ns(min(start_time)) AS duration_ns,
       count(*)::BIGINT AS spans,
       count(*) FILTER (status_code = 'ERROR')::BIGINT AS errors,
       list_sort(list_distinct(list(service_name))) AS services,
       arg_min(service_name, [(coalesce(parent_span_id, '') <> '')::INT,
                              coalesce(epoch_ns(start_time), 9e18::BIGINT)]) AS root_service,
       arg_min(name, [(coalesce(parent_span_id, '') <> '')::INT,
                      coalesce(epoch_ns(start_time), 9e18::BIGINT)]) AS root_operation
FROM spans
GROUP BY trace_id
{having}
"""
"""One row per trace: extent, span and error counts, services, root span."""


def _traces_sql(filt: TraceFilter, params: dict[str, Any], window: TimeWindow | None = None) -> str:
    """SQL of the traces matching ``filt`` (all its clauses but limit and sort)."""
    having = _trace_having(filt, params)
    having += _window_clauses(window or filt.window, "min(start_time)", params)
    if filt.min_duration_ns is not None:
        having.append(
            "epoch_ns(max(coalesce(end_time, start_time))) - epoch_ns(min(start_time)) >= $mind"
        )
        params["mind"] = filt.min_duration_ns
    return TRACES_SQL.format(having=("HAVING " + " AND ".join(having)) if having else "")


# --------------------------------------------------------------------------- list

LIST_SQL = """
SELECT trace_id, root_service, root_operation, start, duration_ns, spans,
       len(services)::BIGINT AS service_count, services, errors, errors > 0 AS error,
       count(*) OVER ()::BIGINT AS _matched
FROM ({traces}) t
ORDER BY {order}
{limit}
"""


def list_traces(store: Store, filt: TraceFilter | None = None) -> tuple[pa.Table, int]:
    """The traces matching ``filt``, sorted and limited.

    Args:
        store: the open store.
        filt: filters, sort and limit.

    Returns:
        ``(table, matched)``: ``trace_id``, ``root_service``, ``root_operation`` (the span
        without a parent, else the earliest), ``start``, ``duration_ns`` (first start to
        last end), ``spans``, ``service_count``, ``services``, ``errors`` (failed spans),
        ``error`` (bool); and how many traces matched before the limit.
    """
    import pyarrow as pa

    filt = filt or TraceFilter()
    params: dict[str, Any] = {}
    traces = _traces_sql(filt, params)
    key = {"duration": "duration_ns", "start": "start"}[filt.sort]
    desc = (filt.sort == "duration") != filt.reverse
    order = f"{key} {'DESC' if desc else 'ASC'} NULLS LAST, trace_id"
    limit = ""
    if filt.limit:
        limit = "LIMIT $limit"
        params["limit"] = filt.limit
    table = store.query(LIST_SQL.format(traces=traces, order=order, limit=limit), params)
    matched = int(table.column("_matched")[0].as_py()) if table.num_rows else 0
    table = table.drop_columns(["_matched"])
    if table.num_rows == 0:
        table = table.cast(table.schema)  # keep types for empty outputs
    assert isinstance(table, pa.Table)
    return table, matched


# --------------------------------------------------------------------------- one trace

SPAN_COLUMNS_SQL = """
SELECT span_id, nullif(parent_span_id, '') AS parent_span_id, name, kind,
       service_name, epoch_ns(start_time) AS start_ns,
       coalesce(epoch_ns(end_time),
                CASE WHEN duration_ns IS NOT NULL THEN epoch_ns(start_time) + duration_ns END)
           AS end_ns,
       duration_ns, status_code, status_message, attributes, resource_attributes, events,
       source_id, line
FROM spans
WHERE trace_id = $trace_id
ORDER BY start_time NULLS LAST, source_id, line NULLS LAST, span_id, name
"""
"""The rows of one trace, in a deterministic order (the tree's input)."""

_HEX = re.compile(r"[0-9a-f]+")


def resolve_trace_id(store: Store, text: str) -> str:
    """The stored trace id a user means by ``text``.

    Accepts a full id (any case), a 64-bit (16 hex digit) id as Zipkin/Jaeger print it
    (stored left-padded to 32), or a unique prefix of at least 6 hex digits.

    Raises:
        UsageError: not hex, or a prefix matching several traces.
        InputNotFound: no such trace.
    """
    t = text.strip().lower()
    if not t or not _HEX.fullmatch(t) or len(t) > 32:
        raise UsageError(f"trace id {text!r} is not hexadecimal (up to 32 digits)")
    padded = t.rjust(32, "0")
    if store.scalar("SELECT 1 FROM spans WHERE trace_id = $t LIMIT 1", {"t": padded}):
        return padded
    if len(t) >= 6:
        rows = store.rows(
            "SELECT DISTINCT trace_id FROM spans WHERE starts_with(trace_id, $p)"
            " OR starts_with(ltrim(trace_id, '0'), $p) ORDER BY 1 LIMIT 6",
            {"p": t},
        )
        if len(rows) == 1:
            return str(rows[0][0])
        if len(rows) > 1:
            some = ", ".join(str(r[0]) for r in rows[:5])
            raise UsageError(f"trace id prefix {text!r} matches several traces: {some}…")
    raise InputNotFound(f"no trace {text!r} in the store (obsctl traces list shows the trace ids)")


def load_trace(store: Store, trace_id: str) -> TraceTree:
    """One trace as a span tree (see ``analysis.trace_tree``).

    Args:
        store: the open store.
        trace_id: a full id, a 16-digit id or a unique prefix (``resolve_trace_id``).

    Raises:
        InputNotFound: no such trace (exit 3).
    """
    from obsctl.analysis.trace_tree import build_tree

    t = trace_id.strip().lower()
    if _HEX.fullmatch(t) and len(t) in (16, 32):
        # a remote store's working set may hold part of the trace, or none of it
        store.fetch_traces([t.rjust(32, "0")])
    tid = resolve_trace_id(store, trace_id)
    table = store.query(SPAN_COLUMNS_SQL, {"trace_id": tid})
    return build_tree(table, tid)


# --------------------------------------------------------------------------- edges

EDGES_SQL = """
s AS (
    SELECT rowid AS rid, trace_id, span_id, nullif(parent_span_id, '') AS pid, kind, source_id,
           line, coalesce(service_name, '') AS service, name, status_code, status_message,
           attributes, start_time,
           epoch_ns(start_time) AS st,
           CASE WHEN coalesce(end_time::VARCHAR, duration_ns::VARCHAR) IS NOT NULL
                THEN greatest(coalesce(epoch_ns(end_time), epoch_ns(start_time) + duration_ns),
                              epoch_ns(start_time)) END AS en,
           kind IN ('SERVER', 'CONSUMER') AS srv,
           kind IN ('CLIENT', 'PRODUCER') AS cli,
           hash(trace_id, span_id) AS k,
           hash(trace_id, nullif(parent_span_id, '')) AS pk
    FROM spans
    {where}
),
multi AS (
    SELECT k, bool_or(cli) AS has_cli FROM s GROUP BY k HAVING count(*) > 1
),
s2 AS (
    SELECT s.*, s.srv AND coalesce(m.has_cli, false) AS twin
    FROM s LEFT JOIN multi m ON m.k = s.k
),
cand AS (
    SELECT c.rid AS crid, p.rid AS prid, m.k IS NOT NULL AS several,
           p.source_id = c.source_id AS same, p.srv AS psrv, p.source_id AS psrc,
           p.line AS pline, coalesce(p.name, '') AS pname,
           c.st AS cst, c.en AS cen, p.st AS pst, p.en AS pen, c.service AS csvc,
           p.service AS psvc, c.status_code AS cstatus, c.start_time AS cstart
    FROM s2 c
    JOIN s p ON p.k = c.pk AND p.trace_id = c.trace_id AND p.span_id = c.pid
    LEFT JOIN multi m ON m.k = c.pk
    WHERE c.pid IS NOT NULL AND NOT c.twin AND p.rid <> c.rid
    UNION ALL
    SELECT c.rid, p.rid, true, p.source_id = c.source_id, p.srv, p.source_id, p.line,
           coalesce(p.name, ''), c.st, c.en, p.st, p.en, c.service, p.service, c.status_code,
           c.start_time
    FROM (SELECT * FROM s2 WHERE twin) c
    JOIN s p ON p.k = c.k AND p.trace_id = c.trace_id AND p.span_id = c.span_id AND p.cli
),
ranked AS (
    SELECT *, ((NOT same)::INT, (NOT psrv)::INT, pst IS NULL, coalesce(pst, 0), psrc,
               pline IS NULL, coalesce(pline, 0), pname, prid) AS pref
    FROM cand WHERE several
),
edges AS (
    SELECT crid, prid, cst, cen, pst, pen, csvc, psvc, cstatus, cstart
    FROM cand WHERE NOT several
    UNION ALL
    SELECT crid, arg_min(prid, pref), any_value(cst), any_value(cen), arg_min(pst, pref),
           arg_min(pen, pref), any_value(csvc), arg_min(psvc, pref), any_value(cstatus),
           any_value(cstart)
    FROM ranked GROUP BY crid
)
"""
"""CTEs ``s`` (spans with a row id) … ``edges``: child row ``crid`` → parent row ``prid``
with both intervals (``cst``/``cen``, ``pst``/``pen``, ns), services, the child's status and
start, by the parent rule of ``analysis.trace_tree``; ``{where}`` selects the spans. Ids are
joined through a 64-bit hash of (trace id, span id) and checked for equality; the
ranking of candidate parents only runs for ids that several rows share."""


def _span_scope(filt: TraceFilter, params: dict[str, Any], window: TimeWindow | None = None) -> str:
    """``WHERE`` for the spans an aggregation needs: every span of the traces that have a
    span starting in the window (children outside the window still count for self time)."""
    w = window or filt.window
    clauses = _window_clauses(w, "start_time", params)
    if not clauses:
        return ""
    return (
        "WHERE trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE "
        + " AND ".join(clauses)
        + ")"
    )


def _in_scope(filt: TraceFilter, params: dict[str, Any], alias: str = "") -> str:
    """Clauses (``AND …``) keeping the aggregated spans: in the window, of the services."""
    a = f"{alias}." if alias else ""
    clauses = _window_clauses(filt.window, f"{a}start_time", params, "_w")
    if filt.services:
        params["services"] = list(filt.services)
        clauses.append(f"list_contains($services, {a}service)")
    return "".join(f" AND {c}" for c in clauses)


# --------------------------------------------------------------------------- services

CHILD_INTERVALS_SQL = """
WITH {edges}
SELECT prid, cst, cen, pst, pen FROM edges
WHERE cst IS NOT NULL AND cen IS NOT NULL AND pst IS NOT NULL AND pen IS NOT NULL
"""
"""Every parent/child pair with both intervals: the input of the covered-time union."""

SERVICES_SQL = """
WITH s AS (
    SELECT rowid AS rid, coalesce(service_name, '') AS service, name, status_code, start_time,
           epoch_ns(start_time) AS st,
           CASE WHEN coalesce(end_time::VARCHAR, duration_ns::VARCHAR) IS NOT NULL
                THEN greatest(coalesce(epoch_ns(end_time), epoch_ns(start_time) + duration_ns),
                              epoch_ns(start_time)) END AS en
    FROM spans
),
agg AS (
    SELECT s.service, s.name AS operation,
           count(*)::BIGINT AS calls,
           count(*) FILTER (s.status_code = 'ERROR')::BIGINT AS errors,
           quantile_cont(s.en - s.st, [0.5, 0.95, 0.99]) AS q,
           sum(s.en - s.st)::BIGINT AS total_ns,
           sum(s.en - s.st - coalesce(c.covered, 0))::BIGINT AS self_ns
    FROM s LEFT JOIN {covered} c ON c.prid = s.rid
    WHERE s.st IS NOT NULL {scope}
    GROUP BY s.service, s.name
)
SELECT service, operation, calls,
       calls / greatest(($span_end - $span_start) / 1e9, 1e-9) AS rate_per_s,
       errors, errors / calls AS error_ratio,
       q[1] AS p50_ns, q[2] AS p95_ns, q[3] AS p99_ns, total_ns, self_ns,
       self_ns / nullif(total_ns, 0) AS self_ratio,
       self_ns / nullif(sum(self_ns) OVER (), 0) AS self_share
FROM agg
ORDER BY self_ns DESC, service, operation
"""
"""Per service/operation aggregates; ``{covered}`` is a relation ``(prid, covered)``."""


def _span_extent(store: Store, filt: TraceFilter) -> tuple[int, int]:
    """The window's bounds, open sides closed by the data's first start / last end."""
    w = filt.window
    row = store.rows(
        "SELECT epoch_ns(min(start_time)), epoch_ns(max(coalesce(end_time, start_time))) FROM spans"
    )[0]
    lo = w.start_ns if w.start_ns is not None else (row[0] or 0)
    hi = w.end_ns if w.end_ns is not None else (row[1] or lo)
    return int(lo), int(max(hi, lo))


def services(store: Store, filt: TraceFilter | None = None) -> pa.Table:
    """Per service and operation: traffic, errors, latency and self time.

    Args:
        store: the open store.
        filt: ``window`` (spans starting in it) and ``services`` are used.

    Returns:
        ``service``, ``operation``, ``calls``, ``rate_per_s`` (calls over the window or
        the data's time range), ``errors``, ``error_ratio``, ``p50_ns``/``p95_ns``/
        ``p99_ns`` (``quantile_cont`` of span durations), ``total_ns``, ``self_ns`` (time
        not covered by children), ``self_ratio`` (self / total: how much of its own time
        an operation spends itself) and ``self_share`` (its share of all self time: where
        the time goes), the biggest self time first.
    """
    import pyarrow as pa

    filt = filt or TraceFilter()
    params: dict[str, Any] = {}
    edges = EDGES_SQL.format(where=_span_scope(filt, params))
    kids = store.query(CHILD_INTERVALS_SQL.format(edges=edges), params)
    from obsctl.analysis.trace_tree import covered_time

    parents, covered = covered_time(*(kids.column(c).to_numpy() for c in kids.column_names))
    cov = pa.table({"prid": parents, "covered": covered})
    params = {}
    scope = _in_scope(filt, params, "s")
    params["span_start"], params["span_end"] = _span_extent(store, filt)
    name = f"_obsctl_covered_{id(cov):x}"
    store.con.register(name, cov)
    try:
        return store.query(SERVICES_SQL.format(covered=name, scope=scope), params)
    finally:
        store.con.unregister(name)


SERVICE_RATES_SQL = """
WITH s AS (
    SELECT coalesce(service_name, '') AS service,
           (epoch_ns(start_time) - $t0) // $width AS b,
           status_code = 'ERROR' AS failed,
           CASE WHEN kind IN ('SERVER', 'CONSUMER') OR coalesce(parent_span_id, '') = ''
                THEN coalesce(epoch_ns(end_time) - epoch_ns(start_time), duration_ns) END
               AS entry_ns
    FROM spans
    WHERE start_time >= make_timestamp_ns($t0) AND start_time < make_timestamp_ns($t1)
      AND ($services IS NULL OR list_contains($services, service_name))
)
SELECT service, b AS bucket, count(*)::BIGINT AS spans,
       count(*) FILTER (failed)::BIGINT AS errors,
       quantile_cont(entry_ns, 0.95) AS p95_ns
FROM s
GROUP BY GROUPING SETS ((service, b), (service))
ORDER BY service, bucket NULLS FIRST
"""
"""Per service, per time bucket and overall (``bucket`` NULL): spans, failed spans and the
p95 of the service's entry spans (server/consumer spans, or roots)."""


@dataclass(frozen=True)
class ServiceRates:
    """Spans, errors and entry latency per service over time (sparklines, overviews)."""

    table: pa.Table
    """``service``, ``bucket`` (0-based index; NULL on the service's overall row),
    ``spans``, ``errors``, ``p95_ns`` (p95 duration of the service's entry spans — server
    or consumer spans, or roots — NULL without any); per service the overall row comes
    first, then its non-empty buckets."""
    start_ns: int
    """Start of bucket 0 (ns since the epoch)."""
    width_ns: int
    """Bucket width."""
    buckets: int
    """Number of buckets covering the range."""


def service_rates(
    store: Store, window: TimeWindow | None = None, *, buckets: int = 60,
    services: Sequence[str] = (),
) -> ServiceRates | None:  # fmt: skip
    """Per service: traffic, failures and entry-span p95, overall and per time bucket.

    One scan with ``GROUPING SETS`` gives both the totals and the series, so an overview
    can list services with their error and latency sparklines without a query each.

    Args:
        store: the open store.
        window: spans starting in it (open sides: the spans' extent).
        buckets: how many equal buckets the range is cut into.
        services: only these services (empty: all).

    Returns:
        The ``ServiceRates``, or ``None`` when no span has a start time in range.
    """
    lo, hi = store.rows("SELECT epoch_ns(min(start_time)), epoch_ns(max(start_time)) FROM spans")[0]
    w = window or TimeWindow()
    t0 = w.start_ns if w.start_ns is not None else lo
    t1 = w.end_ns if w.end_ns is not None else (None if hi is None else hi + 1)
    if t0 is None or t1 is None or t1 <= t0:
        return None
    width = max(1, -(-(int(t1) - int(t0)) // max(1, buckets)))
    n = max(1, -(-(int(t1) - int(t0)) // width))
    params = {"t0": int(t0), "t1": int(t1), "width": width, "services": list(services) or None}
    table = store.query(SERVICE_RATES_SQL, params)
    return ServiceRates(table, int(t0), width, n)


# --------------------------------------------------------------------------- deps

DEPS_SQL = """
WITH {edges},
cross_parents AS (SELECT DISTINCT prid FROM edges WHERE psvc <> csvc),
calls AS (
    SELECT psvc AS caller, csvc AS callee, cstatus AS status_code, cen - cst AS dur,
           false AS external
    FROM edges
    WHERE psvc <> csvc {scope_e}
    UNION ALL
    SELECT c.service, coalesce(
               nullif(json_extract_string(c.attributes, '$."peer.service"'), ''),
               nullif(json_extract_string(c.attributes, '$."server.address"'), ''),
               nullif(json_extract_string(c.attributes, '$."net.peer.name"'), ''),
               nullif(json_extract_string(c.attributes, '$."db.system"'), ''),
               nullif(json_extract_string(c.attributes, '$."messaging.system"'), '')),
           c.status_code, c.en - c.st, true
    FROM s c ANTI JOIN cross_parents x ON x.prid = c.rid
    WHERE c.cli {scope_c}
)
SELECT caller, callee, external,
       count(*)::BIGINT AS calls,
       count(*) FILTER (status_code = 'ERROR')::BIGINT AS errors,
       count(*) FILTER (status_code = 'ERROR') / count(*) AS error_ratio,
       quantile_cont(dur, [0.5, 0.95]) AS q
FROM calls
WHERE callee IS NOT NULL
GROUP BY caller, callee, external
"""
"""Caller → callee edges: cross-service parent/child pairs, and client spans with no
instrumented callee (``external``), named after their peer attributes."""


def deps(store: Store, filt: TraceFilter | None = None) -> pa.Table:
    """The service dependency graph: one row per caller → callee edge.

    An edge is a parent span of one service with a child span of another (its calls,
    errors and latency are the child's). A client/producer span with no child in
    another service is a call into something uninstrumented: its callee is its
    ``peer.service`` (else ``server.address``, ``net.peer.name``, ``db.system``,
    ``messaging.system``) and the edge is ``external``.

    Args:
        store: the open store.
        filt: ``window`` (calls starting in it) and ``services`` (calls *into or out of*
            these services... as callee span's service) are used.

    Returns:
        ``caller``, ``callee``, ``external``, ``calls``, ``errors``, ``error_ratio``,
        ``p50_ns``, ``p95_ns``; the busiest edge first.
    """
    filt = filt or TraceFilter()
    params: dict[str, Any] = {}
    edges = EDGES_SQL.format(where=_span_scope(filt, params))
    scope_c = "".join(
        f" AND {c}" for c in _window_clauses(filt.window, "c.start_time", params, "_w")
    )
    scope_e = "".join(f" AND {c}" for c in _window_clauses(filt.window, "cstart", params, "_w"))
    sql = (
        "SELECT caller, callee, external, calls, errors, error_ratio, q[1] AS p50_ns,"
        f" q[2] AS p95_ns FROM ({DEPS_SQL.format(edges=edges, scope_c=scope_c, scope_e=scope_e)})"
        " ORDER BY calls DESC, caller, callee"
    )
    table = store.query(sql, params)
    if filt.services:
        import pyarrow.compute as pc

        wanted = list(filt.services)
        mask = pc.or_(
            pc.is_in(table.column("caller"), value_set=_pa_strings(wanted)),
            pc.is_in(table.column("callee"), value_set=_pa_strings(wanted)),
        )
        table = table.filter(mask)
    return table


def _pa_strings(values: list[str]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, pa.string())


# --------------------------------------------------------------------------- forests

FOREST_SQL = """
SELECT dense_rank() OVER (ORDER BY s.trace_id)::BIGINT - 1 AS trace, s.trace_id,
       s.span_id, nullif(s.parent_span_id, '') AS parent_span_id, s.name, s.kind,
       coalesce(s.service_name, '') AS service_name, epoch_ns(s.start_time) AS start_ns,
       coalesce(epoch_ns(s.end_time),
                CASE WHEN s.duration_ns IS NOT NULL
                     THEN epoch_ns(s.start_time) + s.duration_ns END) AS end_ns,
       s.status_code, s.status_message, s.source_id
FROM spans s
WHERE s.trace_id IN (SELECT trace_id FROM ({traces}) t)
ORDER BY s.trace_id, s.start_time NULLS LAST, s.source_id, s.line NULLS LAST, s.span_id, s.name
"""
"""Every span of the traces a filter selects, with a 0-based trace code."""


def _load_forest(store: Store, filt: TraceFilter, window: TimeWindow | None = None) -> Any:
    from obsctl.analysis.trace_tree import build_forest

    params: dict[str, Any] = {}
    table = store.query(FOREST_SQL.format(traces=_traces_sql(filt, params, window)), params)
    return table, build_forest(table)


# --------------------------------------------------------------------------- critical path


@dataclass(frozen=True)
class CriticalPathSummary:
    """``critical_path_summary``'s result: the table and what it was computed over."""

    table: pa.Table
    """One row per service and operation (see ``critical_path_summary``)."""
    traces: int
    """Traces in the window."""
    baseline_traces: int | None
    """Traces in the baseline (``None``: no baseline)."""


def _critical_by_op(store: Store, filt: TraceFilter, window: TimeWindow) -> tuple[pa.Table, int]:
    """Critical-path time per (service, operation) over the traces of ``window``."""
    import numpy as np
    import pyarrow as pa

    table, forest = _load_forest(store, filt, window)
    n_traces = len(forest.roots) if table.num_rows else 0
    n = forest.n_rows
    svc = table.column("service_name").to_pylist()
    names = table.column("name").to_pylist()
    node = forest.seg_node
    length = forest.seg_end - forest.seg_start
    keys = [
        (svc[v], names[v] or "") if v < n else ("", "(between root spans)") for v in node.tolist()
    ]
    if not keys:
        empty = pa.table(
            {
                "service": pa.array([], pa.string()),
                "operation": pa.array([], pa.string()),
                "critical_ns": pa.array([], pa.int64()),
                "traces": pa.array([], pa.int64()),
            }
        )
        return empty, n_traces
    uniq: dict[tuple[str, str], int] = {}
    codes = np.fromiter((uniq.setdefault(k, len(uniq)) for k in keys), np.int64, len(keys))
    total = np.bincount(codes, weights=length, minlength=len(uniq)).astype(np.int64)
    trace_of = forest.trace[node]
    pairs = np.unique(np.stack([codes, trace_of]), axis=1)
    on_path = np.bincount(pairs[0], minlength=len(uniq)).astype(np.int64)
    ks = list(uniq)
    return (
        pa.table(
            {
                "service": pa.array([k[0] for k in ks], pa.string()),
                "operation": pa.array([k[1] for k in ks], pa.string()),
                "critical_ns": pa.array(total, pa.int64()),
                "traces": pa.array(on_path, pa.int64()),
            }
        ),
        n_traces,
    )


CP_JOIN_SQL = """
WITH w AS (SELECT * FROM win), b AS (SELECT * FROM base),
tw AS (SELECT sum(critical_ns) AS t FROM w), tb AS (SELECT sum(critical_ns) AS t FROM b)
SELECT coalesce(w.service, b.service) AS service,
       coalesce(w.operation, b.operation) AS operation,
       coalesce(w.critical_ns, 0)::BIGINT AS critical_ns,
       coalesce(w.critical_ns, 0) / $nw AS per_trace_ns,
       coalesce(w.critical_ns, 0) / nullif((SELECT t FROM tw), 0) AS share,
       coalesce(w.traces, 0)::BIGINT AS on_path,
       coalesce(w.traces, 0) / $nw AS on_path_ratio,
       {baseline_cols}
FROM w {join} b ON w.service = b.service AND w.operation = b.operation
ORDER BY {order}
"""


def critical_path_summary(
    store: Store, filt: TraceFilter, baseline: TimeWindow | None = None
) -> CriticalPathSummary:
    """Which service/operation holds the critical path, over many traces.

    For every trace of the window (``filt``: window, services, operation, min duration,
    errors, attributes), the critical path is computed; each segment's time goes to the
    span that owns it (its *own* time on the path, children excluded).

    Args:
        store: the open store.
        filt: which traces.
        baseline: a baseline window (same filters) to compare with, or ``None``.

    Returns:
        A ``CriticalPathSummary`` whose table has ``service``, ``operation``,
        ``critical_ns`` (total), ``per_trace_ns`` (average per trace of the window),
        ``share`` (of all critical-path time), ``on_path`` (traces where it is on the
        path) and ``on_path_ratio``; with a baseline also ``baseline_per_trace_ns``,
        ``baseline_share``, ``change_ns`` (per trace) and ``change_share``. Sorted by
        per-trace time (by its change with a baseline).
    """
    import duckdb

    win, nw = _critical_by_op(store, filt, filt.window)
    con = duckdb.connect()
    con.register("win", win)
    params: dict[str, Any] = {"nw": max(nw, 1)}
    if baseline is not None:
        base, nb = _critical_by_op(store, filt, baseline)
        params["nb"] = max(nb, 1)
        cols = """coalesce(b.critical_ns, 0) / $nb AS baseline_per_trace_ns,
       coalesce(b.critical_ns, 0) / nullif((SELECT t FROM tb), 0) AS baseline_share,
       coalesce(w.critical_ns, 0) / $nw - coalesce(b.critical_ns, 0) / $nb AS change_ns,
       coalesce(coalesce(w.critical_ns, 0) / nullif((SELECT t FROM tw), 0), 0)
         - coalesce(coalesce(b.critical_ns, 0) / nullif((SELECT t FROM tb), 0), 0)
         AS change_share"""
        join, order = "FULL OUTER JOIN", "change_ns DESC, per_trace_ns DESC, service, operation"
    else:
        base, nb = win.schema.empty_table(), None
        cols = "NULL::DOUBLE AS _unused"
        join, order = "LEFT JOIN", "per_trace_ns DESC, service, operation"
    con.register("base", base)
    rel = con.sql(
        CP_JOIN_SQL.format(baseline_cols=cols, join=join, order=order), params=params
    ).to_arrow_table()
    if "_unused" in rel.column_names:
        rel = rel.drop_columns(["_unused"])
    con.close()
    return CriticalPathSummary(rel, nw, nb)


# --------------------------------------------------------------------------- errors


def error_origins(store: Store, filt: TraceFilter | None = None, examples: int = 3) -> pa.Table:
    """Where failures start: the deepest failed spans of failed traces, grouped.

    A failed span is an *origin* when nothing below it in its trace failed: the caller
    that reported a downstream timeout is not an origin, the span that timed out is (or,
    if the callee recorded no error, the client span that saw it).

    Args:
        store: the open store.
        filt: which traces (``errors`` is implied).
        examples: example trace ids per row.

    Returns:
        ``service``, ``operation``, ``kind``, ``origins`` (failed spans), ``traces``
        (failed traces they occur in), ``share`` (of the failed traces), ``message``
        (the most common status message), ``examples`` (trace ids); most traces first.
    """
    import dataclasses

    import numpy as np
    import pyarrow as pa

    filt = dataclasses.replace(filt or TraceFilter(), errors=True, limit=None)
    table, forest = _load_forest(store, filt)
    n = forest.n_rows
    failed = np.zeros(forest.size, dtype=bool)
    if n:
        failed[:n] = np.asarray(
            [c == "ERROR" for c in table.column("status_code").to_pylist()], dtype=bool
        )
    below = np.zeros(forest.size, dtype=bool)  # some strict descendant failed
    parent = forest.parent.tolist()
    below_l = below.tolist()
    failed_l = failed.tolist()
    for v in reversed(forest.order.tolist()):
        p = parent[v]
        if p >= 0 and (failed_l[v] or below_l[v]):
            below_l[p] = True
    origins = [v for v in range(n) if failed_l[v] and not below_l[v]]
    n_failed = len(forest.roots) if n else 0
    svc = table.column("service_name").to_pylist()
    names = table.column("name").to_pylist()
    kinds = table.column("kind").to_pylist()
    msgs = table.column("status_message").to_pylist()
    tids = table.column("trace_id").to_pylist()
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for v in origins:
        g = groups.setdefault(
            (svc[v], names[v] or "", kinds[v] or ""),
            {"n": 0, "traces": {}, "msgs": {}},
        )
        g["n"] += 1
        g["traces"].setdefault(tids[v], None)
        if msgs[v]:
            g["msgs"][msgs[v]] = g["msgs"].get(msgs[v], 0) + 1
    rows = sorted(groups.items(), key=lambda kv: (-len(kv[1]["traces"]), -kv[1]["n"], kv[0]))
    return pa.table(
        {
            "service": pa.array([k[0] for k, _ in rows], pa.string()),
            "operation": pa.array([k[1] for k, _ in rows], pa.string()),
            "kind": pa.array([k[2] for k, _ in rows], pa.string()),
            "origins": pa.array([g["n"] for _, g in rows], pa.int64()),
            "traces": pa.array([len(g["traces"]) for _, g in rows], pa.int64()),
            "share": pa.array(
                [len(g["traces"]) / n_failed if n_failed else None for _, g in rows],
                pa.float64(),
            ),
            "message": pa.array(
                [max(g["msgs"], key=g["msgs"].get) if g["msgs"] else None for _, g in rows],
                pa.string(),
            ),
            "examples": pa.array(
                [list(g["traces"])[:examples] for _, g in rows], pa.list_(pa.string())
            ),
        }
    )


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class Comparison:
    """``compare``'s result."""

    table: pa.Table
    """One row per key and value (see ``compare``)."""
    outlier_traces: int
    """Traces in the outlier group."""
    baseline_traces: int
    """Traces in the baseline group."""
    outlier_spans: int
    """Spans in the outlier group."""
    baseline_spans: int
    """Spans in the baseline group."""
    threshold_ns: int | None = None
    """For ``slow``: the duration from which a trace is an outlier."""
    skipped_keys: tuple[str, ...] = ()
    """Keys left out for having too many distinct values."""


COMPARE_SQL = """
WITH tr AS ({traces}),
grp AS (
    SELECT trace_id, {group_expr} AS g FROM tr
),
sp AS (
    SELECT g.g, coalesce(s.service_name, '') || chr(31) || coalesce(s.name, '') AS stratum,
           s.attributes, s.resource_attributes, s.status_code
    FROM spans s JOIN grp g ON g.trace_id = s.trace_id
    WHERE g.g IS NOT NULL {span_scope}
),
sn AS (
    SELECT stratum, count(*) FILTER (g = 1) AS no, count(*) FILTER (g = 0) AS nb
    FROM sp GROUP BY stratum
),
common AS (
    SELECT stratum, no, nb, no / sum(no) OVER () AS w FROM sn WHERE no > 0 AND nb > 0
),
csp AS (SELECT sp.* FROM sp JOIN common USING (stratum)),
kv AS (
    SELECT g, stratum, 'span' AS scope, e.key, e.value
    FROM (SELECT g, stratum, unnest(map_entries({span_map})) AS e FROM csp)
    UNION ALL
    SELECT g, stratum, 'resource', e.key, e.value
    FROM (SELECT g, stratum, unnest(map_entries({res_map})) AS e FROM csp)
    UNION ALL
    SELECT g, stratum, 'span', 'status', status_code FROM csp
),
counts AS (
    SELECT stratum, scope, key, coalesce(value, 'null') AS value,
           count(*) FILTER (g = 1) AS co, count(*) FILTER (g = 0) AS cb
    FROM kv GROUP BY ALL
),
keys AS (
    SELECT scope, key, count(DISTINCT value) AS distinct_values, sum(co + cb) AS carried
    FROM counts GROUP BY scope, key
),
kept AS (
    SELECT * FROM keys
    WHERE distinct_values <= $max_values
       OR (distinct_values <= $hard_cap AND distinct_values <= $max_ratio * carried)
),
present AS (
    SELECT c.stratum, c.scope, c.key, sum(c.co) AS po, sum(c.cb) AS pb
    FROM counts c JOIN kept k ON k.scope = c.scope AND k.key = c.key
    GROUP BY ALL
),
vals AS (
    SELECT c.stratum, c.scope, c.key, c.value, c.co, c.cb
    FROM counts c JOIN kept k ON k.scope = c.scope AND k.key = c.key
    UNION ALL
    SELECT cm.stratum, k.scope, k.key, '{missing}', cm.no - coalesce(p.po, 0),
           cm.nb - coalesce(p.pb, 0)
    FROM kept k CROSS JOIN common cm
    LEFT JOIN present p ON p.stratum = cm.stratum AND p.scope = k.scope AND p.key = k.key
    WHERE cm.no - coalesce(p.po, 0) > 0 OR cm.nb - coalesce(p.pb, 0) > 0
),
props AS (
    SELECT v.scope, v.key, v.value,
           sum(v.co)::BIGINT AS outlier_spans, sum(v.cb)::BIGINT AS baseline_spans,
           sum(v.co) / (SELECT sum(no) FROM common) AS outliers,
           sum(cm.w * v.cb / cm.nb) AS baseline
    FROM vals v JOIN common cm ON cm.stratum = v.stratum
    GROUP BY ALL
)
SELECT scope, key, value, outliers, baseline, outliers - baseline AS diff,
       outlier_spans, baseline_spans,
       round(0.5 * sum(abs(outliers - baseline)) OVER (PARTITION BY scope, key), 9) AS score
FROM props
ORDER BY score DESC, scope, key, round(abs(diff), 9) DESC, value
"""
"""BubbleUp, standardised: per key, the share of each value among the outlier spans and
among the baseline spans *reweighted to the outliers' mix of service + operation*
(strata present in only one group are left out), ranked by total variation distance.
Scores are rounded to 1e-9: parallel sums differ in the last bits from run to run, and
keys that tie (``k8s.pod.name`` and ``service.instance.id`` of the same pods) must keep
one order."""

SKIPPED_SQL = """
WITH tr AS ({traces}),
grp AS (SELECT trace_id, {group_expr} AS g FROM tr),
sp AS (SELECT s.attributes, s.resource_attributes FROM spans s
       JOIN grp g ON g.trace_id = s.trace_id WHERE g.g IS NOT NULL {span_scope}),
kv AS (SELECT 'span' AS scope, unnest(json_keys(attributes)) AS key FROM sp
       UNION ALL SELECT 'resource', unnest(json_keys(resource_attributes)) FROM sp)
SELECT DISTINCT scope || ':' || key FROM kv ORDER BY 1
"""


def compare(
    store: Store,
    filt: TraceFilter,
    *,
    mode: str,
    baseline: TimeWindow | None = None,
    threshold_ns: int | None = None,
    quantile: float = 0.95,
) -> Comparison:
    """BubbleUp: which attribute values set the outlier traces apart.

    Args:
        store: the open store.
        filt: traces considered (window, services, operation, attrs…); for ``window``
            mode, ``filt.window`` is the outlier window.
        mode: ``window`` (traces of ``filt.window`` vs traces of ``baseline``), ``slow``
            (traces of the window at least ``threshold_ns`` long — default the
            ``quantile`` of their durations — vs the rest) or ``errors`` (traces with a
            failed span vs the rest).
        baseline: the baseline window (``window`` mode).
        threshold_ns: the slow threshold (``slow`` mode).
        quantile: the default slow threshold's quantile.

    Returns:
        A ``Comparison`` whose table has ``scope`` (``span``/``resource``), ``key``,
        ``value``, ``outliers`` and ``baseline`` (share of each group's spans with that
        value; ``(missing)`` = without the key), ``diff``, ``outlier_spans``,
        ``baseline_spans`` and the key's ``score`` (total variation distance between the
        groups, 0–1), the most divergent key first.

    Raises:
        UsageError: unknown mode, or ``window`` mode without a baseline.
    """
    import dataclasses

    params: dict[str, Any] = {}
    base_f = dataclasses.replace(filt, min_duration_ns=None, errors=False, limit=None)
    if mode == "window":
        if baseline is None:
            raise UsageError("compare needs a baseline window (--baseline)")
        wide = _hull(filt.window, baseline)
        traces = _traces_sql(base_f, params, wide)
        win = _window_clauses(filt.window, "start", params, "_o")
        bas = _window_clauses(baseline, "start", params, "_b")
        group_expr = (
            f"CASE WHEN {' AND '.join(win) or 'true'} THEN 1"
            f" WHEN {' AND '.join(bas) or 'true'} THEN 0 END"
        )
    elif mode == "slow":
        traces = _traces_sql(base_f, params)
        if threshold_ns is None:
            q = store.scalar(
                f"SELECT quantile_disc(duration_ns, {float(quantile)}) FROM ({traces}) t",
                params,
            )
            threshold_ns = int(q) if q is not None else 0
        params["thr"] = threshold_ns
        group_expr = "CASE WHEN duration_ns >= $thr THEN 1 ELSE 0 END"
    elif mode == "errors":
        traces = _traces_sql(base_f, params)
        group_expr = "CASE WHEN errors > 0 THEN 1 ELSE 0 END"
    else:
        raise UsageError(f"unknown compare mode {mode!r}")
    span_scope = ""
    if filt.services:
        params["services"] = list(filt.services)
        span_scope = " AND list_contains($services, s.service_name)"
    fmt = {
        "traces": traces,
        "group_expr": group_expr,
        "span_scope": span_scope,
    }
    counts = store.rows(
        "WITH tr AS ({traces}), grp AS (SELECT trace_id, {group_expr} AS g FROM tr) "
        "SELECT g.g, count(DISTINCT g.trace_id), count(*) FROM spans s "
        "JOIN grp g ON g.trace_id = s.trace_id WHERE g.g IS NOT NULL {span_scope} "
        "GROUP BY g.g".format(**fmt),
        params,
    )
    by_g = {int(g): (int(t), int(n)) for g, t, n in counts}
    sql = COMPARE_SQL.format(
        **fmt,
        span_map=_ATTR_MAP.format(col="attributes"),
        res_map=_ATTR_MAP.format(col="resource_attributes"),
        missing=MISSING,
    )
    qp = dict(params)
    qp.update(
        {
            "max_values": COMPARE_MAX_VALUES,
            "max_ratio": COMPARE_MAX_RATIO,
            "hard_cap": COMPARE_HARD_CAP,
        }
    )
    table = store.query(sql, qp) if 0 in by_g and 1 in by_g else _empty_compare()
    skipped: tuple[str, ...] = ()
    if table.num_rows or (0 in by_g and 1 in by_g):
        all_keys = {r[0] for r in store.rows(SKIPPED_SQL.format(**fmt), params)}
        shown = {
            f"{s}:{k}"
            for s, k in zip(
                table.column("scope").to_pylist(), table.column("key").to_pylist(), strict=True
            )
        }
        skipped = tuple(sorted(all_keys - shown))
    return Comparison(
        table,
        outlier_traces=by_g.get(1, (0, 0))[0],
        baseline_traces=by_g.get(0, (0, 0))[0],
        outlier_spans=by_g.get(1, (0, 0))[1],
        baseline_spans=by_g.get(0, (0, 0))[1],
        threshold_ns=threshold_ns if mode == "slow" else None,
        skipped_keys=skipped,
    )


def _hull(a: TimeWindow, b: TimeWindow) -> TimeWindow:
    starts = [a.start_ns, b.start_ns]
    ends = [a.end_ns, b.end_ns]
    return TimeWindow(
        None if None in starts else min(s for s in starts if s is not None),
        None if None in ends else max(e for e in ends if e is not None),
    )


def _empty_compare() -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "scope": pa.array([], pa.string()),
            "key": pa.array([], pa.string()),
            "value": pa.array([], pa.string()),
            "outliers": pa.array([], pa.float64()),
            "baseline": pa.array([], pa.float64()),
            "diff": pa.array([], pa.float64()),
            "outlier_spans": pa.array([], pa.int64()),
            "baseline_spans": pa.array([], pa.int64()),
            "score": pa.array([], pa.float64()),
        }
    )
