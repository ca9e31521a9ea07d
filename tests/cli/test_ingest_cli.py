"""``obsctl ingest`` as a user runs it: summary on stdout, talk on stderr, exit codes."""

from __future__ import annotations

import json

from obsctl.cli.exit_codes import ExitCode


def test_ingest_prints_a_per_file_summary(cli, corpus):
    r = cli("ingest", corpus / "logs/jsonl/lnav_bunyan.jsonl", corpus / "traces/zipkin/yelp.json")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].strip() == f"from {corpus}/"  # paths below are relative to it
    assert lines[1].split() == ["file", "format", "signal", "records", "rejected", "note"]
    n = len((corpus / "logs/jsonl/lnav_bunyan.jsonl").read_text().splitlines())
    assert lines[2].split()[:5] == ["logs/jsonl/lnav_bunyan.jsonl", "jsonl", "logs", str(n), "0"]
    assert lines[3].split()[:5] == ["traces/zipkin/yelp.json", "zipkin", "traces", "16", "0"]
    assert "2 of 2 files loaded" in r.stdout
    assert "\x1b" not in r.stdout  # not a terminal: no colour


def test_ingest_json_summary_and_already_loaded(cli, corpus):
    path = corpus / "traces/zipkin/yelp.json"
    first = json.loads(cli("ingest", path, "-o", "json").stdout)
    assert first[0]["status"] == "loaded" and first[0]["records"] == 16
    again = cli("ingest", path, "-o", "json")
    assert again.exit_code == 0
    row = json.loads(again.stdout)[0]
    assert row["status"] == "already-loaded"
    assert row["note"] == "already loaded (same content)"


def test_ingest_reads_stdin_with_forced_format_and_service(cli, corpus):
    data = (corpus / "traces/zipkin/yelp.json").read_bytes()
    r = cli("ingest", "-", "--format", "zipkin", "-o", "ndjson", input=data)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["file"] == "-"


def test_ingest_of_a_missing_path_fails_cleanly(cli, tmp_path):
    r = cli("ingest", tmp_path / "nope.log")
    assert r.exit_code == ExitCode.NOT_FOUND
    assert r.stdout == ""
    assert r.stderr.startswith("obsctl: error: no such file")
    assert len(r.stderr.splitlines()) == 1


def test_ingest_unknown_format_name_is_a_usage_error(cli, corpus):
    r = cli("ingest", "--format", "klingon", corpus / "traces/zipkin/yelp.json")
    assert r.exit_code == ExitCode.USAGE
    assert "unknown format 'klingon'" in r.stderr
    assert r.stdout == ""


def test_ingest_unrecognised_named_file_exits_input_error(cli, tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(bytes(range(256)) * 8)
    r = cli("ingest", p)
    assert r.exit_code == ExitCode.INPUT
    assert "format not recognised" in r.stderr
    assert "Traceback" not in r.stderr


def test_verbose_lists_rejects_with_file_and_line(cli, corpus):
    r = cli("ingest", "-v", corpus / "logs/jsonl/lnav_invalid_json.jsonl")
    assert r.exit_code == 0
    assert "lnav_invalid_json.jsonl:" in r.stderr
    assert "1 rejected" in r.stderr


def test_table_groups_a_folder_of_profiles_json_keeps_every_file(cli):
    from tests.conftest import FIXTURES

    bundle = FIXTURES / "checkout-incident"
    table = cli("ingest", bundle / "profiles" / "payment", bundle / "logs" / "cart.jsonl.gz")
    assert table.exit_code == 0, table.stderr
    n = len(list((bundle / "profiles" / "payment").glob("*.pb.gz")))
    assert f"profiles/payment/ ({n} files)" in table.stdout
    again = json.loads(cli("ingest", bundle / "profiles" / "payment", "-o", "json").stdout)
    assert len(again) == n and {r["status"] for r in again} == {"already-loaded"}
