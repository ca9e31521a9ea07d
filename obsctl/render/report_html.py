"""``obsctl report -o FILE.html``: the report as one self-contained HTML page.

One file a team can attach to its incident document: inline CSS, inline SVG charts, no
script, font or image from anywhere (a Content-Security-Policy ``default-src 'none'``
says so to the browser as well), light theme on screen and paper (A4), dark theme when
the reader's system asks for it.

The words are ``render.report_md``'s content (summary, timeline, step tables, suspects,
commands), so the Markdown and the HTML say the same; this module adds the pictures:

* error rate (ERROR+ log records and failed spans per minute) and root-span latency
  (p50/p95/p99, on a log axis when they span more than a factor of 50) over time, the
  baseline and the incident window shaded (``render.svg``);
* the exemplar slow trace's waterfall: one bar per span in its service's colour, the
  critical path as a dark rule under the bars it runs through, failed spans outlined in
  red and marked ✗, spans off the critical path faded;
* the differential flame graph of the culprit's service, drawn by
  ``render.profiles.diff_svg`` (embedded with ``standalone=False``).

Every piece of data — in text, in attributes, in SVG ``<title>`` tooltips — goes through
``render.svg.esc`` (``html.escape`` after control characters are made visible).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from obsctl import __version__
from obsctl.render import svg
from obsctl.render.report_md import (
    EVIDENCE_ROWS,
    STEP_TITLES,
    Block,
    Table,
    evidence_table,
    generated_line,
    step_blocks,
    summary_facts,
    suspect_line,
    timeline_table,
    title,
    waterfall_caption,
)
from obsctl.render.svg import esc
from obsctl.render.units import fmt_duration_ns

if TYPE_CHECKING:
    from obsctl.analysis.report import Report, Series, Waterfall

SERVICE_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#9c755f",
    "#d37295",
    "#499894",
    "#edc948",
    "#86bcb6",
    "#a0cbe8",
    "#bab0ac",
)
"""Bar colours of the waterfall, given to the trace's services in order of appearance so
that no two share one (up to twelve). Red is left out: it means failure."""

LOG_SCALE_RATIO = 50.0
"""Latency is drawn on a log axis when p99's maximum exceeds p50's minimum this much."""

CSS = """
:root { --fg: #1d2330; --muted: #5b6474; --bg: #ffffff; --panel: #f5f6f8; --line: #d9dde3;
  --grid: #e7e9ed; --err: #c62828; --accent: #2b59c3; --win: rgba(229, 57, 53, 0.11);
  --base: rgba(110, 120, 140, 0.10); --cp: #1d2330; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e7ec; --muted: #9aa3b2; --bg: #14171c; --panel: #1b1f26; --line: #2f3540;
    --grid: #272c35; --err: #ef5350; --accent: #7aa2f7; --win: rgba(239, 83, 80, 0.16);
    --base: rgba(160, 170, 190, 0.10); --cp: #f2f4f8; }
}
@media print {
  :root { --fg: #1d2330; --muted: #5b6474; --bg: #ffffff; --panel: #f5f6f8; --line: #d9dde3;
    --grid: #e7e9ed; --err: #c62828; --win: rgba(229, 57, 53, 0.11);
    --base: rgba(110, 120, 140, 0.10); --cp: #1d2330; }
}
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1010px; margin: 0 auto; padding: 28px 28px 56px; }
h1 { font-size: 24px; line-height: 1.25; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 34px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
h4 { font-size: 13px; margin: 16px 0 4px; color: var(--muted); }
p { margin: 6px 0 10px; }
.meta, .note, figcaption { color: var(--muted); font-size: 12.5px; }
.note { font-style: italic; }
.lead { font-size: 15px; margin: 14px 0; }
.callout { border-left: 4px solid var(--accent); background: var(--panel); padding: 10px 14px;
  margin: 14px 0; border-radius: 0 6px 6px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 8px 0;
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 16px; }
dl.facts dt { font-weight: 600; color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
ul.steps { padding-left: 20px; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 6px 0 14px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; overflow-wrap: break-word; }
th { font-weight: 600; color: var(--muted); background: var(--panel); }
th.num { text-align: right; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 12px; }
td.long { overflow-wrap: anywhere; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; color: #fff; vertical-align: 1px; }
.badge.high { background: #c62828; } .badge.medium { background: #d97706; }
.badge.low { background: #7c8595; }
.score { color: var(--muted); font-size: 12.5px; }
figure { margin: 10px 0 18px; }
svg { display: block; max-width: 100%; height: auto; }
svg.chart text, svg.waterfall text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto,
  Arial, sans-serif; fill: var(--fg); }
svg .axis text, svg .unit { fill: var(--muted); }
svg .chart-title { font-size: 13px; font-weight: 600; }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .edge { stroke: var(--muted); stroke-width: 1; }
svg .line { stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
svg path.line { fill: none; }
svg circle.dot { stroke: none; }
.s-logerr { stroke: #d32f2f; fill: #d32f2f; } .s-failed { stroke: #f57c00; fill: #f57c00; }
.s-p50 { stroke: #1e88e5; fill: #1e88e5; } .s-p95 { stroke: #2e7d32; fill: #2e7d32; }
.s-p99 { stroke: #8e24aa; fill: #8e24aa; }
svg .band-window { fill: var(--win); } svg .band-baseline { fill: var(--base); }
svg .band-window-label { fill: var(--err); font-weight: 600; }
svg .band-baseline-label { fill: var(--muted); font-weight: 600; }
svg .span { stroke: none; }
svg .span.off { opacity: 0.42; }
svg .span.err { stroke: var(--err); stroke-width: 1.6; }
svg .cp { fill: var(--cp); }
svg .mark-err { fill: var(--err); font-weight: 700; }
svg .dur { fill: var(--muted); }
svg .hid { fill: var(--muted); font-style: italic; }
svg .row-alt { fill: var(--panel); }
svg .svc { font-weight: 600; }
figure, table, dl, pre, .suspect { break-inside: avoid; }
h2, h3, h4 { break-after: avoid; }
@media print {
  body { font-size: 11.5px; }
  main { max-width: none; padding: 0; }
  h2 { margin-top: 22px; }
}
"""
"""The page's styles (colours as custom properties so one switch themes the charts)."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Nothing may load from anywhere, and no script may run."""


# --------------------------------------------------------------------------- helpers


def service_colours(services: tuple[str, ...]) -> dict[str, str]:
    """A colour per service of a trace: distinct ones in order of appearance while the
    palette lasts, then by a stable hash of the name."""
    out = {}
    for i, s in enumerate(services):
        k = i if i < len(SERVICE_COLOURS) else zlib.crc32(s.encode())
        out[s] = SERVICE_COLOURS[k % len(SERVICE_COLOURS)]
    return out


def _facts(facts: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


LONG_CELL = 32
"""A column with a value longer than this may break anywhere (a narrow page, a long
unbroken message); shorter ones break only between words."""


def _table(t: Table, *, when: frozenset[int] = frozenset()) -> str:
    long = {
        i for i in range(len(t.columns)) if max((len(r[i]) for r in t.rows), default=0) > LONG_CELL
    }

    def cls(i: int) -> str:
        c = "num" if i in t.numeric else "when" if i in when else "long" if i in long else ""
        return f' class="{c}"' if c else ""

    head = "".join(f"<th{cls(i)}>{esc(c)}</th>" for i, c in enumerate(t.columns))
    body = []
    for row in t.rows:
        cells = "".join(
            f"<td{cls(i)}>" + (f"<code>{esc(v)}</code>" if i in t.code and v else esc(v)) + "</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if t.note:
        out += f'<p class="note">{esc(t.note)}</p>'
    return out


def _blocks(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.title:
            out.append(f"<h4>{esc(b.title)}</h4>")
        if b.facts:
            out.append(_facts(b.facts))
        if b.table:
            out.append(_table(b.table))
        for n in b.notes:
            out.append(f'<p class="note">{esc(n)}</p>')
    return "".join(out)


def _figure(body: str, caption: str) -> str:
    return f"<figure>{body}<figcaption>{esc(caption)}</figcaption></figure>"


# --------------------------------------------------------------------------- charts


def _bands(report: Report) -> list[svg.Band]:
    inv = report.investigation
    if inv.window_source == "none":
        return []
    out = []
    b, w = inv.baseline, inv.window
    if b.start_ns is not None and b.end_ns is not None and b.end_ns > b.start_ns:
        out.append(svg.Band(b.start_ns, b.end_ns, "band-baseline", "baseline"))
    if w.start_ns is not None and w.end_ns is not None:
        out.append(svg.Band(w.start_ns, w.end_ns, "band-window", "incident window"))
    return out


def _rate(v: float) -> str:
    return f"{v:g}" if v < 1000 else f"{v / 1000:g}k"


def error_chart(report: Report, s: Series) -> str | None:
    """ERROR+ log records and failed spans per minute, or ``None`` with neither."""
    lines = []
    if s.has_logs:
        lines.append(
            svg.Line(
                "ERROR+ log records", "s-logerr", s.table.column("log_errors_per_min").to_pylist()
            )
        )
    if s.has_spans:
        lines.append(
            svg.Line("failed spans", "s-failed", s.table.column("failed_spans_per_min").to_pylist())
        )
    if not lines:
        return None
    chart = svg.LineChart(
        title=f"Errors per minute · {fmt_duration_ns(s.bucket_ns)} buckets · UTC",
        times=s.table.column("time").to_pylist(),
        lines=lines,
        t0=s.start_ns,
        t1=s.end_ns,
        unit="per minute",
        fmt=_rate,
        bands=_bands(report),
    )
    return svg.line_chart(chart)


def latency_chart(report: Report, s: Series) -> str | None:
    """Root-span latency p50/p95/p99, or ``None`` without root spans."""
    cols = {q: s.table.column(f"{q}_ns").to_pylist() for q in ("p50", "p95", "p99")}
    present = [v for v in cols["p50"] if v is not None]
    if not present:
        return None
    top = max(v for v in cols["p99"] if v is not None)
    low = min(v for v in present if v > 0) if any(v > 0 for v in present) else 0.0
    log = low > 0 and top / low > LOG_SCALE_RATIO
    chart = svg.LineChart(
        title="Root-span latency" + (" · log scale" if log else "") + " · UTC",
        times=s.table.column("time").to_pylist(),
        lines=[svg.Line(q, f"s-{q}", v) for q, v in cols.items()],
        t0=s.start_ns,
        t1=s.end_ns,
        unit="duration",
        fmt=lambda v: fmt_duration_ns(v) if v else "0",
        bands=_bands(report),
        log=log,
    )
    return svg.line_chart(chart)


# --------------------------------------------------------------------------- waterfall

_W = 960
_LABEL_W = 330
_RIGHT_W = 120
_ROW = 18
_TOP = 40
_CHAR = 6.3  # average glyph width at 11px


def _fit(text: str, px: float) -> str:
    n = int(px / _CHAR)
    if len(text) <= n:
        return text
    return text[: max(n - 1, 1)] + "…"


def waterfall_svg(wf: Waterfall) -> str:
    """The trace as bars on a shared time axis (see the module docstring)."""
    rows = wf.rows
    height = _TOP + len(rows) * _ROW + 34
    x0, x1 = _LABEL_W + 10, _W - _RIGHT_W
    plot = svg.Plot(x0, _TOP, x1 - x0, len(rows) * _ROW, 0, max(wf.duration_ns, 1))
    colours = service_colours(wf.services)
    out = [svg.svg_open(_W, height, cls="waterfall", label=waterfall_caption(wf))]
    for i in range(1, len(rows), 2):
        out.append(
            f'<rect class="row-alt" x="0" y="{_TOP + i * _ROW}" width="{_W}" height="{_ROW}"/>'
        )
    ticks = svg.duration_ticks(wf.duration_ns, fmt_duration_ns)
    out.append(svg.time_axis(plot, [(t, lb if t else "0") for t, lb in ticks], top=True))
    for i, r in enumerate(rows):
        y = _TOP + i * _ROW
        indent = 6 + min(r.depth, 14) * 10
        colour = colours.get(r.service or "", "#9aa3b2")
        svc = r.service or ""
        tip = (
            f"{svc} {r.name} — start +{fmt_duration_ns(r.start_offset_ns)}, "
            f"duration {fmt_duration_ns(r.duration_ns)}, self {fmt_duration_ns(r.self_ns)}"
            + (", on the critical path" if r.critical else "")
            + (f", failed: {r.status_message or 'error'}" if r.error else "")
            + (f"; {r.hidden_below} spans below not drawn" if r.hidden_below else "")
        )
        room = _LABEL_W - indent - 12
        svc_text = _fit(svc, min(room * 0.45, _CHAR * (len(svc) + 1)))
        name_text = _fit(r.name, room - _CHAR * (len(svc_text) + 1))
        out.append(f"<g><title>{esc(tip)}</title>")
        if r.service:
            out.append(
                f'<rect x="{indent}" y="{y + 5}" width="8" height="8" rx="1.5"'
                f' fill="{esc(colour)}"/>'
            )
        out.append(
            f'<text x="{indent + 12}" y="{y + 13}"><tspan class="svc">{esc(svc_text)}</tspan>'
            f"{' ' if svc_text else ''}{esc(name_text)}</text>"
        )
        bx, bw = plot.x(r.start_offset_ns), plot.x(r.start_offset_ns + r.duration_ns)
        cls = "span" + ("" if r.critical else " off") + (" err" if r.error else "")
        out.append(svg.hbar(bx, y + 3, bw - bx, _ROW - 7, cls=cls, fill=colour))
        label = fmt_duration_ns(r.duration_ns)
        lx = max(bw, bx + 1) + 4
        out.append(f'<text class="dur" x="{svg.num(lx)}" y="{y + 13}">{esc(label)}')
        if r.error:
            out.append('<tspan class="mark-err"> ✗</tspan>')
        if r.hidden_below:
            out.append(f'<tspan class="hid"> +{r.hidden_below}</tspan>')
        out.append("</text></g>")
    for row, a, b in wf.critical_segments:
        y = _TOP + row * _ROW + _ROW - 4
        xa, xb = plot.x(a), plot.x(b)
        if xb - xa >= 0.3:
            out.append(
                f'<rect class="cp" x="{svg.num(xa)}" y="{y}" width="{svg.num(xb - xa)}"'
                ' height="2.5"/>'
            )
    ly = _TOP + len(rows) * _ROW + 24
    out.append(f'<rect class="cp" x="{x0}" y="{ly - 5}" width="18" height="2.5"/>')
    out.append(svg.text(x0 + 24, ly, "critical path"))
    out.append(svg.text(x0 + 120, ly, "✗", cls="mark-err"))
    out.append(svg.text(x0 + 132, ly, "failed span (red outline)"))
    out.append(svg.text(x0 + 300, ly, "faded: off the critical path", cls="dur"))
    out.append("</svg>")
    return "".join(out)


def _service_legend(wf: Waterfall) -> str:
    colours = service_colours(wf.services)
    items = "".join(
        f'<span style="white-space:nowrap;margin-right:12px"><span style="display:inline-block;'
        f"width:9px;height:9px;border-radius:2px;background:{esc(colours[s])};"
        f'margin-right:4px"></span>{esc(s)}</span>'
        for s in wf.services
    )
    return f'<p class="meta">{items}</p>'


# --------------------------------------------------------------------------- page


def _summary(report: Report) -> str:
    inv = report.investigation
    out = [_facts(summary_facts(report))]
    if not report.found:
        out.append(
            '<div class="callout"><strong>Nothing found.</strong> No log, metric or trace'
            " signal left its baseline in the loaded data, so there is no incident window"
            " and no suspect.</div>"
        )
    items = "".join(
        f"<li><strong>{esc(s.name.capitalize())}:</strong> {esc(s.summary)}</li>" for s in inv.steps
    )
    out.append(f'<ul class="steps">{items}</ul>')
    return "".join(out)


def _timeline(report: Report) -> str:
    out = ['<h2 id="timeline">Timeline</h2>']
    s = report.series
    if s is not None:
        for chart, what in (
            (error_chart(report, s), "Error rate"),
            (latency_chart(report, s), "Latency of the root spans (whole requests)"),
        ):
            if chart:
                cap = f"{what} per {fmt_duration_ns(s.bucket_ns)} bucket, times in UTC"
                if _bands(report):
                    cap += "; shaded: the baseline (grey) and the incident window (red)"
                out.append(_figure(chart, cap + "."))
    if report.series_note:
        out.append(f'<p class="note">Charts: {esc(report.series_note)}.</p>')
    tl = timeline_table(report)
    if tl.rows:
        out.append(_table(tl, when=frozenset({0})))
    else:
        out.append('<p class="note">No event: nothing moved.</p>')
    return "".join(out)


def _steps(report: Report) -> str:
    out = []
    for i, step in enumerate(report.investigation.steps, 1):
        out.append(
            f'<section class="step"><h2 id="step-{esc(step.name)}">{i} '
            f"{esc(STEP_TITLES.get(step.name, step.name))}</h2>"
        )
        out.append(f'<p class="lead">{esc(step.summary)}</p>')
        out.append(_blocks(step_blocks(step)))
        if step.name == "traces":
            if report.waterfall is not None:
                wf = report.waterfall
                out.append(f"<h4>Exemplar slow trace — {esc(waterfall_caption(wf))}</h4>")
                cap = "Spans in display order (depth first, children by start)."
                if wf.hidden:
                    cap += (
                        f" {wf.hidden} of {wf.spans} spans are not drawn (the critical path,"
                        " failed spans and the longest spans are); +N after a bar counts"
                        " those under it."
                    )
                out.append(_figure(waterfall_svg(wf), cap))
                out.append(_service_legend(wf))
            elif report.waterfall_note:
                out.append(f'<p class="note">{esc(report.waterfall_note)}.</p>')
        if step.name == "profiles":
            out.append(_flame(report))
        out.append("</section>")
    return "".join(out)


def _flame(report: Report) -> str:
    from obsctl.render.profiles import diff_svg

    p = report.profile
    if p is None:
        note = report.profile_note
        if not note:
            return ""
        return f'<h4>Differential flame graph</h4><p class="note">Not drawn: {esc(note)}.</p>'

    st = p.tree.target.sample_type.name
    graph = diff_svg(
        p.tree,
        title=f"{p.service} · {st}: incident window vs baseline",
        width=_W,
        standalone=False,
    )
    cap = (
        f"Differential flame graph of {p.service}: frame width is where the {st} goes in the"
        " incident window; red frames grew their share against the baseline, blue ones"
        f" shrank. Culprit: {p.function}. Hover a frame for its numbers."
    )
    return "<h4>Differential flame graph</h4>" + _figure(graph, cap)


def _suspects(report: Report) -> str:
    out = ['<h2 id="suspects">Suspects</h2>']
    if not report.investigation.suspects:
        out.append('<p class="note">None: nothing left its baseline.</p>')
    for i, s in enumerate(report.investigation.suspects, 1):
        conf = s.confidence if s.confidence in ("high", "medium", "low") else "low"
        out.append(
            f'<div class="suspect"><h3>{i}. {esc(suspect_line(s))} '
            f'<span class="badge {conf}">{esc(s.confidence)}</span> '
            f'<span class="score">score {s.score:.2f}</span></h3>'
        )
        out.append(_table(evidence_table(s, EVIDENCE_ROWS)))
        out.append("</div>")
    return "".join(out)


def to_html(report: Report) -> str:
    """The whole report as one HTML document (UTF-8)."""
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f'<meta name="generator" content="obsctl {esc(__version__)}">\n'
        f"<title>{esc(title(report))}</title>\n<style>{CSS}</style>\n</head>\n"
    )
    body = [
        "<body>\n<main>",
        f"<h1>{esc(title(report))}</h1>",
        f'<p class="meta">{esc(generated_line(report))}</p>',
        '<h2 id="summary">Summary</h2>',
        _summary(report),
        _timeline(report),
        _steps(report),
        _suspects(report),
        '<h2 id="commands">Commands to reproduce</h2>',
        "<pre><code>" + "\n".join(esc(c) for c in report.commands) + "</code></pre>",
        "</main>\n</body>\n</html>\n",
    ]
    return head + "\n".join(body)
