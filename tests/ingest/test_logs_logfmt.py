"""logfmt logs: the corpus files load with exact counts and values, quoting and empty
values are handled, non-logfmt lines are rejected by line, and the sniffer tells logfmt
from plain text and JSON."""

from __future__ import annotations

import json
import re

import pytest

from obsctl.ingest import detect
from obsctl.ingest.files import open_source
from obsctl.ingest.logs_logfmt import sniff

LOGFMT = "logs/logfmt"
PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')


def _pairs(line: str) -> dict[str, str]:
    """An independent reading of a logfmt line (quoted values decoded as JSON strings)."""
    out = {}
    for k, v in PAIR.findall(line):
        out[k] = json.loads(v) if v.startswith('"') else v
    return out


@pytest.mark.parametrize("name", ["lnav_grafana.0.logfmt", "lnav_logfmt.0.logfmt"])
def test_corpus_file_loads_every_line_exactly(corpus, store, load, name):
    path = corpus / LOGFMT / name
    lines = path.read_text().splitlines()
    f = load(path).files[0]
    assert f.status == "loaded", f.error
    assert (f.format, f.records, f.rejected) == ("logfmt", len(lines), 0)
    rows = store.rows("SELECT line, body, severity_text, attributes FROM logs ORDER BY line")
    assert [r[0] for r in rows] == list(range(1, len(lines) + 1))
    for (_, body, level, attrs), line in zip(rows, lines, strict=True):
        p = _pairs(line)
        assert body == p["msg"] and level == p["level"]
        rest = {k: v for k, v in p.items() if k not in ("t", "time", "level", "msg")}
        assert json.loads(attrs) == rest


def test_grafana_nanosecond_time_level_and_logger_attribute(corpus, store, load):
    load(corpus / LOGFMT / "lnav_grafana.0.logfmt", service="grafana")
    row = store.rows(
        "SELECT timestamp::VARCHAR, service_name, severity_number, body,"
        " attributes->>'$.logger', attributes->>'$.version' FROM logs WHERE line = 1"
    )
    assert row == [
        ("2025-04-24 19:51:48.520963849", "grafana", 9, "Starting Grafana", "settings", "11.5.2")
    ]


def test_quoted_time_empty_value_and_quoted_error(corpus, store, load):
    load(corpus / LOGFMT / "lnav_logfmt.0.logfmt")
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, service_name, severity_text, severity_number,"
        " attributes->>'$.reason', attributes->>'$.error' FROM logs ORDER BY line"
    )
    assert rows[0] == (1, "2021-09-15 21:17:10.220731", "lnav_logfmt", "error", 17, "", None)
    assert rows[1][3:] == (
        "warning", 13, None,
        "pod inc-1-domain-c14-ns-6/fe-inc-1-domain-c14-ns-6-5-656d9bb695-4584b is not found:"
        " PodNotFound",
    )  # fmt: skip


def test_escapes_rejects_blank_lines_and_leftovers(tmp_path, store, load):
    p = tmp_path / "logs" / "svc.logfmt"  # generic folder: the service is the file's stem
    p.parent.mkdir()
    p.write_text(
        'ts=2024-02-03T04:05:06.000000007Z level=warn msg="say \\"hi\\" \\\\ bye" a=1 a=2\n'
        "\n"
        "this line has no pairs at all\n"
        "ts=1706933106 lvl=x level=ERROR msg=bare service=pay trace_id=ABCDEF0123456789"
        " stray\n"
    )
    f = load(p).files[0]
    assert (f.records, f.rejected) == (2, 1)
    assert store.rows("SELECT line, reason, excerpt FROM rejects") == [
        (3, "no key=value pairs", "this line has no pairs at all")
    ]
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, service_name, severity_number, body, trace_id,"
        " attributes FROM logs ORDER BY line"
    )
    assert rows[0][:5] == (1, "2024-02-03 04:05:06.000000007", "svc", 13, 'say "hi" \\ bye')
    assert rows[0][6] == '{"a":"1","a":"2"}'  # repeated keys kept, values as strings
    assert rows[1][:6] == (
        4,
        "2024-02-03 04:05:06",
        "pay",
        17,
        "bare",
        "0000000000000000abcdef0123456789",
    )
    assert json.loads(rows[1][6]) == {"lvl": "x", "logfmt.unparsed": "stray"}


def test_sniff_claims_no_other_corpus_file(corpus):
    # plain-text logs (some with "key=value" words), JSON, Prometheus text, CSV, folded…
    claimed = []
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and LOGFMT not in path.as_posix():
            src = open_source(str(path))
            if sniff(src.head, src.name) > 0:
                claimed.append(path.relative_to(corpus).as_posix())
    assert claimed == []


def test_sniff_needs_pairs_with_a_time_or_level_key():
    assert sniff(b"user=bob action=login ok=true\nuser=al action=logout ok=true\n", "") == 0.0
    assert sniff(b'time="2024-01-01T00:00:00Z" level=info msg="x"\n', "a.log") >= 0.9
    assert sniff(b"Starting server on port=8080 with mode=fast\n", "") == 0.0


@pytest.mark.parametrize("name", ["lnav_grafana.0.logfmt", "lnav_logfmt.0.logfmt"])
def test_detection_picks_logfmt(corpus, name):
    src = open_source(str(corpus / LOGFMT / name))
    assert detect.detect(src.head, src.name).name == "logfmt"
