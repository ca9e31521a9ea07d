"""``export --to chdb://…``: the exporter's tables, created with its DDL and filled with
exactly the store's rows, spelled as the Collector spells them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from obsctl.demo.scenario import SCENARIOS
from obsctl.errors import UsageError
from obsctl.export import otel_rows
from obsctl.store.clickhouse import ddl
from tests.export.conftest import (
    HOSTILE,
    HOSTILE_ATTRS,
    HOSTILE_SERVICE,
    HOSTILE_SPAN,
    HOSTILE_START_NS,
    store_counts,
)

pytest.importorskip("chdb")
pytest.importorskip("clickhouse_connect")

TRUTH = SCENARIOS["payment-cpu"].truth


@pytest.fixture(scope="module")
def chdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One chDB directory for the module (chDB opens one path per process at a time);
    each scenario uses its own database in it."""
    return tmp_path_factory.mktemp("chdb") / "ch"


@pytest.fixture(scope="module")
def exported(export_store: Path, chdir: Path):
    """The whole store exported into database ``otel``: (url, results)."""
    from obsctl.export.clickhouse import export_clickhouse
    from obsctl.store import Store
    from obsctl.store.url import parse

    url = parse(f"chdb://{chdir}?database=otel")
    with Store.open(export_store, read_only=True) as s:
        results = export_clickhouse(s, url)
    return url, results


@pytest.fixture(scope="module")
def ch(exported):
    """A client on the exported chDB store, closed at the end of the module."""
    from obsctl.store.clickhouse.client import connect

    url, _ = exported
    client = connect(url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def local(export_store: Path):
    from obsctl.store import Store

    with Store.open(export_store, read_only=True) as s:
        yield s


def rows(ch, sql: str, **params) -> list[tuple]:
    return ch.query(sql, parameters=params).result_rows


def one(ch, sql: str, **params):
    """The first cell of a ClickHouse query."""
    return rows(ch, sql, **params)[0][0]


def test_every_table_gets_the_store_rows(exported, ch, local):
    url, results = exported
    expected = store_counts(local)
    names = ddl.table_names(url)
    assert [r.table for r in results] == [f"otel.{names[t]}" for t in otel_rows.QUERIES]
    for r in results:
        table = r.table.split(".", 1)[1]
        assert r.rows == expected[table], table
        assert one(ch, f"SELECT count() FROM otel.{table}") == expected[table], table
    assert all(expected[t] > 0 for t in expected)  # every metric type is exercised
    logs = next(r for r in results if r.table.endswith("otel_logs"))
    assert logs.skipped == 1  # the record with neither timestamp nor observed_timestamp


def test_tables_have_the_exporter_ddl(exported, ch):
    for name, spec in ddl.SPECS.items():
        columns = rows(
            ch,
            "SELECT name, type FROM system.columns WHERE database = 'otel' AND table = {t:String}"
            " ORDER BY position",
            t=name,
        )
        assert dict(columns) == spec.expected_columns(), name
        (keys,) = rows(
            ch,
            "SELECT engine, partition_key, sorting_key, primary_key FROM system.tables"
            " WHERE database = 'otel' AND name = {t:String}",
            t=name,
        )
        assert keys[0] == "MergeTree"
        assert keys[1] == spec.partition_by
        assert f"({keys[2]})" == spec.order_by
        assert f"({keys[3]})" == (spec.primary_key or spec.order_by)
    create = ch.command("SHOW CREATE TABLE otel.otel_logs").replace("\\n", "\n")
    assert "PARTITION BY toDate(TimestampTime)" in create
    assert "PRIMARY KEY (ServiceName, TimestampTime)" in create
    assert "ORDER BY (ServiceName, TimestampTime, Timestamp)" in create
    assert "INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8" in create
    assert "TTL" not in create
    traces = ch.command("SHOW CREATE TABLE otel.otel_traces").replace("\\n", "\n")
    assert "ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))" in traces
    metrics = ch.command("SHOW CREATE TABLE otel.otel_metrics_sum").replace("\\n", "\n")
    assert (
        "ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))" in metrics
    )


def test_trace_id_view_indexes_every_trace(exported, ch, local):
    (view,) = rows(
        ch,
        "SELECT engine FROM system.tables WHERE database = 'otel' AND name = {n:String}",
        n=ddl.MV,
    )
    assert view[0] == "MaterializedView"
    traces = local.scalar("SELECT count(DISTINCT trace_id) FROM spans")
    assert one(ch, "SELECT uniqExact(TraceId) FROM otel.otel_traces_trace_id_ts") == traces


def test_nanosecond_times_are_exact(exported, ch, local):
    mine = Counter(local.rows("SELECT span_id, epoch_ns(start_time), duration_ns FROM spans"))
    theirs = Counter(
        rows(ch, "SELECT SpanId, toUnixTimestamp64Nano(Timestamp), Duration FROM otel.otel_traces")
    )
    assert theirs == mine
    log_ns = local.rows(
        "SELECT sum(epoch_ns(coalesce(timestamp, observed_timestamp))::HUGEINT) FROM logs"
    )[0][0]
    got = one(ch, "SELECT sum(toInt128(toUnixTimestamp64Nano(Timestamp))) FROM otel.otel_logs")
    assert got == log_ns
    points = local.rows("SELECT sum(epoch_ns(timestamp)::HUGEINT) FROM metric_points")[0][0]
    got = sum(
        one(ch, f"SELECT sum(toInt128(toUnixTimestamp64Nano(TimeUnix))) FROM otel.{t}")
        for t in ddl.TABLES["metrics"]
    )
    assert got == points


def test_span_kind_and_status_spellings(exported, ch, local):
    mine = Counter()
    for kind, status, n in local.rows("SELECT kind, status_code, count(*) FROM spans GROUP BY ALL"):
        spelled_kind = otel_rows.SPAN_KINDS.get(kind or "", "Unspecified")
        mine[(spelled_kind, otel_rows.STATUS_CODES.get(status or "", "Unset"))] += n
    found = rows(ch, "SELECT SpanKind, StatusCode, count() FROM otel.otel_traces GROUP BY ALL")
    theirs = Counter({(k, s): n for k, s, n in found})
    assert theirs == mine
    assert {k for k, _ in theirs} >= {"Server", "Client", "Internal", "Producer", "Consumer"}
    assert {s for _, s in theirs} == {"Unset", "Error"}
    # the culprit's spans are there under the exporter's spelling of their kind
    (n,) = rows(
        ch,
        "SELECT count() FROM otel.otel_traces WHERE ServiceName = {s:String}"
        " AND SpanName = {o:String} AND SpanKind = {k:String}",
        s=TRUTH.span_service,
        o=TRUTH.operation,
        k=otel_rows.SPAN_KINDS[TRUTH.span_kind],
    )[0]
    assert n > 0


def test_attribute_maps_keep_dotted_keys_and_hostile_values(exported, ch, local):
    (attrs, name, kind, status, message, parent, state, scope) = rows(
        ch,
        "SELECT SpanAttributes, SpanName, SpanKind, StatusCode, StatusMessage, ParentSpanId,"
        " TraceState, ScopeVersion FROM otel.otel_traces WHERE SpanId = {id:String}",
        id=HOSTILE_SPAN,
    )[0]
    assert attrs == HOSTILE_ATTRS  # numbers, booleans, lists as JSON text; null dropped
    assert attrs["hostile"] == HOSTILE
    assert name == "[bold]POST /charge\x1b[2J"
    assert (kind, status, message, parent, state, scope) == (
        "Producer", "Error", "boom", "", "vendor=1", "1.2",
    )  # fmt: skip
    # the hostile text stayed data: the table it names is intact
    assert one(ch, "SELECT count() FROM otel.otel_traces") > 1
    (body, log_attrs, severity, number) = rows(
        ch,
        "SELECT Body, LogAttributes, SeverityText, SeverityNumber FROM otel.otel_logs"
        " WHERE ServiceName = {s:String}",
        s=HOSTILE_SERVICE,
    )[0]
    assert (body, log_attrs, severity, number) == (HOSTILE, {"hostile": HOSTILE}, "ERROR", 17)
    # dotted keys on the demo: every span with an http.route has it in its map
    with_route = local.scalar(
        "SELECT count(*) FROM spans WHERE attributes->>'$.\"http.route\"' IS NOT NULL"
    )
    assert with_route > 100
    sql = "SELECT countIf(mapContains(SpanAttributes, 'http.route')) FROM otel.otel_traces"
    assert one(ch, sql) == with_route
    (resource,) = rows(
        ch,
        "SELECT ResourceAttributes FROM otel.otel_traces WHERE ServiceName = {s:String} LIMIT 1",
        s=TRUTH.service,
    )[0]
    assert resource["service.name"] == TRUTH.service


def test_events_and_links_become_nested_columns(exported, ch):
    (ts, names, attrs, link_traces, link_spans, link_states, link_attrs) = rows(
        ch,
        "SELECT arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`), `Events.Name`,"
        " `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`,"
        " `Links.Attributes` FROM otel.otel_traces WHERE SpanId = {id:String}",
        id=HOSTILE_SPAN,
    )[0]
    assert ts == [HOSTILE_START_NS + 7]
    assert names == ["exception"]
    assert attrs == [{"exception.type": "Timeout", "retry.count": "3"}]
    assert (link_traces, link_spans, link_states) == (
        ["0af7651916cd43dd8448eb211c80319c"], ["b7ad6b7169203331"], ["k=v"],
    )  # fmt: skip
    assert link_attrs == [{"link.kind": "retry"}]
    # the corpus's Jaeger-derived spans: three links, typed link attributes as text
    (links,) = rows(
        ch,
        "SELECT `Links.Attributes` FROM otel.otel_traces WHERE length(`Links.SpanId`) = 3",
    )[0]
    assert links[0]["sameplacelinkattribute2"] == "123"
    assert links[0]["sameplacelinkattribute4"] == "true"
    assert [a["opentracing.ref_type"] for a in links] == ["child_of", "child_of", "follows_from"]


def test_metric_types_map_to_their_tables(exported, ch, local):
    (temporality, monotonic, value, start) = rows(
        ch,
        "SELECT AggregationTemporality, IsMonotonic, Value, toUnixTimestamp64Nano(StartTimeUnix)"
        " FROM otel.otel_metrics_sum WHERE MetricName = 'edge.requests'",
    )[0]
    assert (temporality, monotonic, value) == (1, True, 7.0)  # delta
    assert start == HOSTILE_START_NS - 60_000_000_000
    cumulative = local.scalar(
        "SELECT count(*) FROM metric_points WHERE metric_type = 'sum'"
        " AND aggregation_temporality = 'cumulative'"
    )
    sql = "SELECT countIf(AggregationTemporality = 2) FROM otel.otel_metrics_sum"
    assert one(ch, sql) == cumulative
    (count, total, quantiles, values) = rows(
        ch,
        "SELECT Count, Sum, `ValueAtQuantiles.Quantile`, `ValueAtQuantiles.Value`"
        " FROM otel.otel_metrics_summary WHERE MetricName = 'edge.latency.summary'",
    )[0]
    assert (count, total, quantiles, values) == (10, 123.5, [0.5, 0.99], [11.0, 42.5])
    (scale, zero, pos_off, pos, neg_off, neg, lo, hi, temp) = rows(
        ch,
        "SELECT Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, NegativeOffset,"
        " NegativeBucketCounts, Min, Max, AggregationTemporality"
        " FROM otel.otel_metrics_exponential_histogram WHERE MetricName = 'edge.latency.exp'",
    )[0]
    assert (scale, zero, pos_off, pos, neg_off, neg, lo, hi, temp) == (
        3, 1, 2, [1, 2], -1, [2], -2.0, 4.0, 2,
    )  # fmt: skip
    # histograms: bucket counts as integers, summing to the count
    sql = "SELECT count() FROM otel.otel_metrics_histogram WHERE arraySum(BucketCounts) != Count"
    assert one(ch, sql) == 0
    sql = "SELECT countIf(notEmpty(`Exemplars.Value`)) FROM otel.otel_metrics_gauge"
    assert one(ch, sql) == 0


def test_window_and_service_filters(export_store, chdir, exported, ch, local):
    from obsctl.export.clickhouse import export_clickhouse
    from obsctl.store import Store
    from obsctl.store.url import parse
    from obsctl.timewindow import resolve

    url = parse(f"chdb://{chdir}?database=slice")
    with Store.open(export_store, read_only=True) as s:
        window = resolve(s, "15m")
        results = export_clickhouse(s, url, window, [TRUTH.service], batch_rows=500)
    lo, hi = window.start_ns, window.end_ns
    assert hi is None
    expected = local.scalar(
        "SELECT count(*) FROM spans WHERE service_name = ? AND start_time >= make_timestamp_ns(?)",
        [TRUTH.service, lo],
    )
    got = {r.table: r.rows for r in results}
    assert got["slice.otel_traces"] == expected > 500  # several batches
    assert rows(
        ch,
        "SELECT count(), min(toUnixTimestamp64Nano(Timestamp)) >= {lo:Int64},"
        " uniqExact(ServiceName) FROM slice.otel_traces",
        lo=lo,
    )[0] == (expected, 1, 1)


def test_existing_table_with_other_columns_is_refused_before_writing(export_store, chdir, ch):
    from obsctl.export.clickhouse import export_clickhouse
    from obsctl.store import Store
    from obsctl.store.url import parse

    ch.command("CREATE DATABASE IF NOT EXISTS wrong")
    ch.command(
        "CREATE TABLE wrong.otel_traces (Timestamp DateTime64(9), TraceId String,"
        " SpanKind Int32) ENGINE = MergeTree ORDER BY Timestamp"
    )
    url = parse(f"chdb://{chdir}?database=wrong")
    with Store.open(export_store, read_only=True) as s, pytest.raises(UsageError) as err:
        export_clickhouse(s, url)
    message = str(err.value)
    assert "wrong.otel_traces exists with other columns" in message
    assert "missing SpanId" in message
    assert "SpanKind is Int32, expected LowCardinality(String)" in message
    # nothing was created or written
    assert rows(ch, "SELECT name FROM system.tables WHERE database = 'wrong'") == [("otel_traces",)]
    assert one(ch, "SELECT count() FROM wrong.otel_traces") == 0


def test_a_duckdb_target_is_refused(export_store, tmp_path):
    from obsctl.export.clickhouse import export_clickhouse
    from obsctl.store import Store
    from obsctl.store.url import parse

    target = parse(str(tmp_path / "x.duckdb"))
    with Store.open(export_store, read_only=True) as s, pytest.raises(UsageError, match="parq"):
        export_clickhouse(s, target)
    assert not (tmp_path / "x.duckdb").exists()


def test_create_tables_is_idempotent_and_honours_table_names(chdir, exported, ch):
    from obsctl.store.url import parse

    url = parse(
        f"chdb://{chdir}?database=otel&logs_table=my_logs&traces_table=my_spans"
        "&metrics_table=my_metrics"
    )
    created = ddl.create_tables(ch, url)
    assert created == [
        "my_logs", "my_spans", "my_spans_trace_id_ts", "my_spans_trace_id_ts_mv",
        "my_metrics_gauge", "my_metrics_sum", "my_metrics_histogram",
        "my_metrics_exponential_histogram", "my_metrics_summary",
    ]  # fmt: skip
    assert ddl.create_tables(ch, url) == []
    statements = ddl.create_statements(url)
    assert len(statements) == len(created)
    assert "TO `otel`.`my_spans_trace_id_ts`" in statements[3]
    assert all("IF NOT EXISTS" in s for s in statements)


def test_cli_export_to_chdb(export_store, chdir, exported, ch, local, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from obsctl.cli import CONTEXT_SETTINGS, ObsctlGroup, _root
    from obsctl.cli import export as export_cli

    app = typer.Typer(cls=ObsctlGroup, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.callback()(_root)
    app.command("export", context_settings=CONTEXT_SETTINGS)(export_cli.export)
    monkeypatch.setenv("OBSCTL_STORE", str(export_store))
    r = CliRunner().invoke(app, ["export", "--to", f"chdb://{chdir}?database=cli", "-f", "csv"])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == '"table","rows","skipped"'
    expected = store_counts(local)
    assert lines[1:] == [
        f'"cli.{table}",{n},{1 if table == "otel_logs" else 0}' for table, n in expected.items()
    ]
    assert f"to chdb://{chdir} (database cli)" in r.stderr
    assert one(ch, "SELECT count() FROM cli.otel_traces") == expected["otel_traces"]
