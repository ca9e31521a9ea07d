"""Step 1 — logs: search the records, count them over time, find the first error.

Every function takes a ``LogFilter`` (which records) and returns plain data: Arrow tables
for listings (``search``, ``histogram``) and frozen dataclasses for single answers
(``first_error``). The CLI, the TUI and reports present them; nothing here knows about
terminals.

SQL lives in named constants and in one small builder (``_where``) that only ever joins
fixed clause strings: user values — the search text, services, trace id, regex, times —
are always bound as ``$name`` parameters, never formatted into SQL. That keeps injection
out and the dialect in one place for a second engine (ClickHouse) later.

Design decisions:

* **Level** is derived from ``severity_number`` (OpenTelemetry 1–24), not from the text as
  written, so ``warn``, ``WARNING`` and bunyan's ``40`` all filter and colour alike.
  ``--level X`` means "at or above X"; records without a severity only show when no level
  is asked for (they cannot be ranked).
* **Order** is time, then ``source_id``, then ``line``, then load order (an OTLP line
  holds many records): stable across runs, and records of one file keep their order when
  they share a timestamp (plain-text lines that inherited the previous record's time).
* **Text search** is a case-insensitive substring (``ILIKE`` with ``%``/``_`` escaped);
  ``grep`` is a DuckDB (RE2) regular expression, checked before the scan so a bad one is
  a usage error, not a query failure half-way.
* **Large exports** go through ``search_stream``, a reader of Arrow record batches, so
  ``--format ndjson`` over millions of rows never holds them all as Python objects.
* **Histogram buckets** are "nice" widths (1s, 5s, 1m, 5m, 1h, …) aligned on multiples of
  the width since the epoch, chosen so the range has 40–80 buckets; every bucket × level
  is present, zeros included, so a chart or a script sees the gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsctl.errors import QueryError, UsageError
from obsctl.timewindow import TimeWindow, parse_duration

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.store import Store

# --------------------------------------------------------------------------- levels

LEVELS: dict[str, int] = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "ERROR": 17,
    "FATAL": 21,
}
"""Canonical level → the lowest OpenTelemetry severity number it covers."""

_LEVEL_ALIASES = {"WARNING": "WARN", "ERR": "ERROR", "CRITICAL": "FATAL", "CRIT": "FATAL"}

LEVEL_SQL = """CASE
    WHEN severity_number >= 21 THEN 'FATAL'
    WHEN severity_number >= 17 THEN 'ERROR'
    WHEN severity_number >= 13 THEN 'WARN'
    WHEN severity_number >= 9 THEN 'INFO'
    WHEN severity_number >= 5 THEN 'DEBUG'
    WHEN severity_number >= 1 THEN 'TRACE'
END"""
"""SQL: the canonical level of a ``logs`` row (NULL without a severity)."""


def parse_level(text: str | int) -> int:
    """The minimum severity number for a ``--level`` value.

    Args:
        text: a level name (trace, debug, info, warn/warning, error, fatal; any case) or
            an OpenTelemetry severity number 1–24.

    Returns:
        The severity number records must reach.

    Raises:
        UsageError: neither a known name nor a number in 1–24.
    """
    s = str(text).strip()
    if s.isdigit():
        n = int(s)
        if 1 <= n <= 24:
            return n
    else:
        name = _LEVEL_ALIASES.get(s.upper(), s.upper())
        if name in LEVELS:
            return LEVELS[name]
    raise UsageError(
        f"--level {s!r} is not a level: use trace, debug, info, warn, error, fatal"
        " or a severity number 1-24"
    )


def level_name(severity_number: int | None) -> str | None:
    """The canonical level (TRACE…FATAL) of a severity number, ``None`` without one."""
    if severity_number is None or severity_number < 1:
        return None
    name = None
    for level, floor in LEVELS.items():
        if severity_number >= floor:
            name = level
    return name


def normalise_trace_id(text: str) -> str:
    """A trace id as the store keeps it: lowercase hex, left-padded to 32 digits.

    Raises:
        UsageError: not 1–32 hexadecimal digits.
    """
    s = text.strip().lower()
    if s.startswith("0x"):
        s = s[2:]
    if not s or len(s) > 32 or any(c not in "0123456789abcdef" for c in s):
        raise UsageError(f"--trace {text!r} is not a trace id (up to 32 hexadecimal digits)")
    return s.rjust(32, "0")


# --------------------------------------------------------------------------- filter


@dataclass(frozen=True)
class LogFilter:
    """Which log records a search, histogram or pattern run looks at (all fields AND)."""

    text: str | None = None
    """Case-insensitive substring of the body."""
    min_severity: int | None = None
    """Only records with ``severity_number`` at or above this (drops records without)."""
    services: tuple[str, ...] = ()
    """Only these services (empty: all)."""
    trace_id: str | None = None
    """Only this trace (normalised: 32 lowercase hex digits)."""
    grep: str | None = None
    """A regular expression (DuckDB/RE2 syntax) the body must match."""
    window: TimeWindow = field(default_factory=TimeWindow)
    """The resolved time window."""

    @classmethod
    def from_options(
        cls,
        *,
        text: str | None = None,
        level: str | int | None = None,
        services: tuple[str, ...] | list[str] | None = None,
        trace: str | None = None,
        grep: str | None = None,
        window: TimeWindow | None = None,
    ) -> LogFilter:
        """Build a filter from user input, validating and normalising each value.

        Raises:
            UsageError: a bad level or trace id (the regex is checked against the store
                by ``search``/``histogram``, as DuckDB's RE2 is the judge).
        """
        return cls(
            text=text or None,
            min_severity=parse_level(level) if level not in (None, "") else None,
            services=tuple(s for s in (services or ()) if s),
            trace_id=normalise_trace_id(trace) if trace else None,
            grep=grep or None,
            window=window or TimeWindow(),
        )


def _like_pattern(text: str) -> str:
    r"""``text`` as an ILIKE substring pattern, with ``\``, ``%`` and ``_`` escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(filt: LogFilter, *, timed: bool = False) -> tuple[str, dict[str, Any]]:
    """WHERE clause over ``logs`` (unqualified columns) and its bound parameters.

    Only fixed clause strings are joined here; every value is a ``$name`` parameter.
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if timed:
        clauses.append("timestamp IS NOT NULL")
    if filt.window.start_ns is not None:
        clauses.append("timestamp >= make_timestamp_ns($start_ns)")
        params["start_ns"] = filt.window.start_ns
    if filt.window.end_ns is not None:
        clauses.append("timestamp < make_timestamp_ns($end_ns)")
        params["end_ns"] = filt.window.end_ns
    if filt.min_severity is not None:
        clauses.append("severity_number >= $min_severity")
        params["min_severity"] = filt.min_severity
    if filt.services:
        clauses.append("list_contains($services::VARCHAR[], service_name)")
        params["services"] = list(filt.services)
    if filt.trace_id is not None:
        clauses.append("trace_id = $trace_id")
        params["trace_id"] = filt.trace_id
    if filt.text:
        clauses.append("body ILIKE $text ESCAPE '\\'")
        params["text"] = _like_pattern(filt.text)
    if filt.grep:
        clauses.append("regexp_matches(body, $grep)")
        params["grep"] = filt.grep
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _check_regex(store: Store, pattern: str | None) -> None:
    if not pattern:
        return
    try:
        store.scalar(CHECK_REGEX_SQL, {"p": pattern})
    except QueryError as exc:
        reason = str(exc).split(":", 1)[-1].strip()
        raise UsageError(
            f"--grep {pattern!r} is not a valid regular expression: {reason}"
        ) from None


CHECK_REGEX_SQL = "SELECT regexp_matches('', $p)"
"""Compiles a regular expression with DuckDB's engine (RE2) to validate it."""

# --------------------------------------------------------------------------- search

RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "l.timestamp"),
    ("level", LEVEL_SQL.replace("severity_number", "l.severity_number")),
    ("severity_text", "l.severity_text"),
    ("severity_number", "l.severity_number::INTEGER"),
    ("service", "l.service_name"),
    ("body", "l.body"),
    ("trace_id", "l.trace_id"),
    ("span_id", "l.span_id"),
    ("attributes", "l.attributes"),
    ("resource_attributes", "l.resource_attributes"),
    ("scope_name", "l.scope_name"),
    ("file", "s.path"),
    ("line", "l.line"),
    ("source_id", "l.source_id"),
)
"""The fields of a log record as ``search`` returns them: (output name, SQL expression).

The names are a public contract (``--format json|ndjson|csv``); add fields at the end.
"""

SEARCH_SQL = """
SELECT {columns}
FROM (SELECT *, rowid AS _row FROM logs {where}) AS l
LEFT JOIN sources AS s USING (source_id)
ORDER BY {order}
{limit}
"""
"""Matching records with their source file; ``{…}`` are filled only by ``_search_sql``."""

# rowid last: an OTLP line holds many records, and they keep their order in the file
_ORDER_FORWARD = "l.timestamp ASC NULLS LAST, l.source_id ASC, l.line ASC, l._row ASC"
_ORDER_REVERSE = "l.timestamp DESC NULLS FIRST, l.source_id DESC, l.line DESC, l._row DESC"

COUNT_SQL = "SELECT count(*) FROM logs {where}"
"""How many records match a filter."""


def _search_sql(filt: LogFilter, limit: int | None, reverse: bool) -> tuple[str, dict[str, Any]]:
    where, params = _where(filt)
    if limit is not None:
        params["limit"] = int(limit)
    sql = SEARCH_SQL.format(
        columns=", ".join(f"{expr} AS {name}" for name, expr in RECORD_COLUMNS),
        where=where,
        order=_ORDER_REVERSE if reverse else _ORDER_FORWARD,
        limit="LIMIT $limit" if limit is not None else "",
    )
    return sql, params


def search(
    store: Store,
    filt: LogFilter,
    *,
    limit: int | None = None,
    reverse: bool = False,
    patterns: bool = False,
) -> pa.Table:
    """The matching log records, in time order.

    Args:
        store: the open store.
        filt: which records.
        limit: at most this many (``None``: all).
        reverse: newest first.
        patterns: append each record's ``pattern_id`` and ``template`` (the patterns
            ``log_patterns.patterns`` reports for the same window and service).

    Returns:
        One row per record with the columns of ``RECORD_COLUMNS``: ``time``
        (timestamp[ns], UTC), ``level``, ``severity_text``, ``severity_number``,
        ``service``, ``body``, ``trace_id``, ``span_id``, ``attributes`` and
        ``resource_attributes`` (JSON), ``scope_name``, ``file``, ``line``, ``source_id``
        — then ``pattern_id`` and ``template`` with ``patterns``.

    Raises:
        UsageError: ``filt.grep`` is not a valid regular expression.
    """
    _check_regex(store, filt.grep)
    sql, params = _search_sql(filt, limit, reverse)
    table = store.query(sql, params)
    if patterns:
        labels = _labeler(store, filt)(table.column("body"))
        table = table.append_column("pattern_id", labels.column("pattern_id"))
        table = table.append_column("template", labels.column("template"))
    return table


def search_stream(
    store: Store,
    filt: LogFilter,
    *,
    limit: int | None = None,
    reverse: bool = False,
    patterns: bool = False,
    batch_rows: int = 65_536,
) -> pa.RecordBatchReader:
    """``search`` as a reader of record batches, for exports too large to hold at once.

    Read it while ``store`` is open. Same arguments and columns as ``search``; with
    ``patterns`` the window is mined once and each batch is labelled as it streams.
    """
    import pyarrow as pa

    _check_regex(store, filt.grep)
    label = _labeler(store, filt) if patterns else None
    sql, params = _search_sql(filt, limit, reverse)
    reader = store.stream(sql, params, batch_rows=batch_rows)
    if label is None:
        return reader
    schema = reader.schema.append(pa.field("pattern_id", pa.string())).append(
        pa.field("template", pa.string())
    )

    def labelled() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            labels = label(batch.column("body")).combine_chunks()
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, labels.column("pattern_id").chunk(0),
                 labels.column("template").chunk(0)],
                schema=schema,
            )  # fmt: skip

    return pa.RecordBatchReader.from_batches(schema, labelled())


def _labeler(store: Store, filt: LogFilter) -> Callable[[Any], pa.Table]:
    """Patterns of the filter's window (and its one service, if one is named)."""
    from obsctl.analysis import log_patterns

    return log_patterns.labeler(
        store,
        start_ns=filt.window.start_ns,
        end_ns=filt.window.end_ns,
        service=filt.services[0] if len(filt.services) == 1 else None,
    )


def count(store: Store, filt: LogFilter) -> int:
    """How many records match ``filt``.

    Raises:
        UsageError: ``filt.grep`` is not a valid regular expression.
    """
    _check_regex(store, filt.grep)
    where, params = _where(filt)
    return int(store.scalar(COUNT_SQL.format(where=where), params) or 0)


# --------------------------------------------------------------------------- paging

INDEX_SQL = """
SELECT rowid AS _row FROM logs {where}
ORDER BY timestamp ASC NULLS LAST, source_id ASC, line ASC, rowid ASC
"""
"""The row ids of the matching records in ``search``'s order (the pager's index)."""

RECORDS_AT_SQL = """
SELECT {columns}, l._row AS _row
FROM (SELECT *, rowid AS _row FROM logs WHERE rowid IN (SELECT unnest($rowids::BIGINT[]))) AS l
LEFT JOIN sources AS s USING (source_id)
"""
"""The records of some row ids (DuckDB pushes the row-id list into the scan)."""


def record_index(store: Store, filt: LogFilter) -> pa.Array:
    """The row ids of the records matching ``filt``, in ``search``'s order.

    A viewer over millions of records (the TUI's log table) asks for this once per
    filter, then fetches any page with ``records_at``: a page in the middle costs as
    little as the first one, where ``OFFSET`` would sort everything before it again
    (measured on 3M records: ~0.3 s for the index, ~5 ms per page, against ~3 s for
    an ``OFFSET`` of 1.5M). The index holds 8 bytes per record, never the records.

    Raises:
        UsageError: ``filt.grep`` is not a valid regular expression.
    """
    _check_regex(store, filt.grep)
    where, params = _where(filt)
    return store.query(INDEX_SQL.format(where=where), params).column("_row").combine_chunks()


def records_at(store: Store, rowids: Any) -> pa.Table:
    """The records of ``rowids`` (from ``record_index``), in that order.

    Args:
        store: the open store.
        rowids: a sequence or Arrow/NumPy array of row ids (one page: hundreds).

    Returns:
        The columns of ``search`` (``RECORD_COLUMNS``), one row per id found.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(rowids, pa.int64()) if not isinstance(rowids, pa.Array) else rowids
    columns = ", ".join(f"{expr} AS {name}" for name, expr in RECORD_COLUMNS)
    table = store.query(RECORDS_AT_SQL.format(columns=columns), {"rowids": ids.to_pylist()})
    position = pc.index_in(table.column("_row"), value_set=ids)
    return table.take(pc.sort_indices(position)).drop_columns(["_row"])


# --------------------------------------------------------------------------- first error


@dataclass(frozen=True)
class LogRecord:
    """One log record, as evidence: when, how bad, where it was written, what it said."""

    time_ns: int | None
    """Timestamp, ns since the epoch (UTC)."""
    level: str | None
    """Canonical level (TRACE…FATAL)."""
    severity_text: str | None
    """The level as written."""
    service: str | None
    """Service name."""
    body: str | None
    """The message."""
    trace_id: str | None
    """Trace id (32 hex), if the record carries one."""
    span_id: str | None
    """Span id (16 hex), if any."""
    file: str | None
    """Path of the source file."""
    line: int | None
    """1-based line in that file."""
    source_id: int
    """The source (``sources.source_id``)."""

    @property
    def location(self) -> str:
        """``file:line`` (or just the file when the format has no lines)."""
        where = self.file or f"source {self.source_id}"
        return f"{where}:{self.line}" if self.line is not None else where


def first_error(
    store: Store, window: TimeWindow | None = None, *, services: tuple[str, ...] = ()
) -> LogRecord | None:
    """The earliest record at ERROR or above, with its file:line.

    Args:
        store: the open store.
        window: only look inside this window (default: all the data).
        services: only these services (default: all).

    Returns:
        The record, or ``None`` when no record in the window is an error.
    """
    filt = LogFilter(min_severity=LEVELS["ERROR"], services=services, window=window or TimeWindow())
    table = search(store, filt, limit=1)
    if table.num_rows == 0:
        return None
    import pyarrow as pa

    ns = table.column("time").cast(pa.int64())[0].as_py()
    row = table.drop_columns(["time"]).to_pylist()[0]
    return LogRecord(
        time_ns=ns,
        level=row["level"],
        severity_text=row["severity_text"],
        service=row["service"],
        body=row["body"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        file=row["file"],
        line=row["line"],
        source_id=row["source_id"],
    )


# --------------------------------------------------------------------------- histogram

SECOND = 1_000_000_000
NICE_BUCKETS_NS: tuple[int, ...] = tuple(
    int(v)
    for v in (
        SECOND // 1000,
        SECOND // 500,
        SECOND // 200,
        SECOND // 100,
        SECOND // 50,
        SECOND // 20,
        SECOND // 10,
        SECOND // 5,
        SECOND // 2,
        SECOND,
        2 * SECOND,
        5 * SECOND,
        10 * SECOND,
        15 * SECOND,
        30 * SECOND,
        60 * SECOND,
        2 * 60 * SECOND,
        5 * 60 * SECOND,
        10 * 60 * SECOND,
        15 * 60 * SECOND,
        30 * 60 * SECOND,
        3600 * SECOND,
        2 * 3600 * SECOND,
        3 * 3600 * SECOND,
        6 * 3600 * SECOND,
        12 * 3600 * SECOND,
        86400 * SECOND,
        2 * 86400 * SECOND,
        7 * 86400 * SECOND,
        14 * 86400 * SECOND,
        30 * 86400 * SECOND,
    )
)
"""Bucket widths a histogram may pick (1ms … 30d), each at most 2.5× the previous."""

TARGET_BUCKETS = (40, 80)
"""How many buckets an automatic width aims for (inclusive)."""

MAX_BUCKETS = 10_000
"""More buckets than this is refused: ``--bucket`` too fine for the range."""


def bucket_count(start_ns: int, end_ns: int, width_ns: int) -> int:
    """Epoch-aligned buckets of ``width_ns`` needed to cover ``[start_ns, end_ns)``."""
    first = start_ns // width_ns
    last = max(start_ns, end_ns - 1) // width_ns
    return int(last - first + 1)


def choose_bucket(start_ns: int, end_ns: int) -> int:
    """The nice bucket width for ``[start_ns, end_ns)``.

    Picks the width whose bucket count lies in ``TARGET_BUCKETS`` closest to 60; when no
    nice width lands in that band (the band is narrower than some steps), the finest
    width that gives at most the band's maximum.
    """
    lo, hi = TARGET_BUCKETS
    middle = (lo + hi) / 2
    in_band = [w for w in NICE_BUCKETS_NS if lo <= bucket_count(start_ns, end_ns, w) <= hi]
    if in_band:
        # closest to the middle; on a tie the coarser width (wider bars read better)
        return min(in_band, key=lambda w: (abs(bucket_count(start_ns, end_ns, w) - middle), -w))
    for w in NICE_BUCKETS_NS:
        if bucket_count(start_ns, end_ns, w) <= hi:
            return w
    return NICE_BUCKETS_NS[-1]


def parse_bucket(text: str) -> int:
    """A ``--bucket`` value (``1m``, ``30s``, ``500ms``…) in nanoseconds.

    Raises:
        UsageError: not a positive duration.
    """
    ns = parse_duration(text)
    if not ns or ns <= 0:
        raise UsageError(f"--bucket {text!r} is not a positive duration (e.g. 10s, 1m, 1h)")
    return ns


@dataclass(frozen=True)
class Histogram:
    """Log records counted per time bucket and level."""

    bucket_ns: int
    """Bucket width in nanoseconds."""
    table: pa.Table
    """``bucket`` (timestamp[ns] start, UTC), ``level`` (TRACE…FATAL, NULL = no
    severity), ``count``; one row per bucket × level present, zero counts included,
    ordered by bucket then level from most severe."""
    start_ns: int | None = None
    """Start of the first bucket (``None``: nothing matched)."""
    end_ns: int | None = None
    """End of the last bucket (exclusive)."""
    total: int = 0
    """Records counted."""

    @property
    def buckets(self) -> int:
        """Number of buckets."""
        if self.start_ns is None or self.end_ns is None:
            return 0
        return (self.end_ns - self.start_ns) // self.bucket_ns


EXTENT_SQL = "SELECT epoch_ns(min(timestamp)), epoch_ns(max(timestamp)), count(*) FROM logs {where}"
"""First and last timestamp (ns) and count of the matching records."""

_RANK_SQL = """CASE
    WHEN severity_number >= 21 THEN 6
    WHEN severity_number >= 17 THEN 5
    WHEN severity_number >= 13 THEN 4
    WHEN severity_number >= 9 THEN 3
    WHEN severity_number >= 5 THEN 2
    WHEN severity_number >= 1 THEN 1
    ELSE 0
END"""

HISTOGRAM_SQL = """
WITH hit AS (
    SELECT (epoch_ns(timestamp) - $origin) // $width AS b, {rank} AS rank
    FROM logs {where}
),
counts AS (SELECT b, rank, count(*) AS n FROM hit GROUP BY b, rank),
ranks AS (SELECT DISTINCT rank FROM counts),
buckets AS (SELECT range AS b FROM range(0, $n))
SELECT make_timestamp_ns($origin + buckets.b * $width) AS bucket,
       CASE ranks.rank WHEN 6 THEN 'FATAL' WHEN 5 THEN 'ERROR' WHEN 4 THEN 'WARN'
            WHEN 3 THEN 'INFO' WHEN 2 THEN 'DEBUG' WHEN 1 THEN 'TRACE' END AS level,
       coalesce(counts.n, 0)::BIGINT AS count
FROM buckets CROSS JOIN ranks
LEFT JOIN counts ON counts.b = buckets.b AND counts.rank = ranks.rank
ORDER BY buckets.b, ranks.rank DESC
"""
"""Counts per epoch-aligned bucket × level, every bucket present for every level seen."""


def histogram(store: Store, filt: LogFilter, bucket: int | None = None) -> Histogram:
    """Count matching records per time bucket and level.

    The range is the filter's window where it is bounded, else the first/last matching
    record; the width is ``bucket`` or a nice width giving 40–80 buckets.

    Args:
        store: the open store.
        filt: which records.
        bucket: bucket width in ns (``None``: choose).

    Returns:
        The ``Histogram``; its table is empty when nothing matched.

    Raises:
        UsageError: invalid ``grep`` regex, or ``bucket`` would need more than
            ``MAX_BUCKETS`` buckets.
    """
    import pyarrow as pa

    _check_regex(store, filt.grep)
    where, params = _where(filt, timed=True)
    first, last, total = store.rows(EXTENT_SQL.format(where=where), params)[0]
    if not total:
        empty = pa.table(
            {
                "bucket": pa.array([], pa.timestamp("ns")),
                "level": pa.array([], pa.string()),
                "count": pa.array([], pa.int64()),
            }
        )
        return Histogram(bucket or choose_bucket(0, 1), empty)
    start = filt.window.start_ns if filt.window.start_ns is not None else int(first)
    end = filt.window.end_ns if filt.window.end_ns is not None else int(last) + 1
    width = bucket or choose_bucket(start, end)
    n = bucket_count(start, end, width)
    if n > MAX_BUCKETS:
        raise UsageError(
            f"--bucket is too fine: {n:,} buckets over this range (at most {MAX_BUCKETS:,})"
        )
    origin = (start // width) * width
    sql = HISTOGRAM_SQL.format(rank=_RANK_SQL, where=where)
    table = store.query(sql, {**params, "origin": origin, "width": width, "n": n})
    return Histogram(width, table, origin, origin + n * width, int(total))
