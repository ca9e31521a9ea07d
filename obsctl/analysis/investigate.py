"""``investigate``: the four steps chained, each narrowing the next, ending in suspects.

1. **logs** — *what happened*. Without a window, the incident's onset is found where the
   error rate, the warning rate, the failed-span rate or root-span latency leave their
   baseline (the batch detector of ``metric_anomalies`` over per-bucket counts), or where
   new warning/error log patterns first appear, whichever is earliest. The window runs
   from the onset to the end of the data and the baseline is everything before. The
   step reports the error rate before and after, the first error (file:line) and the
   new and grown patterns.
2. **metrics** — *how much*: ``metric_anomalies.scan`` over the window, one row per
   story, with when each series started moving (what moved first matters).
3. **traces** — *where*: in the window's traces, where failures originate (the deepest
   failing span, ``traces.error_origins``), which service/operation gained critical-path
   time against the baseline (``traces.critical_path_summary`` counts only time on the
   critical path that no child covers, so a slow callee is not blamed on its caller),
   which attributes set the window's traces apart (``traces.compare``) and an exemplar
   slow trace.
4. **profiles** — *why*: for the services implicated so far, the functions whose share
   of the profile grew (``profiles.diff``), or a plain statement that no profile covers
   them.

**Suspects.** Every piece of evidence scores a service (or a dependency edge
``caller → callee``, when the time or the failure sits in a client span). Each kind of
evidence is normalised by its strongest instance, weighted, and summed; suspects are
ranked by the sum, and the confidence says how far the first stands ahead and how many
steps agree. Nothing here knows any service, operation or function name: only the shape
of the evidence counts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsctl.errors import InputNotFound
from obsctl.timewindow import TimeWindow

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from obsctl.store import Store

BUCKETS = 120
"""Time buckets over the data's span when looking for the onset."""

ONSET_SCORE = 3.0
"""Anomaly score from which a rate series counts as having changed."""

MIN_NEW_PATTERN = 3
"""Records a new warning/error pattern needs to mark the onset (one line is noise)."""

WEIGHTS = {
    "critical_path": 1.0,
    "error_origin": 1.0,
    "metric": 0.8,
    "log": 0.6,
    "profile": 0.6,
    "attribute": 0.3,
}
"""How much each kind of evidence weighs in a suspect's score (strengths are 0–1)."""

SCALES = {"metric": 30.0, "log": 16.0, "profile": 20.0}
"""Raw strength that counts as decisive (1.0): an anomaly score of 30 (certain, ×8 and
lasting), a new warning pattern of ~250 records, a function gaining 20 points of a
profile. Critical-path gains are fractions of the window's critical path, error
origins fractions of the failed traces, attribute scores total variation distances:
already 0–1."""

PROPAGATED = 0.5
"""Weight left to log and metric evidence of a service that only calls where traces
place the time or the failures: its errors and latency are symptoms passed up."""

MIN_SHARE_CHANGE = 1.0
"""Points a function's share of a profile must grow to be named."""

TOP = 5
"""Findings kept per list in a step."""

_ORIGIN_FIELDS = ("service", "operation", "kind", "traces", "share", "message", "examples")


@dataclass(frozen=True)
class Evidence:
    """One fact behind a suspect, with the id and command to follow it up."""

    step: str
    """``logs``, ``metrics``, ``traces`` or ``profiles``."""
    kind: str
    """``log``, ``metric``, ``critical_path``, ``error_origin``, ``attribute``, ``profile``."""
    text: str
    """One sentence."""
    strength: float
    """Raw size of the evidence (normalised per kind when scoring)."""
    ref: str | None = None
    """What to look at: a file:line, a trace id, a metric name, a function."""
    command: str | None = None
    """The obsctl command that shows it."""
    operation: str | None = None
    """The span name it concerns (trace evidence)."""


@dataclass
class Suspect:
    """A service — or a dependency edge ``caller → service`` — the evidence points at."""

    service: str
    """The component at fault (for an edge: the callee, maybe an uninstrumented one)."""
    caller: str | None = None
    """For an edge suspect: the service whose client spans hold the time or the failure."""
    operation: str | None = None
    function: str | None = None
    score: float = 0.0
    confidence: str = "low"
    evidence: list[Evidence] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One of the four steps: a summary sentence and its findings (JSON-ready)."""

    name: str
    summary: str
    findings: dict[str, Any]


@dataclass(frozen=True)
class Investigation:
    """What ``investigate`` concluded."""

    window: TimeWindow
    baseline: TimeWindow
    window_source: str
    """How the window was chosen: ``given`` or the signal that marked the onset."""
    steps: list[Step]
    suspects: list[Suspect]
    timeline: list[dict[str, Any]]
    """``{time (ns), signal, text}``, oldest first."""

    @property
    def found(self) -> bool:
        """Whether anything left its baseline."""
        return bool(self.suspects)


# --------------------------------------------------------------------------- window


_LOG_RATES = """
SELECT (epoch_ns(timestamp) - $t0) // $w AS b,
       count(*) FILTER (WHERE severity_number >= 17) AS errors,
       count(*) FILTER (WHERE severity_number >= 13 AND severity_number < 17) AS warnings
FROM logs
WHERE timestamp IS NOT NULL AND epoch_ns(timestamp) >= $t0 AND epoch_ns(timestamp) < $t1
  AND ($service IS NULL OR service_name = $service)
GROUP BY b
"""

_SPAN_RATES = """
SELECT (epoch_ns(start_time) - $t0) // $w AS b,
       count(*) FILTER (WHERE status_code = 'ERROR') AS failed_spans,
       quantile_cont(duration_ns, 0.95)
           FILTER (WHERE parent_span_id IS NULL OR parent_span_id = '') AS root_p95
FROM spans
WHERE start_time IS NOT NULL AND epoch_ns(start_time) >= $t0 AND epoch_ns(start_time) < $t1
  AND ($service IS NULL OR service_name = $service)
GROUP BY b
"""

_EXTENT = """
SELECT min(lo), max(hi) FROM (
    SELECT epoch_ns(min(timestamp)) AS lo, epoch_ns(max(timestamp)) AS hi FROM logs
    UNION ALL SELECT epoch_ns(min(start_time)), epoch_ns(max(end_time)) FROM spans
    UNION ALL SELECT epoch_ns(min(timestamp)), epoch_ns(max(timestamp)) FROM metric_points
)
"""


def data_extent(store: Store) -> tuple[int, int] | None:
    """First and last instant (ns) over logs, spans and metrics, or ``None`` (a ClickHouse
    store answers for its tables: ``RemoteStore.extent_ns``)."""
    remote = getattr(store, "extent_ns", None)
    if remote is not None:
        return remote()
    lo, hi = store.rows(_EXTENT)[0]
    return None if lo is None else (int(lo), int(hi))


def _rate_matrix(store: Store, t0: int, t1: int, width: int, service: str | None) -> Any:
    """``(names, matrix[signal, bucket])`` of the per-bucket rates used to find the onset;
    a bucket without records counts 0 (for latency: NaN)."""
    import numpy as np

    n = max(1, -(-(t1 - t0) // width))
    params = {"t0": t0, "t1": t1, "w": width, "service": service}
    names: list[str] = []
    rows: list[np.ndarray] = []
    remote = getattr(store, "rate_tables", None)  # a ClickHouse store computes them there
    if remote is not None:
        log_t, span_t = remote(params)
    else:
        log_t, span_t = store.query(_LOG_RATES, params), store.query(_SPAN_RATES, params)
    sources = ((log_t, ("errors", "warnings")), (span_t, ("failed_spans", "root_p95")))
    for t, cols in sources:
        if t is None or t.num_rows == 0:
            continue
        b = t.column("b").to_numpy()
        for c in cols:
            v = t.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
            row = np.full(n, np.nan if c == "root_p95" else 0.0)
            ok = (b >= 0) & (b < n)
            row[b[ok]] = v[ok]
            if np.nansum(np.abs(row)) > 0:
                names.append(c)
                rows.append(row)
    return names, (np.vstack(rows) if rows else np.zeros((0, n)))


def find_window(
    store: Store, service: str | None = None, extent: tuple[int, int] | None = None
) -> tuple[TimeWindow, TimeWindow, str, list[dict[str, Any]]] | None:
    """The incident window when none is given: from the earliest onset to the data's end.

    Returns:
        ``(window, baseline, source, onsets)`` — ``source`` names the signal that marked
        the onset; ``onsets`` lists every signal that moved (``signal``, ``time`` ns,
        ``score``) — or ``None`` when nothing left its baseline. ``extent`` is the data's
        ``data_extent`` when the caller has it already.
    """
    from obsctl.analysis import log_patterns, metric_anomalies

    ext = extent or data_extent(store)
    if ext is None:
        return None
    lo, hi = ext
    width = max(1, -(-(hi + 1 - lo) // BUCKETS))
    names, mat = _rate_matrix(store, lo, hi + 1, width, service)
    onsets: list[dict[str, Any]] = []
    if mat.shape[0]:
        det = metric_anomalies.detect(mat, mat.shape[1] // 3)
        base = mat.shape[1] // 3
        for i, name in enumerate(names):
            if det.score[i] >= ONSET_SCORE and det.direction[i] > 0 and det.start[i] >= 0:
                at = lo + (base + int(det.start[i])) * width
                onsets.append({"signal": name, "time": at, "score": float(det.score[i])})
    # New warning/error patterns after the first third of the data.
    ref_end = lo + (hi + 1 - lo) // 3
    pats = log_patterns.patterns(
        store, start_ns=ref_end, end_ns=hi + 1, service=service, baseline=(lo, ref_end)
    )
    new = [p for p in _moved_patterns(pats) if _is_new_alarm(p)]
    for row in sorted(new, key=lambda p: p["first_seen"])[:1]:
        onsets.append(
            {
                "signal": "new_log_pattern",
                "time": int(row["first_seen"]),
                "score": float(row["count"]),
                "template": row["template"],
            }
        )
    if not onsets:
        return None
    first = min(onsets, key=lambda o: o["time"])
    start = int(first["time"])
    start -= (start - lo) % width  # the bucket holding the first sign
    if start <= lo:
        return None
    return TimeWindow(start, hi + 1), TimeWindow(lo, start), first["signal"], onsets


def incident_span(store: Store, service: str | None = None) -> tuple[int, int, int] | None:
    """What to read of a store too big to read whole: ``(baseline start, window start,
    window end)`` — the incident window ``find_window`` sees (on a ClickHouse store its
    rates come from ClickHouse) and an equally long stretch before it for the baseline;
    ``None`` when nothing moved."""
    found = find_window(store, service)
    if found is None:
        return None
    win, base = found[0], found[1]
    assert win.start_ns is not None and win.end_ns is not None
    lo = win.start_ns - (win.end_ns - win.start_ns)
    if base.start_ns is not None:
        lo = max(lo, base.start_ns)
    return lo, win.start_ns, win.end_ns


_ALARMING = {"WARN", "ERROR", "FATAL"}


def _is_new_alarm(p: dict[str, Any]) -> bool:
    """A new pattern at warning level or above with enough records to mark an onset."""
    return (
        p["status"] == "new"
        and p["count"] >= MIN_NEW_PATTERN
        and bool(_ALARMING & set(p["levels"] or ()))
    )


# --------------------------------------------------------------------------- steps


def _pylist(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, timestamps as int ns (Python datetimes would drop nanoseconds)."""
    import pyarrow as pa

    cols = []
    for f, col in zip(table.schema, table.columns, strict=True):
        cols.append(col.cast(pa.int64()) if pa.types.is_timestamp(f.type) else col)
    return pa.table(cols, names=table.column_names).to_pylist()


def _fmt_ns(ns: int | None) -> str:
    import datetime as dt

    if ns is None:
        return "—"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(w: TimeWindow) -> float:
    if w.start_ns is None or w.end_ns is None:
        return float("nan")
    return max((w.end_ns - w.start_ns) / 60e9, 1e-9)


def _logs_step(
    store: Store, window: TimeWindow, baseline: TimeWindow, service: str | None
) -> tuple[Step, list[tuple[str, Evidence]], list[dict[str, Any]]]:
    from obsctl.analysis import log_patterns
    from obsctl.analysis import logs as logs_a

    services = (service,) if service else ()
    total = store.scalar("SELECT count(*) FROM logs")
    if not total:
        return Step("logs", "no logs loaded", {}), [], []
    err_w = logs_a.count(store, logs_a.LogFilter(min_severity=17, services=services, window=window))
    err_b = logs_a.count(
        store, logs_a.LogFilter(min_severity=17, services=services, window=baseline)
    )
    rate_w, rate_b = err_w / _minutes(window), err_b / _minutes(baseline)
    pats = log_patterns.patterns(
        store,
        start_ns=window.start_ns,
        end_ns=window.end_ns,
        service=service,
        baseline=(baseline.start_ns, baseline.end_ns),  # type: ignore[arg-type]
    )
    moved = _moved_patterns(pats)
    first, first_pattern = _incident_first_error(store, window, services, moved)
    evidence: list[tuple[str, Evidence]] = []
    timeline: list[dict[str, Any]] = []
    since, base_arg = _fmt_ns(window.start_ns), _baseline_arg(baseline)
    for p in moved:
        for svc in p["services"] or ():
            strength = math.log2(1 + p["count"]) * (2.0 if p["status"] == "new" else 1.0)
            if not _ALARMING & set(p["levels"] or ()):
                strength *= 0.25
            text = (
                f"{p['status']} log pattern ({', '.join(p['levels'] or ())}, "
                f"{p['count']}×): {p['template'][:120]}"
            )
            evidence.append(
                (
                    svc,
                    Evidence(
                        "logs",
                        "log",
                        text,
                        strength,
                        ref=p["pattern_id"],
                        command=_cmd(
                            "logs", "patterns", "--since", since, *base_arg, "--service", svc
                        ),
                    ),
                )
            )
        if p["status"] == "new" and _ALARMING & set(p["levels"] or ()):
            timeline.append(
                {
                    "time": p["first_seen"],
                    "signal": "logs",
                    "text": f"new pattern: {p['template'][:100]}",
                }
            )
    if first is not None:
        timeline.append(
            {
                "time": first.time_ns,
                "signal": "logs",
                "text": f"first error ({first.service}): {first.body[:100]}",
            }
        )
    findings = {
        "error_rate_per_min": {"baseline": _finite(rate_b), "window": _finite(rate_w)},
        "errors": {"baseline": err_b, "window": err_w},
        "first_error": None
        if first is None
        else {
            "time": first.time_ns,
            "service": first.service,
            "level": first.level,
            "body": first.body,
            "location": first.location,
            "trace_id": first.trace_id,
            "pattern_id": None if first_pattern is None else first_pattern["pattern_id"],
            "pattern_status": None if first_pattern is None else first_pattern["status"],
        },
        "patterns": [
            {
                "pattern_id": p["pattern_id"],
                "status": p["status"],
                "template": p["template"],
                "count": p["count"],
                "baseline_count": p["baseline_count"],
                "growth": p["growth"],
                "first_seen": p["first_seen"],
                "levels": p["levels"],
                "services": p["services"],
                "example": p["example"],
            }
            for p in moved[:TOP]
        ],
    }
    new = sum(1 for p in moved if p["status"] == "new")
    grown = sum(1 for p in moved if p["status"] == "grown")
    summary = (
        f"errors {rate_b:.3g}/min before → {rate_w:.3g}/min in the window; "
        f"{new} new and {grown} grown log patterns"
    )
    if first is not None:
        summary += f"; first error {_fmt_ns(first.time_ns)} in {first.service} ({first.location})"
    return Step("logs", summary, findings), evidence, timeline


_ERROR_LEVELS = {"ERROR", "FATAL"}
INCIDENT_GROWTH = 4.0
"""A pattern whose rate grew this many times is at least three quarters incident."""


def _incident_first_error(
    store: Store, window: TimeWindow, services: tuple[str, ...], moved: list[dict[str, Any]]
) -> tuple[Any, dict[str, Any] | None]:
    """The first error *of the incident*, and the pattern it belongs to.

    A window usually also holds the background errors a system always has (a duplicate
    key, a client hanging up); the first of those says nothing. So the first error is the
    earliest record of a new or grown ERROR/FATAL pattern — its ``first_seen`` is that
    record's exact time — and only when no error pattern moved, the window's first error.
    Patterns that are mostly incident come first — new ones, or grown at least
    ``INCIDENT_GROWTH``-fold, with enough records to mark an onset — then other new
    ones, then the rest: a pattern that grew a little was there before the incident, and
    its first record in the window is likely background.
    """
    from obsctl.analysis import logs as logs_a

    errors = [p for p in moved if _ERROR_LEVELS & set(p["levels"] or ())]

    def order(p: dict[str, Any]) -> tuple[int, int]:
        new = p["status"] == "new"
        growth = math.inf if new else (p["growth"] or 0.0)
        excess = p["count"] * (1.0 - 1.0 / growth) if growth > 1.0 else 0.0
        if growth >= INCIDENT_GROWTH and excess >= MIN_NEW_PATTERN:
            return 0, p["first_seen"]
        return (1 if new else 2), p["first_seen"]

    errors.sort(key=order)
    for p in errors:
        at = TimeWindow(p["first_seen"], p["first_seen"] + 1)
        svcs = tuple(s for s in p["services"] or () if not services or s in services)
        rec = logs_a.first_error(store, at, services=svcs or services)
        if rec is not None:
            return rec, p
    return logs_a.first_error(store, window, services=services), None


def _moved_patterns(pats: pa.Table) -> list[dict[str, Any]]:
    """New and grown patterns, warnings and errors first, then by count."""
    import pyarrow as pa

    if pats.num_rows == 0:
        return []
    t = pats.append_column("first_ns", pats.column("first_seen").cast(pa.int64()))
    rows = []
    for r in t.drop_columns(["first_seen", "last_seen"]).to_pylist():
        if r["status"] not in ("new", "grown"):
            continue
        r["first_seen"] = r.pop("first_ns")
        rows.append(r)
    rows.sort(key=lambda r: (not (_ALARMING & set(r["levels"] or ())), -r["count"]))
    return rows


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 6)


def _baseline_arg(baseline: TimeWindow) -> tuple[str, str]:
    return "--baseline", f"{_fmt_ns(baseline.start_ns)}..{_fmt_ns(baseline.end_ns)}"


def _cmd(*args: str) -> str:
    """An obsctl command line, each argument shell-quoted: names from the data (a
    service called ``x; rm -rf ~``) stay one inert argument when pasted into a shell."""
    import shlex

    return shlex.join(("obsctl", *args))


def _metrics_step(
    store: Store, window: TimeWindow, baseline: TimeWindow, service: str | None
) -> tuple[Step, list[tuple[str, Evidence]], list[dict[str, Any]]]:
    import pyarrow as pa

    from obsctl.analysis import metric_anomalies
    from obsctl.analysis.metric_anomalies import base_metric, change_text

    if not store.scalar("SELECT count(*) FROM metric_points"):
        return Step("metrics", "no metrics loaded", {}), [], []
    table, _pair = metric_anomalies.scan(store, window, baseline, service=service, limit=12)
    rows = (
        table.drop_columns(["sparkline"])
        .append_column("start_ns", table.column("start").cast(pa.int64()))
        .to_pylist()
    )
    evidence: list[tuple[str, Evidence]] = []
    timeline: list[dict[str, Any]] = []
    since, base_arg = _fmt_ns(window.start_ns), _baseline_arg(baseline)
    findings = []
    for r in rows:
        change = change_text(r["baseline"], r["value"], r["relative_change"])
        where = r["service"] or "?"
        also = sorted({m["service"] for m in r["related"] or () if m["service"] != where})
        text = f"{r['metric']} {r['direction']} {change} from {_fmt_ns(r['start_ns'])}"
        if also:
            text += f" (with {', '.join(also)})"
        cmd = _cmd(
            "metrics", "show", base_metric(r["metric"]), "--service", where, "--since", since
        )
        findings.append(
            {
                "metric": r["metric"],
                "service": r["service"],
                "labels": r["labels"],
                "start": r["start_ns"],
                "direction": r["direction"],
                "baseline": _finite(r["baseline"]),
                "value": _finite(r["value"]),
                "relative_change": _finite(r["relative_change"])
                if r["relative_change"] is not None
                else None,
                "score": round(r["score"], 3),
                "kind": r["kind"],
                "related_services": also,
            }
        )
        if r["service"]:
            evidence.append(
                (r["service"], Evidence("metrics", "metric", text, r["score"], r["metric"], cmd))
            )
        timeline.append({"time": r["start_ns"], "signal": "metrics", "text": f"{where}: {text}"})
    first_movers = sorted(findings, key=lambda f: f["start"])[:3]
    summary = f"{table.num_rows} series groups left their baseline" + (
        "; first to move: " + ", ".join(f"{f['metric']} ({f['service']})" for f in first_movers)
        if first_movers
        else ""
    )
    command = _cmd("metrics", "anomalies", "--since", since, *base_arg)
    findings_out = {"anomalies": findings, "command": command}
    return Step("metrics", summary, findings_out), evidence, timeline


_CALLEE = """
SELECT c.service_name, count(*) AS n
FROM spans p JOIN spans c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
WHERE p.service_name = $service AND p.name = $operation
  AND epoch_ns(p.start_time) >= $t0 AND epoch_ns(p.start_time) < $t1
  AND c.service_name IS DISTINCT FROM p.service_name
GROUP BY 1 ORDER BY n DESC LIMIT 1
"""

_PEER = """
SELECT coalesce(
           attributes->>'$."peer.service"', attributes->>'$."server.address"',
           attributes->>'$."net.peer.name"', attributes->>'$."db.system"',
           attributes->>'$."http.host"', attributes->>'$."rpc.service"') AS peer,
       count(*) AS n
FROM spans
WHERE service_name = $service AND name = $operation
  AND epoch_ns(start_time) >= $t0 AND epoch_ns(start_time) < $t1
GROUP BY 1 ORDER BY (peer IS NULL), n DESC LIMIT 1
"""

_KIND = """
SELECT kind FROM spans WHERE service_name = $service AND name = $operation
GROUP BY kind ORDER BY count(*) DESC LIMIT 1
"""


def _callee(store: Store, service: str, operation: str, window: TimeWindow) -> str | None:
    """Who a client operation calls: the service of its child spans, else the peer its
    attributes name (an uninstrumented dependency), else ``None``."""
    params = {
        "service": service,
        "operation": operation,
        "t0": window.start_ns,
        "t1": window.end_ns,
    }
    rows = store.rows(_CALLEE, params)
    if rows and rows[0][0]:
        return str(rows[0][0])
    rows = store.rows(_PEER, params)
    return str(rows[0][0]) if rows and rows[0][0] else None


def _kind(store: Store, service: str, operation: str) -> str | None:
    rows = store.rows(_KIND, {"service": service, "operation": operation})
    return str(rows[0][0]) if rows and rows[0][0] else None


def _target(store: Store, service: str, operation: str, window: TimeWindow) -> str:
    """Suspect key for time or failure in ``service``'s ``operation``: the service
    itself, or ``service → callee`` when it is a client span (the time or the failure
    sits between the two)."""
    if (_kind(store, service, operation) or "").upper() in ("CLIENT", "PRODUCER"):
        callee = _callee(store, service, operation, window)
        if callee:
            return f"{service}\u2192{callee}"
    return service


def _traces_step(
    store: Store, window: TimeWindow, baseline: TimeWindow, service: str | None
) -> tuple[Step, list[tuple[str, Evidence]], list[dict[str, Any]]]:
    from obsctl.analysis import traces

    if not store.scalar("SELECT count(*) FROM spans"):
        return Step("traces", "no traces loaded", {}), [], []
    services = (service,) if service else ()
    filt = traces.TraceFilter(services=services, window=window)
    since, base_arg = _fmt_ns(window.start_ns), _baseline_arg(baseline)
    evidence: list[tuple[str, Evidence]] = []
    timeline: list[dict[str, Any]] = []

    origins = _pylist(traces.error_origins(store, filt).slice(0, TOP))
    lift = _failure_lift(store, window, baseline, service)
    for o in origins:
        who = _target(store, o["service"], o["operation"], window)
        ex = (o["examples"] or [None])[0]
        msg = f": {o['message'][:80]}" if o["message"] else ""
        text = (
            f"failures originate in {o['service']} {o['operation']} ({o['kind'] or 'span'}) — "
            f"{o['traces']} failed traces, {o['share'] * 100:.0f}% of them{msg}"
        )
        evidence.append(
            (
                who,
                Evidence(
                    "traces",
                    "error_origin",
                    text,
                    float(o["share"]) * lift,
                    ref=ex,
                    command=_cmd("traces", "show", ex) if ex else None,
                    operation=o["operation"],
                ),
            )
        )

    cps = traces.critical_path_summary(store, filt, baseline)
    cp_rows = _pylist(cps.table)
    path_ns = sum(r.get("per_trace_ns") or 0 for r in cp_rows) or 1
    gainers = [r for r in cp_rows if (r.get("change_ns") or 0) > 0][:TOP]
    for r in gainers:
        who = _target(store, r["service"], r["operation"], window)
        text = (
            f"{r['service']} {r['operation']} holds {r['share'] * 100:.0f}% of the critical path, "
            f"+{r['change_ns'] / 1e6:,.0f} ms per trace vs the baseline"
        )
        evidence.append(
            (
                who,
                Evidence(
                    "traces",
                    "critical_path",
                    text,
                    min(1.0, r["change_ns"] / path_ns),
                    ref=f"{r['service']} {r['operation']}",
                    command=_cmd("traces", "critical-path", "--since", since, *base_arg),
                    operation=r["operation"],
                ),
            )
        )

    attrs: list[dict[str, Any]] = []
    try:
        cmp = traces.compare(store, filt, mode="window", baseline=baseline)
        seen: set[str] = set()
        for r in _pylist(cmp.table):
            if r["key"] in seen or r["diff"] is None or r["diff"] <= 0:
                continue
            seen.add(r["key"])
            attrs.append(r)
            if len(attrs) >= TOP:
                break
    except InputNotFound:
        pass
    for a in attrs[:3]:
        holder = _attribute_service(store, a, window)
        if holder is None:
            continue
        text = (
            f"{a['scope']} attribute {a['key']}={a['value']}: {a['outliers'] * 100:.0f}% of the "
            f"window's spans vs {a['baseline'] * 100:.0f}% before"
        )
        evidence.append(
            (
                holder,
                Evidence(
                    "traces",
                    "attribute",
                    text,
                    float(a["score"]),
                    ref=f"{a['key']}={a['value']}",
                    command=_cmd("traces", "compare", "--since", since, *base_arg),
                ),
            )
        )

    slow, _ = traces.list_traces(
        store, traces.TraceFilter(services=services, window=window, limit=1)
    )
    failed, _ = traces.list_traces(
        store, traces.TraceFilter(services=services, window=window, errors=True, limit=1)
    )
    exemplar = _pylist(slow)[0] if slow.num_rows else None
    failed_ex = _pylist(failed)[0] if failed.num_rows else None
    if origins:
        first_fail = store.scalar(
            "SELECT epoch_ns(min(start_time)) FROM spans WHERE status_code = 'ERROR' "
            "AND epoch_ns(start_time) >= $t0 AND epoch_ns(start_time) < $t1",
            {"t0": window.start_ns, "t1": window.end_ns},
        )
        if first_fail is not None:
            timeline.append(
                {"time": int(first_fail), "signal": "traces", "text": "first failed span"}
            )

    def _trace(r: dict[str, Any] | None) -> dict[str, Any] | None:
        if r is None:
            return None
        return {
            "trace_id": r["trace_id"],
            "root_service": r["root_service"],
            "root_operation": r["root_operation"],
            "duration_ns": r["duration_ns"],
            "spans": r["spans"],
            "error": r["error"],
            "start": r["start"],
        }

    findings = {
        "error_origins": [{k: o[k] for k in _ORIGIN_FIELDS} for o in origins],
        "critical_path": [
            {
                k: r.get(k)
                for k in (
                    "service",
                    "operation",
                    "per_trace_ns",
                    "baseline_per_trace_ns",
                    "change_ns",
                    "share",
                    "baseline_share",
                )
            }
            for r in (gainers or cp_rows[:TOP])
        ],
        "attributes": [
            {k: a[k] for k in ("scope", "key", "value", "outliers", "baseline", "score")}
            for a in attrs
        ],
        "exemplar_slow_trace": _trace(exemplar),
        "exemplar_failed_trace": _trace(failed_ex),
        "traces": {"window": cps.traces, "baseline": cps.baseline_traces},
    }
    parts = []
    if gainers:
        g = gainers[0]
        parts.append(
            f"{g['service']} {g['operation']} gained the most critical-path time "
            f"(+{g['change_ns'] / 1e6:,.0f} ms per trace)"
        )
    if origins:
        parts.append(f"failures originate in {origins[0]['service']} {origins[0]['operation']}")
    if attrs:
        parts.append(f"outliers stand apart by {attrs[0]['key']}={attrs[0]['value']}")
    summary = "; ".join(parts) if parts else "traces in the window look like the baseline"
    return Step("traces", summary, findings), evidence, timeline


_FAILED = """
SELECT count(DISTINCT trace_id) FILTER (WHERE status_code = 'ERROR'), count(DISTINCT trace_id)
FROM spans
WHERE epoch_ns(start_time) >= $t0 AND epoch_ns(start_time) < $t1
  AND ($service IS NULL OR service_name = $service)
"""


def _failure_lift(
    store: Store, window: TimeWindow, baseline: TimeWindow, service: str | None
) -> float:
    """How much of the window's trace failure rate is new: ``(fw − fb) / fw`` in 0–1
    (failures the baseline had as well are not evidence)."""

    def rate(w: TimeWindow) -> float:
        failed, total = store.rows(_FAILED, {"t0": w.start_ns, "t1": w.end_ns, "service": service})[
            0
        ]
        return (failed or 0) / total if total else 0.0

    fw, fb = rate(window), rate(baseline)
    return max(0.0, (fw - fb) / fw) if fw else 0.0


_ATTR_HOLDER = """
SELECT service_name, count(*) AS n FROM spans
WHERE epoch_ns(start_time) >= $t0 AND epoch_ns(start_time) < $t1
  AND CAST(json_extract({col}, $path) AS VARCHAR) IS NOT NULL
  AND coalesce({col}->>$path, '') = $value
GROUP BY 1 ORDER BY n DESC LIMIT 1
"""


def _attribute_service(store: Store, attr: dict[str, Any], window: TimeWindow) -> str | None:
    """The service whose spans carry an attribute value that sets outliers apart."""
    if attr["value"] in (None, "(missing)"):
        return None
    col = "resource_attributes" if attr["scope"] == "resource" else "attributes"
    path = '$."' + str(attr["key"]).replace('"', '\\"') + '"'
    rows = store.rows(
        _ATTR_HOLDER.format(col=col),
        {"t0": window.start_ns, "t1": window.end_ns, "path": path, "value": str(attr["value"])},
    )
    return str(rows[0][0]) if rows and rows[0][0] else None


def _profiles_step(
    store: Store, window: TimeWindow, baseline: TimeWindow, implicated: list[str]
) -> tuple[Step, list[tuple[str, Evidence]], dict[str, str]]:
    from obsctl.analysis import profiles

    if not store.scalar("SELECT count(*) FROM profiles"):
        return Step("profiles", "no profiles loaded", {}), [], {}
    evidence: list[tuple[str, Evidence]] = []
    culprits: dict[str, str] = {}
    per_service = []
    notes = []
    for svc in implicated:
        filt = profiles.ProfileFilter(services=(svc,))
        try:
            d = profiles.diff(store, filt, baseline, window)
        except InputNotFound as exc:
            notes.append(f"{svc}: {exc}")
            continue
        rows = _pylist(d.table.slice(0, 50))
        grew = sorted(
            (r for r in rows if (r["flat_change"] or 0) >= MIN_SHARE_CHANGE),
            key=lambda r: -(r["flat_change"] or 0),
        )
        top = grew[:TOP]
        per_service.append(
            {
                "service": svc,
                "sample_type": d.target.sample_type.name,
                "functions": [
                    {
                        "function": r["function"],
                        "base_flat_pct": _finite(r["base_flat_pct"]),
                        "target_flat_pct": _finite(r["target_flat_pct"]),
                        "flat_change": _finite(r["flat_change"]),
                        "cum_change": _finite(r["cum_change"]),
                    }
                    for r in top
                ],
            }
        )
        if top:
            f = top[0]
            culprits[svc] = f["function"]
            text = (
                f"{f['function']}: {f['base_flat_pct']:.1f}% → {f['target_flat_pct']:.1f}% of "
                f"{svc}'s {d.target.sample_type.name} ({f['flat_change']:+.1f} pts)"
            )
            evidence.append(
                (
                    svc,
                    Evidence(
                        "profiles",
                        "profile",
                        text,
                        float(f["flat_change"]),
                        ref=f["function"],
                        command=_cmd(
                            "profiles",
                            "diff",
                            "--service",
                            svc,
                            "--base",
                            f"{_fmt_ns(baseline.start_ns)}..{_fmt_ns(baseline.end_ns)}",
                            "--target",
                            f"{_fmt_ns(window.start_ns)}..{_fmt_ns(window.end_ns)}",
                        ),
                    ),
                )
            )
    if per_service:
        s0 = per_service[0]
        summary = (
            f"{s0['service']}: {s0['functions'][0]['function']} grew most "
            f"({s0['functions'][0]['flat_change']:+.1f} pts of {s0['sample_type']})"
            if s0["functions"]
            else f"{s0['service']}: no function's share grew"
        )
    else:
        summary = "no profiles cover " + (", ".join(implicated) or "the implicated services")
    return Step("profiles", summary, {"services": per_service, "notes": notes}), evidence, culprits


# --------------------------------------------------------------------------- suspects


def _strength(ev: Evidence) -> float:
    """An evidence's strength on the 0–1 scale of its kind."""
    scale = SCALES.get(ev.kind, 1.0)
    return min(1.0, max(ev.strength, 0.0) / scale)


def _callers_of(targets: set[str], edges: list[tuple[str, str]]) -> set[str]:
    """Every service that calls, directly or through others, one of ``targets``."""
    up: dict[str, set[str]] = defaultdict(set)
    for caller, callee in edges:
        if caller != callee:
            up[callee].add(caller)
    seen: set[str] = set()
    todo = list(targets)
    while todo:
        for c in up.get(todo.pop(), ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen - targets


def _rank(evidence: list[tuple[str, Evidence]], edges: list[tuple[str, str]]) -> list[Suspect]:
    """Suspects from evidence, one per service (an edge ``caller → callee`` counts for
    the callee, and names its caller when that edge is the strongest evidence): per kind
    the strongest piece plus a quarter of the rest (capped at 1), weighted and summed.
    The logs and metrics of services that only call where the traces place the time or
    the failures count ``PROPAGATED``."""
    by: dict[str, list[tuple[str | None, Evidence]]] = defaultdict(list)
    for who, ev in evidence:
        caller, arrow, callee = who.partition("\u2192")
        by[callee if arrow else who].append((caller if arrow else None, ev))
    totals: dict[str, dict[str, float]] = {}
    for service, evs in by.items():
        per: dict[str, list[float]] = defaultdict(list)
        for _, ev in evs:
            per[ev.kind].append(_strength(ev))
        totals[service] = {k: min(1.0, max(v) + 0.25 * (sum(v) - max(v))) for k, v in per.items()}
    where = {
        service
        for service, kinds in totals.items()
        if max(kinds.get("critical_path", 0.0), kinds.get("error_origin", 0.0)) >= 0.3
    }
    upstream = _callers_of(where, edges)
    out = []
    for service, evs in by.items():
        kinds = dict(totals[service])
        if service in upstream and service not in where:
            for k in ("metric", "log"):
                if k in kinds:
                    kinds[k] *= PROPAGATED
        score = sum(WEIGHTS.get(k, 0.5) * v for k, v in kinds.items())
        evs = sorted(evs, key=lambda ce: -WEIGHTS.get(ce[1].kind, 0.5) * _strength(ce[1]))
        out.append(
            Suspect(
                service=service,
                caller=evs[0][0],
                score=round(score, 3),
                evidence=[ev for _, ev in evs],
            )
        )
    out.sort(key=lambda s: -s.score)
    return out


def _confidence(suspects: list[Suspect]) -> None:
    """``high``: three steps agree and it leads the next by 30 %; ``medium``: two steps
    agree; ``low``: one step only."""
    for i, s in enumerate(suspects):
        steps = {e.step for e in s.evidence}
        nxt = suspects[i + 1].score if i + 1 < len(suspects) else 0.0
        lead = s.score / nxt if nxt else math.inf
        if len(steps) >= 3 and lead >= 1.3 and i == 0:
            s.confidence = "high"
        elif len(steps) >= 2:
            s.confidence = "medium"
        else:
            s.confidence = "low"


def _operation(s: Suspect) -> str | None:
    """The operation the strongest trace evidence names (its ``ref`` is
    ``service operation``)."""
    for kind in ("critical_path", "error_origin"):
        for e in s.evidence:
            if e.kind == kind and e.operation:
                return e.operation
    return None


def _edges(store: Store, window: TimeWindow) -> list[tuple[str, str]]:
    """Caller → callee service pairs seen in the window's traces."""
    from obsctl.analysis import traces

    if not store.scalar("SELECT count(*) FROM spans"):
        return []
    t = traces.deps(store, traces.TraceFilter(window=window))
    return [
        (str(a), str(b))
        for a, b in zip(t.column("caller").to_pylist(), t.column("callee").to_pylist(), strict=True)
        if a and b
    ]


def investigate(
    store: Store,
    window: TimeWindow | None = None,
    baseline: TimeWindow | None = None,
    *,
    service: str | None = None,
    max_suspects: int = 5,
) -> Investigation | None:
    """Run the four steps and rank suspects.

    Args:
        store: an open store.
        window: the incident window (open sides: the data's extent); ``None``: found
            from the data (``find_window``).
        baseline: what to compare with (default: everything before the window).
        service: only this service's records.
        max_suspects: suspects kept.

    Returns:
        The ``Investigation``, or ``None`` when the store holds no data.
    """
    ext = data_extent(store)
    if ext is None:
        return None
    lo, hi = ext
    onsets: list[dict[str, Any]] = []
    if window is None or not window.bounded:
        found = find_window(store, service, ext)
        if found is None:
            win, base, source = TimeWindow(lo, hi + 1), TimeWindow(lo, lo), "none"
        else:
            win, base, source, onsets = found
    else:
        start = window.start_ns if window.start_ns is not None else lo
        win = TimeWindow(start, window.end_ns or hi + 1)
        base = TimeWindow(lo, win.start_ns)
        source = "given"
    if baseline is not None:
        start = baseline.start_ns if baseline.start_ns is not None else lo
        base = TimeWindow(start, baseline.end_ns)
    if base.start_ns is None or base.end_ns is None or base.end_ns <= base.start_ns:
        why = "no baseline before the window to compare with"
        steps = [Step(n, why, {}) for n in ("logs", "metrics", "traces", "profiles")]
        return Investigation(win, base, source, steps, [], [])
    evidence: list[tuple[str, Evidence]] = []
    timeline: list[dict[str, Any]] = [
        {"time": o["time"], "signal": "onset", "text": f"{o['signal']} moved"} for o in onsets
    ]
    steps = []
    for fn in (_logs_step, _metrics_step, _traces_step):
        step, ev, tl = fn(store, win, base, service)
        steps.append(step)
        evidence += ev
        timeline += tl
    edges = _edges(store, win)
    implicated: list[str] = []
    for s in _rank(evidence, edges):
        for name in (s.service, s.caller):
            if name and name not in implicated:
                implicated.append(name)
        if len(implicated) >= 3:
            break
    pstep, pev, culprits = _profiles_step(store, win, base, implicated[:3])
    steps.append(pstep)
    evidence += pev
    suspects = _rank(evidence, edges)[:max_suspects]
    for s in suspects:
        s.operation = _operation(s)
        s.function = culprits.get(s.service) if s.caller is None else None
    _confidence(suspects)
    timeline.sort(key=lambda t: t["time"])
    return Investigation(win, base, source, steps, suspects, timeline)


_TIME_KEYS = {"time", "start", "first_seen"}


def rfc3339(ns: int | None) -> str | None:
    """``2026-03-26T16:30:22.123456789Z`` (nanoseconds kept), or ``None``."""
    import datetime as dt

    if ns is None:
        return None
    sec, frac = divmod(int(ns), 1_000_000_000)
    base = dt.datetime.fromtimestamp(sec, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def _jsonable(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if key in _TIME_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return rfc3339(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_dict(inv: Investigation) -> dict[str, Any]:
    """The investigation as the documented JSON document (times RFC 3339, UTC).

    ``window`` and ``baseline`` (``start``, ``end``; the window also ``found_from``),
    ``found`` (bool), ``steps`` (``step``, ``summary``, ``findings``), ``suspects``
    (``rank``, ``service``, ``caller``, ``operation``, ``function``, ``score``,
    ``confidence``, ``evidence`` [``step``, ``kind``, ``text``, ``ref``, ``command``])
    and ``timeline`` (``time``, ``signal``, ``text``).
    """
    return _jsonable(
        {
            "window": {
                "start": rfc3339(inv.window.start_ns),
                "end": rfc3339(inv.window.end_ns),
                "found_from": inv.window_source,
            },
            "baseline": {
                "start": rfc3339(inv.baseline.start_ns),
                "end": rfc3339(inv.baseline.end_ns),
            },
            "found": inv.found,
            "steps": [
                {"step": s.name, "summary": s.summary, "findings": s.findings} for s in inv.steps
            ],
            "suspects": [
                {
                    "rank": i + 1,
                    "service": s.service,
                    "caller": s.caller,
                    "operation": s.operation,
                    "function": s.function,
                    "score": s.score,
                    "confidence": s.confidence,
                    "evidence": [
                        {
                            "step": e.step,
                            "kind": e.kind,
                            "text": e.text,
                            "ref": e.ref,
                            "command": e.command,
                        }
                        for e in s.evidence
                    ],
                }
                for i, s in enumerate(inv.suspects)
            ],
            "timeline": inv.timeline,
        }
    )
