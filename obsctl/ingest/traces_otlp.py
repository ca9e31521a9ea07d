"""OTLP traces (``ExportTraceServiceRequest``, JSON or protobuf) → ``spans``.

Accepts the Collector ``file`` exporter's JSON lines (one request per line, vectorised in
DuckDB) and a single request document (the opentelemetry-proto / Jaeger fixtures); see
``obsctl.ingest.otlp`` for the shapes and encodings. One row per span:

* ``trace_id``/``span_id``/``parent_span_id``: lowercase hex (hex or base64 in); an empty
  ``parentSpanId`` (a root) is NULL. A span without ``traceId`` or ``spanId`` is rejected
  (line of its request; the reason names its ``resourceSpans[i].scopeSpans[j].spans[k]``).
* ``kind``: 0–5 or ``SPAN_KIND_*`` → UNSPECIFIED|INTERNAL|SERVER|CLIENT|PRODUCER|CONSUMER
  (missing → UNSPECIFIED). ``status_code``: 0–2 or ``STATUS_CODE_*`` → UNSET|OK|ERROR
  (missing or ``status: {}`` → UNSET); ``status_message`` ('' → NULL).
* ``line``: the request's line in a JSON-lines file (frame number for protobuf), NULL for
  a single document.
* ``start_time``/``end_time`` from ``*UnixNano``; ``duration_ns`` = end − start.
* ``service_name``: resource ``service.name``, else the fallback service.
* ``attributes``/``resource_attributes``: JSON objects; scope name and version.
* ``events``: JSON array of ``{"time_unix_nano": int, "name": str, "attributes": {…}}``;
  ``links``: JSON array of ``{"trace_id", "span_id", "trace_state", "attributes"}`` (ids
  hex). Empty lists give ``[]``.

Identical spans (same ids) are all kept: deduplication belongs to the trace analysis.

Two specs: ``otlp-traces`` (JSON, sniffed from the ``resource…`` key that opens the
document, 0.95) and ``otlp-proto-traces``: binary protobuf, one
``ExportTraceServiceRequest`` or the Collector file exporter's ``format: proto`` frames
(uint32 big-endian length + message). Its sniff (0.8) walks the wire format down to the
first record and checks every field's wire type against the OTLP schema, so other protobuf
files (pprof) are not claimed. The messages are decoded with ``opentelemetry-proto`` and
converted by protobuf's JSON mapping (base64 ids, enum names), then loaded by the same
SQL; ``line`` is the frame number. Decoding is per message in Python: binary files are not
the bulk path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from obsctl.ingest import otlp

if TYPE_CHECKING:
    from obsctl.ingest.base import LoadContext

ROOT = "resourceSpans"
KINDS = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
STATUS = ["UNSET", "OK", "ERROR"]


def _structure(n: otlp.Names) -> dict:
    kv = otlp.kvlist_type(n)
    span = {
        n("traceId"): "VARCHAR",
        n("spanId"): "VARCHAR",
        n("parentSpanId"): "VARCHAR",
        n("traceState"): "VARCHAR",
        "name": "VARCHAR",
        "kind": "VARCHAR",
        n("startTimeUnixNano"): "VARCHAR",
        n("endTimeUnixNano"): "VARCHAR",
        n("attributes"): kv,
        "events": [{n("timeUnixNano"): "VARCHAR", "name": "VARCHAR", n("attributes"): kv}],
        "links": [
            {
                n("traceId"): "VARCHAR",
                n("spanId"): "VARCHAR",
                n("traceState"): "VARCHAR",
                n("attributes"): kv,
            }
        ],
        "status": {"code": "VARCHAR", "message": "VARCHAR"},
    }
    return otlp.request_type(n, ROOT, "scopeSpans", "spans", span)


def _check(n: otlp.Names) -> dict:
    ids = {n("traceId"): "VARCHAR", n("spanId"): "VARCHAR"}
    return otlp.request_type(n, ROOT, "scopeSpans", "spans", ids)


def _insert(ctx: LoadContext, n: otlp.Names, requests: str) -> None:
    q = n.q
    attrs = otlp.attrs_json_sql
    ev_time = otlp.ns_sql(f"_ev.{q('timeUnixNano')}")
    ev_attrs = attrs(f"_ev.{q('attributes')}", n)
    event = (
        f"{{'time_unix_nano': {ev_time}, 'name': coalesce(_ev.name, ''), 'attributes': {ev_attrs}}}"
    )
    ln_trace = otlp.id_sql(f"_ln.{q('traceId')}")
    ln_span = otlp.id_sql(f"_ln.{q('spanId')}")
    ln_attrs = attrs(f"_ln.{q('attributes')}", n)
    link = (
        f"{{'trace_id': {ln_trace}, 'span_id': {ln_span},"
        f" 'trace_state': nullif(_ln.{q('traceState')}, ''), 'attributes': {ln_attrs}}}"
    )
    scopes = otlp.scope_lists_sql("rs", n, "scopeSpans")
    start = otlp.ns_sql(f"s.{q('startTimeUnixNano')}")
    end = otlp.ns_sql(f"s.{q('endTimeUnixNano')}")
    otlp.insert_count(
        ctx,
        f"""
        WITH rs AS (SELECT line, unnest(r.{q(ROOT)}) AS rs FROM {requests}),
        ss AS (
            SELECT line, {otlp.service_sql(f"rs.{q('resource')}.{q('attributes')}", n)} AS svc,
                   {attrs(f"rs.{q('resource')}.{q('attributes')}", n)} AS res_attrs,
                   unnest({scopes}) AS ss
            FROM rs
        ), sp AS (
            SELECT line, svc, res_attrs,
                   {otlp.scope_field_sql("ss", n, "name")} AS scope_name,
                   {otlp.scope_field_sql("ss", n, "version")} AS scope_version,
                   unnest(ss.spans) AS s
            FROM ss
        ), ids AS (
            SELECT *, {otlp.id_sql(f"s.{q('traceId')}")} AS tid,
                   {otlp.id_sql(f"s.{q('spanId')}")} AS sid
            FROM sp
        )
        INSERT INTO spans BY NAME
        SELECT tid AS trace_id, sid AS span_id,
               {otlp.id_sql(f"s.{q('parentSpanId')}")} AS parent_span_id,
               nullif(s.{q("traceState")}, '') AS trace_state,
               coalesce(s.name, '') AS name,
               {otlp.enum_sql("s.kind", KINDS, "SPAN_KIND_", "UNSPECIFIED")} AS kind,
               make_timestamp_ns({start}) AS start_time,
               make_timestamp_ns({end}) AS end_time,
               {end} - {start} AS duration_ns,
               {otlp.enum_sql("s.status.code", STATUS, "STATUS_CODE_", "UNSET")} AS status_code,
               nullif(s.status.message, '') AS status_message,
               coalesce(svc, $service) AS service_name,
               {attrs(f"s.{q('attributes')}", n)} AS attributes,
               res_attrs AS resource_attributes,
               scope_name, scope_version,
               to_json(coalesce(list_transform(s.events, lambda _ev: {event}), [])) AS events,
               to_json(coalesce(list_transform(s.links, lambda _ln: {link}), [])) AS links,
               $source_id AS source_id,
               line
        FROM ids WHERE tid IS NOT NULL AND sid IS NOT NULL
        """,
        {"service": ctx.service, "source_id": ctx.source_id},
    )


def _reject(ctx: LoadContext, n: otlp.Names, table: str) -> None:
    q = n.q
    scopes = otlp.scope_lists_sql("rs", n, "scopeSpans")
    otlp.reject_from_sql(
        ctx,
        f"""
        WITH rs AS (
            SELECT line, unnest(chk.{q(ROOT)}) AS rs,
                   generate_subscripts(chk.{q(ROOT)}, 1) - 1 AS rs_i
            FROM {table}
        ), ss AS (
            SELECT line, rs_i, unnest({scopes}) AS ss, generate_subscripts({scopes}, 1) - 1 AS ss_i
            FROM rs
        ), sp AS (
            SELECT line, rs_i, ss_i, unnest(ss.spans) AS s,
                   generate_subscripts(ss.spans, 1) - 1 AS sp_i
            FROM ss
        )
        SELECT line,
               'span without ' || CASE WHEN coalesce(s.{q("traceId")}, '') = ''
                                      THEN '{n("traceId")}' ELSE '{n("spanId")}' END
                 || ' at {n(ROOT)}[' || rs_i || '].{n("scopeSpans")}[' || ss_i
                 || '].spans[' || sp_i || ']' AS reason,
               left(to_json(s)::VARCHAR, 200) AS excerpt
        FROM sp WHERE coalesce(s.{q("traceId")}, '') = '' OR coalesce(s.{q("spanId")}, '') = ''
        """,
    )


FORMATS = otlp.formats(
    otlp.SignalSQL(
        signal="traces",
        root=ROOT,
        what="ExportTraceServiceRequest",
        proto_module="opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        structure=_structure,
        check=_check,
        insert=_insert,
        reject=_reject,
    )
)

sniff = FORMATS[0].sniff
"""``resourceSpans`` (or snake_case) opening the JSON → 0.95."""
