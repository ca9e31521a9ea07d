"""Jaeger JSON traces → the ``spans`` table.

Jaeger writes the same trace in several JSON shapes, and a support bundle may hold any of
them. All of these load (``--format jaeger``, alias ``jaeger-json``):

* **query API / UI "Download JSON"**: ``{"data": [{traceID, spans, processes}, …],
  "total", "limit", "offset", "errors"}``, every trace of ``data`` is loaded;
* **a bare trace object** ``{traceID, spans, processes, warnings}`` (no ``data`` wrapper);
* **UI redux state** ``{"data": {…one trace…}, "id", "state"}``: ``data`` is an object;
* **anonymizer / uiconv input**: a bare JSON array of spans, each with an embedded
  ``process`` instead of a ``processID``; a bare array of trace objects works too;
* **api_v2 protobuf-JSON** (the domain model, also what gRPC-gateway streams in
  ``{"result": …}``): ``{"spans": […], "processMap": […]}`` with **base64** ``traceId`` /
  ``spanId``, RFC 3339 ``startTime``, protobuf ``Duration`` strings (``"5000ns"``,
  ``"0.000005s"``) and tags ``{key, vType, vStr|vInt64|vFloat64|vBool|vBinary}``;
* JSON lines of any of the above (one trace or span per line, as the Kafka JSON encoding
  writes them); a line that is not JSON is rejected with its line number.

UI-model files spell times in microseconds since the epoch (``startTime``, log
``timestamp``) and durations in microseconds; both become nanoseconds. UI-enriched spans
carry their parent's full span object inside each reference, and that copy carries its own
parent, and so on. Only the reference's ``refType``/``traceID``/``spanID`` are read, so
those nested copies are never walked and never become rows. A deep trace nests past the
JSON parser's depth limit (1024). Such a file is parsed again with every ``"span": {…}``
value blanked out by a linear token scan (``strip_span_objects``).

Column mapping:

* ``trace_id`` / ``span_id``: lowercase hex. Base64 ids (protobuf-JSON) are decoded. Span ids
  are left-padded to 16 digits. Trace ids are always 32 digits: 64-bit ids are left-padded
  with zeros, and a 128-bit id whose high half is zero keeps it (unlike Jaeger's own
  ``TraceID.String()``). Zipkin does the same, so a UI export (``0000000000000001``) and the
  protobuf-JSON of the same trace (``AAAAAAAAAAAAAAAAAAAAAQ==``) give the same id,
  ``00000000000000000000000000000001``.
* ``parent_span_id``: the first ``CHILD_OF`` reference within the same trace, else a legacy
  ``parentSpanID`` field, else the first same-trace ``FOLLOWS_FROM`` reference. That is
  Jaeger's ``Span.ParentSpanID()``, so async children still hang under their producer.
  Every other reference becomes a link: ``FOLLOWS_FROM`` references (including the one used
  as parent) and references into other traces.
* ``links``: ``[{"trace_id", "span_id", "attributes": {"opentracing.ref_type":
  "child_of"|"follows_from"}}]``, ``[]`` when none.
* ``events``: span ``logs`` → ``[{"time_unix_nano", "name", "attributes"}]``. The name is
  the ``event`` field, as the OpenTelemetry Jaeger translator does; the other fields
  become attributes.
* ``attributes``: the span tags with their types kept. int64 tags stay exact integers,
  including those the UI model writes as JSON strings because they exceed 2^53; they are
  never floats. Bool tags written as ``"true"`` become booleans. Binary tags keep their
  base64 text. Span ``warnings`` are kept as ``jaeger.warnings``. Tags that have a column
  of their own are moved there: ``span.kind`` → ``kind`` (upper case, ``UNSPECIFIED``
  when absent), ``otel.status_code`` / ``otel.status_description`` → ``status_code`` /
  ``status_message``, ``otel.scope.*`` / ``otel.library.*`` → ``scope_name`` /
  ``scope_version``, ``w3c.tracestate`` → ``trace_state``. An ``error`` tag that is
  true also sets ``status_code`` ERROR; the tag stays in ``attributes``.
* ``service_name`` / ``resource_attributes``: the span's process, found through
  ``processID`` in ``processes`` / ``processMap`` or embedded as ``process``. Its tags
  become resource attributes, plus ``service.name``. A process without a service name
  falls back to ``--service`` or the path.

Duplicate span ids, which some fixtures contain, are kept as separate rows. A span without
a usable trace or span id, or with an unreadable time, is rejected. The record number of a
reject is the span's 1-based position in the file (its line for JSON lines). The helpers
for ids, times and span columns are shared with the Zipkin module.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
import pyarrow as pa

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, json_dumps
from obsctl.ingest.files import Source

SPAN_KINDS = frozenset({"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"})

# Tags that the OpenTelemetry → Jaeger/Zipkin exporters write for fields that have a column
# of their own here; they are moved to that column rather than kept twice.
MAPPED_TAGS = frozenset(
    {
        "span.kind",
        "otel.status_code",
        "otel.status_description",
        "otel.scope.name",
        "otel.scope.version",
        "otel.library.name",
        "otel.library.version",
        "w3c.tracestate",
    }
)

_HEX = re.compile(r"[0-9a-fA-F]+")
_NUMBER = re.compile(r"\s*-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")
_RFC3339 = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


# --------------------------------------------------------------------------- shared helpers


def _hex_of(value: Any, *, prefer_base64: bool = False) -> str | None:
    """An id as lowercase hex (no padding), from hex, base64 or an integer; None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return format(value & _UINT64_MAX if value < 0 else value, "x")
    if not isinstance(value, str):
        return None
    s = value.strip()
    if not s:
        return None
    looks_hex = len(s) <= 32 and _HEX.fullmatch(s) is not None
    # base64 of an 8- or 16-byte id is 12 or 24 characters with '=' padding (11 or 22
    # without), so hex ids as written (16 or 32 digits) only collide when padding was stripped.
    if looks_hex and not (prefer_base64 and len(s) in (11, 22)):
        return s.lower()
    raw = _b64decode(s)
    if raw is not None and 0 < len(raw) <= 16:
        return raw.hex()
    return s.lower() if looks_hex else None


def _b64decode(s: str) -> bytes | None:
    padded = s + "=" * (-len(s) % 4)
    for alt in (None, b"-_"):
        try:
            return base64.b64decode(padded, altchars=alt, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def trace_id_hex(value: Any, *, prefer_base64: bool = False) -> str | None:
    """Normalise a trace id to obsctl's canonical form: 32 lowercase hex digits.

    64-bit ids (Zipkin, older Jaeger) are left-padded with zeros, as W3C trace context and
    OpenTelemetry do when they meet them, so the same trace has one id whichever format
    (or log line) names it. Queries pad user-given ids the same way.

    Args:
        value: the id as written (hex of any case, base64, or an integer).
        prefer_base64: read an ambiguous 11/22-character id as unpadded base64.

    Returns:
        The canonical hex id, or None when the value is not an id.
    """
    h = _hex_of(value, prefer_base64=prefer_base64)
    if h is None or len(h) > 32:
        return None
    return h.rjust(32, "0")


def span_id_hex(value: Any, *, prefer_base64: bool = False) -> str | None:
    """Normalise a span id: lowercase hex left-padded to 16 digits; None if not an id."""
    h = _hex_of(value, prefer_base64=prefer_base64)
    if h is None or len(h) > 32:
        return None
    return h.rjust(16, "0")


def rfc3339_ns(text: str) -> int | None:
    """Parse an RFC 3339 time (any fraction digits, ``Z`` or offset) to epoch nanoseconds."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, zone = m.groups()
    try:
        secs = calendar.timegm((int(y), int(mo), int(d), int(hh), int(mi), int(ss), 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    ns = secs * 1_000_000_000 + (int(frac[:9].ljust(9, "0")) if frac else 0)
    if zone and zone.upper() not in ("Z", "UTC"):
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        ns -= (-1 if zone[0] == "-" else 1) * offset * 60_000_000_000
    return ns


def _in_range(ns: int) -> int:
    if not _INT64_MIN <= ns <= _INT64_MAX:
        raise ValueError("out of range")
    return ns


def micros_to_ns(value: Any) -> int | None:
    """A microsecond count (int, float or digit string) → integer nanoseconds.

    Raises:
        ValueError: the value is present but not a number, or beyond the int64 ns range.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, int):
        return _in_range(value * 1000)
    try:
        if isinstance(value, float):
            return _in_range(round(value * 1000))
        if isinstance(value, str):
            return _in_range(int(Decimal(value.strip()) * 1000))
    except (InvalidOperation, ValueError, OverflowError) as exc:
        raise ValueError("not a number") from exc
    raise ValueError("not a number")


def time_ns(value: Any) -> int | None:
    """A Jaeger time: µs since the epoch (number or digits) or RFC 3339 text → epoch ns.

    Raises:
        ValueError: the value is present but unreadable.
    """
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        ns = rfc3339_ns(value)
        if ns is None:
            raise ValueError(f"unreadable time {value[:40]!r}")
        return _in_range(ns)
    return micros_to_ns(value)


def duration_ns(value: Any) -> int | None:
    """A duration: µs as a number, or a protobuf/Go duration string (``5000ns``, ``1.5s``).

    Raises:
        ValueError: the value is present but unreadable.
    """
    if isinstance(value, str):
        s = value.strip()
        sign = 1
        if s.startswith("-"):
            sign, s = -1, s[1:]
        parts = _DURATION_PART.findall(s)
        if parts and "".join(n + u for n, u in parts) == s:
            total = sum(Decimal(n) * _DURATION_UNITS[u] for n, u in parts)
            return _in_range(sign * int(total))
        return micros_to_ns(value)
    return micros_to_ns(value)


def status_from(attrs: dict[str, Any], tags: dict[str, Any]) -> tuple[str, str | None]:
    """The span status from OpenTelemetry exporter tags and a Jaeger ``error`` tag.

    ``otel.status_code`` (``OK``/``ERROR``) wins; otherwise an ``error`` tag that is true
    means ERROR. ``otel.status_description`` is the message. ``tags`` holds the mapped tags
    already removed from ``attrs``.
    """
    code = "UNSET"
    sc = tags.get("otel.status_code")
    if isinstance(sc, str):
        u = sc.strip().upper().removeprefix("STATUS_CODE_")
        if u in ("OK", "ERROR"):
            code = u
    if code == "UNSET":
        err = attrs.get("error")
        if err is True or (isinstance(err, str) and err.strip().lower() == "true"):
            code = "ERROR"
    msg = tags.get("otel.status_description")
    return code, (str(msg) if msg not in (None, "") else None)


def split_mapped(attrs: dict[str, Any]) -> dict[str, Any]:
    """Remove the tags that have their own column from ``attrs``; return them."""
    return {k: attrs.pop(k) for k in MAPPED_TAGS.intersection(attrs)}


def kind_from(value: Any) -> str | None:
    """A span kind word (``server``, ``SPAN_KIND_CLIENT``…) → the column value, or None."""
    if not isinstance(value, str):
        return None
    k = value.strip().upper().removeprefix("SPAN_KIND_")
    return k if k in SPAN_KINDS else None


def scope_from(tags: dict[str, Any]) -> tuple[str | None, str | None]:
    """``otel.scope.*`` (or the older ``otel.library.*``) → (scope_name, scope_version)."""
    name = tags.get("otel.scope.name", tags.get("otel.library.name"))
    version = tags.get("otel.scope.version", tags.get("otel.library.version"))
    return (
        str(name) if name not in (None, "") else None,
        str(version) if version not in (None, "") else None,
    )


SPAN_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("trace_state", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("start_time", pa.timestamp("ns")),
        ("end_time", pa.timestamp("ns")),
        ("duration_ns", pa.int64()),
        ("status_code", pa.string()),
        ("status_message", pa.string()),
        ("service_name", pa.string()),
        ("attributes", pa.string()),
        ("resource_attributes", pa.string()),
        ("scope_name", pa.string()),
        ("scope_version", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
    ]
)


@dataclass
class SpanColumns:
    """Column lists for the ``spans`` table, filled one span at a time, inserted once."""

    cols: dict[str, list[Any]] = field(default_factory=lambda: {f.name: [] for f in SPAN_SCHEMA})
    """One list per ``spans`` column (JSON columns hold serialised text)."""

    def add(
        self,
        *,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        name: str | None,
        kind: str,
        start_ns: int | None,
        dur_ns: int | None,
        status: tuple[str, str | None],
        service: str | None,
        attributes: dict[str, Any],
        resource: dict[str, Any],
        scope: tuple[str | None, str | None] = (None, None),
        events: list[dict[str, Any]] | None = None,
        links: list[dict[str, Any]] | None = None,
        trace_state: str | None = None,
    ) -> None:
        """Append one span; ``end_time`` is derived from start and duration."""
        c = self.cols
        c["trace_id"].append(trace_id)
        c["span_id"].append(span_id)
        c["parent_span_id"].append(parent_span_id)
        c["trace_state"].append(trace_state)
        c["name"].append(name)
        c["kind"].append(kind)
        c["start_time"].append(start_ns)
        end = start_ns + dur_ns if start_ns is not None and dur_ns is not None else None
        c["end_time"].append(end if end is None or _INT64_MIN <= end <= _INT64_MAX else None)
        c["duration_ns"].append(dur_ns)
        c["status_code"].append(status[0])
        c["status_message"].append(status[1])
        c["service_name"].append(service)
        c["attributes"].append(json_dumps(attributes))
        c["resource_attributes"].append(json_dumps(resource))
        c["scope_name"].append(scope[0])
        c["scope_version"].append(scope[1])
        c["events"].append(json_dumps(events or []))
        c["links"].append(json_dumps(links or []))

    def __len__(self) -> int:
        return len(self.cols["trace_id"])

    def table(self) -> pa.Table:
        """The spans gathered so far as an Arrow table in ``SPAN_SCHEMA``."""
        return pa.table(
            [pa.array(self.cols[f.name], f.type) for f in SPAN_SCHEMA], schema=SPAN_SCHEMA
        )


def read_json_documents(
    src: Source, ctx: LoadContext, what: str, *, drop_nested_spans: bool = False
) -> list[tuple[Any, int | None]]:
    """Parse a file as one JSON document, or else as JSON lines.

    Args:
        src: the file.
        ctx: where rejected lines are reported.
        what: the format's name, for the error message.
        drop_nested_spans: when the document nests deeper than the parser allows, retry
            with every ``"span": {…}`` object value replaced by null (the Jaeger UI's
            copies of a referenced span nest one level deeper per ancestor).

    Returns:
        ``(document, line)`` pairs: one pair with ``line`` None for a whole-file document,
        else one per non-empty line (lines that are not JSON are rejected).

    Raises:
        IngestError: the content is neither a JSON document nor JSON lines.
    """
    data = src.read_utf8()
    try:
        return [(orjson.loads(data), None)]
    except orjson.JSONDecodeError as exc:
        whole_error = str(exc)
    if drop_nested_spans and "depth" in whole_error and b'"span"' in data:
        try:
            return [(orjson.loads(strip_span_objects(data)), None)]
        except orjson.JSONDecodeError:
            pass
    docs: list[tuple[Any, int | None]] = []
    bad: list[tuple[int, bytes]] = []
    for i, line in enumerate(data.split(b"\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            docs.append((orjson.loads(line), i))
        except orjson.JSONDecodeError:
            bad.append((i, line))
    if not docs or (bad and bad[0][0] < (docs[0][1] or 0)):
        # Not JSON lines: a single (possibly truncated) document that does not parse.
        raise IngestError(f"{src.display}: not valid {what} JSON ({whole_error})")
    for i, line in bad:
        ctx.reject(i, "invalid JSON", line)
    return docs


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')
_SPAN_OBJECT = re.compile(rb'"span"\s*:\s*\{')


def strip_span_objects(data: bytes) -> bytes:
    """Replace the object value of every ``"span"`` key with ``null``, without parsing.

    Strings are matched as whole tokens so braces inside them do not count; the scan is
    linear and needs no recursion however deep the objects nest.
    """
    out: list[bytes] = []
    pos = 0
    tokens = _JSON_TOKEN.finditer(data)
    for m in tokens:
        if m.group() != b'"span"' or not (k := _SPAN_OBJECT.match(data, m.start())):
            continue
        depth, end = 0, len(data)
        for t in tokens:  # the same iterator: resumes at the object's opening brace
            tok = t.group()
            if tok in (b"{", b"["):
                depth += 1
            elif tok in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    end = t.end()
                    break
        out += [data[pos : k.end() - 1], b"null"]
        pos = end
    out.append(data[pos:])
    return b"".join(out)


# --------------------------------------------------------------------------- Jaeger shapes


_PROTO_VALUE_KEYS = {
    "string": "vStr",
    "bool": "vBool",
    "int64": "vInt64",
    "float64": "vFloat64",
    "binary": "vBinary",
}
_PROTO_VALUE_KINDS = {v: k for k, v in _PROTO_VALUE_KEYS.items()}


def _tag_value(tag: dict[str, Any]) -> Any:
    """A Jaeger tag/log-field value with its type kept (UI model or protobuf-JSON)."""
    if "value" in tag:  # UI model: {key, type, value}
        kind = str(tag.get("type") or "string").lower()
        v = tag["value"]
    else:  # api_v2 protobuf-JSON: {key, vType, vStr|vInt64|…}; vType STRING is the default
        kind = str(tag.get("vType") or "").lower()
        key = _PROTO_VALUE_KEYS.get(kind)
        if key is None or key not in tag:
            key = next((k for k in _PROTO_VALUE_KINDS if k in tag), None)
            kind = _PROTO_VALUE_KINDS.get(key or "", "string")
        v = tag.get(key) if key else None
    if kind == "int64":
        return _exact_int(v)
    if kind == "float64" and isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
        return f if f == f and abs(f) != float("inf") else v
    if kind == "bool" and isinstance(v, str):
        low = v.strip().lower()
        return True if low == "true" else False if low == "false" else v
    return v


def _exact_int(v: Any) -> Any:
    """An int64 tag value as an exact integer (JSON strings beyond 2^53 included)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            i = int(v.strip())
        except ValueError:
            return v
        return i if _INT64_MIN <= i <= _UINT64_MAX else v
    return v


def _tags(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(tags, list):
        for t in tags:
            if isinstance(t, dict) and isinstance(t.get("key"), str):
                out[t["key"]] = _tag_value(t)
    elif isinstance(tags, dict):  # some hand-written exports use a plain mapping
        out.update(tags)
    return out


@dataclass
class _Process:
    service: str | None
    resource: dict[str, Any]


def _process(obj: Any) -> _Process | None:
    if not isinstance(obj, dict):
        return None
    svc = obj.get("serviceName")
    svc = svc if isinstance(svc, str) and svc else None
    resource = _tags(obj.get("tags"))
    if svc is not None:
        resource["service.name"] = svc
    return _Process(svc, resource)


def _processes(trace: dict[str, Any]) -> dict[str, _Process]:
    out: dict[str, _Process] = {}
    procs = trace.get("processes")
    if isinstance(procs, dict):
        for pid, p in procs.items():
            if (proc := _process(p)) is not None:
                out[str(pid)] = proc
    pmap = trace.get("processMap")
    if isinstance(pmap, list):
        for entry in pmap:
            if isinstance(entry, dict) and (proc := _process(entry.get("process"))):
                out[str(entry.get("processId", entry.get("processID")))] = proc
    elif isinstance(pmap, dict):
        for pid, p in pmap.items():
            if (proc := _process(p)) is not None:
                out[str(pid)] = proc
    return out


def _is_span(obj: Any) -> bool:
    return isinstance(obj, dict) and (
        ("traceID" in obj and "spanID" in obj) or ("traceId" in obj and "spanId" in obj)
    )


def _walk(doc: Any, depth: int = 0) -> Iterator[tuple[list[Any], dict[str, _Process]]]:
    """Yield (spans, processes) for every trace in a document, whatever its wrapper."""
    if depth > 4:
        return
    if isinstance(doc, list):
        loose = []
        for el in doc:
            if isinstance(el, dict) and isinstance(el.get("spans"), list):
                yield from _walk(el, depth + 1)
            else:
                loose.append(el)
        if loose:
            yield loose, {}
    elif isinstance(doc, dict):
        if isinstance(doc.get("spans"), list):
            yield doc["spans"], _processes(doc)
        elif isinstance(doc.get("data"), (list, dict)):
            yield from _walk(doc["data"], depth + 1)
        elif isinstance(doc.get("result"), (list, dict)):
            yield from _walk(doc["result"], depth + 1)
        elif _is_span(doc):
            yield [doc], {}


def _is_jaeger_doc(doc: Any) -> bool:
    if isinstance(doc, dict):
        if "resourceSpans" in doc or "resource_spans" in doc:
            return False
        return any(True for _ in _walk(doc))
    return isinstance(doc, list)


_REF_TYPES = {
    "CHILD_OF": "CHILD_OF",
    "FOLLOWS_FROM": "FOLLOWS_FROM",
    "0": "CHILD_OF",
    "1": "FOLLOWS_FROM",
}


def _add_span(
    span: Any, procs: dict[str, _Process], out: SpanColumns, ctx: LoadContext, pos: int
) -> None:
    if not isinstance(span, dict):
        ctx.reject(pos, "span is not a JSON object", json_dumps(span))
        return
    proto = "traceId" in span or "spanId" in span
    trace_id = trace_id_hex(span.get("traceID", span.get("traceId")), prefer_base64=proto)
    span_id = span_id_hex(span.get("spanID", span.get("spanId")), prefer_base64=proto)
    if trace_id is None or span_id is None:
        what = "trace id" if trace_id is None else "span id"
        ctx.reject(pos, f"missing or invalid {what}", json_dumps(span)[:200])
        return
    try:
        start = time_ns(span.get("startTime"))
        dur = duration_ns(span.get("duration"))
    except ValueError as exc:
        ctx.reject(pos, f"bad startTime/duration: {exc}", json_dumps(span)[:200])
        return

    parent: str | None = None
    follows_parent: str | None = None
    links: list[dict[str, Any]] = []
    refs = span.get("references")
    refs = refs if isinstance(refs, list) else []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        rtype = _REF_TYPES.get(str(ref.get("refType", "CHILD_OF")).upper(), "CHILD_OF")
        rtrace = trace_id_hex(ref.get("traceID", ref.get("traceId")), prefer_base64=proto)
        rspan = span_id_hex(ref.get("spanID", ref.get("spanId")), prefer_base64=proto)
        if rspan is None:
            continue
        same = rtrace is None or rtrace == trace_id
        if rtype == "CHILD_OF" and same and parent is None:
            parent = rspan
            continue
        if rtype == "FOLLOWS_FROM" and same and follows_parent is None:
            follows_parent = rspan
        links.append(
            {
                "trace_id": rtrace or trace_id,
                "span_id": rspan,
                "attributes": {"opentracing.ref_type": rtype.lower()},
            }
        )
    if parent is None:
        legacy = span.get("parentSpanID", span.get("parentSpanId"))
        parent = span_id_hex(legacy, prefer_base64=proto) if legacy not in (None, "") else None
        if parent is not None and int(parent, 16) == 0:
            parent = None
    if parent is None:
        parent = follows_parent

    attrs = _tags(span.get("tags"))
    mapped = split_mapped(attrs)
    warnings = span.get("warnings")
    if warnings:
        attrs["jaeger.warnings"] = warnings
    kind = kind_from(mapped.get("span.kind"))
    if kind is None:
        kind = "UNSPECIFIED"
        if "span.kind" in mapped:
            attrs["span.kind"] = mapped["span.kind"]
    trace_state = mapped.get("w3c.tracestate")

    proc = None
    pid = span.get("processID", span.get("processId"))
    if pid is not None:
        proc = procs.get(str(pid))
    if proc is None:
        proc = _process(span.get("process"))
    if proc is None:
        proc = _Process(None, {})

    events = []
    logs = span.get("logs")
    for log in logs if isinstance(logs, list) else []:
        if not isinstance(log, dict):
            continue
        fields = _tags(log.get("fields"))
        name = fields.pop("event", "")
        try:
            ts = time_ns(log.get("timestamp"))
        except ValueError:
            ts = None
        events.append(
            {
                "time_unix_nano": ts,
                "name": name if isinstance(name, str) else json_dumps(name),
                "attributes": fields,
            }
        )

    name = span.get("operationName")
    out.add(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name if isinstance(name, str) else None,
        kind=kind,
        start_ns=start,
        dur_ns=dur,
        status=status_from(attrs, mapped),
        service=proc.service,
        attributes=attrs,
        resource=dict(proc.resource),
        scope=scope_from(mapped),
        events=events,
        links=links,
        trace_state=str(trace_state) if trace_state not in (None, "") else None,
    )


def load(src: Source, ctx: LoadContext) -> None:
    """Load every span of every trace in a Jaeger JSON file (see the module docstring)."""
    docs = read_json_documents(src, ctx, "Jaeger", drop_nested_spans=True)
    if len(docs) == 1 and not _is_jaeger_doc(docs[0][0]):
        raise IngestError(
            f"{src.display}: not a Jaeger trace document "
            "(expected data/spans/traceID, or an array of spans)"
        )
    out = SpanColumns()
    pos = 0
    for doc, line in docs:
        for spans, procs in _walk(doc):
            for span in spans:
                pos += 1
                _add_span(span, procs, out, ctx, line if line is not None else pos)
    ctx.append("spans", out.table())


# --------------------------------------------------------------------------- detection


def json_lines_head(head: bytes) -> bool:
    """Whether a head looks like JSON lines (a complete one-line object, then another)."""
    lines = head.lstrip().split(b"\n", 2)
    if len(lines) < 2:
        return False
    first, second = lines[0].strip(), lines[1].strip()
    return first.startswith(b"{") and first.endswith(b"}") and second.startswith(b"{")


def sniff(head: bytes, name: str) -> float:
    """Score a head as Jaeger JSON: UI/query-API keys (``traceID``+``spanID``/``processes``)
    or protobuf-JSON spans (``traceId``+``spanId``+``operationName``). Never OTLP."""
    try:
        body = head.lstrip()
        if body[:1] not in (b"{", b"["):
            return 0.0
        if b'"resourceSpans"' in head or b'"resource_spans"' in head:
            return 0.0
        score = 0.0
        if b'"traceID"' in head and (
            (b'"spanID"' in head and (b'"operationName"' in head or b'"processID"' in head))
            or (b'"spans"' in head and b'"processes"' in head)
        ):
            score = 0.95
        elif b'"operationName"' in head and b'"traceId"' in head and b'"spanId"' in head:
            score = 0.9
        if score and json_lines_head(body):
            score = 0.6  # spans as JSON lines: plausible, but leave room for log formats
        return score
    except Exception:
        return 0.0


FORMATS = [
    FormatSpec(
        name="jaeger",
        signal="traces",
        description="Jaeger JSON traces (query API, UI download, bare trace, api_v2 protobuf-JSON)",
        sniff=sniff,
        load=load,
        aliases=("jaeger-json",),
    )
]
