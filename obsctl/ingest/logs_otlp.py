"""OTLP logs (``ExportLogsServiceRequest``, JSON or protobuf) → ``logs``.

Accepts the Collector ``file`` exporter's JSON lines (one request per line, vectorised in
DuckDB) and a single request document (the opentelemetry-proto examples); see
``obsctl.ingest.otlp`` for the shapes and encodings. One row per log record:

* ``timestamp``: ``timeUnixNano``, or ``observedTimeUnixNano`` when the former is unset
  (0 or missing), as the OTLP data model says; ``observed_timestamp`` as written.
* ``severity_text`` as written ('' → NULL); ``severity_number``: the OTLP number (1–24,
  int or ``SEVERITY_NUMBER_*`` name); when it is unset, derived from the text with
  ``obsctl_severity``.
* ``body``: a string body as it is; any other ``AnyValue`` (kvlist, array, number…) as
  its JSON text.
* ``trace_id``/``span_id``: lowercase hex ('' → NULL).
* ``attributes``: JSON object; the newer proto's ``eventName`` is kept there as
  ``event.name`` (first, so an explicit ``event.name`` attribute still wins for readers
  that take the last duplicate). ``resource_attributes``; ``scope_name``.
* ``service_name``: resource ``service.name``, else the fallback service.
* ``line``: the request's line in a JSON-lines file, NULL for a single document.

``flags`` and ``droppedAttributesCount`` are not stored.

Two specs: ``otlp-logs`` (JSON, sniffed from the ``resource…`` key that opens the
document, 0.95) and ``otlp-proto-logs``: binary protobuf, one ``ExportLogsServiceRequest``
or the Collector file exporter's ``format: proto`` frames (uint32 big-endian length +
message). Its sniff (0.8) walks the wire format down to the first record and checks every
field's wire type against the OTLP schema, so other protobuf files (pprof) are not
claimed. The messages are decoded with ``opentelemetry-proto`` and converted by protobuf's
JSON mapping (base64 ids, enum names), then loaded by the same SQL; ``line`` is the frame
number. Decoding is per message in Python: binary files are not the bulk path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from obsctl.ingest import otlp

if TYPE_CHECKING:
    from obsctl.ingest.base import LoadContext

ROOT = "resourceLogs"
SEVERITIES = ["UNSPECIFIED"] + [
    f"{level}{suffix}"
    for level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
    for suffix in ("", "2", "3", "4")
]
"""``SeverityNumber`` names by value (``SEVERITY_NUMBER_`` prefix dropped)."""


def _structure(n: otlp.Names) -> dict:
    record = {
        n("timeUnixNano"): "VARCHAR",
        n("observedTimeUnixNano"): "VARCHAR",
        n("severityNumber"): "VARCHAR",
        n("severityText"): "VARCHAR",
        "body": "JSON",
        n("attributes"): otlp.kvlist_type(n),
        n("traceId"): "VARCHAR",
        n("spanId"): "VARCHAR",
        n("eventName"): "VARCHAR",
    }
    return otlp.request_type(n, ROOT, "scopeLogs", "logRecords", record)


def _check(n: otlp.Names) -> dict:
    # Only the root list's presence; its items are not converted (BOOLEAN of an object
    # is NULL without error), so the staging parse stays cheap.
    return {n(ROOT): ["BOOLEAN"]}


def _insert(ctx: LoadContext, n: otlp.Names, requests: str) -> None:
    q = n.q
    attrs = otlp.attrs_json_sql(f"l.{q('attributes')}", n)
    event = f"nullif(l.{q('eventName')}, '')"
    attributes = (
        f"CASE WHEN {event} IS NULL THEN {attrs}"
        f" ELSE ('{{\"event.name\":' || to_json({event}) || CASE WHEN ({attrs})::VARCHAR = '{{}}'"
        f" THEN '}}' ELSE ',' || substr(({attrs})::VARCHAR, 2) END)::JSON END"
    )
    sev = f"l.{q('severityNumber')}"
    sev_number = otlp.enum_sql(sev, SEVERITIES, "SEVERITY_NUMBER_", None)
    scopes = otlp.scope_lists_sql("rl", n, "scopeLogs")
    otlp.insert_count(
        ctx,
        f"""
        WITH rl AS (SELECT line, unnest(r.{q(ROOT)}) AS rl FROM {requests}),
        sl AS (
            SELECT line,
                   {otlp.service_sql(f"rl.{q('resource')}.{q('attributes')}", n)} AS svc,
                   {otlp.attrs_json_sql(f"rl.{q('resource')}.{q('attributes')}", n)} AS res_attrs,
                   unnest({scopes}) AS sl
            FROM rl
        ), lr AS (
            SELECT line, svc, res_attrs,
                   {otlp.scope_field_sql("sl", n, "name")} AS scope_name,
                   unnest(sl.{q("logRecords")}) AS l
            FROM sl
        )
        INSERT INTO logs BY NAME
        SELECT coalesce({otlp.ts_sql(f"l.{q('timeUnixNano')}")},
                        {otlp.ts_sql(f"l.{q('observedTimeUnixNano')}")}) AS timestamp,
               {otlp.ts_sql(f"l.{q('observedTimeUnixNano')}")} AS observed_timestamp,
               coalesce(svc, $service) AS service_name,
               nullif(l.{q("severityText")}, '') AS severity_text,
               coalesce(nullif(CASE WHEN {sev_number} = 'UNSPECIFIED' THEN NULL
                                    ELSE list_position({otlp.sql_list(SEVERITIES)},
                                                       {sev_number}) - 1 END, 0),
                        obsctl_severity(nullif(l.{q("severityText")}, ''))) AS severity_number,
               {otlp.anyvalue_text_sql("l.body", n)} AS body,
               {otlp.id_sql(f"l.{q('traceId')}")} AS trace_id,
               {otlp.id_sql(f"l.{q('spanId')}")} AS span_id,
               {attributes} AS attributes,
               res_attrs AS resource_attributes,
               scope_name,
               $source_id AS source_id,
               line
        FROM lr
        """,
        {"service": ctx.service, "source_id": ctx.source_id},
    )


FORMATS = otlp.formats(
    otlp.SignalSQL(
        signal="logs",
        root=ROOT,
        what="ExportLogsServiceRequest",
        proto_module="opentelemetry.proto.collector.logs.v1.logs_service_pb2",
        structure=_structure,
        check=_check,
        insert=_insert,
        reject=None,
    )
)

sniff = FORMATS[0].sniff
"""``resourceLogs`` (or snake_case) opening the JSON → 0.95."""
