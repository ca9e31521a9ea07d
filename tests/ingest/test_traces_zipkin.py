"""Zipkin v2 JSON → spans: every real Zipkin file in the corpus, counted independently."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from obsctl.ingest.traces_zipkin import sniff

ZIPKIN = "traces/zipkin"
ZIPKIN_FILES = [
    "ascend.json",
    "envoy.json",
    "messaging-kafka.json",
    "messaging.json",
    "messaging2.json",
    "simple-db-p6.json",
    "skew.json",
    "smartthings-mobile-web-install.json",
    "smartthings-oauth-authorization.json",
    "yelp.json",
    "zipkin2-chinese.single-span.json",
    "zipkin2-client.single-span.json",
]


def read(corpus: Path, name: str) -> list[dict[str, Any]]:
    doc = json.loads((corpus / ZIPKIN / name).read_text(encoding="utf-8"))
    return doc if isinstance(doc, list) else [doc]


def test_corpus_folder_has_the_files_this_test_expects(corpus: Path) -> None:
    assert sorted(p.name for p in (corpus / ZIPKIN).glob("*.json")) == sorted(ZIPKIN_FILES)


@pytest.mark.parametrize("name", ZIPKIN_FILES)
def test_every_zipkin_file_loads_every_span(corpus: Path, store: Any, load: Any, name: str) -> None:
    spans = read(corpus, name)
    (f,) = load(corpus / ZIPKIN / name).files
    assert (f.status, f.format, f.signal) == ("loaded", "zipkin", "traces"), f.error
    assert (f.records, f.rejected) == (len(spans), 0)
    got = store.rows(
        "SELECT trace_id, span_id, parent_span_id, duration_ns FROM spans WHERE source_id = ?",
        [f.source_id],
    )
    expected = [
        (
            # 64-bit ids are stored left-padded to 32 digits
            s["traceId"].lower().rjust(32, "0"),
            s["id"],
            s.get("parentId"),
            s["duration"] * 1000 if "duration" in s else None,
        )
        for s in spans
    ]
    assert Counter(got) == Counter(expected)
    services = {s["localEndpoint"].get("serviceName") for s in spans}
    stored = {r[0] for r in store.rows(
        "SELECT DISTINCT service_name FROM spans WHERE source_id = ?", [f.source_id])}  # fmt: skip
    # a span without a serviceName takes the fallback from the path (the file name here)
    assert stored == {s or Path(name).name.split(".")[0] for s in services}


def test_jaeger_and_otlp_files_are_not_claimed(corpus: Path) -> None:
    for path in [*(corpus / "traces/jaeger").glob("*.json"), *(corpus / "traces/otlp").iterdir()]:
        assert sniff(path.read_bytes()[: 64 * 1024], path.name) == 0.0, path.name


def test_single_span_utf8_ipv6_and_error(corpus: Path, store: Any, load: Any) -> None:
    load(corpus / ZIPKIN / "zipkin2-chinese.single-span.json")
    row = store.rows(
        "SELECT trace_id, span_id, parent_span_id, name, kind, service_name,"
        " start_time::VARCHAR, end_time::VARCHAR, duration_ns, status_code, status_message,"
        " attributes, resource_attributes FROM spans"
    )
    (*cols, attrs, resource) = row[0]
    assert cols == [
        "4d1e00c0db9010db86154a4ba6e91385", "4d1e00c0db9010db", "86154a4ba6e91385",
        "个人信息查询", "CLIENT", "订单维护服务",
        "2016-08-29 11:43:16.199", "2016-08-29 11:43:16.406", 207000000,
        "ERROR", "此用户没有操作权限",
    ]  # fmt: skip
    assert json.loads(attrs) == {
        "net.host.ip": "2001:db8::c001",
        "peer.service": "个人信息服务",
        "net.peer.ip": "192.168.99.101",
        "net.peer.port": 9000,
        "http.path": "/person/profile/query",
        "http.status_code": "403",
        "error": "此用户没有操作权限",
    }
    assert json.loads(resource) == {"service.name": "订单维护服务"}


def test_annotations_become_events(corpus: Path, store: Any, load: Any) -> None:
    load(corpus / ZIPKIN / "zipkin2-client.single-span.json")
    events, status = store.rows("SELECT events, status_code FROM spans")[0]
    assert json.loads(events) == [
        {"time_unix_nano": 1472470996238000000, "name": "foo", "attributes": {}},
        {"time_unix_nano": 1472470996403000000, "name": "bar", "attributes": {}},
    ]
    assert status == "UNSET"


def test_shared_span_id_keeps_client_and_server_rows(corpus: Path, store: Any, load: Any) -> None:
    load(corpus / ZIPKIN / "skew.json")
    rows = store.rows(
        "SELECT kind, service_name, parent_span_id, attributes->>'$.\"zipkin.shared\"',"
        " start_time::VARCHAR FROM spans WHERE span_id = '74280ae0c10d8062' ORDER BY kind"
    )
    assert rows == [
        ("CLIENT", "servicea", "bf396325699c84bf", None, "2016-08-02 15:00:04.074202"),
        ("SERVER", "serviceb", "bf396325699c84bf", "true", "2016-08-02 15:00:04.008761"),
    ]
    # a local span (no kind) under the shared server span
    assert store.rows(
        "SELECT kind, parent_span_id FROM spans WHERE span_id = '43210ae0c10d1234'"
    ) == [("UNSPECIFIED", "74280ae0c10d8062")]


def test_spans_without_times_load_with_nulls(corpus: Path, store: Any, load: Any) -> None:
    spans = read(corpus, "smartthings-mobile-web-install.json")
    load(corpus / ZIPKIN / "smartthings-mobile-web-install.json")
    no_start, no_duration, services = store.rows(
        "SELECT count(*) FILTER (start_time IS NULL), count(*) FILTER (duration_ns IS NULL),"
        " count(DISTINCT service_name) FROM spans"
    )[0]
    assert no_start == sum("timestamp" not in s for s in spans)
    assert no_duration == sum("duration" not in s for s in spans)
    assert services == len({s["localEndpoint"]["serviceName"] for s in spans})


def test_error_tag_with_empty_value(corpus: Path, store: Any, load: Any) -> None:
    spans = read(corpus, "messaging-kafka.json")
    load(corpus / ZIPKIN / "messaging-kafka.json")
    errors = store.rows("SELECT span_id, status_message FROM spans WHERE status_code = 'ERROR'")
    expected = [
        (s["id"], s["tags"]["error"] or None) for s in spans if "error" in s.get("tags", {})
    ]
    assert Counter(errors) == Counter(expected)
    assert ("568b33e6af8a225a", None) in errors


def test_traces_api_shape_ids_and_rejects(tmp_path: Path, store: Any, load: Any) -> None:
    ok = {
        "traceId": "0000000000000000A1B2C3D4E5F60718",
        "id": "beef",
        "name": "get",
        "timestamp": 1700000000000001,
        "duration": 3,
        "localEndpoint": {"serviceName": "api"},
        "debug": True,
    }
    no_id = {"traceId": "a1b2c3d4e5f60718", "name": "x", "localEndpoint": {}}
    bad_ts = {"traceId": "a1b2c3d4e5f60718", "id": "2", "timestamp": "soon", "localEndpoint": {}}
    local = {"traceId": "a1b2c3d4e5f60718", "id": "3", "tags": {"span.kind": "internal"}}
    path = tmp_path / "zipkin" / "edge.json"
    path.parent.mkdir()
    path.write_text(json.dumps([[ok, no_id], [bad_ts, local]]))  # GET /api/v2/traces shape
    (f,) = load(path).files
    assert (f.format, f.records, f.rejected) == ("zipkin", 2, 2)
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (2, "missing or invalid id"),
        (3, "timestamp/duration is not a number"),
    ]
    assert store.rows(
        "SELECT trace_id, span_id, kind, service_name, start_time::VARCHAR, duration_ns,"
        " attributes FROM spans ORDER BY span_id"
    ) == [
        # every trace id is 32 digits: the zero high half stays, a 64-bit id is padded
        ("0000000000000000a1b2c3d4e5f60718", "0000000000000003", "INTERNAL", "edge", None, None,
         "{}"),
        ("0000000000000000a1b2c3d4e5f60718", "000000000000beef", "UNSPECIFIED", "api",
         "2023-11-14 22:13:20.000001", 3000, '{"zipkin.debug":true}'),
    ]  # fmt: skip


def test_forced_format_on_non_zipkin_json_fails_cleanly(
    tmp_path: Path, store: Any, load: Any
) -> None:
    path = tmp_path / "n.json"
    path.write_text("42")
    (f,) = load(path, format="zipkin2").files
    assert f.status == "failed"
    assert "not a Zipkin v2 document" in (f.error or "")
