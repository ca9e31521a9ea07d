"""What the TUI builds on besides widgets: the paging functions added to
``analysis.logs``, ``analysis.traces.service_rates``, the filter boxes, and the
``obsctl tui`` command's checks before the terminal switches to the app."""

from __future__ import annotations

import subprocess
import sys

import pytest

from obsctl.cli.exit_codes import ExitCode
from obsctl.tui.logs import FilterText, template_regex
from obsctl.tui.traces import trace_filter
from tests.tui.conftest import TRUTH


@pytest.fixture
def demo(demo_store):
    from obsctl.store import Store

    with Store.open(demo_store, read_only=True) as s:
        yield s


def test_record_index_pages_match_search(demo):
    from obsctl.analysis import logs

    filt = logs.LogFilter.from_options(level="warn")
    index = logs.record_index(demo, filt)
    assert len(index) == logs.count(demo, filt)
    every = logs.search(demo, filt)
    for start in (0, 250, len(index) - 7):
        page = logs.records_at(demo, index.slice(start, 7))
        assert page.schema == every.schema
        assert page.equals(every.slice(start, 7))


def test_service_rates_add_up(demo):
    from obsctl.analysis import traces

    rates = traces.service_rates(demo, buckets=30)
    assert rates is not None and rates.buckets == 30
    t = rates.table.to_pylist()
    overall = {r["service"]: r for r in t if r["bucket"] is None}
    spans = demo.rows("SELECT service_name, count(*) FROM spans GROUP BY 1")
    assert {k: v["spans"] for k, v in overall.items()} == dict(spans)
    for name, row in overall.items():
        parts = [r for r in t if r["service"] == name and r["bucket"] is not None]
        assert sum(r["spans"] for r in parts) == row["spans"]
        assert sum(r["errors"] for r in parts) == row["errors"]
        assert all(0 <= r["bucket"] < 30 for r in parts)
    assert overall[TRUTH.span_service]["p95_ns"] > 0


def test_filter_box_terms():
    f = FilterText.parse("payment timeout service:checkout trace:7bb2 re:'order=\\w+ x'")
    assert f.text == "payment timeout"
    assert f.services == ("checkout",)
    assert f.trace == "7bb2"
    assert f.grep == "order=\\w+ x"
    assert FilterText.parse("unbalanced 'quote").text == "unbalanced 'quote"


def test_template_regex_matches_its_messages():
    import re

    rx = template_regex("payment timeout after <*> order=ord-<*> (x.y) [*]")
    assert re.search(rx, "payment timeout after 2000ms order=ord-9e23 (x.y) [*]")
    assert not re.search(rx, "payment timeout after 2000ms order=ord-9e23 (xzy) [*]")


def test_trace_filter_terms():
    from obsctl.errors import UsageError
    from obsctl.timewindow import TimeWindow

    f = trace_filter("service:payment errors min:250ms attr:http.route=/charge GET /x",
                     TimeWindow(), "checkout")  # fmt: skip
    assert f.services == ("checkout", "payment")
    assert f.errors and f.min_duration_ns == 250_000_000
    assert f.attrs == (("http.route", "/charge"),)
    assert f.operation == "GET /x"
    with pytest.raises(UsageError):
        trace_filter("min:soon", TimeWindow(), None)


def test_cli_checks_before_starting(cli, tmp_path):
    r = cli("tui", "--since", "yesterday")
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""
    assert "obsctl: error: --since 'yesterday'" in r.stderr
    r = cli("tui", "--store", str(tmp_path / "none.duckdb"))
    assert r.exit_code == ExitCode.NOT_FOUND and r.stdout == ""
    r = cli("tui", "--view", "nope")
    assert r.exit_code == ExitCode.USAGE
    r = cli("tui", "--help")
    assert r.exit_code == 0 and "--since" in r.stdout


def test_tui_help_does_not_import_textual():
    code = (
        "import sys; sys.argv = ['obsctl', 'tui', '--help']\n"
        "from obsctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('textual', 'duckdb', 'pyarrow') if m in sys.modules]\n"
        "print('LOADED=' + ','.join(heavy), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "LOADED=\n" in proc.stderr + "\n", proc.stderr
    assert "--view" in proc.stdout
