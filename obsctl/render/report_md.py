"""``obsctl report -o FILE.md``: the report as Markdown, and the content both writers share.

The first half of this module turns a ``Report`` into *plain content*: fact lists,
``Table``\\ s of plain strings (with which columns hold numbers and which identifiers),
the timeline, the suspects' evidence. Nothing in it is escaped or styled. The Markdown
writer below and ``render.report_html`` both read it, so the two documents say the same
thing and the wording lives in one place.

Escaping (the second half) follows one rule: data never becomes markup, whatever
renderer reads the file (GitHub, GitLab, markdown-it, Python-Markdown, a wiki import).

* Prose (messages, summaries) goes through ``md``: control characters and newlines are
  made visible (``render.safe.clean``), ``& < >`` become entities — so ``<script>`` or
  ``<img onerror=…>`` is text in every renderer, even those that pass raw HTML through —
  and the characters that make emphasis, links, code, headings, tables or strikethrough
  (``\\ ` * _ [ ] # | ~``) are backslash-escaped, as is a list or quote marker at the
  start.
* Identifiers (functions, operations, metric names, trace ids, commands) go in code
  spans (``md_code``): literal in every renderer, fenced with more backticks than the
  text holds; in a table cell ``|`` is written ``\\|`` (GFM's rule inside tables).
* Commands to reproduce go in a fenced block whose fence is longer than any run of
  backticks in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsctl import __version__
from obsctl.render.safe import clean
from obsctl.render.units import fmt_count, fmt_duration_ns, fmt_time

if TYPE_CHECKING:
    from obsctl.analysis.investigate import Investigation, Step, Suspect
    from obsctl.analysis.report import Report, Waterfall

STEP_TITLES = {
    "logs": "Logs — what happened",
    "metrics": "Metrics — how much",
    "traces": "Traces — where",
    "profiles": "Profiles — why",
}
"""Section titles of the four steps."""

MD_WATERFALL_ROWS = 30
"""Rows of the exemplar trace listed in Markdown (the HTML draws up to the report's
cap)."""

EVIDENCE_ROWS = 8
"""Pieces of evidence listed per suspect (strongest first)."""

TIMELINE_ROWS = 40
"""Timeline entries listed; the rest are counted."""


# --------------------------------------------------------------------------- content


@dataclass(frozen=True)
class Table:
    """A table of plain, unescaped strings."""

    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: frozenset[int] = frozenset()
    """Columns aligned right."""
    code: frozenset[int] = frozenset()
    """Columns holding identifiers (code spans / monospace)."""
    note: str | None = None
    """A line under the table (``12 more not shown``)."""


@dataclass(frozen=True)
class Block:
    """One part of a step section: facts (label → value), a titled table, or notes."""

    title: str | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    table: Table | None = None
    notes: list[str] = field(default_factory=list)


def clock(ns: int | None) -> str:
    """``16:30:22`` (UTC)."""
    return "—" if ns is None else fmt_time(ns, precision="s")[11:]


def stamp(ns: int | None) -> str:
    """``2026-03-26 16:30:22``."""
    return "—" if ns is None else fmt_time(ns, precision="s")


def span_text(start: int | None, end: int | None) -> str:
    """``2026-03-26 16:30:22 → 16:52:05 UTC (21m43s)`` (the date again only if it
    changes)."""
    if start is None or end is None:
        return "—"
    a, b = stamp(start), stamp(end)
    if a[:10] == b[:10]:
        b = b[11:]
    return f"{a} → {b} UTC ({fmt_duration_ns(end - start)})"


def suspect_name(s: Suspect) -> str:
    """``payment``, or ``payment → payment-gateway`` for a dependency edge."""
    return f"{s.caller} → {s.service}" if s.caller else s.service


def suspect_line(s: Suspect) -> str:
    """Name, operation and function, ``·``-separated."""
    return " · ".join(x for x in (suspect_name(s), s.operation, s.function) if x)


def title(report: Report) -> str:
    """The document's title."""
    w = report.investigation.window
    if not report.found:
        return "Incident report — nothing left its baseline"
    return f"Incident report — {span_text(w.start_ns, w.end_ns).rsplit(' (', 1)[0]}"


def _source(inv: Investigation) -> str:
    src = inv.window_source
    if src == "given":
        return "given on the command line (--since/--until)"
    if src == "none":
        return "nothing: no signal left its baseline"
    return f"{src.replace('_', ' ')} moved first"


def summary_facts(report: Report) -> list[tuple[str, str]]:
    """The summary: window, baseline, how the window was found, top suspect, confidence,
    the data loaded and the scope."""
    inv = report.investigation
    w, b = inv.window, inv.baseline
    if inv.window_source == "none":
        facts = [("Examined", span_text(w.start_ns, w.end_ns))]
    else:
        facts = [("Incident window", span_text(w.start_ns, w.end_ns))]
        if b.start_ns is not None and b.end_ns is not None and b.end_ns > b.start_ns:
            facts.append(("Baseline", span_text(b.start_ns, b.end_ns)))
        else:
            facts.append(("Baseline", "none (no data before the window)"))
    facts.append(("Found from", _source(inv)))
    if inv.suspects:
        top = inv.suspects[0]
        order = list(STEP_TITLES)
        steps = sorted(
            {e.step for e in top.evidence}, key=lambda n: order.index(n) if n in order else 9
        )
        facts.append(("Top suspect", suspect_line(top)))
        facts.append(
            (
                "Confidence",
                f"{top.confidence} (score {top.score:.2f}; evidence from {', '.join(steps)})",
            )
        )
    else:
        facts.append(("Top suspect", "none: nothing left its baseline"))
    facts.append(("Data loaded", span_text(report.data_start_ns, report.data_end_ns)))
    if report.service:
        facts.append(("Scope", f"service {report.service} only"))
    return facts


def timeline_table(report: Report) -> Table:
    """First error, onsets, new patterns, metrics that moved…, oldest first; the window's
    opening is a row of its own."""
    inv = report.investigation
    entries = list(inv.timeline)
    if inv.window_source != "none" and inv.window.start_ns is not None:
        entries.append(
            {"time": inv.window.start_ns, "signal": "window", "text": "incident window opens"}
        )
    entries.sort(key=lambda e: e["time"])
    days = {stamp(e["time"])[:10] for e in entries}
    when = clock if len(days) <= 1 else stamp  # the date only when it changes
    rows = []
    for e in entries[:TIMELINE_ROWS]:
        what = str(e["text"])
        if e["signal"] == "onset":  # "failed_spans moved": a detector's signal name
            what = what.replace("_", " ")
        rows.append((when(e["time"]), str(e["signal"]), what))
    more = len(entries) - len(rows)
    note = (
        f"{more} later entries not shown (obsctl investigate -f json has them all)"
        if more
        else None
    )
    return Table(("time (UTC)", "signal", "event"), rows, note=note)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def _logs(f: dict[str, Any]) -> list[Block]:
    out: list[Block] = []
    facts = []
    rate, errs = f.get("error_rate_per_min") or {}, f.get("errors") or {}
    if rate:
        facts.append(
            (
                "Error rate",
                f"{rate.get('baseline') or 0:.3g}/min before → {rate.get('window') or 0:.3g}/min"
                f" in the window ({fmt_count(errs.get('baseline'))} → "
                f"{fmt_count(errs.get('window'))} ERROR+ records)",
            )
        )
    first = f.get("first_error")
    if first:
        facts.append(
            (
                "First error",
                f"{stamp(first['time'])} UTC in {first['service'] or '?'} "
                f"({first['location']}): {first['body'] or ''}",
            )
        )
    if facts:
        out.append(Block(facts=facts))
    pats = f.get("patterns") or []
    if pats:
        rows = []
        for p in pats:
            count = f"×{fmt_count(p['count'])}"
            if p["status"] == "grown":
                count = f"{fmt_count(p['baseline_count'])} → {fmt_count(p['count'])}"
            rows.append(
                (
                    p["status"],
                    ", ".join(p["levels"] or ()),
                    ", ".join(p["services"] or ()),
                    count,
                    clock(p["first_seen"]),
                    p["template"],
                )
            )
        out.append(
            Block(
                "New and grown log patterns",
                table=Table(
                    ("status", "level", "service", "records", "first seen", "template"),
                    rows,
                    numeric=frozenset({3}),
                    code=frozenset({5}),
                ),
            )
        )
    return out


def _metrics(f: dict[str, Any]) -> list[Block]:
    from obsctl.analysis.metric_anomalies import change_text

    rows = []
    for r in sorted(f.get("anomalies") or (), key=lambda r: r["start"]):
        arrow = "↑" if r["direction"] == "up" else "↓"
        rows.append(
            (
                clock(r["start"]),
                r["service"] or "?",
                r["metric"],
                f"{arrow} {change_text(r['baseline'], r['value'], r['relative_change'])}",
                f"{r['score']:.1f}",
                ", ".join(r["related_services"] or ()),
            )
        )
    if not rows:
        return []
    table = Table(
        ("started", "service", "metric", "change", "score", "moved with"),
        rows,
        numeric=frozenset({4}),
        code=frozenset({2}),
    )
    return [Block("Series that left their baseline (first to move first)", table=table)]


def _traces(f: dict[str, Any]) -> list[Block]:
    out: list[Block] = []
    facts = []
    n = f.get("traces") or {}
    if n:
        facts.append(
            (
                "Traces",
                f"{fmt_count(n.get('window'))} in the window, {fmt_count(n.get('baseline'))}"
                " in the baseline",
            )
        )
    for label, key in (
        ("Slowest trace", "exemplar_slow_trace"),
        ("Failed trace", "exemplar_failed_trace"),
    ):
        ex = f.get(key)
        if key == "exemplar_failed_trace" and ex and ex == f.get("exemplar_slow_trace"):
            continue  # the slowest trace failed too: said once
        if ex:
            state = ", failed" if ex.get("error") else ""
            facts.append(
                (
                    label,
                    f"{ex['trace_id']} — {ex['root_service']} {ex['root_operation']}, "
                    f"{fmt_duration_ns(ex['duration_ns'])}, {ex['spans']} spans{state}",
                )
            )
    if facts:
        out.append(Block(facts=facts))
    cp = f.get("critical_path") or []
    if cp:
        rows = [
            (
                r["service"],
                r["operation"],
                fmt_duration_ns(r.get("per_trace_ns")),
                fmt_duration_ns(r.get("baseline_per_trace_ns")),
                "—"
                if r.get("change_ns") is None
                else "+" * (r["change_ns"] > 0) + fmt_duration_ns(r["change_ns"]),
                _pct(r.get("share")),
            )
            for r in cp
        ]
        out.append(
            Block(
                "Critical-path time gained (per trace, self time on the path)",
                table=Table(
                    ("service", "operation", "window", "baseline", "change", "share of path"),
                    rows,
                    numeric=frozenset({2, 3, 4, 5}),
                    code=frozenset({1}),
                ),
            )
        )
    origins = f.get("error_origins") or []
    if origins:
        rows = [
            (
                o["service"],
                o["operation"],
                o["kind"] or "",
                fmt_count(o["traces"]),
                _pct(o["share"]),
                o["message"] or "",
                (o["examples"] or [""])[0],
            )
            for o in origins
        ]
        out.append(
            Block(
                "Where failures originate (the deepest failing span)",
                table=Table(
                    (
                        "service",
                        "operation",
                        "kind",
                        "failed traces",
                        "share",
                        "message",
                        "example trace",
                    ),
                    rows,
                    numeric=frozenset({3, 4}),
                    code=frozenset({1, 6}),
                ),
            )
        )
    attrs = f.get("attributes") or []
    if attrs:
        rows = [
            (f"{a['key']}={a['value']}", a["scope"], _pct(a["outliers"]), _pct(a["baseline"]))
            for a in attrs
        ]
        out.append(
            Block(
                "Attributes that set the window's spans apart",
                table=Table(
                    ("attribute", "scope", "window", "baseline"),
                    rows,
                    numeric=frozenset({2, 3}),
                    code=frozenset({0}),
                ),
            )
        )
    return out


def _profiles(f: dict[str, Any]) -> list[Block]:
    out: list[Block] = []
    for s in f.get("services") or ():
        title_ = f"{s['service']} ({s['sample_type']}): functions whose share grew"
        if not s["functions"]:
            out.append(
                Block(notes=[f"{s['service']} ({s['sample_type']}): no function's share grew"])
            )
            continue
        rows = [
            (
                fn["function"],
                f"{fn['base_flat_pct'] or 0:.1f}%",
                f"{fn['target_flat_pct'] or 0:.1f}%",
                f"{fn['flat_change'] or 0:+.1f} pts",
            )
            for fn in s["functions"]
        ]
        out.append(
            Block(
                title_,
                table=Table(
                    ("function", "baseline", "window", "change"),
                    rows,
                    numeric=frozenset({1, 2, 3}),
                    code=frozenset({0}),
                ),
            )
        )
    notes = [str(n) for n in f.get("notes") or ()]
    if notes:
        out.append(Block(notes=notes))
    return out


_STEP_BLOCKS = {"logs": _logs, "metrics": _metrics, "traces": _traces, "profiles": _profiles}


def step_blocks(step: Step) -> list[Block]:
    """A step's findings as blocks (empty when the step has none)."""
    fn = _STEP_BLOCKS.get(step.name)
    return fn(step.findings) if fn and step.findings else []


def evidence_table(s: Suspect, limit: int | None = None) -> Table:
    """A suspect's evidence, strongest first, with the command that shows each (the
    first ``limit`` pieces; the note counts the rest)."""
    shown = s.evidence[:limit] if limit else s.evidence
    rows = [(e.step, e.text, e.command or "") for e in shown]
    more = len(s.evidence) - len(shown)
    piece = "piece" if more == 1 else "pieces"
    note = f"{more} weaker {piece} of evidence not shown (obsctl investigate -f json)"
    return Table(
        ("step", "evidence", "command"), rows, code=frozenset({2}), note=note if more else None
    )


def waterfall_rows(wf: Waterfall, limit: int | None = None) -> Table:
    """The exemplar trace as a table: indented operation, service, start, duration,
    marks (``critical``, ``error``)."""
    rows = []
    shown = wf.rows[:limit] if limit else wf.rows
    for r in shown:
        marks = [m for m, on in (("critical", r.critical), ("error", r.error)) if on]
        if r.hidden_below:
            marks.append(f"+{r.hidden_below} spans below not shown")
        rows.append(
            (
                "· " * r.depth + r.name,
                r.service or "",
                fmt_duration_ns(r.start_offset_ns) if r.start_offset_ns else "0",
                fmt_duration_ns(r.duration_ns),
                ", ".join(marks),
            )
        )
    left = len(wf.rows) - len(shown) + wf.hidden
    note = f"{left} of {wf.spans} spans not listed" if left else None
    return Table(
        ("operation", "service", "start", "duration", "marks"),
        rows,
        numeric=frozenset({2, 3}),
        code=frozenset({0}),
        note=note,
    )


def waterfall_caption(wf: Waterfall) -> str:
    """``trace 5736… · 6.34s · 26 spans · 7 services · 6 failed``."""
    return (
        f"trace {wf.trace_id} · {fmt_duration_ns(wf.duration_ns)} · {wf.spans} spans · "
        f"{len(wf.services)} services · {wf.errors} failed"
    )


def generated_line(report: Report) -> str:
    """Who wrote the report, from what."""
    return (
        f"Generated by obsctl {__version__} from telemetry spanning "
        f"{span_text(report.data_start_ns, report.data_end_ns)}; times are UTC."
    )


# --------------------------------------------------------------------------- escaping

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_MD_LEAD = re.compile(r"^(\s*)([-+=]+|\d{1,9}[.)])(?=\s|$)")


def md(value: object) -> str:
    """Prose as inert Markdown text (see the module docstring)."""
    text = clean(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    m = _MD_LEAD.match(text)
    if m:  # "- x", "1. x", "===": would start a list or a heading at a line's start
        at = m.end(2) - 1 if m.group(2)[0].isdigit() else m.start(2)
        text = text[:at] + "\\" + text[at:]
    return text


def md_code(value: object, *, in_table: bool = False) -> str:
    """An identifier as a code span (literal everywhere); ``""`` for no value."""
    text = clean(value)
    if not text:
        return ""
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_table(t: Table) -> list[str]:
    """A GFM pipe table."""

    def cell(i: int, v: str) -> str:
        return md_code(v, in_table=True) if i in t.code else md(v)

    lines = [
        "| " + " | ".join(md(c) for c in t.columns) + " |",
        "|" + "|".join("---:" if i in t.numeric else "---" for i in range(len(t.columns))) + "|",
    ]
    for row in t.rows:
        lines.append("| " + " | ".join(cell(i, v) for i, v in enumerate(row)) + " |")
    if t.note:
        lines += ["", f"*{md(t.note)}*"]
    return lines


def md_fence(lines: list[str], info: str = "console") -> list[str]:
    """A fenced code block holding ``lines`` literally."""
    body = [clean(x) for x in lines]
    longest = max((len(r) for x in body for r in re.findall(r"`+", x)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *body, fence]


# --------------------------------------------------------------------------- writer


def _blocks(blocks: list[Block]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if b.title:
            out += [f"**{md(b.title)}**", ""]
        if b.facts:
            out += [f"- **{md(k)}:** {md(v)}" for k, v in b.facts] + [""]
        if b.table:
            out += [*md_table(b.table), ""]
        if b.notes:
            out += [f"- {md(n)}" for n in b.notes] + [""]
    return out


def to_markdown(report: Report) -> str:
    """The whole report as a Markdown document."""
    inv = report.investigation
    out = [f"# {md(title(report))}", "", f"*{md(generated_line(report))}*", "", "## Summary", ""]
    out += [f"- **{md(k)}:** {md(v)}" for k, v in summary_facts(report)]
    out.append("")
    if not report.found:
        out += [
            "**Nothing found.** No log, metric or trace signal left its baseline in the"
            " loaded data, so there is no incident window and no suspect.",
            "",
        ]
    for step in inv.steps:
        out.append(f"- **{md(step.name.capitalize())}:** {md(step.summary)}")
    out.append("")

    out += ["## Timeline", ""]
    tl = timeline_table(report)
    out += (md_table(tl) if tl.rows else ["*No event: nothing moved.*"]) + [""]
    if report.series_note:
        out += [f"*Charts: {md(report.series_note)}.*", ""]

    for i, step in enumerate(inv.steps, 1):
        out += [f"## {i} {md(STEP_TITLES.get(step.name, step.name))}", ""]
        out += [f"**Finding.** {md(step.summary)}", ""]
        out += _blocks(step_blocks(step))
        if step.name == "traces":
            if report.waterfall is not None:
                wf = report.waterfall
                out += [f"**Exemplar slow trace** — {md(waterfall_caption(wf))}", ""]
                out += [*md_table(waterfall_rows(wf, MD_WATERFALL_ROWS)), ""]
            elif report.waterfall_note:
                out += [f"*{md(report.waterfall_note)}.*", ""]
        if step.name == "profiles":
            if report.profile is not None:
                p = report.profile
                out += [
                    f"*The differential flame graph of {md(p.service)} (baseline → window) is"
                    f" in the HTML report; culprit {md_code(p.function)}.*",
                    "",
                ]
            elif report.profile_note:
                out += [f"*Differential flame graph not drawn: {md(report.profile_note)}.*", ""]

    out += ["## Suspects", ""]
    if not inv.suspects:
        out += ["None: nothing left its baseline.", ""]
    for i, s in enumerate(inv.suspects, 1):
        out += [
            f"### {i}. {md(suspect_line(s))}",
            "",
            f"Confidence **{md(s.confidence)}**, score {s.score:.2f}.",
            "",
        ]
        out += [*md_table(evidence_table(s, EVIDENCE_ROWS)), ""]

    out += ["## Commands to reproduce", ""]
    out += [*md_fence(list(report.commands)), ""]
    return "\n".join(out)
