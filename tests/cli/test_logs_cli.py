"""``obsctl logs`` and ``obsctl logs histogram``: stdout, stderr and exit code, as a user
sees them, on the demo incident and on corpus files."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from obsctl.cli.exit_codes import ExitCode
from tests.conftest import FIXTURES

DEMO = FIXTURES / "checkout-incident"
FIELDS = [
    "time", "level", "severity_text", "severity_number", "service", "body", "trace_id",
    "span_id", "attributes", "resource_attributes", "scope_name", "file", "line", "source_id",
    "pattern_id", "template",
]  # fmt: skip
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the demo incident's logs and traces (loaded once)."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("demo-cli") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO / "logs"), str(DEMO / "traces")])
    return path


@pytest.fixture
def demo(cli, demo_store, monkeypatch):
    """``demo("logs", ...)``: run obsctl against the demo store, 100 columns wide."""
    monkeypatch.setenv("OBSCTL_STORE", str(demo_store))
    monkeypatch.setenv("COLUMNS", "100")
    return cli


def _sql(store: Path, query: str, params: list | None = None) -> list[tuple]:
    from obsctl.store import Store

    with Store.open(store, read_only=True) as s:
        return s.rows(query, params)


def test_table_shows_time_level_service_message(demo, demo_store):
    r = demo("logs", "--level", "warn", "--service", "payment", "--limit", "5")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["time", "level", "service", "message"]
    assert len(lines) == 6
    assert all(len(ln) <= 100 for ln in lines)
    first = _sql(
        demo_store,
        "SELECT strftime(timestamp, '%Y-%m-%d %H:%M:%S.%g') FROM logs"
        " WHERE service_name = 'payment' AND severity_number >= 13 ORDER BY timestamp LIMIT 1",
    )[0][0]
    assert lines[1].startswith(f"{first}  ERROR  payment  payment gateway error")
    total = _sql(
        demo_store,
        "SELECT count(*) FROM logs WHERE service_name = 'payment' AND severity_number >= 13",
    )[0][0]
    assert r.stderr == (
        f"showing the first 5 of {total:,} matching records"
        " (--limit 0 for all, --reverse for the newest)\n"
    )


def test_table_defaults_to_200_rows_and_limit_0_shows_all(demo, demo_store):
    r = demo("logs")
    assert len(r.stdout.splitlines()) == 201
    assert "showing the first 200 of 7,817" in r.stderr
    r = demo("logs", "--limit", "0", "--service", "cart")
    assert len(r.stdout.splitlines()) == 251
    assert r.stderr == ""


def test_reverse_lists_the_newest_first(demo):
    forward = demo("logs", "-f", "ndjson", "--level", "error").stdout.splitlines()
    backward = demo("logs", "-f", "ndjson", "--level", "error", "--reverse").stdout.splitlines()
    assert backward == forward[::-1]
    newest = demo("logs", "--level", "error", "-r", "-n", "1")
    assert "showing the newest 1 of" in newest.stderr


def test_json_has_every_documented_field_with_ns_times(demo):
    r = demo("logs", "--service", "payment", "--level", "error", "-f", "json")
    assert r.exit_code == 0 and r.stderr == ""
    rows = json.loads(r.stdout)
    assert rows
    for row in rows:
        assert list(row) == FIELDS
        assert RFC3339_NS.match(row["time"]), row["time"]
        assert row["level"] == "ERROR" and row["severity_number"] == 17
        assert isinstance(row["attributes"], dict)
        assert row["resource_attributes"]["service.name"] == "payment"
        assert row["file"].endswith("otel-logs.jsonl.gz") and row["line"] > 0


def test_csv_and_ndjson_agree(demo):
    args = ("logs", "--level", "warn", "--since", "10m")
    nd = [json.loads(line) for line in demo(*args, "-f", "ndjson").stdout.splitlines()]
    rows = list(csv.DictReader(io.StringIO(demo(*args, "-f", "csv").stdout)))
    assert len(nd) == len(rows) > 0
    assert list(rows[0]) == FIELDS
    for a, b in zip(nd, rows, strict=True):
        assert (a["time"], a["body"], str(a["line"])) == (b["time"], b["body"], b["line"])
        assert json.loads(b["attributes"]) == a["attributes"]


def test_machine_formats_are_not_limited_by_default(demo, demo_store):
    r = demo("logs", "-f", "ndjson")
    assert len(r.stdout.splitlines()) == _sql(demo_store, "SELECT count(*) FROM logs")[0][0]
    assert len(demo("logs", "-f", "ndjson", "-n", "7").stdout.splitlines()) == 7


def test_trace_filter_with_an_id_from_the_spans_table(demo, demo_store):
    trace = _sql(
        demo_store,
        "SELECT trace_id FROM spans WHERE trace_id IN (SELECT trace_id FROM logs) LIMIT 1",
    )[0][0]
    rows = json.loads(demo("logs", "--trace", trace.upper(), "-f", "json").stdout)
    assert rows and {row["trace_id"] for row in rows} == {trace}


def test_text_and_grep(demo):
    text = json.loads(demo("logs", "GATEWAY ERROR", "-f", "json").stdout)
    assert text and all("gateway error" in row["body"].lower() for row in text)
    grep = json.loads(demo("logs", "--grep", r"over budget: \d{4} ms", "-f", "json").stdout)
    assert grep and all(re.search(r"over budget: \d{4} ms", row["body"]) for row in grep)


def test_since_until_absolute(demo):
    r = demo("logs", "--since", "2026-03-26 16:30", "--until", "2026-03-26T16:31:00Z", "-f", "csv")
    times = [row["time"] for row in csv.DictReader(io.StringIO(r.stdout))]
    assert times and all("2026-03-26T16:30:" in t for t in times)


def test_no_match_is_not_an_error(demo):
    r = demo("logs", "no such text in any log line")
    assert r.exit_code == 0
    assert r.stdout.split() == ["time", "level", "service", "message"]
    assert r.stderr == "no log records match\n"
    r = demo("logs", "no such text in any log line", "-f", "ndjson")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "no log records match\n")
    assert demo("-q", "logs", "nothing like this", "-f", "json").stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "loud"], "--level 'loud' is not a level"),
        (["--since", "15x"], "--since '15x' is not a duration"),
        (["--until", "tomorrow"], "--until 'tomorrow' is not a duration"),
        (["--since", "5m", "--until", "15m"], "--since '5m' is not before --until '15m'"),
        (["--grep", "(oops"], "--grep '(oops' is not a valid regular expression"),
        (["--trace", "not-hex"], "--trace 'not-hex' is not a trace id"),
        (["histogram", "--bucket", "fast"], "--bucket 'fast' is not a positive duration"),
        (["histogram", "--bucket", "1ms"], "--bucket is too fine"),
    ],
)
def test_bad_filter_values_are_usage_errors(demo, args, message):
    r = demo("logs", *args)
    assert r.exit_code == ExitCode.USAGE
    assert r.stdout == ""
    assert r.stderr.startswith(f"obsctl: error: {message}")
    assert len(r.stderr.splitlines()) == 1


def test_missing_store_is_not_found(cli, tmp_path):
    r = cli("logs", "--store", tmp_path / "nothing.duckdb")
    assert r.exit_code == ExitCode.NOT_FOUND
    assert r.stdout == "" and "obsctl ingest" in r.stderr
    assert cli("logs", "histogram", "--store", tmp_path / "x.duckdb").exit_code == 3


def test_histogram_draws_bars_a_time_axis_and_a_legend(demo):
    r = demo("logs", "histogram", "--level", "warn")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("1,442 log records per 1m · 2026-03-26 16:12:00 → 16:53:00 UTC")
    assert all(len(ln) <= 100 for ln in lines)
    assert any("└" in ln and "┬" in ln for ln in lines)
    assert "16:30" in r.stdout and "16:45" in r.stdout
    assert lines[-1].split() == ["▓", "ERROR", "501", "▒", "WARN", "941"]
    assert "\x1b" not in r.stdout  # not a terminal: no colour


def test_histogram_data_form_has_every_bucket_and_level(demo):
    args = ("logs", "histogram", "--level", "error", "--bucket", "1m")
    rows = json.loads(demo(*args, "-f", "json").stdout)
    assert [list(r) for r in rows[:1]] == [["bucket", "level", "count"]]
    assert {r["level"] for r in rows} == {"ERROR"}
    buckets = [r["bucket"] for r in rows]
    assert buckets == sorted(buckets) and len(buckets) == len(set(buckets))
    assert all(RFC3339_NS.match(b) and b.endswith(":00.000000000Z") for b in buckets)
    assert 0 in {r["count"] for r in rows}
    nd = demo(*args, "-f", "ndjson").stdout
    assert [json.loads(line) for line in nd.splitlines()] == rows
    csv_rows = list(csv.DictReader(io.StringIO(demo(*args, "-f", "csv").stdout)))
    assert [int(r["count"]) for r in csv_rows] == [r["count"] for r in rows]


def test_histogram_of_nothing(demo):
    r = demo("logs", "histogram", "no such text anywhere")
    assert r.exit_code == 0
    assert r.stderr == "no log records match\n"


def test_a_subcommand_name_can_still_be_searched_for(demo):
    r = demo("logs", "--", "histogram")
    assert r.exit_code == 0
    assert r.stdout.split() == ["time", "level", "service", "message"]


def test_hostile_content_stays_inert(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "hostile.jsonl"
    lines = [
        {"ts": "2026-03-26T16:00:00Z", "level": "error", "service": "[red]svc[/]",
         "msg": "[bold red]x[/] \u001b[2J <script>alert(1)</script>"},
        {"ts": "2026-03-26T16:00:01Z", "level": "info", "service": "web",
         "msg": "two\nlines \u009b31m"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert cli("ingest", path).exit_code == 0
    r = cli("logs")
    assert r.exit_code == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x9b" not in r.stdout
    assert "[bold red]x[/] \\x1b[2J <script>alert(1)</script>" in r.stdout
    assert "[red]svc[/]" in r.stdout
    assert "two⏎lines \\x9b31m" in r.stdout
    assert "\x1b" not in cli("logs", "-f", "csv").stdout
    assert "\x1b" not in cli("logs", "histogram").stdout
    rows = json.loads(cli("logs", "-f", "json").stdout)
    assert rows[0]["body"] == lines[0]["msg"]  # data formats keep the exact text (escaped JSON)


def test_sql_injection_in_text_and_service_stays_literal(demo, demo_store):
    for args in (["' OR 1=1 --"], ["--service", "payment' OR '1'='1"]):
        r = demo("logs", *args, "-f", "json")
        assert (r.exit_code, json.loads(r.stdout)) == (0, [])
    assert _sql(demo_store, "SELECT count(*) FROM logs")[0][0] == 7817


def test_corpus_syslog_grep_and_level(cli, corpus):
    path = corpus / "logs/loghub/OpenSSH/OpenSSH_2k.log"
    cli("ingest", path)
    expected = sum("Failed password" in line for line in path.read_text().splitlines())
    r = cli("logs", "--grep", "Failed password", "-f", "ndjson")
    assert len(r.stdout.splitlines()) == expected
    assert cli("logs", "-f", "ndjson").stdout.count("\n") == 2000
    errors = [json.loads(x) for x in cli("logs", "-l", "error", "-f", "ndjson").stdout.splitlines()]
    assert errors and all(row["severity_number"] >= 17 for row in errors)


def test_corpus_jsonl_levels(cli, corpus):
    cli("ingest", corpus / "logs/jsonl/lnav_bunyan.jsonl")
    everything = json.loads(cli("logs", "-f", "json").stdout)
    info_up = json.loads(cli("logs", "--level", "info", "-f", "json").stdout)
    assert len(everything) == 10
    assert [r["level"] for r in info_up] == [
        r["level"] for r in everything if r["level"] in ("INFO", "WARN", "ERROR", "FATAL")
    ]


def test_a_single_long_record_squeezes_only_the_message(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    path = tmp_path / "one.jsonl"
    record = {"ts": "2026-03-26T16:00:00Z", "level": "warn", "service": "web", "msg": "x" * 200}
    path.write_text(json.dumps(record) + "\n")
    cli("ingest", path)
    lines = cli("logs").stdout.splitlines()
    assert lines[1].startswith("2026-03-26 16:00:00.000  WARN   web      xxxx")
    assert lines[1].endswith("x…") and len(lines[1]) == 80


def test_patterns_rank_what_is_new_in_the_incident(cli):
    from tests.conftest import FIXTURES

    cli("ingest", FIXTURES / "checkout-incident" / "logs")
    r = cli("logs", "patterns", "--since", "2026-03-26T16:29:30Z", "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows[0]["status"] == "new"
    assert rows[0]["template"].startswith("fraud rule evaluation over budget: <*> ms")
    by_template = {row["template"]: row for row in rows}
    timeout = next(t for t in by_template if t.startswith("payment timeout after"))
    assert by_template[timeout]["status"] == "new"
    assert by_template[timeout]["services"] == ["checkout"]
    retry = next(t for t in by_template if t.startswith("retrying payment charge"))
    assert by_template[retry]["status"] == "grown"
    redis = by_template["redis connection reset, retrying"]
    assert redis["status"] == "steady"
    # ranking: every new pattern before every grown one, grown before steady
    order = [row["status"] for row in rows]
    assert order.index("grown") > max(i for i, s in enumerate(order) if s == "new")
    assert min(i for i, s in enumerate(order) if s == "steady") > order.index("grown")


def test_patterns_table_view_and_baseline_duration(cli):
    from tests.conftest import FIXTURES

    cli("ingest", FIXTURES / "checkout-incident" / "logs")
    r = cli("logs", "patterns", "--since", "20m", "--baseline", "10m", "-n", "5")
    assert r.exit_code == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header == ["status", "count", "share", "baseline", "growth", "template", "services",
                      "levels"]  # fmt: skip
    assert "showing 5 of" in r.stderr
    assert "vs baseline" in r.stdout


def test_patterns_without_since_lists_by_count_and_bad_baseline_is_usage(cli, corpus):
    cli("ingest", corpus / "logs/loghub/OpenSSH/OpenSSH_2k.log")
    r = cli("logs", "patterns", "-f", "json")
    rows = json.loads(r.stdout)
    assert [row["count"] for row in rows] == sorted((row["count"] for row in rows), reverse=True)
    assert sum(row["count"] for row in rows) == 2000
    assert all(row["status"] is None for row in rows)
    bad = cli("logs", "patterns", "--baseline", "10m")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("obsctl: error: --baseline DURATION needs --since")


def test_exports_carry_the_records_pattern(cli):
    from tests.conftest import FIXTURES

    cli("ingest", FIXTURES / "checkout-incident" / "logs")
    r = cli("logs", "--level", "error", "--service", "checkout", "-f", "ndjson")
    assert r.exit_code == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    timeouts = [x for x in records if x["body"].startswith("payment timeout after 2000ms")]
    assert timeouts and {x["template"] for x in timeouts} == {
        "payment timeout after <*> order=ord-<*>"
    }
    patterns = json.loads(cli("logs", "patterns", "--service", "checkout", "-f", "json").stdout)
    ids = {p["template"]: p["pattern_id"] for p in patterns}
    assert {x["pattern_id"] for x in timeouts} == {ids["payment timeout after <*> order=ord-<*>"]}
    plain = cli("logs", "--level", "error", "-n", "1", "-f", "json", "--no-patterns")
    assert "template" not in json.loads(plain.stdout)[0]
