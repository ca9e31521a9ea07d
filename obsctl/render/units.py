"""Human-readable numbers shared by the CLI tables, the TUI and reports."""

from __future__ import annotations

import datetime as _dt


def fmt_count(n: float | int | None) -> str:
    """``1234567`` → ``1,234,567``; floats keep up to 3 significant decimals."""
    if n is None:
        return "—"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.3f}".rstrip("0").rstrip(".")
    return f"{int(n):,}"


def fmt_bytes(n: float | int | None) -> str:
    """``1536`` → ``1.5 KiB``."""
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def fmt_duration_ns(ns: float | int | None) -> str:
    """Nanoseconds → a readable unit: ``850ns``, ``12.3µs``, ``4.2ms``, ``1.21s``, ``3m05s``."""
    if ns is None:
        return "—"
    v = float(ns)
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v < 1e3:
        return f"{sign}{v:.0f}ns"
    if v < 1e6:
        return f"{sign}{v / 1e3:.3g}µs"
    if v < 1e9:
        return f"{sign}{v / 1e6:.3g}ms"
    if v < 60e9:
        return f"{sign}{v / 1e9:.3g}s"
    s = int(v // 1e9)
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 48 * 3600:
        return f"{sign}{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{sign}{s // 86400}d{(s % 86400) // 3600:02d}h"


def fmt_time(value: _dt.datetime | int | None, *, precision: str = "ms") -> str:
    """A UTC instant as ``YYYY-MM-DD HH:MM:SS.fff`` (``precision``: s, ms, us or ns).

    Accepts a naive-UTC ``datetime`` or integer nanoseconds since the epoch.
    """
    if value is None:
        return "—"
    if isinstance(value, int):
        secs, ns = divmod(value, 1_000_000_000)
        base = _dt.datetime.fromtimestamp(secs, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    else:
        base = value.strftime("%Y-%m-%d %H:%M:%S")
        ns = value.microsecond * 1000
    digits = {"s": 0, "ms": 3, "us": 6, "ns": 9}[precision]
    return base if digits == 0 else f"{base}.{ns:09d}"[: len(base) + 1 + digits]


def fmt_comparison(
    window: tuple[int | None, int | None], baseline: tuple[int | None, int | None]
) -> str:
    """``window A → B vs baseline C → D UTC`` (open sides read ``start``/``end``)."""

    def when(ns: int | None, open_side: str) -> str:
        return open_side if ns is None else fmt_time(ns, precision="s")

    return (
        f"window {when(window[0], 'start')} → {when(window[1], 'end')}"
        f" vs baseline {when(baseline[0], 'start')} → {when(baseline[1], 'end')} UTC"
    )
