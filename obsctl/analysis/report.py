"""``report``: an ``Investigation`` plus what a post-mortem document needs to draw it.

The report is built *on* the investigation, never beside it: the window, the baseline,
the steps, the suspects and the timeline are the ``Investigation`` object itself, and
this module only adds what the charts need, from the same store:

* **series** — per time bucket over the baseline's start → the window's end (plus a
  margin, inside the data): ERROR-and-above log records and failed spans per minute, and
  root-span latency p50/p95/p99. Aggregated in DuckDB (one query per signal) and laid
  into dense NumPy arrays, so empty buckets read 0 (counts) or null (latency). The bucket
  is a round width giving 60–200 buckets (``NICE_BUCKETS_NS`` of ``analysis.logs``).
* **waterfall** — the exemplar slow trace the traces step names, loaded with
  ``analysis.traces.load_trace`` (the same tree ``obsctl traces show`` draws). A big
  trace is cut to ``MAX_WATERFALL_ROWS`` rows: the critical path, failed spans and then the
  longest spans are kept, each with its ancestors, so what is shown is still a tree; the
  rest is counted, per kept parent and in total.
* **profile** — the differential call tree (``analysis.profiles.diff_tree``) of the
  first suspect the profiles step named a function for, baseline vs window.
* **commands** — the obsctl commands that reproduce the investigation and show each
  piece of evidence, in rank order, without duplicates.

Each part that the data cannot supply is ``None`` with a sentence saying why ("no
profiles cover postgres"), so a document never draws an empty or invented chart.
Nothing here formats for a medium (see ``render.report_md`` and ``render.report_html``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from obsctl.errors import InputNotFound, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.analysis.investigate import Investigation, Step
    from obsctl.analysis.profiles import DiffTree
    from obsctl.store import Store

SERIES_BUCKETS = (60, 200)
"""How many buckets the time series aim for (inclusive)."""

SERIES_TARGET = 100
"""The bucket count preferred inside ``SERIES_BUCKETS``."""

MARGIN = 0.04
"""Share of the charted range added on each side (kept inside the data)."""

MAX_WATERFALL_ROWS = 60
"""Rows of the exemplar trace's waterfall; the rest is counted, not drawn."""

ERROR_SEVERITY = 17
"""OpenTelemetry severity number of ERROR: the log records counted as errors."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Series:
    """Per-bucket error rates and root-span latency over the charted range."""

    start_ns: int
    """Start of the first bucket (aligned to ``bucket_ns``)."""
    end_ns: int
    """End of the last bucket."""
    bucket_ns: int
    """Bucket width."""
    table: pa.Table
    """One row per bucket, empty ones included: ``time`` (bucket start, int64 ns),
    ``log_errors_per_min``, ``failed_spans_per_min`` (float64), ``root_spans`` (int64),
    ``p50_ns``, ``p95_ns``, ``p99_ns`` (float64, null where no root span started)."""
    log_errors: int
    """ERROR+ log records in the range (0 may mean no logs at all: see ``has_logs``)."""
    failed_spans: int
    """Failed spans in the range."""
    has_logs: bool
    """Whether any log record falls in the range."""
    has_spans: bool
    """Whether any span falls in the range."""


@dataclass(frozen=True)
class SpanBar:
    """One row of the exemplar trace's waterfall."""

    depth: int
    """Depth in the drawn tree (the root is 0)."""
    service: str | None
    """Service of the span (``None`` for a synthetic root)."""
    name: str
    """Span name (operation)."""
    kind: str | None
    """SERVER, CLIENT…"""
    start_offset_ns: int
    """Drawn start, from the start of the trace."""
    duration_ns: int
    """Drawn duration."""
    self_ns: int
    """Time not covered by the span's children."""
    error: bool
    """The span failed (status ERROR)."""
    critical: bool
    """Some of the span's time is on the critical path."""
    status_message: str | None
    """The failure's message, if any."""
    hidden_below: int
    """Spans under this row that were cut (see ``MAX_WATERFALL_ROWS``)."""


@dataclass(frozen=True)
class Waterfall:
    """The exemplar slow trace, ready to draw."""

    trace_id: str
    start_ns: int
    """Start of the drawing (ns since the epoch)."""
    duration_ns: int
    """Extent of the drawing."""
    spans: int
    """Spans in the trace."""
    errors: int
    """Failed spans in the trace."""
    services: tuple[str, ...]
    """Services in the trace, in order of first appearance in display order."""
    rows: tuple[SpanBar, ...]
    """Rows in display order (depth first, children by start)."""
    critical_segments: tuple[tuple[int, int, int], ...]
    """Critical-path segments as ``(row, start_offset_ns, end_offset_ns)``; a segment of a
    cut span is given to its nearest drawn ancestor."""
    hidden: int
    """Spans not drawn."""
    warnings: tuple[str, ...]
    """What the tree builder repaired (orphans, clock skew…)."""


@dataclass(frozen=True)
class ProfileDiff:
    """The differential flame graph of one suspect's function."""

    service: str
    function: str
    """The function whose share grew most (as the profiles step named it)."""
    tree: DiffTree
    """Baseline vs window call trees, merged."""


@dataclass(frozen=True)
class Report:
    """Everything a post-mortem document shows, unformatted."""

    investigation: Investigation
    """The analysis, as ``investigate`` returned it."""
    service: str | None
    """The service the investigation was limited to, if any."""
    series: Series | None
    series_note: str | None
    """Why there is no series (or what it lacks), e.g. ``no traces: no latency``."""
    waterfall: Waterfall | None
    waterfall_note: str | None
    profile: ProfileDiff | None
    profile_note: str | None
    commands: tuple[str, ...]
    """Commands to reproduce the investigation and follow each piece of evidence."""
    data_start_ns: int | None
    """First instant of the loaded data."""
    data_end_ns: int | None
    """Last instant of the loaded data."""

    @property
    def found(self) -> bool:
        """Whether the investigation found anything that left its baseline."""
        return self.investigation.found

    def step(self, name: str) -> Step | None:
        """The investigation's step called ``name`` (``logs``, ``metrics``…)."""
        return next((s for s in self.investigation.steps if s.name == name), None)


# --------------------------------------------------------------------------- series

_LOG_SERIES = """
SELECT (epoch_ns(timestamp) - $t0) // $w AS b,
       count(*) AS records,
       count(*) FILTER (WHERE severity_number >= $sev) AS errors
FROM logs
WHERE timestamp >= make_timestamp_ns($t0) AND timestamp < make_timestamp_ns($t1)
  AND ($service IS NULL OR service_name = $service)
GROUP BY b
"""
"""Log records and ERROR+ records per bucket."""

_SPAN_SERIES = """
WITH s AS (
    SELECT start_time, status_code,
           coalesce(duration_ns, epoch_ns(end_time) - epoch_ns(start_time)) AS d,
           parent_span_id IS NULL OR parent_span_id = '' AS root
    FROM spans
    WHERE start_time >= make_timestamp_ns($t0) AND start_time < make_timestamp_ns($t1)
      AND ($service IS NULL OR service_name = $service)
)
SELECT (epoch_ns(start_time) - $t0) // $w AS b,
       count(*) AS spans,
       count(*) FILTER (WHERE status_code = 'ERROR') AS failed,
       count(d) FILTER (WHERE root) AS roots,
       quantile_cont(d, 0.5) FILTER (WHERE root) AS p50,
       quantile_cont(d, 0.95) FILTER (WHERE root) AS p95,
       quantile_cont(d, 0.99) FILTER (WHERE root) AS p99
FROM s
GROUP BY b
"""
"""Spans, failed spans and root-span latency quantiles per bucket (the same root rule as
``investigate``'s onset detector: no parent id)."""


def chart_bucket(start_ns: int, end_ns: int) -> int:
    """The round bucket width giving ``SERIES_BUCKETS`` buckets over the range, closest
    to ``SERIES_TARGET`` (the coarser on a tie); the finest under the maximum if none."""
    from obsctl.analysis.logs import NICE_BUCKETS_NS, bucket_count

    lo, hi = SERIES_BUCKETS
    in_band = [w for w in NICE_BUCKETS_NS if lo <= bucket_count(start_ns, end_ns, w) <= hi]
    if in_band:
        return min(
            in_band, key=lambda w: (abs(bucket_count(start_ns, end_ns, w) - SERIES_TARGET), -w)
        )
    for w in NICE_BUCKETS_NS:
        if bucket_count(start_ns, end_ns, w) <= hi:
            return w
    return NICE_BUCKETS_NS[-1]


def chart_range(inv: Investigation, extent: tuple[int, int]) -> tuple[int, int]:
    """Baseline start → window end, widened by ``MARGIN`` on each side inside the data."""
    lo, hi = extent
    starts = [t for t in (inv.baseline.start_ns, inv.window.start_ns) if t is not None]
    start = min(starts) if starts else lo
    end = inv.window.end_ns if inv.window.end_ns is not None else hi + 1
    margin = int((end - start) * MARGIN)
    start, end = max(lo, start - margin), min(hi + 1, end + margin)
    return start, max(end, start + 1)


def series(store: Store, start_ns: int, end_ns: int, *, service: str | None = None) -> Series:
    """Error rates and root-span latency per bucket over ``[start_ns, end_ns)``.

    Args:
        store: the open store.
        start_ns: start of the range (ns since the epoch).
        end_ns: end of the range (exclusive).
        service: only this service's records.

    Returns:
        The ``Series``; buckets are aligned to the epoch, so the first starts at or
        before ``start_ns``.
    """
    import numpy as np
    import pyarrow as pa

    from obsctl.analysis.logs import bucket_count

    w = chart_bucket(start_ns, end_ns)
    t0 = start_ns // w * w
    n = bucket_count(start_ns, end_ns, w)
    t1 = t0 + n * w
    params = {"t0": t0, "t1": t1, "w": w, "service": service}
    per_min = 60e9 / w

    def dense(t: pa.Table, col: str, fill: float) -> np.ndarray:
        out = np.full(n, fill, dtype=np.float64)
        if t.num_rows:
            b = t.column("b").to_numpy()
            v = t.column(col).to_numpy(zero_copy_only=False).astype(np.float64)
            ok = (b >= 0) & (b < n)
            out[b[ok]] = v[ok]
        return out

    logs = store.query(_LOG_SERIES, params | {"sev": ERROR_SEVERITY})
    spans = store.query(_SPAN_SERIES, params)
    log_errors = dense(logs, "errors", 0.0)
    failed = dense(spans, "failed", 0.0)
    roots = dense(spans, "roots", 0.0)
    quantiles = {q: dense(spans, q, np.nan) for q in ("p50", "p95", "p99")}
    table = pa.table(
        {
            "time": pa.array(t0 + np.arange(n, dtype=np.int64) * w, pa.int64()),
            "log_errors_per_min": pa.array(log_errors * per_min),
            "failed_spans_per_min": pa.array(failed * per_min),
            "root_spans": pa.array(roots.astype(np.int64)),
            **{
                f"{q}_ns": pa.array(v, pa.float64(), mask=np.isnan(v)) for q, v in quantiles.items()
            },
        }
    )
    return Series(
        start_ns=t0,
        end_ns=t1,
        bucket_ns=w,
        table=table,
        log_errors=int(log_errors.sum()),
        failed_spans=int(failed.sum()),
        has_logs=bool(logs.num_rows),
        has_spans=bool(spans.num_rows),
    )


def _series_note(s: Series) -> str | None:
    """What the charts cannot show, in words."""
    parts = []
    if not s.has_logs:
        parts.append("no log records in this range: the error rate counts failed spans only")
    if not s.has_spans:
        parts.append("no spans in this range: no failed spans and no latency to chart")
    elif not any(v for v in s.table.column("root_spans").to_pylist()):
        parts.append("no root spans in this range: no latency to chart")
    return "; ".join(parts) or None


# --------------------------------------------------------------------------- waterfall


def waterfall(store: Store, trace_id: str, max_rows: int = MAX_WATERFALL_ROWS) -> Waterfall:
    """The trace as waterfall rows, at most ``max_rows`` of them.

    When the trace has more spans, the rows kept are chosen by priority — the root, the
    spans on the critical path, the failed spans, then the longest spans (ties: the
    larger subtree) — each with all its ancestors, so the rows still form a tree.
    Display order stays the trace's (depth first, children by start).

    Raises:
        InputNotFound: no such trace.
    """
    import numpy as np

    from obsctl.analysis.trace_tree import subtree_sizes
    from obsctl.analysis.traces import load_trace

    tree = load_trace(store, trace_id)
    f = tree.forest
    n, size = f.n_rows, f.size
    sp = tree.spans
    services = sp.column("service_name").to_pylist()
    names = sp.column("name").to_pylist()
    kinds = sp.column("kind").to_pylist()
    status = sp.column("status_code").to_pylist()
    messages = sp.column("status_message").to_pylist()
    error = np.zeros(size, dtype=bool)
    error[:n] = np.asarray([s == "ERROR" for s in status], dtype=bool)
    duration = f.layout_end - f.layout_start
    parent = f.parent.tolist()
    order = f.order.tolist()

    if size <= max_rows:
        keep = np.ones(size, dtype=bool)
    else:
        is_root = f.parent < 0
        rank = np.lexsort(
            (-subtree_sizes(f), -duration, ~error, ~f.critical.astype(bool), ~is_root)
        )
        keep = np.zeros(size, dtype=bool)
        kept = 0
        for v in rank.tolist():
            if kept >= max_rows:
                break
            chain = []
            u = v
            while u >= 0 and not keep[u]:
                chain.append(u)
                u = parent[u]
            if kept + len(chain) > max_rows:
                continue
            keep[chain] = True
            kept += len(chain)

    # nearest drawn ancestor of every node (preorder: parents come first)
    shown_as = np.arange(size)
    hidden_below = np.zeros(size, dtype=np.int64)
    for v in order:
        if not keep[v]:
            owner = shown_as[parent[v]] if parent[v] >= 0 else v
            shown_as[v] = owner
            if v < n:
                hidden_below[owner] += 1

    t0 = tree.start_ns
    ls, le, selft = f.layout_start.tolist(), f.layout_end.tolist(), f.self_time.tolist()
    depth, crit = f.depth.tolist(), f.critical.tolist()
    row_of: dict[int, int] = {}
    rows: list[SpanBar] = []
    seen: dict[str, None] = {}
    for v in order:
        real = v < n
        if real and services[v]:
            seen.setdefault(services[v], None)
        if not keep[v]:
            continue
        row_of[v] = len(rows)
        rows.append(
            SpanBar(
                depth=depth[v],
                service=services[v] if real else None,
                name=(names[v] or "") if real else "(trace)",
                kind=kinds[v] if real else None,
                start_offset_ns=ls[v] - t0,
                duration_ns=le[v] - ls[v],
                self_ns=int(selft[v]),
                error=bool(error[v]),
                critical=bool(crit[v]),
                status_message=messages[v] if real else None,
                hidden_below=int(hidden_below[v]),
            )
        )
    segments = tuple(
        (row_of[int(shown_as[v])], a - t0, b - t0)
        for v, a, b in zip(
            f.seg_node.tolist(), f.seg_start.tolist(), f.seg_end.tolist(), strict=True
        )
        if int(shown_as[v]) in row_of
    )
    return Waterfall(
        trace_id=tree.trace_id,
        start_ns=t0,
        duration_ns=tree.duration_ns,
        spans=n,
        errors=int(error.sum()),
        services=tuple(seen),
        rows=tuple(rows),
        critical_segments=segments,
        hidden=n - int(keep[:n].sum()),
        warnings=tree.warnings,
    )


def _exemplar_id(inv: Investigation) -> str | None:
    """The exemplar slow trace the traces step names (else its failed exemplar)."""
    for step in inv.steps:
        if step.name == "traces":
            for key in ("exemplar_slow_trace", "exemplar_failed_trace"):
                ex = step.findings.get(key)
                if ex and ex.get("trace_id"):
                    return str(ex["trace_id"])
    return None


def _waterfall_or_note(store: Store, inv: Investigation) -> tuple[Waterfall | None, str | None]:
    if not store.scalar("SELECT count(*) FROM spans"):
        return None, "no traces loaded: no exemplar trace to draw"
    tid = _exemplar_id(inv)
    if tid is None:
        return None, "no trace in the window: no exemplar trace to draw"
    try:
        return waterfall(store, tid), None
    except (InputNotFound, UsageError) as exc:
        return None, f"the exemplar trace could not be loaded: {exc}"


# --------------------------------------------------------------------------- profile


def _profile_or_note(store: Store, inv: Investigation) -> tuple[ProfileDiff | None, str | None]:
    """The diff tree of the first suspect with a function, or why there is none."""
    from obsctl.analysis.profiles import ProfileFilter, diff_tree

    if not inv.suspects:
        return None, "no suspect to explain"
    for s in inv.suspects:
        if s.function:
            try:
                tree = diff_tree(
                    store, ProfileFilter(services=(s.service,)), inv.baseline, inv.window
                )
            except InputNotFound as exc:
                return None, f"{s.service}: {exc}"
            return ProfileDiff(s.service, s.function, tree), None
    if not store.scalar("SELECT count(*) FROM profiles"):
        return None, "no profiles loaded"
    top = inv.suspects[0].service
    if not store.scalar("SELECT count(*) FROM profiles WHERE service_name = $s", {"s": top}):
        return None, f"no profiles cover {top}"
    return None, f"the profiles of {top} show no function whose share grew"


# --------------------------------------------------------------------------- commands


def _when(ns: int | None) -> str:
    import datetime as dt

    assert ns is not None
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _commands(
    inv: Investigation, service: str | None, waterfall: Waterfall | None, data_end: int | None
) -> list[str]:
    """The investigation's own command first, then every step's and every piece of
    evidence's command in rank order, each once. The window is given in whole seconds;
    a window reaching the end of the data is left open there (``--until`` omitted)."""
    out: dict[str, None] = {}
    w, b = inv.window, inv.baseline
    if inv.window_source != "none" and w.start_ns is not None and w.end_ns is not None:
        cmd = ["obsctl", "investigate", "--since", _when(w.start_ns)]
        if data_end is None or w.end_ns <= data_end:
            cmd += ["--until", _when(w.end_ns)]
        if b.start_ns is not None and b.end_ns is not None and b.end_ns > b.start_ns:
            cmd += ["--baseline", f"{_when(b.start_ns)}..{_when(b.end_ns)}"]
    else:
        cmd = ["obsctl", "investigate"]
    if service:
        cmd += ["--service", service]
    out[shlex.join(cmd)] = None
    for step in inv.steps:
        c = step.findings.get("command") if step.findings else None
        if isinstance(c, str) and c:
            out[c] = None
    if waterfall is not None:
        out[shlex.join(["obsctl", "traces", "show", waterfall.trace_id])] = None
    for s in inv.suspects:
        for e in s.evidence:
            if e.command:
                out[e.command] = None
    return list(out)


# --------------------------------------------------------------------------- build


def build(store: Store, inv: Investigation, *, service: str | None = None) -> Report:
    """The report of an investigation: the investigation itself plus chart data.

    Args:
        store: the store the investigation ran on (open).
        inv: what ``analysis.investigate.investigate`` returned.
        service: the service the investigation was limited to, if any (the charts are
            limited the same way).

    Returns:
        The ``Report``.
    """
    from obsctl.analysis.investigate import data_extent

    extent = data_extent(store)
    if extent is None:
        ser, ser_note = None, "no logs, spans or metrics loaded: nothing to chart"
    else:
        start, end = chart_range(inv, extent)
        ser = series(store, start, end, service=service)
        ser_note = _series_note(ser)
        if not ser.has_logs and not ser.has_spans:
            ser = None
    wf, wf_note = _waterfall_or_note(store, inv)
    prof, prof_note = _profile_or_note(store, inv)
    return Report(
        investigation=inv,
        service=service,
        series=ser,
        series_note=ser_note,
        waterfall=wf,
        waterfall_note=wf_note,
        profile=prof,
        profile_note=prof_note,
        commands=tuple(_commands(inv, service, wf, extent[1] if extent else None)),
        data_start_ns=extent[0] if extent else None,
        data_end_ns=extent[1] if extent else None,
    )
