"""JSON-lines logs (one JSON object per line) → ``logs``.

Accepted shapes
    Any newline-delimited stream of JSON objects written by a logger or exporter: zap,
    logrus, pino, bunyan, structlog / python-json-logger, Serilog CLEF, Elastic Common
    Schema, Rust ``tracing`` JSON, systemd ``journalctl -o json``, GELF, Cloudflare
    Logpush, docker ``json-file``, and metric-like status snapshots (NGINX Plus) that are
    loaded as records with everything in ``attributes``. CRLF endings, blank lines (skipped,
    their numbers still count), gzip and UTF-16 are handled by ``Source``.

Which key fills which column
    The first lines of the file (its head) are parsed once in Python; for every column the
    candidate key present (with a plausible value) in the most sampled lines wins, ties
    going to the earlier candidate below. Exactly one key per column is used for the
    whole file, so nothing is lost when a line uses another spelling: that key simply
    stays in ``attributes``.

    ========== ===================================================================
    timestamp  ts, time, timestamp, @timestamp, t, @t, date, datetime, eventTime,
               EdgeStartTimestamp, __REALTIME_TIMESTAMP (µs string), started_at,
               timeMillis, asctime, created — RFC 3339 (nanoseconds kept), naive
               (UTC), any offset, or epoch s/ms/µs/ns as number or string
    severity   level, lvl, severity, severity_text, severityText, loglevel, log_level,
               levelname, ``log.level`` (dotted key), log → level (nested), @l,
               @fields → lvl/level, PRIORITY (journald: syslog 0–7), GELF ``level``
    body       msg, message, MESSAGE, body, log (when a string), text, @m, @mt,
               fields → message (Rust tracing), @fields → msg/message,
               short_message, event (structlog)
    service    service, ``service.name`` (dotted or nested), service_name,
               serviceName, app, application, app_name, _SYSTEMD_UNIT; bunyan's
               ``name`` (only with bunyan's ``v``/``hostname``/``pid``). A logger name
               is not a service and stays an attribute.
    trace_id   trace_id, traceId, traceID, trace.id, dd.trace_id (decimal → hex)
    span_id    span_id, spanId, spanID, span.id, dd.span_id
    ========== ===================================================================

    ``severity_text`` is the level as written; ``severity_number`` comes from
    ``obsctl_severity`` (numeric bunyan/pino levels included), except journald
    ``PRIORITY`` and GELF ``level``, which are syslog numbers (0–2 → fatal 23/22/21,
    3 → error, 4 → warn, 5 → info2, 6 → info, 7 → debug). Ids are stored lowercase hex
    (base64 and Datadog decimal ids converted). ``attributes`` is the record with the
    mapped keys removed (nested values kept as they are); ``line`` the 1-based line.

How it stays fast
    No per-line Python: ``Source.line_batches`` (zero-copy Arrow batches) is fed, from a
    background thread, into ONE ``INSERT … SELECT`` whose plan is built from the head:

    * a single ``json_extract_string(text, [paths])`` call (list form: one parse per line)
      both extracts the fields and, under ``TRY``, tells invalid JSON apart (it is only
      attempted on lines starting with ``{``, so text lines cost nothing);
    * the time has a fast path (``…Z`` strings are cast directly; the general
      ``obsctl_ts`` rules are inlined without its correlated subquery, which DuckDB would
      evaluate for every row) and the severity is a ``CASE`` over the level spellings seen
      in the head (computed once with ``obsctl_severity``), falling back to the macro;
    * ``attributes`` avoids ``json_merge_patch`` (which rebuilds every object) on the
      common layout where the mapped keys lead each object, possibly with a few unmapped
      scalars among them (zap's ``caller``, ECS, CLEF, OTel-style JSON): the expected
      leading text ``{"ts":"…","level":"…","caller":"…","msg":"…",`` is rebuilt from the
      extracted values and, when the line starts with exactly that (no escapes, the
      head's value types and spacing), it is replaced by ``{"caller":"…",``. A JSON
      object that starts with that text has exactly those leading members, and a length
      check proves the replacement happened once, so no other key can be cut. Any other
      line takes ``json_merge_patch(text, '{"ts":null,…}')``. (On the fast path a mapped
      key whose value is JSON ``null`` stays in ``attributes`` as ``null``.) The layout
      is chosen on the head's lines and kept only if it fits at least half of them.

Bad lines
    Lines that are not valid JSON, or not an object, are rejected with their line number
    and the parser's reason (``invalid JSON: …``, ``not a JSON object (array)``). They
    are written by the same statement with a negated line number, read back (count and
    first rows), then deleted, all inside the file's transaction.
"""

from __future__ import annotations

import itertools
import json
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsctl.errors import IngestError
from obsctl.ingest.base import MAX_KEPT_REJECTS, FormatSpec, LoadContext, Reject
from obsctl.store.sqlfuncs import span_id_sql, trace_id_sql, ts_sql

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.ingest.files import Source

KeyPath = tuple[str, ...]
"""A key path into a JSON object: ("msg",), ("log", "level"), ("log.level",)."""

SAMPLE_LINES = 500
"""How many head lines are parsed to plan the load."""

MAX_CARRIED = 8
"""At most this many unmapped keys may sit among the leading or trailing mapped ones."""

WS = "' ' || chr(9) || chr(10) || chr(13)"
"""SQL for the whitespace characters trimmed around lines and values."""

_MISSING = object()

# ---------------------------------------------------------------------------------------
# Candidate keys per column, in priority order (ties in the head go to the earlier one).

TIME_KEYS: tuple[KeyPath, ...] = (
    ("ts",), ("time",), ("timestamp",), ("@timestamp",), ("t",), ("@t",), ("date",),
    ("datetime",), ("eventTime",), ("EdgeStartTimestamp",), ("__REALTIME_TIMESTAMP",),
    ("started_at",), ("timeMillis",), ("asctime",), ("created",),
)  # fmt: skip
LEVEL_KEYS: tuple[KeyPath, ...] = (
    ("level",), ("lvl",), ("severity",), ("severity_text",), ("severityText",),
    ("loglevel",), ("log_level",), ("levelname",), ("log.level",), ("log", "level"),
    ("@l",), ("@fields", "lvl"), ("@fields", "level"), ("PRIORITY",),
)  # fmt: skip
SEVNUM_KEYS: tuple[KeyPath, ...] = (("severity_number",), ("severityNumber",))
MESSAGE_KEYS: tuple[KeyPath, ...] = (
    ("msg",), ("message",), ("MESSAGE",), ("body",), ("log",), ("text",), ("@m",),
    ("@mt",), ("fields", "message"), ("@fields", "msg"), ("@fields", "message"),
    ("short_message",), ("event",),
)  # fmt: skip
SERVICE_KEYS: tuple[KeyPath, ...] = (
    ("service",), ("service.name",), ("service", "name"), ("service_name",),
    ("serviceName",), ("app",), ("application",), ("app_name",), ("_SYSTEMD_UNIT",),
)  # fmt: skip
TRACE_KEYS: tuple[KeyPath, ...] = (
    ("trace_id",), ("traceId",), ("traceID",), ("trace.id",), ("trace", "id"),
    ("dd.trace_id",), ("dd", "trace_id"),
)  # fmt: skip
SPAN_KEYS: tuple[KeyPath, ...] = (
    ("span_id",), ("spanId",), ("spanID",), ("span.id",), ("span", "id"),
    ("dd.span_id",), ("dd", "span_id"),
)  # fmt: skip

_TIME_STR = re.compile(r"\s*(\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?|-?\d{9,19}(\.\d*)?)\s*")
_ID_STR = re.compile(r"[0-9a-fA-F]{8,32}|[A-Za-z0-9+/]{11,22}={0,2}|[0-9]{1,39}")


def _is_time(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        return 1e8 <= abs(v) < 1e19
    return isinstance(v, str) and _TIME_STR.fullmatch(v) is not None


def _is_level(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, str) and 0 < len(v) <= 32)


def _is_sevnum(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 24


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


def _is_name(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 256


def _is_id(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v >= 0
    return isinstance(v, str) and _ID_STR.fullmatch(v) is not None


ROLES: dict[str, tuple[tuple[KeyPath, ...], Callable[[Any], bool]]] = {
    "time": (TIME_KEYS, _is_time),
    "level": (LEVEL_KEYS, _is_level),
    "sevnum": (SEVNUM_KEYS, _is_sevnum),
    "message": (MESSAGE_KEYS, _is_text),
    "service": (SERVICE_KEYS, _is_name),
    "trace": (TRACE_KEYS, _is_id),
    "span": (SPAN_KEYS, _is_id),
}

COMMON_LEVELS = (
    "trace", "TRACE", "Trace", "debug", "DEBUG", "Debug", "info", "INFO", "Info",
    "information", "Information", "notice", "NOTICE", "warn", "WARN", "Warn", "warning",
    "WARNING", "Warning", "error", "ERROR", "Error", "err", "ERR", "crit", "CRIT",
    "critical", "CRITICAL", "Critical", "fatal", "FATAL", "Fatal", "panic", "PANIC",
    "alert", "ALERT", "emerg", "EMERG", "Verbose", "D", "I", "W", "E", "F",
    "10", "20", "30", "40", "50", "60",
)  # fmt: skip
"""Level spellings whose severity is precomputed (besides those seen in the head)."""

SYSLOG_SEVERITY = {"0": 23, "1": 22, "2": 21, "3": 17, "4": 13, "5": 10, "6": 9, "7": 5}
"""Syslog priority (journald PRIORITY, GELF level) → OpenTelemetry severity number."""

# Member layouts tried for the textual attribute fast path: (after "{", between key and
# value, between members, before "}").
STYLES = (("", ":", ",", "}"), ("", ": ", ", ", "}"), (" ", ": ", ", ", " }"),
          (" ", " : ", ", ", " }"))  # fmt: skip


# ---------------------------------------------------------------------------------------
# Sniffing


def _sample(
    head: bytes, limit: int = SAMPLE_LINES
) -> tuple[list[dict[str, Any]], list[bytes], int]:
    """Parse the head's complete lines (see ``_parse_lines``).

    A last line cut by the 64 KiB head that does not parse is ignored rather than
    counted as bad.
    """
    return _parse_lines(head.split(b"\n"), limit, last_cut=not head.endswith(b"\n"))


def _parse_lines(
    lines: list[bytes], limit: int, last_cut: bool = False
) -> tuple[list[dict[str, Any]], list[bytes], int]:
    """(the JSON objects, the text of those object lines, the non-blank lines looked at)."""
    import orjson

    objs: list[dict[str, Any]] = []
    raws: list[bytes] = []
    nonblank = 0
    for i, raw in enumerate(lines):
        if nonblank >= limit:
            break
        s = raw.strip()
        if not s:
            continue
        try:
            v = orjson.loads(s) if s[:1] == b"{" else None
        except orjson.JSONDecodeError:
            if last_cut and i == len(lines) - 1:
                break
            v = None
        nonblank += 1
        if isinstance(v, dict):
            objs.append(v)
            raws.append(raw.rstrip())
    return objs, raws, nonblank


def _foreign(o: dict[str, Any]) -> bool:
    """Whether an object is another format's document (OTLP, Jaeger, Zipkin, …)."""
    keys = o.keys()
    if keys & {"resourceLogs", "resourceSpans", "resourceMetrics", "resourceProfiles"}:
        return True
    if "traceEvents" in o or ("nodes" in o and "samples" in o):
        return True  # Chrome trace / cpuprofile
    schema = o.get("$schema")
    if isinstance(schema, str) and "speedscope" in schema:
        return True
    shared = o.get("shared")
    if isinstance(shared, dict) and "frames" in shared:
        return True
    spans = o.get("spans")
    if "traceID" in o and "spans" in o:
        return True
    if "operationName" in o and o.keys() & {"spanID", "spanId"}:
        return True  # a Jaeger span
    if isinstance(spans, list) and any(
        isinstance(s, dict) and s.keys() & {"traceID", "traceId", "spanID", "spanId"}
        for s in spans[:3]
    ):
        return True
    data = o.get("data")
    if isinstance(data, dict) and ("traceID" in data or "resultType" in data):
        return True  # Jaeger UI state, Prometheus query API
    if isinstance(data, list) and data and isinstance(data[0], dict) and "traceID" in data[0]:
        return True
    return (
        "traceId" in o
        and "id" in o
        and bool(keys & {"localEndpoint", "remoteEndpoint", "annotations"})
    )


def sniff(head: bytes, name: str) -> float:
    """Score JSON lines: complete lines that are JSON objects, not other formats' documents."""
    try:
        objs, _, nonblank = _sample(head, 200)
    except Exception:
        return 0.0
    if not objs or nonblank == 0:
        return 0.0
    if any(_foreign(o) for o in objs[:50]):
        return 0.0
    frac = len(objs) / nonblank
    if frac < 0.3:
        return 0.0
    first = next((ln.strip() for ln in head.split(b"\n") if ln.strip()), b"")
    logish = any(
        _get(o, p) is not _MISSING for o in objs[:20] for p in TIME_KEYS + LEVEL_KEYS + MESSAGE_KEYS
    )
    # one compact document on one line is weak evidence unless it looks like a log record
    several = len(objs) >= 2
    score = (0.92 if several else 0.8) if logish else (0.7 if several else 0.4)
    if frac < 0.9:
        score -= 0.15
    if not first.startswith(b"{"):
        score -= 0.2
    lname = name.lower()
    if lname.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        score += 0.05
    return max(0.0, min(score, 0.97))


# ---------------------------------------------------------------------------------------
# Planning


def _get(o: Any, path: KeyPath) -> Any:
    for k in path:
        if not isinstance(o, dict) or k not in o:
            return _MISSING
        o = o[k]
    return o


@dataclass
class Plan:
    """What the head says about the file: which key fills which column, and how."""

    fields: dict[str, KeyPath] = field(default_factory=dict)
    """Role (time, level, sevnum, message, service, trace, span) → key path."""
    syslog_levels: bool = False
    """The level is a syslog number (journald PRIORITY, GELF)."""
    levels: list[str] = field(default_factory=list)
    """Level spellings seen in the head (for the severity CASE)."""
    prefix: list[str] | None = None
    """Fast path: the top-level keys that lead the objects, up to a mapped one (in order)."""
    suffix: list[str] = field(default_factory=list)
    """Fast path: the top-level keys that end the objects, from a mapped one (in order)."""
    carried: list[str] = field(default_factory=list)
    """Unmapped keys among ``prefix`` and ``suffix``: they are put back into ``attributes``."""
    style: tuple[str, str, str, str] | None = None
    """The member layout of the lines for the fast path (see ``STYLES``)."""
    quoted: dict[str, bool] = field(default_factory=dict)
    """Prefix key → whether its values are JSON strings (in most sampled lines)."""


def _layout(o: dict[str, Any], mapped: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Split an object's keys into a leading and a trailing run covering the mapped keys.

    Of the splits (the first j mapped keys lead, the others trail), the one carrying the
    fewest unmapped keys wins; every member of both runs must be a scalar.
    """
    keys = list(o)
    at = [i for i, k in enumerate(keys) if k in mapped]
    if not at:
        return None
    splits = []
    for j in range(len(at) + 1):
        pre = keys[: at[j - 1] + 1] if j else []
        suf = keys[at[j] :] if j < len(at) else []
        carried = sum(k not in mapped for k in (*pre, *suf))
        splits.append((carried, -len(pre), pre, suf))
    for carried, _, pre, suf in sorted(splits):
        if carried > MAX_CARRIED:
            break
        if all(isinstance(o[k], str | int | float) for k in (*pre, *suf)):
            return tuple(pre), tuple(suf)
    return None


def plan_from_sample(objs: list[dict[str, Any]]) -> Plan:
    """Choose, for each column, the key the sampled objects use most."""
    plan = Plan()
    used: set[KeyPath] = set()
    for role, (cands, ok) in ROLES.items():
        best, best_n = None, 0
        for path in cands:
            # a key cannot serve two columns, nor be inside another column's key
            if any(path[: len(u)] == u or u[: len(path)] == path for u in used):
                continue
            n = sum(1 for o in objs if ok(_get(o, path)))
            if n > best_n:
                best, best_n = path, n
        if best is not None:
            plan.fields[role] = best
            used.add(best)
    # bunyan: "name" is the application, documented as such.
    if "service" not in plan.fields and objs:
        bunyan = sum(1 for o in objs if {"v", "name", "hostname", "pid"} <= o.keys())
        if bunyan * 2 > len(objs) and all(_is_name(o.get("name", "x")) for o in objs):
            plan.fields["service"] = ("name",)
    lv = plan.fields.get("level")
    if lv == ("PRIORITY",):
        plan.syslog_levels = True
    elif lv == ("level",) and sum(1 for o in objs if "short_message" in o) * 2 > len(objs):
        plan.syslog_levels = True  # GELF
    if lv:
        seen: dict[str, None] = {}
        for o in objs:
            v = _get(o, lv)
            if isinstance(v, str | int) and not isinstance(v, bool):
                seen[str(v)] = None
            if len(seen) >= 64:
                break
        plan.levels = list(seen)
    # Textual fast path (see build_sql): every mapped key is top-level and, in most sampled
    # objects, sits in a leading or a trailing run of members (with a few unmapped
    # scalars among them, which are carried back); the most common such layout is tried.
    paths = list(plan.fields.values())
    if objs and paths and all(len(p) == 1 for p in paths):
        mapped = {p[0] for p in paths}
        layouts: Counter[tuple[tuple[str, ...], tuple[str, ...]]] = Counter()
        for o in objs:
            lay = _layout(o, mapped)
            if lay is not None:
                layouts[lay] += 1
        if layouts:
            pre, suf = layouts.most_common(1)[0][0]
            plan.prefix = [*pre, *sorted(mapped - set(pre) - set(suf))]
            plan.suffix = list(suf)
            plan.carried = [k for k in (*pre, *suf) if k not in mapped]
            for k in (*plan.prefix, *plan.suffix):
                strings = sum(1 for o in objs if isinstance(o.get(k), str))
                plain = sum(1 for o in objs if k in o and not isinstance(o[k], str))
                plan.quoted[k] = strings >= plain
    return plan


# ---------------------------------------------------------------------------------------
# SQL


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _jpath(path: KeyPath) -> str:
    return "$" + "".join('."' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in path)


def id_sql(v: str, decimal: bool = False) -> str:
    """SQL normalising a trace/span id to lowercase hex (hex, base64, Datadog decimal)."""
    dec = (
        f" WHEN regexp_full_match({v}, '[0-9]{{1,20}}')"
        f" THEN coalesce(printf('%016x', TRY_CAST({v} AS UBIGINT)), {v})"
        if decimal
        else ""
    )
    return (
        f"CASE WHEN {v} IS NULL OR {v} = '' THEN NULL{dec}"
        f" WHEN regexp_full_match({v}, '[0-9a-f]+') THEN {v}"
        f" WHEN regexp_full_match({v}, '[0-9a-fA-F]+') THEN lower({v})"
        f" WHEN strlen({v}) IN (12, 16, 22, 24) AND regexp_full_match({v}, '[A-Za-z0-9+/]+=*')"
        f" THEN coalesce(lower(hex(TRY(from_base64({v})))), {v})"
        f" ELSE {v} END"
    )


def severity_sql(v: str, plan: Plan, mapping: dict[str, int | None]) -> str:
    """SQL for severity_number: a CASE over known spellings, else ``obsctl_severity``.

    ``mapping`` comes from ``severity_mapping``: the macro's own answers for the level
    spellings of the head, so the CASE is only a cache of ``obsctl_severity``.
    """
    if plan.syslog_levels:
        whens = " ".join(f"WHEN '{k}' THEN {n}" for k, n in SYSLOG_SEVERITY.items())
        return f"CASE trim({v}) {whens} ELSE NULL END"
    whens = " ".join(
        f"WHEN {_lit(k)} THEN {'NULL' if n is None else n}" for k, n in mapping.items()
    )
    return f"CASE {v} {whens} ELSE obsctl_severity({v}) END" if whens else f"obsctl_severity({v})"


def _patch(paths: list[KeyPath]) -> str:
    tree: dict[str, Any] = {}
    for p in paths:
        node = tree
        for k in p[:-1]:
            nxt = node.get(k)
            if not isinstance(nxt, dict):
                nxt = node[k] = {}
            node = nxt
        node[p[-1]] = None
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":"))


def _members_sql(
    plan: Plan,
    keys: list[str],
    style: tuple[str, str, str, str],
    val: dict[str, str],
    start: str,
    end: str = "",
    trailing: bool = False,
) -> str:
    """SQL for ``start``, the members ``"k":"v"`` of ``keys`` as text, then ``end``.

    Each member is followed by the separator (``trailing``: preceded by it). Built from
    the extracted (decoded) values, quoted for the keys whose head values are strings;
    keys a line lacks are left out. A flat ``concat`` is several times cheaper than one
    of ``||`` pieces, so it serves the lines that have every key.
    """
    _, kv, sep, _ = style
    flat = [_lit(start)]
    pieces = [_lit(start)]
    for k in keys:
        q = '"' if plan.quoted.get(k, True) else ""
        key = json.dumps(k, ensure_ascii=False) + kv + q
        before, after = (_lit(sep + key), _lit(q)) if trailing else (_lit(key), _lit(q + sep))
        flat += [before, val[k], after]
        pieces.append(f"{before} || {val[k]} || {after}")
    if end:
        flat.append(_lit(end))
        pieces.append(_lit(end))
    if not keys:
        return f"concat({', '.join(flat)})" if end else flat[0]
    every = " AND ".join(f"{val[k]} IS NOT NULL" for k in keys)
    return f"CASE WHEN {every} THEN concat({', '.join(flat)}) ELSE concat({', '.join(pieces)}) END"


def _edges_sql(
    plan: Plan, style: tuple[str, str, str, str], val: dict[str, str]
) -> tuple[str, str, str, str]:
    """SQL for the expected leading and trailing text of a line, and their replacements.

    ``{"k1":"v1","k2":2,`` and ``,"k3":"v3"}``: a line starts (ends) with exactly that text
    only when those members are written so — no escapes, the head's types and layout —
    and then they are its first (last) top-level members: in valid JSON, a value without
    quotes or backslashes that is directly followed by the object's opening (closing)
    text cannot belong to a nested object or a string. The replacements keep the
    carried members.
    """
    carried = set(plan.carried)
    pre = plan.prefix or []
    pfx = _members_sql(plan, pre, style, val, "{" + style[0])
    keep_p = _members_sql(plan, [k for k in pre if k in carried], style, val, "{")
    sfx = _members_sql(plan, plan.suffix, style, val, "", style[3], trailing=True)
    keep_s = _members_sql(
        plan, [k for k in plan.suffix if k in carried], style, val, "", "}", trailing=True
    )
    return pfx, keep_p, sfx, keep_s


def _extract_paths(plan: Plan) -> list[KeyPath]:
    """The paths extracted per line: the mapped ones, then the carried keys."""
    return [*plan.fields.values(), *((k,) for k in plan.carried)]


def _values(plan: Plan, f: str) -> dict[str, str]:
    """Top-level key → SQL of its extracted value (for the fast path)."""
    return {p[0]: f"{f}[{i}]" for i, p in enumerate(_extract_paths(plan), start=1) if len(p) == 1}


def build_sql(plan: Plan, mapping: dict[str, int | None], source: str) -> str:
    """The whole load as one ``INSERT … SELECT`` over the registered line batches."""
    roles = list(plan.fields)
    paths = [plan.fields[r] for r in roles]
    fast = plan.prefix is not None and plan.style is not None
    every = _extract_paths(plan) if fast else paths
    jpaths = "[" + ", ".join(_lit(_jpath(p)) for p in every or [("__obsctl_none__",)]) + "]"
    obj = "starts_with(text, '{') OR starts_with(ltrim(text, " + WS + "), '{')"
    # TRY makes invalid JSON NULL: one parse both validates and extracts.
    inner = (
        f"SELECT line, text, CASE WHEN {obj} THEN TRY(json_extract_string(text, {jpaths})) END"
        f" AS f FROM {source} WHERE text <> ''"
    )
    cols = ["line", "text", "f IS NOT NULL AS ok"]
    cols += [f"f[{i}] AS v_{role}" for i, role in enumerate(roles, start=1)]
    cols += [f"f[{i}] AS c_{i}" for i in range(len(roles) + 1, len(every) + 1)]
    mid = f"SELECT {', '.join(cols)} FROM ({inner})"
    has = plan.fields.__contains__
    patch = _patch(paths)
    if fast:
        assert plan.style is not None
        val = _values(plan, "f")
        val.update({plan.fields[r][0]: f"v_{r}" for r in roles})
        val.update({k: f"c_{i}" for i, k in enumerate(plan.carried, start=len(roles) + 1)})
        pfx, keep_p, sfx, keep_s = _edges_sql(plan, plan.style, val)
        # Each edge text is replaced (``replace`` is cheaper than a character-based
        # substr) and a length check proves exactly one occurrence was, the one at the
        # start (end) that starts_with (ends_with) found.
        step1 = (
            "CASE WHEN starts_with(text, pfx) THEN replace(text, pfx, keep_p) END"
            if plan.prefix
            else "text"
        )
        ok1 = "strlen(r1) = strlen(text) - strlen(pfx) + strlen(keep_p)" if plan.prefix else "true"
        step2 = (
            f"CASE WHEN {ok1} AND ends_with(r1, sfx) THEN replace(r1, sfx, keep_s) END"
            if plan.suffix
            else f"CASE WHEN {ok1} THEN r1 END"
        )
        ok2 = "strlen(r2) = strlen(r1) - strlen(sfx) + strlen(keep_s)" if plan.suffix else "true"
        mid = (
            f"SELECT *, {step2} AS r2 FROM (SELECT *, {step1} AS r1 FROM (SELECT *,"
            f" {pfx} AS pfx, {keep_p} AS keep_p, {sfx} AS sfx, {keep_s} AS keep_s"
            f" FROM ({mid})))"
        )
        sep, close = plan.style[2], plan.style[3]
        only_mapped = (
            f" WHEN keep_p = '{{' AND text = left(pfx, length(pfx) - {len(sep)})"
            f" || {_lit(close)} THEN '{{}}'"
            if not plan.suffix
            else ""
        )
        attrs = (
            f"CASE WHEN NOT ok THEN NULL WHEN r2 IS NOT NULL AND {ok2} THEN r2{only_mapped}"
            f" ELSE json_merge_patch(text, {_lit(patch)}) END"
        )
    elif paths:
        attrs = f"CASE WHEN ok THEN json_merge_patch(text, {_lit(patch)}) END"
    else:
        attrs = "CASE WHEN ok THEN text END"
    sev_text = "v_level" if has("level") else "NULL"
    sevnum = severity_sql("v_level", plan, mapping) if has("level") else "NULL"
    if has("sevnum"):
        sevnum = (
            f"coalesce(CASE WHEN TRY_CAST(v_sevnum AS INTEGER) BETWEEN 1 AND 24"
            f" THEN TRY_CAST(v_sevnum AS TINYINT) END, {sevnum})"
        )
    svc = "coalesce(nullif(v_service, ''), $service)" if has("service") else "$service"

    def is_dd(role: str) -> bool:
        return plan.fields.get(role, ("",))[0] in ("dd", "dd.trace_id", "dd.span_id")

    select = [
        "$source_id AS source_id",
        "CASE WHEN ok THEN line ELSE -line END AS line",
        f"{ts_sql('v_time') if has('time') else 'NULL'} AS timestamp",
        f"{svc} AS service_name",
        f"{sev_text} AS severity_text",
        f"{sevnum} AS severity_number",
        f"CASE WHEN ok THEN {'v_message' if has('message') else 'NULL'}"
        " ELSE left(text, 10000) END AS body",
        f"{trace_id_sql(id_sql('v_trace', is_dd('trace'))) if has('trace') else 'NULL'}"
        " AS trace_id",
        f"{span_id_sql(id_sql('v_span', is_dd('span'))) if has('span') else 'NULL'} AS span_id",
        f"{attrs} AS attributes",
    ]
    return f"INSERT INTO logs BY NAME SELECT {', '.join(select)} FROM ({mid})"


def _choose_style(con: Any, plan: Plan, raws: list[bytes]) -> None:
    """Keep the textual fast path only if a layout fits at least half the sampled lines."""
    if plan.prefix is None or not raws:
        plan.prefix, plan.suffix, plan.carried = None, [], []
        return
    import pyarrow as pa

    sample = pa.table(
        {
            "line": pa.array(range(1, len(raws) + 1), pa.int64()),
            "text": pa.array([r.decode("utf-8", "replace") for r in raws], pa.large_string()),
        }
    )
    best, best_n = None, 0
    con.register("_obsctl_jsonl_sample", sample)
    try:
        jpaths = "[" + ", ".join(_lit(_jpath(p)) for p in _extract_paths(plan)) + "]"
        val = _values(plan, "f")
        for style in STYLES:
            pfx, _, sfx, _ = _edges_sql(plan, style, val)
            n = con.execute(
                f"SELECT count(*) FILTER (WHERE starts_with(text, {pfx})"
                f" AND ends_with(text, {sfx})) FROM (SELECT text,"
                f" TRY(json_extract_string(text, {jpaths})) AS f FROM _obsctl_jsonl_sample)"
            ).fetchall()[0][0]
            if n > best_n:
                best, best_n = style, n
    finally:
        try:
            con.unregister("_obsctl_jsonl_sample")
        except Exception:
            pass
    if best is not None and best_n * 2 >= len(raws):
        plan.style = best
    else:
        plan.prefix, plan.suffix, plan.carried = None, [], []


def severity_mapping(con: Any, plan: Plan) -> dict[str, int | None]:
    """``obsctl_severity`` of the head's level spellings and the common ones, run once."""
    if "level" not in plan.fields or plan.syslog_levels:
        return {}
    words = list(dict.fromkeys([*plan.levels, *COMMON_LEVELS]))
    rows = con.execute(
        "SELECT w, obsctl_severity(w) FROM unnest($words) AS t(w)", {"words": words}
    ).fetchall()
    return {w: (int(n) if n is not None else None) for w, n in rows}


# ---------------------------------------------------------------------------------------
# Loading


_END = object()


class LinePrefetch:
    """Line batches read by a background thread, so Python reading overlaps DuckDB work.

    Yields ``Source.line_batches`` with trailing whitespace (and the line end) removed
    from ``text``; blank lines become empty strings. ``close`` stops the thread.
    """

    def __init__(self, src: Source, ctx: LoadContext, depth: int = 2) -> None:
        self._src = src
        self._ctx = ctx
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="obsctl-line-read", daemon=True)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            for batch in self._src.line_batches(strip=False):
                # Trailing blanks and line ends go here, in this thread: rtrim in SQL
                # with a character set costs more than the JSON parse.
                text = pc.utf8_rtrim_whitespace(batch.column(1))
                batch = pa.record_batch([batch.column(0), text], schema=batch.schema)
                if not self._put(batch):
                    return
        except BaseException as exc:  # handed to the consumer, re-raised there
            self._put(exc)
            return
        self._put(_END)

    def batches(self) -> Iterator[pa.RecordBatch]:
        self._thread.start()
        while True:
            item = self._q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            if self._ctx.progress is not None:
                self._ctx.progress(self._src.consumed)
            yield item

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


@contextmanager
def unordered_insert(con: Any) -> Iterator[None]:
    """Let DuckDB insert in parallel without keeping the input order, for one statement.

    Every row carries its ``line``, so the physical order does not matter, and DuckDB's
    ``preserve_insertion_order`` (a global setting) costs about a quarter of the load
    time on two cores. The previous value is restored afterwards.
    """
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        try:
            con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")
        except Exception:  # an aborted transaction: the caller's error matters more
            pass


def _reason(text: str) -> str:
    """Why a rejected line is not a JSON object (the parser's own words)."""
    try:
        v = json.loads(text)
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        return f"invalid JSON: {msg}" + (f" (column {col})" if col else "")
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number"
    )
    return f"not a JSON object ({kind})"


def load(src: Source, ctx: LoadContext) -> None:
    """Load a JSON-lines file with one INSERT over its line batches (see the module doc)."""
    import pyarrow as pa

    con = ctx.con
    schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])
    pre = LinePrefetch(src, ctx)
    try:
        batches = pre.batches()
        # Plan from the first lines of the first batch: complete lines, however long
        # (the 64 KiB head may not hold one).
        first = next(batches, None)
        head: list[bytes] = []
        if first is not None:
            texts = first.column(1).slice(0, 4 * SAMPLE_LINES).to_pylist()
            head = [t.encode("utf-8", "replace") for t in texts]
        objs, raws, _ = _parse_lines(head, SAMPLE_LINES)
        plan = plan_from_sample(objs)
        _choose_style(con, plan, raws)
        sql = build_sql(plan, severity_mapping(con, plan), "_obsctl_jsonl_in")
        rest = batches if first is None else itertools.chain([first], batches)
        con.register("_obsctl_jsonl_in", pa.RecordBatchReader.from_batches(schema, rest))
        try:
            with unordered_insert(con):
                inserted = con.execute(
                    sql, {"source_id": ctx.source_id, "service": ctx.service}
                ).fetchall()[0][0]
        finally:
            try:
                con.unregister("_obsctl_jsonl_in")
            except Exception:  # an aborted transaction refuses it; keep the first error
                pass
    finally:
        pre.close()
    collect_rejects(ctx, int(inserted), _reason, f"{src.display}: no line is a JSON object")


def collect_rejects(
    ctx: LoadContext, inserted: int, reason: Callable[[str], str], none_loaded: str
) -> None:
    """Turn the rows written with a negated line number into rejects, then drop them.

    Counts them, keeps the first ``MAX_KEPT_REJECTS`` (line, ``reason(text)``, text),
    deletes them from ``logs`` and adds the rest of ``inserted`` to ``ctx.records``.
    Raises ``IngestError(none_loaded + first reject)`` when no line at all was good.
    """
    con = ctx.con
    where = "source_id = $sid AND line < 0"
    sid = {"sid": ctx.source_id}
    nbad = int(con.execute(f"SELECT count(*) FROM logs WHERE {where}", sid).fetchall()[0][0])
    if nbad:
        rows = con.execute(
            f"SELECT -line, body FROM logs WHERE {where} ORDER BY line DESC LIMIT $n",
            {**sid, "n": MAX_KEPT_REJECTS},
        ).fetchall()
        con.execute(f"DELETE FROM logs WHERE {where}", sid)
        if nbad == inserted:
            line, text = rows[0]
            raise IngestError(f"{none_loaded} (line {line}: {reason(text or '')})")
        ctx.reject_many(nbad, (Reject(int(ln), reason(t or ""), t or "") for ln, t in rows))
    ctx.records += inserted - nbad


FORMATS = [
    FormatSpec(
        name="jsonl",
        signal="logs",
        description="JSON lines logs (zap, pino, bunyan, ECS, journald, structlog, …)",
        sniff=sniff,
        load=load,
        aliases=("json-lines", "ndjson"),
    )
]
