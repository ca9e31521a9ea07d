"""``obsctl report``: the files a user gets, stdout/stderr and exit codes as they see them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from obsctl.cli.exit_codes import ExitCode
from obsctl.demo.scenario import SCENARIOS
from tests.conftest import FIXTURES
from tests.render.test_report_html import HOSTILE, write_hostile_bundle

DEMO = FIXTURES / "checkout-incident"
TRUTH = SCENARIOS["payment-cpu"].truth
WROTE = re.compile(r"wrote (?P<where>\S+) \((?P<kb>\d+) KB\)")

SECTIONS = (
    "## Summary",
    "## Timeline",
    "## 1 Logs — what happened",
    "## 2 Metrics — how much",
    "## 3 Traces — where",
    "## 4 Profiles — why",
    "## Suspects",
    "## Commands to reproduce",
)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("report-cli") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO)])
    return path


@pytest.fixture
def demo(cli, demo_store, monkeypatch):
    monkeypatch.setenv("OBSCTL_STORE", str(demo_store))
    return cli


def _markdown_html(text: str) -> str:
    """Markdown rendered as CommonMark + GFM tables do (raw HTML passes through)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


def test_html_report_of_the_demo(demo, tmp_path):
    out = tmp_path / "postmortem.html"
    r = demo("report", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    m = WROTE.fullmatch(r.stderr.strip())
    assert m and m["where"] == str(out)
    html = out.read_text()
    assert int(m["kb"]) == max(1, round(len(html.encode()) / 1024))
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file, not 0600
    assert html.startswith("<!DOCTYPE html>")
    assert TRUTH.function in html and TRUTH.service in html
    assert html.count("<svg") >= 4  # error rate, latency, waterfall, flame graph


def test_markdown_report_of_the_demo(demo, tmp_path):
    out = tmp_path / "postmortem.md"
    r = demo("report", "-o", out)
    assert r.exit_code == 0, r.stderr
    text = out.read_text()
    assert text.startswith("# Incident report — ")
    positions = [text.index(s + "\n") for s in SECTIONS]
    assert positions == sorted(positions)
    summary = text[: text.index("## Timeline")]
    top = next(ln for ln in summary.splitlines() if ln.startswith("- **Top suspect:**"))
    assert TRUTH.service in top and "VelocityRule" in top
    assert "- **Confidence:** high" in summary
    html = _markdown_html(text)
    assert html.count("<table>") >= 6  # timeline, step findings, evidence
    assert "<code>" + TRUTH.function + "</code>" in html.replace("&quot;", '"')
    fence = re.search(r"^```console\n(.*?)^```$", text, flags=re.S | re.M)
    assert fence and fence.group(1).startswith("obsctl investigate --since ")


def test_dash_writes_markdown_to_stdout(demo):
    r = demo("report", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("# Incident report — ")
    assert all(s in r.stdout for s in SECTIONS)
    assert WROTE.fullmatch(r.stderr.strip())["where"] == "stdout"


def test_format_option_overrides_an_unknown_extension(demo, tmp_path):
    out = tmp_path / "report.txt"
    r = demo("report", "-o", out, "--format", "html")
    assert r.exit_code == 0, r.stderr
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "r.html", "--format", "md"], "--format md does not match the output 'r.html'"),
        (["-o", "r.md", "-f", "html"], "--format html does not match the output 'r.md'"),
        (["-o", "r.txt"], "cannot tell the report format from 'r.txt'"),
        (["-o", "r.md", "--format", "pdf"], "--format 'pdf': choose md or html"),
    ],
)
def test_format_mismatch_is_a_clear_usage_error(demo, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = demo("report", *args)
    assert r.exit_code == ExitCode.USAGE
    assert r.stdout == ""
    assert r.stderr.startswith("obsctl: error: " + message)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_output_is_required(demo):
    r = demo("report")
    assert r.exit_code == ExitCode.USAGE
    assert "--output" in r.stderr


def test_unwritable_output_is_an_error(demo, tmp_path):
    r = demo("report", "-o", tmp_path / "missing" / "r.md")
    assert r.exit_code == ExitCode.USAGE
    assert r.stderr.startswith("obsctl: error: cannot write ")


def test_quiet_data_writes_a_nothing_found_report_and_exits_8(cli, tmp_path):
    lines = [
        f'time=2026-03-26T16:{m:02d}:{s:02d}Z level=info service=api msg="request served" n={m}'
        for m in range(10, 50)
        for s in (0, 20, 40)
    ]
    f = tmp_path / "quiet.logfmt"
    f.write_text("\n".join(lines) + "\n")
    out = tmp_path / "quiet.md"
    r = cli("report", f, "-o", out)
    assert r.exit_code == ExitCode.NOTHING_FOUND, r.stderr
    assert r.stderr.strip().endswith("nothing left its baseline")
    text = out.read_text()
    assert text.startswith("# Incident report — nothing left its baseline")
    assert "**Nothing found.**" in text and "None: nothing left its baseline." in text
    html_out = tmp_path / "quiet.html"
    r = cli("report", "-o", html_out)
    assert r.exit_code == ExitCode.NOTHING_FOUND
    assert "Nothing found." in html_out.read_text()


def test_empty_store_is_not_found(cli, tmp_path):
    r = cli("report", "-o", tmp_path / "r.md")
    assert r.exit_code == ExitCode.NOT_FOUND
    assert not (tmp_path / "r.md").exists()


def test_hostile_data_is_inert_text_in_markdown(cli, tmp_path):
    bundle = write_hostile_bundle(tmp_path / "bundle")
    out = tmp_path / "r.md"
    r = cli("report", bundle, "-o", out)
    assert r.exit_code == 0, r.stderr
    text = out.read_text()
    # outside code spans and fences, markup characters are escaped
    prose = re.sub(r"(`+)[^`].*?\1", "", text)
    assert "<script>" not in prose and "<img" not in prose
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in prose
    assert "\\[red\\]x\\[/red\\]" in prose
    html = _markdown_html(text)
    assert "<script" not in html and "<img" not in html
    assert "[red]x[/red]" in html  # shown as the characters it is
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=alert(1)" in html  # as text: no tag carries it
    assert not re.search(r"<[a-z]+[^>]*\sonerror=", html)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<b>x</b> & y", "&lt;b&gt;x&lt;/b&gt; &amp; y"),
        ("# not a heading", "\\# not a heading"),
        ("1. not a list", "1\\. not a list"),
        ("- not a list", "\\- not a list"),
        ("a | b", "a \\| b"),
        ("*em* _em_ `code` ~~s~~", "\\*em\\* \\_em\\_ \\`code\\` \\~\\~s\\~\\~"),
        ("[link](http://x)", "\\[link\\](http://x)"),
        ("line\nbreak\x1b[2J", "line⏎break\\\\x1b\\[2J"),  # renders as line⏎break\x1b[2J
        ("0.49/min", "0.49/min"),
    ],
)
def test_markdown_escaping(value, expected):
    from obsctl.render.report_md import md

    assert md(value) == expected
    shown = _markdown_html(md(value))
    assert "<em>" not in shown and "<h1>" not in shown and "<li>" not in shown
    assert "<a " not in shown and "<b>" not in shown


def test_code_spans_hold_any_text():
    from obsctl.render.report_md import md_code

    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("a|b", in_table=True) == "`a\\|b`"
    assert md_code("") == ""
    html = _markdown_html("| h |\n|---|\n| " + md_code("<i>|</i>", in_table=True) + " |\n")
    assert "<code>&lt;i&gt;|&lt;/i&gt;</code>" in html
    assert HOSTILE[0] not in _markdown_html(md_code(HOSTILE[0]))
