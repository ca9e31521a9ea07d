"""The format registry and the content-based detector.

``registry()`` gathers the ``FORMATS`` of every format module, in a fixed order that
also breaks ties. ``detect`` asks each spec's ``sniff`` to score the file's first bytes
and picks the highest score; the file name only nudges scores (each sniffer decides how
much a name counts). ``tests/ingest/test_detect.py`` runs every sniffer over every corpus
file and checks that exactly the expected format wins, so no format claims another's
samples.
"""

from __future__ import annotations

import importlib
from functools import cache

from obsctl.errors import FormatNotDetected, UsageError
from obsctl.ingest.base import FormatSpec

FORMAT_MODULES = (
    "obsctl.ingest.logs_otlp",
    "obsctl.ingest.metrics_otlp",
    "obsctl.ingest.traces_otlp",
    "obsctl.ingest.traces_jaeger",
    "obsctl.ingest.traces_zipkin",
    "obsctl.ingest.metrics_promapi",
    "obsctl.ingest.profiles_speedscope",
    "obsctl.ingest.profiles_chrome",
    "obsctl.ingest.profiles_pprof",
    "obsctl.ingest.logs_jsonl",
    "obsctl.ingest.logs_logfmt",
    "obsctl.ingest.metrics_prometheus",
    "obsctl.ingest.metrics_csv",
    "obsctl.ingest.profiles_folded",
    "obsctl.ingest.profiles_perf",
    "obsctl.ingest.logs_text",
)
"""Every format module, most specific first (the order breaks equal scores)."""

MIN_SCORE = 0.1
"""Below this, no format is confident enough and the file is not loaded."""


@cache
def registry() -> tuple[FormatSpec, ...]:
    """All format specs, in detection order."""
    specs: list[FormatSpec] = []
    for name in FORMAT_MODULES:
        mod = importlib.import_module(name)
        specs.extend(mod.FORMATS)
    return tuple(specs)


def by_name(name: str) -> FormatSpec:
    """The spec called ``name`` (or with it as an alias).

    Raises:
        UsageError: no such format.
    """
    key = name.strip().lower()
    for spec in registry():
        if key == spec.name or key in spec.aliases:
            return spec
    known = ", ".join(sorted(s.name for s in registry()))
    raise UsageError(f"unknown format {name!r}; known formats: {known}")


def scores(head: bytes, name: str = "") -> list[tuple[float, FormatSpec]]:
    """Every spec's score for this head, best first (stable in registry order)."""
    scored = []
    for i, spec in enumerate(registry()):
        try:
            s = float(spec.sniff(head, name))
        except Exception:
            s = 0.0
        scored.append((s, i, spec))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [(s, spec) for s, _, spec in scored]


def detect(head: bytes, name: str = "", *, display: str = "") -> FormatSpec:
    """Pick the format of a file from its first bytes (and, as a hint, its name).

    Raises:
        FormatNotDetected: no sniffer scored at least ``MIN_SCORE``.
    """
    ranked = scores(head, name)
    if not ranked or ranked[0][0] < MIN_SCORE:
        what = display or name or "input"
        raise FormatNotDetected(
            f"{what}: format not recognised from its content; name one with --format"
        )
    return ranked[0][1]
