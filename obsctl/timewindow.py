"""One parser for ``--since``/``--until``, shared by every command, the TUI and reports.

In an incident "now" is the end of the data, not the wall clock: a support bundle is
investigated hours or weeks after it was exported. So a relative value (``15m``, ``2h``,
``90s``, ``1d``, ``1h30m``, ``500ms``) counts back from the latest timestamp loaded in
*any* signal (logs, spans, metric points, profiles), and absolute values are RFC 3339
(``2026-03-26T16:30:00Z``, ``…+02:00``, up to nine fraction digits) or
``YYYY-MM-DD HH:MM[:SS[.f]]`` / ``YYYY-MM-DD`` taken as UTC.

Parsing and resolving are two steps on purpose:

* ``WindowSpec.parse(since, until)`` validates the text with no store at hand, so a typo
  is a usage error (exit 2) before the store is even opened;
* ``WindowSpec.resolve(store)`` turns relative values into instants with one query for
  the end of the data and returns a ``TimeWindow`` of integer nanoseconds.

A window is half-open, ``[start_ns, end_ns)``, and either side may be open (``None``):
with no ``--until`` nothing at the end of the data is cut off.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from obsctl.errors import UsageError

if TYPE_CHECKING:
    from obsctl.store import Store

NS_PER = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
"""Duration unit → nanoseconds."""

DATA_END_SQL = """
SELECT max(t) FROM (
    SELECT epoch_ns(max(timestamp)) AS t FROM logs
    UNION ALL SELECT epoch_ns(max(end_time)) FROM spans
    UNION ALL SELECT epoch_ns(max(timestamp)) FROM metric_points
    UNION ALL SELECT max(epoch_ns(time) + coalesce(duration_ns, 0)) FROM profiles
)
"""
"""The end of the data in ns since the epoch: what relative times count back from."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)")
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern})+")
_ABSOLUTE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|z|UTC|[+-]\d{2}:?\d{2})?"
)

EXAMPLES = "a duration before the end of the data (15m, 2h, 90s, 1d) or a UTC time (2026-03-26T16:30:00Z, '2026-03-26 16:30')"  # noqa: E501


def parse_duration(text: str) -> int | None:
    """A duration such as ``15m``, ``1h30m`` or ``1.5s`` in nanoseconds, or ``None``.

    Args:
        text: the duration; units ns, us/µs, ms, s, m, h, d, w, concatenated freely.

    Returns:
        Nanoseconds (may be 0), or ``None`` when ``text`` is not a duration.
    """
    s = text.strip().lower()
    if not _DURATION.fullmatch(s):
        return None
    total = 0.0
    for number, unit in _DURATION_PART.findall(s):
        total += float(number) * NS_PER[unit]
    return round(total)


def parse_instant(text: str) -> int | None:
    """An absolute time in nanoseconds since the epoch (UTC), or ``None``.

    Args:
        text: RFC 3339 (``T`` or space, ``Z`` or ``±hh:mm``) or ``YYYY-MM-DD[ HH:MM[:SS]]``;
            no zone means UTC. Fractions keep their nanoseconds.

    Returns:
        Nanoseconds since the epoch, or ``None`` when ``text`` is not such a time.
    """
    m = _ABSOLUTE.fullmatch(text.strip())
    if not m:
        return None
    try:
        day = dt.date.fromisoformat(m["date"])
        hh, mm, ss = int(m["h"] or 0), int(m["m"] or 0), int(m["s"] or 0)
        if hh > 23 or mm > 59 or ss > 59:
            return None
    except ValueError:
        return None
    offset_s = 0
    tz = m["tz"]
    if tz and tz.upper() not in ("Z", "UTC"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset_s = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    base = dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=dt.UTC)
    frac = int((m["frac"] or "").ljust(9, "0"))
    return (int(base.timestamp()) - offset_s) * 1_000_000_000 + frac


@dataclass(frozen=True)
class Bound:
    """One parsed ``--since`` or ``--until`` value, not yet tied to a store."""

    text: str
    """What the user wrote (for messages)."""
    absolute_ns: int | None = None
    """An instant, when the value was absolute."""
    before_end_ns: int | None = None
    """A duration before the end of the data, when the value was relative."""

    @classmethod
    def parse(cls, text: str, option: str = "--since") -> Bound:
        """Parse one value.

        Args:
            text: the option's value.
            option: the option's name, for the error message.

        Raises:
            UsageError: ``text`` is neither a duration nor an absolute time.
        """
        duration = parse_duration(text)
        if duration is not None:
            return cls(text, before_end_ns=duration)
        instant = parse_instant(text)
        if instant is not None:
            return cls(text, absolute_ns=instant)
        raise UsageError(f"{option} {text!r} is not {EXAMPLES}")

    def at(self, data_end_ns: int | None) -> int | None:
        """The instant this bound names, given the end of the data (``None`` if unknown)."""
        if self.absolute_ns is not None:
            return self.absolute_ns
        if data_end_ns is None or self.before_end_ns is None:
            return None
        return data_end_ns - self.before_end_ns


@dataclass(frozen=True)
class TimeWindow:
    """A resolved, half-open time range ``[start_ns, end_ns)``; ``None`` = open side."""

    start_ns: int | None = None
    """Inclusive start, ns since the epoch (UTC)."""
    end_ns: int | None = None
    """Exclusive end, ns since the epoch (UTC)."""

    @property
    def bounded(self) -> bool:
        """Whether either side is set."""
        return self.start_ns is not None or self.end_ns is not None

    def contains(self, ns: int) -> bool:
        """Whether the instant ``ns`` falls in the window."""
        return (self.start_ns is None or ns >= self.start_ns) and (
            self.end_ns is None or ns < self.end_ns
        )


@dataclass(frozen=True)
class WindowSpec:
    """``--since``/``--until`` as parsed: validated text, resolved later against a store."""

    since: Bound | None = None
    """Start of the window (``None``: from the first record)."""
    until: Bound | None = None
    """End of the window (``None``: to the last record)."""

    @classmethod
    def parse(cls, since: str | None = None, until: str | None = None) -> WindowSpec:
        """Validate ``--since``/``--until`` values (``None`` or blank = not given).

        Raises:
            UsageError: a value is neither a duration nor an absolute time, or both are
                absolute and ``since`` is not before ``until``.
        """
        s = Bound.parse(since, "--since") if since and since.strip() else None
        u = Bound.parse(until, "--until") if until and until.strip() else None
        spec = cls(s, u)
        if s and u and s.absolute_ns is not None and u.absolute_ns is not None:
            spec.resolve_at(None)  # both absolute: check the order now
        return spec

    @property
    def relative(self) -> bool:
        """Whether resolving needs the end of the data."""
        return any(b is not None and b.before_end_ns is not None for b in (self.since, self.until))

    def resolve_at(self, data_end_ns: int | None) -> TimeWindow:
        """The window for data ending at ``data_end_ns`` (pure; ``resolve`` queries it).

        Raises:
            UsageError: the window is empty (start at or after end).
        """
        start = self.since.at(data_end_ns) if self.since else None
        end = self.until.at(data_end_ns) if self.until else None
        if start is not None and end is not None and start >= end:
            assert self.since and self.until
            raise UsageError(
                f"--since {self.since.text!r} is not before --until {self.until.text!r}"
            )
        return TimeWindow(start, end)

    def resolve(self, store: Store) -> TimeWindow:
        """The window against ``store``: relative values count back from its data's end.

        An empty store has no end: relative bounds are then left open (nothing matches
        anyway).
        """
        return self.resolve_at(data_end_ns(store) if self.relative else None)


def data_end_ns(store: Store) -> int | None:
    """The latest instant in any signal of ``store`` (ns since the epoch), or ``None``."""
    if store.data_end is not None:
        return store.data_end
    value = store.scalar(DATA_END_SQL)
    return None if value is None else int(value)


def resolve(store: Store, since: str | None = None, until: str | None = None) -> TimeWindow:
    """Parse and resolve in one call (for callers that already hold the store)."""
    return WindowSpec.parse(since, until).resolve(store)


def baseline_window(
    text: str | None, window: TimeWindow, data_end: int | None
) -> TimeWindow | None:
    """The baseline to compare ``window`` with (``--baseline``).

    ``text`` is either ``START..END`` (each side a duration before the end of the data or
    an absolute time, as for ``--since``/``--until``), or a duration ``D``: the ``D`` just
    before the window starts. Without ``text``, the baseline is everything before the
    window's start, or ``None`` when the window has no start (nothing to compare with).

    Raises:
        UsageError: malformed text, or a duration baseline for a window with no start.
    """
    if text is None or not text.strip():
        if window.start_ns is None:
            return None
        return TimeWindow(None, window.start_ns)
    width = None if ".." in text else parse_duration(text.strip())
    if width is None:  # START..END, or a malformed value reported as --baseline
        return window_from_text(text, data_end, "--baseline")
    if window.start_ns is None:
        raise UsageError("--baseline DURATION needs --since (the baseline ends where it starts)")
    return TimeWindow(window.start_ns - width, window.start_ns)


def window_from_text(text: str, data_end: int | None, option: str = "--window") -> TimeWindow:
    """A window written as ``START..END`` or as a duration ``D`` (the last ``D`` of the data).

    Each side of ``START..END`` is a duration before the end of the data or an absolute
    time, as for ``--since``/``--until``; either side may be empty (open).

    Raises:
        UsageError: malformed text, or an empty window.
    """
    if ".." in text:
        since, until = text.split("..", 1)
        return WindowSpec.parse(since or None, until or None).resolve_at(data_end)
    width = parse_duration(text.strip())
    if width is None:
        raise UsageError(
            f"{option} {text!r}: expected a duration (15m) or START..END (e.g. 1h..20m,"
            " 2026-03-26T16:00Z..2026-03-26T16:20Z)"
        )
    return WindowSpec.parse(text, None).resolve_at(data_end)
