"""Folded ("collapsed") stacks: ``root;caller;leaf COUNT`` per line.

What is accepted
    The text written by Brendan Gregg's ``stackcollapse-*.pl`` scripts, ``perf script |
    stackcollapse-perf.pl``, async-profiler's collapsed output, py-spy ``--format raw`` and
    the like, as read by ``flamegraph.pl`` and speedscope: one stack per line, frames joined
    by ``;`` from the ROOT to the LEAF, then whitespace and a non-negative count (an integer,
    possibly a large period-weighted one, or a decimal). Frames may contain spaces: the count
    is whatever follows the LAST run of whitespace. Blank lines and comment lines (``#`` or
    ``//``) are skipped; CRLF, UTF-8/UTF-16 byte-order marks and a missing final newline are
    handled by ``Source``. A line without a count (or with an empty stack) is rejected with
    its line number; a file without a single valid line fails as a whole. A per-process
    first frame (``iperf-27409``, from ``--pid``/``--tid``) is kept as an ordinary frame.

What goes where
    One ``profiles`` row per file: ``profile_type`` 'cpu' (folded stacks nearly always come
    from CPU sampling: perf, DTrace, eBPF; the format itself does not say), one sample type
    ``samples``/``count``, no period or time. Identical stacks are summed into one
    ``profile_samples`` row (``value`` = the summed count; rows in no particular order);
    ``stack`` is the line's frames reversed to LEAF FIRST, each {function, file: NULL,
    line: NULL}; ``labels`` NULL.

Bulk path
    Lines go through ``Source.line_batches`` into DuckDB; classification (comment, valid,
    invalid), splitting, the per-stack aggregation and the insert are SQL, so a large
    collapsed file never passes through per-line Python (a 260 MB file of one million
    distinct stacks loads in about 11 s on 2 cores, half of it writing the stacks).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, Reject
from obsctl.ingest.profiles_pprof import insert_profile, registered

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

_TAIL_SQL = r"[ \t]+([0-9]+(?:\.[0-9]*)?)[ \t\r]*$"
# The count is what follows the LAST whitespace run (greedy ``.*``).
_LINE = re.compile(r"^(.*\S)[ \t]+([0-9]+(\.[0-9]*)?)$")
# Not stacks: a line opening with a date-time (logs), or whose "stack" ends in another
# number (W3C/IIS access logs end in several numeric fields).
_NOT_STACK = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:|[ \t]\d+$")
_NAME_HINT = re.compile(r"(fold|collaps|stacks|flame)", re.IGNORECASE)


def _is_comment(line: str) -> bool:
    return line.startswith(("#", "//"))


def sniff(head: bytes, name: str) -> float:
    """Score folded stacks: most lines ``frames COUNT`` and most stacks deeper than one."""
    try:
        text = head.decode("utf-8", "replace")
        lines = text.splitlines()
        if len(head) >= (64 << 10) and len(lines) > 1:
            lines = lines[:-1]  # possibly cut mid-line
        body = []
        for raw in lines[:5000]:
            line = raw.strip()
            if not line:
                continue
            if line.startswith(("# HELP ", "# TYPE ", "# EOF", "#Fields:", "#Software:")):
                return 0.0  # Prometheus / OpenMetrics text, W3C extended logs
            if not _is_comment(line):
                body.append(line)
        if not body:
            return 0.0
        matches = [m for m in map(_LINE.match, body) if m and not _NOT_STACK.search(m.group(1))]
        if not matches:
            return 0.0
        valid = len(matches) / len(body)
        deep = sum(";" in m.group(1) for m in matches) / len(matches)
        hinted = bool(_NAME_HINT.search(name))
        if valid == 1.0 and deep >= 0.5:
            return 0.9
        if valid >= 0.75 and deep >= 0.5:
            return 0.8
        if valid >= 0.5 and deep >= 0.5 and hinted:
            return 0.7
        if valid >= 0.9 and hinted:
            return 0.5
        return 0.0
    except Exception:
        return 0.0


def load(src: Source, ctx: LoadContext) -> None:
    """Load one folded-stacks file as one profile."""
    ctx.unit = "profiles"
    con = ctx.con
    reader = src.line_reader()
    with registered(con, "_obsctl_folded_src", reader):
        # The count is the number after the LAST whitespace run. The regexes are anchored
        # at the end and capture only that short tail, which RE2 does fast (a whole-line
        # capture such as '^(.*\S)\s+(\d+)$' is an order of magnitude slower).
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _obsctl_folded AS
            WITH l AS (
                SELECT line, text AS t,
                       regexp_extract(text, '{_TAIL_SQL}', 1) AS c
                FROM _obsctl_folded_src
                WHERE ltrim(text) <> ''
                  AND NOT starts_with(ltrim(text), '#') AND NOT starts_with(ltrim(text), '//')
            )
            SELECT line, t,
                   CASE WHEN c = '' THEN '' ELSE ltrim(regexp_replace(t, '{_TAIL_SQL}', ''))
                   END AS stack,
                   TRY_CAST(nullif(c, '') AS DOUBLE) AS count
            FROM l
            """
        )
    bad = "stack = '' OR count IS NULL"
    bad_total = con.execute(f"SELECT count(*) FROM _obsctl_folded WHERE {bad}").fetchall()[0][0]
    if bad_total:
        sample = con.execute(
            f"SELECT line, t FROM _obsctl_folded WHERE {bad} ORDER BY line LIMIT 1000"
        ).fetchall()
        ctx.reject_many(
            bad_total,
            [Reject(line, "expected 'frame;frame;... COUNT' (no count at end)", t[:200])
             for line, t in sample],
        )  # fmt: skip
    valid = con.execute(f"SELECT count(*) FROM _obsctl_folded WHERE NOT ({bad})").fetchall()
    if valid[0][0] == 0:
        first = ctx.kept_rejects[0] if ctx.kept_rejects else None
        where = f"; line {first.line}: {first.excerpt[:60]!r}" if first else ""
        raise IngestError(
            f"{src.display}: no folded stack lines ('frame;frame;... COUNT') found{where}"
        )
    profile_id = insert_profile(
        ctx,
        {
            "profile_type": "cpu",
            "sample_types": [{"type": "samples", "unit": "count"}],
            "default_sample_type": "samples",
            "attributes": {"format": "folded"},
        },
    )
    con.execute(
        f"""
        INSERT INTO profile_samples (profile_id, sample_type, unit, value, stack, labels)
        SELECT $profile_id, 'samples', 'count', sum(count),
               [{{'function': f, 'file': NULL::VARCHAR, 'line': NULL::BIGINT}}
                FOR f IN list_reverse(string_split(stack, ';'))],
               NULL
        FROM _obsctl_folded
        WHERE NOT ({bad})
        GROUP BY stack
        """,
        {"profile_id": profile_id},
    )
    con.execute("DROP TABLE _obsctl_folded")


FORMATS = [
    FormatSpec(
        name="folded",
        signal="profiles",
        description="folded/collapsed stacks ('a;b;c 42', flamegraph.pl input)",
        sniff=sniff,
        load=load,
        aliases=("collapsed", "flamegraph"),
    )
]
