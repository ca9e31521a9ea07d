"""Linux ``perf script`` text output (the input of FlameGraph's stackcollapse-perf.pl).

What is accepted
    Blocks separated by blank lines. Each block starts with a sample header

        ``COMM PID[/TID] [CPU] TIME: [PERIOD] EVENT: [extra]``

    (COMM may contain spaces and be left-padded; CPU and PERIOD are optional; EVENT may be a
    tracepoint ``sched:sched_switch`` or carry modifiers ``cycles:u``) followed by one
    indented line per frame, LEAF FIRST: ``ADDR SYMBOL[+0xOFF] (DSO)``. A sample recorded
    without call graphs carries its one frame on the header line after the event, and is
    read as a one-frame stack. ``#`` comment lines (``perf script --header``) are skipped.
    A frame line before any header, or a line that is neither, is rejected with its line
    number. The header's TIME is seconds since boot, not a wall-clock time.

What goes where
    One ``profiles`` row per file. Sample types: ``samples``/``count`` (one per sample)
    and one per event, valued by the sample's PERIOD (1 when absent) — the
    period-weighted figure stackcollapse-perf.pl folds; unit ``nanoseconds`` for
    ``cpu-clock``/``task-clock``, else ``count``. ``default_sample_type`` = the event with
    the most samples (``period_type`` too); ``profile_type`` 'cpu' for CPU time/cycle
    events, else the event name. ``time`` NULL; ``duration_ns`` = last - first sample
    time; ``attributes`` = {format, events, first_sample_time_s, last_sample_time_s}.
    Samples with the same (comm, pid, tid, event, stack) are summed into one row per
    sample type (rows in no particular order). ``stack``: {function: SYMBOL without its
    ``+0x..`` offset — an ``[unknown]`` symbol in a known DSO becomes ``[dso basename]``
    like stackcollapse-perf and pprof do; file: the DSO path (NULL when ``[unknown]``);
    line: NULL}. ``labels`` = {"comm": ..., "pid": ..., "tid": ...} (the process, which
    stackcollapse-perf would put as the root frame, is a label here, not a frame).

Bulk path
    ``perf script`` output can be very large: lines go through ``Source.line_batches``
    into DuckDB, and classification, block numbering (a running count of headers), frame
    parsing, aggregation and the insert are all SQL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, Reject
from obsctl.ingest.profiles_pprof import insert_profile, registered

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

_HEADER = (
    r"^\s*(\S.*?)\s+(-?\d+)(?:/(-?\d+))?\s+(?:\[(\d+)\]\s+)?(\d+\.\d+):\s+"
    r"(?:(\d+)\s+)?(\S+?):(?:\s+(.*?))?\s*$"
)
_HEADER_GROUPS = ["comm", "pid", "tid", "cpu", "time", "period", "event", "rest"]
_FRAME = r"^\s+[0-9a-fA-F]+\s+\S"
_HEADER_RE = re.compile(_HEADER)
_FRAME_RE = re.compile(r"^\s+[0-9a-fA-F]+\s+\S.*\)\s*$")
_CPU_EVENTS = ("cpu-clock", "task-clock", "cycles", "cpu-cycles", "ref-cycles")
_NS_EVENTS = ("cpu-clock", "task-clock")


def sniff(head: bytes, name: str) -> float:
    """Score ``perf script`` text: sample headers followed by indented frame lines."""
    try:
        lines = head.decode("utf-8", "replace").splitlines()[:400]
        headers = frames = followed = 0
        prev_header = False
        for line in lines:
            if _HEADER_RE.match(line):
                headers += 1
                prev_header = True
                continue
            if _FRAME_RE.match(line):
                frames += 1
                followed += prev_header
            prev_header = False
        if headers >= 2 and followed >= 2 and frames >= headers:
            return 0.95
        if headers >= 1 and followed >= 1:
            return 0.6
        return 0.0
    except Exception:
        return 0.0


def load(src: Source, ctx: LoadContext) -> None:
    """Load one ``perf script`` output as one profile."""
    ctx.unit = "profiles"
    con = ctx.con
    reader = src.line_reader()
    # Copy the stream into a table first: the regex work below then runs on every core
    # (a scan of the Python batch stream is single-threaded).
    with registered(con, "_obsctl_perf_src", reader):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _obsctl_perf_lines AS SELECT * FROM _obsctl_perf_src"
        )
    # Frame lines start with a tab in perf's output: test them first, so the costlier
    # header pattern only runs on the few other lines.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _obsctl_perf AS
        WITH c AS (
            SELECT line, text,
                CASE
                    WHEN ltrim(text) = '' THEN 'blank'
                    WHEN starts_with(ltrim(text), '#') THEN 'comment'
                    WHEN starts_with(text, E'\\t') AND regexp_matches(text, '{_FRAME}')
                        THEN 'frame'
                    WHEN regexp_matches(text, '{_HEADER}') THEN 'header'
                    WHEN regexp_matches(text, '{_FRAME}') THEN 'frame'
                    ELSE 'bad'
                END AS kind
            FROM _obsctl_perf_lines
        )
        SELECT line, text, kind,
               sum(CASE WHEN kind = 'header' THEN 1 ELSE 0 END)
                   OVER (ORDER BY line ROWS UNBOUNDED PRECEDING) AS block
        FROM c WHERE kind NOT IN ('blank', 'comment')
        """
    )
    con.execute("DROP TABLE _obsctl_perf_lines")
    bad = con.execute(
        "SELECT line, text, kind FROM _obsctl_perf"
        " WHERE kind = 'bad' OR (kind = 'frame' AND block = 0) ORDER BY line"
    ).fetchall()
    if bad:
        ctx.reject_many(
            len(bad),
            [Reject(line, "frame line before any sample header" if kind == "frame"
                    else "neither a sample header nor a stack frame", text[:200])
             for line, text, kind in bad[:1000]],
        )  # fmt: skip
    groups = "[" + ", ".join(f"'{g}'" for g in _HEADER_GROUPS) + "]"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _obsctl_perf_agg AS
        WITH hdr AS (
            SELECT block, line, regexp_extract(text, '{_HEADER}', {groups}) AS h
            FROM _obsctl_perf WHERE kind = 'header'
        ),
        lone AS (  -- samples without a call graph: the frame is on the header line
            SELECT block, line, E'\\t' || h.rest AS text FROM hdr
            WHERE regexp_matches(E'\\t' || h.rest, '{_FRAME}')
              AND block NOT IN (SELECT block FROM _obsctl_perf WHERE kind = 'frame')
        ),
        f AS (
            SELECT block, line,
                regexp_replace(regexp_replace(regexp_replace(text,
                    '^\\s+[0-9a-fA-F]+\\s+', ''),
                    '\\s*\\([^()]*\\)\\s*$', ''),
                    '\\+0x[0-9a-fA-F]+$', '') AS sym,
                nullif(regexp_extract(text, '\\(([^()]*)\\)\\s*$', 1), '') AS dso
            FROM (SELECT block, line, text FROM _obsctl_perf WHERE kind = 'frame' AND block > 0
                  UNION ALL SELECT block, line, text FROM lone)
        ),
        s AS (
            SELECT block, list({{
                'function': CASE
                    WHEN (sym = '' OR sym = '[unknown]') AND dso IS NOT NULL
                         AND dso <> '[unknown]'
                        THEN '[' || regexp_extract(dso, '[^/]*$') || ']'
                    WHEN sym = '' THEN '[unknown]'
                    ELSE sym END,
                'file': CASE WHEN dso = '[unknown]' THEN NULL ELSE dso END,
                'line': NULL::BIGINT}} ORDER BY line) AS stack
            FROM f GROUP BY block
        ),
        samples AS (
            SELECT hdr.block, h.comm AS comm, TRY_CAST(h.pid AS BIGINT) AS pid,
                   TRY_CAST(nullif(h.tid, '') AS BIGINT) AS tid, h.event AS event,
                   coalesce(TRY_CAST(nullif(h.period, '') AS DOUBLE), 1) AS period,
                   TRY_CAST(h.time AS DOUBLE) AS t,
                   coalesce(s.stack, []) AS stack
            FROM hdr LEFT JOIN s USING (block)
        )
        SELECT comm, pid, tid, event, stack,
               count(*) AS samples, sum(period) AS weight,
               min(t) AS first, max(t) AS last, min(block) AS first_block,
               CASE WHEN tid IS NULL THEN json_object('comm', comm, 'pid', pid)
                    ELSE json_object('comm', comm, 'pid', pid, 'tid', tid) END AS labels
        FROM samples
        GROUP BY comm, pid, tid, event, stack
        """
    )
    con.execute("DROP TABLE _obsctl_perf")
    events = con.execute(
        "SELECT event, sum(samples)::BIGINT, min(first), max(last) FROM _obsctl_perf_agg"
        " GROUP BY event ORDER BY min(first_block)"
    ).fetchall()
    if not events:
        first = ctx.kept_rejects[0] if ctx.kept_rejects else None
        where = f"; line {first.line}: {first.excerpt[:60]!r}" if first else ""
        raise IngestError(f"{src.display}: no perf script sample headers found{where}")
    per_event = {ev: n for ev, n, _, _ in events}
    default = max(per_event, key=lambda e: per_event[e])  # first wins ties
    firsts = [f for _, _, f, _ in events if f is not None]
    lasts = [v for _, _, _, v in events if v is not None]
    first, last = (min(firsts), max(lasts)) if firsts else (None, None)
    profile_id = insert_profile(
        ctx,
        {
            "profile_type": "cpu" if default.split(":")[0] in _CPU_EVENTS else default,
            "sample_types": [{"type": "samples", "unit": "count"}]
            + [{"type": ev, "unit": _unit(ev)} for ev in per_event],
            "default_sample_type": default,
            "period_type": default,
            "period_unit": _unit(default),
            "duration_ns": round((last - first) * 1e9) if first is not None else None,
            "attributes": {
                "format": "perf-script",
                "events": per_event,
                "first_sample_time_s": first,
                "last_sample_time_s": last,
            },
        },
    )
    ns_events = ", ".join(f"'{e}'" for e in _NS_EVENTS)
    con.execute(
        f"""
        INSERT INTO profile_samples (profile_id, sample_type, unit, value, stack, labels)
        SELECT $profile_id, 'samples', 'count', samples, stack, labels FROM _obsctl_perf_agg
        UNION ALL
        SELECT $profile_id, event,
               CASE WHEN event IN ({ns_events}) THEN 'nanoseconds' ELSE 'count' END,
               weight, stack, labels
        FROM _obsctl_perf_agg WHERE weight <> 0
        """,
        {"profile_id": profile_id},
    )
    con.execute("DROP TABLE _obsctl_perf_agg")


def _unit(event: str) -> str:
    return "nanoseconds" if event in _NS_EVENTS else "count"


FORMATS = [
    FormatSpec(
        name="perf-script",
        signal="profiles",
        description="Linux 'perf script' text output (sample headers + stack frames)",
        sniff=sniff,
        load=load,
        aliases=("perf",),
    )
]
