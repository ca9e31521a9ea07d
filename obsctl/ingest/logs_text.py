"""Plain-text log lines → ``logs``: one module, one format spec per dialect.

Dialects (``--format`` names)
    ``syslog``
        RFC 3164 / BSD ``[<PRI>]Mmm dd [yyyy] hh:mm:ss[.frac] [yyyy] [host] [tag[pid]:] msg``
        (host and tag optional; a tag has up to two words, as sysklogd's ``syslogd 1.4.1:``,
        or up to five before ``[pid]``; macOS ``tag[pid] (detail) <Notice>:``), rsyslog's
        ISO form ``2024-03-26T16:52:44.1+01:00
        host tag[pid]: msg`` and RFC 5424 ``<PRI>1 ts host app procid msgid [sd] msg``.
    ``access-log``
        Apache/nginx Common and Combined Log Format, nginx ``main`` (combined +
        ``"$http_x_forwarded_for"``), an optional leading vhost and extra trailing tokens.
    ``w3c``
        IIS / W3C extended log files: ``#Fields:`` names the columns (it may change in the
        middle of a file), ``date`` + ``time`` (UTC by the spec; ``#Date:`` supplies the
        date when there is no ``date`` field), other ``#`` directives are skipped.
    ``apache-error``
        ``[Sun Dec 04 04:47:44 2005] [notice] msg`` (Apache ≤ 2.2, loghub Apache) and
        2.4's ``[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 43] msg``.
    ``nginx-error``
        ``2024/03/26 16:52:44 [error] 1234#5678: *9 msg``.
    ``python-logging``
        ``%(asctime)s - %(name)s - %(levelname)s - %(message)s``, the default
        ``LEVEL:name:msg`` (no time at all: timestamp NULL unless inherited, see below),
        ``%(asctime)s [%(levelname)s] [name:] msg`` variants (asctime's own
        ``yyyy-mm-dd hh:mm:ss,mmm``, as other ISO-stamped logs look alike), gunicorn's
        ``[ts +0000] [pid] [INFO] msg`` and OpenStack's oslo.log
        ``ts.mmm pid LEVEL name [req-… ctx] msg``.
    ``klog`` (alias ``glog``)
        ``E0517 15:04:22.619632 tid file.go:123] msg``.
    ``java``
        Spring Boot (``ts  INFO 59470 --- [app] [thread] logger : msg``), the
        ``ts LEVEL [thread] logger : msg`` / ``- msg`` layouts and log4j's
        ``ts [thread] LEVEL logger - msg``; comma or dot milliseconds, optional zone;
        ZooKeeper's ``ts - LEVEL [thread:Class@line] - msg`` and log4j's default
        ``yy/MM/dd HH:mm:ss LEVEL logger: msg`` (Spark).
    ``zap-console``
        Go zap console encoder (OpenTelemetry Collector): TAB-separated
        ``ts, level, [logger], [caller], msg, [{json fields}]``.
    ``postgres``
        ``%m [%p] `` prefixes with optional ``%q%u@%d`` or ``user=,db=`` parts and
        ``[%l-1]`` line numbers: ``2024-03-26 16:52:44.118 UTC [1234] user@db LOG:  msg``.
    ``logcat`` (alias ``android``)
        Android ``logcat -v threadtime`` (``03-17 16:13:38.811  1702  2395 D Tag: msg``,
        optionally with a year) and ``-v brief`` (``D/Tag( 1702): msg``, no time).
    ``hdfs``
        loghub HDFS / Hadoop ``081109 203615 148 INFO dfs.DataNode$PacketResponder: msg``.
    ``text``
        The fallback for any other line-oriented text: a line is a record header when a
        recognisable timestamp (ISO 8601 with ``T`` or space, ``yyyy/mm/dd hh:mm:ss``,
        BSD ``Mmm dd hh:mm:ss``, CLF ``dd/Mmm/yyyy:hh:mm:ss +zzzz``, asctime
        ``Sun Dec 04 04:47:44 2005``) starts within its first 40 characters; a level word
        right after the timestamp (or in the prefix before it) is the severity.

Columns
    ``body`` is the **message part only** (the header stripped, surrounding whitespace
    removed — as loghub's ``Content``), because the template miner is fed the body.
    ``severity_text`` is the level as written (``E`` for klog, ``[error]`` → ``error``;
    syslog: the PRI's name such as ``err``, else macOS ``<Notice>``, else a level word
    opening the message, such as OpenSSH's ``error: …``); access logs and W3C derive
    it from the status: 5xx → ``ERROR``, 4xx → ``WARN``, else ``INFO``.
    ``severity_number`` = ``obsctl_severity(severity_text)``. The logger /
    component / class name goes to ``scope_name`` (java, python, hdfs, zap). Header fields
    go to ``attributes`` under OpenTelemetry semantic-convention names where one exists:
    ``host.name``, ``process.pid``, ``thread.id``/``thread.name``, ``code.filepath``/
    ``code.lineno``, ``client.address``, ``http.request.method``, ``url.path``,
    ``url.query``, ``network.protocol.version``, ``http.response.status_code``,
    ``http.response.body.size``, ``http.request.header.referer``, ``user_agent.original``,
    ``http.request.header.x-forwarded-for``, ``enduser.id``, ``db.user``, ``db.name``;
    syslog specifics are ``syslog.appname``, ``syslog.facility``, ``syslog.procid``,
    ``syslog.msgid``, ``syslog.structured_data`` (raw text); zap's trailing JSON fields are
    merged in as they are (and ``trace_id``/``span_id`` fields fill those columns); W3C
    fields without a convention keep their W3C name. **Service** stays the fallback
    (``--service`` or the path): none of these formats names a service, except Spring
    Boot 3's ``[application-name]`` column, which is used when present.

Multi-line records
    One record = one event. In every dialect but ``text``, a line that does not match the
    dialect's header and follows a header line (a stack trace, TAB-indented syslog
    continuation lines, a Go stack after a zap error, a Python traceback) is appended to
    the previous record's body, separated by ``\\n``, and ``line`` is the record's first
    line. postgres ``DETAIL:``/``HINT:``/``STATEMENT:``/``CONTEXT:``/``QUERY:``/
    ``LOCATION:`` lines are appended to the record they explain. Lines before the first
    header are records of their own with the whole line as body and no timestamp. In
    ``text``, only indented lines and stack-trace-shaped lines (``Caused by:``,
    ``... 5 more``, ``Traceback (most recent call last):``, ``FooException: …``, single
    words) are continuations; any other line without a timestamp is a record of its own.
    ``access-log`` and ``w3c`` have no multi-line records: a line that does not parse is
    **rejected** with its line number and a reason (e.g. the truncated line with an
    unterminated quote). Blank lines are neither records nor rejects.

Timestamps
    Converted to UTC ``TIMESTAMP_NS`` through ``obsctl_ts`` (numeric offsets applied;
    PostgreSQL zone names such as ``CET`` through DuckDB's time-zone database). Formats
    without a zone (BSD syslog, Apache error, nginx error, klog, HDFS, python, java
    without offset, text without offset) are taken as UTC. **Formats without a year**
    (BSD syslog, klog/glog, logcat, BSD dates in ``text``) take the year of the file's
    modification time — the time the last line was written — and a date that would then
    lie more than a day after that time belongs to the year before (a file written in
    January keeps December lines in the previous year). A record without a timestamp of
    its own (``LEVEL:name:msg`` python lines, text lines without a time) **inherits the
    previous record's timestamp** and gets the attribute
    ``"obsctl.timestamp_inherited": true``, so sorting by time then line keeps it in
    place and time windows include it; records before the first timestamp stay NULL.

Implementation
    Vectorised, no per-line Python: the Arrow batches of ``src.line_batches()`` stream
    once into a temporary DuckDB table of parsed lines. Each dialect is a few header
    shapes (RE2 patterns with named groups); per line, cheap DFA ``regexp_matches``
    pick the first shape that fits and one ``regexp_extract(text, shape, [names])``
    splits it (one big alternation with captures was ~5× slower). Continuations are
    found with running windows over narrow columns only (``bool_or``/``max(line) OVER
    (ORDER BY line)``) and glued with ``string_agg``; a file without any costs one
    count. The records go in with one ``INSERT … SELECT``; ``obsctl_ts`` is called once
    per row (dialects build one ISO string) and attributes are built as JSON text with
    ``concat_ws`` (which skips NULLs). Inherited timestamps are one ``UPDATE`` when some
    record lacks a time. Measured on the (shared, busy) 2-core machine: 1M BSD syslog
    lines (107 MB) load in ~12 s, 1M combined access-log lines (237 MB) in ~17-23 s.
    The same pattern strings (RE2 and Python ``re`` compatible) drive the sniffers: each
    dialect scores the weighted share of the head's lines its header matches (indented
    and stack-trace lines ignored); ``text`` scores at most 0.3 so that specific dialects
    and other formats win. JSON, logfmt, CSV with a header row, Prometheus text and
    folded stacks are never claimed.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

from obsctl.ingest.base import MAX_KEPT_REJECTS, FormatSpec, LoadContext, Reject
from obsctl.ingest.files import HEAD_BYTES, Source

# --------------------------------------------------------------------------------------
# Regex building blocks. Every pattern must mean the same in RE2 (DuckDB) and Python re
# (sniffers, compiled with re.ASCII): named groups, no look-around, no backreferences.
# --------------------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MON = "(?:" + "|".join(MONTHS) + ")"
_MONTHS_SQL = "[" + ", ".join(f"'{m}'" for m in MONTHS) + "]"
_ISO_DATE_TIME = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?"
_QUOTED = r'(?:[^"\\]|\\.)*'
_LEVEL_WORDS = (
    "TRACE|DEBUG|DBG|INFORMATION|INFO|INF|NOTICE|WARNING|WARN|WRN|ERROR|ERR|CRITICAL|CRIT"
    "|ALERT|EMERGENCY|EMERG|FATAL|SEVERE|PANIC|FINEST|FINER|FINE|CONFIG|VERBOSE"
)
_LEVEL_CI = f"(?i:{_LEVEL_WORDS})"
_MSG_LEVEL_RX = r"^[\[<]?(" + _LEVEL_CI + r")[\]>:](?:\s|$)"
"""A level word opening a message: ``error: …``, ``[WARN] …``, ``<info> …``."""
_PREFIX_LEVEL_RX = r"\b(" + _LEVEL_CI + r")\b"
_STACKISH = (
    r"^(?:\s|Caused by:|Suppressed:|\.\.\. \d+ (?:more|common frames omitted)"
    r"|Traceback \(most recent call last\)|During handling of the above exception"
    r"|The above exception was the direct cause|goroutine \d+ \[|panic: "
    r"|[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:Exception|Error|Throwable)(?::|$)|\S+$)"
)
"""Lines that continue a record in ``text`` and that sniffers do not count."""
_STACKISH_PY = re.compile(_STACKISH, re.ASCII)

_SYSLOG_LEVELS = "['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug']"


def _lit(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def _iso(year: str, mon: str, day: str, hms: str, frac: str = "NULL", tz: str = "NULL") -> str:
    """SQL: a month-name date and a time of day → ISO text for ``obsctl_ts``."""
    return (
        f"{year} || '-' || lpad(list_position({_MONTHS_SQL}, {mon})::VARCHAR, 2, '0')"
        f" || '-' || lpad({day}, 2, '0') || ' ' || {hms} || coalesce('.' || {frac}, '')"
        f" || coalesce(' ' || {tz}, '')"
    )


_YEAR = "'__YEAR__'"
"""Placeholder for the reference year of formats without one (see ``yearless``)."""


def _attrs(*pairs: tuple[str, str]) -> str:
    """SQL: a JSON object of the non-NULL values (NULL when all are NULL).

    Built as text with ``concat_ws`` (which skips NULLs): ~5× faster than
    ``json_merge_patch(json_object(…))``."""
    members = ", ".join(f"{_lit(json.dumps(k) + ':')} || to_json({v})" for k, v in pairs)
    return f"nullif('{{' || concat_ws(',', {members}) || '}}', '{{}}')"


def _int(expr: str) -> str:
    return f"TRY_CAST({expr} AS BIGINT)"


def _msg_level(expr: str) -> str:
    return f"nullif(regexp_extract({expr}, {_lit(_MSG_LEVEL_RX)}, 1), '')"


def _unescape(expr: str) -> str:
    """SQL: a quoted access-log field with Apache's ``\\"`` escapes undone."""
    return f"""replace(replace({expr}, '\\"', '"'), '\\\\', '\\')"""


def _status_level(status: str) -> str:
    return (
        f"CASE WHEN {status} IS NULL THEN NULL WHEN {status} >= 500 THEN 'ERROR'"
        f" WHEN {status} >= 400 THEN 'WARN' ELSE 'INFO' END"
    )


# --------------------------------------------------------------------------------------
# Dialects
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alt:
    """One header shape of a dialect."""

    pattern: str
    """Regex (no anchors) with named groups only."""
    weight: float
    """Sniff score of a head line matched by this shape."""


@dataclass(frozen=True)
class Dialect:
    """A plain-text log dialect: header shapes and how header fields map to columns.

    Column expressions are SQL over the flattened fields, available as ``f_<group>``
    columns (VARCHAR, NULL when the group did not take part or matched empty), plus
    ``text`` (the whole line).
    """

    name: str
    description: str
    alts: tuple[Alt, ...]
    ts: str = "NULL"
    """SQL: the header's time as text for ``obsctl_ts`` (called once per row: each call
    of that macro costs a join, so dialects build one string rather than branch)."""
    ts_native: str = "NULL"
    """SQL: a ``TIMESTAMP_NS`` used instead of ``ts`` when not NULL."""
    yearless: str = "false"
    """SQL: the header's time has no year (``ts`` used the file's mtime year); such a
    time more than a day after the mtime is moved one year back."""
    severity: str = "NULL"
    body: str = "f_msg"
    attributes: str = "NULL"
    scope: str = "NULL"
    service: str = "NULL"
    trace_id: str = "NULL"
    span_id: str = "NULL"
    mode: str = "header"
    """``header``: non-header lines after a header are continuations; ``text``: only
    indented / stack-trace lines are; ``reject``: non-header lines are rejected."""
    extra_continuation: str = "false"
    """SQL: a header line that still continues the previous record (postgres DETAIL)."""
    continuation_text: str = "text"
    """SQL: what a continuation line adds to the body."""
    reject_reason: str = "'line does not match the format'"
    aliases: tuple[str, ...] = ()
    sniff_needs_msg: bool = False

    @functools.cached_property
    def sniff_res(self) -> tuple[tuple[re.Pattern[str], float], ...]:
        """The shapes compiled for Python ``re``, with their sniff weights."""
        return tuple((re.compile(f"^(?:{a.pattern})$", re.ASCII), a.weight) for a in self.alts)

    @functools.cached_property
    def alt_sql(self) -> tuple[tuple[str, list[str]], ...]:
        """Each shape as an anchored RE2 pattern with its group names in order."""
        out = []
        for alt in self.alts:
            rx = f"^(?:{alt.pattern})$"
            compiled = re.compile(rx, re.ASCII)
            if compiled.groups != len(compiled.groupindex):
                raise AssertionError(f"{self.name}: unnamed capture group in {alt.pattern!r}")
            names = [n for n, _ in sorted(compiled.groupindex.items(), key=lambda kv: kv[1])]
            out.append((rx, names))
        return tuple(out)

    @functools.cached_property
    def fields(self) -> list[str]:
        """Every group name of every shape (the ``f_<name>`` columns)."""
        return list(dict.fromkeys(n for _, names in self.alt_sql for n in names))


# --- syslog ---------------------------------------------------------------------------
_PRI = r"(?:<(?P<pri>\d{1,3})>)?"
_HOST = r"(?P<host>[^\s\[\]]*[^\s\[\]:])"
_WORD = r"[^\s:\[\]]+"
_TAG = (
    # up to 5 words before [pid] (macOS "Google Chrome Helper[123]:"), else at most 2
    r"(?:(?P<app>" + _WORD + r"(?: " + _WORD + r"){0,4})\[(?P<pid>[^\]\s]*)\]"
    r"|(?P<app2>" + _WORD + r"(?: " + _WORD + r")?))"
    r"(?: \((?P<addr>[^()]*)\))?(?: <(?P<alvl>[A-Za-z]+)>)?:"
)
_SD = r'(?P<sd>-|(?:\[(?:[^\]"\\]|\\.|"' + _QUOTED + r'")*\])+)'
SYSLOG = Dialect(
    name="syslog",
    description="syslog: RFC 3164/BSD (with or without year, host, PRI), rsyslog ISO, RFC 5424",
    alts=(
        Alt(
            _PRI + r"(?P<ver>[1-9]\d?) (?P<its>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?"
            r"(?:Z|[+-]\d\d:\d\d)) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
            + _SD
            + "(?: \ufeff?(?P<msg>.*))?",
            0.95,
        ),
        Alt(
            _PRI + r"(?P<mon>" + MON + r") +(?P<day>\d{1,2}) (?:(?P<y1>\d{4}) )?"
            r"(?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{1,9}))?(?: (?P<y2>\d{4}))?"
            r"(?: +" + _HOST + r")?(?: +" + _TAG + r")?(?: (?P<msg>.*))?",
            0.9,
        ),
        Alt(
            _PRI + r"(?P<its>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d))"
            r" +" + _HOST + r" +" + _TAG + r"(?: (?P<msg>.*))?",
            0.85,
        ),
    ),
    ts=(
        "coalesce(nullif(f_its, '-'), "
        + _iso(f"coalesce(f_y1, f_y2, {_YEAR})", "f_mon", "f_day", "f_hms", "f_frac")
        + ")"
    ),
    yearless="f_mon IS NOT NULL AND f_y1 IS NULL AND f_y2 IS NULL",
    severity=(
        f"CASE WHEN TRY_CAST(f_pri AS INTEGER) BETWEEN 0 AND 191"
        f" THEN {_SYSLOG_LEVELS}[TRY_CAST(f_pri AS INTEGER) % 8 + 1]"
        f" ELSE coalesce(f_alvl, {_msg_level('f_msg')}) END"
    ),
    attributes=_attrs(
        ("host.name", "nullif(f_host, '-')"),
        ("syslog.appname", "nullif(coalesce(f_app, f_app2), '-')"),
        ("process.pid", _int("coalesce(f_pid, f_procid)")),
        (
            "syslog.procid",
            "CASE WHEN TRY_CAST(coalesce(f_pid, f_procid) AS BIGINT) IS NULL"
            " THEN nullif(coalesce(f_pid, f_procid), '-') END",
        ),
        ("syslog.tag_detail", "f_addr"),
        ("syslog.msgid", "nullif(f_msgid, '-')"),
        ("syslog.structured_data", "nullif(f_sd, '-')"),
        ("syslog.facility", "TRY_CAST(f_pri AS INTEGER) // 8"),
    ),
)

# --- access-log -----------------------------------------------------------------------
ACCESS_LOG = Dialect(
    name="access-log",
    description="Apache/nginx access log: Common, Combined, nginx 'main' (x-forwarded-for)",
    alts=(
        Alt(
            r"(?:(?P<vhost>\S+) )?(?P<client>\S+) (?P<ident>\S+) (?P<user>\S+) "
            r"\[(?P<day>\d{1,2})/(?P<mon>" + MON + r")/(?P<year>\d{4}):"
            r"(?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{1,9}))?(?: (?P<tz>[+-]\d{4}))?\] "
            r'"(?P<req>' + _QUOTED + r')" (?P<status>\d{3}|-) (?P<bytes>\d+|-)'
            r'(?: "(?P<ref>' + _QUOTED + r')" "(?P<ua>' + _QUOTED + r')"'
            r'(?: "(?P<xff>' + _QUOTED + r')")?)?'
            r'(?P<extra>(?: (?:"' + _QUOTED + r'"|[^\s"]+))*)',
            0.95,
        ),
    ),
    ts=_iso("f_year", "f_mon", "f_day", "f_hms", "f_frac", "f_tz"),
    severity=_status_level("TRY_CAST(f_status AS INTEGER)"),
    body="coalesce(nullif(f_req, '-'), text)",
    attributes=_attrs(
        ("client.address", "nullif(f_client, '-')"),
        ("enduser.id", "nullif(f_user, '-')"),
        ("http.request.method", "nullif(regexp_extract(f_req, '^([A-Za-z]+) ', 1), '')"),
        ("url.path", "nullif(regexp_extract(f_req, '^[A-Za-z]+ ([^ ?]*)', 1), '')"),
        ("url.query", "nullif(regexp_extract(f_req, '^[A-Za-z]+ [^ ?]*\\?([^ ]*)', 1), '')"),
        ("network.protocol.version", "nullif(regexp_extract(f_req, ' HTTP/([0-9.]+)$', 1), '')"),
        ("http.response.status_code", _int("f_status")),
        ("http.response.body.size", _int("f_bytes")),
        ("http.request.header.referer", _unescape("nullif(f_ref, '-')")),
        ("user_agent.original", _unescape("nullif(f_ua, '-')")),
        ("http.request.header.x-forwarded-for", "nullif(f_xff, '-')"),
        ("server.address", "f_vhost"),
        ("http.log.extra", "nullif(trim(f_extra), '')"),
    ),
    mode="reject",
    reject_reason=(
        "CASE WHEN (length(text) - length(replace(text, '\"', ''))) % 2 = 1"
        " THEN 'truncated access-log line (unterminated quote)'"
        " ELSE 'not a Common/Combined Log Format line' END"
    ),
)

# --- apache-error / nginx-error -------------------------------------------------------
APACHE_ERROR = Dialect(
    name="apache-error",
    description="Apache error log: [Sun Dec 04 04:47:44 2005] [notice] … and 2.4 [core:error]",
    alts=(
        Alt(
            r"\[(?P<wd>[A-Z][a-z]{2}) (?P<mon>" + MON + r") +(?P<day>\d{1,2}) "
            r"(?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{1,9}))? (?P<year>\d{4})\] "
            r"\[(?:(?P<module>[\w-]*):)?(?P<lvl>[a-z]+\d?)\]"
            r"(?: \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\])?(?: (?P<msg>.*))?",
            0.95,
        ),
    ),
    ts=_iso("f_year", "f_mon", "f_day", "f_hms", "f_frac"),
    severity="f_lvl",
    body="coalesce(f_msg, '')",
    attributes=_attrs(
        ("apache.module", "f_module"),
        ("process.pid", _int("f_pid")),
        ("thread.id", _int("f_tid")),
        (
            "client.address",
            "nullif(regexp_extract(f_msg, '^\\[(?:client|remote) ([^\\]]*?)(?::[0-9]+)?\\]',"
            " 1), '')",
        ),
    ),
)

NGINX_ERROR = Dialect(
    name="nginx-error",
    description="nginx error log: 2024/03/26 16:52:44 [error] 1234#0: *1 …",
    alts=(
        Alt(
            r"(?P<date>\d{4}/\d\d/\d\d) (?P<hms>\d\d:\d\d:\d\d) "
            r"\[(?P<lvl>debug|info|notice|warn|error|crit|alert|emerg)\] "
            r"(?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<cid>\d+) )?(?P<msg>.*)",
            0.95,
        ),
    ),
    ts="replace(f_date, '/', '-') || ' ' || f_hms",
    severity="f_lvl",
    attributes=_attrs(
        ("process.pid", _int("f_pid")),
        ("thread.id", _int("f_tid")),
        ("nginx.connection", _int("f_cid")),
        ("client.address", "nullif(regexp_extract(f_msg, ', client: ([^,]+)', 1), '')"),
        ("server.address", "nullif(regexp_extract(f_msg, ', server: ([^,]+)', 1), '')"),
    ),
)

# --- python-logging -------------------------------------------------------------------
_PY_LEVELS = "CRITICAL|ERROR|WARNING|WARN|INFO|DEBUG|NOTSET|FATAL"
_TZ = r"(?: ?(?P<tz>Z|[+-]\d\d:?\d\d))?"
PYTHON = Dialect(
    name="python-logging",
    description="Python logging: 'asctime - name - LEVEL - msg', 'LEVEL:name:msg', variants",
    alts=(
        Alt(
            r"(?P<ts>"
            + _ISO_DATE_TIME
            + r")"
            + _TZ
            + r" - (?P<name>.+?) - (?P<lvl>"
            + _PY_LEVELS
            + r") - (?P<msg>.*)",
            0.9,
        ),
        Alt(r"(?P<lvl>" + _PY_LEVELS + r"):(?P<name>[^:\s]*):(?P<msg>.*)", 0.9),
        Alt(  # OpenStack oslo.log: ts.ms pid LEVEL name [request context] msg
            r"(?:(?P<logfile>\S+) )?(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<pid>\d+) "
            r"(?P<lvl>"
            + _PY_LEVELS
            + r"|TRACE|AUDIT) (?P<name>\S+) \[(?P<ctx>[^\]]*)\] ?(?P<msg>.*)",
            0.9,
        ),
        Alt(
            r"\[(?P<ts>" + _ISO_DATE_TIME + r")(?: (?P<tz>[+-]\d\d:?\d\d))?\] \[(?P<pid>\d+)\] "
            r"\[(?P<lvl>" + _PY_LEVELS + r")\] (?P<msg>.*)",
            0.9,
        ),
        Alt(  # asctime's own shape (comma milliseconds), else too close to other logs
            r"\[?(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
            + _TZ
            + r"\]? +\[?(?P<lvl>"
            + _PY_LEVELS
            + r")\]?(?::| -)? +(?:(?P<name>[a-z_]\w*(?:\.\w+)*): )?(?P<msg>.*)",
            0.7,
        ),
    ),
    ts="f_ts || coalesce(' ' || f_tz, '')",
    severity="f_lvl",
    scope="f_name",
    attributes=_attrs(
        ("process.pid", _int("f_pid")),
        ("log.file.name", "f_logfile"),
        ("openstack.request_id", "nullif(regexp_extract(f_ctx, '^(req-[0-9a-f-]+)', 1), '')"),
    ),
)

# --- klog / glog ----------------------------------------------------------------------
KLOG = Dialect(
    name="klog",
    description="Kubernetes klog / Google glog: E0517 15:04:22.619632 tid file:line] msg",
    alts=(
        Alt(
            r"(?P<lvl>[IWEF])(?P<mm>\d\d)(?P<dd>\d\d) (?P<hms>\d\d:\d\d:\d\d)"
            r"(?:\.(?P<frac>\d{1,9}))? +(?P<tid>\d+) (?P<file>[^\s:\]]+):(?P<lno>\d+)\]"
            r"(?: (?P<msg>.*))?",
            0.95,
        ),
    ),
    ts=f"{_YEAR} || '-' || f_mm || '-' || f_dd || ' ' || f_hms || coalesce('.' || f_frac, '')",
    yearless="true",
    severity="f_lvl",
    body="coalesce(f_msg, '')",
    attributes=_attrs(
        ("thread.id", _int("f_tid")),
        ("code.filepath", "f_file"),
        ("code.lineno", _int("f_lno")),
    ),
    aliases=("glog",),
)

# --- java -----------------------------------------------------------------------------
_JAVA_LEVELS = "TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|SEVERE|FINEST|FINER|FINE|CONFIG"
_JTS = r"(?P<ts>" + _ISO_DATE_TIME + r")" + _TZ
_LOGGER_MSG = r"(?P<logger>\S+) *(?::|-)(?: (?P<msg>.*))?"
JAVA = Dialect(
    name="java",
    description="Java: Spring Boot, log4j/logback 'ts LEVEL [thread] logger : msg' layouts",
    alts=(
        Alt(
            _JTS + r" +(?P<lvl>" + _JAVA_LEVELS + r") +(?P<pid>\d+) +--- +"
            r"(?:\[(?P<app>[^\]]*)\] +)?\[(?P<thread>[^\]]*)\] +(?:\[(?P<corr>[^\]]*)\] +)?"
            + _LOGGER_MSG,
            0.95,
        ),
        Alt(
            _JTS
            + r" +\[?(?P<lvl>"
            + _JAVA_LEVELS
            + r")\]? +\[(?P<thread>[^\]]*)\] +"
            + _LOGGER_MSG,
            0.92,
        ),
        Alt(
            _JTS + r" +\[(?P<thread>[^\]]*)\] +(?P<lvl>" + _JAVA_LEVELS + r") +" + _LOGGER_MSG,
            0.92,
        ),
        Alt(  # ZooKeeper's log4j: ts - LEVEL [thread:Class@line] - msg
            _JTS
            + r" - (?P<lvl>"
            + _JAVA_LEVELS
            + r") +\[(?P<thread>.*?)(?::(?P<logger>[\w$.]+)@(?P<lno>\d+))?\] - (?P<msg>.*)",
            0.92,
        ),
        Alt(  # log4j's default yy/MM/dd (Spark): 17/06/09 20:10:40 INFO pkg.Class: msg
            r"(?P<ysdate>\d\d/\d\d/\d\d) (?P<yshms>\d\d:\d\d:\d\d)(?:[.,](?P<ysfrac>\d{1,9}))? "
            r"(?P<lvl>" + _JAVA_LEVELS + r") (?P<logger>[^\s:]+):(?: (?P<msg>.*))?",
            0.92,
        ),
    ),
    ts=(
        "coalesce(f_ts || coalesce(' ' || f_tz, ''), '20' || replace(f_ysdate, '/', '-')"
        " || ' ' || f_yshms || coalesce('.' || f_ysfrac, ''))"
    ),
    severity="f_lvl",
    body="coalesce(f_msg, '')",
    scope="f_logger",
    service="nullif(trim(f_app), '')",
    trace_id="nullif(regexp_extract(f_corr, '^([0-9a-f]{32})-[0-9a-f]{16}$', 1), '')",
    span_id="nullif(regexp_extract(f_corr, '^[0-9a-f]{32}-([0-9a-f]{16})$', 1), '')",
    attributes=_attrs(
        ("thread.name", "nullif(trim(f_thread), '')"),
        ("process.pid", _int("f_pid")),
        ("code.lineno", _int("f_lno")),
    ),
)

# --- zap-console ----------------------------------------------------------------------
_ZAP_LEVELS = "DEBUG|INFO|WARN|ERROR|DPANIC|PANIC|FATAL|debug|info|warn|error|dpanic|panic|fatal"
_ZTS = (
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d{9,10}(?:\.\d+)?)\t(?P<lvl>" + _ZAP_LEVELS + r")\t"
)
_ZAP_FIELDS = "CASE WHEN json_valid(f_fields) THEN f_fields::JSON END"
ZAP = Dialect(
    name="zap-console",
    description="Go zap console encoder (OTel Collector): TAB-separated ts level caller msg {json}",
    alts=(
        Alt(
            _ZTS + r"(?:(?P<name>[^\t]+)\t)??(?:(?P<caller>[^\t\s]+:\d+)\t)?(?P<msg>[^\t]*)"
            r"(?:\t(?P<fields>\{.*\}))?",
            0.95,
        ),
        Alt(_ZTS + r"(?P<rest>.*)", 0.9),
    ),
    ts="f_ts",
    severity="f_lvl",
    body="coalesce(f_msg, f_rest, '')",
    scope="f_name",
    attributes=(
        "CASE WHEN " + _ZAP_FIELDS + " IS NULL THEN {a} ELSE"
        " json_merge_patch(coalesce({a}, '{{}}'), " + _ZAP_FIELDS + ") END"
    ).format(
        a=_attrs(
            ("code.filepath", "nullif(regexp_extract(f_caller, '^(.*):[0-9]+$', 1), '')"),
            ("code.lineno", _int("nullif(regexp_extract(f_caller, ':([0-9]+)$', 1), '')")),
        )
    ),
    trace_id=(
        "lower(coalesce("
        + _ZAP_FIELDS
        + "->>'trace_id', "
        + _ZAP_FIELDS
        + "->>'traceID', "
        + _ZAP_FIELDS
        + "->>'traceId'))"
    ),
    span_id=(
        "lower(coalesce("
        + _ZAP_FIELDS
        + "->>'span_id', "
        + _ZAP_FIELDS
        + "->>'spanID', "
        + _ZAP_FIELDS
        + "->>'spanId'))"
    ),
)

# --- postgres -------------------------------------------------------------------------
_PG_LEVELS = (
    "DEBUG[1-5]|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|STATEMENT|DETAIL|HINT|CONTEXT"
    "|QUERY|LOCATION"
)
_PG_ATTACHED = "('STATEMENT', 'DETAIL', 'HINT', 'CONTEXT', 'QUERY', 'LOCATION')"
_PG_NAMED_TZ = "f_tz IS NOT NULL AND NOT regexp_full_match(f_tz, '(?i)utc|gmt|z|[+-][0-9:]+')"
POSTGRES = Dialect(
    name="postgres",
    description="PostgreSQL server log: '2024-03-26 16:52:44.118 UTC [1234] user@db LOG:  …'",
    alts=(
        Alt(
            r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})?)"
            r"(?: (?P<tz>[A-Za-z][\w/+-]*|[+-]\d\d(?::?\d\d)?))? "
            r"\[(?P<pid>\d+)(?:-\d+)?\]:?(?: \[\d+-\d+\])?(?: (?P<who>\S*?))? "
            r"(?P<lvl>" + _PG_LEVELS + r"): +(?P<msg>.*)",
            0.95,
        ),
    ),
    ts=(
        f"CASE WHEN NOT coalesce({_PG_NAMED_TZ}, false)"
        " THEN f_ts || coalesce(' ' || replace(upper(f_tz), 'GMT', 'UTC'), '') END"
    ),
    ts_native=(
        f"CASE WHEN {_PG_NAMED_TZ} THEN coalesce("
        "(TRY_CAST(f_ts || ' ' || f_tz AS TIMESTAMPTZ) AT TIME ZONE 'UTC')::TIMESTAMP_NS,"
        " TRY_CAST(f_ts AS TIMESTAMP_NS)) END"
    ),
    severity="f_lvl",
    attributes=_attrs(
        ("process.pid", _int("f_pid")),
        (
            "db.user",
            "nullif(CASE WHEN f_who LIKE '%user=%' THEN regexp_extract(f_who, 'user=([^,]*)', 1)"
            " WHEN f_who LIKE '%@%' THEN split_part(f_who, '@', 1) END, '')",
        ),
        (
            "db.name",
            "nullif(CASE WHEN f_who LIKE '%db=%' THEN regexp_extract(f_who, 'db=([^,]*)', 1)"
            " WHEN f_who LIKE '%@%' THEN split_part(f_who, '@', 2) END, '')",
        ),
        ("client.address", "nullif(regexp_extract(f_who, 'client=([^,]*)', 1), '')"),
        ("postgres.application_name", "nullif(regexp_extract(f_who, 'app=([^,]*)', 1), '')"),
    ),
    extra_continuation=f"f_lvl IN {_PG_ATTACHED}",
    continuation_text="CASE WHEN h THEN f_lvl || ':  ' || f_msg ELSE text END",
)

# --- logcat ---------------------------------------------------------------------------
LOGCAT = Dialect(
    name="logcat",
    description="Android logcat: threadtime '03-17 16:13:38.811  1702  2395 D Tag: msg', brief",
    alts=(
        Alt(
            r"(?:(?P<year>\d{4})-)?(?P<mm>\d\d)-(?P<dd>\d\d) (?P<hms>\d\d:\d\d:\d\d)"
            r"(?:\.(?P<frac>\d{1,9}))? +(?:(?P<uid>\S+) +)??(?P<pid>\d+) +(?P<tid>\d+) "
            r"(?P<lvl>[VDIWEFA]) (?P<tag>.*?) *: (?P<msg>.*)",
            0.95,
        ),
        Alt(r"(?P<lvl>[VDIWEFA])/(?P<tag>[^(]*?) *\( *(?P<pid>\d+)\): (?P<msg>.*)", 0.9),
    ),
    ts=(
        f"coalesce(f_year, {_YEAR}) || '-' || f_mm || '-' || f_dd || ' ' || f_hms"
        " || coalesce('.' || f_frac, '')"
    ),
    yearless="f_year IS NULL AND f_mm IS NOT NULL",
    severity="f_lvl",
    scope="nullif(f_tag, '')",
    attributes=_attrs(
        ("process.pid", _int("f_pid")),
        ("thread.id", _int("f_tid")),
        ("android.uid", "f_uid"),
    ),
    aliases=("android",),
)

# --- hdfs -----------------------------------------------------------------------------
HDFS = Dialect(
    name="hdfs",
    description="Hadoop HDFS (loghub): '081109 203615 148 INFO dfs.DataNode: msg'",
    alts=(
        Alt(
            r"(?P<date>\d{6}) (?P<time>\d{6}) (?P<tid>\d+) "
            r"(?P<lvl>TRACE|DEBUG|INFO|WARN|ERROR|FATAL) (?P<comp>[^\s:]+):(?: (?P<msg>.*))?",
            0.95,
        ),
    ),
    ts_native="try_strptime(f_date || f_time, '%y%m%d%H%M%S')::TIMESTAMP_NS",
    severity="f_lvl",
    body="coalesce(f_msg, '')",
    scope="f_comp",
    attributes=_attrs(("thread.id", _int("f_tid"))),
)

# --- text (fallback) ------------------------------------------------------------------
_TEXT_SHAPES = (
    r"(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?)"
    r"(?: ?(?P<isotz>Z|UTC|GMT|[+-]\d\d(?::?\d\d)?))?",
    r"(?P<sdate>\d{4}/\d\d/\d\d)[ T-](?P<shms>\d\d:\d\d:\d\d)(?:[.,](?P<sfrac>\d{1,9}))?",
    r"(?P<awd>[A-Z][a-z]{2}) (?P<amon>" + MON + r") +(?P<aday>\d{1,2}) "
    r"(?P<ahms>\d\d:\d\d:\d\d)(?:\.(?P<afrac>\d{1,9}))? (?P<ayear>\d{4})",
    r"(?P<bmon>" + MON + r") +(?P<bday>\d{1,2}) (?:(?P<byear>\d{4}) )?"
    r"(?P<bhms>\d\d:\d\d:\d\d)(?:[.,](?P<bfrac>\d{1,9}))?",
    r"(?P<cday>\d{1,2})/(?P<cmon>" + MON + r")/(?P<cyear>\d{4}):(?P<chms>\d\d:\d\d:\d\d)"
    r"(?: (?P<ctz>[+-]\d{4}))?",
)
"""Timestamps ``text`` recognises: ISO 8601, yyyy/mm/dd, asctime, BSD, CLF."""
_TEXT_PREFIX = r'(?P<pre>[^={}"\t]{1,40}?)'
_TEXT_TAIL = (
    r"[\])>,]?:?(?:\s+(?:[\[<(]?(?P<lvl>" + _LEVEL_CI + r")[\]>)]?:?(?:\s+|$))?"
    r"(?:[-|:]\s+)?(?P<msg>.*))?"
)
TEXT = Dialect(
    name="text",
    description="Any line-oriented text log with a timestamp near the start (fallback)",
    # One shape per timestamp kind, first at the start of the line, then after a prefix:
    # small regexes extract much faster than one alternation with a lazy prefix.
    alts=tuple(Alt(shape + _TEXT_TAIL, 0.3) for shape in _TEXT_SHAPES)
    + tuple(Alt(_TEXT_PREFIX + shape + _TEXT_TAIL, 0.3) for shape in _TEXT_SHAPES),
    ts=(
        "CASE WHEN f_iso IS NOT NULL THEN f_iso || coalesce(' ' || "
        "replace(upper(f_isotz), 'GMT', 'UTC'), '')"
        " WHEN f_sdate IS NOT NULL THEN replace(f_sdate, '/', '-') || ' ' || f_shms"
        " || coalesce('.' || f_sfrac, '')"
        " WHEN f_ayear IS NOT NULL THEN "
        + _iso("f_ayear", "f_amon", "f_aday", "f_ahms", "f_afrac")
        + " WHEN f_cyear IS NOT NULL THEN "
        + _iso("f_cyear", "f_cmon", "f_cday", "f_chms", "NULL", "f_ctz")
        + " ELSE "
        + _iso(f"coalesce(f_byear, {_YEAR})", "f_bmon", "f_bday", "f_bhms", "f_bfrac")
        + " END"
    ),
    yearless="f_bmon IS NOT NULL AND f_byear IS NULL",
    severity=(
        "coalesce(f_lvl, nullif(regexp_extract(f_pre, "
        + _lit(_PREFIX_LEVEL_RX)
        + ", 1), ''), "
        + _msg_level("f_msg")
        + ")"
    ),
    body="coalesce(f_msg, '')",
    attributes=_attrs(
        (
            "log.prefix",
            "nullif(trim(regexp_replace(f_pre, " + _lit(_PREFIX_LEVEL_RX) + ", ''),"
            " ' []()<>|:-' || chr(9)), '')",
        ),
    ),
    mode="text",
    sniff_needs_msg=True,
)

# --- w3c (its columns come from #Fields:, so it is parsed by splitting, not a regex) ----
_W3C_RENAME = {
    "c-ip": "client.address",
    "s-ip": "server.address",
    "s-port": "server.port",
    "cs-method": "http.request.method",
    "cs-uri-stem": "url.path",
    "cs-uri-query": "url.query",
    "sc-status": "http.response.status_code",
    "sc-bytes": "http.response.size",
    "cs-bytes": "http.request.size",
    "cs(User-Agent)": "user_agent.original",
    "cs(Referer)": "http.request.header.referer",
    "cs(Cookie)": "http.request.header.cookie",
    "cs-username": "enduser.id",
    "cs-host": "http.request.header.host",
    "s-computername": "host.name",
}
_W3C_NUMERIC = (
    "s-port",
    "sc-status",
    "sc-substatus",
    "sc-win32-status",
    "sc-bytes",
    "cs-bytes",
    "time-taken",
)
_W3C_KNOWN = ("date", "time", "cs-method", "cs-uri-stem", "cs-uri-query", "sc-status")
W3C = Dialect(
    name="w3c",
    description="IIS / W3C extended log file (#Fields: directive names the columns)",
    alts=(),
    ts="coalesce(f_date, f_ddate) || ' ' || f_time",
    severity=_status_level("TRY_CAST(f_sc_status AS INTEGER)"),
    body=(
        "CASE WHEN f_cs_method IS NULL THEN text ELSE f_cs_method || ' '"
        " || coalesce(f_cs_uri_stem, '') || coalesce('?' || f_cs_uri_query, '') END"
    ),
    attributes="f_attrs",
    mode="reject",
    aliases=("iis",),
)

DIALECTS: tuple[Dialect, ...] = (
    SYSLOG,
    ACCESS_LOG,
    W3C,
    APACHE_ERROR,
    NGINX_ERROR,
    PYTHON,
    KLOG,
    JAVA,
    ZAP,
    POSTGRES,
    LOGCAT,
    HDFS,
    TEXT,
)


# --------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------

_PROM_SAMPLE = re.compile(
    r"^[a-zA-Z_:][\w:]*(?:\{[^}]*\})?\s+[-+]?(?:[\d.]+(?:[eE][-+]?\d+)?|NaN|Inf)(?:\s+-?\d+)?$"
)
_FOLDED = re.compile(r"^\S.*;.* \d+$|^[^\s;]+ \d+$")
_LOGFMT_PAIR = re.compile(r'(?:^|\s)[\w.\-/@]+=(?:"(?:[^"\\]|\\.)*"|\S*)')
_CSV_HEADER = re.compile(r'^"?[A-Za-z_][\w .()/%#-]*"?(?:[,;\t]"?[A-Za-z_][\w .()/%#-]*"?)+$')


@functools.lru_cache(maxsize=4)
def _head_lines(head: bytes) -> tuple[tuple[str, ...], bool]:
    """The head's complete lines (at most 400 non-blank) and whether it is structured data."""
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")
    if len(lines) > 1 and len(head) >= HEAD_BYTES and not text.endswith("\n"):
        lines.pop()  # cut mid-line
    out = []
    for ln in lines:
        ln = ln.rstrip("\r")
        if ln.strip():
            out.append(ln)
            if len(out) >= 400:
                break
    return tuple(out), _structured(out)


def _structured(lines: list[str]) -> bool:
    """True for JSON, logfmt, CSV with a header, Prometheus text or folded stacks."""
    if not lines:
        return True
    first = lines[0].lstrip().lstrip("\ufeff")
    if first.startswith("{") or re.match(r'\[\s*($|[{\["\]])', first):
        return True
    sample = lines[:100]
    n = len(sample)

    def share(pred: Callable[[str], bool]) -> float:
        return sum(1 for ln in sample if pred(ln)) / n

    if share(lambda ln: ln.lstrip().startswith("{")) >= 0.5:
        return True
    if any(ln.startswith(("# HELP ", "# TYPE ")) for ln in sample):
        return True
    if share(lambda ln: bool(_PROM_SAMPLE.match(ln.strip()))) >= 0.6:
        return True
    if share(lambda ln: bool(_FOLDED.match(ln.strip()))) >= 0.6:
        return True
    if (
        share(lambda ln: bool(re.match(r"[\w.\-]+=", ln)) and len(_LOGFMT_PAIR.findall(ln)) >= 3)
        >= 0.6
    ):
        return True
    if _CSV_HEADER.match(first) and n > 1:
        sep = max(",;\t", key=first.count)
        cols = first.count(sep)
        if share(lambda ln: ln.count(sep) >= cols) >= 0.8:
            return True
    return False


def _sniff(d: Dialect, head: bytes, name: str) -> float:
    """Weighted share of the head's header-shaped lines (continuation lines ignored)."""
    lines, structured = _head_lines(head)
    if structured:
        return 0.0
    considered = matched = 0
    total = 0.0
    for ln in lines:
        if _STACKISH_PY.match(ln):
            continue
        considered += 1
        for rx, weight in d.sniff_res:
            m = rx.match(ln)
            if m is None:
                continue
            if d.sniff_needs_msg and not (m.groupdict().get("msg") or "").strip():
                continue
            matched += 1
            total += weight
            break
        if considered >= 200 or (considered >= 30 and matched == 0):
            break
    if considered == 0 or matched / considered < 0.3:
        return 0.0
    return round(total / considered, 4)


def _sniff_w3c(head: bytes, name: str) -> float:
    lines, _ = _head_lines(head)
    fields = None
    data = good = 0
    for ln in lines:
        if ln.startswith("#Fields:"):
            fields = len(ln[8:].split())
        elif not ln.startswith("#") and fields is not None:
            data += 1
            good += len(ln.split()) == fields
    if fields is None:
        return 0.0
    if data == 0:
        return 0.9
    return 0.97 if good / data >= 0.5 else 0.5


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def _load(d: Dialect, src: Source, ctx: LoadContext) -> None:
    con = ctx.con
    tag = f"_obsctl_lt_{ctx.source_id}"
    stage = f"{tag}_f"
    schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])

    def batches() -> Iterator[pa.RecordBatch]:
        for b in src.line_batches():
            yield b
            if ctx.progress is not None:
                ctx.progress(src.consumed)

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    nonblank = f"(SELECT line, text FROM {tag}_in WHERE NOT regexp_full_match(text, '\\s*'))"
    conts, more = f"{tag}_c", f"{tag}_m"
    con.register(f"{tag}_in", reader)
    try:
        # The stream is read once, straight into the parsed stage table.
        stage_sql = _w3c_stage_sql(nonblank) if d is W3C else _regex_stage_sql(d, nonblank)
        con.execute(f"CREATE TEMP TABLE {stage} AS {stage_sql}")
        if d.mode == "reject":
            _report_rejects(d, ctx, stage)
        joined = _continuations(d, con, stage, conts, more)
        ref, year = _reference_time(src)
        sql = _insert_sql(d, stage, conts if joined else None, more if joined else None)
        sql = sql.replace(_YEAR, f"'{year}'").replace(
            "__REF__", f"TIMESTAMP '{ref:%Y-%m-%d %H:%M:%S}'"
        )
        params = {"service": ctx.service, "source_id": ctx.source_id}
        ctx.records += _count(con, sql, params)
        _inherit_timestamps(con, ctx.source_id)
    finally:
        con.unregister(f"{tag}_in")
        for table in (more, conts, stage):
            try:
                con.execute(f"DROP TABLE IF EXISTS {table}")
            except Exception:  # an aborted transaction: it is rolled back anyway
                pass


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> int:
    """The single number a count query (or an INSERT) returns, fully fetched."""
    rows = con.execute(sql, params).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def _reference_time(src: Source) -> tuple[datetime, int]:
    """The file's modification time (UTC, naive) and its year, for yearless formats."""
    try:
        mtime = os.stat(src.path).st_mtime
    except OSError:
        mtime = datetime.now(UTC).timestamp()
    ref = datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None)
    return ref, ref.year


def _regex_stage_sql(d: Dialect, lines: str) -> str:
    """Flattened header fields: the first matching shape (a cheap DFA match each) picks the
    one ``regexp_extract`` that runs (one big alternation with captures is ~5× slower)."""
    which = " ".join(
        f"WHEN regexp_matches(text, {_lit(rx)}) THEN {i}" for i, (rx, _) in enumerate(d.alt_sql)
    )
    extracts = ", ".join(
        f"CASE WHEN a = {i} THEN regexp_extract(text, {_lit(rx)}, {_lit_list(names)}) END AS m{i}"
        for i, (rx, names) in enumerate(d.alt_sql)
    )
    flat = []
    for b in d.fields:
        parts = [f"nullif(m{i}.\"{b}\", '')" for i, (_, ns) in enumerate(d.alt_sql) if b in ns]
        flat.append(f'coalesce({", ".join(parts)}, NULL) AS "f_{b}"')
    return (
        f"SELECT line, text, a IS NOT NULL AS h, {', '.join(flat)} FROM ("
        f" SELECT line, text, a, {extracts} FROM ("
        f"  SELECT line, text, CASE {which} END AS a FROM {lines}))"
    )


def _w3c_stage_sql(lines: str) -> str:
    """Data lines split by the latest ``#Fields:`` directive; ``h`` = they fit it."""

    def field(n: str) -> str:
        return f"nullif(vals[list_position(names, {_lit(n)})], '-')"

    key = f"coalesce(({_lit_map(_W3C_RENAME)})[p[1]], p[1])"
    value = (
        f"CASE WHEN list_contains({_lit_list(list(_W3C_NUMERIC))}, p[1])"
        " AND regexp_full_match(p[2], '[0-9]{1,18}') THEN p[2] ELSE to_json(p[2])::VARCHAR END"
    )
    attrs = (
        "('{' || array_to_string(list_transform(list_filter(list_zip(names, vals),"
        " lambda p: p[2] <> '-' AND p[1] NOT IN ('date', 'time')),"
        f" lambda p: to_json({key})::VARCHAR || ':' || {value}), ',') || '}}')"
    )
    cols = ", ".join(f"{field(n)} AS f_{n.replace('-', '_')}" for n in _W3C_KNOWN)
    return f"""
        SELECT line, text, h, {cols},
            CASE WHEN h THEN nullif({attrs}, '{{}}')::JSON END AS f_attrs,
            ddate AS f_ddate,
            CASE WHEN names IS NULL THEN 'no #Fields: directive before this line'
                 ELSE len(vals) || ' values where #Fields: names ' || len(names) END AS f_why
        FROM (
            SELECT *, NOT starts_with(text, '#') AND names IS NOT NULL
                      AND len(vals) = len(names) AS h
            FROM (
                SELECT line, text,
                    regexp_split_to_array(trim(fields), '\\s+') AS names,
                    CASE WHEN NOT starts_with(text, '#')
                         THEN regexp_split_to_array(trim(text), '\\s+') END AS vals,
                    ddate
                FROM (
                    SELECT line, text,
                        last_value(CASE WHEN starts_with(text, '#Fields:') THEN substr(text, 9)
                                   END IGNORE NULLS) OVER w AS fields,
                        last_value(CASE WHEN starts_with(text, '#Date:') THEN
                                   regexp_extract(text, '([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})', 1)
                                   END IGNORE NULLS) OVER w AS ddate
                    FROM {lines}
                    WINDOW w AS (ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                )
            )
        )
    """


def _lit_list(items: list[str]) -> str:
    return "[" + ", ".join(_lit(i) for i in items) + "]"


def _lit_map(m: dict[str, str]) -> str:
    return f"MAP {{{', '.join(f'{_lit(k)}: {_lit(v)}' for k, v in m.items())}}}"


def _report_rejects(d: Dialect, ctx: LoadContext, stage: str) -> None:
    """Reject the lines that are not headers (W3C: data lines that do not fit #Fields)."""
    where = "NOT h" + (" AND NOT starts_with(text, '#')" if d is W3C else "")
    reason = "f_why" if d is W3C else d.reject_reason
    total = _count(ctx.con, f"SELECT count(*) FROM {stage} WHERE {where}")
    if not total:
        return
    sample = ctx.con.execute(
        f"SELECT line, {reason}, left(text, 200) FROM {stage} WHERE {where}"
        f" ORDER BY line LIMIT {MAX_KEPT_REJECTS}"
    ).fetchall()
    ctx.reject_many(int(total), [Reject(int(ln), str(why), ex or "") for ln, why, ex in sample])


def _continuations(
    d: Dialect, con: duckdb.DuckDBPyConnection, stage: str, conts: str, more: str
) -> bool:
    """Find continuation lines and glue them per record; False when there are none.

    The running windows only see narrow columns (line and flags), so a file without
    multi-line records costs one cheap check, and one with them two narrow sorts.
    """
    if d.mode == "reject":
        return False
    if d.extra_continuation == "false" and not _count(
        con, f"SELECT count(*) FROM {stage} WHERE NOT h"
    ):
        return False
    if d.mode == "text":
        cont = f"NOT h AND line > first_line AND regexp_matches(text, {_lit(_STACKISH)})"
    else:
        cont = f"coalesce(seen, false) AND (NOT h OR ({d.extra_continuation}))"
    con.execute(f"""
        CREATE TEMP TABLE {conts} AS
        SELECT line, grp FROM (
            SELECT line, cont,
                max(CASE WHEN NOT cont THEN line END)
                    OVER (ORDER BY line ROWS UNBOUNDED PRECEDING) AS grp
            FROM (
                SELECT line, coalesce({cont}, false) AS cont FROM (
                    SELECT *, bool_or(h) OVER (ORDER BY line
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen,
                        min(line) OVER () AS first_line
                    FROM {stage}
                )
            )
        ) WHERE cont
    """)
    if not _count(con, f"SELECT count(*) FROM {conts}"):
        return False
    con.execute(f"""
        CREATE TEMP TABLE {more} AS
        SELECT c.grp, string_agg({d.continuation_text}, chr(10) ORDER BY s.line) AS more
        FROM {conts} c JOIN {stage} s USING (line)
        GROUP BY c.grp
    """)
    return True


def _insert_sql(d: Dialect, stage: str, conts: str | None, more: str | None) -> str:
    """One INSERT … SELECT of the records (header lines and lines before the first one)."""
    ts_sql = f"obsctl_ts({d.ts})"
    if d.ts_native != "NULL":
        ts_sql = f"coalesce(({d.ts_native})::TIMESTAMP_NS, {ts_sql})"
    ws = "' ' || chr(9) || chr(13)"
    where = ["s.h"] if d.mode == "reject" else []
    joins = ""
    body = "body"
    if conts and more:
        joins = f"LEFT JOIN {more} m ON m.grp = s.line ANTI JOIN {conts} c ON c.line = s.line"
        body = "CASE WHEN m.more IS NULL THEN body ELSE body || chr(10) || m.more END"
    return f"""
    INSERT INTO logs BY NAME
    SELECT
        CASE WHEN yearless AND ts0 > __REF__ + INTERVAL 1 DAY THEN ts0 - INTERVAL 1 YEAR
             ELSE ts0 END AS timestamp,
        coalesce(svc, $service) AS service_name,
        sev AS severity_text,
        obsctl_severity(sev) AS severity_number,
        {body} AS body,
        tid AS trace_id,
        sid AS span_id,
        attrs AS attributes,
        scope AS scope_name,
        $source_id AS source_id,
        line
    FROM (
        SELECT s.line,
            CASE WHEN s.h THEN {ts_sql} END AS ts0,
            coalesce(s.h AND ({d.yearless}), false) AS yearless,
            CASE WHEN s.h THEN ({d.severity}) END AS sev,
            CASE WHEN s.h THEN coalesce(trim(({d.body}), {ws}), '') ELSE s.text END AS body,
            CASE WHEN s.h THEN ({d.attributes}) END AS attrs,
            CASE WHEN s.h THEN ({d.scope}) END AS scope,
            CASE WHEN s.h THEN ({d.service}) END AS svc,
            CASE WHEN s.h THEN ({d.trace_id}) END AS tid,
            CASE WHEN s.h THEN ({d.span_id}) END AS sid
        FROM {stage} s
        {"WHERE " + " AND ".join(where) if where else ""}
    ) s {joins}
    """


def _inherit_timestamps(con: duckdb.DuckDBPyConnection, source_id: int) -> None:
    """Give records without a time of their own the previous record's (flagged)."""
    missing = _count(
        con, "SELECT count(*) FROM logs WHERE source_id = ? AND timestamp IS NULL", [source_id]
    )
    if not missing:
        return
    con.execute(
        """
        UPDATE logs SET timestamp = p.prev_ts,
            attributes = json_merge_patch(coalesce(logs.attributes, '{}'),
                                          '{"obsctl.timestamp_inherited":true}')
        FROM (
            SELECT line, last_value(timestamp IGNORE NULLS) OVER (ORDER BY line
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_ts
            FROM logs WHERE source_id = $sid
        ) p
        WHERE logs.source_id = $sid AND logs.line = p.line AND logs.timestamp IS NULL
          AND p.prev_ts IS NOT NULL
        """,
        {"sid": source_id},
    )


# --------------------------------------------------------------------------------------
# Format specs
# --------------------------------------------------------------------------------------


def _spec(d: Dialect) -> FormatSpec:
    sniff = _sniff_w3c if d is W3C else functools.partial(_sniff, d)
    return FormatSpec(
        name=d.name,
        signal="logs",
        description=d.description,
        sniff=sniff,
        load=functools.partial(_load, d),
        aliases=d.aliases,
    )


FORMATS: list[FormatSpec] = [_spec(d) for d in DIALECTS]
