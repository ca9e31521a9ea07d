"""``export --parquet``: hive-partitioned Parquet that DuckDB and pyarrow read as is, with
the store's rows, exact nanoseconds and the exporter's column names; and the command."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from obsctl.cli.exit_codes import ExitCode
from obsctl.errors import UsageError
from obsctl.export import otel_rows
from tests.export.conftest import (
    HOSTILE,
    HOSTILE_ATTRS,
    HOSTILE_SERVICE,
    HOSTILE_SPAN,
    HOSTILE_START_NS,
    store_counts,
)


@pytest.fixture(scope="module")
def local(export_store: Path):
    from obsctl.store import Store

    with Store.open(export_store, read_only=True) as s:
        yield s


@pytest.fixture(scope="module")
def exported(export_store: Path, tmp_path_factory: pytest.TempPathFactory):
    """The whole store as Parquet: (directory, results)."""
    from obsctl.export.parquet import export_parquet
    from obsctl.store import Store

    out = tmp_path_factory.mktemp("parquet") / "out"
    with Store.open(export_store, read_only=True) as s:
        results = export_parquet(s, out)
    return out, results


def scan(directory: Path, table: str) -> str:
    return f"read_parquet('{directory / table}/*/*.parquet', hive_partitioning = true)"


def test_every_table_gets_the_store_rows(exported, local):
    out, results = exported
    expected = store_counts(local)
    assert [Path(r.table).name for r in results] == list(otel_rows.QUERIES)
    for r in results:
        table = Path(r.table).name
        assert r.rows == expected[table], table
        assert local.scalar(f"SELECT count(*) FROM {scan(out, table)}") == expected[table]
    assert {r.table: r.skipped for r in results}[str(out / "otel_logs")] == 1


def test_layout_is_hive_partitioned_by_utc_date_kept_inside_the_files(exported, local):
    out, _ = exported
    days = {p.name for p in (out / "otel_traces").iterdir()}
    expected = {
        f"date={d.isoformat()}"
        for (d,) in local.rows("SELECT DISTINCT start_time::DATE FROM spans")
    }
    assert days == expected and len(days) >= 2  # the demo's day and the corpus's 2017 one
    for day in days:
        assert [f.name for f in (out / "otel_traces" / day).iterdir()] == ["data_0.parquet"]
    # a file read on its own (no hive partitioning) still has its date
    one = out / "otel_traces" / "date=2026-03-26" / "data_0.parquet"
    dates = local.rows(f"SELECT DISTINCT date::VARCHAR FROM read_parquet('{one}')")
    assert dates == [("2026-03-26",)]


def test_column_names_and_parquet_types(exported, local):
    out, _ = exported
    f = next((out / "otel_traces").glob("*/*.parquet"))
    schema = {
        name: (typ, logical, converted)
        for name, typ, logical, converted in local.rows(
            f"SELECT name, type, logical_type, converted_type FROM parquet_schema('{f}')"
        )
    }
    assert schema["Timestamp"][0] == "INT64"
    assert "isAdjustedToUTC=1" in schema["Timestamp"][1] and "MICROS" in schema["Timestamp"][1]
    assert schema["TimestampNs"][:1] == ("INT64",)
    assert schema["Duration"][0] == "INT64" and schema["Duration"][2] == "INT_64"
    assert schema["SpanAttributes"][2] == "MAP"
    assert schema["Events"][2] == "LIST"
    names = [r[0] for r in local.rows(f"DESCRIBE SELECT * FROM read_parquet('{f}')")]
    assert names[:6] == [
        "Timestamp",
        "TimestampNs",
        "TraceId",
        "SpanId",
        "ParentSpanId",
        "TraceState",
    ]
    assert "date" in names
    logs = next((out / "otel_logs").glob("*/*.parquet"))
    log_names = [r[0] for r in local.rows(f"DESCRIBE SELECT * FROM read_parquet('{logs}')")]
    assert log_names[:3] == ["Timestamp", "TimestampNs", "TimestampTime"]
    assert "LogAttributes" in log_names


def test_nanoseconds_are_exact_and_microseconds_agree(exported, local):
    out, _ = exported
    mine = Counter(local.rows("SELECT span_id, epoch_ns(start_time), duration_ns FROM spans"))
    theirs = Counter(
        local.rows(f"SELECT SpanId, TimestampNs, Duration FROM {scan(out, 'otel_traces')}")
    )
    assert theirs == mine
    pairs = [
        ("otel_traces", "Timestamp"),
        ("otel_logs", "Timestamp"),
        ("otel_metrics_sum", "TimeUnix"),
        ("otel_metrics_sum", "StartTimeUnix"),
    ]
    for table, column in pairs:
        bad = local.scalar(
            f"SELECT count(*) FROM {scan(out, table)}"
            f" WHERE epoch_us({column}) != {column}Ns // 1000"
        )
        assert bad == 0, (table, column)
    (ts, ns) = local.rows(
        f"SELECT Timestamp::VARCHAR, TimestampNs FROM {scan(out, 'otel_traces')} WHERE SpanId = ?",
        [HOSTILE_SPAN],
    )[0]
    assert ns == HOSTILE_START_NS
    assert ts.startswith("2026-03-26 16:12:00.123456")  # truncated, not rounded up


def test_maps_and_nested_columns(exported, local):
    out, _ = exported
    (attrs, kind, status, events, links) = local.rows(
        "SELECT SpanAttributes, SpanKind, StatusCode,"
        " list_transform(Events, lambda e: {'TimestampNs': e.TimestampNs, 'Name': e.Name,"
        " 'Attributes': e.Attributes, 'us': epoch_us(e.Timestamp)}), Links"
        f" FROM {scan(out, 'otel_traces')} WHERE SpanId = ?",
        [HOSTILE_SPAN],
    )[0]
    assert attrs == HOSTILE_ATTRS
    assert attrs["hostile"] == HOSTILE
    assert (kind, status) == ("Producer", "Error")
    assert [e["TimestampNs"] for e in events] == [HOSTILE_START_NS + 7]
    assert events[0]["us"] == (HOSTILE_START_NS + 7) // 1000
    assert events[0]["Name"] == "exception"
    assert events[0]["Attributes"] == {"exception.type": "Timeout", "retry.count": "3"}
    assert links == [
        {
            "TraceId": "0af7651916cd43dd8448eb211c80319c",
            "SpanId": "b7ad6b7169203331",
            "TraceState": "k=v",
            "Attributes": {"link.kind": "retry"},
        }
    ]
    (quantiles,) = local.rows(
        f"SELECT ValueAtQuantiles FROM {scan(out, 'otel_metrics_summary')}"
        " WHERE MetricName = 'edge.latency.summary'"
    )[0]
    assert quantiles == [{"Quantile": 0.5, "Value": 11.0}, {"Quantile": 0.99, "Value": 42.5}]


def test_pyarrow_dataset_reads_the_partitioning(exported, local):
    import pyarrow as pa
    import pyarrow.dataset as ds

    out, _ = exported
    partitioning = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")
    data = ds.dataset(out / "otel_traces", format="parquet", partitioning=partitioning)
    assert data.count_rows() == local.scalar("SELECT count(*) FROM spans")
    march26 = pa.scalar(dt.date(2026, 3, 26), pa.date32())
    day = data.to_table(
        filter=ds.field("date") == march26, columns=["TimestampNs", "Timestamp", "date"]
    )
    assert day.num_rows == local.scalar(
        "SELECT count(*) FROM spans WHERE start_time::DATE = DATE '2026-03-26'"
    )
    assert str(day.schema.field("Timestamp").type) == "timestamp[us, tz=UTC]"
    assert day.schema.field("TimestampNs").type == pa.int64()
    # the partition column is inside the files too: no partitioning needed to get it
    plain = ds.dataset(out / "otel_traces", format="parquet")
    assert plain.schema.field("date").type == pa.date32()
    assert plain.count_rows(filter=ds.field("date") == march26) == day.num_rows


def test_a_second_export_is_refused_unless_overwrite(exported, export_store):
    from obsctl.export.parquet import export_parquet
    from obsctl.store import Store

    out, first = exported
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    with Store.open(export_store, read_only=True) as s:
        with pytest.raises(UsageError, match="--overwrite"):
            export_parquet(s, out)
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == before
        again = export_parquet(s, out, overwrite=True)
    assert [r.rows for r in again] == [r.rows for r in first]  # replaced, not appended
    assert sorted(p.relative_to(out) for p in out.rglob("*.parquet")) == sorted(
        p.relative_to(out) for p in before
    )


def test_window_and_service_filters(export_store, local, tmp_path):
    from obsctl.export.parquet import export_parquet
    from obsctl.store import Store
    from obsctl.timewindow import resolve

    with Store.open(export_store, read_only=True) as s:
        window = resolve(s, "2026-03-26T16:30:00Z", "2026-03-26T16:40:00Z")
        results = export_parquet(s, tmp_path / "slice", window, ["checkout", "payment"])
    got = {Path(r.table).name: r.rows for r in results}
    where = (
        "service_name IN ('checkout', 'payment') AND {t} >= TIMESTAMP_NS '2026-03-26 16:30:00'"
        " AND {t} < TIMESTAMP_NS '2026-03-26 16:40:00'"
    )
    spans = local.scalar("SELECT count(*) FROM spans WHERE " + where.format(t="start_time"))
    sums = local.scalar(
        "SELECT count(*) FROM metric_points WHERE metric_type = 'sum' AND "
        + where.format(t="timestamp")
    )
    assert got["otel_traces"] == spans > 0
    assert got["otel_metrics_sum"] == sums > 0
    assert got["otel_metrics_summary"] == 0
    assert not (tmp_path / "slice" / "otel_metrics_summary").exists()  # no rows, no directory
    services = local.rows(
        f"SELECT DISTINCT ServiceName FROM {scan(tmp_path / 'slice', 'otel_logs')} ORDER BY 1"
    )
    assert services == [("checkout",), ("payment",)]


# --------------------------------------------------------------------------- the command


@pytest.fixture
def run(export_store, monkeypatch):
    """``obsctl export …`` through a small app (the command is registered by the lead)."""
    import typer
    from typer.testing import CliRunner

    from obsctl.cli import CONTEXT_SETTINGS, ObsctlGroup, _root
    from obsctl.cli import export as export_cli

    app = typer.Typer(cls=ObsctlGroup, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.callback()(_root)
    app.command("export", context_settings=CONTEXT_SETTINGS)(export_cli.export)
    monkeypatch.setenv("OBSCTL_STORE", str(export_store))
    monkeypatch.setenv("COLUMNS", "100")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_cli_parquet_json(run, local, tmp_path):
    r = run("export", "--parquet", tmp_path / "pq", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    expected = store_counts(local)
    assert [(Path(row["table"]).name, row["rows"]) for row in doc] == list(expected.items())
    assert doc[0]["skipped"] == 1
    assert "exported" in r.stderr and f"{sum(expected.values()):,} rows" in r.stderr
    profiles = local.scalar("SELECT count(*) FROM profiles")
    assert f"{profiles:,} profiles not exported" in r.stderr


def test_cli_table_view(run, tmp_path):
    r = run("export", "--parquet", tmp_path / "pq", "--since", "5m", "-s", "payment")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["target", "table", "rows", "skipped"]
    assert lines[1].split()[0].endswith("otel_logs")
    assert len(lines) == 1 + len(otel_rows.QUERIES)
    assert all(len(ln) <= 100 for ln in lines)


@pytest.mark.parametrize(
    "args, message",
    [
        (["export"], "give one target"),
        (["export", "--to", "chdb:///x", "--parquet", "d"], "give one target"),
        (["export", "--to", "some/file.duckdb"], "not a ClickHouse URL"),
        (["export", "--to", "mysql://h/db"], "unknown scheme"),
        (["export", "--to", "chdb:///x", "--overwrite"], "--overwrite applies to --parquet"),
        (["export", "--parquet", "d", "--since", "yesterday"], "--since"),
        (["export", "--store", "chdb:///nowhere", "--parquet", "d"], "local store"),
    ],
)
def test_cli_usage_errors(run, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("obsctl: error: ") and message in r.stderr
    assert not (tmp_path / "d").exists()


def test_cli_refuses_a_non_empty_directory(run, tmp_path):
    assert run("export", "--parquet", tmp_path / "pq").exit_code == 0
    r = run("export", "--parquet", tmp_path / "pq")
    assert r.exit_code == ExitCode.USAGE
    assert r.stdout == "" and "--overwrite" in r.stderr
    r = run("-q", "export", "--parquet", tmp_path / "pq", "--overwrite")
    assert r.exit_code == 0 and r.stderr == ""


def test_directory_names_are_data_not_sql(export_store, local, tmp_path):
    from obsctl.export.parquet import export_parquet
    from obsctl.store import Store

    out = tmp_path / "it's [red]x'); --"
    with Store.open(export_store, read_only=True) as s:
        results = export_parquet(s, out, services=[HOSTILE_SERVICE])
    got = {Path(r.table).name: r.rows for r in results}
    assert got["otel_traces"] == 2 and got["otel_logs"] == 1
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert "otel_traces/date=2026-03-26/data_0.parquet" in files
