"""Plain-text log files: cart's JSON lines, inventory's logfmt, PostgreSQL's server log.

* ``logs/cart.jsonl`` — what Java's logstash-logback-encoder writes: ``@timestamp``
  (ms), ``level``, ``service``, ``logger_name``, ``thread_name``, ``message``, MDC
  ``trace_id``/``span_id`` and any structured arguments as extra keys.
* ``logs/inventory.logfmt`` — go-kit's logfmt logger: ``ts`` (µs), ``level``,
  ``service``, ``caller``, ``msg`` then the key/value pairs, ids last.
* ``logs/postgres.log`` — ``log_line_prefix = '%m [%p] %q%u@%d '``: sessions show
  ``user@db``, background processes (checkpointer, autovacuum) nothing; ``DETAIL:``,
  ``CONTEXT:`` and ``STATEMENT:`` lines follow the line they explain, with the same
  prefix, as PostgreSQL writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO

import orjson

from obsctl.demo import topology as topo
from obsctl.demo.traffic import Simulation
from obsctl.demo.writers import WrittenFile, iso_ms, iso_us


class ServiceLogWriter:
    """``logs/<service>.jsonl`` or ``.logfmt`` of one service (a ``Sink`` part).

    ``add`` takes the time-ordered logs of every service and keeps this service's.
    """

    def __init__(self, out: IO[str], rel: str, sim: Simulation, service: str) -> None:
        self._out = out
        self._rel = rel
        self._service = service
        self._format = topo.SERVICE[service].logs
        self._pods = {i.idx: i.pod for i in sim.instances if i.service == service}
        self._count = 0

    def add(self, logs: list[tuple]) -> None:
        pods = self._pods
        line = self._jsonl if self._format == "jsonl" else self._logfmt
        lines = [line(rec, pods[rec[1]]) for rec in logs if rec[1] in pods]
        self._out.write("".join(lines))
        self._count += len(lines)

    def _jsonl(self, rec: tuple, pod: str) -> str:
        t, _inst, level, body, trace, sid, logger, attrs = rec
        out: dict[str, object] = {
            "@timestamp": iso_ms(t),
            "level": level,
            "service": self._service,
            "logger_name": logger or "main",
            "thread_name": f"grpc-default-executor-{int(sid[:2], 16) % 12}" if sid else "main",
            "message": body,
        }
        if trace:
            out["trace_id"] = trace
            out["span_id"] = sid
        out["pod"] = pod
        for k, v in attrs:
            out[k] = v
        return orjson.dumps(out).decode() + "\n"

    def _logfmt(self, rec: tuple, pod: str) -> str:
        t, _inst, level, body, trace, sid, logger, attrs = rec
        parts = [
            f"ts={iso_us(t)}",
            f"level={level.lower()}",
            f"service={self._service}",
            f"caller={_lf(logger or 'main.go:1')}",
            f"msg={_lf(body)}",
        ]
        parts.extend(f"{k}={_lf(v)}" for k, v in attrs)
        if trace:
            parts.append(f"trace_id={trace} span_id={sid}")
        return " ".join(parts) + "\n"

    def close(self) -> list[WrittenFile]:
        return [WrittenFile(self._rel, self._format, "logs", self._count)]


def _lf(value: object) -> str:
    """A logfmt value, quoted when it has to be."""
    s = str(value)
    if s == "" or any(c in s for c in ' ="\\') or any(ord(c) < 32 for c in s):
        return orjson.dumps(s).decode()
    return s


def _pg_time(ns: int) -> str:
    s, rem = divmod(ns, 1_000_000_000)
    return (
        datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%S")
        + f".{rem // 1_000_000:03d} UTC"
    )


class PostgresWriter:
    """``logs/postgres.log``: slow statements, lock waits, errors, checkpoints."""

    def __init__(self, out: IO[str], rel: str, sim: Simulation) -> None:
        self._out = out
        self._rel = rel
        self._count = 0

    def add(self, records: list[tuple]) -> None:
        lines = []
        for t, pid, who, level, msg, extra in records:
            prefix = f"{_pg_time(t)} [{pid}] {who + ' ' if who else ''}"
            lines.append(f"{prefix}{level}:  {msg}\n")
            lines.extend(f"{prefix}{lvl}:  {text}\n" for lvl, text in extra)
        self._out.write("".join(lines))
        self._count += len(records)

    def close(self) -> list[WrittenFile]:
        return [WrittenFile(self._rel, "postgres", "logs", self._count)]
