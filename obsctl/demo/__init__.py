"""The bundled demo incident: a realistic e-commerce outage in all four signals.

``generate(out_dir)`` writes an incident bundle laid out like a support bundle, in the
real export formats obsctl ingests::

    traces/otel-traces.jsonl        OTLP/JSON, collector file exporter (all services)
    logs/otel-logs.jsonl            OTLP/JSON logs (services logging through the collector)
    logs/cart.jsonl                 JSON lines (logstash-logback-encoder)
    logs/inventory.logfmt           logfmt (go-kit)
    logs/postgres.log               PostgreSQL server log
    metrics/otel-metrics.jsonl      OTLP/JSON metrics, every pod every 30 s
    metrics/node.prom               node_exporter scrapes every 15 s, with timestamps
    profiles/<service>/cpu-<unix>.pb.gz   pprof CPU profiles, per service per minute

The story is a ``Scenario`` (``obsctl.demo.scenario``; default ``payment-cpu``) played on
the shop of ``obsctl.demo.topology``. ``obsctl.demo.traffic`` simulates every request once
and the ``writers`` derive each file from that single simulation, so logs, metrics, traces
and profiles tell one consistent story. The output is deterministic: the same scenario,
scale and seed give byte-identical files (gzip included, for a given zlib).

This package is core code: it imports neither the CLI nor any terminal library
(``obsctl.cli.demo`` presents what ``generate`` returns).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from obsctl.demo.scenario import DEFAULT_SCENARIO, SCENARIOS, Scenario


@dataclass(frozen=True)
class DemoFile:
    """One file written."""

    path: str
    """Relative to the bundle directory, ``/``-separated."""
    format: str
    """The ``obsctl ingest`` format name that reads it."""
    signal: str
    records: int
    """Records as ``obsctl ingest`` counts them (a profile file is one record)."""
    bytes: int
    """Size on disk."""


@dataclass(frozen=True)
class DemoSummary:
    """What ``generate`` wrote."""

    out_dir: Path
    scenario: Scenario
    scale: float
    seed: int
    gzip: bool
    files: tuple[DemoFile, ...]
    requests: int
    """Customer requests simulated."""

    @property
    def bytes(self) -> int:
        """Total size on disk."""
        return sum(f.bytes for f in self.files)

    def records(self, signal: str) -> int:
        """Records of one signal (``traces`` counts spans, ``profiles`` profiles)."""
        return sum(f.records for f in self.files if f.signal == signal)


def generate(
    out_dir: str | Path,
    *,
    scenario: str = DEFAULT_SCENARIO,
    scale: float = 1,
    seed: int = 42,
    gzip: bool = False,
) -> DemoSummary:
    """Write the demo incident bundle into ``out_dir`` (created if needed).

    Args:
        out_dir: the bundle directory. Files an earlier run wrote there
            (``bundle_files``) are removed first; nothing else in it is touched.
        scenario: a name of ``SCENARIOS``.
        scale: multiplier of the request rates (1 ≈ 60 requests per minute; 50 gives
            millions of spans and log lines).
        seed: seed of every random stream; the same seed gives the same bytes.
        gzip: gzip the text files (``.gz`` appended); profiles are always gzipped.

    Returns:
        A ``DemoSummary`` listing every file with its format, records and size.

    Raises:
        UsageError: unknown scenario, or a scale or seed out of range.
    """
    from obsctl.demo import traffic
    from obsctl.demo.writers import otlp, pprof, prometheus
    from obsctl.demo.writers.sink import BundleSink
    from obsctl.errors import UsageError

    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    if not 0.01 <= scale <= 10_000:
        raise UsageError(f"scale must be between 0.01 and 10000, not {scale:g}")
    if not 0 <= seed < 2**63:
        raise UsageError(f"seed must be a non-negative integer, not {seed}")
    sc = SCENARIOS[scenario]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in bundle_files(out):  # e.g. plain files of an earlier run without --gzip
        stale.unlink()
    sink = BundleSink(out, gzip=gzip)
    try:
        sim = traffic.simulate(sc, scale=scale, seed=seed, sink=sink)
    except BaseException:
        sink.abort()
        raise
    written = sink.close()
    for writer in (otlp.write_metrics, prometheus.write, pprof.write):
        written.extend(writer(sim, out, gzip=gzip))
    files = tuple(
        DemoFile(w.path, w.format, w.signal, w.records, (out / w.path).stat().st_size)
        for w in written
    )
    return DemoSummary(out, sc, scale, seed, gzip, files, sim.request_count)


_FIXED = (
    "traces/otel-traces.jsonl",
    "logs/otel-logs.jsonl",
    "metrics/otel-metrics.jsonl",
    "metrics/node.prom",
    "logs/postgres.log",
)


def bundle_files(out_dir: str | Path) -> list[Path]:
    """Files in ``out_dir`` that ``generate`` writes (in any variant), sorted.

    That is the fixed names with or without ``.gz``, each service's log file in its
    format, and the profiles of the profiled services; nothing else is ever touched.
    """
    from obsctl.demo import topology

    out = Path(out_dir)
    names = list(_FIXED)
    names += [f"logs/{s.name}.{s.logs}" for s in topology.SERVICES if s.logs != "otlp"]
    found = [out / n for name in names for n in (name, name + ".gz") if (out / n).is_file()]
    for svc in topology.SERVICES:
        found.extend((out / "profiles" / svc.name).glob("cpu-*.pb.gz"))
    return sorted(found)


__all__ = [
    "DEFAULT_SCENARIO",
    "SCENARIOS",
    "DemoFile",
    "DemoSummary",
    "Scenario",
    "bundle_files",
    "generate",
]
