"""SQL macros shared by every loader and query: one definition of the fiddly conversions.

They are created as TEMP macros on each connection ``Store.open`` makes, so bulk loaders
can convert in DuckDB (vectorised) instead of in Python:

``obsctl_ts(s VARCHAR) -> TIMESTAMP_NS``
    RFC 3339 / ISO 8601 (``T`` or space, 0–9 fraction digits, ``Z``, ``±hh:mm``, ``±hhmm``
    or no zone = UTC) and numeric epochs (seconds, ms, µs or ns chosen by magnitude).
    DuckDB's own cast silently ignores a ``+02:00`` offset, hence this macro. NULL when the
    text is not a time.
``obsctl_epoch(x DOUBLE) -> TIMESTAMP_NS``
    A numeric epoch in seconds, ms, µs or ns, told apart by magnitude (plausible dates
    between 1973 and 2286 in each unit).
``obsctl_epoch_int(x BIGINT) -> TIMESTAMP_NS``
    Same for integers, exact to the nanosecond.
``obsctl_severity(t VARCHAR) -> TINYINT``
    A level word (``warn``, ``Warning``, ``E``, ``err``, ``crit``, syslog names, numeric
    bunyan/pino levels…) → the OpenTelemetry severity number (1–24), NULL if unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

_MACROS = r"""
CREATE OR REPLACE TEMP MACRO obsctl_epoch_int(x) AS (
    CASE
        WHEN x IS NULL THEN NULL
        WHEN abs(x) < 100000000000 THEN make_timestamp_ns(x::BIGINT * 1000000000)
        WHEN abs(x) < 100000000000000 THEN make_timestamp_ns(x::BIGINT * 1000000)
        WHEN abs(x) < 100000000000000000 THEN make_timestamp_ns(x::BIGINT * 1000)
        ELSE make_timestamp_ns(x::BIGINT)
    END
);
CREATE OR REPLACE TEMP MACRO obsctl_epoch(x) AS (
    CASE
        WHEN x IS NULL OR isnan(x::DOUBLE) OR isinf(x::DOUBLE) THEN NULL
        WHEN abs(x) < 1e11 THEN make_timestamp_ns(round(x::DOUBLE * 1e9)::BIGINT)
        WHEN abs(x) < 1e14 THEN make_timestamp_ns(round(x::DOUBLE * 1e6)::BIGINT)
        WHEN abs(x) < 1e17 THEN make_timestamp_ns(round(x::DOUBLE * 1e3)::BIGINT)
        ELSE make_timestamp_ns(x::BIGINT)
    END
);
{OBSCTL_TS}
CREATE OR REPLACE TEMP MACRO obsctl_severity(t) AS (
    CASE
        WHEN t IS NULL THEN NULL
        WHEN regexp_full_match(trim(t::VARCHAR), '[0-9]+') THEN (
            CASE
                -- bunyan / pino numeric levels
                WHEN TRY_CAST(t AS INTEGER) >= 60 THEN 21
                WHEN TRY_CAST(t AS INTEGER) >= 50 THEN 17
                WHEN TRY_CAST(t AS INTEGER) >= 40 THEN 13
                WHEN TRY_CAST(t AS INTEGER) >= 30 THEN 9
                WHEN TRY_CAST(t AS INTEGER) >= 25 THEN NULL
                WHEN TRY_CAST(t AS INTEGER) = 20 THEN 5
                WHEN TRY_CAST(t AS INTEGER) = 10 THEN 1
                -- OpenTelemetry severity numbers pass through
                WHEN TRY_CAST(t AS INTEGER) BETWEEN 1 AND 24 THEN TRY_CAST(t AS INTEGER)
                ELSE NULL
            END)
        ELSE (
            CASE regexp_extract(lower(trim(t::VARCHAR)), '^([a-z]+)', 1)
                WHEN 'trace' THEN 1 WHEN 'finest' THEN 1 WHEN 'finer' THEN 2 WHEN 't' THEN 1
                WHEN 'debug' THEN 5 WHEN 'dbg' THEN 5 WHEN 'fine' THEN 5 WHEN 'd' THEN 5
                WHEN 'verbose' THEN 5 WHEN 'v' THEN 5 WHEN 'config' THEN 7
                WHEN 'info' THEN 9 WHEN 'inf' THEN 9 WHEN 'information' THEN 9
                WHEN 'informational' THEN 9 WHEN 'i' THEN 9 WHEN 'notice' THEN 10
                WHEN 'log' THEN 9 WHEN 'statement' THEN 9 WHEN 'detail' THEN 9 WHEN 'hint' THEN 9
                WHEN 'context' THEN 9
                WHEN 'warn' THEN 13 WHEN 'warning' THEN 13 WHEN 'wrn' THEN 13 WHEN 'w' THEN 13
                WHEN 'error' THEN 17 WHEN 'err' THEN 17 WHEN 'e' THEN 17 WHEN 'severe' THEN 17
                WHEN 'crit' THEN 21 WHEN 'critical' THEN 21 WHEN 'alert' THEN 22
                WHEN 'emerg' THEN 23 WHEN 'emergency' THEN 23 WHEN 'fatal' THEN 21
                WHEN 'f' THEN 21 WHEN 'panic' THEN 23 WHEN 'dpanic' THEN 21 WHEN 'c' THEN 21
                WHEN 'a' THEN 21 WHEN 'assert' THEN 21
                ELSE NULL
            END)
    END
);
"""


def ts_sql(v: str) -> str:
    """SQL turning the time text ``v`` into TIMESTAMP_NS: ``obsctl_ts`` without a subquery.

    ``…Z`` strings (the common RFC 3339 case) are cast directly, canonical integers go
    straight to ``obsctl_epoch_int``; the rest follows
    ``obsctl_ts``'s rules inline (integer epochs, decimal epochs, ISO 8601 with an
    optional ``Z``/``UTC``/``±hh[:]mm`` zone) so that only the rows needing them pay.
    """
    t = f"trim({v})"
    head = (
        f"regexp_extract({t}, '^([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}([T ][0-9]{{2}}:[0-9]{{2}}"
        f"(:[0-9]{{2}}([.,][0-9]+)?)?)?)', 1)"
    )
    zone = (
        f"regexp_extract(substr({t}, length({head}) + 1), "
        f"'^\\s*(Z|z|UTC|[+-][0-9]{{2}}:?[0-9]{{2}}|[+-][0-9]{{2}})$', 1)"
    )
    base = f"TRY_CAST(replace({head}, ',', '.') AS TIMESTAMP_NS)"
    zd = f"replace({zone}, ':', '')"
    return (
        f"CASE WHEN {v} IS NULL THEN NULL"
        f" WHEN ends_with({v}, 'Z') AND TRY_CAST({v} AS TIMESTAMP_NS) IS NOT NULL"
        f" THEN TRY_CAST({v} AS TIMESTAMP_NS)"
        f" WHEN TRY_CAST({v} AS BIGINT)::VARCHAR = {v}"
        f" THEN obsctl_epoch_int(TRY_CAST({v} AS BIGINT))"
        f" WHEN regexp_full_match({t}, '-?[0-9]{{1,19}}')"
        f" THEN obsctl_epoch_int(TRY_CAST({t} AS BIGINT))"
        f" WHEN regexp_full_match({t}, '-?[0-9]+\\.[0-9]*([eE][-+]?[0-9]+)?')"
        f" THEN obsctl_epoch(TRY_CAST({t} AS DOUBLE))"
        f" WHEN {base} IS NULL THEN NULL"
        f" WHEN {zone} = '' OR upper({zone}) IN ('Z', 'UTC') THEN {base}"
        f" ELSE make_timestamp_ns(epoch_ns({base})"
        f" - (CASE WHEN left({zone}, 1) = '-' THEN -1 ELSE 1 END)"
        f" * (TRY_CAST(substr({zd}, 2, 2) AS BIGINT) * 60"
        f" + coalesce(TRY_CAST(substr({zd}, 4, 2) AS BIGINT), 0)) * 60000000000) END"
    )


def trace_id_sql(v: str) -> str:
    """SQL: canonical trace id: 32 lowercase hex digits (shorter hex ids left-padded)."""
    return (
        f"CASE WHEN regexp_full_match({v}, '[0-9a-f]{{1,31}}') THEN lpad({v}, 32, '0') ELSE {v} END"
    )


def span_id_sql(v: str) -> str:
    """SQL: canonical span id: 16 lowercase hex digits (shorter hex ids left-padded)."""
    return (
        f"CASE WHEN regexp_full_match({v}, '[0-9a-f]{{1,15}}') THEN lpad({v}, 16, '0') ELSE {v} END"
    )


MACROS = _MACROS.replace(
    "{OBSCTL_TS}", f"CREATE OR REPLACE TEMP MACRO obsctl_ts(s) AS ({ts_sql('s')});"
)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros on a connection (idempotent; TEMP, so nothing is persisted)."""
    con.execute(MACROS)
