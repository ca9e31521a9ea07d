"""The bundle sink: streams the simulation's spans and log lines into their files.

``traffic.simulate`` hands records over as soon as they are final (see ``traffic.Sink``);
this sink opens every streamed file once the fleet is known (``start``), routes each
batch to the writers of its format and, on ``close``, closes the files and reports them.
Only the traces, the logs and the PostgreSQL log are streamed: metrics and profiles are
aggregates written after the run from the (small) request and retry lists.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from obsctl.demo import topology as topo
from obsctl.demo.traffic import Simulation
from obsctl.demo.writers import WrittenFile, open_text
from obsctl.demo.writers.otlp import LogWriter, TraceWriter
from obsctl.demo.writers.textlogs import PostgresWriter, ServiceLogWriter


class BundleSink:
    """A ``traffic.Sink`` writing ``traces/``, ``logs/`` of a bundle directory."""

    def __init__(self, out_dir: Path, *, gzip: bool) -> None:
        self._out_dir = out_dir
        self._gzip = gzip
        self._stack = ExitStack()
        self._traces: TraceWriter | None = None
        self._logs: list[Any] = []
        self._pg: PostgresWriter | None = None

    def _open(self, rel: str) -> tuple[Any, str]:
        return self._stack.enter_context(open_text(self._out_dir, rel, self._gzip))

    def start(self, sim: Simulation) -> None:
        self._traces = TraceWriter(*self._open("traces/otel-traces.jsonl"), sim)
        self._logs = [LogWriter(*self._open("logs/otel-logs.jsonl"), sim)]
        for svc in topo.SERVICES:
            if svc.logs in ("jsonl", "logfmt"):
                rel = f"logs/{svc.name}.{svc.logs}"
                self._logs.append(ServiceLogWriter(*self._open(rel), sim, svc.name))
        self._pg = PostgresWriter(*self._open("logs/postgres.log"), sim)

    def spans(self, records: list[tuple]) -> None:
        assert self._traces is not None
        self._traces.add(records)

    def logs(self, records: list[tuple]) -> None:
        for writer in self._logs:
            writer.add(records)

    def pg_logs(self, records: list[tuple]) -> None:
        assert self._pg is not None
        self._pg.add(records)

    def close(self) -> list[WrittenFile]:
        """Flush and close every file; the files written, in bundle order."""
        files: list[WrittenFile] = []
        for writer in (self._traces, *self._logs, self._pg):
            if writer is not None:
                files.extend(writer.close())
        self._stack.close()
        return files

    def abort(self) -> None:
        """Close the files after a failure (their content is incomplete)."""
        self._stack.close()
