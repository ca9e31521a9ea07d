"""``analysis.metrics``: list, series (gauges, counter rates, histogram quantiles),
series_values and compare, on the demo incident, the corpus and hand-made series."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pytest

from obsctl.analysis import metrics as M
from obsctl.errors import InputNotFound, UsageError
from obsctl.timewindow import TimeWindow, parse_instant
from tests.conftest import FIXTURES

S = 1_000_000_000
DEMO = FIXTURES / "checkout-incident"
T0 = parse_instant("2026-03-26T16:29:00Z")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The demo incident's metrics, loaded once for the module."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("demo-metrics") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO / "metrics")])
    s = Store.open(path, read_only=True)
    yield s
    s.close()


def _rows(table: pa.Table) -> list[dict]:
    t = table.set_column(
        table.schema.get_field_index("time"), "time", table.column("time").cast(pa.int64())
    )
    return t.to_pylist()


def test_list_names_types_units_and_series(demo):
    rows = {
        r["metric"]: r for r in M.list_metrics(demo).drop_columns(["first", "last"]).to_pylist()
    }
    assert rows["process.cpu.utilization"]["type"] == "gauge"
    assert rows["process.cpu.utilization"]["unit"] == "1"
    assert rows["payment.retries"]["type"] == "counter"
    assert rows["process.memory.usage"]["type"] == "sum"
    assert rows["http.server.request.duration"]["type"] == "histogram"
    assert rows["node_cpu_seconds_total"]["labels"] == ["cpu", "instance", "job", "mode"]
    assert "payment" in rows["process.cpu.utilization"]["services"]
    n = demo.scalar("SELECT count(*) FROM metric_points WHERE metric_name = 'payment.retries'")
    assert rows["payment.retries"]["points"] == n
    assert rows["payment.retries"]["series"] == 2


def test_gauge_payment_cpu_before_and_at_peak(demo):
    ss = M.series(demo, "process.cpu.utilization", M.MetricFilter(services=("payment",)))
    assert (ss.kind, ss.type, ss.unit) == ("value", "gauge", "1")
    assert ss.series_names == ["payment"]
    rows = _rows(ss.table)
    before = [r["value"] for r in rows if r["time"] < T0]
    assert before and all(0.2 < v < 0.35 for v in before)
    assert max(r["value"] for r in rows) > 0.9
    # 100-200 points at most, never finer than the 30 s scrapes
    assert ss.step_ns == 30 * S
    assert len(rows) <= M.MAX_POINTS


def test_histogram_p95_rises_for_checkout_and_payment(demo):
    for svc in ("checkout", "payment"):
        f = M.MetricFilter(services=(svc,), labels=(("http.response.status_code", "200"),))
        ss = M.series(demo, "http.server.request.duration", f)
        assert ss.kind == "p50/p95/p99"
        rows = [r for r in _rows(ss.table) if r["quantile"] == 0.95]
        before = sorted(r["value"] for r in rows if r["time"] < T0)
        after = sorted(r["value"] for r in rows if r["time"] >= T0 + 5 * 60 * S)
        assert after[len(after) // 2] > 5 * before[len(before) // 2], svc
        qs = {r["quantile"] for r in _rows(ss.table)}
        assert qs == {0.5, 0.95, 0.99}


def test_counter_rate_grows_and_node_cpu_rate_is_within_cores(demo):
    rows = _rows(M.series(demo, "payment.retries", M.MetricFilter()).table)
    before = sum(r["value"] for r in rows if r["time"] < T0)
    after = sum(r["value"] for r in rows if r["time"] >= T0)
    assert after > 5 * max(before, 0.01)
    ss = M.series(demo, "node_cpu_seconds_total", M.MetricFilter())
    assert ss.kind == "rate/s"
    values = ss.table.column("value").to_pylist()
    assert min(values) >= 0
    assert max(values) <= 1.0 + 1e-6  # one cpu: at most one second per second


def test_labels_filter_is_bound_and_unknown_name_suggests(demo):
    f = M.MetricFilter.from_options(labels=["mode=idle", "cpu=0"])
    ss = M.series(demo, "node_cpu_seconds_total", f)
    assert all("mode=idle" in s and "cpu=0," in s for s in ss.series_names)
    hostile = M.MetricFilter.from_options(labels=["mode=idle' OR 1=1 --"])
    assert M.series(demo, "node_cpu_seconds_total", hostile).table.num_rows == 0
    with pytest.raises(InputNotFound, match=r"did you mean process\.cpu\.utilization"):
        M.series(demo, "process.cpu.utilizaton", M.MetricFilter())
    with pytest.raises(UsageError):
        M.MetricFilter.from_options(labels=["novalue"])
    with pytest.raises(UsageError):
        M.parse_step("soon")


def test_series_values_all_metrics_one_table(demo):
    table, step = M.series_values(demo, M.MetricFilter())
    assert step == 15 * S  # node_exporter scrapes every 15 s
    assert table.column_names == [
        "series_key", "metric", "kind", "series", "labels", "service", "unit", "time", "value",
    ]  # fmt: skip
    metrics = set(table.column("metric").to_pylist())
    assert {
        "http.server.request.duration p50",
        "http.server.request.duration p95",
        "http.server.request.duration p99",
        "process.cpu.utilization",
        "payment.retries",
    } <= metrics
    keys = table.column("series_key").to_pylist()
    assert "process.cpu.utilization payment" in keys


def test_compare_ranks_what_moved(demo):
    table = M.compare(demo, TimeWindow(None, T0), TimeWindow(T0 + 5 * 60 * S, None))
    rows = table.to_pylist()
    top = [(r["metric"], r["service"]) for r in rows[:12]]
    assert ("process.cpu.utilization", "payment") in top
    assert any(m.startswith("http.server.request.duration p") for m, _ in top)
    cpu = next(
        r for r in rows if r["metric"] == "process.cpu.utilization" and r["service"] == "payment"
    )
    assert cpu["baseline"] == pytest.approx(0.27, abs=0.03)
    assert cpu["window"] > 0.9
    assert cpu["change_ratio"] > 2 and cpu["robust_z"] > 10
    scores = [r["score"] for r in rows if r["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    # payment's CPU saturation is among the first rows, not buried under huge z-scores
    # of near-flat series
    assert ("process.cpu.utilization", "payment") in top[:5]


# --------------------------------------------------------------------------- hand-made


def _insert(store, rows: list[dict]) -> None:
    """Insert metric points (test-only; ingest never goes row by row)."""
    cols = sorted({k for r in rows for k in r} | {"source_id"})
    for r in rows:
        r.setdefault("source_id", 1)
        vals = [r.get(c) for c in cols]
        marks = ", ".join(
            "make_timestamp_ns(?)" if c in ("timestamp", "start_timestamp") else "?" for c in cols
        )
        store.con.execute(f"INSERT INTO metric_points ({', '.join(cols)}) VALUES ({marks})", vals)


def _pt(name: str, t: int, **kw: object) -> dict:
    base = {"metric_name": name, "service_name": "svc", "attributes": "{}", "timestamp": t * S}
    return {**base, **kw}


def test_counter_reset_counts_the_new_value_as_the_increase(store):
    vals = [100, 110, 130, 5, 25]  # reset between t=20 and t=30
    _insert(
        store,
        [
            _pt("c", 10 * i, metric_type="sum", is_monotonic=True,
                aggregation_temporality="cumulative", value=float(v))
            for i, v in enumerate(vals)
        ],
    )  # fmt: skip
    ss = M.series(store, "c", M.MetricFilter(), step_ns=10 * S)
    got = [(r["time"] // S, r["value"]) for r in _rows(ss.table)]
    assert got == [(10, 1.0), (20, 2.0), (30, 0.5), (40, 2.0)]


def test_two_instances_are_differenced_apart_then_summed(store):
    rows = []
    for i in range(4):
        for inst, v0 in (("a", 1000.0), ("b", 10.0)):
            rows.append(
                _pt("c", 10 * i, metric_type="sum", is_monotonic=True,
                    aggregation_temporality="cumulative", value=v0 + 10 * i,
                    resource_attributes=json.dumps({"service.instance.id": inst}))
            )  # fmt: skip
    _insert(store, rows)
    ss = M.series(store, "c", M.MetricFilter(), step_ns=10 * S)
    assert ss.table.column("value").to_pylist() == [2.0, 2.0, 2.0]


def test_histogram_quantile_matches_hand_computation(store):
    bounds = [0.1, 0.5, 1.0]
    first = [0.0, 0.0, 0.0, 0.0]
    second = [10.0, 60.0, 20.0, 10.0]  # 100 observations in the interval
    _insert(
        store,
        [
            _pt("h", t, metric_type="histogram", aggregation_temporality="cumulative",
                unit="s", count=sum(bc), bucket_counts=bc, explicit_bounds=bounds)
            for t, bc in ((0, first), (10, second))
        ],
    )  # fmt: skip
    ss = M.series(store, "h", M.MetricFilter(), step_ns=10 * S)
    got = {r["quantile"]: r["value"] for r in _rows(ss.table)}
    # p50: rank 50, bucket (0.1, 0.5] holds ranks 10-70 -> 0.1 + 0.4 * (50-10)/60
    assert got[0.5] == pytest.approx(0.1 + 0.4 * 40 / 60)
    # p95: rank 95 falls in +Inf -> the highest finite bound
    assert got[0.95] == pytest.approx(1.0)
    # p99 too
    assert got[0.99] == pytest.approx(1.0)


def test_exponential_histogram_buckets(store):
    # scale 0: base 2; offset 1: counts cover (2,4], (4,8]
    _insert(
        store,
        [
            _pt("e", 0, metric_type="exponential_histogram", aggregation_temporality="delta",
                count=4.0, exp_scale=0, exp_zero_count=0.0, exp_positive_offset=1,
                exp_positive_counts=[2.0, 2.0])
        ],
    )  # fmt: skip
    got = {r["quantile"]: r["value"] for r in _rows(M.series(store, "e", M.MetricFilter()).table)}
    assert got[0.5] == pytest.approx(4.0)  # rank 2 = top of (2, 4]
    assert got[0.95] == pytest.approx(4 + 4 * (3.8 - 2) / 2)


# --------------------------------------------------------------------------- corpus


def test_corpus_prometheus_histogram_and_summary(store, load, corpus):
    prom = corpus / "metrics" / "prometheus"
    load(
        prom / "node_exporter_textfile_histogram.prom", prom / "node_exporter_textfile_summary.prom"
    )
    ss = M.series(store, "prometheus_tsdb_compaction_chunk_range", M.MetricFilter())
    got = {r["quantile"]: r["value"] for r in _rows(ss.table)}
    # counts [0,0,0,0,7,0,1412832,279011,3,...]: p50 inside (102400, 409600]
    assert 102400 < got[0.5] <= 409600
    assert 409600 < got[0.99] <= 1638400
    ss = M.series(store, "event_duration_seconds_total", M.MetricFilter())
    assert ss.kind == "quantiles"
    assert {0.5, 0.9, 0.99} <= set(ss.table.column("quantile").to_pylist())


def test_corpus_otlp_all_types(store, load, corpus):
    load(corpus / "metrics" / "otlp" / "metrics.json")
    kinds = {
        r["metric"]: r["type"] for r in M.list_metrics(store).select(["metric", "type"]).to_pylist()
    }
    assert kinds["my.exponential.histogram"] == "exponential_histogram"
    ss = M.series(store, "my.exponential.histogram", M.MetricFilter())
    assert ss.kind == "p50/p95/p99" and ss.table.num_rows == 3
    ss = M.series(store, "my.counter", M.MetricFilter())
    assert ss.kind == "rate/s" and ss.table.num_rows == 1  # a delta sum: value / step
    values, _ = M.series_values(store, M.MetricFilter())
    assert "my.exponential.histogram p95" in values.column("metric").to_pylist()


def test_corpus_nab_csv_is_a_gauge(store, load, corpus):
    path = corpus / "metrics" / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv"
    load(path)
    (name,) = M.metric_names(store)
    ss = M.series(store, name, M.MetricFilter())
    assert ss.type == "gauge" and ss.kind == "value"
    assert 100 <= ss.table.num_rows <= M.MAX_POINTS
