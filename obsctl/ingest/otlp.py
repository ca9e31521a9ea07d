"""Shared machinery of the three OTLP/JSON loaders (logs, metrics, traces).

Shapes accepted, for every signal:

* **JSON lines** as the OpenTelemetry Collector ``file`` exporter writes them: one
  ``Export{Logs,Metrics,Trace}ServiceRequest`` per line. Such files reach gigabytes, so
  records never pass through Python: ``Source.line_batches`` cuts the file into Arrow
  ``(line, text)`` batches, gathered in groups of ``GROUP_BYTES``. DuckDB parses each
  group twice, in parallel over its batches: with a small *check* structure into a temp
  table (the root list, plus what the signal's record-level rejects need), from which
  malformed lines, lines that are not requests and bad records are rejected with their
  line numbers at the end; and with the full structure (``TRY(json_transform(…))``) in
  the signal's one ``INSERT … SELECT``, which unnests resource → scope → records and
  converts the values with the SQL expressions built here (bad lines yield no rows).
* **One request document**, e.g. the pretty-printed ``opentelemetry-proto`` examples, or
  a JSON array of requests: checked with orjson and fed to the same SQL as one row per
  request (the records' ``line`` is then NULL).

Encoding rules followed (OTLP/JSON spec, plus what generic protobuf-JSON writers emit):
lowerCamelCase field names, or snake_case proto names (chosen per file from its head);
64-bit integers as strings or numbers; enums as integers or as their names
(``SPAN_KIND_SERVER``); trace/span ids as hex (spec) or base64 (protobuf JSON mapping),
stored as lowercase hex; empty ``scope: {}`` / ``status: {}``; resources without
attributes. The pre-1.0 ``instrumentationLibrary{Spans,Logs,Metrics}`` lists are read as
scopes too.

Values: an ``AnyValue`` becomes its JSON value: string, integer, double (NaN/Infinity
stay strings), boolean; ``bytesValue`` stays its base64 string; ``arrayValue`` → array and
``kvlistValue`` → object, at any depth. An attribute list becomes a JSON object (a
duplicate key is kept as written; most readers take the last). Attribute lists are read
as ``{key: JSON, value: JSON}`` and the object is assembled in SQL by slicing each value's
minified JSON (``{"stringValue":"x"}`` → ``"x"``; arrays of scalars by a regex), several
times cheaper than converting typed structs. Only values the slicing does not handle
(kvlists, arrays holding maps) go through ``anyvalue_py`` in a DuckDB UDF, which DuckDB
calls for those values alone; the result is still validated as JSON, and a list that
fails is converted whole by the UDF. A record's service is its resource's
``service.name``, else the fallback. Times are ``*UnixNano`` integers; 0 (the proto
default for "unset") becomes NULL.

Measured (2 cores, collector-style file, 300 MiB, 222k spans of 20 attributes): DuckDB's
``read_json`` + ``unnest`` into a table takes ~17 s, this loader ~7.5 s; with a kvlist
attribute on every span (the UDF path) it is about 1.9× slower than without.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, Reject

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from obsctl.ingest.base import LoadContext
    from obsctl.ingest.files import Source

SAMPLE_REJECTS = 1000
"""Rejects fetched from SQL per kind (all are counted)."""

_CAMEL_RE = re.compile(r"(?<=[a-z0-9])([A-Z])")


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class Names:
    """Field spelling of one file: OTLP/JSON lowerCamelCase or proto snake_case."""

    snake: bool = False

    def __call__(self, camel: str) -> str:
        """The field name as spelled in this file (``traceId`` → ``trace_id``)."""
        return _CAMEL_RE.sub(r"_\1", camel).lower() if self.snake else camel

    def q(self, camel: str) -> str:
        """The field name, quoted as a SQL identifier (struct fields keep their case)."""
        return '"' + self(camel) + '"'


def detect_names(head: bytes, root: str) -> Names:
    """Pick the spelling from the file's head: ``resource_spans`` means snake_case."""
    snake_root = _CAMEL_RE.sub(r"_\1", root).lower().encode()
    if b'"' + root.encode() + b'"' in head:
        return Names(False)
    return Names(b'"' + snake_root + b'"' in head)


def sniff_request(head: bytes, root: str) -> float:
    """Score a head for one OTLP request kind, ``root`` = ``resourceSpans`` etc.

    0.95 when the root key (either spelling) opens the first JSON object of the file (or
    of a JSON array of requests), 0.6 when it only appears somewhere in a JSON head.
    """
    try:
        keys = (root.encode(), _CAMEL_RE.sub(r"_\1", root).lower().encode())
        text = head.lstrip()
        if not text.startswith((b"{", b"[")):
            return 0.0
        for key in keys:
            if re.match(rb'\[?\s*\{\s*"' + key + rb'"\s*:', text):
                return 0.95
        for key in keys:
            if re.search(rb'"' + key + rb'"\s*:\s*\[', text):
                return 0.6
    except Exception:
        return 0.0
    return 0.0


# --------------------------------------------------------------- json_transform types


def kvlist_type(n: Names) -> list[dict[str, Any]]:
    """Structure of a ``KeyValue`` list (``attributes``), key and value kept as JSON.

    Keeping the minified JSON of both lets ``attrs_json_sql`` build the object by string
    slicing in the common case, which is several times cheaper than a typed struct.
    """
    return [{"key": "JSON", "value": "JSON"}]


def resource_type(n: Names) -> dict[str, Any]:
    """Structure of a ``Resource``."""
    return {n("attributes"): kvlist_type(n)}


def scope_type(n: Names) -> dict[str, Any]:
    """Structure of an ``InstrumentationScope`` (its attributes are not stored)."""
    return {"name": "VARCHAR", "version": "VARCHAR"}


def request_type(n: Names, root: str, scope_list: str, records: str, record: dict) -> dict:
    """Structure of a whole request: root → resource/scope lists → records.

    The deprecated ``instrumentationLibrary<X>`` list (same shape, scope named
    ``instrumentationLibrary``) is read alongside the current ``scope<X>`` one.
    """
    old_list = scope_list.replace("scope", "instrumentationLibrary", 1)
    scoped = {
        n("scope"): scope_type(n),
        n("instrumentationLibrary"): scope_type(n),
        n(records): [record],
    }
    return {
        n(root): [
            {
                n("resource"): resource_type(n),
                n(scope_list): [scoped],
                n(old_list): [scoped],
            }
        ]
    }


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: list[str]) -> str:
    """A SQL list literal of strings."""
    return "[" + ", ".join(sql_str(x) for x in values) + "]"


def structure_literal(structure: dict) -> str:
    """The ``json_transform`` structure as a SQL literal."""
    return sql_str(json.dumps(structure))


# --------------------------------------------------------------------- SQL values


def _prefix(n: Names, field: str) -> str:
    return '{"' + n(field) + '":'


def anyvalue_fast_sql(v: str, n: Names) -> str:
    """SQL: the JSON of an ``AnyValue`` given as minified JSON text, by string slicing.

    Handles the one-member scalar objects (``{"stringValue":"x"}`` → ``"x"``, quoted
    ``intValue`` → number), arrays of scalars and ``{}`` (→ null); NULL for anything
    else (nested maps, odd encodings), which the callers send to the exact UDF. It
    trusts the ``oneof``: a value object with two members (not valid OTLP) is not
    detected, its second member ends up next to the attribute.
    """
    cases = []
    for field in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        pre = _prefix(n, field)
        cases.append(
            f"WHEN starts_with({v}, {sql_str(pre)})"
            f" THEN substr({v}, {len(pre) + 1}, length({v}) - {len(pre) + 1})"
        )
    pre = _prefix(n, "intValue")
    inner = f"substr({v}, {len(pre) + 1}, length({v}) - {len(pre) + 1})"
    cases.append(
        f"WHEN starts_with({v}, {sql_str(pre)}) THEN CASE WHEN starts_with({inner}, '\"')"
        f" THEN substr({inner}, 2, length({inner}) - 2) ELSE {inner} END"
    )
    # Arrays of scalars (common in attributes): unwrap each element with a regex. Inside
    # minified JSON a '{' can only start an object or sit in a string; any left after the
    # unwrapping (nested values, braces in strings) sends the value to the exact path.
    pre = _prefix(n, "arrayValue") + '{"values":'
    arr = f"substr({v}, {len(pre) + 1}, length({v}) - {len(pre) + 2})"
    scalars = "|".join(n(f) for f in ("stringValue", "boolValue", "doubleValue", "bytesValue"))
    unwrapped = (
        f'regexp_replace(regexp_replace({arr}, \'\\{{"{n("intValue")}":"?(-?[0-9]+)"?\\}}\','
        f" '\\1', 'g'), '\\{{\"(?:{scalars})\":(\"(?:[^\"\\\\]|\\\\.)*\"|[^{{}}\",\\[\\]]*)\\}}',"
        " '\\1', 'g')"
    )
    cases.append(
        f"WHEN starts_with({v}, {sql_str(pre)})"
        f" THEN nullif(regexp_replace({unwrapped}, '(?s)^.*\\{{.*$', '!'), '!')"
    )
    return f"CASE WHEN {v} = '{{}}' THEN 'null' {' '.join(cases)} END"


def anyvalue_sql(v: str, n: Names) -> str:
    """SQL: an ``AnyValue`` given as JSON text → its JSON value (JSON; NULL if NULL)."""
    return f"coalesce(TRY_CAST({anyvalue_fast_sql(v, n)} AS JSON), {UDF_VALUE}({v}::VARCHAR)::JSON)"


def anyvalue_text_sql(v: str, n: Names) -> str:
    """SQL for an ``AnyValue`` (JSON text) as text: a string as it is, else JSON text."""
    pre = _prefix(n, "stringValue")
    return (
        f"CASE WHEN {v} IS NULL THEN NULL WHEN starts_with({v}, {sql_str(pre)})"
        f" THEN json_extract_string({v}, '$.{n('stringValue')}')"
        f" ELSE nullif({anyvalue_sql(v, n)}::VARCHAR, 'null') END"
    )


def attrs_json_sql(attrs: str, n: Names) -> str:
    """SQL for a ``KeyValue`` list (as read by ``kvlist_type``) → JSON object (``{}``).

    The members are concatenated from the sliced values, a value the slicing does not
    handle coming from the exact UDF (DuckDB calls it for those values only). Should the
    object still not be valid JSON (odd keys, a value with two members), the whole list
    is converted by the exact UDF instead.
    """
    value = (
        f"coalesce({anyvalue_fast_sql('_kv.value', n)}, {UDF_VALUE}(_kv.value::VARCHAR), 'null')"
    )
    fast = (
        f"'{{' || array_to_string(list_transform({attrs}, lambda _kv:"
        f" coalesce(_kv.key, '!') || ':' || {value}), ',') || '}}'"
    )
    return (
        f"coalesce(TRY_CAST({fast} AS JSON), {UDF_ATTRS}(to_json({attrs})::VARCHAR)::JSON,"
        " '{}'::JSON)"
    )


def id_sql(expr: str) -> str:
    """SQL: a trace/span id, hex (any case) or base64, as lowercase hex; '' → NULL.

    16/32 hex digits are hex; 11/12/22/24 characters (8 or 16 bytes in base64, with or
    without padding, standard or URL alphabet) are decoded; anything else is lowercased.
    """
    return (
        f"CASE WHEN {expr} IS NULL OR {expr} = '' THEN NULL"
        f" WHEN length({expr}) IN (16, 32) AND regexp_full_match({expr}, '[0-9a-fA-F]*')"
        f" THEN lower({expr})"
        f" WHEN length({expr}) IN (11, 12, 22, 24) THEN coalesce(lower(hex(TRY(from_base64("
        f"rpad(translate({expr}, '-_', '+/'), ((length({expr}) + 3) // 4 * 4)::INTEGER, '='))))),"
        f" lower({expr}))"
        f" ELSE lower({expr}) END"
    )


def ns_sql(expr: str) -> str:
    """SQL: a ``*UnixNano`` value (string or number text) as BIGINT ns; 0 → NULL."""
    return (
        f"nullif(coalesce(TRY_CAST({expr} AS BIGINT), TRY_CAST(TRY_CAST({expr} AS DOUBLE)"
        " AS BIGINT)), 0)"
    )


def ts_sql(expr: str) -> str:
    """SQL: a ``*UnixNano`` value as ``TIMESTAMP_NS``; 0 or unreadable → NULL."""
    return f"make_timestamp_ns({ns_sql(expr)})"


def enum_sql(expr: str, names: list[str], prefix: str, default: str | None) -> str:
    """SQL mapping an enum written as an int or as its name to one of ``names``.

    ``names[i]`` is the (upper-case) label of value ``i``; a name is matched after
    dropping ``prefix`` (``SPAN_KIND_SERVER`` → ``SERVER``). Unknown or missing values
    give ``default``.
    """
    lst = sql_list(names)
    dflt = sql_str(default) if default is not None else "NULL"
    return (
        f"coalesce(CASE WHEN regexp_full_match({expr}, '[0-9]+')"
        f" THEN {lst}[TRY_CAST({expr} AS INTEGER) + 1]"
        f" ELSE {lst}[list_position({lst}, regexp_replace(upper({expr}), '^{prefix}', ''))]"
        f" END, {dflt})"
    )


# ----------------------------------------------------------------- exact, in Python

UDF_ATTRS = "_obsctl_otlp_attrs"
"""DuckDB UDF: a ``KeyValue`` list's JSON → the JSON object (see ``attrs_py``)."""
UDF_VALUE = "_obsctl_otlp_value"
"""DuckDB UDF: an ``AnyValue``'s JSON → its JSON value (see ``anyvalue_py``)."""

_MAX_DEPTH = 64
_KEYS = {
    name: (name, _CAMEL_RE.sub(r"_\1", name).lower())
    for name in (
        "stringValue",
        "boolValue",
        "intValue",
        "doubleValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
    )
}


def anyvalue_py(value: Any, depth: int = 0) -> Any:
    """An OTLP ``AnyValue`` (parsed JSON, either spelling) → its plain JSON value.

    Integers written as strings become ints, doubles floats (NaN/±Infinity stay strings),
    booleans bools, ``bytesValue`` stays base64; arrays and kvlists recurse. An empty or
    unknown value is None. Values nested deeper than 64 levels are kept as written.
    """
    if not isinstance(value, dict) or depth > _MAX_DEPTH:
        return value
    for camel, keys in _KEYS.items():
        for key in keys:
            if key not in value:
                continue
            v = value[key]
            if camel == "intValue":
                try:
                    return int(v)
                except (TypeError, ValueError):
                    return v
            if camel == "doubleValue":
                try:
                    f = float(v)
                except (TypeError, ValueError):
                    return v
                return f if f - f == 0 else v
            if camel == "boolValue":
                return (
                    v
                    if isinstance(v, bool)
                    else {"true": True, "false": False}.get(str(v).lower(), v)
                )
            if camel == "arrayValue":
                items = v.get("values") if isinstance(v, dict) else None
                return [anyvalue_py(x, depth + 1) for x in items or []]
            if camel == "kvlistValue":
                items = v.get("values") if isinstance(v, dict) else None
                return attrs_py(items, depth + 1)
            return v
    return None


def attrs_py(items: Any, depth: int = 0) -> dict[str, Any]:
    """An OTLP ``KeyValue`` list (parsed JSON) → a dict (later keys win)."""
    out: dict[str, Any] = {}
    for kv in items or []:
        if isinstance(kv, dict):
            out[str(kv.get("key") or "")] = anyvalue_py(kv.get("value"), depth)
    return out


def register_udfs(con: duckdb.DuckDBPyConnection) -> None:
    """Create the exact-conversion UDFs on a connection (replacing earlier ones)."""
    import orjson
    import pyarrow as pa

    def dumps(x: Any) -> str:
        return orjson.dumps(x, default=str).decode()

    def convert(fn: Callable[[Any], Any]) -> Callable[..., Any]:
        # No annotations on ``run``: DuckDB resolves them at registration time.
        def run(arr):  # type: ignore[no-untyped-def]
            out = []
            for text in arr.to_pylist():
                try:
                    out.append(None if text is None else dumps(fn(orjson.loads(text))))
                except orjson.JSONDecodeError:
                    out.append(dumps(text))
            return pa.array(out, pa.string())

        return run

    for name, fn in ((UDF_ATTRS, attrs_py), (UDF_VALUE, anyvalue_py)):
        with contextlib.suppress(Exception):
            con.remove_function(name)
        con.create_function(
            name, convert(fn), ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False
        )


def unregister_udfs(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the UDFs again (leaves the store connection as it was)."""
    for name in (UDF_ATTRS, UDF_VALUE):
        with contextlib.suppress(Exception):
            con.remove_function(name)


# ------------------------------------------------------------------ SQL, structure


def service_sql(attrs: str, n: Names) -> str:
    """SQL: the ``service.name`` string of a resource attribute list, NULL if none."""
    return (
        f"nullif(json_extract_string(list_filter({attrs}, lambda _s: _s.key = '\"service.name\"')"
        f"[1].value, '$.{n('stringValue')}'), '')"
    )


def scope_lists_sql(rs: str, n: Names, scope_list: str) -> str:
    """SQL: a resource's scope list, plus the deprecated ``instrumentationLibrary`` one."""
    old_list = scope_list.replace("scope", "instrumentationLibrary", 1)
    return f"list_concat(coalesce({rs}.{n.q(scope_list)}, []), coalesce({rs}.{n.q(old_list)}, []))"


def scope_field_sql(ss: str, n: Names, field: str) -> str:
    """SQL: the scope's ``name``/``version`` ('' → NULL), current or deprecated spelling."""
    return (
        f"nullif(coalesce({ss}.{n.q('scope')}.{field},"
        f" {ss}.{n.q('instrumentationLibrary')}.{field}), '')"
    )


# ------------------------------------------------------------------------- loading


GROUP_BYTES = 128 * 1024 * 1024
"""Lines are loaded in groups of about this much text: enough Arrow batches for DuckDB to
parse in parallel, while memory stays bounded however large the file is."""

Inserter = Callable[["LoadContext", Names, str], None]
"""``insert(ctx, names, requests)``: the signal's ``INSERT … SELECT`` from ``requests``, a
SQL relation with ``line BIGINT`` and ``r`` (the request parsed with the signal's full
structure; NULL or without root list for lines already rejected, which must yield no
rows). Adds its row count to ``ctx.records``."""

Rejecter = Callable[["LoadContext", Names, str], None]
"""``reject(ctx, names, table)``: the signal's record-level rejects, from ``table``:
``line BIGINT`` and ``chk`` (each well-formed request parsed with the signal's small
*check* structure)."""


def load_requests(
    src: Source,
    ctx: LoadContext,
    *,
    root: str,
    structure: Callable[[Names], dict],
    check: Callable[[Names], dict],
    insert: Inserter,
    reject: Rejecter | None,
    what: str,
    requests: Iterator[pa.Table] | None = None,
) -> None:
    """Load an OTLP/JSON file of one signal: JSON lines or a single request document.

    Each group of lines is parsed twice, both times by DuckDB in parallel over the Arrow
    batches: once with the small ``check`` structure, kept in a temp table (to reject
    malformed lines, non-requests and bad records with their line numbers), and once with
    the full ``structure`` by the signal's INSERT.

    Args:
        src: the file.
        ctx: the load context (its transaction is open).
        root: the request's top key (``resourceSpans``…), in camelCase.
        structure: the full ``json_transform`` structure for a spelling.
        check: the small structure for rejects; it must contain the root key.
        insert: the signal's INSERT, see ``Inserter``.
        reject: the signal's record-level rejects, see ``Rejecter``.
        what: the request's name for reasons (``ExportTraceServiceRequest``).
        requests: tables of ``(line, text)`` requests in camelCase OTLP/JSON to load
            instead of reading ``src`` as JSON (the protobuf loaders' decoded messages).

    Raises:
        IngestError: a single-document file that is not valid JSON.
    """
    import pyarrow as pa

    schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])
    if requests is not None:
        n, groups = Names(False), requests
    else:
        n = detect_names(src.head, root)
        doc = _read_document(src)
        if doc is None:
            groups = _groups(src, ctx, schema)
        else:
            groups = iter([_document_table(src, *doc, schema, ctx, what)])
    con = ctx.con
    chk_table = "_obsctl_otlp_chk"
    full = structure_literal(structure(n))
    small = structure_literal(check(n))
    register_udfs(con)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {chk_table} AS SELECT NULL::BIGINT AS line,"
            f" json_transform('{{}}', {small}) AS chk, NULL::VARCHAR AS excerpt LIMIT 0"
        ).fetchall()
        for group in groups:
            con.register("_obsctl_otlp_in", group)
            try:
                con.execute(
                    f"INSERT INTO {chk_table} SELECT line, chk,"
                    f" CASE WHEN chk IS NULL OR chk.{n.q(root)} IS NULL"
                    "      THEN rtrim(left(text, 200), chr(13) || chr(10)) END"
                    f" FROM (SELECT line, text, TRY(json_transform(text, {small})) AS chk"
                    "       FROM _obsctl_otlp_in WHERE NOT regexp_full_match(text, '\\s*'))"
                ).fetchall()
                insert(
                    ctx,
                    n,
                    f"(SELECT line, TRY(json_transform(text, {full})) AS r FROM _obsctl_otlp_in)",
                )
            finally:
                with contextlib.suppress(Exception):  # never mask the error that got us here
                    con.unregister("_obsctl_otlp_in")
        bad = f"chk IS NULL OR chk.{n.q(root)} IS NULL"
        reject_from_sql(
            ctx,
            f"SELECT line, CASE WHEN chk IS NULL THEN 'invalid JSON'"
            f" ELSE 'not an OTLP {what} (no {n(root)} list)' END, excerpt"
            f" FROM {chk_table} WHERE {bad}",
        )
        if reject is not None:
            reject(ctx, n, f"(SELECT line, chk FROM {chk_table} WHERE NOT ({bad}))")
        # On an error the orchestrator's rollback removes the temp table with the rest.
        con.execute(f"DROP TABLE {chk_table}").fetchall()
    finally:
        unregister_udfs(con)


def _groups(src: Source, ctx: LoadContext, schema: pa.Schema) -> Iterator[pa.Table]:
    """The file's line batches, gathered into tables of about ``GROUP_BYTES``."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in src.line_batches(strip=False):
        pending.append(batch)
        size += batch.nbytes
        if size >= GROUP_BYTES:
            yield pa.Table.from_batches(pending, schema)
            pending, size = [], 0
            if ctx.progress is not None:
                ctx.progress(src.consumed)
    if pending:
        yield pa.Table.from_batches(pending, schema)


def reject_from_sql(ctx: LoadContext, sql: str, params: Any = None) -> int:
    """Count and sample rejects from a query returning ``(line, reason, excerpt)``.

    Returns the number of rejects.
    """
    con = ctx.con
    total = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0]
    if total:
        rows = con.execute(
            f"SELECT * FROM ({sql}) ORDER BY 1 NULLS LAST LIMIT {SAMPLE_REJECTS}", params
        ).fetchall()
        ctx.reject_many(total, [Reject(r[0], r[1], r[2] or "") for r in rows])
    return total


def insert_count(ctx: LoadContext, sql: str, params: Any = None) -> int:
    """Run an ``INSERT … SELECT`` and add its row count to ``ctx.records``."""
    rows = ctx.con.execute(sql, params).fetchall()
    count = int(rows[0][0]) if rows else 0
    ctx.records += count
    return count


def _read_document(src: Source) -> tuple[Any, str] | None:
    """``(parsed, text)`` if the file is one JSON document spread over lines, else None.

    JSON lines (first non-blank line is complete JSON, or longer than the head) → None.
    A first line that is only the start of a document (``{``) means a pretty-printed
    request; if the whole file then fails to parse but other lines are complete JSON,
    it is JSON lines with a broken first line (None: its lines are rejected one by one).
    orjson parses; the stdlib takes over for what orjson refuses (integers beyond 64 bits).
    """
    import orjson

    head = src.head
    start = len(head) - len(head.lstrip())
    nl = head.find(b"\n", start)
    if nl < 0:
        return None
    try:
        orjson.loads(head[start:nl])
        return None
    except orjson.JSONDecodeError:
        pass
    data = src.read_utf8()
    try:
        return orjson.loads(data), data.decode("utf-8", "replace")
    except orjson.JSONDecodeError as exc:
        error = exc
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(text), text
    except ValueError:
        pass
    for line in head[nl + 1 :].splitlines()[:-1]:
        if line.strip():
            try:
                orjson.loads(line)
                return None
            except orjson.JSONDecodeError:
                continue
    raise IngestError(f"{src.display}: not valid JSON: {error}")


def _document_table(
    src: Source, doc: Any, text: str, schema: pa.Schema, ctx: LoadContext, what: str
) -> pa.Table:
    """One row per request of a document: the object itself, or each item of an array."""
    import pyarrow as pa

    if isinstance(doc, list):
        texts = []
        for i, item in enumerate(doc, 1):
            if isinstance(item, dict):
                texts.append(json.dumps(item))
            else:
                ctx.reject(i, f"array item {i} is not an OTLP {what}", json.dumps(item))
    elif isinstance(doc, dict):
        texts = [text]
    else:
        raise IngestError(
            f"{src.display}: not an OTLP {what}: the document is a JSON {type(doc).__name__}"
        )
    return pa.table(
        {
            "line": pa.array([None] * len(texts), pa.int64()),
            "text": pa.array(texts, pa.large_string()),
        },
        schema=schema,
    )


# ------------------------------------------------------------------------- protobuf

PROTO_SCORE = 0.8
"""Sniff score of a binary OTLP request whose structure checked out to its first record."""

_LEN, _VARINT, _I64, _I32 = 2, 0, 1, 5
_CONTAINER = {1: _LEN, 2: _LEN, 3: _LEN}  # ResourceX / ScopeX: resource|scope, list, schema
_RECORDS: dict[str, dict[int, int]] = {
    "traces": {
        **dict.fromkeys((1, 2, 3, 4, 5, 9, 11, 13, 15), _LEN),
        **dict.fromkeys((6, 10, 12, 14), _VARINT),
        7: _I64,
        8: _I64,
        16: _I32,
    },
    "logs": {
        **dict.fromkeys((3, 5, 6, 9, 10, 12), _LEN),
        2: _VARINT,
        7: _VARINT,
        1: _I64,
        11: _I64,
        8: _I32,
    },
    "metrics": dict.fromkeys((1, 2, 3, 5, 7, 9, 10, 11, 12), _LEN),
}
"""Field number → wire type of a Span, a LogRecord and a Metric."""


def _wire_fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(field, wire type, value start, value end)`` of a protobuf message in ``buf``.

    ``end`` may lie past the buffer (a message cut by the head): iteration then stops
    quietly at the cut. Raises ValueError on bytes that cannot be protobuf.
    """
    avail = min(end, len(buf))
    pos = start

    def varint(p: int) -> tuple[int, int] | None:
        shift = value = 0
        while p < avail:
            b = buf[p]
            value |= (b & 0x7F) << shift
            p += 1
            if b < 0x80:
                return value, p
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")
        return None

    while pos < avail:
        key = varint(pos)
        if key is None:
            return
        tag, pos = key
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise ValueError("field 0")
        if wire == _VARINT:
            v = varint(pos)
            if v is None:
                return
            yield field, wire, pos, v[1]
            pos = v[1]
        elif wire == _LEN:
            v = varint(pos)
            if v is None:
                return
            length, pos = v
            if pos + length > end:
                raise ValueError("length past the message")
            yield field, wire, pos, pos + length
            pos += length
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            yield field, wire, pos, pos + size
            pos += size
        else:
            raise ValueError(f"wire type {wire}")
    if pos > end:
        raise ValueError("field past the message")


def proto_kind(buf: bytes, start: int = 0, end: int | None = None) -> str | None:
    """Which OTLP request a binary protobuf message is: traces, logs, metrics or None.

    Conservative: the request must hold a ``ResourceX`` whose ``ScopeX`` holds a first
    record, every field seen on the way must have the wire type the OTLP schema gives
    it, and the record must show its signal's marks (a span: 16- and 8-byte ids and a
    fixed64 time; a log record: a fixed64 time; a metric: a name and no fixed64 field).
    """
    end = len(buf) if end is None else end
    try:
        region = (start, end)
        for level in range(3):  # request → ResourceX → ScopeX → first record
            child = None
            for field, wire, a, b in _wire_fields(buf, *region):
                if level == 0 and (field, wire) != (1, _LEN):
                    return None
                if level > 0 and _CONTAINER.get(field) != wire:
                    return None
                if child is None and field == (1 if level == 0 else 2):
                    child = (a, b)
            if child is None:
                return None
            region = child
        fields = list(_wire_fields(buf, *region))
    except ValueError:
        return None
    if not fields:
        return None
    seen = {f: (w, b - a) for f, w, a, b in fields}
    kinds = []
    for kind, schema in _RECORDS.items():
        if any(schema.get(f) != w for f, (w, _) in seen.items()):
            continue
        if kind == "traces" and not (
            seen.get(1, (0, 0))[1] == 16
            and seen.get(2, (0, 0))[1] == 8
            and (7 in seen or 8 in seen)
        ):
            continue
        if kind == "logs" and not (1 in seen or 11 in seen):
            continue
        if kind == "metrics" and 1 not in seen:
            continue
        kinds.append(kind)
    return kinds[0] if len(kinds) == 1 else None


def _proto_framed(head: bytes) -> bool | None:
    """True: collector file exporter frames (uint32 big-endian length + message);
    False: one bare message; None: neither (not an OTLP protobuf start)."""
    if head[:1] == b"\x0a":
        return False
    if len(head) >= 5 and head[4:5] == b"\x0a" and int.from_bytes(head[:4], "big") > 0:
        return True
    return None


def sniff_proto(head: bytes, signal: str) -> float:
    """``PROTO_SCORE`` when ``head`` is a binary OTLP request (bare or framed) of ``signal``."""
    try:
        framed = _proto_framed(head)
        if framed is None:
            return 0.0
        if framed:
            size = int.from_bytes(head[:4], "big")
            return PROTO_SCORE if proto_kind(head, 4, 4 + size) == signal else 0.0
        return PROTO_SCORE if proto_kind(head) == signal else 0.0
    except Exception:
        return 0.0


def proto_requests(src: Source, ctx: LoadContext, message: Any, what: str) -> Iterator[pa.Table]:
    """Decode a binary OTLP file into ``(line, text)`` tables of OTLP/JSON requests.

    A bare message is one request (``line`` NULL); the collector's framed format gives one
    request per frame, ``line`` being the frame's 1-based number. A frame that does not
    decode, or is cut short, is rejected with its number. Decoding goes through protobuf's
    ``json_format`` (per message, in Python: binary files are not the bulk path).
    """
    import pyarrow as pa
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError

    data = src.read_bytes()
    framed = _proto_framed(data[:5])
    frames: list[tuple[int | None, bytes]] = []
    if framed:
        pos, number = 0, 0
        while pos < len(data):
            number += 1
            size = int.from_bytes(data[pos : pos + 4], "big")
            if pos + 4 > len(data) or pos + 4 + size > len(data):
                ctx.reject(number, f"frame {number} is cut short", data[pos : pos + 40].hex())
                break
            frames.append((number, data[pos + 4 : pos + 4 + size]))
            pos += 4 + size
    else:
        frames.append((None, data))
    lines: list[int | None] = []
    texts: list[str] = []
    for number, body in frames:
        try:
            msg = message.FromString(body)
        except DecodeError:
            ctx.reject(number, f"not a valid {what} protobuf", body[:40].hex())
            continue
        lines.append(number)
        texts.append(json_format.MessageToJson(msg, indent=None))
    schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])
    yield pa.table(
        {"line": pa.array(lines, pa.int64()), "text": pa.array(texts, pa.large_string())},
        schema=schema,
    )


@dataclass(frozen=True)
class SignalSQL:
    """What differs between the OTLP signals; ``formats`` builds the JSON + protobuf specs."""

    signal: str
    """``logs``, ``metrics`` or ``traces``."""
    root: str
    """The request's top-level list: ``resourceLogs``, ``resourceMetrics``…"""
    what: str
    """The request message name, for messages (``ExportLogsServiceRequest``)."""
    proto_module: str
    """The ``opentelemetry-proto`` module holding that message class."""
    structure: Callable[..., Any]
    check: Callable[..., Any]
    insert: Callable[..., Any]
    reject: Callable[..., Any] | None


def formats(sig: SignalSQL) -> list[FormatSpec]:
    """The ``otlp-<signal>`` (JSON) and ``otlp-proto-<signal>`` specs of one signal.

    Both load through the same SQL; protobuf messages are decoded with
    ``opentelemetry-proto`` and converted by protobuf's JSON mapping first.
    """

    def load(src: Source, ctx: LoadContext, requests: Iterator[pa.Table] | None = None) -> None:
        load_requests(
            src,
            ctx,
            root=sig.root,
            structure=sig.structure,
            check=sig.check,
            insert=sig.insert,
            reject=sig.reject,
            what=sig.what,
            requests=requests,
        )

    def load_proto(src: Source, ctx: LoadContext) -> None:
        import importlib

        message = getattr(importlib.import_module(sig.proto_module), sig.what)
        load(src, ctx, proto_requests(src, ctx, message, sig.what))

    def sniff_json(head: bytes, name: str) -> float:
        return sniff_request(head, sig.root)

    def sniff_binary(head: bytes, name: str) -> float:
        return sniff_proto(head, sig.signal)

    n = sig.signal
    return [
        FormatSpec(
            name=f"otlp-{n}",
            signal=n,
            description=f"OTLP/JSON {n}: Collector file exporter lines or one request document",
            sniff=sniff_json,
            load=load,
            aliases=(f"otlp-json-{n}", f"otlp-{n}-json"),
        ),
        FormatSpec(
            name=f"otlp-proto-{n}",
            signal=n,
            description=f"OTLP protobuf {n}: one request, or Collector file exporter frames",
            sniff=sniff_binary,
            load=load_proto,
            aliases=(f"otlp-protobuf-{n}",),
        ),
    ]
