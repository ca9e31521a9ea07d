"""OTLP/JSON logs: proto examples, the lnav collector file-exporter sample, rejects."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from obsctl.ingest import detect

OTLP_LOG_FILES = [
    "logs/otlp/events.json",
    "logs/otlp/logs.json",
    "logs/otlp/lnav_otel_collector_fileexporter.jsonl",
]


def requests_of(path: Path) -> list[dict]:
    """The requests in a file: one document, or one per non-blank line (stdlib json)."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


def count_records(request: dict) -> int:
    return sum(
        len(sl.get("logRecords", []))
        for rl in request.get("resourceLogs", [])
        for sl in rl.get("scopeLogs", [])
    )


def one(store, sql: str, params=None):
    rows = store.rows(sql, params or [])
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("name", OTLP_LOG_FILES)
def test_corpus_file_loads_every_log_record(corpus: Path, store, load, name: str) -> None:
    path = corpus / name
    expected = sum(count_records(r) for r in requests_of(path))
    (f,) = load(path).files
    assert (f.status, f.format, f.signal) == ("loaded", "otlp-logs", "logs")
    assert (f.records, f.rejected) == (expected, 0)
    assert one(store, "SELECT count(*) FROM logs WHERE source_id = ?", [f.source_id]) == (expected,)


@pytest.mark.parametrize("name", OTLP_LOG_FILES)
def test_corpus_file_is_detected_as_otlp_logs_only(corpus: Path, name: str) -> None:
    from obsctl.ingest import logs_otlp, metrics_otlp, traces_otlp

    head = (corpus / name).read_bytes()[:65536]
    assert detect.detect(head, Path(name).name).name == "otlp-logs"
    assert logs_otlp.sniff(head, name) >= 0.9
    assert traces_otlp.sniff(head, name) == metrics_otlp.sniff(head, name) == 0


def test_collector_lines_keep_line_numbers_severities_and_services(
    corpus: Path, store, load
) -> None:
    load(corpus / "logs/otlp/lnav_otel_collector_fileexporter.jsonl")
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, service_name, severity_text, severity_number, body,"
        " trace_id, span_id, scope_name FROM logs ORDER BY timestamp"
    )
    assert [r[0] for r in rows] == [1, 1, 1, 2, 2, 3, 3, 3, 4, 5, 6]
    assert rows[3] == (
        2,
        "2023-11-14 22:13:23",
        "order-service",
        "ERROR",
        17,
        "Failed to update order status: database connection timeout",
        "6c9bb6b3e3d983f9432d048419e7ae03",
        "162692cf4dc66d24",
        "com.example.order",
    )
    # empty resource attributes and scope {}: fallback service (file stem), no scope name
    assert rows[8][2:] == (
        "lnav_otel_collector_fileexporter",
        "INFO",
        9,
        "Log with empty resource attributes and no scope name",
        None,
        None,
        None,
    )
    # no severity at all stays unknown
    assert rows[9][3:5] == (None, None)
    assert [r[4] for r in rows] == [9, 13, 9, 17, 9, 1, 5, 21, 9, None, 9]
    assert one(
        store,
        "SELECT observed_timestamp::VARCHAR, resource_attributes->>'$.\"deployment.environment\"'"
        " FROM logs WHERE line = 6",
    ) == ("2023-11-14 22:13:30.1", "production")


def test_proto_example_typed_and_nested_attributes(corpus: Path, store, load) -> None:
    load(corpus / "logs/otlp/logs.json")
    row = one(
        store,
        "SELECT timestamp::VARCHAR, severity_text, severity_number, body, trace_id, span_id,"
        " service_name, scope_name, attributes, line FROM logs",
    )
    assert row[:8] == (
        "2018-12-13 14:51:00.3",
        "Information",
        10,
        "Example log record",
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        "my.service",
        "my.library",
    )
    assert json.loads(row[8]) == {
        "string.attribute": "some string",
        "boolean.attribute": True,
        "int.attribute": 10,
        "double.attribute": 637.704,
        "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
    }
    assert row[9] is None  # a document has no per-record line


def test_event_record_kvlist_body_and_event_name(corpus: Path, store, load) -> None:
    load(corpus / "logs/otlp/events.json")
    body, attributes, number, text = one(
        store, "SELECT body, attributes, severity_number, severity_text FROM logs"
    )
    assert json.loads(body) == {
        "type": 0,
        "url": "https://www.guidgenerator.com/online-guid-generator.aspx",
        "referrer": "https://wwww.google.com",
        "title": "Free Online GUID Generator",
    }
    assert json.loads(attributes) == {
        "event.name": "browser.page_view",
        "event.attribute": "some event attribute",
    }
    assert (number, text) == (9, "test severity text")


def test_json_lines_edge_cases_and_rejects(tmp_path: Path, store, load) -> None:
    def request(*records: dict, resource: dict | None = None) -> str:
        return json.dumps(
            {
                "resourceLogs": [
                    {
                        "resource": resource or {},
                        "scopeLogs": [{"scope": {}, "logRecords": list(records)}],
                    }
                ]
            }
        )

    lines = [
        request(
            # enum by name, no time but an observed time
            {
                "observedTimeUnixNano": "1700000000123456789",
                "timeUnixNano": "0",
                "severityNumber": "SEVERITY_NUMBER_WARN3",
                "body": {"intValue": "42"},
            },
            # no number: derived from the text
            {
                "timeUnixNano": 1700000001000000000,
                "severityText": "error",
                "body": {"arrayValue": {"values": [{"stringValue": "a"}, {"doubleValue": 1.5}]}},
                "traceId": "",
                "spanId": "",
            },
            resource={"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
        ),
        "{not json",
        "[1, 2, 3]",
        request(
            {
                "timeUnixNano": "1700000002000000000",
                "body": {"stringValue": "bye"},
                "attributes": [{"key": "k", "value": {}}],
            }
        ),
    ]
    path = tmp_path / "logs" / "worker.jsonl"  # service from the name under a generic dir
    path.parent.mkdir()
    path.write_text("\r\n".join(lines))  # CRLF, no final newline
    (f,) = load(path).files
    assert (f.status, f.format, f.records, f.rejected) == ("loaded", "otlp-logs", 3, 2)
    assert store.rows(
        "SELECT line, timestamp::VARCHAR, observed_timestamp::VARCHAR, service_name,"
        " severity_text, severity_number, body, trace_id, attributes::VARCHAR"
        " FROM logs ORDER BY timestamp"
    ) == [
        (
            1,
            "2023-11-14 22:13:20.123456789",
            "2023-11-14 22:13:20.123456789",
            "billing",
            None,
            15,
            "42",
            None,
            "{}",
        ),
        (1, "2023-11-14 22:13:21", None, "billing", "error", 17, '["a",1.5]', None, "{}"),
        (4, "2023-11-14 22:13:22", None, "worker", None, None, "bye", None, '{"k":null}'),
    ]
    assert store.rows("SELECT line, reason, excerpt FROM rejects ORDER BY line") == [
        (2, "invalid JSON", "{not json"),
        (3, "not an OTLP ExportLogsServiceRequest (no resourceLogs list)", "[1, 2, 3]"),
    ]


def test_collector_proto_frames_load_like_the_json_lines(corpus: Path, tmp_path: Path, store, load):
    import struct

    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    src = corpus / "logs/otlp/lnav_otel_collector_fileexporter.jsonl"
    frames = []
    for request in requests_of(src):
        for rl in request["resourceLogs"]:  # protobuf's JSON parser wants base64 ids
            for sl in rl["scopeLogs"]:
                for record in sl["logRecords"]:
                    for key in ("traceId", "spanId"):
                        if key in record:
                            record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
        body = json_format.ParseDict(request, ExportLogsServiceRequest()).SerializeToString()
        frames.append(struct.pack(">I", len(body)) + body)
    path = tmp_path / "logs" / "lnav_otel_collector_fileexporter.pb"
    path.parent.mkdir()
    path.write_bytes(b"".join(frames))
    (f,) = load(path).files
    assert (f.status, f.format, f.records, f.rejected) == ("loaded", "otlp-proto-logs", 11, 0)
    (g,) = load(src).files
    columns = (
        "line, timestamp, observed_timestamp, service_name, severity_text, severity_number,"
        " body, trace_id, span_id, attributes::VARCHAR, resource_attributes::VARCHAR, scope_name"
    )

    def rows(source_id: int) -> list[tuple]:
        sql = f"SELECT {columns} FROM logs WHERE source_id = ? ORDER BY ALL"
        return store.rows(sql, [source_id])

    assert rows(f.source_id) == rows(g.source_id)  # frame numbers are the line numbers


def test_format_can_be_forced_by_name_or_alias(corpus: Path, store, load) -> None:
    path = corpus / "logs/otlp/logs.json"
    (f,) = load(path, format="otlp-json-logs").files
    assert (f.status, f.format, f.records) == ("loaded", "otlp-logs", 1)
    # forcing the wrong signal's OTLP format rejects the request instead of misreading it
    (g,) = load(corpus / "logs/otlp/events.json", format="otlp-traces").files
    assert (g.status, g.records, g.rejected) == ("loaded", 0, 1)
    assert g.first_reject.reason == "not an OTLP ExportTraceServiceRequest (no resourceSpans list)"
