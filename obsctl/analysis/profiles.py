"""Step 4 — profiles: which code burns the CPU or holds the memory, and what changed.

Every function takes a ``ProfileFilter`` (which profiles, which sample type) and returns
plain data: Arrow tables for listings, frozen dataclasses for a call tree, a peek or a
diff. Nothing here knows about terminals. SQL lives in named constants composed from
fixed fragments; user values (services, function names, times, ids) are bound as
``$name`` parameters.

Design decisions:

* **pprof's numbers.** ``top`` reproduces ``pprof -top`` at function granularity: a
  sample's value is *flat* for its leaf frame and *cum* once for every distinct function
  on its stack (a recursive function is not counted twice); inlined frames are separate
  functions (the loaders expand each location's lines into frames); the total that
  ``flat%``/``cum%`` divide by is the sum of the samples' *absolute* values (pprof's
  ``computeTotal``, which matters for delta heap profiles with negative values); rows are
  ordered as pprof orders them (``|flat|`` desc, then name; with ``--cum``: ``|cum|``
  desc, then name) and ``sum%`` is the running ``flat%`` in that order. The corpus test
  checks every pprof file and sample type against pprof's own ``-top`` output.
* **Which sample type.** ``--sample-type`` takes a name (``cpu``, ``alloc_space``…) or,
  as pprof's ``-sample_index``, a 0-based index when every selected profile has the same
  sample types. Without it, pprof's rule per profile (its ``default_sample_type``, else its
  last sample type — the loaders store that choice); when the selected profiles disagree,
  the default most of them share wins and the others are reported (summing CPU
  nanoseconds with allocated bytes would mean nothing).
* **Which profiles.** A profile is in a window when its start (``profiles.time``) is.
  Profiles without a time (folded stacks, speedscope, V8 and perf exports carry none) are
  only selected when no window is given.
* **Group first, then unnest.** A day of CPU profiles of one service is ~300k sample rows
  of 10-40 frames, but only ~20k distinct stacks. Every analysis starts from the same
  CTE (``PATHS_CTE``): identical stacks are grouped by a 64-bit hash of the stack and its
  length (no nested values move), one representative row per group is fetched back by
  ``rowid``, turned into its function path and grouped again by path (stacks that differ
  only in line numbers merge). Flat, cum, callers and callees are then computed over
  distinct paths only, and the call tree is built in Python over those same paths. Two
  distinct stacks of the same length colliding on the 64-bit hash would be merged; with
  a million distinct stacks that chance is ~3e-8.
* **Diff.** Base and target are each normalised to their own total, so a window with
  three times as many samples compares fairly: a function's *share* (flat or cum, % of
  its window's total) is what is compared, and the change is in percentage points.
  Ranking by the change of cum share alone ties a function with every caller that
  reaches the hot code only through it; the score adds the change of flat share, which
  puts the function doing the work first: ``score = |Δcum| + |Δflat|``.
* **Trees.** ``CallTree`` is the aggregated prefix tree from the roots to the leaves
  (flame graph / icicle), with a synthetic root; children are ordered by value, then
  name. ``DiffTree`` merges the base and target trees node by node, so the differential
  flame graph can colour each frame by the change of its share.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsctl.errors import InputNotFound, UsageError
from obsctl.timewindow import TimeWindow

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.store import Store

ROOT = "(root)"
"""Name of the synthetic root of a call tree (and the caller of a stack's outermost frame)."""

# --------------------------------------------------------------------------- filter


@dataclass(frozen=True)
class ProfileFilter:
    """Which profiles (and which of their sample types) an analysis looks at."""

    services: tuple[str, ...] = ()
    """Only these services (empty: all)."""
    sample_type: str | None = None
    """Sample type name (``cpu``, ``alloc_space``…) or a 0-based index; ``None``: the
    profiles' default (pprof's rule)."""
    window: TimeWindow = field(default_factory=TimeWindow)
    """Only profiles whose start falls in this window (unbounded: every profile, with a
    time or not)."""
    profile_ids: tuple[int, ...] = ()
    """Only these profiles (empty: all)."""

    @classmethod
    def from_options(
        cls,
        *,
        services: Sequence[str] | None = None,
        sample_type: str | None = None,
        window: TimeWindow | None = None,
        profile_ids: Sequence[int] | None = None,
    ) -> ProfileFilter:
        """Build a filter from command-line values (blank values mean "not given")."""
        st = sample_type.strip() if sample_type is not None else None
        return cls(
            services=tuple(s for s in services or () if s),
            sample_type=st if st else None,
            window=window or TimeWindow(),
            profile_ids=tuple(int(i) for i in profile_ids or ()),
        )


def _profile_where(
    filt: ProfileFilter, window: TimeWindow | None = None, tag: str = ""
) -> tuple[str, dict[str, Any]]:
    """``WHERE`` over ``profiles p`` from fixed clauses, values bound as parameters.

    ``tag`` suffixes the parameter names, so that two selections (a diff's base and
    target) can share one statement.
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filt.services:
        clauses.append(f"list_contains($services{tag}, p.service_name)")
        params[f"services{tag}"] = list(filt.services)
    if filt.profile_ids:
        clauses.append(f"list_contains($ids{tag}, p.profile_id)")
        params[f"ids{tag}"] = list(filt.profile_ids)
    w = window if window is not None else filt.window
    if w.start_ns is not None:
        clauses.append(f"p.time >= make_timestamp_ns($start{tag})")
        params[f"start{tag}"] = w.start_ns
    if w.end_ns is not None:
        clauses.append(f"p.time < make_timestamp_ns($end{tag})")
        params[f"end{tag}"] = w.end_ns
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


# --------------------------------------------------------------------------- list

LIST_SQL = """
WITH totals AS (
    SELECT s.profile_id, sum(abs(s.value)) AS total, count(*) AS samples
    FROM profile_samples s JOIN profiles p ON p.profile_id = s.profile_id
    WHERE s.sample_type = p.default_sample_type
    GROUP BY s.profile_id
)
SELECT p.profile_id,
       p.service_name AS service,
       p.profile_type AS type,
       list_transform(p.sample_types,
           lambda t: coalesce(t.type, '') || '/' || coalesce(t.unit, '')) AS sample_types,
       p.default_sample_type AS default_type,
       (SELECT any_value(t.unit) FROM unnest(p.sample_types) AS u(t)
        WHERE t.type = p.default_sample_type) AS unit,
       coalesce(totals.total, 0) AS total,
       coalesce(totals.samples, 0)::BIGINT AS samples,
       p.time,
       p.duration_ns,
       src.path AS source
FROM profiles p
LEFT JOIN totals ON totals.profile_id = p.profile_id
LEFT JOIN sources src ON src.source_id = p.source_id
{where}
ORDER BY p.time NULLS LAST, p.service_name, p.profile_id
"""
"""One row per profile."""


def list_profiles(store: Store, filt: ProfileFilter | None = None) -> pa.Table:
    """The profiles loaded, in time order.

    Args:
        store: the open store.
        filt: which profiles (services, window, ids; the sample type is ignored).

    Returns:
        ``profile_id``, ``service``, ``type`` (cpu, heap, wall…), ``sample_types``
        (``type/unit`` strings in file order), ``default_type``, its ``unit``, ``total``
        (sum of the absolute values of the default type), ``samples`` (non-zero sample
        rows of the default type), ``time`` (start, timestamp[ns]; NULL when the format
        has none), ``duration_ns`` and ``source`` (the file it came from).
    """
    where, params = _profile_where(filt or ProfileFilter())
    return store.query(LIST_SQL.format(where=where), params)


# --------------------------------------------------------------------------- sample type

TYPES_SQL = """
SELECT t.type AS type,
       any_value(t.unit) AS unit,
       count(*) AS profiles,
       count(*) FILTER (WHERE p.default_sample_type = t.type) AS as_default,
       min(i) AS first_index,
       max(i) AS last_index
FROM profiles p, unnest(p.sample_types) WITH ORDINALITY AS u(t, i)
{where}
GROUP BY t.type
ORDER BY as_default DESC, profiles DESC, t.type
"""
"""The sample types of the selected profiles, the most common default first."""

SELECTED_SQL = """
SELECT count(*), list_sort(list_distinct(list(p.service_name))),
       epoch_ns(min(p.time)), max(epoch_ns(p.time) + coalesce(p.duration_ns, 0))
FROM profiles p {where}
"""
"""How many profiles a filter selects, their services and time span."""


@dataclass(frozen=True)
class SampleType:
    """The sample type an analysis aggregates, and how it was chosen."""

    name: str
    """Its name (``cpu``, ``samples``, ``alloc_space``…; may be empty in odd files)."""
    unit: str | None
    """Its unit (``nanoseconds``, ``bytes``, ``count``…)."""
    defaulted: bool
    """Chosen by pprof's default rule (no ``--sample-type``)."""
    others: tuple[str, ...] = ()
    """The other sample types the selected profiles carry."""
    mixed_defaults: tuple[str, ...] = ()
    """Defaults of selected profiles that were *not* chosen (profiles of another kind
    are in the selection and are left out)."""


@dataclass(frozen=True)
class Selection:
    """What a filter selected: the profiles and the sample type aggregated."""

    sample_type: SampleType
    profiles: int
    """Number of profiles selected (some may lack the sample type)."""
    services: tuple[str, ...]
    """Their services, sorted."""
    start_ns: int | None
    """Start of the earliest profile (None when no profile has a time)."""
    end_ns: int | None
    """End of the latest profile (start + duration)."""


def select(store: Store, filt: ProfileFilter, window: TimeWindow | None = None) -> Selection:
    """Resolve a filter: how many profiles it selects and which sample type to use.

    Args:
        store: the open store.
        filt: the filter; its ``sample_type`` is resolved as pprof's ``-sample_index``.
        window: overrides ``filt.window`` (a diff resolves both windows together).

    Raises:
        InputNotFound: no profile matches, or no selected profile has the sample type.
        UsageError: a numeric sample type when profiles differ in their sample types.
    """
    where, params = _profile_where(filt, window)
    count, services, start, end = store.rows(SELECTED_SQL.format(where=where), params)[0]
    if not count:
        raise InputNotFound(_nothing_selected(store, filt, window))
    rows = store.rows(TYPES_SQL.format(where=where), params)
    st = _choose_type(rows, filt.sample_type, int(count))
    return Selection(
        sample_type=st,
        profiles=int(count),
        services=tuple(s for s in services if s is not None),
        start_ns=None if start is None else int(start),
        end_ns=None if end is None else int(end),
    )


def _choose_type(rows: list[tuple[Any, ...]], wanted: str | None, count: int) -> SampleType:
    names = [r[0] for r in rows]
    units = {r[0]: r[1] for r in rows}
    if wanted is None:
        defaults = [r[0] for r in rows if r[3]]
        if defaults:
            name = defaults[0]
        elif rows:  # no profile names a default: pprof takes the last sample type
            name = max(rows, key=lambda r: (r[5], r[2]))[0]
        else:
            raise InputNotFound("the selected profiles have no sample types")
        return SampleType(
            name=name,
            unit=units.get(name) or None,
            defaulted=True,
            others=tuple(n for n in names if n != name),
            mixed_defaults=tuple(d for d in defaults if d != name),
        )
    if wanted in units:
        return SampleType(
            wanted, units[wanted] or None, False, tuple(n for n in names if n != wanted)
        )
    if wanted.isdigit():
        if any(r[2] != count for r in rows) or any(r[4] != r[5] for r in rows):
            raise UsageError(
                f"--sample-type {wanted}: the selected profiles do not share one list of"
                " sample types; give the name (" + ", ".join(_shown(names)) + ")"
            )
        by_index = {r[4] - 1: r[0] for r in rows}
        if int(wanted) in by_index:
            name = by_index[int(wanted)]
            return SampleType(
                name, units[name] or None, False, tuple(n for n in names if n != name)
            )
        raise InputNotFound(
            f"--sample-type {wanted}: the profiles have {len(rows)} sample types (0 to"
            f" {len(rows) - 1}): " + ", ".join(_shown(names))
        )
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InputNotFound(
        f"no selected profile has sample type {wanted!r} (they have: "
        + ", ".join(_shown(names))
        + f"){hint}"
    )


def _explicit(name: str, units: dict[str, Any], names: list[str]) -> SampleType:
    return SampleType(name, units[name] or None, False, tuple(n for n in names if n != name))


def _shown(names: Iterable[str]) -> list[str]:
    return [n if n else "''" for n in names]


def _nothing_selected(store: Store, filt: ProfileFilter, window: TimeWindow | None) -> str:
    loaded = store.rows(
        "SELECT service_name, count(*) FROM profiles GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8"
    )
    if not loaded and store.engine != "duckdb":
        return (
            f"{store.location} has no profiles: the OpenTelemetry exporter writes no profile"
            " tables; read profiles from a local store (obsctl ingest PATH)"
        )
    if not loaded:
        return "no profiles are loaded; load some with 'obsctl ingest PATH'"
    parts = []
    if filt.services:
        parts.append("service " + ", ".join(filt.services))
    w = window if window is not None else filt.window
    if w.bounded:
        parts.append("the time window")
    if filt.profile_ids:
        parts.append("the profile ids")
    what = " and ".join(parts) or "the filters"
    names = ", ".join(str(r[0]) for r in loaded)
    return f"no profiles match {what} (services with profiles: {names})"


# --------------------------------------------------------------------------- stacks

PATHS_CTE = """
sel AS (
    {selection}
),
stacks AS (
    SELECT sel.side, hash(s.stack) AS h, len(s.stack) AS depth, min(s.rowid) AS r,
           sum(s.value) AS value, sum(abs(s.value)) AS weight
    FROM profile_samples s JOIN sel ON sel.profile_id = s.profile_id
    WHERE s.sample_type = $sample_type
    GROUP BY ALL
),
paths AS MATERIALIZED (
    SELECT k.side, list_transform(s.stack, lambda f: f.function) AS path,
           sum(k.value) AS value, sum(k.weight) AS weight
    FROM stacks k JOIN profile_samples s ON s.rowid = k.r
    GROUP BY ALL
)"""
"""Distinct function paths (LEAF FIRST) per side with their summed values: identical
stacks grouped by hash without moving nested values, one representative fetched by
``rowid``, then grouped by function path. ``weight`` sums the samples' absolute values
(pprof's total)."""

SIDE_SQL = "SELECT p.profile_id, '{side}' AS side FROM profiles p {where}"
"""One side's profiles (``side`` is a fixed literal: 'all', 'base' or 'target')."""


def _paths_cte(
    filt: ProfileFilter, sample_type: str, sides: Sequence[tuple[str, TimeWindow | None]]
) -> tuple[str, dict[str, Any]]:
    """The ``WITH`` body selecting each side's profiles, and its parameters."""
    parts: list[str] = []
    params: dict[str, Any] = {"sample_type": sample_type}
    for i, (side, window) in enumerate(sides):
        assert side in ("all", "base", "target")
        where, p = _profile_where(filt, window, tag=f"_{i}")
        parts.append(SIDE_SQL.format(side=side, where=where))
        params.update(p)
    return PATHS_CTE.format(selection="\n    UNION ALL ".join(parts)), params


FUNCTIONS_CTE = """
flat AS (
    SELECT side, path[1] AS function, sum(value) AS flat
    FROM paths WHERE len(path) > 0 GROUP BY ALL
),
cum AS (
    SELECT side, u.function, sum(value) AS cum
    FROM paths, unnest(list_distinct(paths.path)) AS u(function)
    GROUP BY ALL
),
fn AS (
    SELECT c.side, c.function, coalesce(f.flat, 0) AS flat, c.cum
    FROM cum c LEFT JOIN flat f ON f.side = c.side AND f.function = c.function
)"""
"""Flat and cum per side and function: flat for a path's leaf, cum once for every
distinct function of the path (recursion counted once)."""

TOP_SQL = """
WITH {cte},{functions}
SELECT fn.function, fn.flat,
       fn.flat / nullif($total, 0) * 100 AS flat_pct,
       sum(fn.flat) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING)
           / nullif($total, 0) * 100 AS sum_pct,
       fn.cum,
       fn.cum / nullif($total, 0) * 100 AS cum_pct
FROM fn
ORDER BY {order}
"""
"""pprof's ``-top`` table: every function, in pprof's order, ``sum%`` running."""

TOTALS_SQL = """
WITH sel AS ({selection})
SELECT sel.side, sum(abs(s.value))
FROM profile_samples s JOIN sel ON sel.profile_id = s.profile_id
WHERE s.sample_type = $sample_type
GROUP BY sel.side
"""
"""Each side's total: the sum of its samples' absolute values (pprof's total), a plain
scan without grouping stacks."""


def _side_totals(
    store: Store,
    filt: ProfileFilter,
    sample_type: str,
    sides: Sequence[tuple[str, TimeWindow | None]],
) -> dict[str, float]:
    """Each side's total (0 when it has no sample of the type)."""
    parts: list[str] = []
    params: dict[str, Any] = {"sample_type": sample_type}
    for i, (side, window) in enumerate(sides):
        assert side in ("all", "base", "target")
        where, p = _profile_where(filt, window, tag=f"_{i}")
        parts.append(SIDE_SQL.format(side=side, where=where))
        params.update(p)
    sql = TOTALS_SQL.format(selection="\n    UNION ALL ".join(parts))
    found = {str(k): float(v or 0.0) for k, v in store.rows(sql, params)}
    return {side: found.get(side, 0.0) for side, _ in sides}


_ORDERS = {
    "flat": "abs(fn.flat) DESC, fn.function, abs(fn.cum) DESC",
    "cum": "abs(fn.cum) DESC, fn.function, abs(fn.flat) DESC",
}


@dataclass(frozen=True)
class TopResult:
    """``top``: flat and cum per function over the selected profiles."""

    table: pa.Table
    """``function``, ``flat``, ``flat_pct``, ``sum_pct``, ``cum``, ``cum_pct`` (percent of
    ``total``), in pprof's order."""
    selection: Selection
    """The profiles and sample type."""
    total: float
    """Sum of the samples' absolute values (what the percentages divide by)."""


def top(store: Store, filt: ProfileFilter, *, sort: str = "flat") -> TopResult:
    """Flat, flat%, sum%, cum and cum% per function, as ``pprof -top`` computes them.

    Args:
        store: the open store.
        filt: which profiles and sample type.
        sort: ``flat`` (pprof's default order) or ``cum`` (``pprof -top -cum``).

    Returns:
        Every function (nothing dropped: the caller decides how many to show).

    Raises:
        InputNotFound: no profile, or no such sample type, in the selection.
        UsageError: an unknown ``sort``.
    """
    if sort not in _ORDERS:
        raise UsageError(f"sort by flat or cum, not {sort!r}")
    sel = select(store, filt)
    cte, params = _paths_cte(filt, sel.sample_type.name, [("all", None)])
    total = _side_totals(store, filt, sel.sample_type.name, [("all", None)])["all"]
    table = store.query(
        TOP_SQL.format(cte=cte, functions=FUNCTIONS_CTE, order=_ORDERS[sort]),
        {**params, "total": total},
    )
    return TopResult(table=table, selection=sel, total=total)


# --------------------------------------------------------------------------- functions

FIND_SQL = """
WITH {cte},
names AS (SELECT DISTINCT u.function FROM paths, unnest(paths.path) AS u(function))
SELECT function FROM names
WHERE contains(lower(function), lower($function))
ORDER BY length(function), function
LIMIT 11
"""
"""Functions whose name contains the text (case-insensitive), shortest first."""

CLOSE_SQL = """
WITH {cte},
names AS (SELECT DISTINCT u.function FROM paths, unnest(paths.path) AS u(function))
SELECT function FROM names
WHERE jaro_winkler_similarity(lower(function), lower($function)) >= 0.8
ORDER BY jaro_winkler_similarity(lower(function), lower($function)) DESC, function
LIMIT 3
"""
"""The three names closest to the text (for "did you mean")."""

HAS_SQL = """
WITH {cte}
SELECT count(*) FROM paths WHERE list_contains(path, $function)
"""


def resolve_function(store: Store, filt: ProfileFilter, name: str) -> str:
    """The function a user means: the exact name, else the one name containing ``name``.

    Args:
        store: the open store.
        filt: the profiles to look in (the sample type must be resolvable).
        name: a full function name or a part of one (case-insensitive).

    Raises:
        InputNotFound: no function of the selection matches (close names suggested).
        UsageError: the text is part of several names (the first ones are listed).
    """
    sel = select(store, filt)
    cte, params = _paths_cte(filt, sel.sample_type.name, [("all", None)])
    if store.scalar(HAS_SQL.format(cte=cte), {**params, "function": name}):
        return name
    return _resolve_missing(store, cte, params, name)


def _resolve_missing(store: Store, cte: str, params: dict[str, Any], name: str) -> str:
    """``name`` is not a function of the selection: the one name containing it, else an
    error (ambiguous: ``UsageError``; nothing close: ``InputNotFound``)."""
    params = {**params, "function": name}
    found = [r[0] for r in store.rows(FIND_SQL.format(cte=cte), params)]
    if len(found) == 1:
        return str(found[0])
    if found:
        shown = ", ".join(found[:10]) + (", …" if len(found) > 10 else "")
        raise UsageError(f"{name!r} is part of several function names: {shown}; give one")
    close = [r[0] for r in store.rows(CLOSE_SQL.format(cte=cte), params)]
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise InputNotFound(f"no function {name!r} in the selected profiles{hint}")


PEEK_SQL = """
WITH {cte},
hit AS (
    SELECT row_number() OVER () AS sid, path, value
    FROM paths WHERE list_contains(path, $function)
),
occ AS (
    SELECT hit.sid, hit.value, hit.path, u.i
    FROM hit, unnest(hit.path) WITH ORDINALITY AS u(function, i)
    WHERE u.function = $function
),
callers AS (
    SELECT DISTINCT sid, value, coalesce(path[i + 1], $root) AS function FROM occ
),
callees AS (
    SELECT DISTINCT sid, value, path[i - 1] AS function FROM occ WHERE i > 1
)
SELECT 'caller' AS relation, function, sum(value) AS value FROM callers GROUP BY function
UNION ALL
SELECT 'callee', function, sum(value) FROM callees GROUP BY function
UNION ALL
SELECT 'cum', $function, sum(value) FROM hit
UNION ALL
SELECT 'flat', $function, coalesce(sum(value), 0) FROM hit WHERE path[1] = $function
"""
"""A function's callers and callees with the value through each edge (an edge counted
once per path, even under recursion), its cum, flat and the selection's total."""


@dataclass(frozen=True)
class Peek:
    """One function's place in the call graph (``pprof -peek``)."""

    function: str
    """The function's full name."""
    flat: float
    """Value of the samples where it is the leaf."""
    cum: float
    """Value of the samples with it anywhere on the stack."""
    total: float
    """The selection's total."""
    callers: pa.Table
    """``function``, ``value``, ``pct`` (of the total) and ``share`` (of this function's
    cum), largest first; ``(root)`` when it is the outermost frame."""
    callees: pa.Table
    """Same columns for the functions it calls."""
    selection: Selection


def peek(store: Store, filt: ProfileFilter, function: str) -> Peek:
    """Callers and callees of ``function`` with the share of its time through each.

    Args:
        store: the open store.
        filt: which profiles and sample type.
        function: a full name, or a part of exactly one name (see ``resolve_function``).

    Raises:
        InputNotFound: no such function (close names suggested) or no profiles.
        UsageError: ``function`` is part of several names.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    sel = select(store, filt)
    sides: list[tuple[str, TimeWindow | None]] = [("all", None)]
    cte, params = _paths_cte(filt, sel.sample_type.name, sides)
    total = _side_totals(store, filt, sel.sample_type.name, sides)["all"]
    name = function
    raw = store.query(PEEK_SQL.format(cte=cte), {**params, "function": name, "root": ROOT})
    rel = raw.column("relation")
    if pc.filter(raw.column("value"), pc.equal(rel, "cum"))[0].as_py() is None:
        name = _resolve_missing(store, cte, params, function)  # try first: one scan less
        raw = store.query(PEEK_SQL.format(cte=cte), {**params, "function": name, "root": ROOT})
        rel = raw.column("relation")
    scalar = {
        r["relation"]: (r["value"] or 0.0)
        for r in raw.filter(pc.is_in(rel, pa.array(["cum", "flat"]))).to_pylist()
    }
    cum = float(scalar.get("cum", 0.0))

    def edges(kind: str) -> pa.Table:
        t = raw.filter(pc.equal(rel, kind)).select(["function", "value"])
        value = t.column("value")
        t = t.append_column("pct", pc.multiply(pc.divide(value, total or float("nan")), 100.0))
        t = t.append_column("share", pc.multiply(pc.divide(value, cum or float("nan")), 100.0))
        order = pc.sort_indices(
            pa.table({"v": pc.abs(value), "f": t.column("function")}),
            sort_keys=[("v", "descending"), ("f", "ascending")],
        )
        return t.take(order)

    return Peek(
        function=name,
        flat=float(scalar.get("flat", 0.0)),
        cum=cum,
        total=total,
        callers=edges("caller"),
        callees=edges("callee"),
        selection=sel,
    )


# --------------------------------------------------------------------------- call trees

TREE_SQL = """
WITH {cte}
SELECT list_reverse(path) AS path, sum(value) AS value
FROM paths
GROUP BY 1
"""
"""Distinct function paths ROOT FIRST with their values (the flame graph's input)."""

FOCUS_SQL = """
WITH {cte},
cut AS (
    SELECT list_reverse(path) AS rpath, value
    FROM paths WHERE list_contains(path, $function)
)
SELECT list_slice(rpath, list_position(rpath, $function), len(rpath)) AS path,
       sum(value) AS value
FROM cut
GROUP BY 1
"""
"""The paths through a function, cut above its outermost occurrence (so recursion is
not counted twice): the call tree below it."""

DIFF_TREE_SQL = """
WITH {cte}
SELECT side, list_reverse(path) AS path, sum(value) AS value
FROM paths
GROUP BY 1, 2
"""


@dataclass(frozen=True)
class CallTree:
    """The aggregated call tree (flame graph / icicle): row 0 of ``nodes`` is the root.

    Nodes are in level order (every node of depth 1, then of depth 2…); a node's children
    are contiguous rows, ordered by value (largest first), then name. ``x`` places each
    node in a flame graph: its left edge in value units from the root's left edge (its
    parent's ``x`` plus its elder siblings' values), so a renderer only has to scale.
    """

    nodes: pa.Table
    """``name``, ``parent`` (-1 for the root), ``depth`` (0 for the root), ``x``,
    ``child_start``/``child_count`` (the children's rows), ``value`` (inclusive: the
    samples whose path runs through the node) and ``self`` (those whose path ends there)."""
    total: float
    """The selection's total (percentages divide by it; for a focused tree the root's
    value is the focus function's cum, a part of it)."""
    selection: Selection
    focus: str | None = None
    """The function the tree was rooted at (``tree FUNC``), if any."""

    def __len__(self) -> int:
        return self.nodes.num_rows

    def depth(self) -> int:
        """Number of levels below the root."""
        return int(self.nodes.column("depth")[-1].as_py()) if self.nodes.num_rows else 0

    def share(self, node: int) -> float:
        """The node's inclusive value as a fraction of the total (0 when that is 0)."""
        v = self.nodes.column("value")[node].as_py()
        return v / self.total if self.total else 0.0

    def children(self, node: int) -> range:
        """Rows of the node's children, largest first."""
        start = self.nodes.column("child_start")[node].as_py()
        return range(start, start + self.nodes.column("child_count")[node].as_py())


def _tree_nodes(
    paths: pa.Array | pa.ChunkedArray,
    columns: dict[str, Any],
    *,
    layout: str,
    root: str,
) -> pa.Table:
    """The prefix tree of ROOT-FIRST function paths, built level by level with numpy.

    Python loops over levels, not over paths or nodes: at depth ``d`` every path still
    that deep is keyed by (its node at ``d - 1``, its ``d``-th name); ``np.unique`` gives
    the level's nodes and each path's node, ``np.bincount`` their inclusive and self
    values. Each level is ordered by parent, ``|layout value|`` (desc) and name, so that
    children are contiguous and largest first, and ``x`` is the parent's ``x`` plus the
    widths (``max(value, 0)`` of the layout column) of the elder siblings.

    Args:
        paths: list<string> paths, root first (one per distinct path).
        columns: value columns per path (``{"value": array}``; a diff passes two).
        layout: the column whose values order siblings and give widths.
        root: the root node's name.

    Returns:
        The ``nodes`` table: ``NODE_COLUMNS`` plus, per value column ``k``, ``k`` and
        ``k_self`` (``self`` for ``value``).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(paths, pa.ChunkedArray):
        paths = paths.combine_chunks() if paths.num_chunks else pa.array([], paths.type)
    n = len(paths)
    lengths = pc.fill_null(pc.list_value_length(paths), 0).to_numpy(zero_copy_only=False)
    lengths = lengths.astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    enc = pc.dictionary_encode(pc.list_flatten(paths))
    name_idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    dictionary = enc.dictionary
    nn = max(len(dictionary), 1)
    name_rank = np.empty(len(dictionary), dtype=np.int64)
    name_rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    vals = {k: np.nan_to_num(np.asarray(v, dtype=np.float64)) for k, v in columns.items()}

    node_of_path = np.zeros(n, dtype=np.int64)  # every path starts at the root (row 0)
    ends = lengths == 0
    parents = [np.array([-1], dtype=np.int64)]
    names = [np.array([-1], dtype=np.int64)]
    depths = [np.array([0], dtype=np.int32)]
    x_all = np.array([0.0])
    incl = {k: [np.array([v.sum()])] for k, v in vals.items()}
    selfs = {k: [np.array([v[ends].sum()])] for k, v in vals.items()}
    count = 1
    d = 0
    while True:
        idx = np.flatnonzero(lengths > d)
        if not len(idx):
            break
        key = node_of_path[idx] * nn + name_idx[offsets[idx] + d]
        uniq, inv = np.unique(key, return_inverse=True)
        m = len(uniq)
        ends = lengths[idx] == d + 1
        lvl_incl = {k: np.bincount(inv, weights=v[idx], minlength=m) for k, v in vals.items()}
        lvl_self = {
            k: np.bincount(inv[ends], weights=v[idx][ends], minlength=m) for k, v in vals.items()
        }
        lvl_parent, lvl_name = uniq // nn, uniq % nn
        order = np.lexsort((name_rank[lvl_name], -np.abs(lvl_incl[layout]), lvl_parent))
        pos = np.empty(m, dtype=np.int64)
        pos[order] = np.arange(m)
        node_of_path[idx] = count + pos[inv]
        lvl_parent = lvl_parent[order]
        width = np.maximum(lvl_incl[layout][order], 0.0)
        before = np.cumsum(width) - width  # exclusive running width over the level
        first = np.r_[True, lvl_parent[1:] != lvl_parent[:-1]]
        group = np.cumsum(first) - 1
        x_all = np.concatenate(
            [x_all, x_all[lvl_parent] + before - before[np.flatnonzero(first)][group]]
        )
        parents.append(lvl_parent)
        names.append(lvl_name[order])
        depths.append(np.full(m, d + 1, dtype=np.int32))
        for k in vals:
            incl[k].append(lvl_incl[k][order])
            selfs[k].append(lvl_self[k][order])
        count += m
        d += 1

    parent = np.concatenate(parents)
    rows = np.arange(count)
    # after the root, parents never decrease: each node's children are contiguous rows
    child_start = np.searchsorted(parent[1:], rows, "left") + 1
    child_count = np.searchsorted(parent[1:], rows, "right") + 1 - child_start
    name_ids = np.concatenate(names)
    if len(dictionary):
        name_col = dictionary.take(pa.array(np.maximum(name_ids, 0)))
        name_col = pc.if_else(pa.array(name_ids < 0), pa.scalar(root), name_col)
    else:
        name_col = pa.array([root] * count, pa.string())
    table: dict[str, Any] = {
        "name": name_col,
        "parent": pa.array(parent),
        "depth": pa.array(np.concatenate(depths)),
        "x": pa.array(x_all),
        "child_start": pa.array(child_start.astype(np.int64)),
        "child_count": pa.array(child_count.astype(np.int64)),
    }
    for k in vals:
        table[k] = pa.array(np.concatenate(incl[k]))
        table["self" if k == "value" else f"{k}_self"] = pa.array(np.concatenate(selfs[k]))
    return pa.table(table)


def call_tree(store: Store, filt: ProfileFilter, *, focus: str | None = None) -> CallTree:
    """The aggregated call tree of the selected profiles (a flame graph's data).

    Args:
        store: the open store.
        filt: which profiles and sample type.
        focus: a function (full name or a part of one): the tree below it instead, from
            its outermost occurrence on each stack.

    Raises:
        InputNotFound: no profiles, or no such function.
        UsageError: ``focus`` is part of several names.
    """
    import pyarrow.compute as pc

    sel = select(store, filt)
    sides: list[tuple[str, TimeWindow | None]] = [("all", None)]
    cte, params = _paths_cte(filt, sel.sample_type.name, sides)
    total = _side_totals(store, filt, sel.sample_type.name, sides)["all"]
    name = focus
    if name is None:
        data = store.query(TREE_SQL.format(cte=cte), params)
        paths = data.column("path")
    else:
        data = store.query(FOCUS_SQL.format(cte=cte), {**params, "function": name})
        if data.num_rows == 0:  # not an exact name: resolve it (try first: one scan less)
            name = _resolve_missing(store, cte, params, name)
            data = store.query(FOCUS_SQL.format(cte=cte), {**params, "function": name})
        paths = pc.list_slice(data.column("path"), 1)  # the focus itself is the root
    values = data.column("value").to_numpy()
    nodes = _tree_nodes(paths, {"value": values}, layout="value", root=name or ROOT)
    return CallTree(nodes=nodes, total=total, selection=sel, focus=name)


def tree_rows(
    tree: CallTree, *, min_fraction: float = 0.0, max_depth: int | None = None
) -> pa.Table:
    """The call tree as rows in depth-first order (a text tree, or JSON for scripts).

    Python walks only the nodes kept: a node whose ``|value|`` is below ``min_fraction``
    of the root's is left out with everything below it (pprof's ``-nodefraction`` idea).

    Args:
        tree: from ``call_tree``.
        min_fraction: smallest node kept, as a fraction of the root's value (0-1).
        max_depth: deepest level kept below the root (``None``: all).

    Returns:
        ``id`` (row number), ``parent`` (row of the parent, -1 for the root), ``depth``,
        ``function``, ``value``, ``self``, ``pct`` (of the selection's total) and
        ``share`` (of the root's value: for ``tree FUNC``, of FUNC's cum), both in %.
    """
    import numpy as np
    import pyarrow as pa

    nodes = tree.nodes
    values = nodes.column("value").to_numpy()
    start = nodes.column("child_start").to_numpy()
    count = nodes.column("child_count").to_numpy()
    root_value = float(values[0]) if len(values) else 0.0
    floor = abs(root_value) * min_fraction
    keep: list[int] = []
    parent_row: list[int] = []
    depth: list[int] = []
    stack: list[tuple[int, int, int]] = [(0, -1, 0)] if len(values) else []
    while stack:
        node, prow, d = stack.pop()
        row = len(keep)
        keep.append(node)
        parent_row.append(prow)
        depth.append(d)
        if max_depth is not None and d >= max_depth:
            continue
        kids = np.arange(start[node], start[node] + count[node])
        kids = kids[np.abs(values[kids]) >= floor] if floor else kids
        stack.extend((int(k), row, d + 1) for k in kids[::-1])
    idx = pa.array(np.asarray(keep, dtype=np.int64))
    kept = nodes.take(idx)
    val = kept.column("value").to_numpy()
    total = tree.total or float("nan")
    return pa.table(
        {
            "id": pa.array(np.arange(len(keep), dtype=np.int64)),
            "parent": pa.array(np.asarray(parent_row, dtype=np.int64)),
            "depth": pa.array(np.asarray(depth, dtype=np.int64)),
            "function": kept.column("name"),
            "value": kept.column("value"),
            "self": kept.column("self"),
            "pct": pa.array(val / total * 100),
            "share": pa.array(val / (root_value or float("nan")) * 100),
        }
    )


# --------------------------------------------------------------------------- diff

DIFF_SQL = """
WITH {cte},{functions},
per AS (
    SELECT function,
           coalesce(sum(flat) FILTER (WHERE side = 'base'), 0) AS base_flat,
           coalesce(sum(flat) FILTER (WHERE side = 'target'), 0) AS target_flat,
           coalesce(sum(cum) FILTER (WHERE side = 'base'), 0) AS base_cum,
           coalesce(sum(cum) FILTER (WHERE side = 'target'), 0) AS target_cum
    FROM fn GROUP BY function
),
shares AS (
    SELECT per.*,
           coalesce(base_flat / nullif($base_total, 0) * 100, 0) AS base_flat_pct,
           coalesce(target_flat / nullif($target_total, 0) * 100, 0) AS target_flat_pct,
           coalesce(base_cum / nullif($base_total, 0) * 100, 0) AS base_cum_pct,
           coalesce(target_cum / nullif($target_total, 0) * 100, 0) AS target_cum_pct
    FROM per
)
SELECT function,
       base_cum_pct, target_cum_pct, target_cum_pct - base_cum_pct AS cum_change,
       base_flat_pct, target_flat_pct, target_flat_pct - base_flat_pct AS flat_change,
       round(abs(target_cum_pct - base_cum_pct) + abs(target_flat_pct - base_flat_pct), 9)
           AS score,
       base_flat, target_flat, base_cum, target_cum
FROM shares
ORDER BY score DESC,
         (target_cum_pct - base_cum_pct) + (target_flat_pct - base_flat_pct) DESC, function
"""
"""Per function: flat and cum shares of each side's own total, their change in points,
ranked by ``|Δcum| + |Δflat|`` (rounded, so float noise cannot reorder exact ties; on a
tie, growth before shrinkage)."""


@dataclass(frozen=True)
class DiffResult:
    """Which functions' share of the total grew or shrank between two windows."""

    table: pa.Table
    """``function``, ``base_cum_pct``, ``target_cum_pct``, ``cum_change`` (points),
    ``base_flat_pct``, ``target_flat_pct``, ``flat_change``, ``score`` (ranking key:
    ``|cum_change| + |flat_change|``), and the raw ``base_flat``, ``target_flat``,
    ``base_cum``, ``target_cum``; the biggest change first."""
    base: Selection
    target: Selection
    base_total: float
    target_total: float
    base_window: TimeWindow
    target_window: TimeWindow


def _diff_selections(
    store: Store, filt: ProfileFilter, base: TimeWindow, target: TimeWindow
) -> tuple[Selection, Selection]:
    """Resolve the sample type on the target, then require it in the base too."""
    from dataclasses import replace

    try:
        tsel = select(store, filt, target)
    except InputNotFound as exc:
        raise InputNotFound(f"target window: {exc}") from None
    try:
        bsel = select(store, replace(filt, sample_type=tsel.sample_type.name), base)
    except InputNotFound as exc:
        raise InputNotFound(f"base window: {exc}") from None
    return bsel, tsel


def diff(store: Store, filt: ProfileFilter, base: TimeWindow, target: TimeWindow) -> DiffResult:
    """Compare each function's share of the total between a base and a target window.

    Args:
        store: the open store.
        filt: which profiles (services, sample type; its own window is ignored).
        base: the window to compare against (e.g. before the incident).
        target: the window of interest (e.g. the incident).

    Returns:
        Every function seen in either window, ranked by the size of its change.

    Raises:
        InputNotFound: either window selects no profile with the sample type.
    """
    bsel, tsel = _diff_selections(store, filt, base, target)
    name = tsel.sample_type.name
    sides: list[tuple[str, TimeWindow | None]] = [("base", base), ("target", target)]
    cte, params = _paths_cte(filt, name, sides)
    totals = _side_totals(store, filt, name, sides)
    params.update(base_total=totals["base"], target_total=totals["target"])
    table = store.query(DIFF_SQL.format(cte=cte, functions=FUNCTIONS_CTE), params)
    return DiffResult(
        table=table,
        base=bsel,
        target=tsel,
        base_total=totals["base"],
        target_total=totals["target"],
        base_window=base,
        target_window=target,
    )


@dataclass(frozen=True)
class DiffTree:
    """The base and target call trees merged node by node (differential flame graph).

    Laid out on the *target* (``x`` and sibling order follow ``target``), as Brendan
    Gregg's differential flame graphs are: a frame's width is where the time goes now,
    its colour how its share changed. A frame gone from the target has no width; the
    diff table lists it.
    """

    nodes: pa.Table
    """``name``, ``parent``, ``depth``, ``x`` (target value units), ``child_start``,
    ``child_count``, ``base``/``target`` (inclusive values) and ``base_self``/
    ``target_self``."""
    base_total: float
    target_total: float
    base: Selection
    target: Selection

    def __len__(self) -> int:
        return self.nodes.num_rows

    def base_share(self, node: int) -> float:
        """Inclusive share of the base total (0-1)."""
        v = self.nodes.column("base")[node].as_py()
        return v / self.base_total if self.base_total else 0.0

    def target_share(self, node: int) -> float:
        """Inclusive share of the target total (0-1)."""
        v = self.nodes.column("target")[node].as_py()
        return v / self.target_total if self.target_total else 0.0

    def change(self, node: int) -> float:
        """Change of the inclusive share, in points: (target − base) × 100."""
        return (self.target_share(node) - self.base_share(node)) * 100


def diff_tree(store: Store, filt: ProfileFilter, base: TimeWindow, target: TimeWindow) -> DiffTree:
    """The merged call tree of two windows, for a differential flame graph.

    Raises:
        InputNotFound: either window selects no profile with the sample type.
    """
    import pyarrow.compute as pc

    bsel, tsel = _diff_selections(store, filt, base, target)
    name = tsel.sample_type.name
    sides: list[tuple[str, TimeWindow | None]] = [("base", base), ("target", target)]
    cte, params = _paths_cte(filt, name, sides)
    data = store.query(DIFF_TREE_SQL.format(cte=cte), params)
    totals = _side_totals(store, filt, name, sides)
    side, value = data.column("side"), data.column("value")
    cols = {
        k: pc.if_else(pc.equal(side, k), value, 0.0).to_numpy(zero_copy_only=False)
        for k in ("base", "target")
    }
    nodes = _tree_nodes(data.column("path"), cols, layout="target", root=ROOT)
    return DiffTree(
        nodes=nodes,
        base_total=totals.get("base", 0.0),
        target_total=totals.get("target", 0.0),
        base=bsel,
        target=tsel,
    )


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class StackPaths:
    """Distinct function paths of a selection (what the exports write)."""

    table: pa.Table
    """``path`` (list of function names, ROOT FIRST) and ``value``, sorted by path."""
    selection: Selection
    total: float


def stack_paths(store: Store, filt: ProfileFilter) -> StackPaths:
    """The selection's distinct function paths, root first, with summed values.

    Raises:
        InputNotFound: no profiles, or no such sample type.
    """
    sel = select(store, filt)
    sides: list[tuple[str, TimeWindow | None]] = [("all", None)]
    cte, params = _paths_cte(filt, sel.sample_type.name, sides)
    table = store.query(TREE_SQL.format(cte=cte) + " ORDER BY 1", params)
    total = _side_totals(store, filt, sel.sample_type.name, sides)["all"]
    return StackPaths(table=table, selection=sel, total=total)


def _folded_frame(name: str) -> str:
    """A frame as folded text can carry it: no ``;`` (the separator), no line breaks."""
    return name.replace(";", ":").replace("\r", " ").replace("\n", " ")


def _number(v: float) -> str:
    """A count as folded readers parse it: digits, optionally a decimal part (no exponent)."""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.6f}".rstrip("0").rstrip(".")


def folded_text(paths: StackPaths) -> tuple[str, int]:
    """The paths as folded stacks (``root;…;leaf VALUE`` lines, FlameGraph's input).

    Frames lose any ``;`` (written ``:``) and line breaks (spaces); paths whose value is
    not positive cannot be written (folded counts are non-negative) and are counted.

    Returns:
        The text, and how many paths were left out.
    """
    out: list[str] = []
    skipped = 0
    for path, value in zip(
        paths.table.column("path").to_pylist(), paths.table.column("value").to_pylist(), strict=True
    ):
        if not path or value is None or value <= 0:
            skipped += 1
            continue
        out.append(";".join(_folded_frame(f) for f in path) + " " + _number(value))
    return "".join(line + "\n" for line in out), skipped


SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"

_SPEEDSCOPE_UNITS = {
    "nanoseconds": "nanoseconds",
    "ns": "nanoseconds",
    "microseconds": "microseconds",
    "us": "microseconds",
    "milliseconds": "milliseconds",
    "ms": "milliseconds",
    "seconds": "seconds",
    "s": "seconds",
    "bytes": "bytes",
}


def speedscope_document(paths: StackPaths, name: str, exporter: str) -> dict[str, Any]:
    """The paths as a speedscope file (one ``sampled`` profile, file-format-schema.json).

    Each distinct path is one sample (root-first frame indices) weighted by its value;
    the unit is the sample type's when speedscope knows it, else ``none``. Paths whose
    value is not positive are left out (speedscope weights are durations or sizes).

    Args:
        paths: from ``stack_paths``.
        name: the profile group's and the profile's name.
        exporter: who wrote it (``obsctl x.y.z``).
    """
    frames: dict[str, int] = {}
    samples: list[list[int]] = []
    weights: list[float] = []
    for path, value in zip(
        paths.table.column("path").to_pylist(), paths.table.column("value").to_pylist(), strict=True
    ):
        if not path or value is None or value <= 0:
            continue
        samples.append([frames.setdefault(f, len(frames)) for f in path])
        weights.append(int(value) if float(value).is_integer() else value)
    unit = _SPEEDSCOPE_UNITS.get((paths.selection.sample_type.unit or "").lower(), "none")
    end = sum(weights)
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": [{"name": f} for f in frames]},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": unit,
                "startValue": 0,
                "endValue": end,
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": exporter,
    }
