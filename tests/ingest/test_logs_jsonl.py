"""JSON-lines logs: every corpus file loads with exact counts, fields land in the right
columns, bad lines are rejected with their line number, and other JSON formats are left
to their own modules."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from obsctl.ingest import detect
from obsctl.ingest.files import open_source
from obsctl.ingest.logs_jsonl import plan_from_sample, sniff

JSONL = "logs/jsonl"
CORPUS_FILES = [
    "elastic_nginxplus_status.jsonl.gz",
    "lnav_bunyan.jsonl",
    "lnav_cloudflare.jsonl",
    "lnav_ecs_log.jsonl",
    "lnav_invalid_json.jsonl",
    "lnav_journald.jsonl",
    "lnav_json.jsonl",
    "lnav_json3_nginx-like.jsonl",
    "lnav_mixed_json2.jsonl",
    "lnav_nested_json.jsonl",
    "lnav_pino_otel-demo.jsonl",
    "lnav_rust_tracing.jsonl",
]


def _expected(path: Path) -> tuple[int, list[int]]:
    """(object lines, 1-based numbers of non-blank lines that are not JSON objects)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    good, bad = 0, []
    for n, line in enumerate(raw.decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if ok:
            good += 1
        else:
            bad.append(n)
    return good, bad


def _one(store, source_id: int, line: int, cols: str) -> tuple:
    rows = store.rows(
        f"SELECT {cols} FROM logs WHERE source_id = ? AND line = ?", [source_id, line]
    )
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file_loads_with_exact_counts(corpus, store, load, name):
    path = corpus / JSONL / name
    good, bad = _expected(path)
    report = load(path)
    f = report.files[0]
    assert f.status == "loaded", f.error
    assert f.format == "jsonl"
    assert (f.records, f.rejected) == (good, len(bad))
    assert store.scalar("SELECT count(*) FROM logs WHERE source_id = ?", [f.source_id]) == good
    rejected = [r[0] for r in store.rows("SELECT line FROM rejects ORDER BY line")]
    assert rejected == bad
    # the insert ran unordered; the global setting is back as it was
    assert store.scalar("SELECT current_setting('preserve_insertion_order')") is True
    # every loaded row keeps the exact line it came from
    lines = store.rows("SELECT line FROM logs WHERE source_id = ? ORDER BY line", [f.source_id])
    assert all(n > 0 for (n,) in lines) and len({n for (n,) in lines}) == good


def test_pino_fields_and_ids(corpus, store, load):
    f = load(corpus / JSONL / "lnav_pino_otel-demo.jsonl").files[0]
    ts, svc, sev, num, body, tid, sid, attrs = _one(
        store,
        f.source_id,
        1,
        "timestamp::VARCHAR, service_name, severity_text, severity_number, body, trace_id,"
        " span_id, attributes",
    )
    assert ts == "2025-04-24 22:08:37.537"  # epoch milliseconds 1745532517537
    assert (svc, sev, num, body) == ("payment", "info", 9, "Charge request received.")
    assert (tid, sid) == ("c759f29f5f1e2162be56f32dd1e77fce", "17c4a60ca4297cf1")
    a = json.loads(attrs)
    assert a["trace_flags"] == "01" and a["request"]["amount"]["nanos"] == 999999996
    assert not a.keys() & {"level", "time", "msg", "trace_id", "span_id", "service.name"}


def test_journald_priority_realtime_and_unit(corpus, store, load):
    f = load(corpus / JSONL / "lnav_journald.jsonl").files[0]
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, service_name, severity_text, severity_number, body,"
        " attributes->>'$._HOSTNAME' FROM logs WHERE source_id = ? ORDER BY line",
        [f.source_id],
    )
    assert rows == [
        (1, "2018-08-21 14:04:21.221373", "medusa-GpsLocator.service", "1", 22,
         "GPS Reference longitude: 7.358143333", "imx6ul-medusa"),
        (2, "2018-08-21 14:04:21.221373", "medusa-GpsLocator.service", "6", 9,
         "GPS Reference latitude: 46.908706667", "imx6ul-medusa"),
    ]  # fmt: skip


def test_ecs_dotted_level_key_and_nested_log_object(corpus, store, load):
    f = load(corpus / JSONL / "lnav_ecs_log.jsonl").files[0]
    ts, sev, num, body, logger, attrs = _one(
        store,
        f.source_id,
        3,
        "timestamp::VARCHAR, severity_text, severity_number, body,"
        " attributes->>'$.log.logger', attributes",
    )
    assert (ts, sev, num) == ("2025-01-13 09:58:13.633", "warning", 13)
    assert body == "this is a warning message num=83"
    assert logger == "app"  # the nested "log" object is kept whole
    assert not json.loads(attrs).keys() & {"@timestamp", "log.level", "message"}


def test_bunyan_numeric_levels_and_application_name(corpus, store, load):
    f = load(corpus / JSONL / "lnav_bunyan.jsonl").files[0]
    rows = store.rows(
        "SELECT severity_text, severity_number, service_name, count(*) FROM logs"
        " WHERE source_id = ? GROUP BY ALL ORDER BY 1",
        [f.source_id],
    )
    assert rows == [("20", 5, "renovate", 9), ("30", 9, "renovate", 1)]
    ts, pid = _one(store, f.source_id, 5, "timestamp::VARCHAR, attributes->>'$.pid'")
    assert (ts, pid) == ("2023-03-24 14:26:16.39", "7")


def test_rust_tracing_message_nested_under_fields(corpus, store, load):
    f = load(corpus / JSONL / "lnav_rust_tracing.jsonl").files[0]
    ts, sev, body, yaks, target = _one(
        store,
        f.source_id,
        1,
        "timestamp::VARCHAR, severity_text, body, attributes->>'$.fields.number_of_yaks',"
        " attributes->>'$.target'",
    )
    assert (ts, sev, body) == ("2025-10-28 19:15:10.821315", "INFO", "preparing to shave yaks")
    assert (yaks, target) == ("3", "fmt_json")


def test_level_and_message_nested_under_at_fields(corpus, store, load):
    f = load(corpus / JSONL / "lnav_nested_json.jsonl").files[0]
    sev, num, body, trace = _one(
        store,
        f.source_id,
        13,
        "severity_text, severity_number, body, attributes->'$.\"@fields\".trace'",
    )
    assert (sev, num, body) == ("FATAL", 21, "shoot")
    assert json.loads(trace) == ["line:1", "line:2"]


def test_epoch_millisecond_numbers_int_and_float(corpus, store, load):
    f = load(corpus / JSONL / "lnav_json3_nginx-like.jsonl").files[0]
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, attributes->>'$.response.status' FROM logs"
        " WHERE source_id = ? ORDER BY line",
        [f.source_id],
    )
    assert rows == [
        (1, "2017-03-24 20:06:26.24", "200"),
        (2, "2017-03-24 20:12:47.764", "500"),  # 1490386367764.0
        (3, "2017-03-24 20:15:31.694", "400"),
    ]


def test_bad_timestamp_keeps_the_record_and_escapes_survive(corpus, store, load):
    f = load(corpus / JSONL / "lnav_json.jsonl").files[0]
    assert _one(store, f.source_id, 6, "timestamp, severity_text, body") == (
        None, "DEBUG3", "bad ts...\n",
    )  # fmt: skip
    body, logger = _one(store, f.source_id, 2, "body, attributes->>'$.logger'")
    assert body == "Starting up \x1b[0;32mservice\x1b[0m"
    assert logger == "com.example.demoµs"


def test_metric_like_status_snapshots_gzip(corpus, store, load):
    f = load(corpus / JSONL / "elastic_nginxplus_status.jsonl.gz").files[0]
    ts, body, accepted, zones = _one(
        store,
        f.source_id,
        1,
        "timestamp::VARCHAR, body, attributes->>'$.connections.accepted',"
        " json_keys(attributes->'$.server_zones')",
    )
    assert ts == "2015-10-30 23:58:19.322"  # "timestamp": 1446249499322 (ms)
    assert body is None and accepted == "8995031"
    assert "hg.nginx.org" in zones


def test_invalid_json_line_rejected_with_reason(corpus, store, load):
    load(corpus / JSONL / "lnav_invalid_json.jsonl")
    (line, reason, excerpt), = store.rows("SELECT line, reason, excerpt FROM rejects")  # fmt: skip
    assert line == 3
    assert reason.startswith("invalid JSON: Unterminated string")
    assert excerpt.startswith('{"ts": "2013-09-06T22:00:49.124817Z"')


def test_non_json_lines_of_mixed_file_rejected(corpus, store, load):
    load(corpus / JSONL / "lnav_mixed_json2.jsonl")
    rows = store.rows("SELECT line, reason, excerpt FROM rejects ORDER BY line")
    assert [r[0] for r in rows] == [4, 5, 6, 7, 8]
    assert all(r[1].startswith("invalid JSON") for r in rows)
    assert rows[1][2] == "panic: foo bar failed baz"  # CR of the CRLF line removed


def test_nanoseconds_offsets_ids_and_blank_lines(tmp_path, store, load):
    lines = [
        {"time": "2024-03-01T10:00:00.123456789+02:00", "level": "WARN", "msg": "a",
         "traceId": "AAAAAAAAAAAAAAAAAAAAAQ==", "spanId": "AAAAAAAAAAI=", "k": 1},
        {"time": "2024-03-01T08:00:00.000000001Z", "level": "error", "msg": "b",
         "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174"},
        {"time": 1709280000, "level": "info", "msg": "c"},
    ]  # fmt: skip
    text = "\r\n".join(json.dumps(o) for o in lines[:2]) + "\r\n\r\n   \n" + json.dumps(lines[2])
    p = tmp_path / "logs" / "api.jsonl"  # generic folder: the service is the file's stem
    p.parent.mkdir()
    p.write_text(text)
    f = load(p).files[0]
    assert (f.records, f.rejected) == (3, 0)
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, service_name, severity_number, trace_id, span_id,"
        " attributes FROM logs ORDER BY line"
    )
    assert [r[:6] for r in rows] == [
        (1, "2024-03-01 08:00:00.123456789", "api", 13, "00000000000000000000000000000001",
         "0000000000000002"),
        (2, "2024-03-01 08:00:00.000000001", "api", 17, "5b8efff798038103d269b633813fc60c",
         "eee19b7ec3c1b174"),
        (5, "2024-03-01 08:00:00", "api", 9, None, None),
    ]  # fmt: skip
    assert [json.loads(r[6]) for r in rows] == [{"k": 1}, {}, {}]


def test_attributes_exact_when_nested_objects_repeat_mapped_keys(tmp_path, store, load):
    # Leading mapped keys take the textual fast path; nested copies of the same keys,
    # escaped values and lines in another key order must still come out exact.
    objs = []
    for i in range(40):
        objs.append({"ts": f"2024-01-01T00:00:{i:02d}Z", "level": "info", "caller": f"m.go:{i}",
                     "msg": "hello", "n": i, "ctx": {"msg": "hello", "level": "info"}})  # fmt: skip
    objs.append({"ts": "2024-01-01T00:01:00Z", "level": "info", "caller": "x",
                 "msg": 'quote " and \\ slash', "n": 99})  # fmt: skip
    objs.append({"n": 7, "msg": "late", "level": "debug", "ts": "2024-01-01T00:02:00Z"})
    objs.append({"ts": "2024-01-01T00:03:00Z", "level": "info", "msg": "only mapped"})
    p = tmp_path / "fast.jsonl"
    p.write_text("\n".join(json.dumps(o, separators=(",", ":")) for o in objs) + "\n")
    plan = plan_from_sample(objs)  # the fast path is planned: caller is carried back
    assert (plan.prefix, plan.carried) == (["ts", "level", "caller", "msg"], ["caller"])
    load(p)
    rows = store.rows("SELECT line, body, attributes FROM logs ORDER BY line")
    assert len(rows) == len(objs)
    for (line, body, attrs), o in zip(rows, objs, strict=True):
        assert body == o["msg"], line
        want = {k: v for k, v in o.items() if k not in ("ts", "level", "msg")}
        assert json.loads(attrs) == want, line


def test_datadog_decimal_ids_and_service_fallback(tmp_path, store, load):
    p = tmp_path / "checkout" / "app.log.jsonl"
    p.parent.mkdir()
    rec = {"timestamp": "2024-05-01 12:00:00", "status": "x", "message": "m",
           "dd.trace_id": "1234567890123456789", "dd.span_id": "42"}  # fmt: skip
    p.write_text(json.dumps(rec) + "\n")
    load(p)
    assert store.rows("SELECT service_name, trace_id, span_id, timestamp::VARCHAR FROM logs") == [
        ("checkout", "0000000000000000112210f47de98115", "000000000000002a", "2024-05-01 12:00:00")
    ]


def test_forced_on_a_file_without_json_objects_fails_cleanly(tmp_path, store, load):
    p = tmp_path / "plain.log"
    p.write_text("just text\nmore text\n")
    f = load(p, format="ndjson").files[0]
    assert f.status == "failed"
    assert "no line is a JSON object" in f.error and "line 1" in f.error
    assert store.scalar("SELECT count(*) FROM logs") == 0


@pytest.mark.parametrize(
    "rel",
    [
        "logs/otlp/lnav_otel_collector_fileexporter.jsonl",
        "logs/otlp/logs.json",
        "metrics/otlp/metrics.json",
        "traces/otlp/trace.json",
        "traces/jaeger/jaeger_otlp2jaeger-out.json",
        "traces/jaeger/jaeger_ui_01.json",
        "traces/jaeger/jaeger_anonymizer_spans.json",
        "traces/jaeger/jaegerui_flamegraph_testTrace_reduxstate.json",
        "traces/zipkin/envoy.json",
        "traces/zipkin/zipkin2-client.single-span.json",
        "profiles/speedscope/simple-no-pretty-print.v0.0.1.evented.speedscope.json",
        "profiles/other/chrome65_simple.cpuprofile.json",
        "metrics/nab/labels/combined_windows_tiny.json",
        "logs/logfmt/lnav_logfmt.0.logfmt",
    ],
)
def test_sniff_leaves_other_json_formats_alone(corpus, rel):
    src = open_source(str(corpus / rel))
    assert sniff(src.head, src.name) == 0.0


def test_sniff_claims_no_other_corpus_file(corpus):
    claimed = []
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and JSONL not in path.as_posix():
            src = open_source(str(path))
            if sniff(src.head, src.name) > 0:
                claimed.append(path.relative_to(corpus).as_posix())
    assert claimed == []


def test_sniff_rejects_prometheus_api_and_pretty_printed_documents():
    prom = b'{"status":"success","data":{"resultType":"matrix","result":[]}}\n'
    assert sniff(prom, "q.json") == 0.0
    pretty = json.dumps({"ts": "2024-01-01T00:00:00Z", "msg": "x", "a": [1, 2]}, indent=2)
    assert sniff(pretty.encode(), "doc.json") == 0.0


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_detection_picks_jsonl(corpus, name):
    src = open_source(str(corpus / JSONL / name))
    assert detect.detect(src.head, src.name).name == "jsonl"


TIME_TEXTS = [
    "2024-03-01T10:00:00.123456789Z", "2024-03-01T10:00:00Z", "2024-03-01 10:00:00z",
    "2024-03-01T10:00:00.5+02:00", "2024-03-01T10:00:00-0530", "2024-03-01T10:00:00+01",
    "2024-03-01T10:00:00,250Z", "2024-03-01T10:00:00 UTC", "2024-03-01", "2024-03-01T10:00",
    "2024-03-01T10:00:00.1234567891Z", " 2024-03-01T10:00:00Z ", "2024-03-01T10:00:00 junk",
    "1709287200", "1709287200123", "1709287200123456", "1709287200123456789", "-1", "0",
    "+1709287200", "01709287200", "1709287200.5", "1709287200123.0", "1.5e9", " 1709287200 ",
    "xxx", "", "Z", "2024-13-45T99:99:99Z",
]  # fmt: skip


def test_inlined_time_expression_matches_obsctl_ts(store):
    from obsctl.ingest.logs_jsonl import ts_sql

    rows = store.rows(
        f"SELECT v, ({ts_sql('v')})::VARCHAR, obsctl_ts(v)::VARCHAR FROM unnest(?) AS t(v)",
        [TIME_TEXTS],
    )
    assert len(rows) == len(TIME_TEXTS)
    assert [(v, a) for v, a, _ in rows] == [(v, b) for v, _, b in rows]


def test_lines_longer_than_the_sniffing_head_are_planned_from_the_data(tmp_path, store, load):
    big = {"ts": "2024-01-01T00:00:00Z", "level": "warn", "msg": "big", "blob": "x" * 100_000}
    p = tmp_path / "logs" / "big.jsonl"
    p.parent.mkdir()
    p.write_text(json.dumps(big) + "\n" + json.dumps({**big, "blob": "y", "msg": "small"}) + "\n")
    f = load(p, format="jsonl").files[0]  # the 64 KiB head holds no complete line
    assert (f.status, f.records) == ("loaded", 2)
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, severity_number, body, strlen(attributes->>'$.blob')"
        " FROM logs ORDER BY line"
    )
    assert rows == [
        (1, "2024-01-01 00:00:00", 13, "big", 100_000),
        (2, "2024-01-01 00:00:00", 13, "small", 1),
    ]
