"""The contract between the ingest orchestrator and the format modules.

Each format module (``obsctl/ingest/<signal>_<format>.py``) exports ``FORMATS``, a list of
``FormatSpec``: a name, the signal it fills, a ``sniff`` that scores a file's first bytes
and a ``load`` that writes the file's records into the store through a ``LoadContext``.

``load`` runs inside the per-file transaction the orchestrator opened, so a module may
raise at any point and nothing of the file stays behind. Modules write in bulk: either
``ctx.append(table, arrow_table)`` (one INSERT per batch) or their own
``INSERT … SELECT`` over DuckDB readers or Arrow line batches (``Source.line_batches``),
never one INSERT per record. Records that cannot be read are reported with
``ctx.reject(line, reason, excerpt)`` (or in bulk with ``ctx.reject_many``); they are
counted, and the first ones are kept in the ``rejects`` table with their line number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from obsctl.ingest.files import Source

SIGNALS = ("logs", "metrics", "traces", "profiles")

MAX_KEPT_REJECTS = 1000
"""Rejects kept per file in the ``rejects`` table (all of them are counted)."""


@dataclass(frozen=True)
class Reject:
    """A record that could not be loaded."""

    line: int | None
    """1-based line (or record index for non-line formats) in the source; None if unknown."""
    reason: str
    """Why it was rejected, one short phrase."""
    excerpt: str = ""
    """The start of the offending text (at most 200 characters)."""


@dataclass(frozen=True)
class FormatSpec:
    """One input format: how to recognise it and how to load it."""

    name: str
    """Stable name shown in summaries and accepted by ``--format``."""
    signal: str
    """Which signal it fills: logs, metrics, traces or profiles."""
    description: str
    """One line for ``obsctl ingest --help`` and the README formats table."""
    sniff: Callable[[bytes, str], float]
    """``sniff(head, name) -> score`` in [0, 1]: how sure the first bytes (decompressed,
    UTF-8; at most 64 KiB) of a file called ``name`` are in this format. 0 = not it."""
    load: Callable[[Source, LoadContext], None]
    """Load the whole source through the context. Raise ``IngestError`` if the file is
    unusable as a whole; report individual bad records with ``ctx.reject``."""
    aliases: tuple[str, ...] = ()
    """Other names ``--format`` accepts for it."""


@dataclass
class LoadContext:
    """What a format module's ``load`` needs to write a file's records."""

    con: duckdb.DuckDBPyConnection
    """The store connection, inside this file's transaction."""
    source_id: int
    """The ``sources.source_id`` every row must carry."""
    service: str | None
    """Fallback service for records that name none (``--service``, else the path)."""
    records: int = 0
    """Records loaded so far (``append`` adds to it; SQL loaders add their own counts)."""
    rejected: int = 0
    """Records rejected so far."""
    kept_rejects: list[Reject] = field(default_factory=list)
    """The first ``MAX_KEPT_REJECTS`` rejects, stored with the source."""
    unit: str = "records"
    """What ``records`` counts, for the summary (``records``, ``profiles``…)."""
    progress: Callable[[int], None] | None = None
    """Called with the number of source bytes consumed so far, when known."""

    def append(self, table: str, data: pa.Table, *, count: bool = True) -> int:
        """Insert an Arrow table into a store table by column name.

        Columns the data lacks are NULL; ``source_id`` is added; a missing or null
        ``service_name`` takes the fallback service. Returns the rows inserted, which are
        added to ``records`` unless ``count`` is false (e.g. for a ``profiles`` header row).
        """
        if data.num_rows == 0:
            return 0
        cols = [c[0] for c in self.con.execute(f"DESCRIBE {table}").fetchall()]
        exprs = []
        params: dict[str, object] = {}
        for c in cols:
            if c == "source_id":
                exprs.append("$source_id AS source_id")
                params["source_id"] = self.source_id
            elif c == "service_name":
                fallback = "$service" if self.service is not None else "NULL"
                if self.service is not None:
                    params["service"] = self.service
                if c in data.column_names:
                    exprs.append(f"coalesce(service_name, {fallback}) AS service_name")
                else:
                    exprs.append(f"{fallback} AS service_name")
            elif c in data.column_names:
                exprs.append(f'"{c}"')
        self.con.register("_obsctl_append", data)
        self.con.execute(
            f"INSERT INTO {table} BY NAME SELECT {', '.join(exprs)} FROM _obsctl_append",
            params,
        )
        self.con.unregister("_obsctl_append")
        if count:
            self.records += data.num_rows
        return data.num_rows

    def reject(self, line: int | None, reason: str, excerpt: str | bytes = "") -> None:
        """Count one bad record and keep it (line, reason, excerpt) if under the cap."""
        self.rejected += 1
        if len(self.kept_rejects) < MAX_KEPT_REJECTS:
            if isinstance(excerpt, bytes):
                excerpt = excerpt.decode("utf-8", "replace")
            self.kept_rejects.append(Reject(line, reason, excerpt[:200]))

    def reject_many(self, total: int, sample: Iterable[Reject]) -> None:
        """Count ``total`` bad records at once, keeping the given sample (e.g. from SQL)."""
        self.rejected += total
        for r in sample:
            if len(self.kept_rejects) >= MAX_KEPT_REJECTS:
                break
            self.kept_rejects.append(Reject(r.line, r.reason, (r.excerpt or "")[:200]))


def json_dumps(value: Any) -> str:
    """Serialise a value for a JSON column (orjson; non-JSON values become strings)."""
    import orjson

    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
