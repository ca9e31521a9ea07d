"""Loading telemetry files into the store.

``ingest_paths`` is the one entry point (the CLI, ``investigate`` and the TUI call it).
For each file it hashes the raw bytes (the idempotency key), skips content already in
``sources``, detects the format from content, and loads it in **one transaction**: the
``sources`` row, the records and the kept rejects commit together or not at all, so a file
that fails half-way leaves the store exactly as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from obsctl.errors import FormatNotDetected, IngestError, ObsctlError
from obsctl.ingest.base import LoadContext, Reject

if TYPE_CHECKING:
    from obsctl.ingest.files import Source
    from obsctl.store import Store


@dataclass(frozen=True)
class FileReport:
    """What happened to one input file."""

    path: str
    """The file as the user named it (``-`` for stdin)."""
    status: str
    """``loaded``, ``already-loaded``, ``skipped`` (found by a directory walk or glob but
    not telemetry: format not recognised, or empty) or ``failed``."""
    format: str | None = None
    """The format detected or forced."""
    signal: str | None = None
    """The signal it filled."""
    records: int = 0
    """Records loaded."""
    rejected: int = 0
    """Records rejected (counted even past the kept sample)."""
    unit: str = "records"
    """What ``records`` counts."""
    bytes: int = 0
    """Raw size of the file."""
    rejects: tuple[Reject, ...] = ()
    """The kept rejected records (the first ``MAX_KEPT_REJECTS``)."""
    error: str | None = None
    """Why the file failed, when it did."""
    source_id: int | None = None
    """The ``sources`` row (new or pre-existing)."""

    @property
    def first_reject(self) -> Reject | None:
        """The first rejected record, for the summary."""
        return self.rejects[0] if self.rejects else None


@dataclass
class IngestReport:
    """The outcome of one ``ingest_paths`` call."""

    files: list[FileReport] = field(default_factory=list)
    """One entry per input file, in input order."""

    @property
    def failed(self) -> list[FileReport]:
        """Files that could not be loaded."""
        return [f for f in self.files if f.status == "failed"]

    @property
    def records(self) -> int:
        """Records loaded by this call."""
        return sum(f.records for f in self.files)

    @property
    def rejected(self) -> int:
        """Records rejected by this call."""
        return sum(f.rejected for f in self.files)


class EmptyInput(IngestError):
    """The file holds no bytes."""


ProgressFn = Callable[[str, int, int], None]
"""``progress(display_name, bytes_done_in_file, file_size)``."""


def ingest_paths(
    store: Store,
    paths: Sequence[str],
    *,
    format: str | None = None,
    service: str | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Load files, directories, globs and ``-`` (stdin) into the store.

    Args:
        store: a store opened for writing.
        paths: what the user named; directories are walked recursively.
        format: force this format for every file instead of detecting it.
        service: the service for records that name none (before the path-derived guess).
        progress: optional callback, see ``ProgressFn``.

    Returns:
        An ``IngestReport`` with one ``FileReport`` per file. A file that fails does not
        stop the others; the caller decides the exit status from ``report.failed``.

    Raises:
        InputNotFound: a path matched nothing (before anything is loaded).
        UsageError: ``format`` names no known format.
    """
    from obsctl.ingest import detect
    from obsctl.ingest.files import close_source, expand_paths, open_source

    forced = detect.by_name(format) if format else None
    files = expand_paths(list(paths))
    report = IngestReport()
    for spec, explicit in files:
        src = None
        try:
            src = open_source(spec)
            report.files.append(_ingest_one(store, src, forced, service, progress))
        except (FormatNotDetected, EmptyInput) as exc:
            report.files.append(
                FileReport(spec, "failed" if explicit else "skipped", error=str(exc))
            )
        except ObsctlError as exc:
            report.files.append(FileReport(spec, "failed", error=str(exc)))
        except OSError as exc:
            report.files.append(FileReport(spec, "failed", error=f"{spec}: {exc.strerror or exc}"))
        finally:
            if src is not None:
                close_source(src)
    return report


def _ingest_one(
    store: Store,
    src: Source,
    forced: object | None,
    service: str | None,
    progress: ProgressFn | None,
) -> FileReport:
    from obsctl.ingest import detect
    from obsctl.ingest.files import service_from_path

    # The fingerprint (size + both ends) rules out new content at once; only when it
    # matches a loaded file is the full hash needed before deciding.
    existing = []
    if store.scalar("SELECT count(*) FROM sources WHERE fingerprint = ?", [src.fingerprint]):
        existing = store.rows(
            "SELECT source_id, format, signal FROM sources WHERE content_hash = ?",
            [src.content_hash()],
        )
    if existing:
        sid, fmt, sig = existing[0]
        if progress:
            progress(src.display, src.size, src.size)
        return FileReport(
            src.display, "already-loaded", fmt, sig, 0, 0, bytes=src.size, source_id=sid
        )
    if src.size == 0:
        raise EmptyInput(f"{src.display}: file is empty")
    spec = forced or detect.detect(src.head, src.name, display=src.display)
    fallback = service or service_from_path(None if src.display == "-" else src.display)

    def on_progress(done: int) -> None:
        if progress:
            progress(src.display, done, src.size)

    with store.transaction() as con:
        sid = con.execute("SELECT nextval('source_id_seq')").fetchall()[0][0]
        ctx = LoadContext(con=con, source_id=sid, service=fallback, progress=on_progress)
        try:
            spec.load(src, ctx)
        except ObsctlError:
            raise
        except Exception as exc:  # a malformed file must not crash the whole ingest
            raise IngestError(f"{src.display}: cannot load as {spec.name}: {_brief(exc)}") from exc
        if ctx.records == 0 and ctx.rejected == 0:
            raise IngestError(f"{src.display}: no {spec.signal} records found (as {spec.name})")
        if ctx.kept_rejects:
            con.executemany(
                "INSERT INTO rejects VALUES (?, ?, ?, ?)",
                [[sid, r.line, r.reason, r.excerpt] for r in ctx.kept_rejects],
            )
        # The sources row goes in last: by now the loader has read the whole file, and
        # with it computed the content hash (no separate pass for large files).
        con.execute(
            "INSERT INTO sources (source_id, path, format, signal, content_hash, fingerprint,"
            " bytes, records, rejected, service_name, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
            [
                sid,
                _display_path(src.display),
                spec.name,
                spec.signal,
                src.content_hash(),
                src.fingerprint,
                src.size,
                ctx.records,
                ctx.rejected,
                fallback,
            ],
        )
    if progress:
        progress(src.display, src.size, src.size)
    return FileReport(
        src.display,
        "loaded",
        spec.name,
        spec.signal,
        ctx.records,
        ctx.rejected,
        ctx.unit,
        src.size,
        tuple(ctx.kept_rejects),
        source_id=sid,
    )


def _display_path(display: str) -> str:
    if display == "-":
        return "-"
    try:
        return os.path.relpath(display)
    except ValueError:
        return display


def _brief(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


__all__ = ["FileReport", "FormatNotDetected", "IngestReport", "ingest_paths"]
