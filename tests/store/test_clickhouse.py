"""ClickHouse stores: URL parsing, schema generations, canonical shapes, index pruning.

The chDB tests create the exporter's tables of an older generation (fixtures under
tests/fixtures/clickhouse/legacy) and of the current one (``obsctl.store.clickhouse.ddl``),
write rows as each generation's collector did, and read them back through ``open_read``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from obsctl.errors import StoreNotFound, UsageError
from obsctl.store.url import PASSWORD_ENV, parse

LEGACY = Path(__file__).parent.parent / "fixtures" / "clickhouse" / "legacy"
T0 = 1_774_541_520_123_456_789  # 2026-03-26T16:12:00.123456789Z


# -- URL parsing (no ClickHouse needed) -----------------------------------------------


def test_plain_paths_and_duckdb_urls_are_the_local_store(tmp_path: Path) -> None:
    assert parse(None).engine == "duckdb"
    assert parse(str(tmp_path / "s.duckdb")).path == tmp_path / "s.duckdb"
    assert parse(f"duckdb://{tmp_path}/s.duckdb").path == tmp_path / "s.duckdb"
    assert not parse("duckdb:rel/s.duckdb").remote


def test_clickhouse_url_takes_tls_from_the_query_and_password_from_the_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    u = parse("clickhouse://ingest@ch.example.com:8443/otel?secure=true")
    assert (u.engine, u.host, u.port, u.user, u.database) == (
        "clickhouse",
        "ch.example.com",
        8443,
        "ingest",
        "otel",
    )
    assert u.secure and u.verify and u.password == "s3cret"
    assert "s3cret" not in u.display and "s3cret" not in repr(u)
    plain = parse("clickhouse://localhost/otel")
    assert not plain.secure and plain.port == 8123 and plain.user == "default"
    assert parse("clickhouse://h:8443/db").secure  # the TLS port implies TLS
    assert not parse("clickhouse://h:8443/db?secure=false").secure


def test_clickhouse_url_table_names_and_errors() -> None:
    u = parse("clickhouse://h/db?logs_table=app_logs&metrics_table=m")
    assert (u.logs_table, u.traces_table, u.metrics_table) == ("app_logs", "otel_traces", "m")
    with pytest.raises(UsageError, match="unknown scheme"):
        parse("postgres://h/db")
    with pytest.raises(UsageError, match="not a plain name"):
        parse("clickhouse://h/db?logs_table=x;DROP")
    with pytest.raises(UsageError, match="secure"):
        parse("clickhouse://h/db?secure=maybe")
    with pytest.raises(UsageError, match="unknown parameter"):
        parse("clickhouse://h/db?compress=1")


def test_write_commands_refuse_a_clickhouse_store(cli) -> None:
    r = cli("ingest", "--store", "clickhouse://localhost/otel", "nothing.log")
    assert r.exit_code != 0
    assert "only writes a local DuckDB store" in r.stderr


# -- chDB -------------------------------------------------------------------------------

chdb = pytest.importorskip("chdb")


def _client(url: str):
    from obsctl.store.clickhouse.client import connect

    return connect(parse(url), create=True)


def _legacy_tables(client, db: str = "default") -> None:
    for f in sorted(LEGACY.glob("*.sql")):
        for stmt in f.read_text().split(";"):
            if stmt.strip():
                client.command(stmt.replace("{db}", db))


@pytest.fixture
def legacy_url(tmp_path: Path) -> str:
    """A chDB store with the legacy tables and a few rows as that generation wrote them."""
    url = f"chdb://{tmp_path}/legacy"
    c = _client(url)
    try:
        _legacy_tables(c)
        c.command(
            "INSERT INTO otel_logs (Timestamp, TraceId, SpanId, SeverityText, SeverityNumber,"
            " ServiceName, Body, ResourceAttributes, LogAttributes) VALUES"
            f" (fromUnixTimestamp64Nano({T0}), 'ABCDEF0123456789ABCDEF0123456789',"
            " '0123456789abcdef', 'ERROR', 17, 'payment', 'charge failed [red]x[/]',"
            " map('service.name', 'payment'), map('http.route', '/pay', 'empty', '')),"
            f" (fromUnixTimestamp64Nano({T0 + 10**9}), '', '', '', 0, 'cart', 'ok', map(), map())"
        )
        c.command(
            "INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName,"
            " SpanKind, ServiceName, SpanAttributes, Duration, StatusCode, StatusMessage,"
            " `Events.Timestamp`, `Events.Name`, `Events.Attributes`) VALUES"
            f" (fromUnixTimestamp64Nano({T0}), 'abcdef0123456789abcdef0123456789',"
            " '1111111111111111', '', 'POST /pay', 'SPAN_KIND_SERVER', 'payment',"
            " map('http.status_code', '500'), 2500000, 'STATUS_CODE_ERROR', 'boom',"
            f" [fromUnixTimestamp64Nano({T0 + 1000})], ['exception'], [map('k', 'v')]),"
            f" (fromUnixTimestamp64Nano({T0 + 500}), 'abcdef0123456789abcdef0123456789',"
            " '2222222222222222', '1111111111111111', 'SELECT', 'SPAN_KIND_CLIENT',"
            " 'payment', map(), 1000, 'STATUS_CODE_UNSET', '', [], [], [])"
        )
        c.command(
            "INSERT INTO otel_metrics_gauge (ServiceName, MetricName, MetricUnit, Attributes,"
            " StartTimeUnix, TimeUnix, Value) VALUES"
            f" ('payment', 'queue.depth', '1', map('queue', 'a'), 0,"
            f" toDateTime({T0 // 10**9}), 7.5)"
        )
    finally:
        c.close()
    return url


def test_legacy_generation_reads_in_canonical_shapes(legacy_url: str) -> None:
    from obsctl.store import open_read

    with open_read(legacy_url) as s:
        assert s.engine == "chdb"
        log = s.rows(
            "SELECT epoch_ns(timestamp), service_name, severity_number, trace_id,"
            " attributes->>'$.\"http.route\"', attributes->>'$.empty', body"
            " FROM logs ORDER BY timestamp"
        )
        assert log[0] == (
            T0,
            "payment",
            17,
            "abcdef0123456789abcdef0123456789",
            "/pay",
            None,  # '' in the Map is a missing key
            "charge failed [red]x[/]",
        )
        assert log[1][2] is None and log[1][3] is None  # 0 and '' are "absent"
        spans = s.rows(
            "SELECT span_id, parent_span_id, kind, status_code, epoch_ns(start_time),"
            " duration_ns, epoch_ns(end_time) - epoch_ns(start_time),"
            " events->0->>'name', (events->0->>'time_unix_nano')::BIGINT"
            " FROM spans ORDER BY start_time"
        )
        assert spans[0] == (
            "1111111111111111",
            None,
            "SERVER",
            "ERROR",
            T0,
            2_500_000,
            2_500_000,
            "exception",
            T0 + 1000,
        )
        assert spans[1][2:4] == ("CLIENT", "UNSET")
        point = s.rows(
            "SELECT metric_name, metric_type, epoch_ns(timestamp), start_timestamp, value"
            " FROM metric_points"
        )
        # a DateTime (seconds) table: whole seconds, as nanoseconds
        assert point == [("queue.depth", "gauge", (T0 // 10**9) * 10**9, None, 7.5)]
        sources = s.rows("SELECT path, signal, records FROM sources ORDER BY source_id")
        assert [r[1:] for r in sources] == [("logs", 2), ("traces", 2), ("metrics", 1)]


def test_legacy_probe_keeps_each_sort_key_form(legacy_url: str) -> None:
    from obsctl.store.clickhouse.client import connect
    from obsctl.store.clickhouse.queries import time_filter
    from obsctl.store.clickhouse.schema import probe

    c = connect(parse(legacy_url))
    try:
        layout = probe(c, parse(legacy_url))
    finally:
        c.close()
    assert layout.logs.key_time == "toUnixTimestamp(Timestamp)"
    assert layout.traces.key_time == "Timestamp"
    assert layout.metrics["gauge"].key_time == "toUnixTimestamp(TimeUnix)"
    assert not layout.metrics["gauge"].nanoseconds
    f = time_filter(layout.logs)
    assert f.startswith("toUnixTimestamp(Timestamp) >= toUnixTimestamp(fromUnixTimestamp64Nano(")


def test_window_and_service_filters_reach_clickhouse(legacy_url: str) -> None:
    from obsctl.store import open_read

    with open_read(legacy_url, since="2026-03-26T16:12:00.5Z", signals=("logs",)) as s:
        assert s.scalar("SELECT count(*) FROM logs") == 1  # only the later record
        assert s.scalar("SELECT count(*) FROM spans") == 0  # traces were not asked for
    with open_read(legacy_url, services=("cart",), signals=("logs", "metrics")) as s:
        assert s.rows("SELECT DISTINCT service_name FROM logs") == [("cart",)]
        assert s.scalar("SELECT count(*) FROM metric_points") == 0


def test_row_cap_refuses_a_window_too_big(legacy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from obsctl.store import open_read

    monkeypatch.setenv("OBSCTL_REMOTE_MAX_ROWS", "2")
    with pytest.raises(UsageError, match="narrow it with --since"):
        open_read(legacy_url, since="1d")


def test_missing_chdb_directory_is_not_found(tmp_path: Path) -> None:
    from obsctl.store import open_read

    with pytest.raises(StoreNotFound):
        open_read(f"chdb://{tmp_path}/nothing-here")


def test_database_without_exporter_tables_says_so(tmp_path: Path) -> None:
    from obsctl.store import open_read

    _client(f"chdb://{tmp_path}/empty").close()
    with pytest.raises(UsageError, match="none of the OpenTelemetry exporter's tables"):
        open_read(f"chdb://{tmp_path}/empty")


def test_trace_fetched_by_id_outside_the_loaded_window(legacy_url: str) -> None:
    from obsctl.store import open_read

    with open_read(legacy_url, since="2026-03-26T16:12:00.5Z") as s:
        assert s.scalar("SELECT count(*) FROM spans") == 0
        assert s.fetch_traces(["ABCDEF0123456789ABCDEF0123456789"]) == 2
        assert s.scalar("SELECT count(DISTINCT span_id) FROM spans") == 2


def _explain_parts(client, sql: str, params: dict) -> list[tuple[int, int]]:
    text = "\n".join(
        r[0] for r in client.query("EXPLAIN indexes = 1 " + sql, parameters=params).result_rows
    )
    return [(int(a), int(b)) for a, b in re.findall(r"Parts: (\d+)/(\d+)", text)]


@pytest.mark.parametrize("generation", ["legacy", "current"])
def test_window_and_service_filter_prunes_parts(tmp_path: Path, generation: str) -> None:
    """Many parts (one insert per service every six hours over three days): a one-hour,
    one-service read must select a small fraction of them through min-max, partition and
    primary-key pruning — on the legacy sort key (``toUnixTimestamp(Timestamp)``) and on
    the current one (``TimestampTime``)."""
    from obsctl.store.clickhouse import ddl, queries
    from obsctl.store.clickhouse.client import connect
    from obsctl.store.clickhouse.schema import probe

    url = parse(f"chdb://{tmp_path}/prune")
    c = connect(url, create=True)
    try:
        if generation == "legacy":
            _legacy_tables(c)
        else:
            ddl.create_tables(c, url)
        c.command("SYSTEM STOP MERGES")
        hour = 3600 * 10**9
        for h in range(0, 72, 6):
            for svc in ("a", "b", "c", "d"):
                c.command(
                    "INSERT INTO otel_logs (Timestamp, ServiceName, SeverityText, Body)"
                    f" SELECT fromUnixTimestamp64Nano(toInt64({T0 + h * hour}) + number * 1000000),"
                    f" '{svc}', 'INFO', 'x' FROM numbers(100)"
                )
        layout = probe(c, url)
        assert layout.logs.key_time == (
            "toUnixTimestamp(Timestamp)" if generation == "legacy" else "TimestampTime"
        )
        sql = queries.count_sql(layout, layout.logs, services=True)
        lo = T0 + 24 * hour
        params = {"lo": lo, "hi": lo + hour, "services": ["b"]}
        assert c.query(sql, parameters=params).result_rows[0][0] == 100
        steps = _explain_parts(c, sql, params)  # min-max, partition, primary key
        total, selected = steps[0][1], steps[-1][0]
        assert total == 48
        assert selected <= 2, f"read {selected}/{total} parts ({steps})"
    finally:
        c.close()
