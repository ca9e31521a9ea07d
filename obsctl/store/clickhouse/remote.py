"""``RemoteStore``: a ClickHouse (or chDB) store, read through a local working set.

What runs where:

* In ClickHouse — every scan of the exporter tables: the window and service filters in the
  sort key's form (partition and primary-key pruning), column pruning, the Map → JSON and
  enum spellings (``queries``), table extents and row counts (part metadata), and trace
  look-ups by id through ``otel_traces_trace_id_ts``.
* In obsctl — the analyses themselves (span trees, critical paths, pattern mining,
  anomaly detection, ranking, reports), unchanged, over the rows of the window, which
  arrive as Arrow and are kept in an in-memory DuckDB with the local store's schema.

So a command costs one pruned read of its window and then runs exactly as on a local
store; the equality tests (``tests/store/test_clickhouse_equality.py``) hold every
analysis to the same answer on both. The working set is bounded: a window holding more
than ``$OBSCTL_REMOTE_MAX_ROWS`` rows (default 5,000,000) is refused with a message to
narrow ``--since``/``--service`` rather than exhausting the laptop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from obsctl.errors import QueryError, UsageError
from obsctl.store import DEFAULT_MEMORY, MEMORY_ENV, Store, one_line
from obsctl.store.clickhouse import queries
from obsctl.store.clickhouse.schema import Layout, TableInfo, probe

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.store.url import StoreURL

MAX_ROWS_ENV = "OBSCTL_REMOTE_MAX_ROWS"
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_LOOKBACK_NS = 3600 * 10**9
"""Without ``--since``, a store too big to load whole is read for its last hour."""

SPAN_END_LOOKBACK_NS = 3600 * 10**9
"""A trace table's last span end is looked for among spans starting in its last hour."""

SIGNALS = ("logs", "traces", "metrics")


@dataclass(frozen=True)
class Scope:
    """What a command needs from the remote store."""

    start_ns: int | None = None
    """Inclusive start (``None``: from the first record)."""
    end_ns: int | None = None
    """Exclusive end (``None``: through the last record)."""
    services: tuple[str, ...] = ()
    """Only these services' logs and metrics (spans are never cut by service: a trace
    needs all of its spans). Empty: every service."""
    signals: tuple[str, ...] = SIGNALS
    """Which record tables to fill."""
    explicit: bool = False
    """Whether the window came from the user (then it is never narrowed silently)."""


@dataclass(frozen=True)
class Loaded:
    """What a load fetched, for the note commands print on stderr."""

    start_ns: int | None
    end_ns: int | None
    rows: dict[str, int]
    narrowed: bool
    """The default window was cut to the last hour because the whole store is too big."""


@dataclass(frozen=True)
class TableExtent:
    records: int
    lo: int | None
    hi: int | None


_INSERT = {
    "logs": """
INSERT INTO logs BY NAME SELECT
    make_timestamp_ns(timestamp) AS timestamp,
    make_timestamp_ns(observed_timestamp) AS observed_timestamp,
    service_name, severity_text, severity_number::TINYINT AS severity_number, body,
    trace_id, span_id, attributes::JSON AS attributes,
    resource_attributes::JSON AS resource_attributes, scope_name,
    $source AS source_id
FROM _batch
""",
    "traces": """
INSERT INTO spans BY NAME SELECT
    trace_id, span_id, parent_span_id, trace_state, name, kind,
    make_timestamp_ns(start_time) AS start_time, make_timestamp_ns(end_time) AS end_time,
    duration_ns, status_code, status_message, service_name,
    attributes::JSON AS attributes, resource_attributes::JSON AS resource_attributes,
    scope_name, scope_version, events::JSON AS events, links::JSON AS links,
    $source AS source_id
FROM _batch
""",
    "metrics": """
INSERT INTO metric_points BY NAME SELECT
    metric_name, metric_type, unit, description, service_name,
    attributes::JSON AS attributes, resource_attributes::JSON AS resource_attributes,
    scope_name, make_timestamp_ns(timestamp) AS timestamp,
    make_timestamp_ns(start_timestamp) AS start_timestamp, value, is_monotonic,
    aggregation_temporality, count, sum, min, max,
    from_json(bucket_counts, '["DOUBLE"]') AS bucket_counts,
    from_json(explicit_bounds, '["DOUBLE"]') AS explicit_bounds,
    exp_scale, exp_zero_count, exp_positive_offset,
    from_json(exp_positive_counts, '["DOUBLE"]') AS exp_positive_counts,
    exp_negative_offset,
    from_json(exp_negative_counts, '["DOUBLE"]') AS exp_negative_counts,
    from_json(quantiles, '[{"quantile": "DOUBLE", "value": "DOUBLE"}]') AS quantiles,
    flags, $source AS source_id
FROM _batch
""",
}


class RemoteStore(Store):
    """A ClickHouse/chDB store: the exporter tables, read into a local working set.

    Use ``RemoteStore.connect(url)`` then ``load(scope)``; afterwards every analysis runs
    on it as on a local ``Store`` (``engine`` tells them apart).
    """

    def __init__(self, con: Any, url: StoreURL, client: Any, layout: Layout) -> None:
        super().__init__(con, url.path or os.path.devnull, read_only=True)  # type: ignore[arg-type]
        self.url = url
        self.engine = url.engine
        self.client = client
        self.layout = layout
        self.extents: dict[str, TableExtent] = {}
        self._sources: dict[str, int] = {}
        self._loaded_traces: set[str] = set()
        self.loaded: Loaded | None = None
        """What ``load`` fetched last (for the note commands print)."""
        self.located: tuple[int, int] | None = None
        """The span a ``locate`` callback chose to read, when the store was too big."""

    @classmethod
    def connect(cls, url: StoreURL) -> RemoteStore:
        """Connect, probe the exporter tables, read their extents; load nothing yet.

        Raises:
            StoreNotFound / UsageError / QueryError: see ``client.connect``; also when the
                database holds none of the exporter's tables.
        """
        import duckdb

        from obsctl.store import migrations, sqlfuncs
        from obsctl.store.clickhouse.client import connect

        client = connect(url)
        try:
            layout = probe(client, url)
        except Exception as exc:
            client.close()
            raise QueryError(f"cannot read {url.display}: {one_line(exc)}") from None
        if not layout.tables():
            client.close()
            raise UsageError(
                f"{url.display} has none of the OpenTelemetry exporter's tables "
                f"({url.logs_table}, {url.traces_table}, {url.metrics_table}_*) in database "
                f"{url.database!r}; load one with 'obsctl export --to {url.display}'"
            )
        con = duckdb.connect(":memory:")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET memory_limit = ?", [os.environ.get(MEMORY_ENV, DEFAULT_MEMORY)])
        sqlfuncs.register(con)
        migrations.apply(con)
        store = cls(con, url, client, layout)
        store._register_sources()
        return store

    @property
    def location(self) -> str:
        return self.url.display

    def reader(self) -> Store:
        """Another connection to the working set, for a thread of its own (the TUI's
        workers): same data, same data end, no remote look-ups."""
        other = Store(self.con.cursor(), self.path, read_only=True)
        other.engine = self.engine
        other.data_end = self.data_end
        return other

    def close(self) -> None:
        super().close()
        try:
            self.client.close()
        except Exception:
            pass

    # -- remote look-ups ---------------------------------------------------------------

    def remote_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Run a named ClickHouse query and return its rows."""
        try:
            return self.client.query(sql, parameters=params or {}).result_rows
        except Exception as exc:
            raise QueryError(f"{self.url.display}: {one_line(exc)}") from None

    def remote_arrow(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a named ClickHouse query and return Arrow."""
        try:
            return self.client.query_arrow(sql, parameters=params or {})
        except Exception as exc:
            raise QueryError(f"{self.url.display}: {one_line(exc)}") from None

    def table_extent(self, table: TableInfo) -> TableExtent:
        """Rows and first/last time of a whole exporter table (cached)."""
        if table.name not in self.extents:
            records, lo, hi = self.remote_rows(queries.extent_sql(self.layout, table))[0]
            if records and table is self.layout.traces:
                # a trace table's end is its last span *end*, as for a local store
                sql = queries.span_end_sql(self.layout, table)
                end = self.remote_rows(sql, {"lo": hi - SPAN_END_LOOKBACK_NS, "hi": hi + 1})
                hi = max(hi, end[0][0] or hi)
            self.extents[table.name] = TableExtent(
                int(records), int(lo) if records else None, int(hi) if records else None
            )
        return self.extents[table.name]

    def remote_end_ns(self) -> int | None:
        """The last record time over every exporter table."""
        his = [self.table_extent(t).hi for _, t in self.layout.tables()]
        his = [h for h in his if h is not None]
        return max(his) if his else None

    def remote_start_ns(self) -> int | None:
        los = [self.table_extent(t).lo for _, t in self.layout.tables()]
        los = [v for v in los if v is not None]
        return min(los) if los else None

    def extent_ns(self) -> tuple[int, int] | None:
        """First and last instant (ns) over the exporter tables — from where the working
        set starts when only part of the store was read, so baselines count what is there.
        (``investigate.data_extent`` on a ClickHouse store.)"""
        lo, hi = self.remote_start_ns(), self.remote_end_ns()
        if lo is None or hi is None:
            return None
        if self.loaded is not None and self.loaded.start_ns is not None:
            lo = max(lo, self.loaded.start_ns)
        return lo, hi

    def rate_tables(self, params: dict[str, Any]) -> tuple[pa.Table | None, pa.Table | None]:
        """The onset search's per-bucket log and span rates, computed in ClickHouse over
        ``[t0, t1)`` (``investigate._rate_matrix``): what makes finding the incident
        window cheap on a store far larger than the working set."""
        service = params.get("service")
        p = {"t0": params["t0"], "w": params["w"], "lo": params["t0"], "hi": params["t1"]}
        if service:
            p["service"] = service
        logs = spans = None
        if self.layout.logs is not None:
            sql = queries.log_rates_sql(self.layout, self.layout.logs, service=bool(service))
            logs = self.remote_arrow(sql, p)
        if self.layout.traces is not None:
            sql = queries.span_rates_sql(self.layout, self.layout.traces, service=bool(service))
            spans = self.remote_arrow(sql, p)
        return logs, spans

    def fit_start(self, lo: int, start: int, end: int, signals: tuple[str, ...]) -> int:
        """The earliest instant in ``[lo, start]`` from which ``[·, end)`` fits under the
        row cap: the window ``[start, end)`` whole, then as much of the stretch before it
        as fits, newest first (one per-bucket count per table, in ClickHouse). Returns
        ``start`` when not even the window fits (``load`` then says so)."""
        import numpy as np

        tables = [t for sig, t in self.layout.tables() if sig in signals]
        cap = max_rows()
        rows = sum(
            int(
                self.remote_rows(
                    queries.count_sql(self.layout, t, services=False), {"lo": start, "hi": end}
                )[0][0]
            )
            for t in tables
        )
        if rows >= cap or lo >= start:
            return start
        buckets = 200
        width = max(1, -(-(start - lo) // buckets))
        counts = np.zeros(buckets, dtype=np.int64)
        for t in tables:
            sql = queries.bucket_counts_sql(self.layout, t)
            for b, n in self.remote_rows(sql, {"t0": lo, "w": width, "lo": lo, "hi": start}):
                if 0 <= b < buckets:
                    counts[b] += n
        room = cap - rows
        # the latest bucket first: the baseline that fits is the stretch just before
        taken = np.cumsum(counts[::-1])
        fit = int(np.searchsorted(taken, room, side="right"))  # buckets that fit, from the end
        return start - fit * width if fit < buckets else lo

    def fits(self, signals: tuple[str, ...]) -> bool:
        """Whether the whole store's ``signals`` fit under the row cap."""
        total = sum(
            self.table_extent(t).records for sig, t in self.layout.tables() if sig in signals
        )
        return total <= max_rows()

    def services(self, table: TableInfo) -> list[str]:
        """Distinct non-empty service names of a whole exporter table."""
        return [r[0] for r in self.remote_rows(queries.services_sql(self.layout, table))]

    def summary(self) -> list[tuple[str, int, tuple[str, ...], int | None, int | None, int]]:
        """(signal, records, services, first ns, last ns, tables) of the whole store, for
        ``obsctl status``; profiles have no exporter table and count 0."""
        out = []
        for signal in ("logs", "metrics", "traces", "profiles"):
            tables = [t for sig, t in self.layout.tables() if sig == signal]
            extents = [self.table_extent(t) for t in tables]
            services = sorted({svc for t in tables for svc in self.services(t)})
            los = [e.lo for e in extents if e.lo is not None]
            his = [e.hi for e in extents if e.hi is not None]
            out.append(
                (
                    signal,
                    sum(e.records for e in extents),
                    tuple(services),
                    min(los) if los else None,
                    max(his) if his else None,
                    len(tables),
                )
            )
        return out

    # -- loading -----------------------------------------------------------------------

    def _register_sources(self) -> None:
        """One ``sources`` row per exporter table, so evidence can name where rows came from."""
        for i, (signal, table) in enumerate(self.layout.tables(), start=1):
            self.con.execute(
                "INSERT INTO sources (source_id, path, format, signal, content_hash,"
                " fingerprint, bytes, records, rejected, ingested_at)"
                " VALUES (?, ?, 'otel-clickhouse', ?, ?, '', 0, 0, 0, now()::TIMESTAMP)",
                [i, f"{self.url.display} {self.layout.database}.{table.name}", signal, table.name],
            )
            self._sources[table.name] = i

    def plan(self, scope: Scope) -> tuple[int | None, int | None, bool]:
        """The window a load will fetch: the scope's, or — without an explicit start — the
        whole store if it fits under the row cap, else its last hour."""
        start, end = scope.start_ns, scope.end_ns
        if scope.explicit or start is not None:
            return start, end, False
        total = sum(
            self.table_extent(t).records
            for signal, t in self.layout.tables()
            if signal in scope.signals
        )
        if total <= max_rows():
            return start, end, False
        last = self.remote_end_ns()
        if end is not None and last is not None:
            last = min(last, end)
        return (None if last is None else last - DEFAULT_LOOKBACK_NS), end, True

    def load(self, scope: Scope) -> Loaded:
        """Fill the working set for ``scope`` (pruned reads, Arrow in, no per-row Python).

        Raises:
            UsageError: the window holds more rows than ``$OBSCTL_REMOTE_MAX_ROWS``.
        """
        start, end, narrowed = self.plan(scope)
        lo = start if start is not None else (self.remote_start_ns() or 0)
        hi = end if end is not None else (self.remote_end_ns() or 0) + 1
        services = list(scope.services)
        targets: list[tuple[str, str, TableInfo]] = []
        if "logs" in scope.signals and self.layout.logs:
            sql = queries.logs_sql(self.layout, self.layout.logs, services=bool(services))
            targets.append(("logs", sql, self.layout.logs))
        if "traces" in scope.signals and self.layout.traces:
            targets.append(
                ("traces", queries.spans_sql(self.layout, self.layout.traces), self.layout.traces)
            )
        if "metrics" in scope.signals:
            for kind, table in self.layout.metrics.items():
                sql = queries.metrics_sql(self.layout, kind, table, services=bool(services))
                targets.append(("metrics", sql, table))
        params = {"lo": lo, "hi": hi, "services": services}
        cap = max_rows()
        counts: dict[str, int] = {}
        for signal, _, table in targets:
            cut = bool(services) and signal != "traces"
            sql = queries.count_sql(self.layout, table, services=cut)
            counts[table.name] = int(self.remote_rows(sql, params)[0][0])
        total = sum(counts.values())
        if total > cap:
            raise UsageError(
                f"{self.url.display}: the window holds {total:,} rows, more than the "
                f"{cap:,} obsctl reads into memory; narrow it with --since/--until or "
                f"--service (or raise ${MAX_ROWS_ENV})"
            )
        rows: dict[str, int] = {}
        for signal, sql, table in targets:
            n = self._insert(signal, table, sql, params) if counts[table.name] else 0
            rows[signal] = rows.get(signal, 0) + n
        if "traces" in scope.signals and self.layout.traces:
            self._loaded_traces.clear()
        # relative windows count back from the store's end, not the working set's
        self.data_end = self.remote_end_ns()
        return Loaded(start, end, rows, narrowed)

    def _insert(self, signal: str, table: TableInfo, sql: str, params: dict[str, Any]) -> int:
        batch = self.remote_arrow(sql, params)
        if batch.num_rows == 0:
            return 0
        self.con.register("_batch", batch)
        try:
            self.con.execute(_INSERT[signal], {"source": self._sources[table.name]})
        finally:
            self.con.unregister("_batch")
        self.con.execute(
            "UPDATE sources SET records = records + ? WHERE source_id = ?",
            [batch.num_rows, self._sources[table.name]],
        )
        return batch.num_rows

    def fetch_traces(self, trace_ids: list[str]) -> int:
        """Bring whole traces into the working set by id, wherever they lie in time
        (``otel_traces_trace_id_ts`` gives each trace's range; spans already present are
        replaced). Returns the number of spans fetched."""
        traces, index = self.layout.traces, self.layout.trace_index
        wanted = sorted({t.lower() for t in trace_ids} - self._loaded_traces)
        if not traces or not wanted:
            return 0
        if index is not None:
            bounds = self.remote_rows(
                queries.trace_bounds_sql(self.layout, index), {"trace_ids": wanted}
            )
        else:
            bounds = []
        if not bounds:
            ext = self.table_extent(traces)
            if ext.lo is None:
                return 0
            bounds = [(t, ext.lo, (ext.hi or 0) + 1) for t in wanted]
        lo = min(int(b[1]) for b in bounds)
        hi = max(int(b[2]) for b in bounds)
        ids = [b[0] for b in bounds]
        sql = queries.spans_sql(self.layout, traces, by_trace=True)
        self.con.execute("DELETE FROM spans WHERE trace_id IN (SELECT unnest(?))", [ids])
        n = self._insert("traces", traces, sql, {"lo": lo, "hi": hi, "trace_ids": ids})
        self._loaded_traces.update(wanted)
        return n


def max_rows() -> int:
    """The working-set row cap (``$OBSCTL_REMOTE_MAX_ROWS``)."""
    text = os.environ.get(MAX_ROWS_ENV, "")
    try:
        return int(text.replace("_", "")) if text else DEFAULT_MAX_ROWS
    except ValueError:
        raise UsageError(f"${MAX_ROWS_ENV}={text!r} is not a whole number") from None
