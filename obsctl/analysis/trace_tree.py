"""The span tree of a trace: structure, layout, self time and critical path.

Input is Arrow rows of one trace (or of many, with a ``trace`` code column) as
``analysis.traces`` loads them; output is a frozen ``Forest`` of NumPy arrays indexed by
*node* (node ``i < n`` is row ``i``; synthetic roots are appended after the rows). The
CLI waterfall, ``--format json``, the TUI and reports all read the same arrays.

Real exports are messy, and every trace must still draw. The rules, applied per trace:

* **Duplicate span ids** (Jaeger exports, the same trace loaded from two files) are all
  kept. The second and later rows sharing an id get a ``#2``, ``#3``… suffix in
  ``uid``. A child names its parent by id only, so it is attached to the row of that id
  that came from the *same file* if there is one (a trace loaded twice gives two
  trees, not one tree with doubled children), else to the server-side row, else to the
  earliest one.
* **Zipkin shared spans**: a client half (CLIENT/PRODUCER) and a server half
  (SERVER/CONSUMER) with one id are a pair. The server half becomes the child of the
  client half (its ``uid`` gets ``~server``), and children naming the id hang under the
  server half, which is where Zipkin puts them.
* **Orphans** (the parent id is not in the trace) and **several roots**: if the trace has
  exactly one top-level span, orphans are attached under it; otherwise a synthetic root
  (``uid`` ``(root)``) spanning the whole trace holds every top-level span and orphan.
  Orphans carry ``ORPHAN``; parent cycles (ids that point at each other) are cut the same
  way and also carry ``CYCLE``.
* **Missing times** (Zipkin spans without ``timestamp``/``duration``): taken from the
  children's extent, else the parent's start with a zero duration (``NO_TIMING``).
* **Clock skew**: a child cannot start before its parent, so one that does (its host's
  clock is behind) is moved right, with its whole subtree, to start with the parent —
  keeping its duration — for the layout (``layout_start``/``layout_end``; flag ``SKEW``).
  A child that ends after its parent (async work: a message consumed later, a
  fire-and-forget call — or skew) is drawn as recorded (flag ``OVERRUN``). For the
  critical path every span is then clamped into its parent (``cp_start``/``cp_end``),
  as Jaeger does: work after the parent ended cannot have delayed it. The raw times
  (``start``/``end``) are kept and reported.

Definitions (tested as properties on every corpus trace and the demo):

* **Self time** = the span's raw duration minus the union of its children's intervals
  clipped to the span. It is never negative and depends only on the span and its real
  children (orphans adopted by a root do not count against it; a synthetic root's self
  time is the gaps between its top-level spans), which is what ``traces services``
  computes in SQL for whole windows, so both agree.
* **Critical path** (the classic algorithm, as in Jaeger): start at the end of the root
  and walk back; the last-finishing child (among children finishing before the current
  point) is on the path and is descended into, then the walk resumes at that child's
  start; the gaps are the parent's own time. It runs on the clamped intervals, so its
  segments tile the root's ``[cp_start, cp_end]`` (its drawn extent) exactly, with no gap
  or overlap.

Everything is iterative (no recursion: a 100k-deep chain is fine) and O(n log n).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

ORPHAN = 1
"""The span's parent id is not in the trace: attached under the root (or synthetic root)."""
SKEW = 2
"""The span starts before its parent (clock skew): moved, with its subtree, for layout."""
DUPLICATE = 4
"""Another row of the trace has the same span id (and the same client/server role)."""
SHARED = 8
"""One half of a Zipkin shared client/server span."""
SYNTHETIC = 16
"""Not a span: the synthetic root holding several roots or orphans."""
NO_TIMING = 32
"""The span had no start or duration: placed from its children or its parent."""
CYCLE = 64
"""The span's parent chain loops back on itself: cut here."""
OVERRUN = 128
"""The span ends after its parent (async work or clock skew): clamped for the critical
path only."""

FLAG_NAMES = {
    ORPHAN: "orphan",
    SKEW: "clock_skew",
    DUPLICATE: "duplicate",
    SHARED: "shared",
    SYNTHETIC: "synthetic",
    NO_TIMING: "no_timing",
    CYCLE: "cycle",
    OVERRUN: "ends_after_parent",
}
"""Flag bit → the name used in JSON output and notes."""

SYNTHETIC_UID = "(root)"
"""``uid`` of a synthetic root."""

_CLIENT_KINDS = frozenset({"CLIENT", "PRODUCER"})
_SERVER_KINDS = frozenset({"SERVER", "CONSUMER"})


@dataclass(frozen=True)
class Forest:
    """One or more traces as span trees (see the module docstring for the rules).

    Arrays are indexed by node: nodes ``0..n_rows-1`` are the input rows in input order,
    nodes from ``n_rows`` on are synthetic roots. Times are ns since the epoch.
    """

    n_rows: int
    """Number of input rows (real spans)."""
    trace: np.ndarray
    """Per node, the trace code (0 for a single trace)."""
    uid: list[str]
    """Per node, the span id made unique within its trace (``#2``, ``~server``, ``(root)``)."""
    parent: np.ndarray
    """Per node, the parent node in the drawn tree; -1 for a root."""
    roots: np.ndarray
    """The root node of each trace code (index = trace code)."""
    depth: np.ndarray
    """Per node, the depth (root 0)."""
    order: np.ndarray
    """Nodes in display order: per trace, depth-first, children by layout start."""
    start: np.ndarray
    """Per node, raw start (missing times filled, see ``NO_TIMING``)."""
    end: np.ndarray
    """Per node, raw end (never before ``start``)."""
    layout_start: np.ndarray
    """Per node, drawn start: ``start`` moved right with its subtree when it started
    before its parent."""
    layout_end: np.ndarray
    """Per node, drawn end (``end`` moved by the same amount)."""
    cp_start: np.ndarray
    """Per node, the layout interval clamped into the parent's (critical path)."""
    cp_end: np.ndarray
    """Per node, the layout end clamped into the parent's clamped interval."""
    self_time: np.ndarray
    """Per node, raw duration not covered by its real children (>= 0)."""
    flags: np.ndarray
    """Per node, a bit set of ``ORPHAN``, ``SKEW``…"""
    critical: np.ndarray
    """Per node, whether some critical-path segment belongs to it."""
    seg_node: np.ndarray
    """Critical-path segments: owner node, per trace in time order."""
    seg_start: np.ndarray
    """Critical-path segments: start (ns since the epoch)."""
    seg_end: np.ndarray
    """Critical-path segments: end (ns since the epoch)."""
    missing_parent: dict[int, str]
    """Orphan node → the parent id it names (absent from the trace)."""

    @property
    def size(self) -> int:
        """Number of nodes (rows + synthetic roots)."""
        return len(self.uid)


@dataclass(frozen=True)
class TraceTree:
    """One trace: its rows (Arrow), the forest built from them and what was repaired."""

    trace_id: str
    """The trace id (32 lowercase hex digits)."""
    spans: pa.Table
    """The trace's rows as loaded (``analysis.traces.SPAN_COLUMNS``)."""
    forest: Forest
    """Structure, layout, self time and critical path."""
    warnings: tuple[str, ...]
    """Plain sentences saying what was repaired (orphans, skew, duplicates…)."""

    @property
    def root(self) -> int:
        """The root node (possibly synthetic)."""
        return int(self.forest.roots[0])

    @property
    def start_ns(self) -> int:
        """Start of the drawing: the earliest drawn span start, ns since the epoch."""
        return int(self.forest.layout_start.min())

    @property
    def end_ns(self) -> int:
        """End of the drawing: the latest drawn span end (async work included)."""
        return int(self.forest.layout_end.max())

    @property
    def duration_ns(self) -> int:
        """Extent of the drawing (``end_ns - start_ns``)."""
        return self.end_ns - self.start_ns

    @property
    def root_duration_ns(self) -> int:
        """Duration of the root span: what the critical path tiles."""
        f = self.forest
        return int(f.cp_end[self.root] - f.cp_start[self.root])


# --------------------------------------------------------------------------- building


def build_tree(spans: pa.Table, trace_id: str = "") -> TraceTree:
    """Build the tree of one trace from its rows.

    Args:
        spans: rows with ``span_id``, ``parent_span_id``, ``kind``, ``source_id``,
            ``start_ns``, ``end_ns`` (int64, may be null) and ``status_code``.
        trace_id: the trace's id, for the result.

    Returns:
        The ``TraceTree`` (an empty table gives a tree of one synthetic root).
    """
    forest = build_forest(spans)
    return TraceTree(trace_id, spans, forest, tuple(describe_repairs(forest)))


def build_forest(spans: pa.Table) -> Forest:
    """Build span trees for the rows of one or many traces (``trace`` int column).

    Args:
        spans: as for ``build_tree``, plus an optional ``trace`` integer column
            (0-based codes; rows of one trace need not be adjacent).

    Returns:
        The ``Forest``.
    """
    import numpy as np

    n = spans.num_rows
    cols = spans.column_names
    tk: list[int] = spans.column("trace").to_pylist() if "trace" in cols else [0] * n
    ids: list[str] = spans.column("span_id").to_pylist()
    pids: list[str | None] = spans.column("parent_span_id").to_pylist()
    kinds: list[str | None] = spans.column("kind").to_pylist()
    src: list[Any] = spans.column("source_id").to_pylist() if "source_id" in cols else [0] * n
    s_raw = _int_column(spans, "start_ns")
    e_raw = _int_column(spans, "end_ns")
    n_traces = (max(tk) + 1) if n else 1

    flags = [0] * n
    uid = list(ids)
    parent = [-1] * n
    missing_parent: dict[int, str] = {}

    # -- groups of rows sharing (trace, span id); most ids are unique (fast path)
    keys: list[Any] = list(zip(tk, ids, strict=True))
    first_row = dict(zip(keys, range(n), strict=True))
    groups: dict[tuple[int, str], list[int]] = {}
    if len(first_row) < n:
        for key, c in Counter(keys).items():
            if c > 1:
                groups[key] = []
        for i, key in enumerate(keys):
            g = groups.get(key)
            if g is not None:
                g.append(i)

    twin: dict[int, int] = {}  # server half → its client half
    target = first_row  # id → preferred row for children (first row unless repaired)
    target_src: dict[tuple[int, str, Any], int] = {}  # (group, source) → preferred row
    ranked: dict[tuple[int, str], list[int]] = {}  # group → rows, preferred first
    for key, rows in groups.items():
        ranked[key] = _resolve_group(rows, kinds, src, s_raw, key, flags, uid, twin, target_src)
        target[key] = ranked[key][0]

    # -- parents
    top: list[list[int]] = [[] for _ in range(n_traces)]
    orphans: list[list[int]] = [[] for _ in range(n_traces)]
    guess = [target.get(k, -1) for k in zip(tk, pids, strict=True)]
    for i in range(n):
        p = pids[i]
        if not p:
            if i in twin:
                parent[i] = twin[i]
            else:
                top[tk[i]].append(i)
            continue
        j = guess[i]
        if j >= 0 and not groups and j != i:
            parent[i] = j
            continue
        t = twin.get(i)
        if t is not None:
            parent[i] = t
            continue
        key = (tk[i], p)
        j = target_src.get((tk[i], p, src[i]))
        if j is None:
            j = target.get(key)
        if j is not None and j == i:  # names itself: another row of the id, if any
            others = [r for r in ranked.get(key, ()) if r != i]
            same = [r for r in others if src[r] == src[i]]
            j = (same or others or [None])[0]
        if j is None:
            flags[i] |= ORPHAN
            missing_parent[i] = p
            orphans[tk[i]].append(i)
        else:
            parent[i] = j

    # -- roots (real or synthetic) per trace
    trace_of = list(tk)
    roots = [0] * n_traces
    for t in range(n_traces):
        heads = top[t] if top[t] else orphans[t]
        rest = orphans[t] if top[t] else []
        if len(heads) == 1:
            roots[t] = heads[0]
            if not top[t]:  # the only orphan is the root: not adopted
                flags[heads[0]] &= ~ORPHAN
            for o in rest:
                parent[o] = heads[0]
        else:
            r = len(uid)
            uid.append(SYNTHETIC_UID)
            flags.append(SYNTHETIC)
            parent.append(-1)
            trace_of.append(t)
            roots[t] = r
            for h in (*heads, *rest):
                parent[h] = r

    m = len(uid)
    children = _children(parent, s_raw, m)

    # -- cycles: nodes not reachable from any root
    bfs = _bfs(roots, children, m)
    if len(bfs) < m:
        seen = bytearray(m)
        for v in bfs:
            seen[v] = 1
        for v in range(m):
            if seen[v]:
                continue
            # walk up to a node seen twice on this walk: it is on the cycle; cut it there
            walk: dict[int, int] = {}
            u = v
            while u not in walk and not seen[u]:
                walk[u] = 1
                u = parent[u]
            if seen[u]:  # reached the tree after all (cut by an earlier repair)
                continue
            cut = u
            old = parent[cut]
            children[old].remove(cut)
            r = roots[trace_of[cut]]
            parent[cut] = r
            children[r].append(cut)
            flags[cut] |= ORPHAN | CYCLE
            missing_parent[cut] = pids[cut] or ""
            for w in _bfs([cut], children, m):
                seen[w] = 1
        bfs = _bfs(roots, children, m)

    # -- times: fill missing from children (bottom-up), then from the parent (top-down)
    start = [*s_raw, *([None] * (m - n))]
    end = [*e_raw, *([None] * (m - n))]
    missing = m > n or None in s_raw or None in e_raw
    for v in range(n) if missing else ():
        if start[v] is None or end[v] is None:
            flags[v] |= NO_TIMING
    for v in reversed(bfs) if missing else ():
        kids = children[v]
        if kids and (start[v] is None or end[v] is None):
            ks = [start[k] for k in kids if start[k] is not None]
            ke = [end[k] for k in kids if end[k] is not None]
            if start[v] is None and ks:
                start[v] = min(ks)
            if end[v] is None and ke:
                end[v] = max(ke)
    fallback = min((s for s in s_raw if s is not None), default=0)
    for v in bfs if missing else ():
        p = parent[v]
        if start[v] is None:
            start[v] = start[p] if p >= 0 else fallback
            if v < n:
                flags[v] |= NO_TIMING
        if end[v] is None or end[v] < start[v]:
            end[v] = start[v]
            if v < n:
                flags[v] |= NO_TIMING

    # -- layout: a child starting before its parent moves right with its subtree;
    #    critical-path intervals: the layout clamped into the parent (top-down)
    ls = list(start)
    le = list(end)
    cs = list(start)
    ce = list(end)
    shift = [0] * m
    for v in bfs:
        p = parent[v]
        if p < 0:
            continue
        sh = shift[p]
        s0 = start[v] + sh
        if s0 < ls[p]:
            sh += ls[p] - s0
            flags[v] |= SKEW
        shift[v] = sh
        s1, e1 = start[v] + sh, end[v] + sh
        ls[v], le[v] = s1, e1
        if e1 > le[p]:
            flags[v] |= OVERRUN
        a, b = cs[p], ce[p]
        c0 = a if s1 < a else (b if s1 > b else s1)
        cs[v], ce[v] = c0, (c0 if e1 < c0 else (b if e1 > b else e1))

    # -- display order and depth: depth-first, children by layout start
    if missing or any(f & SKEW for f in flags):
        children = _children(parent, ls, m)
    depth = [0] * m
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:
        v = stack.pop()
        order.append(v)
        kids = children[v]
        if kids:
            d = depth[v] + 1
            for k in kids:
                depth[k] = d
            stack.extend(reversed(kids))

    a_start = np.asarray(start, dtype=np.int64)
    a_end = np.asarray(end, dtype=np.int64)
    a_parent = np.asarray(parent, dtype=np.int64)
    a_flags = np.asarray(flags, dtype=np.int64)
    self_time = _self_time(a_start, a_end, a_parent, a_flags)

    by_end = _children_by_end(parent, cs, ce, m)
    seg_node, seg_start, seg_end = critical_path(roots, by_end, cs, ce)
    critical = np.zeros(m, dtype=bool)
    critical[np.asarray(seg_node, dtype=np.int64)] = True

    return Forest(
        n_rows=n,
        trace=np.asarray(trace_of, dtype=np.int64),
        uid=uid,
        parent=a_parent,
        roots=np.asarray(roots, dtype=np.int64),
        depth=np.asarray(depth, dtype=np.int64),
        order=np.asarray(order, dtype=np.int64),
        start=a_start,
        end=a_end,
        layout_start=np.asarray(ls, dtype=np.int64),
        layout_end=np.asarray(le, dtype=np.int64),
        cp_start=np.asarray(cs, dtype=np.int64),
        cp_end=np.asarray(ce, dtype=np.int64),
        self_time=self_time,
        flags=a_flags,
        critical=critical,
        seg_node=np.asarray(seg_node, dtype=np.int64),
        seg_start=np.asarray(seg_start, dtype=np.int64),
        seg_end=np.asarray(seg_end, dtype=np.int64),
        missing_parent=missing_parent,
    )


def _children(parent: list[int], start: list[int | None], m: int) -> list[list[int]]:
    """Children per node, sorted by start (missing starts last), then row order."""
    import numpy as np

    par = np.asarray(parent, dtype=np.int64)
    st = np.asarray(
        [2**62 if x is None else x for x in start] + [2**62] * (m - len(start)), dtype=np.int64
    )[:m]
    kids = np.nonzero(par >= 0)[0]
    order = kids[np.lexsort((kids, st[kids], par[kids]))]
    return _split(par[order], order, m)


def _children_by_end(parent: list[int], cs: list[int], ce: list[int], m: int) -> list[list[int]]:
    """Children per node, last-finishing first (then latest start, then row order)."""
    import numpy as np

    par = np.asarray(parent, dtype=np.int64)
    kids = np.nonzero(par >= 0)[0]
    e = np.asarray(ce, dtype=np.int64)[kids]
    st = np.asarray(cs, dtype=np.int64)[kids]
    order = kids[np.lexsort((kids, -st, -e, par[kids]))]
    return _split(par[order], order, m)


def _split(par_sorted: Any, nodes: Any, m: int) -> list[list[int]]:
    """Lists of ``nodes`` grouped by their (sorted) parent, one list per node id."""
    import numpy as np

    out: list[list[int]] = [[] for _ in range(m)]
    if len(nodes) == 0:
        return out
    bounds = np.flatnonzero(np.diff(par_sorted)) + 1
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(nodes)]
    flat = nodes.tolist()
    ps = par_sorted[starts].tolist()
    for p, a, b in zip(ps, starts, ends, strict=True):
        out[p] = flat[a:b]
    return out


def _int_column(table: pa.Table, name: str) -> list[int | None]:
    import pyarrow as pa

    col = table.column(name)
    if not pa.types.is_integer(col.type):
        col = col.cast(pa.int64())
    return col.to_pylist()


def _resolve_group(
    rows: list[int],
    kinds: list[str | None],
    src: list[Any],
    start: list[int | None],
    key: tuple[int, str],
    flags: list[int],
    uid: list[str],
    twin: dict[int, int],
    target_src: dict[tuple[int, str, Any], int],
) -> list[int]:
    """Sort out the rows sharing one span id: shared pairs, duplicates, preferred parents.

    Returns the rows in order of preference as a parent (server side, earliest, first).
    """

    def rank(i: int) -> tuple[int, int, int]:
        s = start[i]
        return (0 if kinds[i] in _SERVER_KINDS else 1, s if s is not None else 2**62, i)

    clients = [i for i in rows if kinds[i] in _CLIENT_KINDS]
    servers = [i for i in rows if kinds[i] in _SERVER_KINDS]
    if clients and servers:
        for s in servers:
            same = [c for c in clients if src[c] == src[s]]
            twin[s] = min(same or clients, key=rank)
            flags[s] |= SHARED
        for c in clients:
            flags[c] |= SHARED
    by_rank = sorted(rows, key=rank)
    for i in by_rank:
        target_src.setdefault((key[0], key[1], src[i]), i)
    # duplicates: rows of the same role, numbered in row order
    for role in (
        clients,
        servers,
        [i for i in rows if kinds[i] not in _CLIENT_KINDS | _SERVER_KINDS],
    ):
        if len(role) < 2:
            continue
        for k, i in enumerate(sorted(role)):
            flags[i] |= DUPLICATE
            if k:
                uid[i] = f"{uid[i]}#{k + 1}"
    if clients and servers:
        for s in servers:
            uid[s] = f"{uid[s]}~server"
    return by_rank


def _bfs(roots: list[int], children: list[list[int]], m: int) -> list[int]:
    """Nodes reachable from ``roots``, parents before children."""
    out = list(roots)
    i = 0
    while i < len(out):
        kids = children[out[i]]
        if kids:
            out.extend(kids)
        i += 1
    return out


def _self_time(
    start: np.ndarray, end: np.ndarray, parent: np.ndarray, flags: np.ndarray
) -> np.ndarray:
    """Raw duration minus the union of real children's intervals clipped to the span.

    Adopted orphans do not count against their adoptive root; a synthetic root counts
    all its children.
    """
    import numpy as np

    m = len(start)
    has_parent = parent >= 0
    p = np.where(has_parent, parent, 0)
    synth_parent = has_parent & ((flags[p] & SYNTHETIC) != 0)
    real = has_parent & (((flags & ORPHAN) == 0) | synth_parent)
    kids = np.nonzero(real)[0]
    covered = np.zeros(m, dtype=np.int64)
    kp = parent[kids]
    parents, cov = covered_time(kp, start[kids], end[kids], start[kp], end[kp])
    covered[parents] = cov
    return np.maximum(end - start - covered, 0)


def covered_time(parent: Any, start: Any, end: Any, p_start: Any, p_end: Any) -> tuple[Any, Any]:
    """Per parent, the length of the union of its children's intervals clipped to it.

    Vectorised (NumPy): children sorted by (parent, start); a running maximum of previous
    ends, made segment-local by ranking the ends and offsetting each parent's ranks, gives
    each child's uncovered part.

    Args:
        parent: per child, its parent's id (int64 array).
        start, end: per child, its interval (ns).
        p_start, p_end: per child, its parent's interval (ns).

    Returns:
        ``(parents, covered)``: the distinct parent ids and their covered time.
    """
    import numpy as np

    parent = np.asarray(parent, dtype=np.int64)
    if len(parent) == 0:
        return parent, np.zeros(0, dtype=np.int64)
    p_start = np.asarray(p_start, dtype=np.int64)
    p_end = np.asarray(p_end, dtype=np.int64)
    cs = np.clip(np.asarray(start, dtype=np.int64), p_start, p_end)
    ce = np.clip(np.asarray(end, dtype=np.int64), cs, p_end)
    o = np.lexsort((cs, parent))
    kp, cs, ce = parent[o], cs[o], ce[o]
    values, er = np.unique(ce, return_inverse=True)
    width = len(values) + 1
    first = np.ones(len(kp), dtype=bool)
    first[1:] = kp[1:] != kp[:-1]
    group = np.cumsum(first) - 1
    key = group * width + er
    run = np.maximum.accumulate(key)
    prev = np.empty_like(run)
    prev[0] = 0
    prev[1:] = run[:-1]
    prev_end = values[np.maximum(prev - group * width, 0)]
    part = np.where(first, ce - cs, np.maximum(ce - np.maximum(cs, prev_end), 0))
    starts = np.nonzero(first)[0]
    return kp[starts], np.add.reduceat(part, starts)


def critical_path(
    roots: list[int], by_end: list[list[int]], ls: list[int], le: list[int]
) -> tuple[list[int], list[int], list[int]]:
    """The critical path of each root, as segments ``(node, start, end)`` in time order.

    The classic walk back from the root's end: at each point ``t`` the last child that
    finishes at or before ``t`` is descended into (children finishing after ``t`` —
    overlapping the one just taken — are skipped), and the time between children is the
    parent's own. Iterative; every node is entered at most once, so O(n) after sorting.

    Args:
        roots: root node per trace.
        by_end: children per node, last-finishing first (``_children_by_end``).
        ls: start per node (children inside their parents: ``cp_start``).
        le: end per node (``cp_end``).

    Returns:
        Three lists: owner node, segment start, segment end. Adjacent segments of the
        same node are merged; zero-length segments are dropped.
    """
    seg_node: list[int] = []
    seg_start: list[int] = []
    seg_end: list[int] = []
    for root in roots:
        out: list[tuple[int, int, int]] = []  # reverse time order
        stack = [[root, le[root], 0]]
        while stack:
            frame = stack[-1]
            v, t, k = frame
            ks = by_end[v]
            while k < len(ks) and le[ks[k]] > t:
                k += 1
            if k < len(ks):
                c = ks[k]
                if t > le[c]:
                    out.append((v, le[c], t))
                frame[1] = ls[c]
                frame[2] = k + 1
                stack.append([c, le[c], 0])
            else:
                if t > ls[v]:
                    out.append((v, ls[v], t))
                stack.pop()
        for v, a, b in reversed(out):
            if seg_node and seg_node[-1] == v and seg_end[-1] == a:
                seg_end[-1] = b
            else:
                seg_node.append(v)
                seg_start.append(a)
                seg_end.append(b)
    return seg_node, seg_start, seg_end


# --------------------------------------------------------------------------- reading


def describe_repairs(forest: Forest) -> list[str]:
    """Sentences saying what the builder repaired, for notes and JSON ``warnings``."""
    import numpy as np

    f = forest.flags
    out = []
    n_synth = int(np.count_nonzero(f & SYNTHETIC))
    par = forest.parent[: forest.n_rows]
    under_synth = (par >= 0) & ((f[np.maximum(par, 0)] & SYNTHETIC) != 0)
    real_roots = int(np.count_nonzero(under_synth & ((f[: forest.n_rows] & ORPHAN) == 0)))
    orphans = int(np.count_nonzero((f & ORPHAN) & ~(f & CYCLE)))
    cycles = int(np.count_nonzero(f & CYCLE))
    if n_synth and real_roots > 1:
        out.append(f"{real_roots} root spans: drawn under a synthetic root")
    elif n_synth and forest.n_rows:
        out.append("no root span: top-level spans drawn under a synthetic root")
    if orphans:
        where = "the synthetic root" if n_synth else "the root"
        out.append(
            f"{orphans} span{'s' if orphans != 1 else ''} name{'s' if orphans == 1 else ''}"
            f" a parent missing from the trace: attached under {where} (marked orphan)"
        )
    if cycles:
        out.append(f"{cycles} parent cycle{'s' if cycles != 1 else ''} cut (marked cycle)")
    skew = int(np.count_nonzero(f & SKEW))
    if skew:
        out.append(
            f"{_n(skew, 'span')} started before {'their' if skew != 1 else 'its'} parent"
            f" (clock skew): moved with {'their subtrees' if skew != 1 else 'its subtree'}"
            " to start with the parent"
        )
    over = int(np.count_nonzero(f & OVERRUN))
    if over:
        out.append(
            f"{_n(over, 'span')} ended after {'their' if over != 1 else 'its'} parent"
            " (async work or clock skew): drawn as recorded, clamped to the parent for the"
            " critical path"
        )
    dup = int(np.count_nonzero(f & DUPLICATE))
    if dup:
        out.append(f"{dup} spans share a span id with another span: all kept, suffixed #2, #3…")
    shared = int(np.count_nonzero((f & SHARED) & (forest.parent >= 0)))
    if shared:
        pairs = int(np.count_nonzero(f[: forest.n_rows] & SHARED)) // 2 or shared
        out.append(
            f"{pairs} Zipkin shared client/server span{'s' if pairs != 1 else ''}:"
            " server half drawn under the client half"
        )
    nt = int(np.count_nonzero(f & NO_TIMING))
    if nt:
        out.append(
            f"{nt} span{'s' if nt != 1 else ''} without start or duration: placed from"
            " children or parent"
        )
    return out


def _n(k: int, word: str) -> str:
    return f"{k:,} {word}{'s' if k != 1 else ''}"


def flag_names(bits: int) -> list[str]:
    """The names of the flags set in ``bits``, in a fixed order."""
    return [name for bit, name in FLAG_NAMES.items() if bits & bit]


def subtree_sizes(forest: Forest) -> np.ndarray:
    """Per node, the number of nodes in its subtree (itself included)."""
    import numpy as np

    size = np.ones(forest.size, dtype=np.int64)
    parent = forest.parent.tolist()
    sz = size.tolist()
    for v in reversed(forest.order.tolist()):
        p = parent[v]
        if p >= 0:
            sz[p] += sz[v]
    return np.asarray(sz, dtype=np.int64)


@dataclass(frozen=True)
class FoldedRow:
    """A row of a folded waterfall: a node, or several fast sibling subtrees in one."""

    node: int
    """The node shown (for a fold: the parent whose children were folded)."""
    folded: int = 0
    """0 for a span row; else the number of sibling subtrees folded into this row."""
    spans: int = 1
    """Spans this row stands for (a fold: every span of the folded subtrees)."""
    start: int = 0
    """A fold: earliest layout start of the folded subtrees (ns since the epoch)."""
    end: int = 0
    """A fold: latest layout end of the folded subtrees."""
    errors: int = 0
    """A fold: failed spans inside it."""


def fold(
    tree: TraceTree, below_ns: int | None, errors: np.ndarray | None = None
) -> list[int | FoldedRow]:
    """Display rows with every subtree whose span is faster than ``below_ns`` folded.

    The folded children of one parent become a single summary row placed after the
    parent's kept children, so a fan-out of a thousand 1 ms queries is one line. The root
    is never folded.

    Args:
        tree: the trace.
        below_ns: fold subtrees whose (layout) duration is under this; ``None`` folds
            nothing.
        errors: optional per-node bool array (failed spans), counted inside folds.

    Returns:
        Rows in display order: a node (int) for a span row, a ``FoldedRow`` for a fold.
    """
    f = tree.forest
    order: list[int | FoldedRow] = f.order.tolist()
    if not below_ns:
        return order
    import numpy as np

    dur = (f.layout_end - f.layout_start).tolist()
    parent = f.parent.tolist()
    sizes = subtree_sizes(f).tolist()
    err = errors.astype(np.int64) if errors is not None else np.zeros(f.size, dtype=np.int64)
    # errors per subtree
    err_sub = err.tolist()
    for v in reversed(order):
        p = parent[v]
        if p >= 0:
            err_sub[p] += err_sub[v]
    ls = f.layout_start.tolist()
    le = f.layout_end.tolist()
    rows: list[int | FoldedRow] = []
    pending: dict[int, list[int]] = {}  # parent → folded children
    depth = f.depth.tolist()
    open_parents: list[int] = []  # stack of parents whose folds are waiting

    def flush(until_depth: int) -> None:
        while open_parents and depth[open_parents[-1]] >= until_depth:
            p = open_parents.pop()
            kids = pending.pop(p)
            rows.append(
                FoldedRow(
                    p,
                    folded=len(kids),
                    spans=sum(sizes[k] for k in kids),
                    start=min(ls[k] for k in kids),
                    end=max(le[k] for k in kids),
                    errors=sum(err_sub[k] for k in kids),
                )
            )

    i = 0
    while i < len(order):
        v = order[i]
        assert isinstance(v, int)
        flush(depth[v])
        p = parent[v]
        if p >= 0 and dur[v] < below_ns:
            if p not in pending:
                pending[p] = []
                open_parents.append(p)
            pending[p].append(v)
            i += sizes[v]  # skip the subtree
            continue
        rows.append(v)
        i += 1
    flush(0)
    return rows
