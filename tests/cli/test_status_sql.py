"""``obsctl status`` and ``obsctl sql`` on a store loaded from real corpus files."""

from __future__ import annotations

import csv
import io
import json

from obsctl.cli.exit_codes import ExitCode


def test_status_before_anything_is_loaded_says_how_to_start(cli):
    r = cli("status")
    assert r.exit_code == ExitCode.NOT_FOUND
    assert "obsctl ingest" in r.stderr
    assert r.stdout == ""


def test_status_reports_counts_services_and_range_per_signal(cli, corpus):
    cli("ingest", corpus / "traces/zipkin/yelp.json", corpus / "logs/jsonl/lnav_bunyan.jsonl")
    r = cli("status", "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = {row["signal"]: row for row in json.loads(r.stdout)}
    assert set(rows) == {"logs", "metrics", "traces", "profiles"}
    assert rows["traces"]["records"] == 16
    assert rows["traces"]["sources"] == 1
    spans = json.loads((corpus / "traces/zipkin/yelp.json").read_text())
    services = {s["localEndpoint"]["serviceName"] for s in spans if s.get("localEndpoint")}
    assert set(rows["traces"]["services"]) == services
    first_us = min(s["timestamp"] for s in spans)
    assert rows["traces"]["start"].startswith("20")
    assert rows["metrics"]["records"] == 0 and rows["metrics"]["start"] is None
    assert first_us > 0


def test_status_table_points_to_the_sources(cli, corpus):
    cli("ingest", corpus / "traces/zipkin/yelp.json", corpus / "logs/jsonl/lnav_invalid_json.jsonl")
    r = cli("status")
    assert "2 files loaded, 1 records rejected · list them with: obsctl status --sources" in (
        " ".join(r.stdout.split())
    )
    listed = cli("status", "--sources")
    assert "yelp.json" in listed.stdout and "zipkin" in listed.stdout


def test_status_sources_as_csv(cli, corpus):
    cli("ingest", corpus / "traces/zipkin/yelp.json")
    rows = list(csv.DictReader(io.StringIO(cli("status", "--sources", "-f", "csv").stdout)))
    assert [(r["format"], r["signal"], r["records"]) for r in rows] == [("zipkin", "traces", "16")]


def test_sql_reads_with_json_output(cli, corpus):
    cli("ingest", corpus / "traces/zipkin/yelp.json")
    r = cli("sql", "SELECT count(*) AS n FROM spans", "--format", "json")
    assert json.loads(r.stdout) == [{"n": 16}]


def test_sql_is_read_only_by_default(cli, corpus):
    cli("ingest", corpus / "traces/zipkin/yelp.json")
    r = cli("sql", "DELETE FROM spans")
    assert r.exit_code == ExitCode.QUERY
    assert "read-only" in r.stderr.lower()
    assert r.stdout == ""
    assert json.loads(cli("sql", "SELECT count(*) n FROM spans", "-f", "json").stdout) == [
        {"n": 16}
    ]


def test_sql_error_is_one_line(cli, corpus):
    cli("ingest", corpus / "traces/zipkin/yelp.json")
    r = cli("sql", "SELEKT 1")
    assert r.exit_code == ExitCode.QUERY
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("obsctl: error: ")
