"""What the store holds: per-signal counts, services and time extents, and the sources.

The per-signal queries are named here once; ``obsctl status``, the ingest summary and the
TUI overview all read these dataclasses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.store import Store

# signal → (table, time-start expression, time-end expression)
_SIGNALS: dict[str, tuple[str, str, str]] = {
    "logs": ("logs", "timestamp", "timestamp"),
    "metrics": ("metric_points", "timestamp", "timestamp"),
    "traces": ("spans", "start_time", "end_time"),
    "profiles": (
        "profiles",
        "time",
        "make_timestamp_ns(epoch_ns(time) + coalesce(duration_ns, 0))",
    ),
}


@dataclass(frozen=True)
class SignalSummary:
    """One signal's share of the store."""

    signal: str
    """logs, metrics, traces or profiles."""
    records: int
    """Rows: log records, metric points, spans, or profiles."""
    services: tuple[str, ...]
    """Distinct service names, sorted."""
    start: dt.datetime | None
    """Earliest timestamp (naive UTC), None if no record has one."""
    end: dt.datetime | None
    """Latest timestamp (naive UTC)."""
    sources: int
    """Number of files that contributed."""


@dataclass(frozen=True)
class Extent:
    """Services and time range of a set of records (all signals together)."""

    services: tuple[str, ...]
    start: dt.datetime | None
    end: dt.datetime | None


def signals(store: Store, source_ids: Sequence[int] | None = None) -> list[SignalSummary]:
    """Per-signal summaries, optionally restricted to some sources.

    A ClickHouse store answers for its whole tables (counted there, not in the working
    set): ``RemoteStore.summary``; a reader of its working set (the TUI's) describes what
    was read."""
    summary = getattr(store, "summary", None)
    if summary is not None and source_ids is None:
        return [
            SignalSummary(sig, n, svcs, _utc(lo), _utc(hi), k)
            for sig, n, svcs, lo, hi, k in summary()
        ]
    out = []
    for signal, (table, t0, t1) in _SIGNALS.items():
        where, params = _where_sources(source_ids)
        row = store.rows(
            f"SELECT count(*), min({t0})::TIMESTAMP, max({t1})::TIMESTAMP,"
            f" count(DISTINCT source_id) FROM {table} {where}",
            params,
        )[0]
        services = tuple(
            r[0]
            for r in store.rows(
                f"SELECT DISTINCT service_name FROM {table} {where}"
                f" {'AND' if where else 'WHERE'} service_name IS NOT NULL ORDER BY 1",
                params,
            )
        )
        out.append(SignalSummary(signal, int(row[0]), services, row[1], row[2], int(row[3])))
    return out


def extent(store: Store, source_ids: Sequence[int] | None = None) -> Extent:
    """Services and overall time range, optionally restricted to some sources."""
    if source_ids is not None and not source_ids:
        return Extent((), None, None)
    sigs = [s for s in signals(store, source_ids) if s.records]
    services = tuple(sorted({svc for s in sigs for svc in s.services}))
    starts = [s.start for s in sigs if s.start is not None]
    ends = [s.end for s in sigs if s.end is not None]
    return Extent(services, min(starts) if starts else None, max(ends) if ends else None)


def source_count(store: Store) -> tuple[int, int]:
    """(files loaded, records rejected across them)."""
    n, rejected = store.rows("SELECT count(*), coalesce(sum(rejected), 0) FROM sources")[0]
    return int(n), int(rejected)


def sources(store: Store) -> pa.Table:
    """Every loaded file: id, path, format, signal, records, rejected, bytes, loaded-at."""
    return store.query(
        "SELECT source_id, path, format, signal, records, rejected, bytes, service_name,"
        " ingested_at, content_hash FROM sources ORDER BY source_id"
    )


def rejects(store: Store, source_id: int | None = None, limit: int = 100) -> pa.Table:
    """Kept rejected records (path, line, reason, excerpt), optionally for one source."""
    where = "WHERE r.source_id = ?" if source_id is not None else ""
    params: list[object] = [source_id] if source_id is not None else []
    return store.query(
        f"SELECT s.path, r.line, r.reason, r.excerpt FROM rejects r"
        f" JOIN sources s USING (source_id) {where} ORDER BY r.source_id, r.line LIMIT ?",
        [*params, limit],
    )


def _utc(ns: int | None) -> dt.datetime | None:
    """Nanoseconds since the epoch → naive UTC datetime (as DuckDB's ::TIMESTAMP gives)."""
    if ns is None:
        return None
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=(ns + 500) // 1000)  # rounds


def _where_sources(source_ids: Sequence[int] | None) -> tuple[str, list[object]]:
    if source_ids is None:
        return "", []
    return "WHERE source_id IN (SELECT unnest(?::INTEGER[]))", [list(source_ids)]
