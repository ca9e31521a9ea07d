"""Prometheus HTTP API query / query_range JSON → metric_points.

No such file is in the corpus: these responses follow the documented envelope of
https://prometheus.io/docs/prometheus/latest/querying/api/ (matrix, vector, scalar, native
histograms, error responses).
"""

from __future__ import annotations

import json

import pytest

RANGE = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [
            {
                "metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
                "values": [[1435781430.781, "1"], [1435781445.781, "1"], [1435781460.781, "1"]],
            },
            {
                "metric": {"__name__": "up", "job": "node", "instance": "localhost:9091"},
                "values": [[1435781430.781, "0"], [1435781445.781, "NaN"], [1435781460, "+Inf"]],
            },
        ],
    },
}


def test_query_range_matrix(tmp_path, load, store):
    p = tmp_path / "up.json"
    p.write_text(json.dumps(RANGE, indent=3))
    report = load(p)
    (f,) = report.files
    assert f.status == "loaded" and f.format == "prometheus-api"
    expected = sum(len(s["values"]) for s in RANGE["data"]["result"])
    assert f.records == expected and f.rejected == 0
    rows = store.rows(
        "SELECT metric_name, metric_type, service_name, attributes, timestamp::VARCHAR, value,"
        " line FROM metric_points ORDER BY line, timestamp"
    )
    assert rows[0] == (
        "up",
        "gauge",
        "prometheus",
        '{"job":"prometheus","instance":"localhost:9090"}',
        "2015-07-01 20:10:30.781",
        1.0,
        1,
    )
    node = [r for r in rows if r[2] == "node"]
    assert str(node[1][5]) == "nan" and node[2][5] == float("inf")
    assert node[2][4] == "2015-07-01 20:11:00"


def test_instant_vector_unnamed_series_and_service_labels(tmp_path, load, store):
    doc = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"code": "200", "service.name": "checkout"}, "value": [1.7e9, "12.5"]},
                {"metric": {"code": "500", "service": "cart"}, "value": [1700000000.123, "0.5"]},
                {"metric": {"code": "404"}, "value": [1700000000, "1e-3"]},
            ],
        },
        "warnings": ["PromQL info: metric might not be a counter"],
    }
    p = tmp_path / "http_error_rate.json"
    p.write_text(json.dumps(doc))
    load(p, service="fallback")
    rows = store.rows(
        "SELECT metric_name, service_name, attributes->>'code', timestamp::VARCHAR, value"
        " FROM metric_points ORDER BY line"
    )
    # rate(...) results have no __name__: the file stem names them.
    assert rows == [
        ("http_error_rate", "checkout", "200", "2023-11-14 22:13:20", 12.5),
        ("http_error_rate", "cart", "500", "2023-11-14 22:13:20.123", 0.5),
        ("http_error_rate", "fallback", "404", "2023-11-14 22:13:20", 0.001),
    ]


def test_scalar_result(tmp_path, load, store):
    p = tmp_path / "scalar.json"
    p.write_text(
        '{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"1"]}}'
    )
    load(p)
    assert store.rows("SELECT metric_name, timestamp::VARCHAR, value FROM metric_points") == [
        ("scalar", "2015-07-01 20:10:51.781", 1.0)
    ]


def test_native_histograms(tmp_path, load, store):
    doc = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "http_request_duration_seconds", "job": "api"},
                    "histograms": [
                        [
                            1700000000,
                            {
                                "count": "10",
                                "sum": "3.5",
                                "buckets": [[0, "0.5", "1", "4"], [0, "2", "4", "6"]],
                            },
                        ],
                        [1700000015, {"count": "0", "sum": "0"}],
                    ],
                }
            ],
        },
    }
    p = tmp_path / "hist.json"
    p.write_text(json.dumps(doc))
    report = load(p)
    assert report.files[0].records == 2
    rows = store.rows(
        "SELECT metric_type, service_name, count, sum, explicit_bounds, bucket_counts,"
        " timestamp::VARCHAR FROM metric_points ORDER BY timestamp"
    )
    assert rows[0] == (
        "histogram",
        "api",
        10.0,
        3.5,
        [0.5, 1.0, 2.0, 4.0],
        [0.0, 4.0, 0.0, 6.0, 0.0],  # the gap (1, 2] counts 0
        "2023-11-14 22:13:20",
    )
    assert rows[1][2:6] == (0.0, 0.0, [], [0.0])


def test_bad_points_are_rejected_by_series(tmp_path, load, store):
    doc = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"__name__": "a"}, "values": [[1700000000, "1"]]},
                {
                    "metric": {"__name__": "b"},
                    "values": [[1700000000, "oops"], [1700000015, "2"], ["yesterday", "3"], [1]],
                },
            ],
        },
    }
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    (f,) = load(p).files
    assert (f.records, f.rejected) == (2, 3)
    assert store.rows("SELECT line, reason FROM rejects ORDER BY reason") == [
        (2, "point 1: value is not a number: oops"),
        (2, "point 3: timestamp is not a time: yesterday"),
        (2, "point 4 is not a [timestamp, value] pair"),
    ]


def test_error_response_fails_with_server_message(tmp_path, load, store):
    p = tmp_path / "err.json"
    p.write_text('{"status":"error","errorType":"bad_data","error":"parse error at char 4"}')
    (f,) = load(p).files
    assert f.status == "failed"
    assert "bad_data: parse error at char 4" in f.error
    assert store.scalar("SELECT count(*) FROM sources") == 0


def test_json_lines_of_responses(tmp_path, load, store):
    lines = [
        json.dumps(RANGE),
        '{"status":"error","errorType":"timeout","error":"query timed out"}',
        json.dumps({"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "7"]}]}),
    ]
    p = tmp_path / "many.jsonl"
    p.write_text("\n".join(lines) + "\n")
    (f,) = load(p, format="query-range").files
    assert f.records == 7 and f.rejected == 1
    assert store.rows("SELECT line, reason FROM rejects") == [
        (2, "Prometheus API error response: timeout: query timed out")
    ]
    assert store.scalar("SELECT count(*) FROM metric_points WHERE metric_name = 'many'") == 1


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (json.dumps(RANGE).encode(), 0.95),
        (b'{"resultType":"vector","result":[]}', 0.95),
        (b'{"status":"error","errorType":"bad_data","error":"x"}', 0.6),
        (b'{"resourceMetrics":[]}', 0.0),
        (b'{"level":"info","msg":"resultType"}\n', 0.0),
        (b"up 1\n", 0.0),
    ],
)
def test_sniff(head, expected):
    from obsctl.ingest.metrics_promapi import sniff

    assert sniff(head, "x.json") == expected


def test_sniff_claims_no_corpus_file(corpus):
    from obsctl.ingest.metrics_promapi import sniff

    for f in sorted(corpus.rglob("*")):
        if f.is_file():
            assert sniff(f.read_bytes()[:65536], f.name) == 0, f
