"""logfmt logs (``key=value key="quoted \\" value" key=``) → ``logs``.

Accepted shapes
    One record per line of space-separated pairs, as written by Go's logfmt encoders
    (go-kit log, logrus' text formatter, Grafana, Loki, Prometheus, Heroku): bare values
    (``level=info``), double-quoted values with backslash escapes (``msg="a \\"b\\""``),
    empty values (``reason=``). Keys are any run of non-blank characters without ``=``.
    CRLF endings, blank lines (skipped), gzip and UTF-16 are handled by ``Source``.

Which key fills which column
    As for JSON lines, the head decides one key per column (the candidate present in most
    sampled lines, ties to the earlier one):

    ========== ==============================================================
    timestamp  t, ts, time, timestamp (RFC 3339 with ns kept, any offset, epochs)
    severity   level, lvl, severity (severity_number via ``obsctl_severity``)
    body       msg, message
    service    service, service.name, service_name, app, application
               (``component`` or ``logger`` are not services: they stay attributes)
    trace_id   trace_id, traceId, traceID, trace.id, dd.trace_id
    span_id    span_id, spanId, spanID, span.id, dd.span_id
    ========== ==============================================================

    Every other pair goes to ``attributes`` as a JSON string (logfmt has no types), in
    line order; a key repeated in a line appears repeated. Text of a line that is not a
    pair (a bare word) is kept in the attribute ``logfmt.unparsed``.

How it is vectorised
    ``Source.line_batches`` → one ``INSERT … SELECT`` in DuckDB: a single
    ``regexp_extract_all`` finds the pairs, ``list_transform`` splits each at its first
    ``=`` and unquotes quoted values (as JSON strings, which Go's quoting produces), and
    the columns are list look-ups (``list_position``). The time and severity expressions
    are the JSON-lines module's (fast path for ``…Z`` times, CASE over the level
    spellings of the head).

Bad lines
    A non-blank line with no ``key=value`` pair at all is rejected ("no key=value
    pairs") with its line number, using the same negated-line technique as JSON lines.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from obsctl.ingest.base import FormatSpec, LoadContext
from obsctl.ingest.logs_jsonl import (
    LinePrefetch,
    Plan,
    collect_rejects,
    id_sql,
    severity_mapping,
    severity_sql,
    unordered_insert,
)
from obsctl.store.sqlfuncs import span_id_sql, trace_id_sql, ts_sql

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

PAIR = r'([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s]*)'
"""One pair: a key, ``=``, then a quoted value (escapes allowed) or a bare run."""
PAIR_SQL = r'[^\s=]+=(?:"(?:[^"\\]|\\.)*"|\S*)'
"""The same without capture groups, for DuckDB (RE2 finds plain matches ~3× faster)."""

_PAIR_RE = re.compile(PAIR)
_TOKEN = r'(?:[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)|[^\s="]+)'
_LINE_RE = re.compile(rf"\s*{_TOKEN}(?:\s+{_TOKEN})*\s*")
_TOKEN_RE = re.compile(_TOKEN)

TIME_KEYS = ("t", "ts", "time", "timestamp")
LEVEL_KEYS = ("level", "lvl", "severity")
MESSAGE_KEYS = ("msg", "message")
SERVICE_KEYS = ("service", "service.name", "service_name", "app", "application")
TRACE_KEYS = ("trace_id", "traceId", "traceID", "trace.id", "dd.trace_id")
SPAN_KEYS = ("span_id", "spanId", "spanID", "span.id", "dd.span_id")
ROLES = {
    "time": TIME_KEYS,
    "level": LEVEL_KEYS,
    "message": MESSAGE_KEYS,
    "service": SERVICE_KEYS,
    "trace": TRACE_KEYS,
    "span": SPAN_KEYS,
}
_TIME_VALUE = re.compile(r'"?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\d{9,19}(\.\d*)?)')


def _pairs(line: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _PAIR_RE.finditer(line)]


def _sample(head: bytes, limit: int = 200) -> tuple[list[list[tuple[str, str]]], int]:
    """The pairs of the head's complete logfmt lines, and the count of non-blank lines."""
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")
    if not head.endswith(b"\n") and len(lines) > 1:
        lines = lines[:-1]  # possibly cut by the 64 KiB head
    out: list[list[tuple[str, str]]] = []
    nonblank = 0
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        nonblank += 1
        if nonblank > limit:
            break
        if s.startswith(("{", "[", "#")) or not _LINE_RE.fullmatch(s):
            continue
        pairs = _pairs(s)
        # at least two pairs, and most tokens are pairs (not prose with one "a=b")
        if len(pairs) >= 2 and len(pairs) * 2 >= len(_TOKEN_RE.findall(s)):
            out.append(pairs)
    return out, nonblank


def sniff(head: bytes, name: str) -> float:
    """Score logfmt: most lines are key=value pairs, with a time or level key."""
    try:
        recs, nonblank = _sample(head)
    except Exception:
        return 0.0
    if not recs or nonblank == 0:
        return 0.0
    frac = len(recs) / min(nonblank, 200)
    keyed = sum(
        1
        for pairs in recs
        if any(k in LEVEL_KEYS or (k in TIME_KEYS and _TIME_VALUE.match(v)) for k, v in pairs)
    )
    if keyed * 2 < len(recs) or frac < 0.5:
        return 0.0
    score = 0.9 if frac >= 0.9 else 0.6
    if name.lower().endswith((".logfmt", ".logfmt.gz")):
        score += 0.05
    return score


def plan_from_sample(recs: list[list[tuple[str, str]]]) -> Plan:
    """Choose, for each column, the key most sampled lines use."""
    plan = Plan()
    for role, cands in ROLES.items():
        best, best_n = None, 0
        for key in cands:
            if role == "time":
                n = sum(1 for p in recs if any(k == key and _TIME_VALUE.match(v) for k, v in p))
            else:
                n = sum(1 for p in recs if any(k == key and v != "" for k, v in p))
            if n > best_n:
                best, best_n = key, n
        if best is not None:
            plan.fields[role] = (best,)
    lv = plan.fields.get("level")
    if lv:
        seen: dict[str, None] = {}
        for p in recs:
            for k, v in p:
                if k == lv[0]:
                    seen[v.strip('"')] = None
        plan.levels = list(seen)[:64]
    return plan


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def build_sql(plan: Plan, mapping: dict[str, int | None], source: str) -> str:
    """The whole load as one ``INSERT … SELECT`` over the registered line batches."""
    # Quoted values are JSON strings as Go quotes them; only those with a backslash need a
    # JSON parse (a value JSON cannot read keeps its text with the usual escapes undone).
    unquote = (
        "CASE WHEN NOT (starts_with(x, '\"') AND ends_with(x, '\"') AND strlen(x) >= 2) THEN x"
        " WHEN NOT contains(x, '\\') THEN substr(x, 2, length(x) - 2)"
        " ELSE coalesce(TRY(json_extract_string(x, '$')),"
        " replace(replace(substr(x, 2, length(x) - 2), '\\\"', '\"'), '\\\\', '\\')) END"
    )
    split = (
        "SELECT line, text, m, list_transform(m, lambda p: left(p, strpos(p, '=') - 1)) AS k,"
        f" list_transform(list_transform(m, lambda p: substr(p, strpos(p, '=') + 1)),"
        f" lambda x: {unquote}) AS v"
        f" FROM (SELECT line, text, regexp_extract_all(text, {_lit(PAIR_SQL)}) AS m"
        f" FROM {source} WHERE text <> '')"
    )
    roles = list(plan.fields)
    cols = ["line", "text", "k", "v", "len(m) > 0 AS ok"]
    for role in roles:
        cols.append(f"v[list_position(k, {_lit(plan.fields[role][0])})] AS v_{role}")
    mapped = "[" + ", ".join(_lit(plan.fields[r][0]) for r in roles) + "]::VARCHAR[]"
    # Text between the pairs other than single spaces: a length sum tells, the regex
    # removal only runs for the lines that have some.
    leftover = (
        "CASE WHEN len(m) = 0 OR strlen(text) = strlen(array_to_string(m, ' ')) THEN ''"
        f" ELSE trim(regexp_replace(text, {_lit(PAIR_SQL)}, '', 'g')) END"
    )
    cols.append(f"{leftover} AS extra")
    mid = f"SELECT {', '.join(cols)} FROM ({split})"
    has = plan.fields.__contains__
    members = (
        "list_transform(list_filter(list_zip(k, v), lambda p: NOT list_contains("
        f"{mapped}, p[1])), lambda p: to_json(p[1]) || ':' || to_json(p[2]))"
    )
    unparsed = f"list_append({members}, '\"logfmt.unparsed\":' || to_json(extra))"
    attrs = (
        f"CASE WHEN ok THEN '{{' || array_to_string("
        f"CASE WHEN extra = '' THEN {members} ELSE {unparsed} END, ',') || '}}' END"
    )
    sevnum = severity_sql("v_level", plan, mapping) if has("level") else "NULL"
    svc = "coalesce(nullif(v_service, ''), $service)" if has("service") else "$service"

    def is_dd(role: str) -> bool:
        return plan.fields.get(role, ("",))[0].startswith("dd.")

    select = [
        "$source_id AS source_id",
        "CASE WHEN ok THEN line ELSE -line END AS line",
        f"{ts_sql('v_time') if has('time') else 'NULL'} AS timestamp",
        f"{svc} AS service_name",
        f"{'v_level' if has('level') else 'NULL'} AS severity_text",
        f"{sevnum} AS severity_number",
        f"CASE WHEN ok THEN {'v_message' if has('message') else 'NULL'}"
        " ELSE left(text, 10000) END AS body",
        f"{trace_id_sql(id_sql('v_trace', is_dd('trace'))) if has('trace') else 'NULL'}"
        " AS trace_id",
        f"{span_id_sql(id_sql('v_span', is_dd('span'))) if has('span') else 'NULL'} AS span_id",
        f"{attrs} AS attributes",
    ]
    return f"INSERT INTO logs BY NAME SELECT {', '.join(select)} FROM ({mid})"


def load(src: Source, ctx: LoadContext) -> None:
    """Load a logfmt file with one INSERT over its line batches (see the module doc)."""
    import pyarrow as pa

    recs, _ = _sample(src.head, 500)
    plan = plan_from_sample(recs)
    con = ctx.con
    sql = build_sql(plan, severity_mapping(con, plan), "_obsctl_logfmt_in")

    schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])
    pre = LinePrefetch(src, ctx)
    con.register("_obsctl_logfmt_in", pa.RecordBatchReader.from_batches(schema, pre.batches()))
    try:
        with unordered_insert(con):
            inserted = con.execute(
                sql, {"source_id": ctx.source_id, "service": ctx.service}
            ).fetchall()[0][0]
    finally:
        pre.close()
        try:
            con.unregister("_obsctl_logfmt_in")
        except Exception:  # an aborted transaction refuses it; keep the first error
            pass
    collect_rejects(
        ctx,
        int(inserted),
        lambda _text: "no key=value pairs",
        f"{src.display}: no line has key=value pairs",
    )


FORMATS = [
    FormatSpec(
        name="logfmt",
        signal="logs",
        description="logfmt logs (key=value pairs: Grafana, Loki, logrus, go-kit)",
        sniff=sniff,
        load=load,
    )
]
