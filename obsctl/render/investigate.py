"""``obsctl investigate`` for people: the window, the four steps, the suspects.

Everything taken from the data (log templates, span names, function names, attribute
values) goes through ``safe_text``: inert, whatever it contains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from obsctl.render.safe import clean, safe_text
from obsctl.render.units import fmt_duration_ns, fmt_time

if TYPE_CHECKING:
    from obsctl.analysis.investigate import Evidence, Investigation

_TITLES = {
    "logs": "LOGS — what happened",
    "metrics": "METRICS — how much",
    "traces": "TRACES — where",
    "profiles": "PROFILES — why",
}
_CONFIDENCE_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}
EVIDENCE_SHOWN = 4
"""Evidence lines per suspect in the terminal view, one per step (json has them all)."""


def _clock(ns: int | None) -> str:
    return "—" if ns is None else fmt_time(ns, precision="s")[11:]


def _grid() -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(no_wrap=True, style="bold", min_width=16)
    t.add_column(overflow="ellipsis", no_wrap=True)
    return t


def _line(text: Text, indent: int = 0) -> Text:
    """One screen line: cut with an ellipsis rather than wrapped."""
    out = Text(" " * indent, no_wrap=True, overflow="ellipsis")
    out.append_text(text)
    return out


def header(inv: Investigation) -> Text:
    w, b = inv.window, inv.baseline
    span = fmt_duration_ns((w.end_ns or 0) - (w.start_ns or 0))
    head = Text()
    head.append("Incident window ", style="bold")
    head.append(f"{fmt_time(w.start_ns, precision='s')} → {_clock(w.end_ns)} UTC ({span})")
    head.append("   baseline ", style="bold")
    head.append(f"{_clock(b.start_ns)} → {_clock(b.end_ns)}")
    source = {
        "given": "given with --since/--until",
        "none": "nothing left its baseline: the whole range",
    }.get(inv.window_source, f"found from: {inv.window_source.replace('_', ' ')} moved first")
    head.append(f"\n({source})", style="dim")
    return head


def _logs(f: dict[str, Any]) -> Table:
    t = _grid()
    rate = f.get("error_rate_per_min") or {}
    if rate:
        t.add_row(
            "error rate",
            safe_text(f"{rate.get('baseline') or 0:.3g}/min → {rate.get('window') or 0:.3g}/min"),
        )
    first = f.get("first_error")
    if first:
        line = Text()
        line.append(f"{_clock(first['time'])}  ")
        line.append_text(safe_text(first["service"] or "?", "cyan"))
        line.append("  ")
        line.append_text(safe_text(first["body"][:120]))
        t.add_row("first error", line)
        t.add_row("", safe_text(first["location"], "dim"))
    for i, p in enumerate(f.get("patterns") or ()):
        counts = f"×{p['count']:,}"
        if p["status"] == "grown":
            counts = f"×{p['baseline_count']:,} → {counts}"
        line = Text(f"{p['status']:<5} {counts:>14}  ", style="dim")
        line.append_text(safe_text(", ".join(p["services"] or ()), "cyan"))
        line.append("  ")
        line.append_text(safe_text(",".join(p["levels"] or ()), "red"))
        line.append("  ")
        line.append_text(safe_text(p["template"][:120]))
        t.add_row("patterns" if i == 0 else "", line)
    return t


def _metrics(f: dict[str, Any]) -> Table:
    from obsctl.render.metrics import fmt_change

    t = Table.grid(padding=(0, 2))
    t.add_column(no_wrap=True, style="bold", min_width=16)
    for _ in range(4):
        t.add_column(no_wrap=True, overflow="ellipsis")
    rows = sorted(f.get("anomalies") or (), key=lambda r: r["start"])[:6]
    for i, r in enumerate(rows):
        change = f"{'↑' if r['direction'] == 'up' else '↓'} " + fmt_change(
            r["baseline"], r["value"], r["relative_change"]
        )
        with_ = f"with {', '.join(r['related_services'])}" if r["related_services"] else ""
        t.add_row(
            "moved first" if i == 0 else "",
            Text(_clock(r["start"])),
            safe_text(r["service"] or "?", "cyan"),
            safe_text(r["metric"]),
            Text(change + ("  " + with_ if with_ else "")),
        )
    return t


def _traces(f: dict[str, Any]) -> Table:
    t = _grid()
    n = f.get("traces") or {}
    if n:
        counts = f"{n.get('window') or 0:,} in the window, {n.get('baseline') or 0:,} before"
        t.add_row("traces", safe_text(counts))
    for i, r in enumerate((f.get("critical_path") or ())[:3]):
        change = r.get("change_ns")
        line = safe_text(f"{r['service']} {r['operation']}", "cyan")
        if change is not None:
            share = (r.get("share") or 0) * 100
            line.append(f"  {change / 1e6:+,.0f} ms per trace, {share:.0f}% of the path")
        t.add_row("critical path" if i == 0 else "", line)
    for i, o in enumerate((f.get("error_origins") or ())[:3]):
        line = safe_text(f"{o['service']} {o['operation']}", "cyan")
        line.append(f"  {o['traces']} failed traces ({o['share'] * 100:.0f}%)")
        if o.get("message"):
            line.append_text(safe_text(f"  {o['message'][:60]}", "dim"))
        t.add_row("errors originate" if i == 0 else "", line)
    for i, a in enumerate((f.get("attributes") or ())[:3]):
        line = safe_text(f"{a['key']}={a['value']}")
        out, before = a["outliers"] * 100, a["baseline"] * 100
        line.append(f"  {out:.0f}% of the window's spans vs {before:.0f}% before", style="dim")
        t.add_row("set apart by" if i == 0 else "", line)
    slow, failed = f.get("exemplar_slow_trace"), f.get("exemplar_failed_trace")
    same = slow and failed and slow["trace_id"] == failed["trace_id"]
    for label, ex in (
        ("slowest trace", slow),
        ("failed trace", None if same else failed),
    ):
        if ex:
            line = safe_text(ex["trace_id"], "bold")
            line.append(f"  {fmt_duration_ns(ex['duration_ns'])}  ")
            if ex.get("error"):
                line.append("✗ failed  ", style="red")
            line.append_text(safe_text(f"obsctl traces show {ex['trace_id']}", "dim"))
            t.add_row(label, line)
    return t


def _profiles(f: dict[str, Any]) -> Table:
    t = _grid()
    for s in f.get("services") or ():
        for i, fn in enumerate(s["functions"][:4]):
            line = safe_text(fn["function"][:70])
            line.append(
                f"  {fn['base_flat_pct']:.1f}% → {fn['target_flat_pct']:.1f}%  "
                f"{fn['flat_change']:+.1f} pts"
            )
            t.add_row(clean(f"{s['service']} ({s['sample_type']})") if i == 0 else "", line)
    for i, note in enumerate(f.get("notes") or ()):
        t.add_row("not covered" if i == 0 else "", safe_text(note, "dim"))
    return t


_STEP_VIEWS = {"logs": _logs, "metrics": _metrics, "traces": _traces, "profiles": _profiles}


def investigation_view(inv: Investigation) -> Group:
    """The whole investigation as one Rich renderable."""
    parts: list[Any] = [header(inv), Text()]
    parts += steps_view(inv).renderables
    parts += suspects_view(inv).renderables
    return Group(*parts)


def steps_view(inv: Investigation) -> Group:
    """The four steps: title, summary sentence and findings of each."""
    parts: list[Any] = []
    for i, step in enumerate(inv.steps, 1):
        title = Text(f"{i} {_TITLES.get(step.name, step.name.upper())}", style="bold")
        parts.append(title)
        parts.append(Padding(safe_text(step.summary, "italic"), (0, 0, 0, 2), expand=False))
        if step.findings:
            parts.append(Padding(_STEP_VIEWS[step.name](step.findings), (0, 0, 0, 2)))
        parts.append(Text())
    return Group(*parts)


def suspects_view(inv: Investigation) -> Group:
    """The ranked suspects with the strongest evidence of each step."""
    parts: list[Any] = [Text("SUSPECTS", style="bold")]
    if not inv.suspects:
        parts.append(Text("  none: nothing left its baseline", style="dim"))
    for i, s in enumerate(inv.suspects, 1):
        head = Text(f"  {i}  ")
        head.append(f"{s.confidence:<6}", style=_CONFIDENCE_STYLE.get(s.confidence, ""))
        head.append("  ")
        name = f"{s.caller} → {s.service}" if s.caller else s.service
        head.append_text(safe_text(name, "bold cyan"))
        for extra in (s.operation, s.function):
            if extra:
                head.append(" · ")
                head.append_text(safe_text(extra))
        head.append(f"   score {s.score:.2f}", style="dim")
        parts.append(_line(head))
        shown = shown_evidence(s.evidence)
        for e in shown:
            line = Text()
            line.append(f"{e.step:<9}", style="dim")
            line.append_text(safe_text(e.text))
            parts.append(_line(line, 5))
            if e.command:
                parts.append(_line(safe_text(e.command, "dim"), 14))
        if len(s.evidence) > len(shown):
            more = f"… {len(s.evidence) - len(shown)} more in --format json"
            parts.append(_line(Text(more, style="dim"), 14))
    return Group(*parts)


def shown_evidence(evidence: list[Evidence]) -> list[Evidence]:
    """The strongest piece of evidence of each step, in the order of the steps.

    A reader checks a suspect step by step; three traces facts hide that the logs and
    the profiles agree. Evidence arrives strongest first, so the first of each step wins.
    """
    order = {name: i for i, name in enumerate(_TITLES)}
    best: dict[str, Evidence] = {}
    for e in evidence:
        best.setdefault(e.step, e)
    return sorted(best.values(), key=lambda e: order.get(e.step, len(order)))[:EVIDENCE_SHOWN]
