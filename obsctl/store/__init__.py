"""The local store: one DuckDB file holding every loaded signal.

``Store`` owns the DuckDB connection. It maps DuckDB's file-lock error to ``StoreLocked``
(one clear line naming the lock, instead of a traceback), applies pending migrations when
opened for writing, and exposes two ways to read: ``query`` (Arrow, for analysis) and
``rows`` (Python tuples, for small look-ups). Analysis modules run named SQL through these
methods with bound parameters; nothing outside this package builds a connection.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsctl.errors import QueryError, StoreLocked, StoreNotFound, UsageError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

DEFAULT_STORE = Path(".obsctl") / "store.duckdb"
"""Where the store lives when neither ``--store`` nor ``OBSCTL_STORE`` says otherwise."""

STORE_ENV = "OBSCTL_STORE"

MEMORY_ENV = "OBSCTL_MEMORY_LIMIT"
DEFAULT_MEMORY = "1GB"
"""DuckDB's memory limit unless ``$OBSCTL_MEMORY_LIMIT`` says otherwise (e.g. ``4GB``)."""

SIGNAL_TABLES = {
    "logs": "logs",
    "traces": "spans",
    "metrics": "metric_points",
    "profiles": "profile_samples",
}
"""Signal name → the table holding its records."""


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The store path: the explicit one, else ``$OBSCTL_STORE``, else ``./.obsctl/store.duckdb``."""
    if path:
        return Path(path)
    env = os.environ.get(STORE_ENV)
    return Path(env) if env else DEFAULT_STORE


_LOCK_RE = re.compile(r"held in (?P<holder>.*?) \(PID (?P<pid>\d+)\)")


def _lock_error(path: Path, exc: Exception) -> StoreLocked:
    m = _LOCK_RE.search(str(exc))
    holder = ""
    if m:
        program = os.path.basename(m.group("holder"))
        holder = (
            f" by process {m.group('pid')} ({program})"
            if program
            else f" by process {m.group('pid')}"
        )
    return StoreLocked(
        f"store {path} is locked{holder} (another obsctl is writing to it); "
        "wait for it to finish or use --store to pick another store"
    )


class Store:
    """An open obsctl store.

    Use ``Store.open(path, read_only=...)`` (or as a context manager) rather than the
    constructor. ``obsctl.store.clickhouse.remote.RemoteStore`` is the same interface over a
    ClickHouse or chDB store.
    """

    engine: str = "duckdb"
    """``duckdb`` here; ``clickhouse`` or ``chdb`` for a ``RemoteStore``."""
    data_end: int | None = None
    """When set, the end of the data (ns) that relative times count back from, in place of
    the latest record present (a remote store's working set holds only part of the data)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        """The DuckDB connection (public for ``obsctl sql`` and ingest's bulk SQL)."""
        self.path = path
        """The database file."""
        self.read_only = read_only
        """Whether the connection refuses writes."""

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Store:
        """Open (and for writing, create and migrate) the store.

        Args:
            path: database file; ``None`` resolves through ``resolve_path``.
            read_only: open without the write lock; the store must already exist.

        Raises:
            StoreNotFound: ``read_only`` and there is no store at ``path``.
            StoreLocked: another process holds the write lock.
        """
        import duckdb  # deferred: duckdb costs ~100 ms to import (keeps --help fast)

        from obsctl.store import migrations, sqlfuncs
        from obsctl.store.url import parse

        url = parse(path)
        if url.remote:
            raise UsageError(
                f"{url.display} is a ClickHouse store: read commands work on it, but obsctl"
                " only writes a local DuckDB store (push one into ClickHouse with"
                f" 'obsctl export --to {url.display}')"
            )
        p = resolve_path(url.path)
        if read_only and not p.exists():
            raise StoreNotFound(f"no store at {p}; load telemetry first with 'obsctl ingest PATH'")
        if not read_only:
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(p), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise _lock_error(p, exc) from None
            raise QueryError(f"cannot open store {p}: {exc}") from None
        store = cls(con, p, read_only)
        # DuckDB draws its own progress bar on stdout for long queries: never in obsctl.
        con.execute("SET enable_progress_bar = false")
        # A bounded buffer pool keeps ingest's peak memory well under the input size;
        # larger sorts and joins spill to disk instead of growing the process.
        con.execute("SET memory_limit = ?", [os.environ.get(MEMORY_ENV, DEFAULT_MEMORY)])
        sqlfuncs.register(con)
        if read_only:
            if migrations.pending(con):
                # An older store: migrate it once with a write connection, then reopen.
                con.close()
                cls.open(p, read_only=False).close()
                return cls.open(p, read_only=True)
        else:
            migrations.apply(con)
        return store

    @property
    def location(self) -> str:
        """Where the store is, for people: the file, or the ClickHouse URL (no password)."""
        return str(self.path)

    def fetch_traces(self, trace_ids: list[str]) -> int:
        """Make sure whole traces are present (a remote store fetches them by id; a local
        store holds everything already). Returns the number of spans fetched."""
        return 0

    def close(self) -> None:
        """Close the connection (idempotent)."""
        try:
            self.con.close()
        except Exception:
            pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: commit on success, roll back on any exception."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a read query with bound parameters and return the result as an Arrow table.

        Columns of DuckDB type ``JSON`` carry the field metadata ``{"obsctl.json": "1"}``
        so that output writers can embed them as JSON rather than as strings.
        """
        import duckdb

        try:
            rel = self.con.sql(sql, params=params)
            if rel is None:  # a statement without a result set
                import pyarrow as pa

                return pa.table({})
            table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
            types = [str(t) for t in rel.types]
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None
        if "JSON" in types:
            fields = [
                f.with_metadata({"obsctl.json": "1"}) if t == "JSON" else f
                for f, t in zip(table.schema, types, strict=False)
            ]
            import pyarrow as pa

            table = table.cast(pa.schema(fields))
        return table

    def stream(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        *,
        batch_rows: int = 65_536,
    ) -> pa.RecordBatchReader:
        """Like ``query``, but as a reader of record batches, for results too large to
        hold at once (exports of millions of rows). Read it before the store is closed.

        JSON columns carry the same ``obsctl.json`` field metadata as in ``query``.
        """
        import duckdb
        import pyarrow as pa

        try:
            rel = self.con.sql(sql, params=params)
            types = [str(t) for t in rel.types]
            reader = rel.to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None
        if "JSON" not in types:
            return reader
        schema = pa.schema(
            [
                f.with_metadata({"obsctl.json": "1"}) if t == "JSON" else f
                for f, t in zip(reader.schema, types, strict=False)
            ]
        )

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def rows(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run a query with bound parameters and return all rows as tuples (small results)."""
        import duckdb

        try:
            cur = self.con.execute(sql, params) if params is not None else self.con.execute(sql)
            return cur.fetchall()
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or ``None``."""
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An engine's error as one line for ``obsctl: error:``: DuckDB messages span lines
    (with a caret under the SQL), ClickHouse's carry a stack trace; keep the first
    informative line, at most ``limit`` characters."""
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


def open_read(
    location: str | os.PathLike[str] | None,
    *,
    since: str | None = None,
    until: str | None = None,
    baseline: str | None = None,
    compares: bool = False,
    services: Sequence[str] = (),
    signals: Sequence[str] = ("logs", "traces", "metrics"),
    locate: Callable[[Store], tuple[int, int, int] | None] | None = None,
) -> Store:
    """Open ``--store`` (a path or URL, see ``obsctl.store.url``) for reading.

    A DuckDB store opens as it is. A ClickHouse or chDB store is read into a working set
    holding what the command needs: ``signals`` over the window ``since``/``until`` (the
    same texts the command resolves later), widened to the baseline when the command
    ``compares`` (``--baseline``, or everything before ``--since`` by default), and for logs
    and metrics only ``services`` when given. The store's ``loaded`` attribute then
    describes the read.

    ``locate`` is for commands that find their own window (``investigate``): when no
    window is given and the store is too big to read whole, it is called on the connected,
    still empty store (whose heavy queries run in ClickHouse) and returns ``(baseline
    start, window start, window end)``; the window is read, and as much of the baseline
    as fits under the row cap (``RemoteStore.fit_start``), instead of the last hour. The
    store's ``located`` attribute keeps ``(read from, window start, window end)``.

    Raises:
        StoreNotFound, StoreLocked, UsageError, QueryError: as the engine reports them.
    """
    from obsctl.store.url import parse

    url = parse(location)
    if not url.remote:
        return Store.open(url.path, read_only=True)
    from obsctl.store.clickhouse.remote import RemoteStore, Scope
    from obsctl.timewindow import WindowSpec, baseline_window

    spec = WindowSpec.parse(since, until)
    store = RemoteStore.connect(url)
    try:
        end = store.remote_end_ns()
        window = spec.resolve_at(end)
        start, stop = window.start_ns, window.end_ns
        if compares and start is not None:
            base = baseline_window(baseline, window, end)
            start = base.start_ns if base is not None else start
        explicit = since is not None or until is not None
        if not explicit and locate is not None and not store.fits(tuple(signals)):
            span = locate(store)
            if span is not None:
                lo, begin, stop = span
                start = store.fit_start(lo, begin, stop, tuple(signals))
                store.located, explicit = (start, begin, stop), True
        store.loaded = store.load(
            Scope(
                start_ns=start,
                end_ns=stop,
                services=tuple(services),
                signals=tuple(signals),
                explicit=explicit,
            )
        )
    except BaseException:
        store.close()
        raise
    return store
