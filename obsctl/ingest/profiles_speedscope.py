"""speedscope JSON profiles (https://www.speedscope.app/file-format-schema.json).

What is accepted
    A speedscope file: ``{"$schema": ..., "shared": {"frames": [...]}, "profiles": [...],
    "name"?, "activeProfileIndex"?, "exporter"?}`` from format version 0.0.1 (which carries
    ``version`` and no ``name``/``activeProfileIndex``) to the current one. Frames are
    ``{name, file?, line?, col?}``. Profiles are:

    * ``sampled``: ``samples`` = arrays of frame indices ROOT FIRST, ``weights`` parallel
      to them (missing weights count 1 each);
    * ``evented``: ``O``/``C`` (open/close) ``events`` with ``at`` values; each stack's
      weight is the time it was open as the innermost stack (self time), exactly what
      speedscope shows.

    One obsctl profile is loaded per speedscope profile. A profile that breaks the format's
    rules (events out of ``at`` order, a close event that is not for the innermost open
    frame, a frame opened and never closed, a frame index out of range, samples/weights of
    different lengths) is rejected whole, as speedscope itself refuses it, with the
    profile's 1-based index and the reason; the file's other profiles still load. A file
    none of whose profiles is valid fails with an ``IngestError`` naming the first problem.

What goes where
    ``profiles``: ``profile_type`` 'cpu' for time and unitless weights, 'heap' for bytes;
    one sample type: ``time``/``nanoseconds`` for time units (weights converted to ns),
    ``samples``/``count`` for ``none``, ``space``/``bytes`` for ``bytes``;
    ``duration_ns`` = endValue - startValue for time units; ``time`` NULL (speedscope has no
    wall-clock start); ``attributes`` = {format, name, file_name, exporter, version,
    profile_kind, index, active, unit, start_value, end_value}. ``profile_samples``: one
    row per distinct stack (identical stacks summed, in order of first appearance),
    ``stack`` LEAF FIRST with {function: frame name, file, line}; zero weights are skipped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext
from obsctl.ingest.profiles_pprof import frames_array, sample_table, stacks_array, write_profile

if TYPE_CHECKING:
    from obsctl.ingest.files import Source

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"

_TIME_UNITS = {"nanoseconds": 1, "microseconds": 1e3, "milliseconds": 1e6, "seconds": 1e9}
_SHAPE = re.compile(rb'"profiles"\s*:\s*\[')
_KIND = re.compile(rb'"type"\s*:\s*"(evented|sampled)"')


class InvalidProfile(Exception):
    """A speedscope profile that breaks the format's rules (rejected whole)."""


def sniff(head: bytes, name: str) -> float:
    """Score a speedscope file: its ``$schema`` URL, else its shape."""
    start = head.lstrip()[:1]
    if start != b"{":
        return 0.0
    if SCHEMA_URL.encode() in head:
        return 0.99
    if _SHAPE.search(head) and _KIND.search(head) and b'"shared"' in head:
        return 0.85
    return 0.0


def load(src: Source, ctx: LoadContext) -> None:
    """Load every valid profile of a speedscope file."""
    ctx.unit = "profiles"
    try:
        doc = orjson.loads(src.read_utf8())
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"{src.display}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), list):
        raise IngestError(f"{src.display}: not a speedscope file (no 'profiles' array)")
    shared = doc.get("shared") if isinstance(doc.get("shared"), dict) else {}
    raw_frames = shared.get("frames") if isinstance(shared.get("frames"), list) else []
    names: list[str | None] = []
    files: list[str | None] = []
    lines: list[int | None] = []
    for f in raw_frames:
        f = f if isinstance(f, dict) else {}
        names.append(str(f.get("name")) if f.get("name") is not None else "(anonymous)")
        files.append(str(f["file"]) if f.get("file") else None)
        line = f.get("line")
        lines.append(int(line) if isinstance(line, int | float) else None)
    frames = frames_array(names, files, lines)
    active = doc.get("activeProfileIndex", 0)
    problems: list[str] = []
    for index, prof in enumerate(doc["profiles"]):
        try:
            if not isinstance(prof, dict):
                raise InvalidProfile("profile is not an object")
            kind = prof.get("type")
            if kind == "sampled":
                stacks, weights = _sampled(prof, len(names))
            elif kind == "evented":
                stacks, weights = _evented(prof, len(names), names)
            else:
                raise InvalidProfile(f"unknown profile type {kind!r}")
        except InvalidProfile as exc:
            label = prof.get("name") if isinstance(prof, dict) else None
            reason = f"profile {label!r}: {exc}" if label else str(exc)
            ctx.reject(index + 1, reason, orjson.dumps(prof)[:200])
            problems.append(f"profile {index + 1}: {reason}")
            continue
        _write(ctx, doc, prof, index, index == active, stacks, weights, frames)
    if ctx.records == 0:
        detail = problems[0] if problems else "no profiles"
        raise IngestError(f"{src.display}: no valid speedscope profile ({detail})")


def _frame_index(value: Any, nframes: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < nframes:
        raise InvalidProfile(f"{where}: frame index {value!r} out of range (0..{nframes - 1})")
    return value


def _sampled(prof: dict, nframes: int) -> tuple[list[tuple[int, ...]], list[float]]:
    samples = prof.get("samples")
    if not isinstance(samples, list):
        raise InvalidProfile("sampled profile without a 'samples' array")
    weights = prof.get("weights")
    if weights is None:
        weights = [1] * len(samples)
    if not isinstance(weights, list) or len(weights) != len(samples):
        raise InvalidProfile(
            f"{len(samples)} samples but {len(weights) if isinstance(weights, list) else 0} weights"
        )
    totals: dict[tuple[int, ...], float] = {}
    for i, (sample, weight) in enumerate(zip(samples, weights, strict=True), start=1):
        if not isinstance(sample, list):
            raise InvalidProfile(f"sample {i} is not an array of frame indices")
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise InvalidProfile(f"sample {i}: weight {weight!r} is not a number")
        key = tuple(_frame_index(v, nframes, f"sample {i}") for v in sample)
        totals[key] = totals.get(key, 0.0) + float(weight)
    return list(totals), list(totals.values())


def _evented(
    prof: dict, nframes: int, names: list[str | None]
) -> tuple[list[tuple[int, ...]], list[float]]:
    events = prof.get("events")
    if not isinstance(events, list):
        raise InvalidProfile("evented profile without an 'events' array")
    totals: dict[tuple[int, ...], float] = {}
    stack: list[int] = []
    opened_at: list[float] = []
    last = None
    for i, ev in enumerate(events, start=1):
        if not isinstance(ev, dict):
            raise InvalidProfile(f"event {i} is not an object")
        at = ev.get("at")
        if not isinstance(at, int | float) or isinstance(at, bool):
            raise InvalidProfile(f"event {i}: 'at' {at!r} is not a number")
        if last is not None and at < last:
            raise InvalidProfile(f"event {i} at {at} comes before the previous event at {last}")
        frame = _frame_index(ev.get("frame"), nframes, f"event {i}")
        if stack and last is not None and at > last:
            key = tuple(stack)
            totals[key] = totals.get(key, 0.0) + (at - last)
        last = at
        kind = ev.get("type")
        if kind == "O":
            stack.append(frame)
            opened_at.append(at)
        elif kind == "C":
            if not stack:
                raise InvalidProfile(f"event {i} closes frame {names[frame]!r} but none is open")
            if stack[-1] != frame:
                raise InvalidProfile(
                    f"event {i} closes frame {names[frame]!r} at {at} while"
                    f" {names[stack[-1]]!r} is the innermost open frame"
                )
            stack.pop()
            opened_at.pop()
        else:
            raise InvalidProfile(f"event {i}: unknown event type {kind!r} (expected O or C)")
    if stack:
        raise InvalidProfile(
            f"frame {names[stack[-1]]!r} opened at {opened_at[-1]} is never closed"
            f" ({len(stack)} frame(s) left open)"
        )
    return list(totals), list(totals.values())


def _write(
    ctx: LoadContext,
    doc: dict,
    prof: dict,
    index: int,
    active: bool,
    stacks: list[tuple[int, ...]],
    weights: list[float],
    frames: Any,
) -> None:
    unit = str(prof.get("unit") or "none")
    start, end = prof.get("startValue"), prof.get("endValue")
    duration = None
    if unit in _TIME_UNITS:
        scale = _TIME_UNITS[unit]
        stype, sunit, ptype = "time", "nanoseconds", "cpu"
        weights = [w * scale for w in weights]
        if isinstance(start, int | float) and isinstance(end, int | float):
            duration = round((end - start) * scale)
    elif unit == "bytes":
        stype, sunit, ptype = "space", "bytes", "heap"
    elif unit == "none":
        stype, sunit, ptype = "samples", "count", "cpu"
    else:
        stype, sunit, ptype = "weight", unit, "cpu"
    keep = [i for i, w in enumerate(weights) if w != 0]
    stacks_leaf_first = [list(reversed(stacks[i])) for i in keep]
    attrs = {
        "format": "speedscope",
        "name": prof.get("name"),
        "file_name": doc.get("name"),
        "exporter": doc.get("exporter"),
        "version": doc.get("version"),
        "profile_kind": prof.get("type"),
        "index": index,
        "active": active,
        "unit": unit,
        "start_value": start,
        "end_value": end,
    }
    header = {
        "profile_type": ptype,
        "sample_types": [{"type": stype, "unit": sunit}],
        "default_sample_type": stype,
        "duration_ns": duration,
        "attributes": {k: v for k, v in attrs.items() if v is not None},
    }
    samples = sample_table(
        stype, sunit, [weights[i] for i in keep], stacks_array(stacks_leaf_first, frames)
    )
    write_profile(ctx, header, [samples])


FORMATS = [
    FormatSpec(
        name="speedscope",
        signal="profiles",
        description="speedscope JSON profiles (sampled and evented)",
        sniff=sniff,
        load=load,
    )
]
