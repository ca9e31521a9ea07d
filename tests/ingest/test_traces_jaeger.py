"""Jaeger JSON → spans: every real Jaeger shape in the corpus, counted independently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from obsctl.ingest.traces_jaeger import sniff

JAEGER = "traces/jaeger"
JAEGER_FILES = [
    "jaeger_anonymizer_spans.json",
    "jaeger_domain_01.protojson.json",
    "jaeger_otlp2jaeger-out.json",
    "jaeger_ui_01.json",
    "jaegerui_flamegraph_testTrace_reduxstate.json",
    "jaegerui_genaiTestTrace.json",
    "jaegerui_oltp2jaeger-multi-out.json",
    "jaegerui_spanAmongEachOtherGroupedAndSpans.json",
    "jaegerui_traceWithOverlappingChildrenLongerThanParent.json",
]


def count_spans(doc: Any) -> int:
    """Spans in a Jaeger document, counted with the stdlib from the documented shapes."""
    if isinstance(doc, list):  # anonymizer input: a bare array of spans
        return len(doc)
    if "data" in doc:  # query API (list of traces) or UI redux state (one trace)
        traces = doc["data"] if isinstance(doc["data"], list) else [doc["data"]]
    else:  # bare trace object, or api_v2 protobuf-JSON {"spans": [...]}
        traces = [doc]
    return sum(len(t["spans"]) for t in traces)


def spans_of(store: Any, source_id: int, cols: str) -> list[tuple]:
    return store.rows(
        f"SELECT {cols} FROM spans WHERE source_id = ? ORDER BY span_id, name", [source_id]
    )


def test_corpus_folder_has_the_files_this_test_expects(corpus: Path) -> None:
    on_disk = {p.name for p in (corpus / JAEGER).glob("*.json")}
    assert on_disk - {p for p in on_disk if p.endswith(".otlp.json")} == set(JAEGER_FILES)


@pytest.mark.parametrize("name", JAEGER_FILES)
def test_every_jaeger_file_loads_every_span(corpus: Path, store: Any, load: Any, name: str) -> None:
    path = corpus / JAEGER / name
    expected = count_spans(json.loads(path.read_text(encoding="utf-8")))
    report = load(path)
    (f,) = report.files
    assert (f.status, f.format, f.signal) == ("loaded", "jaeger", "traces"), f.error
    assert (f.records, f.rejected) == (expected, 0)
    assert store.scalar("SELECT count(*) FROM spans WHERE source_id = ?", [f.source_id]) == expected
    # every row has a normalised id and a service
    bad = store.scalar(
        "SELECT count(*) FROM spans WHERE source_id = ? AND (NOT regexp_full_match(span_id,"
        " '[0-9a-f]{16}') OR NOT regexp_full_match(trace_id, '[0-9a-f]{32}')"
        " OR service_name IS NULL)",
        [f.source_id],
    )
    assert bad == 0


@pytest.mark.parametrize(
    "name",
    [
        "jaeger_otlp2jaeger-in.otlp.json",
        "jaegerui_otlp2jaeger-in-error.otlp.json",
        "jaegerui_otlp2jaeger-multi-in-combined.otlp.json",
    ],
)
def test_otlp_files_in_the_jaeger_folder_are_not_claimed(corpus: Path, name: str) -> None:
    head = (corpus / JAEGER / name).read_bytes()[: 64 * 1024]
    assert sniff(head, name) == 0.0


def test_zipkin_and_otlp_trace_files_are_not_claimed(corpus: Path) -> None:
    for path in [*(corpus / "traces/zipkin").glob("*.json"), *(corpus / "traces/otlp").iterdir()]:
        assert sniff(path.read_bytes()[: 64 * 1024], path.name) == 0.0, path.name


def test_ui_model_values(corpus: Path, store: Any, load: Any) -> None:
    (f,) = load(corpus / JAEGER / "jaeger_ui_01.json").files
    rows = spans_of(
        store,
        f.source_id,
        "span_id, name, parent_span_id, service_name, start_time::VARCHAR, end_time::VARCHAR,"
        " duration_ns, status_code, kind",
    )
    assert rows == [
        # the duplicate span id 0000000000000002 is kept as two rows
        ("0000000000000002", "some-operation", None, "service-x",
         "2017-01-26 21:46:31.639875", "2017-01-26 21:46:31.63988", 5000, "ERROR",
         "UNSPECIFIED"),
        ("0000000000000002", "test-general-conversion", None, "service-x",
         "2017-01-26 21:46:31.639875", "2017-01-26 21:46:31.63988", 5000, "UNSET",
         "UNSPECIFIED"),
        ("0000000000000003", "some-operation", "0000000000000002", "service-y",
         "2017-01-26 21:46:31.639875", "2017-01-26 21:46:31.63988", 5000, "UNSET",
         "UNSPECIFIED"),
        # the CHILD_OF into the foreign trace 00..ff is skipped for the parent
        ("0000000000000004", "reference-test", "0000000000000002", "service-y",
         "2017-01-26 21:46:31.639875", "2017-01-26 21:46:31.63988", 5000, "UNSET",
         "UNSPECIFIED"),
        ("0000000000000005", "preserveParentID-test", "0000000000000004", "service-y",
         "2017-01-26 21:46:31.639875", "2017-01-26 21:46:31.639879", 4000, "UNSET",
         "UNSPECIFIED"),
    ]  # fmt: skip
    assert {r[0] for r in store.rows("SELECT DISTINCT trace_id FROM spans")} == {
        "00000000000000000000000000000001"
    }


def test_ui_model_tags_keep_their_types(corpus: Path, store: Any, load: Any) -> None:
    load(corpus / JAEGER / "jaeger_ui_01.json")
    (attrs,) = store.rows("SELECT attributes FROM spans WHERE name = 'some-operation'"
                          " AND span_id = '0000000000000002'")[0]  # fmt: skip
    # int64 above 2^53 (a JSON string in the file) stays exact, never a float
    assert '"javascript_limit":9223372036854775222' in attrs
    assert json.loads(attrs) == {
        "peer.service": "service-y",
        "peer.ipv4": 23456,
        "error": True,
        "temperature": 72.5,
        "javascript_limit": 9223372036854775222,
        "blob": "AAAwOQ==",
    }
    exact = store.scalar(
        "SELECT attributes->>'$.javascript_limit' FROM spans WHERE name = 'some-operation'"
        " AND span_id = '0000000000000002'"
    )
    assert exact == "9223372036854775222"


def test_ui_model_logs_links_and_warnings(corpus: Path, store: Any, load: Any) -> None:
    load(corpus / JAEGER / "jaeger_ui_01.json")
    events = json.loads(
        store.scalar("SELECT events FROM spans WHERE name = 'test-general-conversion'")
    )
    assert events == [
        {"time_unix_nano": 1485467191639875000, "name": "some-event", "attributes": {}},
        {"time_unix_nano": 1485467191639875000, "name": "", "attributes": {"x": "y"}},
    ]
    links, attrs = store.rows(
        "SELECT links, attributes FROM spans WHERE span_id = '0000000000000004'"
    )[0]
    assert json.loads(links) == [
        {"trace_id": "000000000000000000000000000000ff", "span_id": "00000000000000ff",
         "attributes": {"opentracing.ref_type": "child_of"}},
        {"trace_id": "00000000000000000000000000000001", "span_id": "0000000000000002",
         "attributes": {"opentracing.ref_type": "follows_from"}},
    ]  # fmt: skip
    assert json.loads(attrs) == {"jaeger.warnings": ["some span warning"]}


def test_protojson_is_the_same_trace_as_the_ui_model(corpus: Path, store: Any, load: Any) -> None:
    (ui,) = load(corpus / JAEGER / "jaeger_ui_01.json").files
    (pj,) = load(corpus / JAEGER / "jaeger_domain_01.protojson.json").files
    cols = "trace_id, span_id, parent_span_id, name, service_name, duration_ns, status_code"
    # base64 AAAAAAAAAAAAAAAAAAAAAQ== / AAAAAAAAAAI= → the UI model's hex ids
    assert spans_of(store, pj.source_id, cols) == spans_of(store, ui.source_id, cols)
    assert spans_of(store, pj.source_id, "DISTINCT trace_id") == [
        ("00000000000000000000000000000001",)
    ]
    # RFC 3339 with a -05:00 offset and nanoseconds, to the ns
    starts = store.rows(
        "SELECT DISTINCT start_time::VARCHAR, end_time::VARCHAR FROM spans"
        " WHERE source_id = ? AND duration_ns = 4000",
        [pj.source_id],
    )
    assert starts == [("2017-01-26 21:46:31.639875139", "2017-01-26 21:46:31.639879139")]
    attrs = store.scalar(
        "SELECT attributes FROM spans WHERE source_id = ? AND status_code = 'ERROR'",
        [pj.source_id],
    )
    assert json.loads(attrs)["javascript_limit"] == 9223372036854775222
    assert json.loads(attrs)["blob"] == "AAAwOQ=="


def test_redux_state_and_embedded_processes(corpus: Path, store: Any, load: Any) -> None:
    path = corpus / JAEGER / "jaegerui_flamegraph_testTrace_reduxstate.json"
    doc = json.loads(path.read_text(encoding="utf-8"))["data"]
    (f,) = load(path).files
    expected = sorted(
        (s["spanID"], doc["processes"][s["processID"]]["serviceName"]) for s in doc["spans"]
    )
    assert spans_of(store, f.source_id, "span_id, service_name") == expected
    root = store.rows(
        "SELECT name, kind, scope_name, duration_ns, start_time::VARCHAR FROM spans"
        " WHERE span_id = '487f03177ef9cf89'"
    )
    assert root == [
        ("OrderVehicle", "UNSPECIFIED", "go.opentelemetry.io/otel/sdk/tracer", 1181596000,
         "2022-08-09 12:55:22.779884"),
    ]  # fmt: skip


def test_nested_reference_spans_are_not_rows(corpus: Path, store: Any, load: Any) -> None:
    path = corpus / JAEGER / "jaegerui_oltp2jaeger-multi-out.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    (f,) = load(path).files
    expected = sorted(
        (
            s["spanID"],
            next((r["spanID"] for r in s["references"] if r["refType"] == "CHILD_OF"), None),
        )
        for s in doc["data"][0]["spans"]
    )
    assert spans_of(store, f.source_id, "span_id, parent_span_id") == expected
    assert store.rows(
        "SELECT scope_name, scope_version, kind, resource_attributes->>'$.\"telemetry.sdk.name\"'"
        " FROM spans WHERE span_id = 'eff3153be6b1fb93'"
    ) == [("widgets", "1.2.3", "INTERNAL", "opentelemetry")]


def test_anonymizer_array_with_embedded_process(corpus: Path, store: Any, load: Any) -> None:
    (f,) = load(corpus / JAEGER / "jaeger_anonymizer_spans.json").files
    assert spans_of(store, f.source_id, "span_id, parent_span_id, service_name, kind,"
                    " status_code, duration_ns") == [
        ("7606ddfe69932d34", "492770a15935810f", "16af988c443cff37", "SERVER", "UNSET",
         267037000),
        # the bool tag written as the string "true" still means an error
        ("7bd66f09ba90ea3d", "7606ddfe69932d34", "3c220036602f839e", "CLIENT", "ERROR",
         32782000),
    ]  # fmt: skip


def test_query_api_scope_tag_and_duplicate_rows(corpus: Path, store: Any, load: Any) -> None:
    (f,) = load(corpus / JAEGER / "jaeger_otlp2jaeger-out.json").files
    rows = spans_of(store, f.source_id, "trace_id, span_id, kind, scope_name, attributes")
    assert len(rows) == 2 and rows[0] == rows[1]
    trace_id, span_id, kind, scope, attrs = rows[0]
    assert (trace_id, span_id, kind, scope) == (
        "83a9efd15c1c98a977e0711cc93ee28b", "e127af99e3b3e074", "SERVER", "telemetrygen",
    )  # fmt: skip
    # tags that became columns are not repeated in attributes
    assert json.loads(attrs) == {"net.peer.ip": "1.2.3.4", "peer.service": "telemetrygen-client"}


def test_error_status_from_otel_tags_and_protobuf_durations(
    tmp_path: Path, store: Any, load: Any
) -> None:
    doc = {
        "spans": [
            {
                "traceId": "S/kvNXezTaajzpKdDg5HNg==",
                "spanId": "APdsr9uRRts=",
                "operationName": "charge",
                "startTime": "2024-03-01T10:00:00.5Z",
                "duration": "0.000005s",
                "tags": [
                    {"key": "otel.status_code", "vStr": "ERROR"},
                    {"key": "otel.status_description", "vStr": "card declined"},
                    {"key": "span.kind", "vStr": "client"},
                    {"key": "retries", "vType": "INT64", "vInt64": "9007199254740993"},
                ],
                "process": {"serviceName": "payment", "tags": [{"key": "host", "vStr": "h1"}]},
            }
        ]
    }
    path = tmp_path / "pay.json"
    path.write_text(json.dumps(doc))
    (f,) = load(path).files
    assert f.format == "jaeger"
    row = store.rows(
        "SELECT trace_id, span_id, start_time::VARCHAR, duration_ns, status_code,"
        " status_message, kind, service_name, attributes, resource_attributes FROM spans"
    )
    assert row == [
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f76cafdb9146db", "2024-03-01 10:00:00.5", 5000,
         "ERROR", "card declined", "CLIENT", "payment", '{"retries":9007199254740993}',
         '{"host":"h1","service.name":"payment"}'),
    ]  # fmt: skip


def test_bad_spans_are_rejected_with_their_position(tmp_path: Path, store: Any, load: Any) -> None:
    spans = [
        {"traceID": "abc", "spanID": "1", "operationName": "ok", "startTime": 1, "duration": 2},
        {"traceID": "abc", "operationName": "no span id", "startTime": 1},
        {"traceID": "abc", "spanID": "2", "operationName": "bad", "startTime": "yesterday"},
    ]
    path = tmp_path / "checkout" / "trace.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"data": [{"traceID": "abc", "spans": spans, "processes": {}}]}))
    (f,) = load(path).files
    assert (f.records, f.rejected) == (1, 2)
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (2, "missing or invalid span id"),
        (3, "bad startTime/duration: unreadable time 'yesterday'"),
    ]
    # short ids are left-padded; no process → the service comes from the path
    assert store.rows("SELECT trace_id, span_id, service_name, duration_ns FROM spans") == [
        ("00000000000000000000000000000abc", "0000000000000001", "checkout", 2000)
    ]


def test_json_lines_of_traces_reject_bad_lines(tmp_path: Path, store: Any, load: Any) -> None:
    trace = {
        "traceID": "1",
        "spans": [{"traceID": "1", "spanID": "2", "operationName": "op", "startTime": 5}],
        "processes": {},
    }
    path = tmp_path / "traces.ndjson"
    path.write_text(f"{json.dumps(trace)}\n{{not json\n\n{json.dumps(trace)}\n")
    (f,) = load(path, format="jaeger-json").files
    assert (f.status, f.records, f.rejected) == ("loaded", 2, 1)
    assert store.rows("SELECT line, reason FROM rejects") == [(2, "invalid JSON")]


def test_truncated_document_fails_whole_and_leaves_nothing(
    corpus: Path, tmp_path: Path, store: Any, load: Any
) -> None:
    data = (corpus / JAEGER / "jaegerui_genaiTestTrace.json").read_bytes()
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) // 2])
    (f,) = load(path).files
    assert f.status == "failed"
    assert "not valid Jaeger JSON" in (f.error or "")
    assert store.scalar("SELECT count(*) FROM spans") == 0


def test_deeply_nested_reference_spans_do_not_blow_up(
    tmp_path: Path, store: Any, load: Any
) -> None:
    # The Jaeger UI embeds the referenced span, with its own references and their spans,
    # in each reference: a 400-deep chain nests ~1200 levels, past any JSON parser's limit.
    def span(i: int, ref: str) -> str:
        return (
            f'{{"traceID":"1","spanID":"{i:x}","operationName":"op{i}","startTime":{i},'
            f'"duration":1,"processID":"p1","references":[{ref}]}}'
        )

    depth = 400
    nested = span(0, "")
    for i in range(1, depth + 1):
        nested = span(i, f'{{"refType":"CHILD_OF","traceID":"1","spanID":"{i - 1:x}",'
                         f'"span":{nested}}}')  # fmt: skip
    plain = [span(i, f'{{"refType":"CHILD_OF","traceID":"1","spanID":"{i - 1:x}"}}')
             for i in range(1, depth)]  # fmt: skip
    body = ",".join([span(0, ""), *plain, nested])
    path = tmp_path / "deep.json"
    path.write_text(
        f'{{"data":[{{"traceID":"1","spans":[{body}],'
        f'"processes":{{"p1":{{"serviceName":"deep"}}}}}}]}}'
    )
    (f,) = load(path).files
    assert (f.status, f.records, f.rejected) == ("loaded", depth + 1, 0), f.error
    assert store.rows(
        f"SELECT parent_span_id, service_name FROM spans WHERE name = 'op{depth}'"
    ) == [(f"{depth - 1:016x}", "deep")]
    assert store.scalar("SELECT count(*) FROM spans WHERE parent_span_id IS NULL") == 1
