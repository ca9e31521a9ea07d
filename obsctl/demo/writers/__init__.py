"""Writers: the bundle's files, all derived from one ``Simulation``.

Spans and log lines are streamed while the simulation runs (``sink.BundleSink`` routes
them to ``otlp.TraceWriter``/``LogWriter`` and ``textlogs.ServiceLogWriter``/
``PostgresWriter``, each ``add(records)`` then ``close() -> list[WrittenFile]``); the
aggregates are written after it by ``write(sim, out_dir, *, gzip)`` functions
(``otlp.write_metrics``, ``prometheus.write``, ``pprof.write``). They share the helpers
here: ``open_text`` (plain or deterministic gzip: ``mtime=0``, no file name in the
header, so the same content always gives the same bytes with a given zlib), time
formatting, and ``resource_of`` (the OpenTelemetry resource of a pod).

Writers never draw from the simulation's random streams; the few that add noise of
their own (metrics, profiles) take a dedicated generator from ``Simulation.rng``.
"""

from __future__ import annotations

import gzip as _gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from obsctl.demo import topology as topo
from obsctl.demo.traffic import Instance

GZIP_LEVEL = 6
"""zlib level of ``--gzip`` output: level 9 is ~3× slower for ~3 % smaller files."""


@dataclass(frozen=True)
class WrittenFile:
    """One file of the bundle."""

    path: str
    """Relative to the bundle directory, ``/``-separated."""
    format: str
    """The ``obsctl ingest`` format that reads it."""
    signal: str
    records: int
    """Records in it, counted as ``obsctl ingest`` counts them (profiles: 1)."""


@contextmanager
def open_text(out_dir: Path, rel: str, gzip: bool) -> Iterator[tuple[IO[str], str]]:
    """Open ``out_dir/rel`` (``.gz`` appended when gzip) for writing text.

    Yields ``(stream, relative path written)``.
    """
    rel_out = rel + ".gz" if gzip else rel
    path = out_dir / rel_out
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        if gzip:
            with (
                _gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
                ) as gz,
                io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as text,
            ):
                yield text, rel_out
        else:
            with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text:
                yield text, rel_out


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip of a byte string (``mtime=0``, no name)."""
    buf = io.BytesIO()
    with _gzip.GzipFile(
        filename="", mode="wb", fileobj=buf, compresslevel=GZIP_LEVEL, mtime=0
    ) as gz:
        gz.write(data)
    return buf.getvalue()


def iso_ms(ns: int) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-03-26T16:12:00.123Z``."""
    s, rem = divmod(ns, 1_000_000_000)
    return (
        datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem // 1_000_000:03d}Z"
    )


def iso_us(ns: int) -> str:
    """RFC 3339 UTC with microseconds: ``2026-03-26T16:12:00.123456Z``."""
    s, rem = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem // 1000:06d}Z"


SDK_VERSIONS = {"go": "1.35.0", "java": "1.48.0", "nodejs": "1.30.1", "python": "1.30.0"}


def resource_of(inst: Instance) -> list[tuple[str, str]]:
    """The OpenTelemetry resource attributes of a pod (as its SDK would report them)."""
    svc = topo.SERVICE[inst.service]
    return [
        ("service.name", inst.service),
        ("service.namespace", "shop"),
        ("service.version", inst.version),
        ("service.instance.id", inst.pod),
        ("deployment.environment.name", "production"),
        ("host.name", inst.host),
        ("k8s.namespace.name", "shop"),
        ("k8s.pod.name", inst.pod),
        ("telemetry.sdk.language", svc.language),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.version", SDK_VERSIONS[svc.language]),
    ]
