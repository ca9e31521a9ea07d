"""CSV time series → metric_points, on the NAB corpus files and hand-made tables."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

NAB = Path("metrics/nab/data")
NAB_FILES = [
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv",
    "realKnownCause/machine_temperature_system_failure.csv",
    "realKnownCause/nyc_taxi.csv",
]


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("name", NAB_FILES)
def test_nab_file_loads_every_row(corpus, load, store, name):
    path = corpus / NAB / name
    rows = read_rows(path)
    assert rows[0] == ["timestamp", "value"]
    report = load(path)
    (f,) = report.files
    assert f.status == "loaded", f.error
    assert f.format == "csv-metrics"
    assert (f.records, f.rejected) == (len(rows) - 1, 0)
    stem = path.stem
    first_ts, first_value = rows[1]
    # The generic `value` column takes the file's stem; naive times are UTC.
    assert store.rows(
        "SELECT metric_name, metric_type, timestamp::VARCHAR, value, line FROM metric_points"
        " ORDER BY line LIMIT 1"
    ) == [(stem, "gauge", first_ts, float(first_value), 2)]
    assert store.scalar("SELECT DISTINCT service_name FROM metric_points") == path.parent.name


def test_time_going_backwards_keeps_every_row(corpus, load, store):
    path = corpus / NAB / "realKnownCause/machine_temperature_system_failure.csv"
    rows = read_rows(path)[1:]
    duplicates = sum(n - 1 for n in Counter(r[0] for r in rows).values())
    back = [i + 2 for i in range(1, len(rows)) if rows[i][0] < rows[i - 1][0]]
    assert duplicates == 12 and back == [10151]
    load(path)
    assert (
        store.scalar("SELECT count(*) - count(DISTINCT timestamp) FROM metric_points") == duplicates
    )
    assert store.rows(
        "SELECT line, timestamp::VARCHAR FROM (SELECT line, timestamp,"
        " lag(timestamp) OVER (ORDER BY line) AS prev FROM metric_points)"
        " WHERE timestamp < prev"
    ) == [(10151, "2014-01-07 02:00:00")]


def test_wide_table_with_labels_quotes_and_rejects(tmp_path, load, store):
    p = tmp_path / "hosts.csv"
    p.write_text(
        "time;host;service;cpu;mem\n"
        '2024-03-01T10:00:00Z;"web-1";checkout;0.5;1024\n'
        "2024-03-01T10:00:15+02:00;web-2;;0.75;\n"
        "# a comment line\n"
        "\n"
        '2024-03-01T10:00:30.123456789Z;"we;b""3";cart;abc;2048\n'
        "1709287245;web-1;x;1;2\n"
        "1709287245123;web-1;x;NaN;2\n"
        "not-a-time;web-1;x;1;2\n"
        "1709287245;web-1;x;1;2;9\n"
    )
    (f,) = load(p, service="fallback").files
    assert f.status == "loaded" and f.format == "csv-metrics"
    assert (f.records, f.rejected) == (8, 3)
    rows = store.rows(
        "SELECT line, metric_name, service_name, attributes, timestamp::VARCHAR, value"
        " FROM metric_points ORDER BY line, metric_name"
    )
    assert rows[0] == (
        2,
        "cpu",
        "checkout",
        '{"host":"web-1","service":"checkout"}',
        "2024-03-01 10:00:00",
        0.5,
    )
    # +02:00 is honoured; the empty mem cell is a missing sample, not an error.
    assert rows[2] == (
        3,
        "cpu",
        "fallback",
        '{"host":"web-2","service":""}',
        "2024-03-01 08:00:15",
        0.75,
    )
    assert [r[1] for r in rows if r[0] == 3] == ["cpu"]
    # Quoted field with a delimiter and "" escape; nanoseconds kept; bad cpu cell rejected.
    assert rows[3] == (
        6,
        "mem",
        "cart",
        json.dumps({"host": 'we;b"3', "service": "cart"}, separators=(",", ":")),
        "2024-03-01 10:00:30.123456789",
        2048.0,
    )
    # Epoch seconds and milliseconds.
    assert [r[4] for r in rows if r[0] in (7, 8)] == [
        "2024-03-01 10:00:45",
        "2024-03-01 10:00:45",
        "2024-03-01 10:00:45.123",
        "2024-03-01 10:00:45.123",
    ]
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (6, "column cpu: not a number: abc"),
        (9, "time does not parse: not-a-time"),
        (10, "expected 5 fields, got 6"),
    ]


def test_first_column_time_without_a_time_name(tmp_path, load, store):
    p = tmp_path / "latency.tsv"
    p.write_text("when\tp50\tp99\n2024-01-01 00:00:00\t12\t80.5\n2024-01-01 00:01:00\t13\t90\n")
    (f,) = load(p).files
    assert (f.format, f.records) == ("csv-metrics", 4)
    assert store.rows(
        "SELECT metric_name, count(*), max(value) FROM metric_points GROUP BY 1 ORDER BY 1"
    ) == [("p50", 2, 13.0), ("p99", 2, 90.0)]


def test_not_metrics_csv_is_not_claimed(corpus, load):
    from obsctl.ingest.metrics_csv import sniff

    structured = sorted((corpus / "logs/loghub").rglob("*_structured.csv"))
    templates = sorted((corpus / "logs/loghub").rglob("*_templates.csv"))
    labels = sorted((corpus / "metrics/nab/labels").glob("*.json"))
    assert len(structured) == 4 and len(templates) == 4 and len(labels) == 3
    for f in structured + templates + labels:
        assert sniff(f.read_bytes()[:65536], f.name) == 0, f
    # Forced, it refuses the file as a whole instead of loading garbage.
    (f,) = load(structured[0], format="csv").files
    assert f.status == "failed" and "not a CSV time series" in f.error


def test_sniff_claims_only_nab_in_corpus(corpus):
    from obsctl.ingest.metrics_csv import sniff

    claimed = {
        str(f.relative_to(corpus))
        for f in corpus.rglob("*")
        if f.is_file() and sniff(f.read_bytes()[:65536], f.name) > 0
    }
    assert claimed == {str(NAB / n) for n in NAB_FILES}
