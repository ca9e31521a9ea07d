"""Zipkin v2 JSON traces → the ``spans`` table.

Accepted shapes (``--format zipkin``, aliases ``zipkin-json``, ``zipkin2``): a JSON array
of spans, as ``POST /api/v2/spans`` takes and ``GET /api/v2/trace/{id}`` returns; an array
of such arrays (``GET /api/v2/traces``); a single span object; JSON lines of any of these.
Zipkin v1 (``binaryAnnotations``, endpoints inside annotations) is not this format.

Column mapping (following the OpenTelemetry Collector's Zipkin receiver where it decides):

* ``trace_id``: always 32 lowercase hex digits. A 64-bit id is left-padded with zeros, and a
  128-bit id keeps its zero high half (unlike Zipkin's ``Span.normalizeTraceId``), so the
  same trace has one id across formats. ``span_id`` is ``id`` and ``parent_span_id`` is
  ``parentId``, both padded to 16 digits.
* ``start_time`` / ``duration_ns``: ``timestamp`` and ``duration`` are in microseconds and
  become nanoseconds. Real traces hold spans without them (incomplete or shared spans).
  Those load with NULL times and are not rejected.
* ``kind``: ``CLIENT``/``SERVER``/``PRODUCER``/``CONSUMER``. Without ``kind`` it is
  ``UNSPECIFIED``, or ``INTERNAL`` when a ``span.kind=internal`` tag says so.
* ``service_name``: ``localEndpoint.serviceName`` (an empty one counts as missing), else
  the fallback service. ``resource_attributes`` = ``{"service.name": …}``.
* ``attributes``: the tags, whose values Zipkin always writes as strings and which stay
  strings. Endpoint addresses are added as ``net.host.ip`` / ``net.host.port`` (local)
  and ``peer.service`` / ``net.peer.ip`` / ``net.peer.port`` (remote). ``shared: true``
  → ``zipkin.shared`` and ``debug: true`` → ``zipkin.debug``. A client and a server half
  that share one span id stay two rows; the trace analysis pairs them.
* ``status_code``: an ``error`` tag means ERROR, and its value, unless empty or ``true``,
  is the ``status_message``. The tags the OpenTelemetry exporter writes are moved to
  their columns: ``otel.status_code``, ``otel.status_description``, ``otel.scope.*`` /
  ``otel.library.*`` and ``w3c.tracestate``.
* ``events``: the annotations → ``[{"time_unix_nano", "name": value, "attributes": {}}]``.

Spans without a usable ``traceId`` or ``id`` are rejected, and so are spans whose
``timestamp`` or ``duration`` is not a number. A reject's record number is the span's
1-based position in the file, or its line for JSON lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, json_dumps
from obsctl.ingest.files import Source
from obsctl.ingest.traces_jaeger import (
    SpanColumns,
    json_lines_head,
    kind_from,
    micros_to_ns,
    read_json_documents,
    scope_from,
    span_id_hex,
    split_mapped,
    trace_id_hex,
)


def _spans(doc: Any) -> Iterator[Any]:
    """The spans of one document: a span, an array of spans, or an array of traces."""
    if isinstance(doc, list):
        for el in doc:
            if isinstance(el, list):
                yield from el
            else:
                yield el
    else:
        yield doc


def _endpoint(ep: Any) -> tuple[str | None, str | None, Any]:
    """(serviceName, ip, port) of a Zipkin endpoint."""
    if not isinstance(ep, dict):
        return None, None, None
    svc = ep.get("serviceName")
    ip = ep.get("ipv4") or ep.get("ipv6")
    return (svc if isinstance(svc, str) else None), ip, ep.get("port")


def _add_span(span: Any, out: SpanColumns, ctx: LoadContext, pos: int) -> None:
    if not isinstance(span, dict):
        ctx.reject(pos, "span is not a JSON object", json_dumps(span))
        return
    trace_id = trace_id_hex(span.get("traceId"))
    span_id = span_id_hex(span.get("id"))
    if trace_id is None or span_id is None:
        what = "traceId" if trace_id is None else "id"
        ctx.reject(pos, f"missing or invalid {what}", json_dumps(span)[:200])
        return
    try:
        start = micros_to_ns(span.get("timestamp"))
        dur = micros_to_ns(span.get("duration"))
    except ValueError:
        ctx.reject(pos, "timestamp/duration is not a number", json_dumps(span)[:200])
        return
    parent_raw = span.get("parentId")
    parent = span_id_hex(parent_raw) if parent_raw not in (None, "") else None

    attrs: dict[str, Any] = {}
    local_svc, local_ip, local_port = _endpoint(span.get("localEndpoint"))
    if local_ip:
        attrs["net.host.ip"] = local_ip
    if local_port is not None:
        attrs["net.host.port"] = local_port
    remote_svc, remote_ip, remote_port = _endpoint(span.get("remoteEndpoint"))
    if remote_svc:
        attrs["peer.service"] = remote_svc
    if remote_ip:
        attrs["net.peer.ip"] = remote_ip
    if remote_port is not None:
        attrs["net.peer.port"] = remote_port
    tags = span.get("tags")
    if isinstance(tags, dict):
        attrs.update(tags)
    if span.get("shared") is True:
        attrs["zipkin.shared"] = True
    if span.get("debug") is True:
        attrs["zipkin.debug"] = True
    mapped = split_mapped(attrs)

    kind = kind_from(span.get("kind"))
    if kind is None:
        kind = "INTERNAL" if kind_from(mapped.get("span.kind")) == "INTERNAL" else "UNSPECIFIED"

    code, message = "UNSET", None
    sc = mapped.get("otel.status_code")
    if isinstance(sc, str) and sc.strip().upper().removeprefix("STATUS_CODE_") in ("OK", "ERROR"):
        code = sc.strip().upper().removeprefix("STATUS_CODE_")
    if "error" in attrs:
        code = "ERROR"
        err = attrs["error"]
        if isinstance(err, str) and err.strip() and err.strip().lower() != "true":
            message = err
    desc = mapped.get("otel.status_description")
    if desc not in (None, ""):
        message = str(desc)

    events = []
    annotations = span.get("annotations")
    for a in annotations if isinstance(annotations, list) else []:
        if not isinstance(a, dict):
            continue
        try:
            ts = micros_to_ns(a.get("timestamp"))
        except ValueError:
            ts = None
        value = a.get("value")
        events.append(
            {
                "time_unix_nano": ts,
                "name": value if isinstance(value, str) else json_dumps(value),
                "attributes": {},
            }
        )

    service = local_svc or None
    name = span.get("name")
    trace_state = mapped.get("w3c.tracestate")
    out.add(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name if isinstance(name, str) else None,
        kind=kind,
        start_ns=start,
        dur_ns=dur,
        status=(code, message),
        service=service,
        attributes=attrs,
        resource={"service.name": service} if service else {},
        scope=scope_from(mapped),
        events=events,
        links=None,
        trace_state=str(trace_state) if trace_state not in (None, "") else None,
    )


def load(src: Source, ctx: LoadContext) -> None:
    """Load every span of a Zipkin v2 JSON file (see the module docstring)."""
    docs = read_json_documents(src, ctx, "Zipkin")
    if len(docs) == 1 and not isinstance(docs[0][0], (list, dict)):
        raise IngestError(f"{src.display}: not a Zipkin v2 document (expected spans)")
    out = SpanColumns()
    pos = 0
    for doc, line in docs:
        for span in _spans(doc):
            pos += 1
            _add_span(span, out, ctx, line if line is not None else pos)
    ctx.append("spans", out.table())


def sniff(head: bytes, name: str) -> float:
    """Score a head as Zipkin v2 JSON: ``traceId`` + ``id`` with endpoints (strong) or with
    ``timestamp``/``duration``/``kind`` (weaker); never Jaeger, OTLP or Zipkin v1."""
    try:
        body = head.lstrip()
        if body[:1] not in (b"{", b"["):
            return 0.0
        for foreign in (
            b'"resourceSpans"',
            b'"resource_spans"',
            b'"operationName"',
            b'"traceID"',
            b'"binaryAnnotations"',
        ):
            if foreign in head:
                return 0.0
        if b'"traceId"' not in head or b'"id"' not in head:
            return 0.0
        if b'"localEndpoint"' in head or b'"remoteEndpoint"' in head:
            score = 0.95
        elif any(k in head for k in (b'"timestamp"', b'"duration"', b'"kind"')):
            score = 0.6 if body[:1] == b"[" else 0.4
        else:
            return 0.0
        if json_lines_head(body):
            score = min(score, 0.5)  # JSON lines: more likely logs that carry a traceId
        return score
    except Exception:
        return 0.0


FORMATS = [
    FormatSpec(
        name="zipkin",
        signal="traces",
        description="Zipkin v2 JSON spans (array, array of traces, or a single span)",
        sniff=sniff,
        load=load,
        aliases=("zipkin-json", "zipkin2"),
    )
]
