"""pprof profiles: the ``perftools.profiles.Profile`` protobuf (Go, parca-agent, pprof tools).

What is accepted
    A serialized ``Profile`` message, plain or gzip-compressed. The orchestrator already
    removes an outer gzip; a profile gzipped *again* inside (``*.pb.gz`` gzipped twice, or a
    ``.pprof`` that is gzip under another name) is recognised by its magic and unpacked here.
    The message type is built (once, on first use) from a ``FileDescriptorProto`` written in
    this module (field numbers of google/pprof ``proto/profile.proto``); no generated code is
    vendored. Decoding uses the ``protobuf`` package (upb backend).

    Legacy profiles are NOT protobuf and are refused with an ``IngestError`` that says what
    they are and how to convert them (``go tool pprof -proto FILE > FILE.pb.gz``): the
    gperftools / Go ``debug=1`` text profiles (``heap profile: ...``, ``--- contention``,
    ``goroutine profile: ...``), the legacy binary CPU format (header words 0, 3, 0) and
    pprof's own text dumps (``PeriodType: ...`` / ``Samples:``). The sniffer claims them on
    purpose so that the user gets that message rather than "format not recognised".

What goes where
    ``profiles`` (one row per file): ``sample_types`` = every (type, unit) from the string
    table, in file order; ``default_sample_type`` as pprof picks it (the profile's
    ``default_sample_type``, else the LAST sample type); ``period_type``/``period_unit``/
    ``period``; ``time`` = ``time_nanos`` and ``duration_ns`` = ``duration_nanos`` (NULL when
    0); ``profile_type`` = a short kind derived from the sample types (cpu, wall, heap,
    alloc, goroutine, contention, threadcreate, else the default type's name);
    ``attributes`` = {format, main_binary, build_id, mappings (count), comments,
    label_units, drop_frames, keep_frames} where present. ``drop_frames``/``keep_frames``
    and comments are informational only: they are NOT applied to the stacks (pprof's own
    reports apply drop_frames; in the corpus only cppbench.cpu sets it, with no effect as
    its locations are unsymbolized).

    ``profile_samples``: one row per (sample, sample type) whose value is non-zero.
    Zero values are skipped to keep the table small (heap profiles are mostly zeros in the
    ``inuse_*`` types); every per-type total and flat/cum figure is unchanged by that.
    ``stack`` lists frames LEAF FIRST, in pprof's location order, each location expanded to
    its lines innermost first (inlined frames become separate entries). A frame is
    {function, file, line}: the function's name (else its system name), its file name and
    the line's number (NULL when 0). A location without lines (unsymbolized) gets the name
    pprof prints at function granularity with ``-symbolize=none``: ``[<mapping file
    basename>]``, or ``<unknown>`` when it has no mapping; its ``file`` is the mapping's full
    path. ``labels`` is a JSON object of the sample's labels: string labels as strings,
    numeric ones as numbers (a key repeated in one sample becomes a list); numeric label
    units go to the profile's ``attributes.label_units``. NULL when the sample has none.

Performance
    Each location's frames are built once; samples only carry location-index lists, and
    the stacks are assembled with numpy index arithmetic and Arrow ``take`` (no per-frame
    Python work per sample). The 20k-sample / 23k-location ``large.cpu`` loads in well
    under a second.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from obsctl.errors import IngestError
from obsctl.ingest.base import FormatSpec, LoadContext, json_dumps

if TYPE_CHECKING:
    import duckdb

    from obsctl.ingest.files import Source

FRAME_TYPE = pa.struct([("function", pa.string()), ("file", pa.string()), ("line", pa.int64())])
"""Arrow type of one ``profile_samples.stack`` entry."""

CONVERT_HINT = "convert it with `go tool pprof -proto FILE > FILE.pb.gz` and load the result"

# --------------------------------------------------------------------------------------
# The Profile message type, built from a descriptor (field numbers of profile.proto).

_I64, _U64, _BOOL, _MSG = 3, 4, 8, 11
_OPT, _REP = 1, 3

_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    # name: [(field, number, type, label, message type name)]
    "Profile": [
        ("sample_type", 1, _MSG, _REP, "ValueType"),
        ("sample", 2, _MSG, _REP, "Sample"),
        ("mapping", 3, _MSG, _REP, "Mapping"),
        ("location", 4, _MSG, _REP, "Location"),
        ("function", 5, _MSG, _REP, "Function"),
        ("string_table", 6, 9, _REP, ""),  # 9 = TYPE_STRING
        ("drop_frames", 7, _I64, _OPT, ""),
        ("keep_frames", 8, _I64, _OPT, ""),
        ("time_nanos", 9, _I64, _OPT, ""),
        ("duration_nanos", 10, _I64, _OPT, ""),
        ("period_type", 11, _MSG, _OPT, "ValueType"),
        ("period", 12, _I64, _OPT, ""),
        ("comment", 13, _I64, _REP, ""),
        ("default_sample_type", 14, _I64, _OPT, ""),
    ],
    "ValueType": [("type", 1, _I64, _OPT, ""), ("unit", 2, _I64, _OPT, "")],
    "Sample": [
        ("location_id", 1, _U64, _REP, ""),
        ("value", 2, _I64, _REP, ""),
        ("label", 3, _MSG, _REP, "Label"),
    ],
    "Label": [
        ("key", 1, _I64, _OPT, ""),
        ("str", 2, _I64, _OPT, ""),
        ("num", 3, _I64, _OPT, ""),
        ("num_unit", 4, _I64, _OPT, ""),
    ],
    "Mapping": [
        ("id", 1, _U64, _OPT, ""),
        ("memory_start", 2, _U64, _OPT, ""),
        ("memory_limit", 3, _U64, _OPT, ""),
        ("file_offset", 4, _U64, _OPT, ""),
        ("filename", 5, _I64, _OPT, ""),
        ("build_id", 6, _I64, _OPT, ""),
        ("has_functions", 7, _BOOL, _OPT, ""),
        ("has_filenames", 8, _BOOL, _OPT, ""),
        ("has_line_numbers", 9, _BOOL, _OPT, ""),
        ("has_inline_frames", 10, _BOOL, _OPT, ""),
    ],
    "Location": [
        ("id", 1, _U64, _OPT, ""),
        ("mapping_id", 2, _U64, _OPT, ""),
        ("address", 3, _U64, _OPT, ""),
        ("line", 4, _MSG, _REP, "Line"),
        ("is_folded", 5, _BOOL, _OPT, ""),
    ],
    "Line": [
        ("function_id", 1, _U64, _OPT, ""),
        ("line", 2, _I64, _OPT, ""),
        ("column", 3, _I64, _OPT, ""),
    ],
    "Function": [
        ("id", 1, _U64, _OPT, ""),
        ("name", 2, _I64, _OPT, ""),
        ("system_name", 3, _I64, _OPT, ""),
        ("filename", 4, _I64, _OPT, ""),
        ("start_line", 5, _I64, _OPT, ""),
    ],
}


@cache
def profile_class() -> Any:
    """The ``perftools.profiles.Profile`` message class (built once, in a private pool)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(
        name="obsctl/perftools_profile.proto", package="perftools.profiles", syntax="proto3"
    )
    for msg_name, fields in _MESSAGES.items():
        msg = fdp.message_type.add(name=msg_name)
        for fname, number, ftype, label, type_name in fields:
            f = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".perftools.profiles.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


# --------------------------------------------------------------------------------------
# Sniffing


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a varint at ``pos``; returns (value, next position) or (-1, -1) if invalid."""
    result = 0
    shift = 0
    while pos < len(buf) and shift < 70:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    return -1, -1


# Wire types of the top-level Profile fields (13 may be packed or not).
_TOP_WIRE = {1: {2}, 2: {2}, 3: {2}, 4: {2}, 5: {2}, 6: {2}, 7: {0}, 8: {0}, 9: {0},
             10: {0}, 11: {2}, 12: {0}, 13: {0, 2}, 14: {0}, 15: {0, 2}, 16: {2}}  # fmt: skip
# Sub-message fields: every field of these messages is a varint, or a nested message.
_SUB_OK = {1: {1, 2}, 2: {1, 2, 3}, 3: set(range(1, 11)), 4: {1, 2, 3, 4, 5}, 5: {1, 2, 3, 4, 5}}


def _submessage_ok(field: int, body: bytes) -> bool:
    """Whether a length-delimited top-level field's body looks like its pprof message."""
    if field not in _SUB_OK:
        return True
    pos = 0
    allowed = _SUB_OK[field]
    while pos < len(body):
        tag, pos = _varint(body, pos)
        if tag <= 0:
            return False
        num, wire = tag >> 3, tag & 7
        if num not in allowed:
            return False
        if wire == 0:
            _, pos = _varint(body, pos)
        elif wire == 2:  # packed repeated ints, or Location.line / Sample.label
            n, pos = _varint(body, pos)
            if n < 0 or pos + n > len(body):
                return False
            pos += n
        else:
            return False
        if pos < 0:
            return False
    return True


def _protobuf_score(head: bytes, truncated: bool) -> float:
    """Walk the top-level protobuf fields of a Profile; 0 unless the structure holds."""
    pos = 0
    seen: set[int] = set()
    fields = 0
    while pos < len(head):
        tag, p = _varint(head, pos)
        if tag <= 0:
            return 0.0 if not (truncated and p < 0) else _score(seen, fields)
        num, wire = tag >> 3, tag & 7
        if num not in _TOP_WIRE or wire not in _TOP_WIRE[num]:
            return 0.0
        if wire == 0:
            _, p = _varint(head, p)
            if p < 0:
                return _score(seen, fields) if truncated else 0.0
        else:
            n, p2 = _varint(head, p)
            if n < 0:
                return _score(seen, fields) if truncated else 0.0
            if p2 + n > len(head):
                return _score(seen, fields) if truncated else 0.0
            if not _submessage_ok(num, head[p2 : p2 + n]):
                return 0.0
            p = p2 + n
        seen.add(num)
        fields += 1
        pos = p
    return _score(seen, fields)


def _score(seen: set[int], fields: int) -> float:
    if fields < 2:
        return 0.0
    if 1 in seen and (2 in seen or 6 in seen):
        return 0.95
    if seen & {2, 4, 5, 6}:
        return 0.6
    return 0.3


_LEGACY_TEXT = re.compile(
    # gperftools and Go ``debug=1`` text profiles: heap/allocs, contention (block, mutex),
    # goroutine and threadcreate dumps, and the '--- symbol' section of legacy pprof files.
    rb"\A\s*(heap profile:|heap_v2/|--- ?heapz|--- ?contention:?|--- ?mutex:|--- ?symbol|"
    rb"--- ?growthz|growth profile:|goroutine profile:|threadcreate profile:|"
    rb"thread creation profile:)",
)
_TEXT_DUMP = re.compile(rb"\A\s*(PeriodType: \S+ \S+\s*\n|Period: -?\d+\s*\n|Samples:\s*\n)")


def _legacy_kind(head: bytes) -> str | None:
    """Name a non-protobuf pprof-family file, or None."""
    if _LEGACY_TEXT.match(head):
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        return f"a legacy text profile (gperftools / Go debug=1 format, '{first[:40]}')"
    if _TEXT_DUMP.match(head):
        return "a pprof text dump (Profile.String() output)"
    if len(head) >= 24:
        w64 = [int.from_bytes(head[i : i + 8], "little") for i in (0, 8, 16)]
        w64b = [int.from_bytes(head[i : i + 8], "big") for i in (0, 8, 16)]
        w32 = [int.from_bytes(head[i : i + 4], "little") for i in (0, 4, 8)]
        w32b = [int.from_bytes(head[i : i + 4], "big") for i in (0, 4, 8)]
        if [0, 3, 0] in (w64, w64b, w32, w32b):
            return "a legacy binary CPU profile (gperftools / old Go format)"
    return None


def _inner_gzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 1 << 16)
    except zlib.error:
        return b""


def sniff(head: bytes, name: str) -> float:
    """Score a pprof protobuf (or a legacy pprof-family file, which ``load`` refuses)."""
    if not head:
        return 0.0
    if _legacy_kind(head):
        return 0.9
    truncated = len(head) >= (64 << 10)
    if head[:2] == b"\x1f\x8b":
        inner = _inner_gzip_head(head)
        return _protobuf_score(inner, True) if inner else 0.0
    return _protobuf_score(head, truncated)


# --------------------------------------------------------------------------------------
# Loading

_MEMORY_TYPES = {"alloc_space", "alloc_objects", "inuse_space", "inuse_objects", "space",
                 "objects", "allocations", "alloc", "inuse"}  # fmt: skip


def derive_profile_type(types: list[tuple[str, str]], default: str, period_type: str | None) -> str:
    """A short kind for a profile from its sample types (``cpu``, ``heap``, ``wall``…)."""
    names = {t for t, _ in types}
    pt = (period_type or "").lower()
    if "wall" in names or pt in ("wall", "wallclock") or "wallclock" in names:
        return "wall"
    if "cpu" in names or pt == "cpu":
        return "cpu"
    if names & _MEMORY_TYPES or pt == "space":
        return "alloc" if default.startswith("alloc_") else "heap"
    if "goroutine" in names or "goroutines" in names or pt == "goroutine":
        return "goroutine"
    if "contentions" in names or "delay" in names or pt == "contentions":
        return "contention"
    if "threadcreate" in names or pt == "threadcreate":
        return "threadcreate"
    return default or "unknown"


def _decode(data: bytes, display: str) -> Any:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IngestError(f"{display}: corrupt gzip inside pprof file: {exc}") from None
    from google.protobuf.message import DecodeError

    prof = profile_class()()
    try:
        prof.ParseFromString(data)
    except DecodeError as exc:
        raise IngestError(f"{display}: not a valid pprof protobuf ({exc})") from None
    return prof


def load(src: Source, ctx: LoadContext) -> None:
    """Load one pprof profile: a ``profiles`` row and its ``profile_samples``."""
    ctx.unit = "profiles"
    data = src.read_bytes()
    probe = data[: 64 << 10]
    if probe[:2] == b"\x1f\x8b":
        probe = _inner_gzip_head(probe)
    kind = _legacy_kind(probe)
    if kind and "text dump" in kind:
        raise IngestError(
            f"{src.display}: {kind}, not a profile: it cannot be loaded or converted; load the"
            f" profile it was printed from (if that is a legacy profile, {CONVERT_HINT})"
        )
    if kind:
        raise IngestError(f"{src.display}: {kind}, not a pprof protobuf profile; {CONVERT_HINT}")
    prof = _decode(data, src.display)
    strings = list(prof.string_table)
    nstr = len(strings)

    def s(i: int) -> str:
        if 0 <= i < nstr:
            return strings[i]
        raise IngestError(f"{src.display}: corrupt pprof profile: string index {i} out of range")

    if not prof.sample_type and not prof.sample:
        raise IngestError(f"{src.display}: pprof profile has no sample types and no samples")
    types = [(s(vt.type), s(vt.unit)) for vt in prof.sample_type]
    default = s(prof.default_sample_type) if prof.default_sample_type else ""
    if not default and types:
        default = types[-1][0]
    period_type = s(prof.period_type.type) if prof.HasField("period_type") else None
    period_unit = s(prof.period_type.unit) if prof.HasField("period_type") else None

    # Frames of every location, built once: flat arrays + per-location (start, count).
    funcs = {f.id: f for f in prof.function}
    maps = {m.id: m for m in prof.mapping}
    fn_names: list[str | None] = []
    fn_files: list[str | None] = []
    fn_lines: list[int | None] = []
    loc_ids = np.empty(len(prof.location), dtype=np.uint64)
    loc_start = np.empty(len(prof.location), dtype=np.int64)
    loc_count = np.empty(len(prof.location), dtype=np.int64)
    func_cache: dict[int, tuple[str, str | None]] = {}
    for i, loc in enumerate(prof.location):
        loc_ids[i] = loc.id
        loc_start[i] = len(fn_names)
        m = maps.get(loc.mapping_id)
        objfile = s(m.filename) if m is not None else ""
        n = 0
        for ln in loc.line:
            fid = ln.function_id
            named = func_cache.get(fid)
            if named is None:
                f = funcs.get(fid)
                name = (s(f.name) or s(f.system_name)) if f is not None else ""
                fname = s(f.filename) if f is not None else ""
                named = (name, fname or None)
                func_cache[fid] = named
            name, fname = named
            fn_names.append(name or _unsymbolized(objfile))
            fn_files.append(fname if name else (objfile or None))
            fn_lines.append(ln.line or None)
            n += 1
        if n == 0:
            fn_names.append(_unsymbolized(objfile))
            fn_files.append(objfile or None)
            fn_lines.append(None)
            n = 1
        loc_count[i] = n
    frames = frames_array(fn_names, fn_files, fn_lines)
    order = np.argsort(loc_ids, kind="stable")
    sorted_ids = loc_ids[order]

    # Samples: per-sample Python only to pull the repeated fields out of the messages.
    ntypes = len(types)
    flat_ids: list[int] = []
    depth: list[int] = []
    values: list[list[int]] = []
    labels: list[str | None] = []
    label_units: dict[str, str] = {}
    sample_no: list[int] = []
    for idx, smp in enumerate(prof.sample, start=1):
        vals = list(smp.value)
        if len(vals) != ntypes:
            ctx.reject(idx, f"sample has {len(vals)} values for {ntypes} sample types")
            continue
        ids = smp.location_id
        flat_ids.extend(ids)
        depth.append(len(ids))
        values.append(vals)
        labels.append(_labels(smp.label, s, label_units) if smp.label else None)
        sample_no.append(idx)

    # Map location ids to location indexes in one go; drop samples naming unknown ones.
    flat = np.asarray(flat_ids, dtype=np.uint64)
    depths = np.asarray(depth, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, flat)
    if len(sorted_ids):
        np.minimum(pos, len(sorted_ids) - 1, out=pos)
        found = sorted_ids[pos] == flat
    else:
        found = np.zeros(len(flat), dtype=bool)
    if not found.all():
        owner = np.repeat(np.arange(len(depths)), depths)
        bad = np.unique(owner[~found])
        for b in bad:
            ctx.reject(sample_no[b], "sample references an unknown location id")
        good = np.ones(len(depths), dtype=bool)
        good[bad] = False
        pos = pos[good[owner]]
        depths = depths[good]
        values = [v for v, g in zip(values, good, strict=True) if g]
        labels = [lb for lb, g in zip(labels, good, strict=True) if g]
    nsamples = len(values)
    loc_idx = order[pos]
    counts = loc_count[loc_idx]  # frames contributed by each (sample, location)
    starts = loc_start[loc_idx]
    total = int(counts.sum())
    # frame index of every stack entry: start of its location + position inside it.
    entry_base = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    frame_idx = entry_base + np.arange(total, dtype=np.int64)
    # list offsets: frames per sample = sum of its locations' counts.
    loc_bounds = np.concatenate([[0], np.cumsum(depths)])
    frame_cum = np.concatenate([[0], np.cumsum(counts)])
    offsets = frame_cum[loc_bounds].astype(np.int32)
    stacks = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), frames.take(frame_idx))
    label_arr = pa.array(labels, pa.string())
    vals = np.asarray(values, dtype=np.int64).reshape(nsamples, ntypes)

    attrs = _attributes(prof, s, label_units)
    header = {
        "profile_type": derive_profile_type(types, default, period_type),
        "sample_types": [{"type": t, "unit": u or None} for t, u in types],
        "default_sample_type": default,
        "period_type": period_type,
        "period_unit": period_unit or None,
        "period": float(prof.period) if prof.period else None,
        "time": prof.time_nanos or None,
        "duration_ns": prof.duration_nanos or None,
        "attributes": attrs,
    }
    pieces = []
    for t, (tname, tunit) in enumerate(types):
        col = vals[:, t]
        keep = np.flatnonzero(col != 0)
        if len(keep) == 0:
            continue
        take = pa.array(keep)
        pieces.append(
            sample_table(tname, tunit or None, col[keep], stacks.take(take), label_arr.take(take))
        )
    write_profile(ctx, header, pieces)


# --------------------------------------------------------------------------------------
# Helpers shared by the profile format modules (folded, speedscope, chrome, perf-script).

SAMPLE_TYPE_LIST = pa.list_(pa.struct([("type", pa.string()), ("unit", pa.string())]))


def sample_table(
    sample_type: str,
    unit: str | None,
    values: Any,
    stacks: pa.Array,
    labels: pa.Array | None = None,
) -> pa.Table:
    """``profile_samples`` columns (without ``profile_id``) for one sample type."""
    n = len(stacks)
    return pa.table(
        {
            "sample_type": pa.array([sample_type] * n, pa.string()),
            "unit": pa.array([unit] * n, pa.string()),
            "value": pa.array(np.asarray(values, dtype=np.float64)),
            "stack": stacks,
            "labels": labels if labels is not None else pa.nulls(n, pa.string()),
        }
    )


def frames_array(
    functions: list[str | None], files: list[str | None], lines: list[int | None]
) -> pa.StructArray:
    """A struct array of frames (``FRAME_TYPE``) from parallel lists."""
    return pa.StructArray.from_arrays(
        [pa.array(functions, pa.string()), pa.array(files, pa.string()),
         pa.array(lines, pa.int64())],
        fields=list(FRAME_TYPE),
    )  # fmt: skip


def stacks_array(stacks: list[list[int]], frames: pa.StructArray) -> pa.ListArray:
    """``stack`` lists from per-sample lists of frame indices (already leaf first)."""
    lengths = np.fromiter((len(s) for s in stacks), dtype=np.int64, count=len(stacks))
    offsets = np.zeros(len(stacks) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((i for s in stacks for i in s), dtype=np.int64, count=int(lengths.sum()))
    return pa.ListArray.from_arrays(pa.array(offsets), frames.take(pa.array(flat)))


def fetch_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """A query's result as an Arrow table (DuckDB 1.x and 2.x spellings)."""
    rel = con.sql(sql)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, data: Any) -> Iterator[None]:
    """Register Arrow data as a view for the block, then unregister it.

    Not in a ``finally``: after a failed statement the transaction is aborted, and
    ``unregister`` would raise again and hide the real error from the user.
    """
    con.register(name, data)
    yield
    con.unregister(name)


def write_profile(ctx: LoadContext, header: dict[str, Any], samples: list[pa.Table]) -> int:
    """Insert one ``profiles`` row and its samples; count one profile in ``ctx.records``.

    ``header`` holds the ``profiles`` columns (``attributes`` as a dict, ``time`` as epoch
    ns); ``samples`` are ``sample_table`` results. Returns the new ``profile_id``.
    """
    profile_id = insert_profile(ctx, header)
    samples = [t for t in samples if t.num_rows]
    if samples:
        data = pa.concat_tables(samples)
        data = data.append_column(
            "profile_id", pa.array(np.full(data.num_rows, profile_id, dtype=np.int64))
        )
        # Not ctx.append: profile_samples has neither source_id nor service_name.
        with registered(ctx.con, "_obsctl_profile_samples", data):
            ctx.con.execute(
                "INSERT INTO profile_samples BY NAME SELECT * FROM _obsctl_profile_samples"
            )
    return profile_id


def insert_profile(ctx: LoadContext, header: dict[str, Any]) -> int:
    """Insert one ``profiles`` row (see ``write_profile``), count it, return its id.

    Loaders that write their samples with their own ``INSERT … SELECT`` use this.
    """
    profile_id = ctx.con.execute("SELECT nextval('profile_id_seq')").fetchall()[0][0]
    row = pa.table(
        {
            "profile_id": pa.array([profile_id], pa.int64()),
            "profile_type": pa.array([header.get("profile_type")], pa.string()),
            "sample_types": pa.array([header.get("sample_types") or []], SAMPLE_TYPE_LIST),
            "default_sample_type": pa.array([header.get("default_sample_type")], pa.string()),
            "period_type": pa.array([header.get("period_type")], pa.string()),
            "period_unit": pa.array([header.get("period_unit")], pa.string()),
            "period": pa.array([header.get("period")], pa.float64()),
            "time": pa.array([header.get("time")], pa.timestamp("ns")),
            "duration_ns": pa.array([header.get("duration_ns")], pa.int64()),
            "attributes": pa.array([json_dumps(header.get("attributes") or {})], pa.string()),
        }
    )
    ctx.append("profiles", row, count=False)
    ctx.records += 1
    return int(profile_id)


def _unsymbolized(objfile: str) -> str:
    """The name pprof prints for a location without function info (-symbolize=none)."""
    return f"[{os.path.basename(objfile)}]" if objfile else "<unknown>"


def _labels(labels: Any, s: Any, units: dict[str, str]) -> str:
    out: dict[str, Any] = {}
    for lb in labels:
        key = s(lb.key)
        if lb.str:
            val: Any = s(lb.str)
        else:
            val = lb.num
            if lb.num_unit:
                units.setdefault(key, s(lb.num_unit))
        if key in out:
            prev = out[key]
            out[key] = [*prev, val] if isinstance(prev, list) else [prev, val]
        else:
            out[key] = val
    return json_dumps(out)


def _attributes(prof: Any, s: Any, label_units: dict[str, str]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"format": "pprof"}
    if prof.mapping:
        main = prof.mapping[0]
        if s(main.filename):
            attrs["main_binary"] = s(main.filename)
        if s(main.build_id):
            attrs["build_id"] = s(main.build_id)
        attrs["mappings"] = len(prof.mapping)
    if prof.comment:
        attrs["comments"] = [s(c) for c in prof.comment]
    if label_units:
        attrs["label_units"] = label_units
    if prof.drop_frames:
        attrs["drop_frames"] = s(prof.drop_frames)
    if prof.keep_frames:
        attrs["keep_frames"] = s(prof.keep_frames)
    return attrs


FORMATS = [
    FormatSpec(
        name="pprof",
        signal="profiles",
        description="pprof protobuf profiles (gzipped or plain; every sample type, labels)",
        sniff=sniff,
        load=load,
    )
]
