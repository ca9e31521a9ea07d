"""OTLP/JSON metrics: every data point type, JSON lines, rejects."""

from __future__ import annotations

import json
from pathlib import Path

from obsctl.ingest import detect

TYPES = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


def count_points(request: dict) -> int:
    """Data points of one ExportMetricsServiceRequest (stdlib only)."""
    return sum(
        len(m[t].get("dataPoints", []))
        for rm in request.get("resourceMetrics", [])
        for sm in rm.get("scopeMetrics", [])
        for m in sm.get("metrics", [])
        for t in TYPES
        if t in m
    )


def test_proto_example_loads_every_point(corpus: Path, store, load) -> None:
    path = corpus / "metrics/otlp/metrics.json"
    expected = count_points(json.loads(path.read_text()))
    (f,) = load(path).files
    assert (f.status, f.format, f.signal, f.records, f.rejected) == (
        "loaded",
        "otlp-metrics",
        "metrics",
        expected,
        0,
    )
    assert store.rows("SELECT count(*) FROM metric_points") == [(expected,)]


def test_proto_example_is_detected_as_otlp_metrics_only(corpus: Path) -> None:
    from obsctl.ingest import logs_otlp, metrics_otlp, traces_otlp

    head = (corpus / "metrics/otlp/metrics.json").read_bytes()[:65536]
    assert detect.detect(head, "metrics.json").name == "otlp-metrics"
    assert metrics_otlp.sniff(head, "metrics.json") >= 0.9
    assert logs_otlp.sniff(head, "metrics.json") == traces_otlp.sniff(head, "") == 0


def test_proto_example_values_by_type(corpus: Path, store, load) -> None:
    load(corpus / "metrics/otlp/metrics.json")
    rows = store.rows(
        "SELECT metric_name, metric_type, unit, description, service_name, scope_name,"
        " timestamp::VARCHAR, start_timestamp::VARCHAR, value, is_monotonic,"
        " aggregation_temporality, attributes::VARCHAR FROM metric_points ORDER BY metric_name"
    )
    assert rows == [
        (
            "my.counter",
            "sum",
            "1",
            "I am a Counter",
            "my.service",
            "my.library",
            "2018-12-13 14:51:00.3",
            "2018-12-13 14:51:00.3",
            5.0,
            True,
            "delta",
            '{"my.counter.attr":"some value"}',
        ),
        (
            "my.exponential.histogram",
            "exponential_histogram",
            "1",
            "I am an Exponential Histogram",
            "my.service",
            "my.library",
            "2018-12-13 14:51:00.3",
            "2018-12-13 14:51:00.3",
            None,
            None,
            "delta",
            '{"my.exponential.histogram.attr":"some value"}',
        ),
        (
            "my.gauge",
            "gauge",
            "1",
            "I am a Gauge",
            "my.service",
            "my.library",
            "2018-12-13 14:51:00.3",
            None,
            10.0,
            None,
            None,
            '{"my.gauge.attr":"some value"}',
        ),
        (
            "my.histogram",
            "histogram",
            "1",
            "I am a Histogram",
            "my.service",
            "my.library",
            "2018-12-13 14:51:00.3",
            "2018-12-13 14:51:00.3",
            None,
            None,
            "delta",
            '{"my.histogram.attr":"some value"}',
        ),
    ]
    assert store.rows(
        "SELECT count, sum, min, max, bucket_counts, explicit_bounds FROM metric_points"
        " WHERE metric_type = 'histogram'"
    ) == [(2.0, 2.0, 0.0, 2.0, [1.0, 1.0], [1.0])]
    assert store.rows(
        "SELECT count, sum, min, max, exp_scale, exp_zero_count, exp_positive_offset,"
        " exp_positive_counts, exp_negative_offset, exp_negative_counts FROM metric_points"
        " WHERE metric_type = 'exponential_histogram'"
    ) == [(3.0, 10.0, 0.0, 5.0, 0, 1.0, 1, [0.0, 2.0], None, None)]


def test_json_lines_summary_cumulative_int_sum_and_rejects(tmp_path: Path, store, load):
    def request(*metrics: dict) -> str:
        return json.dumps(
            {
                "resourceMetrics": [
                    {
                        "resource": {
                            "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                        },
                        "scopeMetrics": [
                            {"scope": {"name": "otelcol/hostmetrics"}, "metrics": list(metrics)}
                        ],
                    }
                ]
            }
        )

    requests_total = {
        "name": "http.server.requests",
        "unit": "{request}",
        "sum": {
            "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
            "isMonotonic": True,
            "dataPoints": [
                {
                    "asInt": "1200",
                    "timeUnixNano": "1700000000000000000",
                    "startTimeUnixNano": "1699990000000000000",
                    "attributes": [{"key": "http.route", "value": {"stringValue": "/pay"}}],
                    "exemplars": [{"asDouble": 1, "traceId": "00"}],
                },
                {
                    "asInt": 1300,
                    "timeUnixNano": "1700000060000000000",
                    "startTimeUnixNano": "1699990000000000000",
                },
            ],
        },
    }
    latency = {
        "name": "rpc.latency",
        "unit": "ms",
        "summary": {
            "dataPoints": [
                {
                    "timeUnixNano": "1700000000000000000",
                    "count": "10",
                    "sum": 123.5,
                    "quantileValues": [
                        {"quantile": 0.5, "value": 9.5},
                        {"quantile": 0.99},
                    ],  # value 0 omitted
                }
            ]
        },
    }
    queue = {
        "name": "queue.depth",
        "gauge": {
            "dataPoints": [{"asDouble": "NaN", "timeUnixNano": "1700000000000000000", "flags": 1}]
        },
    }
    legacy = {"name": "old.counter", "intSum": {"dataPoints": [{"value": "3"}]}}
    lines = [request(requests_total, latency), request(queue, legacy), "]"]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n")
    expected = sum(count_points(json.loads(line)) for line in lines[:2])
    (f,) = load(path).files
    assert (f.status, f.format, f.records, f.rejected) == ("loaded", "otlp-metrics", expected, 2)
    assert store.rows(
        "SELECT line, metric_name, metric_type, unit, service_name, scope_name,"
        " timestamp::VARCHAR, value, is_monotonic, aggregation_temporality,"
        " attributes::VARCHAR FROM metric_points WHERE metric_type = 'sum' ORDER BY timestamp"
    ) == [
        (
            1,
            "http.server.requests",
            "sum",
            "{request}",
            "api",
            "otelcol/hostmetrics",
            "2023-11-14 22:13:20",
            1200.0,
            True,
            "cumulative",
            '{"http.route":"/pay"}',
        ),
        (
            1,
            "http.server.requests",
            "sum",
            "{request}",
            "api",
            "otelcol/hostmetrics",
            "2023-11-14 22:14:20",
            1300.0,
            True,
            "cumulative",
            "{}",
        ),
    ]
    assert store.rows(
        "SELECT count, sum, quantiles, aggregation_temporality FROM metric_points"
        " WHERE metric_type = 'summary'"
    ) == [(10.0, 123.5, [{"quantile": 0.5, "value": 9.5}, {"quantile": 0.99, "value": 0.0}], None)]
    ((value, flags),) = store.rows(
        "SELECT value, flags FROM metric_points WHERE metric_name = 'queue.depth'"
    )
    assert value != value and flags == 1  # NaN kept
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (2, 'metric "old.counter" has no gauge, sum, histogram, exponentialHistogram or summary'),
        (3, "invalid JSON"),
    ]


def test_protobuf_request_loads_like_its_json(corpus: Path, tmp_path: Path, store, load) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    src = corpus / "metrics/otlp/metrics.json"
    message = json_format.ParseDict(json.loads(src.read_text()), ExportMetricsServiceRequest())
    path = tmp_path / "metrics" / "metrics.binpb"
    path.parent.mkdir()
    path.write_bytes(message.SerializeToString())
    (f,) = load(path).files
    assert (f.status, f.format, f.records, f.rejected) == ("loaded", "otlp-proto-metrics", 4, 0)
    (g,) = load(src).files

    def rows(source_id: int) -> list[tuple]:
        return store.rows(
            "SELECT * EXCLUDE (source_id) FROM metric_points WHERE source_id = ? ORDER BY ALL",
            [source_id],
        )

    assert rows(f.source_id) == rows(g.source_id)
