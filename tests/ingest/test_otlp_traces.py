"""OTLP/JSON traces: the corpus's request documents, collector JSON lines, rejects."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from obsctl.ingest import detect

OTLP_TRACE_FILES = [
    "traces/otlp/jaeger_integration_example_trace.json",
    "traces/otlp/jaeger_integration_link_attributes_trace.json",
    "traces/otlp/jaeger_integration_log_tags_trace.json",
    "traces/otlp/jaeger_integration_scope_attributes_trace.json",
    "traces/otlp/trace.json",
    "traces/jaeger/jaeger_otlp2jaeger-in.otlp.json",
    "traces/jaeger/jaegerui_otlp2jaeger-in-error.otlp.json",
    "traces/jaeger/jaegerui_otlp2jaeger-multi-in-combined.otlp.json",
]


def count_spans(request: dict) -> int:
    """Spans in one ExportTraceServiceRequest, counted with the stdlib only."""
    return sum(
        len(ss.get("spans", []))
        for rs in request.get("resourceSpans", [])
        for ss in rs.get("scopeSpans", [])
    )


def one(store, sql: str, params=None):
    rows = store.rows(sql, params or [])
    assert len(rows) == 1, rows
    return rows[0]


def test_the_otlp_trace_files_of_the_corpus_are_all_of_them(corpus: Path) -> None:
    found = sorted(
        str(p.relative_to(corpus))
        for p in corpus.glob("traces/**/*.json")
        if '"resourceSpans"' in p.read_text()
    )
    assert found == sorted(OTLP_TRACE_FILES)


@pytest.mark.parametrize("name", OTLP_TRACE_FILES)
def test_corpus_file_loads_every_span(corpus: Path, store, load, name: str) -> None:
    path = corpus / name
    expected = count_spans(json.loads(path.read_text()))
    report = load(path)
    (f,) = report.files
    assert (f.status, f.format, f.signal) == ("loaded", "otlp-traces", "traces")
    assert (f.records, f.rejected) == (expected, 0)
    assert one(store, "SELECT count(*) FROM spans WHERE source_id = ?", [f.source_id]) == (
        expected,
    )


@pytest.mark.parametrize("name", OTLP_TRACE_FILES)
def test_corpus_file_is_detected_as_otlp_traces_only(corpus: Path, name: str) -> None:
    head = (corpus / name).read_bytes()[:65536]
    assert detect.detect(head, Path(name).name).name == "otlp-traces"
    from obsctl.ingest import logs_otlp, metrics_otlp, traces_otlp

    assert traces_otlp.sniff(head, name) >= 0.9
    assert logs_otlp.sniff(head, name) == 0
    assert metrics_otlp.sniff(head, name) == 0


def test_proto_example_span_fields(corpus: Path, store, load) -> None:
    load(corpus / "traces/otlp/trace.json")
    row = one(
        store,
        "SELECT trace_id, span_id, parent_span_id, name, kind, start_time::VARCHAR,"
        " end_time::VARCHAR, duration_ns, status_code, status_message, service_name,"
        " attributes::VARCHAR, resource_attributes::VARCHAR, scope_name, scope_version,"
        " events::VARCHAR, links::VARCHAR FROM spans",
    )
    assert row == (
        "5b8efff798038103d269b633813fc60c",  # uppercase hex in the file
        "eee19b7ec3c1b174",
        "eee19b7ec3c1b173",
        "I'm a server span",
        "SERVER",
        "2018-12-13 14:51:00",
        "2018-12-13 14:51:01",
        1_000_000_000,
        "UNSET",
        None,
        "my.service",
        '{"my.span.attr":"some value"}',
        '{"service.name":"my.service"}',
        "my.library",
        "1.0.0",
        "[]",
        "[]",
    )


def test_jaeger_example_trace_services_kinds_and_bare_events(corpus: Path, store, load) -> None:
    load(corpus / "traces/otlp/jaeger_integration_example_trace.json")
    rows = store.rows(
        "SELECT span_id, service_name, kind, scope_name, status_code, duration_ns, events"
        " FROM spans ORDER BY span_id"
    )
    assert [r[:6] for r in rows] == [
        ("0000000000000003", "example-service-1", "UNSPECIFIED", None, "UNSET", 100_000),
        ("0000000000000004", "example-service-2", "UNSPECIFIED", None, "UNSET", 100_000),
        ("0000000000000005", "example-service-3", "UNSPECIFIED", None, "UNSET", 100_000),
        ("0000000000000006", "example-service-1", "SERVER", None, "UNSET", 100_000),
        ("0000000000000007", "example-service-1", "CLIENT", None, "UNSET", 100_000),
    ]
    # events with only timeUnixNano: ns integers, no name, no attributes
    assert (
        json.loads(rows[0][6])
        == [{"time_unix_nano": 1485449191639875000, "name": "", "attributes": {}}] * 2
    )


def test_event_and_link_attributes_keep_their_types(corpus: Path, store, load) -> None:
    load(
        corpus / "traces/otlp/jaeger_integration_log_tags_trace.json",
        corpus / "traces/otlp/jaeger_integration_link_attributes_trace.json",
    )
    (events,) = one(store, "SELECT events FROM spans WHERE name = 'placeholder'")
    assert json.loads(events)[0]["attributes"] == {
        "sameplacetag1": "sameplacevalue",
        "sameplacetag2": 123,
        "sameplacetag4": True,
        "sameplacetag3": 72.5,
        "blob": "AAAwOQ==",  # bytesValue stays base64
    }
    (links,) = one(store, "SELECT links FROM spans WHERE name = 'query25-operation'")
    links = json.loads(links)
    assert [(x["trace_id"], x["span_id"]) for x in links] == [
        ("000000000000000000000000000000ff", "00000000000000ff"),
        ("00000000000000000000000000000001", "0000000000000002"),
        ("00000000000000000000000000000001", "0000000000000002"),
    ]
    assert links[0]["attributes"]["sameplacelinkattribute2"] == 123
    assert links[0]["attributes"]["linkblob"] == "AAAwOQ=="
    assert links[2]["attributes"] == {"opentracing.ref_type": "follows_from"}


def test_identical_spans_are_both_kept(corpus: Path, store, load) -> None:
    load(corpus / "traces/jaeger/jaeger_otlp2jaeger-in.otlp.json")
    assert (
        store.rows(
            "SELECT span_id, parent_span_id, kind, duration_ns, service_name, scope_name,"
            " attributes->>'$.\"peer.service\"' FROM spans"
        )
        == [
            (
                "e127af99e3b3e074",
                "909541b92cf05311",
                "SERVER",
                123_000,
                "telemetrygen",
                "telemetrygen",
                "telemetrygen-client",
            )
        ]
        * 2
    )


def test_resource_without_service_name_takes_the_fallback(corpus: Path, store, load) -> None:
    path = corpus / "traces/jaeger/jaegerui_otlp2jaeger-in-error.otlp.json"
    load(path)
    assert one(store, "SELECT service_name, resource_attributes::VARCHAR FROM spans") == (
        "jaegerui_otlp2jaeger-in-error",  # derived from the file name
        "{}",
    )


def test_explicit_service_only_fills_records_without_one(corpus: Path, store, load) -> None:
    load(
        corpus / "traces/jaeger/jaegerui_otlp2jaeger-in-error.otlp.json",
        corpus / "traces/otlp/trace.json",
        service="checkout",
    )
    assert store.rows("SELECT DISTINCT service_name FROM spans ORDER BY 1") == [
        ("checkout",),
        ("my.service",),
    ]


def test_empty_parent_is_a_root(corpus: Path, store, load) -> None:
    load(corpus / "traces/jaeger/jaegerui_otlp2jaeger-multi-in-combined.otlp.json")
    assert store.rows(
        "SELECT name, span_id, start_time::VARCHAR, duration_ns, scope_name, scope_version"
        " FROM spans WHERE parent_span_id IS NULL"
    ) == [("main", "eff3153be6b1fb93", "2024-03-22 20:10:46.94", 176_321_958, "widgets", "1.2.3")]
    assert one(store, "SELECT count(*) FROM spans WHERE kind = 'INTERNAL'") == (4,)


def _compact(path: Path) -> str:
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


def test_collector_json_lines_with_bad_lines(corpus: Path, tmp_path: Path, store, load) -> None:
    good = [
        corpus / "traces/otlp/jaeger_integration_example_trace.json",
        corpus / "traces/otlp/trace.json",
    ]
    no_span_id = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "name": "lost"}]}
                ]
            }
        ]
    }
    lines = [
        _compact(good[0]),  # 1
        '{"resourceSpans": [ {"scopeSpans": [ truncated',  # 2
        "",  # 3: blank lines are skipped, not rejected
        _compact(corpus / "logs/otlp/logs.json"),  # 4: a logs request
        json.dumps(no_span_id),  # 5
        _compact(good[1]),  # 6
    ]
    path = tmp_path / "otel-traces.jsonl"
    path.write_text("\n".join(lines) + "\n")
    (f,) = load(path).files
    expected = sum(count_spans(json.loads(lines[i])) for i in (0, 5))
    assert (f.status, f.format, f.records, f.rejected) == ("loaded", "otlp-traces", expected, 3)
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (2, "invalid JSON"),
        (4, "not an OTLP ExportTraceServiceRequest (no resourceSpans list)"),
        (5, "span without spanId at resourceSpans[0].scopeSpans[0].spans[0]"),
    ]
    assert one(store, "SELECT service_name FROM spans WHERE span_id = 'eee19b7ec3c1b174'") == (
        "my.service",
    )


def test_protobuf_json_mapping_snake_case_base64_enum_names_gzip(
    tmp_path: Path, store, load
) -> None:
    # What a generic protobuf JSON writer emits (preserving proto field names):
    # base64 ids, enum names, 64-bit ints as numbers, nested AnyValues.
    request = {
        "resource_spans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"string_value": "cart"}},
                        {
                            "key": "process.command_args",
                            "value": {
                                "array_value": {
                                    "values": [
                                        {"string_value": "cart"},
                                        {"string_value": "--port=8080"},
                                    ]
                                }
                            },
                        },
                    ]
                },
                "scope_spans": [
                    {
                        "scope": {"name": "io.opentelemetry.grpc"},
                        "spans": [
                            {
                                "trace_id": "W47/95gDgQPSabYzgT/GDA==",
                                "span_id": "7uGbfsPBsXQ=",
                                "parent_span_id": "",
                                "name": "GetCart",
                                "kind": "SPAN_KIND_CLIENT",
                                "start_time_unix_nano": 1544712660000000123,
                                "end_time_unix_nano": "1544712660250000123",
                                "attributes": [
                                    {"key": "big", "value": {"int_value": "9007199254740993"}},
                                    {"key": "ratio", "value": {"double_value": "NaN"}},
                                    {
                                        "key": "cfg",
                                        "value": {
                                            "kvlist_value": {
                                                "values": [
                                                    {"key": "retries", "value": {"int_value": 3}},
                                                    {
                                                        "key": "tags",
                                                        "value": {
                                                            "array_value": {
                                                                "values": [{"bool_value": True}]
                                                            }
                                                        },
                                                    },
                                                ]
                                            }
                                        },
                                    },
                                ],
                                "status": {
                                    "code": "STATUS_CODE_ERROR",
                                    "message": "deadline exceeded",
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "cart.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(request) + "\n")
    (f,) = load(path).files
    assert (f.status, f.format, f.records, f.rejected) == ("loaded", "otlp-traces", 1, 0)
    row = one(
        store,
        "SELECT trace_id, span_id, parent_span_id, kind, status_code, status_message,"
        " start_time::VARCHAR, duration_ns, service_name, scope_name, attributes,"
        " resource_attributes FROM spans",
    )
    assert row[:10] == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        None,
        "CLIENT",
        "ERROR",
        "deadline exceeded",
        "2018-12-13 14:51:00.000000123",
        250_000_000,
        "cart",
        "io.opentelemetry.grpc",
    )
    assert json.loads(row[10]) == {
        "big": 9007199254740993,
        "ratio": "NaN",
        "cfg": {"retries": 3, "tags": [True]},
    }
    assert json.loads(row[11]) == {
        "service.name": "cart",
        "process.command_args": ["cart", "--port=8080"],
    }


def test_array_of_requests_document(corpus: Path, tmp_path: Path, store, load) -> None:
    docs = [json.loads((corpus / n).read_text()) for n in OTLP_TRACE_FILES[:2]]
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([*docs, 42], indent=2))
    (f,) = load(path).files
    assert (f.records, f.rejected) == (sum(count_spans(d) for d in docs), 1)
    assert store.rows("SELECT line, reason FROM rejects") == [
        (3, "array item 3 is not an OTLP ExportTraceServiceRequest")
    ]


def test_broken_document_fails_and_leaves_nothing(corpus: Path, tmp_path: Path, store, load):
    text = (corpus / "traces/otlp/trace.json").read_text()
    path = tmp_path / "trace.json"
    path.write_text(text[: len(text) // 2])
    (f,) = load(path).files
    assert f.status == "failed"
    assert "not valid JSON" in f.error
    assert store.rows("SELECT count(*) FROM spans") == [(0,)]
    assert store.rows("SELECT count(*) FROM sources") == [(0,)]


def test_attribute_values_of_every_encoding(tmp_path: Path, store, load) -> None:
    """Each AnyValue form, as the SQL fast path and the exact fallback must both give."""
    values = {
        "s": {"stringValue": 'quote " backslash \\ newline \n unicode é 漢'},
        "braces": {"stringValue": '{"not": "an object"}'},
        "empty_s": {"stringValue": ""},
        "i_str": {"intValue": "-42"},
        "i_num": {"intValue": 7},
        "i_big": {"intValue": "9223372036854775807"},
        "d": {"doubleValue": 0.25},
        "d_int": {"doubleValue": 3},
        "d_inf": {"doubleValue": "Infinity"},
        "b": {"boolValue": False},
        "bytes": {"bytesValue": "3q2+7w=="},
        "none": {},
        "arr": {
            "arrayValue": {
                "values": [
                    {"stringValue": "a,b"},
                    {"intValue": "1"},
                    {"boolValue": True},
                    {"doubleValue": -1.5},
                ]
            }
        },
        "arr_empty": {"arrayValue": {}},
        "arr_braces": {"arrayValue": {"values": [{"stringValue": "}{"}]}},
        "kv": {
            "kvlistValue": {
                "values": [
                    {
                        "key": "inner",
                        "value": {
                            "arrayValue": {
                                "values": [
                                    {
                                        "kvlistValue": {
                                            "values": [{"key": "deep", "value": {"intValue": "5"}}]
                                        }
                                    }
                                ]
                            }
                        },
                    },
                    {"key": "nothing", "value": {}},
                ]
            }
        },
    }
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "values",
        "attributes": [{"key": k, "value": v} for k, v in values.items()],
        # the same list on an event, and a duplicate key (the last one wins when read)
        "events": [
            {
                "timeUnixNano": "5",
                "name": "e",
                "attributes": [{"key": k, "value": v} for k, v in values.items()]
                + [{"key": "s", "value": {"stringValue": "again"}}],
            }
        ],
    }
    path = tmp_path / "values.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + "\n")
    (f,) = load(path).files
    assert (f.records, f.rejected) == (1, 0)
    attributes, events = one(store, "SELECT attributes, events FROM spans")
    expected = {
        "s": 'quote " backslash \\ newline \n unicode é 漢',
        "braces": '{"not": "an object"}',
        "empty_s": "",
        "i_str": -42,
        "i_num": 7,
        "i_big": 9223372036854775807,
        "d": 0.25,
        "d_int": 3,
        "d_inf": "Infinity",
        "b": False,
        "bytes": "3q2+7w==",
        "none": None,
        "arr": ["a,b", 1, True, -1.5],
        "arr_empty": [],
        "arr_braces": ["}{"],
        "kv": {"inner": [{"deep": 5}], "nothing": None},
    }
    assert json.loads(attributes) == expected
    (event,) = json.loads(events)
    assert event == {"time_unix_nano": 5, "name": "e", "attributes": {**expected, "s": "again"}}


def test_sniff_scores_only_otlp_trace_requests() -> None:
    from obsctl.ingest import traces_otlp

    sniff = traces_otlp.sniff
    assert sniff(b'{"resourceSpans":[{"resource":{}', "x.jsonl") == 0.95
    assert sniff(b'\n  {\n  "resource_spans": [', "x.json") == 0.95
    assert sniff(b'[{"resourceSpans": []}]', "") == 0.95
    # the key elsewhere in a JSON head is weak evidence; inside a string it is none
    assert sniff(b'{"batch": {"resourceSpans": [ {', "") == 0.6
    assert sniff(b'{"msg": "payload {\\"resourceSpans\\": []}"}\n', "app.log") == 0
    assert sniff(b'{"data":[{"traceID":"abc","spans":[]}]}', "trace.json") == 0
    assert sniff(b"resourceSpans", "otlp.json") == 0
    assert sniff(b"\x0a\x8f\x01\x0a\x1f", "traces.binpb") == 0


def _to_proto_json(value):
    """OTLP/JSON → what protobuf's JSON parser expects (ids are base64 there, not hex)."""
    import base64

    if isinstance(value, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
            else _to_proto_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_to_proto_json(v) for v in value]
    return value


def _trace_request_bytes(path: Path) -> bytes:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    doc = _to_proto_json(json.loads(path.read_text()))
    return json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()


SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, trace_state, name, kind, start_time, end_time,"
    " duration_ns, status_code, status_message, service_name, attributes::VARCHAR,"
    " resource_attributes::VARCHAR, scope_name, scope_version, events::VARCHAR, links::VARCHAR"
)


@pytest.mark.parametrize(
    "name",
    [
        "traces/otlp/jaeger_integration_link_attributes_trace.json",
        "traces/otlp/jaeger_integration_example_trace.json",
        "traces/jaeger/jaegerui_otlp2jaeger-multi-in-combined.otlp.json",
    ],
)
def test_protobuf_request_loads_like_its_json(
    corpus: Path, tmp_path: Path, store, load, name: str
) -> None:
    path = tmp_path / "traces" / (Path(name).stem + ".binpb")
    path.parent.mkdir()
    path.write_bytes(_trace_request_bytes(corpus / name))
    (f,) = load(path).files
    expected = count_spans(json.loads((corpus / name).read_text()))
    assert (f.status, f.format, f.records, f.rejected) == (
        "loaded",
        "otlp-proto-traces",
        expected,
        0,
    )
    (g,) = load(corpus / name, service=path.stem).files

    def rows(source_id: int) -> list[tuple]:
        return sorted(
            store.rows(f"SELECT {SPAN_COLUMNS} FROM spans WHERE source_id = ?", [source_id]),
            key=repr,
        )

    assert rows(f.source_id) == rows(g.source_id)


def test_collector_proto_frames_with_a_bad_and_a_cut_frame(
    corpus: Path, tmp_path: Path, store, load
) -> None:
    import struct

    frames = [
        _trace_request_bytes(corpus / "traces/otlp/trace.json"),
        b"\x0a\x05\xff\xff",  # claims 5 bytes, has 2
        _trace_request_bytes(corpus / "traces/otlp/jaeger_integration_example_trace.json"),
    ]
    data = b"".join(struct.pack(">I", len(x)) + x for x in frames) + b"\x00\x00\x01\x00\x0a"
    path = tmp_path / "otel.pb"
    path.write_bytes(data)
    (f,) = load(path).files
    assert (f.status, f.format, f.records, f.rejected) == ("loaded", "otlp-proto-traces", 6, 2)
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (2, "not a valid ExportTraceServiceRequest protobuf"),
        (4, "frame 4 is cut short"),
    ]
    assert store.rows("SELECT DISTINCT service_name FROM spans ORDER BY 1") == [
        ("example-service-1",),
        ("example-service-2",),
        ("example-service-3",),
        ("my.service",),
    ]


def test_otlp_sniffers_claim_only_the_otlp_files_of_the_corpus(corpus: Path) -> None:
    from obsctl.ingest import logs_otlp, metrics_otlp, traces_otlp
    from obsctl.ingest.files import open_source

    specs = [*logs_otlp.FORMATS, *metrics_otlp.FORMATS, *traces_otlp.FORMATS]
    claims = {}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        head = open_source(str(path)).head  # decompressed, as the detector sees it
        for spec in specs:
            if spec.sniff(head, path.name) > 0:
                claims[str(path.relative_to(corpus))] = spec.name
    assert claims == {
        **dict.fromkeys(OTLP_TRACE_FILES, "otlp-traces"),
        "metrics/otlp/metrics.json": "otlp-metrics",
        "logs/otlp/events.json": "otlp-logs",
        "logs/otlp/logs.json": "otlp-logs",
        "logs/otlp/lnav_otel_collector_fileexporter.jsonl": "otlp-logs",
    }
