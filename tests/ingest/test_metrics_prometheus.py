"""Prometheus text exposition / OpenMetrics → metric_points, on the real corpus files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

PROM = Path("metrics/prometheus")
CORPUS_FILES = [
    "node_exporter_e2e-output-darwin.txt",
    "node_exporter_e2e-output.txt",
    "node_exporter_textfile_client_side_timestamp.prom",
    "node_exporter_textfile_different_metric_types.prom",
    "node_exporter_textfile_histogram.prom",
    "node_exporter_textfile_inconsistent_metrics.prom",
    "node_exporter_textfile_summary.prom",
    "prometheus_1histogram.om.txt",
    "prometheus_alltypes.237mfs.nometa.prom.txt",
    "prometheus_alltypes.237mfs.prom.txt",
    "prometheus_omtestdata.txt",
    "prometheus_promtestdata.txt",
    "promtool_dump-openmetrics-roundtrip-test.prom",
    "promtool_metrics-test.prom",
]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')
_SUFFIXES = {
    "counter": {"total", "created"},
    "histogram": {"bucket", "count", "sum", "created"},
    "gaugehistogram": {"bucket", "gcount", "gsum", "created"},
    "summary": {"count", "sum", "created"},
    "info": {"info"},
}
_GROUPED = {"histogram", "gaugehistogram", "summary"}


def expected_rows(path: Path) -> int:
    """Rows the spec says a file gives, counted with plain string handling.

    One per sample, except: one per (family, labels without le/quantile, timestamp) for
    histograms and summaries, and none for `_created` samples of typed families.
    """
    types: dict[str, str] = {}
    samples = []
    # split("\n"), not splitlines(): a node_exporter label value holds a raw \x1c byte.
    for raw in path.read_text(encoding="utf-8").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                types.setdefault(parts[2], parts[3])
            continue
        samples.append(line.split(" # ")[0])  # drop an exemplar
    rows = 0
    groups = set()
    for s in samples:
        name = _NAME.match(s).group(0)
        labels = dict(_LABEL.findall(s))
        tail = s[s.rfind("}") + 1 :] if "}" in s else s[len(name) :]
        tokens = tail.split()
        ts = tokens[1] if len(tokens) > 1 else None
        base, _, suffix = name.rpartition("_")
        if name in types and types[name] not in ("histogram", "gaugehistogram"):
            family, mtype, suffix = name, types[name], ""
        elif base in types and suffix in _SUFFIXES.get(types[base], ()):
            family, mtype = base, types[base]
        else:
            family, mtype, suffix = name, "untyped", ""
        if suffix == "created":
            continue
        if mtype in _GROUPED:
            key = {(k, v) for k, v in labels.items() if k not in ("le", "quantile")}
            groups.add((family, frozenset(key), ts))
        else:
            rows += 1
    return rows + len(groups)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file_loads_every_sample(corpus, load, store, name):
    path = corpus / PROM / name
    report = load(path)
    (f,) = report.files
    assert f.status == "loaded", f.error
    assert f.format == "prometheus"
    assert f.rejected == 0
    assert f.records == expected_rows(path)
    assert store.scalar("SELECT count(*) FROM metric_points") == f.records


def test_counter_with_created_openmetrics(corpus, load, store):
    load(corpus / PROM / "prometheus_omtestdata.txt")
    rows = store.rows(
        "SELECT metric_type, is_monotonic, aggregation_temporality, value,"
        " start_timestamp::VARCHAR, service_name, description, line"
        " FROM metric_points WHERE metric_name = 'rpc_requests_total'"
        " AND attributes->>'service' = 'normal'"
    )
    assert rows == [
        (
            "sum",
            True,
            "cumulative",
            15.0,
            "2024-09-20 13:43:33.016717",
            "normal",
            "Total number of RPC requests received.",
            60,
        )
    ]
    # `_created` samples are start times, never rows of their own.
    assert (
        store.scalar("SELECT count(*) FROM metric_points WHERE metric_name LIKE '%_created'") == 0
    )


def test_histogram_negative_bounds_and_exemplars(corpus, load, store):
    path = corpus / PROM / "prometheus_omtestdata.txt"
    load(path)
    cumulative = {}
    for line in path.read_text().splitlines():
        m = re.match(r'rpc_durations_histogram_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            cumulative[float(m.group(1))] = float(m.group(2))
    les = sorted(cumulative)
    counts = [cumulative[le] - (cumulative[les[i - 1]] if i else 0) for i, le in enumerate(les)]
    rows = store.rows(
        "SELECT explicit_bounds, bucket_counts, count, sum, start_timestamp::VARCHAR, attributes"
        " FROM metric_points WHERE metric_name = 'rpc_durations_histogram_seconds'"
    )
    assert len(rows) == 1  # the exemplars on 6 bucket lines add nothing
    bounds, buckets, count, total, start, attrs = rows[0]
    assert bounds == [le for le in les if le != float("inf")]
    assert bounds[0] == -0.00099  # negative bounds, sorted numerically
    assert buckets == counts and len(buckets) == len(bounds) + 1
    assert count == 15.0 and total == -8.452185437166741e-05
    assert start == "2024-09-20 13:43:33.016302"
    assert attrs == "{}"


def test_textfile_histogram_per_bucket_counts(corpus, load, store):
    load(corpus / PROM / "node_exporter_textfile_histogram.prom")
    row = store.rows(
        "SELECT metric_type, bucket_counts, explicit_bounds[1], explicit_bounds[-1], count, sum,"
        " aggregation_temporality, description FROM metric_points"
    )
    assert row == [
        (
            "histogram",
            [0.0, 0.0, 0.0, 0.0, 7.0, 0.0, 1412832.0, 279011.0, 3.0, 0.0, 0.0],
            100.0,
            2.62144e7,
            1691853.0,
            6.71393432189e11,
            "cumulative",
            "Final time range of chunks on their first compaction",
        )
    ]


def test_summaries_quantiles_nan_and_total_suffix(corpus, load, store):
    load(corpus / PROM / "prometheus_promtestdata.txt")
    rows = store.rows(
        "SELECT len(quantiles), [q.quantile for q in quantiles], isnan(quantiles[2].value),"
        " count, sum FROM metric_points"
        " WHERE metric_name = 'prometheus_sd_consul_rpc_duration_seconds'"
        " AND attributes->>'call' = 'service'"
    )
    assert rows == [(3, [0.5, 0.9, 0.99], True, 0.0, 0.0)]

    load(corpus / PROM / "node_exporter_textfile_different_metric_types.prom")
    rows = store.rows(
        "SELECT metric_type, quantiles[1].value, count, attributes FROM metric_points"
        " WHERE metric_name = 'event_duration_seconds_total' ORDER BY line"
    )
    assert len(rows) == 4
    assert rows[0] == ("summary", 1.073e-06, 1.492355615e09, '{"baz":"inner_eval"}')
    events = store.rows(
        "SELECT metric_type, value FROM metric_points WHERE metric_name = 'events_total'"
        " ORDER BY value"
    )
    assert events == [("sum", 10.0), ("sum", 20.0)]


def test_sample_timestamps_ms_seconds_and_file_mtime(corpus, load, store):
    path = corpus / PROM / "node_exporter_textfile_client_side_timestamp.prom"
    load(path)
    rows = dict(store.rows("SELECT metric_name, epoch_ns(timestamp) FROM metric_points"))
    assert (
        store.scalar(
            "SELECT timestamp::VARCHAR FROM metric_points"
            " WHERE metric_name = 'metric_with_custom_timestamp'"
        )
        == "2015-09-02 14:59:37.284"
    )
    # No timestamp: the scrape time is unknown, the file's modification time stands in.
    assert rows["normal_metric"] == os.stat(path).st_mtime_ns

    load(corpus / PROM / "promtool_dump-openmetrics-roundtrip-test.prom")
    rows = store.rows(
        "SELECT timestamp::VARCHAR, value, service_name FROM metric_points"
        " WHERE metric_name = 'up' ORDER BY timestamp"
    )
    assert rows[0] == ("2023-11-17 08:44:41.366", 1.0, "example3")  # job label → service
    assert len(rows) == 4  # the same series at several times: one row per sample


def test_metadata_only_families_and_untyped(corpus, load, store):
    path = corpus / PROM / "node_exporter_e2e-output.txt"
    load(path)
    assert "# TYPE go_goroutines gauge" in path.read_text()
    assert store.scalar("SELECT count(*) FROM metric_points WHERE metric_name LIKE 'go_%'") == 0
    assert store.rows(
        "SELECT metric_type, value, description, service_name FROM metric_points"
        " WHERE metric_name = 'node_boot_time_seconds'"
    ) == [("gauge", 1.418183276e09, "Node boot time, in unixtime.", "node_exporter_e2e-output")]
    # A label value with raw control bytes (node_dmi_info product_version) stays intact.
    version = store.scalar(
        "SELECT attributes->>'product_version' FROM metric_points"
        " WHERE metric_name = 'node_dmi_info'"
    )
    assert "\x1c" in version
    counters = store.scalar(
        "SELECT count(*) FROM metric_points WHERE metric_name = 'node_cpu_seconds_total'"
        " AND metric_type = 'sum' AND is_monotonic"
    )
    assert counters == sum(
        1 for ln in path.read_text().splitlines() if ln.startswith("node_cpu_seconds_total{")
    )


def test_no_metadata_means_untyped_gauges(corpus, load, store):
    load(corpus / PROM / "prometheus_alltypes.237mfs.nometa.prom.txt")
    assert store.rows("SELECT DISTINCT metric_type FROM metric_points") == [("gauge",)]
    assert (
        store.scalar(
            "SELECT count(*) FROM metric_points WHERE metric_name LIKE '%_bucket'"
            " AND attributes->>'le' IS NOT NULL"
        )
        > 0
    )


def test_inconsistent_label_sets(corpus, load, store):
    load(corpus / PROM / "node_exporter_textfile_inconsistent_metrics.prom")
    assert store.rows(
        "SELECT attributes, value FROM metric_points WHERE metric_name = 'go_goroutines'"
        " ORDER BY value"
    ) == [("{}", 20.0), ('{"foo":"bar"}', 229.0)]
    assert store.scalar("SELECT value FROM metric_points WHERE attributes->>'baz' = 'bar'") == 93.0


def test_escapes_utf8_names_units_and_types(tmp_path, load, store):
    p = tmp_path / "app.prom"
    p.write_text(
        "# HELP http_req Requests with a \\\\ backslash\\nand a newline.\n"
        "# TYPE http_req counter\n"
        "# UNIT http_req requests\n"
        'http_req_total{path="C:\\\\dir",msg="say \\"hi\\"\\nbye",raw="a\\tb"} 3 1700000000000\n'
        '{"my.metric","service.name"="checkout",zone="eu"} 2.5 1700000000.5\n'
        "# TYPE g gaugehistogram\n"
        'g_bucket{le="-1"} 2\n'
        'g_bucket{le="+Inf"} 5\n'
        "g_gcount 5\n"
        "g_gsum -3\n"
        "# TYPE build info\n"
        'build_info{version="1.2"} 1\n'
        "# TYPE lat histogram\n"
        'lat_bucket{le="0.5"} 1\n'
        "lat_count 4\n"
    )
    report = load(p)
    assert report.files[0].rejected == 0
    rows = {
        r[0]: r[1:]
        for r in store.rows(
            "SELECT metric_name, metric_type, service_name, attributes, timestamp::VARCHAR,"
            " unit, description, bucket_counts, count FROM metric_points"
        )
    }
    req = rows["http_req_total"]
    assert req[0] == "sum" and req[3] == "2023-11-14 22:13:20"
    import json

    attrs = json.loads(req[2])
    assert attrs == {"path": "C:\\dir", "msg": 'say "hi"\nbye', "raw": "a\\tb"}
    assert req[4] == "requests" and req[5] == "Requests with a \\ backslash\nand a newline."
    assert rows["my.metric"][:4] == (
        "gauge",
        "checkout",
        '{"service.name":"checkout","zone":"eu"}',
        "2023-11-14 22:13:20.5",
    )
    assert rows["g"][0] == "histogram" and rows["g"][6:] == ([2.0, 3.0], 5.0)
    assert rows["build_info"][0] == "gauge"
    # No +Inf bucket: the overflow bucket comes from _count.
    assert rows["lat"][6:] == ([1.0, 3.0], 4.0)


def test_concatenated_scrapes_keep_every_sample(tmp_path, load, store):
    scrape = (
        "# TYPE req counter\n"
        'req_total{code="200"} {v}\n'
        'req_created{code="200"} 1700000000.25\n'
        "# TYPE lat histogram\n"
        'lat_bucket{le="1"} {v}\n'
        'lat_bucket{le="+Inf"} {v2}\n'
        "lat_sum 3\n"
        "lat_count {v2}\n"
        "# EOF\n"
    )
    p = tmp_path / "scrapes.prom"
    p.write_text(
        scrape.replace("{v}", "1").replace("{v2}", "2")
        + scrape.replace("{v}", "4").replace("{v2}", "6")
    )
    load(p)
    rows = store.rows(
        "SELECT metric_name, value, count, bucket_counts, start_timestamp::VARCHAR, line"
        " FROM metric_points ORDER BY line"
    )
    assert rows == [
        ("req_total", 1.0, None, None, "2023-11-14 22:13:20.25", 2),
        ("lat", None, 2.0, [1.0, 1.0], None, 5),
        ("req_total", 4.0, None, None, "2023-11-14 22:13:20.25", 11),
        ("lat", None, 6.0, [4.0, 2.0], None, 14),
    ]


def test_malformed_lines_are_rejected_with_line_numbers(tmp_path, load, store):
    p = tmp_path / "bad.prom"
    p.write_text(
        "# TYPE ok gauge\n"
        "ok 1\n"
        "bad{a=b} 1\n"
        "too many 1 2 3\n"
        "word abc\n"
        "# TYPE typo histgram\n"
        "typo 7\n"
        "# TYPE lat histogram\n"
        'lat_bucket{job="api"} 1\n'
        'lat_bucket{le="x"} 1\n'
        'dup{a="1",a="2"} 1\n'
        "lat 5\n"
        "# TYPE c counter\n"
        "c_created 17\n"
        "ok 2 notatime\n"
    )
    report = load(p)
    (f,) = report.files
    assert f.status == "loaded"
    assert f.records == 2  # ok 1, typo 7 (loaded untyped)
    assert f.rejected == 10 and f.first_reject.line == 3
    assert store.rows("SELECT line, reason FROM rejects ORDER BY line") == [
        (3, "malformed labels"),
        (4, "not a Prometheus sample or comment line"),
        (5, "value is not a number: abc"),
        (6, "unknown metric type: histgram"),
        (9, "histogram bucket without le label"),
        (10, "bad le label: x"),
        (11, "duplicate label name"),
        (12, "histogram family sample needs a _bucket, _sum or _count suffix"),
        (14, "_created sample without a matching series"),
        (15, "timestamp is not a number: notatime"),
    ]


def test_sniff_claims_prometheus_only(corpus):
    from obsctl.ingest.metrics_prometheus import sniff

    for name in CORPUS_FILES:
        head = (corpus / PROM / name).read_bytes()[:65536]
        assert sniff(head, name) >= 0.85, name
    assert sniff(b"main;foo;bar 12\nmain;baz 3\n", "stacks.txt") == 0
    assert sniff(b'level=info msg="hello" ts=2024-01-01T00:00:00Z\n', "app.log") == 0
    assert sniff(b'{"status":"success","data":{"resultType":"vector"}}', "q.json") == 0
    for sub in ("profiles/folded", "logs/logfmt"):
        for f in sorted((corpus / sub).iterdir()):
            assert sniff(f.read_bytes()[:65536], f.name) < 0.5, f


def test_format_aliases(tmp_path, load, store):
    p = tmp_path / "x.txt"
    p.write_text("up 1\n")
    report = load(p, format="openmetrics")
    assert report.files[0].format == "prometheus" and report.files[0].records == 1
