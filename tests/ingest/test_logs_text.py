"""Plain-text log dialects (obsctl.ingest.logs_text) on the real corpus and hand-made edges.

Expected counts and values are computed here from the files with the stdlib (line counts,
the loghub ground-truth CSVs), never with the module under test.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from obsctl.ingest import logs_text

ACCESS = "logs/access"
LOGHUB = ("Apache", "HDFS", "Linux", "OpenSSH")


def _load_one(load, path, **kw):
    report = load(path, **kw)
    assert len(report.files) == 1
    fr = report.files[0]
    assert fr.status == "loaded", fr.error
    return fr


def _lines(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", "replace").splitlines()


def _rows(store, sql: str, sid: int) -> list[tuple]:
    return store.rows(sql, [sid])


def _attrs(store, sid: int, line: int) -> dict:
    (a,) = store.rows(
        "SELECT attributes::VARCHAR FROM logs WHERE source_id = ? AND line = ?", [sid, line]
    )[0]
    return json.loads(a) if a else {}


# --------------------------------------------------------------------------------------
# access logs
# --------------------------------------------------------------------------------------

CLF_FILES = [
    "lnav_access_log.combined.log",
    "lnav_bad_access_log.combined.log",
    "lnav_shop_access_log.nginx-main.log",
    "elastic_apache_logs.combined.log.gz",
]


@pytest.mark.parametrize("name", CLF_FILES)
def test_access_logs_load_every_line_and_reject_malformed_ones(corpus, store, load, name):
    path = corpus / ACCESS / name
    lines = _lines(path)
    # Malformed, judged independently: no "host ident user [" prefix, or an odd number of
    # double quotes (a truncated line).
    bad = [
        i
        for i, ln in enumerate(lines, 1)
        if ln.strip() and (not re.match(r"\S+ \S+ \S+ \[", ln) or ln.count('"') % 2)
    ]
    good = [i for i, ln in enumerate(lines, 1) if ln.strip() and i not in bad]
    fr = _load_one(load, path)
    assert fr.format == "access-log"
    assert (fr.records, fr.rejected) == (len(good), len(bad))
    sid = fr.source_id
    assert [
        r[0] for r in _rows(store, "SELECT line FROM logs WHERE source_id = ? ORDER BY line", sid)
    ] == good
    rejects = _rows(
        store, "SELECT line, reason FROM rejects WHERE source_id = ? ORDER BY line", sid
    )
    assert [r[0] for r in rejects] == bad
    # Severity from the status: 5xx ERROR, 4xx WARN, else INFO.
    status = {i: int(re.search(r'" (\d{3}) ', lines[i - 1]).group(1)) for i in good}
    by_sev = dict(
        _rows(store, "SELECT severity_text, count(*) FROM logs WHERE source_id = ? GROUP BY 1", sid)
    )
    assert by_sev.get("ERROR", 0) == sum(s >= 500 for s in status.values())
    assert by_sev.get("WARN", 0) == sum(400 <= s < 500 for s in status.values())
    assert by_sev.get("INFO", 0) == sum(s < 400 for s in status.values())


def test_access_log_fields(corpus, store, load):
    fr = _load_one(load, corpus / ACCESS / "lnav_access_log.combined.log")
    row = store.rows(
        "SELECT timestamp::VARCHAR, severity_text, severity_number, body, service_name"
        " FROM logs WHERE source_id = ? AND line = 2",
        [fr.source_id],
    )[0]
    assert row == (
        "2009-07-20 22:59:29",
        "WARN",
        13,
        "GET /vmw/vSphere/default/vmkboot.gz HTTP/1.0",
        "lnav_access_log.combined",
    )
    assert _attrs(store, fr.source_id, 2) == {
        "client.address": "192.168.202.254",
        "http.request.method": "GET",
        "url.path": "/vmw/vSphere/default/vmkboot.gz",
        "network.protocol.version": "1.0",
        "http.response.status_code": 404,
        "http.response.body.size": 46210,
        "user_agent.original": "gPXE/0.9.7",
    }


def test_access_log_reject_reasons_and_time_zone(corpus, store, load):
    bad = _load_one(load, corpus / ACCESS / "lnav_bad_access_log.combined.log")
    assert store.rows("SELECT line, reason FROM rejects WHERE source_id = ?", [bad.source_id]) == [
        (2, "not a Common/Combined Log Format line")
    ]
    ela = _load_one(load, corpus / ACCESS / "elastic_apache_logs.combined.log.gz")
    assert store.rows("SELECT line, reason FROM rejects WHERE source_id = ?", [ela.source_id]) == [
        (8899, "truncated access-log line (unterminated quote)")
    ]
    assert store.rows("SELECT rejected FROM sources WHERE source_id = ?", [ela.source_id]) == [(1,)]
    shop = _load_one(load, corpus / ACCESS / "lnav_shop_access_log.nginx-main.log")
    # 22/Jan/2019:03:56:14 +0330 is 00:26:14 UTC.
    assert store.rows(
        "SELECT timestamp::VARCHAR FROM logs WHERE source_id = ? AND line = 1", [shop.source_id]
    ) == [("2019-01-22 00:26:14",)]
    assert _attrs(store, shop.source_id, 2)["http.request.header.referer"] == (
        "https://www.zanbil.ir/m/filter/b113"
    )


def test_w3c_iis_log(corpus, store, load):
    path = corpus / ACCESS / "lnav_w3c_big.iis.log"
    lines = _lines(path)
    data = [i for i, ln in enumerate(lines, 1) if ln.strip() and not ln.startswith("#")]
    fr = _load_one(load, path)
    assert fr.format == "w3c"
    assert (fr.records, fr.rejected) == (len(data), 0)
    sid = fr.source_id
    assert store.rows(
        "SELECT timestamp::VARCHAR, severity_text, body FROM logs WHERE source_id = ? AND line = 5",
        [sid],
    ) == [("2015-01-13 00:32:17", "WARN", "GET /robots.txt")]
    a = _attrs(store, sid, 5)
    assert a["http.response.status_code"] == 404
    assert a["time-taken"] == 283
    assert a["server.port"] == 80
    assert a["client.address"] == "157.55.39.146"
    assert "cs-uri-query" not in a and "url.query" not in a  # '-' means absent
    # A record after the second #Fields block.
    assert store.rows(
        "SELECT timestamp::VARCHAR FROM logs WHERE source_id = ? AND line = 15", [sid]
    ) == [("2015-01-13 02:05:40",)]


# --------------------------------------------------------------------------------------
# syslog, glog, java, zap
# --------------------------------------------------------------------------------------


def test_syslog_continuation_lines_join_their_record(corpus, store, load):
    path = corpus / "logs/syslog/lnav_syslog.3.log"
    lines = _lines(path)
    starts = [i for i, ln in enumerate(lines, 1) if ln.strip() and not ln[0].isspace()]
    fr = _load_one(load, path)
    assert fr.format == "syslog"
    assert fr.records == len(starts) == 7
    sid = fr.source_id
    got = _rows(store, "SELECT line, body FROM logs WHERE source_id = ? ORDER BY line", sid)
    assert [r[0] for r in got] == starts
    assert got[2] == (3, "\n".join(["Configuration Notice:", lines[3], lines[4]]))
    assert lines[3].startswith("\tASL Module")
    # No year in BSD syslog: assert month, day and time only.
    assert store.rows(
        "SELECT strftime(timestamp, '%m-%d %H:%M:%S') FROM logs WHERE source_id = ? AND line = 3",
        [sid],
    ) == [("08-16 00:32:15",)]
    assert _attrs(store, sid, 1) == {
        "host.name": "Tims-Air",
        "syslog.appname": "syslogd",
        "process.pid": 314,
    }


def test_glog(corpus, store, load):
    path = corpus / "logs/text/lnav_glog.log"
    fr = _load_one(load, path)
    assert fr.format == "klog"
    assert fr.records == len([ln for ln in _lines(path) if ln.strip()])
    sid = fr.source_id
    assert store.rows(
        "SELECT strftime(timestamp, '%m-%d %H:%M:%S.%f'), severity_text, severity_number, body"
        " FROM logs WHERE source_id = ? AND line = 1",
        [sid],
    ) == [("05-17 15:04:22.619632", "E", 17, "Log every 3, iteration 19")]
    assert _attrs(store, sid, 1) == {
        "thread.id": 1952452992,
        "code.filepath": "logging_unittest.cc",
        "code.lineno": 253,
    }
    sev = dict(
        _rows(store, "SELECT severity_text, count(*) FROM logs WHERE source_id = ? GROUP BY 1", sid)
    )
    assert sev == {"E": 2, "I": 4, "W": 1}


def test_java_spring(corpus, store, load):
    path = corpus / "logs/text/lnav_java_spring.log"
    fr = _load_one(load, path)
    assert fr.format == "java"
    assert fr.records == len([ln for ln in _lines(path) if ln.strip()])
    sid = fr.source_id
    assert store.rows(
        "SELECT timestamp::VARCHAR, severity_text, scope_name, body, service_name"
        " FROM logs WHERE source_id = ? AND line = 1",
        [sid],
    ) == [
        (
            "2025-01-24 07:00:30.139",
            "INFO",
            "Version",
            "HV000001: Hibernate Validator 8.0.1.Final",
            "lnav_java_spring",
        )
    ]
    assert _attrs(store, sid, 5) == {"thread.name": "arm-thread-pool1-thread-1"}


def test_zap_console_go_stack_is_part_of_the_error(corpus, store, load):
    path = corpus / "logs/text/lnav_zap_console_otelcol.log"
    lines = _lines(path)
    starts = [i for i, ln in enumerate(lines, 1) if re.match(r"\d{4}-\d\d-\d\dT", ln)]
    fr = _load_one(load, path)
    assert fr.format == "zap-console"
    assert fr.records == len(starts) == 3
    sid = fr.source_id
    ts, sev, num, body = store.rows(
        "SELECT timestamp::VARCHAR, severity_text, severity_number, body FROM logs"
        " WHERE source_id = ? AND line = 2",
        [sid],
    )[0]
    assert (ts, sev, num) == ("2025-04-24 22:09:20.856", "error", 17)
    assert body == "\n".join(["Exporting failed. Dropping data.", *lines[2:8]])
    a = _attrs(store, sid, 2)
    assert a["code.filepath"] == "internal/queue_sender.go"
    assert a["code.lineno"] == 128
    assert a["dropped_items"] == 60
    assert a["otelcol.component.id"] == "otlphttp/prometheus"
    assert store.rows("SELECT body FROM logs WHERE source_id = ? AND line = 1", [sid]) == [
        ("Metrics",)
    ]


# --------------------------------------------------------------------------------------
# loghub: the body must equal the ground-truth Content for every line
# --------------------------------------------------------------------------------------


def _truth(corpus: Path, system: str) -> list[dict[str, str]]:
    with open(
        corpus / f"logs/loghub/{system}/{system}_2k.log_structured.csv",
        newline="",
        encoding="utf-8",
    ) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("system", "fmt"),
    [("Apache", "apache-error"), ("HDFS", "hdfs"), ("Linux", "syslog"), ("OpenSSH", "syslog")],
)
def test_loghub_body_equals_ground_truth_content(corpus, store, load, system, fmt):
    truth = _truth(corpus, system)
    assert len(truth) == 2000
    fr = _load_one(load, corpus / f"logs/loghub/{system}/{system}_2k.log")
    assert (fr.format, fr.records, fr.rejected) == (fmt, 2000, 0)
    rows = store.rows(
        "SELECT line, body, strftime(timestamp, '%b %-d %H:%M:%S'), severity_text,"
        " attributes::VARCHAR FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert [r[0] for r in rows] == [int(t["LineId"]) for t in truth]
    mismatched = [
        (r[0], r[1], t["Content"]) for r, t in zip(rows, truth, strict=True) if r[1] != t["Content"]
    ]
    assert mismatched == []
    if system == "Apache":
        assert [r[3] for r in rows] == [t["Level"] for t in truth]
        assert rows[0][2] == "Dec 4 04:47:44"
    if system == "HDFS":
        assert [r[3] for r in rows] == [t["Level"] for t in truth]
    if system == "Linux":
        assert [r[2] for r in rows] == [f"{t['Month']} {t['Date']} {t['Time']}" for t in truth]
        assert [json.loads(r[4]).get("process.pid") for r in rows] == [
            int(t["PID"]) if t["PID"] else None for t in truth
        ]
    if system == "OpenSSH":
        assert [r[2] for r in rows] == [f"{t['Date']} {t['Day']} {t['Time']}" for t in truth]
        errors = [r[0] for r in rows if r[3] == "error"]
        assert errors == [int(t["LineId"]) for t in truth if t["Content"].startswith("error:")]


def test_loghub_hdfs_fields(corpus, store, load):
    fr = _load_one(load, corpus / "logs/loghub/HDFS/HDFS_2k.log")
    assert store.rows(
        "SELECT timestamp::VARCHAR, severity_number, scope_name FROM logs"
        " WHERE source_id = ? AND line = 1",
        [fr.source_id],
    ) == [("2008-11-09 20:36:15", 9, "dfs.DataNode$PacketResponder")]
    assert _attrs(store, fr.source_id, 1) == {"thread.id": 148}


# --------------------------------------------------------------------------------------
# sniffing
# --------------------------------------------------------------------------------------

EXPECTED = {
    "logs/access/elastic_apache_logs.combined.log.gz": "access-log",
    "logs/access/lnav_access_log.combined.log": "access-log",
    "logs/access/lnav_bad_access_log.combined.log": "access-log",
    "logs/access/lnav_shop_access_log.nginx-main.log": "access-log",
    "logs/access/lnav_w3c_big.iis.log": "w3c",
    "logs/syslog/lnav_syslog.3.log": "syslog",
    "logs/text/lnav_glog.log": "klog",
    "logs/text/lnav_java_spring.log": "java",
    "logs/text/lnav_zap_console_otelcol.log": "zap-console",
    "logs/loghub/Apache/Apache_2k.log": "apache-error",
    "logs/loghub/HDFS/HDFS_2k.log": "hdfs",
    "logs/loghub/Linux/Linux_2k.log": "syslog",
    "logs/loghub/OpenSSH/OpenSSH_2k.log": "syslog",
}


def _scores(path: Path) -> dict[str, float]:
    from obsctl.ingest.files import open_source

    src = open_source(str(path))
    return {s.name: s.sniff(src.head, src.name) for s in logs_text.FORMATS}


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_each_text_log_is_claimed_by_its_dialect(corpus, rel):
    scores = _scores(corpus / rel)
    best = max(scores, key=scores.get)
    assert best == EXPECTED[rel], scores
    assert scores[best] >= (0.6 if "bad_access" in rel else 0.9)
    assert scores["text"] <= 0.3


def test_no_other_corpus_file_is_claimed(corpus):
    """JSON, logfmt, OTLP, CSV (loghub's too), Prometheus, folded stacks, READMEs…"""
    claimed = {}
    for root, _, files in os.walk(corpus):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), corpus)
            if rel in EXPECTED:
                continue
            top = {k: v for k, v in _scores(corpus / rel).items() if v > 0}
            if top:
                claimed[rel] = top
    assert claimed == {}


def test_sniffers_refuse_structured_lines():
    heads = [
        b'{"ts":"2024-01-01T00:00:00Z","level":"info","msg":"x"}\n' * 5,
        b'time="2024-01-01T00:00:00Z" level=info msg="hello" a=1 b=2\n' * 5,
        b"timestamp,value\n2014-04-01 00:00:00,20\n2014-04-01 00:05:00,21\n",
        b"# HELP x y\n# TYPE x counter\nx 1\n",
        b"main;foo;bar 12\nmain;foo 3\n",
    ]
    for head in heads:
        assert {
            s.name: s.sniff(head, "x.log") for s in logs_text.FORMATS if s.sniff(head, "")
        } == {}


# --------------------------------------------------------------------------------------
# hand-made edge cases
# --------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str, mtime: str | None = None) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    if mtime:
        t = datetime.fromisoformat(mtime).timestamp()
        os.utime(p, (t, t))
    return p


def test_syslog_rfc5424_pri_and_year_rollover(tmp_path, store, load):
    p = _write(
        tmp_path,
        "messages",
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed\n"
        '<165>1 2003-10-11T22:14:15.000003-07:00 host evntslog - ID47 [ex@32473 iut="3"] hi\n'
        "Dec 31 23:59:59 host cron[1]: last of the year\n"
        "Jan  1 00:00:01 host cron[2]: first of the year\n"
        "Mar 10 08:00:00 MacBook-Pro kernel[0] <Notice>: macOS style\n"
        "Mar 10 08:00:01 sshd[22]: no host\n",
        mtime="2024-01-05T12:00:00+00:00",
    )
    fr = _load_one(load, p, service="auth")
    assert (fr.format, fr.records) == ("syslog", 6)
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, severity_text, severity_number, body, service_name"
        " FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows[0] == (1, "2003-10-11 22:14:15.003", "crit", 21, "'su root' failed", "auth")
    assert rows[1][1:3] == ("2003-10-12 05:14:15.000003", "notice")
    # The file was written on 2024-01-05: December belongs to 2023, January to 2024.
    assert rows[2][1] == "2023-12-31 23:59:59"
    assert rows[3][1] == "2024-01-01 00:00:01"
    assert rows[4][2:5] == ("Notice", 10, "macOS style")
    assert rows[5][4] == "no host"
    a = _attrs(store, fr.source_id, 2)
    assert a["syslog.structured_data"] == '[ex@32473 iut="3"]'
    assert a["syslog.facility"] == 20
    assert _attrs(store, fr.source_id, 6) == {"syslog.appname": "sshd", "process.pid": 22}


def test_python_logging_traceback_and_timeless_lines(tmp_path, store, load):
    p = _write(
        tmp_path,
        "worker.log",
        "2019-01-22 03:56:14,123 - app.db - ERROR - boom\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "ValueError: bad\n"
        "WARNING:root:no time here\n"
        "2019-01-22 03:56:15,001 INFO app.web: started\n",
    )
    fr = _load_one(load, p)
    assert (fr.format, fr.records) == ("python-logging", 3)
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, severity_text, scope_name, body,"
        " attributes::VARCHAR FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows[0][:4] == (1, "2019-01-22 03:56:14.123", "ERROR", "app.db")
    assert (
        rows[0][4] == 'boom\nTraceback (most recent call last):\n  File "x.py", line 1, in '
        "<module>\nValueError: bad"
    )
    # No time of its own: the previous record's, flagged.
    assert rows[1][:5] == (5, "2019-01-22 03:56:14.123", "WARNING", "root", "no time here")
    assert json.loads(rows[1][5]) == {"obsctl.timestamp_inherited": True}
    assert rows[2][2:5] == ("INFO", "app.web", "started")


def test_postgres_detail_lines_join_the_error(tmp_path, store, load):
    p = _write(
        tmp_path,
        "postgresql-main.log",
        "2024-03-26 16:52:44.118 UTC [1234] LOG:  database system is ready\n"
        "2024-03-26 16:52:45.000 CET [1235] alice@shop ERROR:  duplicate key value\n"
        "2024-03-26 16:52:45.000 CET [1235] alice@shop DETAIL:  Key (id)=(1) already exists.\n"
        "2024-03-26 16:52:45.000 CET [1235] alice@shop STATEMENT:  INSERT INTO x VALUES (1);\n"
        "2024-03-26 16:52:47.5 +02 [1237] LOG:  statement: SELECT 1\n"
        "\tFROM t\n",
    )
    fr = _load_one(load, p)
    assert (fr.format, fr.records) == ("postgres", 3)
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, severity_text, severity_number, body FROM logs"
        " WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows == [
        (1, "2024-03-26 16:52:44.118", "LOG", 9, "database system is ready"),
        (
            2,
            "2024-03-26 15:52:45",
            "ERROR",
            17,
            "duplicate key value\nDETAIL:  Key (id)=(1) already exists.\n"
            "STATEMENT:  INSERT INTO x VALUES (1);",
        ),
        (5, "2024-03-26 14:52:47.5", "LOG", 9, "statement: SELECT 1\n\tFROM t"),
    ]
    assert _attrs(store, fr.source_id, 2) == {
        "process.pid": 1235,
        "db.user": "alice",
        "db.name": "shop",
    }


def test_text_fallback(tmp_path, store, load):
    p = _write(
        tmp_path,
        "app.out",
        "starting up\n"
        "2024-05-01 10:00:00 INFO server: listening on :8080\n"
        "a line without a time\n"
        "2024-05-01T10:00:01.5+02:00 [ERROR] request failed\n"
        "java.lang.IllegalStateException: boom\n"
        "\tat com.x.Y.z(Y.java:10)\n"
        "\n"
        "web_1  | 2024/05/01 10:00:02 WARN slow\n",
    )
    fr = _load_one(load, p)
    assert (fr.format, fr.records) == ("text", 5)
    rows = store.rows(
        "SELECT line, timestamp::VARCHAR, severity_text, body, attributes::VARCHAR FROM logs"
        " WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows[0] == (1, None, None, "starting up", None)  # nothing to inherit yet
    assert rows[1][:4] == (2, "2024-05-01 10:00:00", "INFO", "server: listening on :8080")
    assert rows[2][:4] == (3, "2024-05-01 10:00:00", None, "a line without a time")
    assert json.loads(rows[2][4]) == {"obsctl.timestamp_inherited": True}
    assert rows[3][:4] == (
        4,
        "2024-05-01 08:00:01.5",
        "ERROR",
        "request failed\njava.lang.IllegalStateException: boom\n\tat com.x.Y.z(Y.java:10)",
    )
    assert rows[4][:4] == (8, "2024-05-01 10:00:02", "WARN", "slow")
    assert json.loads(rows[4][4]) == {"log.prefix": "web_1"}


def test_klog_year_comes_from_the_file_time(tmp_path, store, load):
    p = _write(
        tmp_path,
        "kubelet.log",
        "E1231 23:59:59.000001    7 server.go:12] end of year\n"
        "I0101 00:00:01.000000    7 server.go:13] new year\n",
        mtime="2024-01-02T00:00:00+00:00",
    )
    fr = _load_one(load, p)
    assert store.rows(
        "SELECT timestamp::VARCHAR, severity_number FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    ) == [("2023-12-31 23:59:59.000001", 17), ("2024-01-01 00:00:01", 9)]


def test_spring_boot_3_names_the_service_and_trace(tmp_path, store, load):
    p = _write(
        tmp_path,
        "spring.log",
        "2023-11-23T10:00:00.123+01:00 ERROR 12345 --- [shop] [nio-8080-exec-1] "
        "[0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331] "
        "o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() failed\n"
        "java.lang.NullPointerException: null\n"
        "\tat com.example.Foo.bar(Foo.java:42)\n"
        "2016-02-29 16:07:37.589  INFO 59470 --- [           main] o.s.b.Sample : Started\n",
    )
    fr = _load_one(load, p, service="spring")
    assert (fr.format, fr.records) == ("java", 2)
    rows = store.rows(
        "SELECT timestamp::VARCHAR, service_name, trace_id, span_id, scope_name, body"
        " FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows[0] == (
        "2023-11-23 09:00:00.123",
        "shop",
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        "o.a.c.c.C.[.[.[/].[dispatcherServlet]",
        "Servlet.service() failed\njava.lang.NullPointerException: null\n"
        "\tat com.example.Foo.bar(Foo.java:42)",
    )
    assert rows[1][:2] == ("2016-02-29 16:07:37.589", "spring")
    assert _attrs(store, fr.source_id, 4) == {"thread.name": "main", "process.pid": 59470}


def test_error_logs_of_apache_24_and_nginx(tmp_path, store, load):
    a = _write(
        tmp_path,
        "error_log",
        "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] "
        "[client 72.15.99.187:5432] File does not exist: /favicon.ico\n",
    )
    fr = _load_one(load, a)
    assert fr.format == "apache-error"
    assert store.rows(
        "SELECT timestamp::VARCHAR, severity_text, body FROM logs WHERE source_id = ?",
        [fr.source_id],
    ) == [
        (
            "2011-09-09 10:42:29.902022",
            "error",
            "[client 72.15.99.187:5432] File does not exist: /favicon.ico",
        )
    ]
    assert _attrs(store, fr.source_id, 1) == {
        "apache.module": "core",
        "process.pid": 35708,
        "thread.id": 4328636416,
        "client.address": "72.15.99.187",
    }
    n = _write(
        tmp_path,
        "nginx-error.log",
        '2024/03/26 16:52:44 [crit] 1234#5678: *9 open() "/x" failed, client: 10.0.0.1, '
        "server: example.com\n",
    )
    fr = _load_one(load, n)
    assert fr.format == "nginx-error"
    assert store.rows(
        "SELECT timestamp::VARCHAR, severity_number FROM logs WHERE source_id = ?",
        [fr.source_id],
    ) == [("2024-03-26 16:52:44", 21)]
    assert _attrs(store, fr.source_id, 1)["client.address"] == "10.0.0.1"


def test_w3c_rejects_lines_that_do_not_fit_fields(tmp_path, store, load):
    p = _write(
        tmp_path,
        "u_ex200102.log",
        "#Software: x\nno fields yet\n#Fields: time c-ip cs-method cs-uri-stem sc-status\n"
        "#Date: 2020-01-02 00:00:00\n10:00:00 1.2.3.4 GET /a 503\n10:00:01 1.2.3.4 GET\n",
    )
    fr = _load_one(load, p, format="w3c")
    assert (fr.records, fr.rejected) == (1, 2)
    assert store.rows(
        "SELECT timestamp::VARCHAR, severity_text, body FROM logs WHERE source_id = ?",
        [fr.source_id],
    ) == [("2020-01-02 10:00:00", "ERROR", "GET /a")]
    assert store.rows(
        "SELECT line, reason FROM rejects WHERE source_id = ? ORDER BY line", [fr.source_id]
    ) == [(2, "no #Fields: directive before this line"), (6, "3 values where #Fields: names 5")]


def test_forced_dialect_keeps_unparsed_leading_lines(tmp_path, store, load):
    p = _write(tmp_path, "mixed.log", "hello there\nAug 16 00:10:45 host app: ok\n  more\n")
    fr = _load_one(load, p, format="syslog")
    assert store.rows(
        "SELECT line, timestamp IS NULL, body FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    ) == [(1, True, "hello there"), (2, False, "ok\n  more")]


def test_logcat_threadtime(tmp_path, store, load):
    p = _write(
        tmp_path,
        "device.txt",
        "05-02 08:15:01.250  1200  1315 I ActivityManager: Start proc 4242:com.example/u0a77\n"
        "05-02 08:15:01.300  4242  4242 E AndroidRuntime: FATAL EXCEPTION: main\n"
        "05-02 08:15:01.301  4242  4242 E AndroidRuntime: Process: com.example, PID: 4242\n"
        '05-02 08:15:02.000  1200  1400 W PowerManagerService:  flags=0x1, tag="a: b"\n',
        mtime="2024-06-01T00:00:00+00:00",
    )
    fr = _load_one(load, p)
    assert (fr.format, fr.records) == ("logcat", 4)
    rows = store.rows(
        "SELECT timestamp::VARCHAR, severity_text, severity_number, scope_name, body"
        " FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows[0] == (
        "2024-05-02 08:15:01.25",
        "I",
        9,
        "ActivityManager",
        "Start proc 4242:com.example/u0a77",
    )
    assert rows[1][1:4] == ("E", 17, "AndroidRuntime")
    assert rows[3][3:] == ("PowerManagerService", 'flags=0x1, tag="a: b"')
    assert _attrs(store, fr.source_id, 1) == {"process.pid": 1200, "thread.id": 1315}


def test_log4j_layouts_of_zookeeper_spark_and_hadoop(tmp_path, store, load):
    p = _write(
        tmp_path,
        "coordinator.log",
        "2021-03-04 05:06:07,089 - WARN  [SendWorker:42:QuorumCnxManager$SendWorker@688] - "
        "Send worker leaving thread \n"
        "21/03/04 05:06:08 ERROR scheduler.TaskSetManager: Task 3 in stage 1.0 failed 4 times\n"
        "2021-03-04 05:06:09,001 INFO [main] org.example.AppMaster: Created AppMaster for job_7\n",
    )
    fr = _load_one(load, p)
    assert (fr.format, fr.records) == ("java", 3)
    rows = store.rows(
        "SELECT timestamp::VARCHAR, severity_text, scope_name, body FROM logs"
        " WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows == [
        (
            "2021-03-04 05:06:07.089",
            "WARN",
            "QuorumCnxManager$SendWorker",
            "Send worker leaving thread",
        ),
        (
            "2021-03-04 05:06:08",
            "ERROR",
            "scheduler.TaskSetManager",
            "Task 3 in stage 1.0 failed 4 times",
        ),
        ("2021-03-04 05:06:09.001", "INFO", "org.example.AppMaster", "Created AppMaster for job_7"),
    ]
    assert _attrs(store, fr.source_id, 1) == {"thread.name": "SendWorker:42", "code.lineno": 688}


def test_openstack_oslo_log(tmp_path, store, load):
    p = _write(
        tmp_path,
        "nova-compute.log",
        "2022-01-02 03:04:05.678 3100 ERROR nova.compute.manager [req-0a1b2c3d-0000-4000-8000-"
        "123456789abc admin demo - - -] [instance: 42] Build failed\n"
        "2022-01-02 03:04:06.000 3100 INFO nova.virt.driver [-] Instance destroyed.\n",
    )
    fr = _load_one(load, p)
    assert (fr.format, fr.records) == ("python-logging", 2)
    rows = store.rows(
        "SELECT timestamp::VARCHAR, severity_text, scope_name, body FROM logs"
        " WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert rows == [
        ("2022-01-02 03:04:05.678", "ERROR", "nova.compute.manager", "[instance: 42] Build failed"),
        ("2022-01-02 03:04:06", "INFO", "nova.virt.driver", "Instance destroyed."),
    ]
    assert _attrs(store, fr.source_id, 1)["openstack.request_id"] == (
        "req-0a1b2c3d-0000-4000-8000-123456789abc"
    )


def test_macos_syslog_tags(tmp_path, store, load):
    p = _write(
        tmp_path,
        "system.log",
        "Jul  1 09:29:02 mbp sandboxd[129] ([311]): app(311) deny network-outbound /tmp/x\n"
        "Jul  1 09:40:00 mbp Google Chrome Helper[123]: renderer gone\n"
        "Jul  1 09:40:01 mbp syslogd 1.4.1: restart.\n",
    )
    fr = _load_one(load, p)
    assert fr.format == "syslog"
    rows = store.rows(
        "SELECT body, attributes::VARCHAR FROM logs WHERE source_id = ? ORDER BY line",
        [fr.source_id],
    )
    assert [r[0] for r in rows] == [
        "app(311) deny network-outbound /tmp/x",
        "renderer gone",
        "restart.",
    ]
    assert [json.loads(r[1])["syslog.appname"] for r in rows] == [
        "sandboxd",
        "Google Chrome Helper",
        "syslogd 1.4.1",
    ]
    assert json.loads(rows[0][1])["syslog.tag_detail"] == "[311]"
