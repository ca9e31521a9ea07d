"""Chrome DevTools / V8 / Node ``.cpuprofile`` JSON.

What is accepted
    The V8 ``Profiler.Profile`` object that Chrome DevTools saves ("Save profile") and
    ``node --cpu-prof`` writes: ``{"nodes": [{id, callFrame: {functionName, url,
    lineNumber, columnNumber, scriptId}, children, hitCount}], "startTime", "endTime",
    "samples": [node id...], "timeDeltas": [µs...]}``. The older pre-2017 shape with a
    ``head`` tree is refused with a clear message. Trace-event files (``traceEvents`` with
    ``ProfileChunk``) are not this format.

What goes where
    One ``profiles`` row per file: ``profile_type`` 'cpu'; sample types ``samples``/
    ``count`` and ``time``/``nanoseconds`` (default ``time``, as DevTools shows self time);
    ``duration_ns`` = (endTime - startTime) µs → ns; ``time`` NULL (V8 times are monotonic,
    not wall-clock). Each sample's time is the gap to the next sample (the last one runs
    to ``endTime``), as DevTools computes self time; timestamps come from ``startTime`` +
    the running sum of ``timeDeltas``. Samples are summed per call-tree node: one
    ``profile_samples`` row per node and sample type with a non-zero value. ``stack`` is
    the node's path LEAF FIRST without the synthetic ``(root)``: {function: functionName
    or ``(anonymous)``, file: url or NULL, line: lineNumber + 1 (V8 counts from 0) or
    NULL}. ``(program)``, ``(idle)`` and ``(garbage collector)`` stay as frames. A sample
    naming an unknown node id is rejected with its 1-based index.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, Reject
from obsctl.ingest.profiles_pprof import frames_array, sample_table, stacks_array, write_profile

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

_NODES = re.compile(rb'"nodes"\s*:\s*\[')


def sniff(head: bytes, name: str) -> float:
    """Score a V8 cpuprofile: a JSON object with ``nodes`` of ``callFrame``s."""
    if head.lstrip()[:1] != b"{":
        return 0.0
    if _NODES.search(head) and b'"callFrame"' in head:
        if b'"samples"' in head or b'"timeDeltas"' in head or b'"startTime"' in head:
            return 0.95
        return 0.7
    return 0.0


def load(src: Source, ctx: LoadContext) -> None:
    """Load one ``.cpuprofile`` as one profile."""
    ctx.unit = "profiles"
    try:
        doc = orjson.loads(src.read_utf8())
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"{src.display}: not valid JSON ({exc})") from None
    if isinstance(doc, dict) and "head" in doc and "nodes" not in doc:
        raise IngestError(
            f"{src.display}: old Chrome cpuprofile format (a 'head' call tree) is not"
            " supported; re-save it from a current Chrome DevTools"
        )
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise IngestError(f"{src.display}: not a V8 cpuprofile (no 'nodes' array)")
    nodes = doc["nodes"]
    index: dict[int, int] = {}
    parent: list[int] = [-1] * len(nodes)
    names: list[str | None] = []
    files: list[str | None] = []
    lines: list[int | None] = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("id"), int):
            raise IngestError(f"{src.display}: node {i + 1} has no integer 'id'")
        index[node["id"]] = i
        cf = node.get("callFrame") if isinstance(node.get("callFrame"), dict) else {}
        names.append(str(cf.get("functionName") or "") or "(anonymous)")
        files.append(str(cf["url"]) if cf.get("url") else None)
        ln = cf.get("lineNumber")
        lines.append(ln + 1 if isinstance(ln, int) and ln >= 0 else None)
    for i, node in enumerate(nodes):
        for child in node.get("children") or []:
            j = index.get(child)
            if j is not None:
                parent[j] = i
    frames = frames_array(names, files, lines)

    samples = doc.get("samples") or []
    deltas = doc.get("timeDeltas") or []
    start = doc.get("startTime")
    end = doc.get("endTime")
    if len(deltas) != len(samples):
        raise IngestError(f"{src.display}: {len(samples)} samples but {len(deltas)} timeDeltas")
    ts = float(start or 0) + np.cumsum(np.asarray(deltas, dtype=np.float64))
    stop = float(end) if isinstance(end, int | float) else (float(ts[-1]) if len(ts) else 0.0)
    dur_us = np.clip(np.diff(np.append(ts, stop)), 0, None)
    node_idx = np.fromiter((index.get(s, -1) for s in samples), np.int64, len(samples))
    bad = np.flatnonzero(node_idx < 0)
    if len(bad):
        ctx.reject_many(
            len(bad),
            [
                Reject(int(i) + 1, f"sample names unknown node id {samples[i]!r}")
                for i in bad[:1000]
            ],
        )
    ok = node_idx >= 0
    counts = np.bincount(node_idx[ok], minlength=len(nodes))
    times = np.bincount(node_idx[ok], weights=dur_us[ok] * 1000.0, minlength=len(nodes))
    used = np.flatnonzero(counts)
    stacks = [_path(int(i), parent, names) for i in used]
    stack_arr = stacks_array(stacks, frames)
    nz = times[used] != 0

    header: dict[str, Any] = {
        "profile_type": "cpu",
        "sample_types": [
            {"type": "samples", "unit": "count"},
            {"type": "time", "unit": "nanoseconds"},
        ],
        "default_sample_type": "time",
        "duration_ns": round((float(end) - float(start)) * 1000)
        if isinstance(start, int | float) and isinstance(end, int | float)
        else None,
        "attributes": {"format": "chrome-cpuprofile", "start_time_us": start, "end_time_us": end},
    }
    write_profile(
        ctx,
        header,
        [
            sample_table("samples", "count", counts[used], stack_arr),
            sample_table("time", "nanoseconds", times[used][nz], stack_arr.filter(pa.array(nz))),
        ],
    )


def _path(i: int, parent: list[int], names: list[str | None]) -> list[int]:
    """Frame indices from node ``i`` up to (not including) the synthetic root."""
    out = []
    seen = 0
    while i >= 0 and seen <= len(parent):
        if not (parent[i] < 0 and names[i] == "(root)"):
            out.append(i)
        i = parent[i]
        seen += 1
    return out


FORMATS = [
    FormatSpec(
        name="chrome-cpuprofile",
        signal="profiles",
        description="Chrome DevTools / Node .cpuprofile JSON (V8 sampling profiler)",
        sniff=sniff,
        load=load,
        aliases=("cpuprofile", "v8-cpuprofile"),
    )
]
