"""The store schema is a public contract: migrations are named, ordered and recorded."""

from __future__ import annotations

import duckdb
import pytest

from obsctl.errors import StoreNotFound, StoreSchemaTooNew
from obsctl.store import Store, migrations


def _columns(store: Store, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in store.rows(f"DESCRIBE {table}")]


def test_blank_store_gets_every_migration_recorded(tmp_path):
    s = Store.open(tmp_path / "s.duckdb")
    names = [r[0] for r in s.rows("SELECT name FROM _obsctl_migrations ORDER BY name")]
    assert names == [m.name for m in migrations.MIGRATIONS]
    s.close()
    # Reopening applies nothing new.
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert migrations.apply(con) == []
    con.close()


def test_public_tables_have_the_documented_columns(store):
    assert _columns(store, "logs") == [
        ("timestamp", "TIMESTAMP_NS"),
        ("observed_timestamp", "TIMESTAMP_NS"),
        ("service_name", "VARCHAR"),
        ("severity_text", "VARCHAR"),
        ("severity_number", "TINYINT"),
        ("body", "VARCHAR"),
        ("trace_id", "VARCHAR"),
        ("span_id", "VARCHAR"),
        ("attributes", "JSON"),
        ("resource_attributes", "JSON"),
        ("scope_name", "VARCHAR"),
        ("source_id", "INTEGER"),
        ("line", "BIGINT"),
    ]
    assert [c for c, _ in _columns(store, "spans")] == [
        "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind",
        "start_time", "end_time", "duration_ns", "status_code", "status_message",
        "service_name", "attributes", "resource_attributes", "scope_name", "scope_version",
        "events", "links", "source_id", "line",
    ]  # fmt: skip
    assert [c for c, _ in _columns(store, "metric_points")][:13] == [
        "metric_name", "metric_type", "unit", "description", "service_name", "attributes",
        "resource_attributes", "scope_name", "timestamp", "start_timestamp", "value",
        "is_monotonic", "aggregation_temporality",
    ]  # fmt: skip
    assert _columns(store, "profile_samples") == [
        ("profile_id", "BIGINT"),
        ("sample_type", "VARCHAR"),
        ("unit", "VARCHAR"),
        ("value", "DOUBLE"),
        ("stack", 'STRUCT("function" VARCHAR, file VARCHAR, line BIGINT)[]'),
        ("labels", "JSON"),
    ]
    assert [c for c, _ in _columns(store, "sources")] == [
        "source_id", "path", "format", "signal", "content_hash", "fingerprint", "bytes", "records",
        "rejected", "service_name", "ingested_at",
    ]  # fmt: skip


def test_store_from_a_newer_obsctl_is_refused(tmp_path):
    s = Store.open(tmp_path / "s.duckdb")
    s.con.execute("INSERT INTO _obsctl_migrations VALUES ('m999_future', now()::TIMESTAMP)")
    s.close()
    with pytest.raises(StoreSchemaTooNew, match="newer obsctl"):
        Store.open(tmp_path / "s.duckdb")


def test_read_only_open_of_a_missing_store_says_how_to_create_it(tmp_path):
    with pytest.raises(StoreNotFound, match="obsctl ingest"):
        Store.open(tmp_path / "none.duckdb", read_only=True)
    assert not (tmp_path / "none.duckdb").exists()


def test_store_path_comes_from_env_when_not_given(tmp_path, monkeypatch):
    from obsctl.store import resolve_path

    monkeypatch.setenv("OBSCTL_STORE", str(tmp_path / "env.duckdb"))
    assert resolve_path(None) == tmp_path / "env.duckdb"
    assert resolve_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"
    monkeypatch.delenv("OBSCTL_STORE")
    assert str(resolve_path(None)) == ".obsctl/store.duckdb"
