"""Log template mining: which message *shapes* a window holds, and which are new.

Method
======
Log lines are printf output: a constant template with variable values spliced in. Mining
recovers the templates (variables written ``<*>``, the loghub convention) in two stages.

1. **Mask in SQL, on distinct shapes.** The values that are obviously variables — UUIDs,
   IPv4 addresses, hex ids, numbers (with a sign, a unit or a ``v`` version prefix glued
   on), weekday/month names inside dates, and paths — are replaced by ``<*>`` with
   DuckDB's vectorised ``regexp_replace`` (``MASK_RULES``). A digit glued *after* a
   letter stays (``ssh2``, ``tty2``, ``jk2_init``): it names a thing, it does not measure
   one. Every other digit is masked whatever its value, so messages are first collapsed
   by their *digit shape* (those digits → ``0``; numpy on the string buffer, no regex) and
   one message per shape is masked; the masked results are grouped again, so a million
   lines usually shrink to a few thousand distinct masked messages.

2. **Cluster by token-position statistics, in Python, on those few thousand.** In the
   spirit of Brain (Yu et al., 2023): messages are split on whitespace (a run of three
   or more equal variable tokens — a list of ids — keeps two) and grouped by token
   count. Inside a length group every (position, token) pair gets a frequency over
   distinct masked messages. The constant tokens of one template occur in every message
   of that template, so they share one frequency; a message's *anchor* is its tokens
   whose frequency is the most common one among its positions (ties to the higher) or
   higher. Messages with the same anchor form a group. In a group, a non-anchor position
   is a **constant that splits the group** when it is the first token (it names the event
   or component, Drain's assumption too) or when it takes at most ``MAX_SPLIT`` distinct
   words that recur across the group's messages (``startup``/``shutdown``, ``user=root``
   / ``user=guest``); otherwise it is a **variable** — it holds a masked ``<*>``, many
   distinct words, or a word unique to each message (a user name). A variable keeps the
   prefix (ending in punctuation) and the trailing punctuation its values share
   (``user=<*>``, ``(<*>)``, ``<*>:``). A small template that a larger template of the
   same length covers (equal constants, its tokens matching the other's variables) joins
   it: anchors are per message, so an odd value can leave a message alone. Finally
   variables separated only by whitespace fold into one ``<*>``: a variable spanning
   several tokens (a date) reads as one, and templates that then coincide are one pattern.

Why this shape: the expensive, per-line part (regular expressions, grouping) runs inside
DuckDB on columnar data; Python only touches distinct masked messages. The statistics are
relative to each group (no fitted per-dataset regexes), so the same rules serve any
system. Measured with ``bench/loghub_accuracy.py`` and ``bench/logs.py``.

Pattern ids are a short hash of the template text, so the same template has the same id
in every window, store and run. ``patterns`` mines the union of the incident window and
the baseline so that both are counted against the same templates.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from obsctl.store import Store

VAR = "<*>"
"""The variable placeholder (loghub convention)."""

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_START = r"""(^|[\s=:,;'"(\[{<>|@#/])"""  # what may precede a value (a token boundary)

MASK_RULES: tuple[tuple[str, str], ...] = (
    # UUIDs, before numbers eat their digit groups.
    (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        VAR,
    ),
    # IPv4 addresses as one value (a port after them is a number of its own).
    (r"(^|[^A-Za-z0-9.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", r"\1" + VAR),
    # 0x-prefixed hex, and hex words of 8+ digits that start with a letter (ffff3000).
    (r"(^|[^A-Za-z0-9])0[xX][0-9a-fA-F]+", r"\1" + VAR),
    (r"(^|[^A-Za-z0-9_])[a-fA-F][0-9a-fA-F]{7,}([^A-Za-z0-9]|$)", r"\1" + VAR + r"\2"),
    # Weekday and month names of a date ("Fri Jun 17 07:07:00 2005", "Jun 17").
    (rf"\b({_DAYS})\s+({_MONTHS})\b", VAR + " " + VAR),
    (rf"\b({_MONTHS})(\s+\d)", VAR + r"\2"),
    # Versions: v1.2.3.
    (r"(^|[^A-Za-z0-9])([vV])\d[A-Za-z0-9]*", r"\1\2" + VAR),
    # Numbers with an optional sign and a glued unit or suffix (16K, 125ms, 80x25), but not
    # digits glued after letters (ssh2, tty2).
    (r"(^|[^A-Za-z0-9])-?\d[A-Za-z0-9]*", r"\1" + VAR),
    # A path whose file name carries a variable keeps that name: /<*>/blk_<*>.
    (
        _START + r"/[^\s/'\"]+(?:/[^\s/'\"]+)*/([^\s/'\"]*<\*>[^\s/'\"]*)",
        r"\1/" + VAR + r"/\2",
    ),
    # Any other absolute path of two or more segments is one value.
    (_START + r"/[^\s/<'\"]+(?:/[^\s/<'\"]*)+", r"\1" + VAR),
)
"""(RE2 pattern, replacement) pairs applied in order by ``regexp_replace(..., 'g')``."""

MAX_SPLIT = 4
"""A non-anchor position with at most this many distinct words splits its group (constant);
with more it is a variable. Brain calls this its child-direction threshold."""


def mask_sql(expr: str) -> str:
    """The SQL expression that masks the VARCHAR expression ``expr``.

    Args:
        expr: a trusted SQL expression (a column name), never user text.

    Returns:
        Nested ``regexp_replace`` calls applying ``MASK_RULES`` in order.
    """
    out = expr
    for pattern, repl in MASK_RULES:
        out = f"regexp_replace({out}, {_sql_str(pattern)}, {_sql_str(repl)}, 'g')"
    return out


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def pattern_id(template: str) -> str:
    """A short stable id for a template: the first 10 hex digits of its BLAKE2b hash."""
    return hashlib.blake2b(template.encode("utf-8"), digest_size=5).hexdigest()


# --------------------------------------------------------------------------- clustering

_FOLD = re.compile(r"<\*>(?:\s+<\*>)+")
_ALNUM = re.compile(r"[A-Za-z0-9]")


def fold_variables(template: str) -> str:
    """Fold variables separated only by whitespace into one ``<*>``; single spaces."""
    return _FOLD.sub(VAR, " ".join(template.split()))


def _affixed(values: set[str]) -> str:
    """``<*>`` with the prefix (ending in punctuation) and the trailing punctuation every
    value shares: ``user=<*>``, ``(<*>)``, ``<*>:``."""
    vals = list(values)
    first = vals[0]
    # Longest common prefix, cut back to end on a non-alphanumeric character.
    n = min(len(v) for v in vals)
    p = 0
    while p < n and all(v[p] == first[p] for v in vals):
        p += 1
    while p > 0 and _ALNUM.match(first[p - 1]):
        p -= 1
    prefix = first[:p]
    if "<" in prefix[-3:]:  # never end inside or on a variable: it joins this one
        prefix = prefix[: prefix.rfind("<")]
        p = len(prefix)
    rest = [v[p:] for v in vals]
    m = min(len(v) for v in rest)
    s = 0
    while s < m and all(v[len(v) - 1 - s] == rest[0][len(rest[0]) - 1 - s] for v in rest):
        s += 1
    suffix = rest[0][len(rest[0]) - s :] if s else ""
    # Only closing punctuation stays outside: ")" or ":" yes, ".example)" is the value's.
    k = len(suffix)
    while k > 0 and not _ALNUM.match(suffix[k - 1]):
        k -= 1
    suffix = suffix[k:]
    if ">" in suffix[:3]:
        suffix = suffix[suffix.find(">") + 1 :]
    return prefix + VAR + suffix


def _tokens(message: str) -> list[str]:
    """Whitespace tokens; a run of three or more equal variable tokens (a list of ids)
    keeps its first two, so lists of any length share a template."""
    out: list[str] = []
    for w in message.split():
        if len(out) > 1 and w == out[-1] == out[-2] and VAR in w:
            continue
        out.append(w)
    return out


def cluster(masked: Sequence[str], *, max_split: int = MAX_SPLIT) -> list[str]:
    """Templates for distinct masked messages (the Python half of the miner).

    Args:
        masked: distinct messages, already masked (``mask_sql``).
        max_split: see ``MAX_SPLIT``.

    Returns:
        One template per input, in input order; equal templates mean one pattern.
    """
    toks = [_tokens(m) for m in masked]
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(toks):
        by_len[len(t)].append(i)
    out: list[str] = [""] * len(toks)
    for members in by_len.values():
        freq: Counter[tuple[int, str]] = Counter()
        for i in members:
            freq.update(enumerate(toks[i]))
        groups: dict[tuple[tuple[int, str], ...], list[int]] = defaultdict(list)
        for i in members:
            fs = [freq[(p, w)] for p, w in enumerate(toks[i])]
            if not fs:
                groups[()].append(i)
                continue
            mode = max(Counter(fs).items(), key=lambda kv: (kv[1], kv[0]))[0]
            key = tuple((p, w) for p, w in enumerate(toks[i]) if fs[p] >= mode)
            groups[key].append(i)
        for key, group in groups.items():
            _template_group(toks, key, group, max_split, out)
        _absorb(members, out)
    return [fold_variables(t) for t in out]


def _token_matcher(token: str) -> re.Pattern[str] | None:
    if VAR not in token:
        return None
    return re.compile(".*?".join(re.escape(part) for part in token.split(VAR)), re.S)


def _absorb(members: list[int], out: list[str]) -> None:
    """Move the messages of a template into a larger, more general one that matches it.

    Anchors are chosen per message, so a message with an unusual value (a host name where
    most have an address) can end up alone with a template of its own constants. When a
    template with at least as many messages covers it — equal constants, and each of its
    variables matching the other's token — the small one joins it.
    """
    by_t: dict[str, list[int]] = defaultdict(list)
    for i in members:
        by_t[out[i]].append(i)
    if len(by_t) < 2:
        return
    ranked = sorted(by_t, key=lambda t: -len(by_t[t]))
    # Candidates bucketed by their first token (a constant unless masking made it one).
    buckets: dict[str | None, list[tuple[str, list[str], list[re.Pattern[str] | None]]]] = (
        defaultdict(list)
    )
    for t in ranked:
        words = t.split(" ")
        if VAR in t:
            matchers = [_token_matcher(w) for w in words]
            buckets[words[0] if matchers[0] is None else None].append((t, words, matchers))
    for t in reversed(ranked):
        words = t.split(" ")
        size = len(by_t[t])
        for cand, cwords, matchers in buckets.get(words[0], []) + buckets.get(None, []):
            if cand == t or len(by_t[cand]) < size or len(cwords) != len(words):
                continue
            if all(
                w == cw if m is None else m.fullmatch(w) is not None
                for w, cw, m in zip(words, cwords, matchers, strict=True)
            ):
                for i in by_t[t]:
                    out[i] = cand
                by_t[cand].extend(by_t.pop(t))
                break


def _template_group(
    toks: list[list[str]],
    key: tuple[tuple[int, str], ...],
    group: list[int],
    max_split: int,
    out: list[str],
) -> None:
    if not group:
        return
    n = len(toks[group[0]])
    anchored = {p for p, _ in key}
    split_pos: list[int] = []
    var_pos: dict[int, set[str]] = {}
    for p in range(n):
        if p in anchored:
            continue
        vals = {toks[i][p] for i in group}
        if len(vals) == 1:
            continue
        # A few alternatives that recur across the group's messages are constants that
        # tell templates apart; values unique to each message are what varies.
        # The first token names the event or the component (Drain's assumption too): it
        # is a variable only when masking says so.
        if VAR not in vals and (p == 0 or (len(vals) <= max_split and len(vals) < len(group))):
            split_pos.append(p)
        else:
            var_pos[p] = vals
    sub: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i in group:
        sub[tuple(toks[i][p] for p in split_pos)].append(i)
    for members in sub.values():
        words = list(toks[members[0]])
        for p, vals in var_pos.items():
            mine_vals = {toks[i][p] for i in members}
            words[p] = _affixed(mine_vals) if len(mine_vals) > 1 else _affixed(vals)
        template = " ".join(words)
        for i in members:
            out[i] = template


# --------------------------------------------------------------------------- pure API


@dataclass(frozen=True)
class MinedPatterns:
    """The result of ``mine``: a pattern per input message and the pattern list."""

    index: pa.Array
    """int32, one per input message: its row in ``patterns``."""
    patterns: pa.Table
    """pattern_id (string), template (string), count (int64): one row per template,
    most frequent first."""

    @property
    def templates(self) -> pa.Array:
        """The template of each input message (string, aligned with the input)."""
        return self.patterns.column("template").combine_chunks().take(self.index)

    @property
    def pattern_ids(self) -> pa.Array:
        """The pattern id of each input message (string, aligned with the input)."""
        return self.patterns.column("pattern_id").combine_chunks().take(self.index)


def _arrow(rel: Any) -> pa.Table:
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def _mask_unique(con: duckdb.DuckDBPyConnection, uniq: pa.Array) -> pa.Array:
    """Mask an array of messages in DuckDB, keeping order."""
    import pyarrow as pa

    tbl = pa.table({"i": pa.array(range(len(uniq)), pa.int64()), "msg": uniq})
    con.register("_obsctl_msgs", tbl)
    try:
        res = _arrow(con.sql(f"SELECT i, {mask_sql('msg')} AS masked FROM _obsctl_msgs ORDER BY i"))
    finally:
        con.unregister("_obsctl_msgs")
    return res.column("masked").combine_chunks()


@functools.cache
def _byte_classes() -> tuple[Any, Any]:
    """Lookup tables byte → is ASCII digit, byte → is ASCII letter."""
    import numpy as np

    digit = np.zeros(256, dtype=bool)
    digit[ord("0") : ord("9") + 1] = True
    letter = np.zeros(256, dtype=bool)
    letter[ord("A") : ord("Z") + 1] = True
    letter[ord("a") : ord("z") + 1] = True
    return digit, letter


def _digit_shapes(arr: pa.Array) -> pa.Array:
    """Each message's *digit shape*: digits → ``0``, except runs glued after a letter.

    Masking treats a digit like any other unless it follows a letter (``ssh2`` keeps its
    ``2``), so two messages with one shape mask alike. Done on the string buffer with
    numpy (UTF-8 safe: ASCII bytes never occur inside a multi-byte character).
    """
    import numpy as np
    import pyarrow as pa

    is_digit, is_letter = _byte_classes()
    validity, offsets, data = arr.buffers()
    if data is None or len(arr) == 0:
        return arr
    b = np.frombuffer(data, dtype=np.uint8)
    digit = is_digit[b]
    shaped = np.where(digit, np.uint8(0x30), b)
    # Runs glued after a letter keep their digits; they are few, so walk them in numpy.
    starts = np.flatnonzero(digit[1:] & ~digit[:-1]) + 1
    run = starts[is_letter[b[starts - 1]]]
    while len(run):
        shaped[run] = b[run]
        run = run[run + 1 < len(b)] + 1
        run = run[digit[run]]
    cls = pa.LargeStringArray if pa.types.is_large_string(arr.type) else pa.StringArray
    return cls.from_buffers(
        len(arr), offsets, pa.py_buffer(shaped), validity, arr.null_count, arr.offset
    )


def mine(
    messages: Sequence[str] | pa.Array | pa.ChunkedArray,
    *,
    max_split: int = MAX_SPLIT,
    con: duckdb.DuckDBPyConnection | None = None,
) -> MinedPatterns:
    """Mine templates from messages (a pure function: same input, same output).

    Args:
        messages: log messages (bodies without the header); ``None`` counts as ``""``.
        max_split: see ``MAX_SPLIT``.
        con: a DuckDB connection to mask with; a private in-memory one by default.

    Returns:
        A ``MinedPatterns`` with each message's pattern and the patterns with counts.
    """
    import duckdb as _duckdb  # deferred: keeps importing this module cheap
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = (
        messages
        if isinstance(messages, pa.Array | pa.ChunkedArray)
        else pa.array(list(messages), pa.string())
    )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    arr = pc.fill_null(arr, "")
    # Messages with one digit shape mask alike: collapse them first (numpy on the string
    # buffer, no regex) and mask one message per shape.
    enc = pc.dictionary_encode(_digit_shapes(arr))
    raw_idx = enc.indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(raw_idx, return_index=True)  # one real message per shape
    own = con is None
    c = _duckdb.connect() if own else con
    try:
        masked = _mask_unique(c, arr.take(pa.array(first, pa.int64())))
    finally:
        if own:
            c.close()
    menc = pc.dictionary_encode(masked)
    raw_to_masked = menc.indices.to_numpy(zero_copy_only=False)
    distinct = menc.dictionary.to_pylist()
    templates = cluster(distinct, max_split=max_split)
    tid: dict[str, int] = {}
    masked_to_t = np.fromiter(
        (tid.setdefault(t, len(tid)) for t in templates), dtype=np.int32, count=len(templates)
    )
    per_msg = masked_to_t[raw_to_masked[raw_idx]] if len(raw_idx) else raw_idx.astype(np.int32)
    counts = np.bincount(per_msg, minlength=len(tid)).astype(np.int64)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    names = list(tid)
    patterns = pa.table(
        {
            "pattern_id": pa.array([pattern_id(names[k]) for k in order], pa.string()),
            "template": pa.array([names[k] for k in order], pa.string()),
            "count": pa.array(counts[order], pa.int64()),
        }
    )
    return MinedPatterns(index=pa.array(rank[per_msg].astype(np.int32)), patterns=patterns)


# --------------------------------------------------------------------------- store API

STATUS_ORDER = ("new", "grown", "shrunk", "steady", "gone")
"""Pattern statuses against a baseline, in the order ``patterns`` lists them."""

GROWTH_FACTOR = 2.0
"""A pattern is grown (shrunk) when its rate is at least this many times (at most
1/this of) the baseline rate, and the difference is beyond Poisson noise."""

# Rows of the window (w) and of the baseline (b), filtered by bound parameters only.
_SELECT_ROWS = """
    SELECT body, timestamp, severity_text, service_name,
           ($start::BIGINT IS NULL OR epoch_ns(timestamp) >= $start)
             AND ($end::BIGINT IS NULL OR epoch_ns(timestamp) < $end) AS w,
           coalesce(epoch_ns(timestamp) >= $bstart AND epoch_ns(timestamp) < $bend, false) AS b
    FROM logs
    WHERE ($service::VARCHAR IS NULL OR service_name = $service)
"""

# Distinct digit shapes of the bodies (digits → 0 except runs glued after a letter, which
# masking keeps; see _digit_shapes) → masked messages
# with window/baseline statistics; the example is a real body, from the window if any.
_MASKED_STATS = f"""
WITH r AS ({_SELECT_ROWS}),
bodies AS (
    SELECT translate(coalesce(body, ''), '123456789', '000000000') AS shape,
           regexp_extract_all(coalesce(body, ''), '[A-Za-z][0-9]+') AS glued,
           min(coalesce(body, '')) FILTER (WHERE w) AS wbody,
           min(coalesce(body, '')) AS body,
           count(*) FILTER (WHERE w) AS n,
           count(*) FILTER (WHERE b) AS nb,
           min(timestamp) FILTER (WHERE w) AS first_seen,
           max(timestamp) FILTER (WHERE w) AS last_seen,
           list(DISTINCT severity_text) FILTER (WHERE w AND severity_text IS NOT NULL) AS levels,
           list(DISTINCT service_name) FILTER (WHERE w AND service_name IS NOT NULL) AS services
    FROM r WHERE w OR b
    GROUP BY 1, 2
)
SELECT {mask_sql("body")} AS masked,
       sum(n)::BIGINT AS n, sum(nb)::BIGINT AS nb,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen,
       list_distinct(flatten(list(levels))) AS levels,
       list_distinct(flatten(list(services))) AS services,
       -- ties broken by the text: the same example whatever order the rows came in
       coalesce(first(wbody ORDER BY n DESC, wbody), first(body ORDER BY nb DESC, body))
           AS example
FROM bodies GROUP BY 1
"""

_EXTENT = f"""
WITH r AS ({_SELECT_ROWS})
SELECT min(epoch_ns(timestamp)), max(epoch_ns(timestamp)) FROM r
"""

# Masked statistics (registered as _obsctl_masked) rolled up per template.
_PER_TEMPLATE = """
SELECT t.pattern_id, t.template,
       sum(m.n)::BIGINT AS count,
       min(m.first_seen) AS first_seen, max(m.last_seen) AS last_seen,
       list_sort(list_distinct(flatten(list(m.levels)))) AS levels,
       list_sort(list_distinct(flatten(list(m.services)))) AS services,
       first(m.example ORDER BY m.n DESC, m.nb DESC, m.example) AS example,
       sum(m.nb)::BIGINT AS baseline_count
FROM _obsctl_masked m JOIN _obsctl_templates t USING (masked)
GROUP BY 1, 2
"""


def _params(
    start_ns: int | None,
    end_ns: int | None,
    service: str | None,
    baseline: tuple[int, int] | None,
) -> dict[str, Any]:
    return {
        "start": start_ns,
        "end": end_ns,
        "service": service,
        "bstart": baseline[0] if baseline else None,
        "bend": baseline[1] if baseline else None,
    }


def _templates_table(masked: list[str], max_split: int) -> pa.Table:
    import pyarrow as pa

    templates = cluster(masked, max_split=max_split)
    ids = {t: pattern_id(t) for t in set(templates)}
    return pa.table(
        {
            "masked": pa.array(masked, pa.string()),
            "template": pa.array(templates, pa.string()),
            "pattern_id": pa.array([ids[t] for t in templates], pa.string()),
        }
    )


def patterns(
    store: Store,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    service: str | None = None,
    baseline: tuple[int, int] | None = None,
    max_split: int = MAX_SPLIT,
) -> pa.Table:
    """The log patterns of a window, compared with a baseline window when one is given.

    The window and the baseline are mined together, so a template has one id in both.
    Rates are compared per unit of time (the windows may differ in length).

    Args:
        store: an open store.
        start_ns: window start, epoch ns inclusive (``None``: from the first record).
        end_ns: window end, epoch ns exclusive (``None``: to the last record).
        service: only this service's records.
        baseline: ``(start_ns, end_ns)`` of the baseline window, or ``None``.
        max_split: see ``MAX_SPLIT``.

    Returns:
        One row per pattern: ``pattern_id``, ``template``, ``count`` (in the window),
        ``share`` (of the window's records), ``first_seen``/``last_seen`` (in the window),
        ``levels`` and ``services`` (sorted lists), ``example`` (a real message),
        ``baseline_count``, ``status`` (``new|grown|shrunk|steady|gone``; null without a
        baseline) and ``growth`` (window rate / baseline rate; null when either is zero or
        without a baseline). New patterns come first (most frequent first), then grown
        (largest growth first), shrunk, steady, gone; without a baseline, by count.
    """
    import pyarrow as pa

    params = _params(start_ns, end_ns, service, baseline)
    masked = store.query(_MASKED_STATS, params)
    if masked.num_rows == 0:
        return _empty_patterns()
    tmpl = _templates_table(masked.column("masked").to_pylist(), max_split)
    con = store.con
    con.register("_obsctl_masked", masked)
    con.register("_obsctl_templates", tmpl)
    try:
        table = store.query(_PER_TEMPLATE)
    finally:
        con.unregister("_obsctl_masked")
        con.unregister("_obsctl_templates")
    counts = table.column("count").to_pylist()
    base = table.column("baseline_count").to_pylist()
    names = table.column("template").to_pylist()
    total = sum(counts)
    win_len = base_len = None
    if baseline:
        # Rates per ns of *data*: both windows clipped to the extent of the records.
        lo, hi = store.rows(_EXTENT, params)[0]
        if lo is not None:
            win_len = _clipped(start_ns, end_ns, lo, hi + 1)
            base_len = _clipped(baseline[0], baseline[1], lo, hi + 1)
    judged = [_status(n, nb, win_len, base_len) for n, nb in zip(counts, base, strict=True)]
    rank = {s: k for k, s in enumerate(STATUS_ORDER)}

    def order(k: int) -> tuple[Any, ...]:
        status, growth = judged[k]
        if status is None:
            return (0, -counts[k], names[k])
        key = -(growth or 0.0) if status == "grown" else -counts[k]
        return (rank[status], key, -base[k], names[k])

    idx = sorted(range(len(counts)), key=order)
    table = table.take(pa.array(idx, pa.int64()))
    share = [counts[k] / total if total else 0.0 for k in idx]
    table = table.append_column("share", pa.array(share, pa.float64()))
    table = table.append_column("status", pa.array([judged[k][0] for k in idx], pa.string()))
    table = table.append_column("growth", pa.array([judged[k][1] for k in idx], pa.float64()))
    if not baseline:
        table = table.set_column(
            table.schema.get_field_index("baseline_count"),
            "baseline_count",
            pa.nulls(table.num_rows, pa.int64()),
        )
    schema = _SCHEMA()
    return table.select(schema.names).cast(schema)


def _clipped(start: int | None, end: int | None, lo: int, hi: int) -> int:
    a = lo if start is None else max(start, lo)
    b = hi if end is None else min(end, hi)
    return max(b - a, 1)


def _status(
    n: int, nb: int, win_len: int | None, base_len: int | None
) -> tuple[str | None, float | None]:
    if base_len is None:
        return (None, None) if win_len is None else ("new" if n and not nb else "steady", None)
    if nb == 0:
        return ("new" if n else "steady"), None
    if n == 0:
        return "gone", None
    expected = nb * (win_len / base_len) if win_len else float(nb)
    growth = n / expected
    noise = 3.0 * max(expected, 1.0) ** 0.5
    if growth >= GROWTH_FACTOR and n - expected > noise:
        return "grown", growth
    if growth <= 1 / GROWTH_FACTOR and expected - n > noise:
        return "shrunk", growth
    return "steady", growth


def _SCHEMA() -> pa.Schema:  # a constant, built lazily: pyarrow is imported on use
    import pyarrow as pa

    return pa.schema(
        [
            ("pattern_id", pa.string()),
            ("template", pa.string()),
            ("count", pa.int64()),
            ("share", pa.float64()),
            ("first_seen", pa.timestamp("ns")),
            ("last_seen", pa.timestamp("ns")),
            ("levels", pa.list_(pa.string())),
            ("services", pa.list_(pa.string())),
            ("example", pa.string()),
            ("baseline_count", pa.int64()),
            ("status", pa.string()),
            ("growth", pa.float64()),
        ]
    )


def _empty_patterns() -> pa.Table:
    return _SCHEMA().empty_table()


def labeler(
    store: Store,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    service: str | None = None,
    baseline: tuple[int, int] | None = None,
    max_split: int = MAX_SPLIT,
) -> Callable[[pa.Array | pa.ChunkedArray], pa.Table]:
    """Mine a window once; return a function labelling messages with its patterns.

    The returned function maps an array of messages to ``pattern_id``/``template`` (one
    row per message, in order), as ``patterns`` reports them for the same window. A
    message whose masked form the window does not hold gets its masked text as template.
    It masks on its own cursor, so it can label batches while a query on the store's
    connection is still streaming (``obsctl logs --format ndjson``).

    Args:
        store: an open store.
        start_ns: window start as for ``patterns``.
        end_ns: window end as for ``patterns``.
        service: service filter as for ``patterns``.
        baseline: baseline window as for ``patterns``.
        max_split: see ``MAX_SPLIT``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    params = _params(start_ns, end_ns, service, baseline)
    window = store.query(_MASKED_STATS, params).column("masked").to_pylist()
    tmpl = _templates_table(window, max_split)
    lookup = dict(zip(window, tmpl.column("template").to_pylist(), strict=True))
    cursor = store.con.cursor()

    def label(bodies: pa.Array | pa.ChunkedArray) -> pa.Table:
        arr = bodies.combine_chunks() if isinstance(bodies, pa.ChunkedArray) else bodies
        arr = pc.fill_null(arr.cast(pa.string()), "")
        enc = pc.dictionary_encode(arr)
        masked = _mask_unique(cursor, enc.dictionary).to_pylist()
        uniq_t = [lookup.get(m) or fold_variables(m) for m in masked]
        t_arr = pa.array(uniq_t, pa.string()).take(enc.indices)
        ids = pa.array([pattern_id(t) for t in uniq_t], pa.string()).take(enc.indices)
        return pa.table({"pattern_id": ids, "template": t_arr})

    return label


def assign(
    store: Store,
    bodies: Sequence[str | None] | pa.Array | pa.ChunkedArray,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    service: str | None = None,
    baseline: tuple[int, int] | None = None,
    max_split: int = MAX_SPLIT,
) -> pa.Table:
    """Label messages with the patterns ``patterns`` reports for the same window.

    One-shot form of ``labeler``: ``pattern_id`` and ``template`` per body, in order.
    """
    import pyarrow as pa

    arr = (
        bodies
        if isinstance(bodies, pa.Array | pa.ChunkedArray)
        else pa.array(list(bodies), pa.string())
    )
    label = labeler(
        store,
        start_ns=start_ns,
        end_ns=end_ns,
        service=service,
        baseline=baseline,
        max_split=max_split,
    )
    return label(arr)
