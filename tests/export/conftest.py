"""A store for the export tests: the demo incident, the corpus's OTLP samples (span events
and links, an exponential histogram) and a small hand-written OTLP bundle with what the
demo lacks: hostile attribute values, keys with dots and quotes, attribute values of
every JSON type, a summary, delta temporality, and a log record without any time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CORPUS, FIXTURES

DEMO = FIXTURES / "checkout-incident"

HOSTILE = "[red]x\x1b[31m'); DROP TABLE otel_traces; --"
"""An attribute value that is Rich markup, an ANSI escape and SQL at once."""

HOSTILE_SERVICE = "export-edge"
HOSTILE_TRACE = "0bb5c0ffee0000000000000000e0e0e0"
HOSTILE_SPAN = "0bb5c0ffee00e0e0"
HOSTILE_START_NS = 1774541520123456789
"""A start time whose last digits a microsecond round trip would lose."""
HOSTILE_ATTRS = {
    "http.route": "/charge",
    'we"ird.key': "quoted",
    "hostile": HOSTILE,
    "n": "42",
    "f": "2.5",
    "b": "true",
    "arr": '[1,"two"]',
    "kv": '{"a":1}',
}
"""The exporter map the hand-written span's attributes must become (``skip`` is empty:
an AnyValue without a value is JSON null, dropped)."""


def _s(v: str) -> dict:
    return {"stringValue": v}


def _resource(service: str) -> dict:
    return {"attributes": [{"key": "service.name", "value": _s(service)}]}


def _write_bundle(root: Path) -> None:
    traces = {
        "resourceSpans": [
            {
                "resource": _resource(HOSTILE_SERVICE),
                "scopeSpans": [
                    {
                        "scope": {"name": "edge.scope", "version": "1.2"},
                        "spans": [
                            {
                                "traceId": HOSTILE_TRACE,
                                "spanId": HOSTILE_SPAN,
                                "name": "[bold]POST /charge\x1b[2J",
                                "kind": "SPAN_KIND_PRODUCER",
                                "startTimeUnixNano": str(HOSTILE_START_NS),
                                "endTimeUnixNano": str(HOSTILE_START_NS + 1_500_000_001),
                                "traceState": "vendor=1",
                                "attributes": [
                                    {"key": "http.route", "value": _s("/charge")},
                                    {"key": 'we"ird.key', "value": _s("quoted")},
                                    {"key": "hostile", "value": _s(HOSTILE)},
                                    {"key": "n", "value": {"intValue": "42"}},
                                    {"key": "f", "value": {"doubleValue": 2.5}},
                                    {"key": "b", "value": {"boolValue": True}},
                                    {
                                        "key": "arr",
                                        "value": {
                                            "arrayValue": {"values": [{"intValue": "1"}, _s("two")]}
                                        },
                                    },
                                    {
                                        "key": "kv",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [{"key": "a", "value": {"intValue": "1"}}]
                                            }
                                        },
                                    },
                                    {"key": "skip", "value": {}},
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": str(HOSTILE_START_NS + 7),
                                        "name": "exception",
                                        "attributes": [
                                            {"key": "exception.type", "value": _s("Timeout")},
                                            {"key": "retry.count", "value": {"intValue": "3"}},
                                        ],
                                    }
                                ],
                                "links": [
                                    {
                                        "traceId": "0af7651916cd43dd8448eb211c80319c",
                                        "spanId": "b7ad6b7169203331",
                                        "traceState": "k=v",
                                        "attributes": [{"key": "link.kind", "value": _s("retry")}],
                                    }
                                ],
                                "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                            },
                            {
                                "traceId": HOSTILE_TRACE,
                                "spanId": "0bb5c0ffee00e0e1",
                                "parentSpanId": HOSTILE_SPAN,
                                "name": "child",
                                "startTimeUnixNano": str(HOSTILE_START_NS + 1000),
                                "endTimeUnixNano": str(HOSTILE_START_NS + 2000),
                            },
                        ],
                    }
                ],
            }
        ]
    }
    logs = {
        "resourceLogs": [
            {
                "resource": _resource(HOSTILE_SERVICE),
                "scopeLogs": [
                    {
                        "scope": {"name": "edge.logger"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(HOSTILE_START_NS + 3),
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": _s(HOSTILE),
                                "traceId": HOSTILE_TRACE,
                                "spanId": HOSTILE_SPAN,
                                "attributes": [{"key": "hostile", "value": _s(HOSTILE)}],
                            },
                            {"severityText": "INFO", "body": _s("a record without any time")},
                        ],
                    }
                ],
            }
        ]
    }
    point = {
        "timeUnixNano": str(HOSTILE_START_NS + 11),
        "startTimeUnixNano": str(HOSTILE_START_NS - 60_000_000_000),
        "attributes": [{"key": "http.route", "value": _s("/charge")}],
    }
    metrics = {
        "resourceMetrics": [
            {
                "resource": _resource(HOSTILE_SERVICE),
                "scopeMetrics": [
                    {
                        "scope": {"name": "edge.meter"},
                        "metrics": [
                            {
                                "name": "edge.latency.summary",
                                "unit": "ms",
                                "summary": {
                                    "dataPoints": [
                                        {
                                            **point,
                                            "count": "10",
                                            "sum": 123.5,
                                            "quantileValues": [
                                                {"quantile": 0.5, "value": 11.0},
                                                {"quantile": 0.99, "value": 42.5},
                                            ],
                                        }
                                    ]
                                },
                            },
                            {
                                "name": "edge.requests",
                                "sum": {
                                    "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                    "isMonotonic": True,
                                    "dataPoints": [{**point, "asInt": "7"}],
                                },
                            },
                            {
                                "name": "edge.latency.exp",
                                "exponentialHistogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [
                                        {
                                            **point,
                                            "count": "6",
                                            "sum": -1.5,
                                            "scale": 3,
                                            "zeroCount": "1",
                                            "positive": {"offset": 2, "bucketCounts": ["1", "2"]},
                                            "negative": {"offset": -1, "bucketCounts": ["2"]},
                                            "min": -2.0,
                                            "max": 4.0,
                                        }
                                    ],
                                },
                            },
                        ],
                    }
                ],
            }
        ]
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "edge-traces.json").write_text(json.dumps(traces))
    (root / "edge-logs.json").write_text(json.dumps(logs))
    (root / "edge-metrics.json").write_text(json.dumps(metrics))


@pytest.fixture(scope="session")
def export_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The path of a store holding the demo, the corpus OTLP samples and the hand-written
    bundle (built once per session; open it read-only)."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    base = tmp_path_factory.mktemp("export-store")
    bundle = base / "edge"
    _write_bundle(bundle)
    path = base / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(
            s,
            [
                str(DEMO),
                str(CORPUS / "traces" / "otlp"),
                str(CORPUS / "metrics" / "otlp"),
                str(bundle),
            ],
        )
    return path


def store_counts(store: object) -> dict[str, int]:
    """Rows each exporter table should receive from ``store`` (all of it): log records
    and spans with a time, metric points per type."""
    q = store.scalar  # type: ignore[attr-defined]
    counts = {
        "otel_logs": q(
            "SELECT count(*) FROM logs WHERE coalesce(timestamp, observed_timestamp) IS NOT NULL"
        ),
        "otel_traces": q("SELECT count(*) FROM spans WHERE start_time IS NOT NULL"),
    }
    for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
        counts[f"otel_metrics_{kind}"] = q(
            "SELECT count(*) FROM metric_points WHERE metric_type = ? AND timestamp IS NOT NULL",
            [kind],
        )
    return counts
