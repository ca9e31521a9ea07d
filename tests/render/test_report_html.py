"""The HTML report: one self-contained, well-formed page whose charts draw the data, and
in which hostile data stays text.

The demo incident is investigated once per module; the hostile bundle is a small log and
trace file written here, whose message, span name and error hold markup.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from obsctl.demo.scenario import SCENARIOS
from tests.conftest import FIXTURES

DEMO = FIXTURES / "checkout-incident"
TRUTH = SCENARIOS["payment-cpu"].truth
SVG_NS = "{http://www.w3.org/2000/svg}"
SECTIONS = (
    "Summary",
    "Timeline",
    "Logs — what happened",
    "Metrics — how much",
    "Traces — where",
    "Profiles — why",
    "Suspects",
    "Commands to reproduce",
)

HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "[red]x[/red]")
"""Markup an attacker could put in a log message, a span name or an error."""


def write_hostile_bundle(root: Path) -> Path:
    """40 minutes of a web service: quiet, then from minute 25 errors whose message holds
    ``HOSTILE`` and slow, failing client spans named with it (JSON-lines logs, Zipkin v2
    traces)."""
    root.mkdir(parents=True, exist_ok=True)
    t0 = 1774540800  # 2026-03-26T16:00:00Z
    logs = []
    for i in range(40 * 6):
        t = t0 + i * 10
        ts = f"2026-03-26T16:{t // 60 % 60:02d}:{t % 60:02d}Z"
        logs.append({"time": ts, "level": "info", "service": "web", "msg": f"served n={i}"})
        if i >= 25 * 6:
            msg = f"{HOSTILE[0]} charge failed {HOSTILE[1]} {HOSTILE[2]}"
            logs.append({"time": ts, "level": "error", "service": "web", "msg": msg})
    (root / "web.jsonl").write_text("\n".join(json.dumps(r) for r in logs) + "\n")
    spans: list[dict[str, Any]] = []
    for i in range(40 * 4):
        t = (t0 + i * 15) * 1_000_000
        bad = i >= 25 * 4
        tid, root_id, child_id = f"{i + 1:032x}", f"{2 * i + 1:016x}", f"{2 * i + 2:016x}"
        spans.append(
            {
                "traceId": tid,
                "id": root_id,
                "name": "GET /checkout",
                "kind": "SERVER",
                "timestamp": t,
                "duration": 950_000 if bad else 30_000,
                "localEndpoint": {"serviceName": "web"},
            }
        )
        child: dict[str, Any] = {
            "traceId": tid,
            "id": child_id,
            "parentId": root_id,
            "name": f"{HOSTILE[1]} {HOSTILE[2]}",
            "kind": "CLIENT",
            "timestamp": t + 1000,
            "duration": 900_000 if bad else 20_000,
            "localEndpoint": {"serviceName": "web"},
            "remoteEndpoint": {"serviceName": "db"},
        }
        if bad:
            child["tags"] = {"error": HOSTILE[0]}
        spans.append(child)
    (root / "traces.json").write_text(json.dumps(spans))
    return root


def _report(store_path: Path) -> Any:
    from obsctl.analysis.investigate import investigate
    from obsctl.analysis.report import build
    from obsctl.store import Store

    with Store.open(store_path, read_only=True) as s:
        inv = investigate(s)
        assert inv is not None
        return build(s, inv)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("report-html") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO)])
    return _report(path)


@pytest.fixture(scope="module")
def demo_html(demo_report: Any) -> str:
    from obsctl.render.report_html import to_html

    return to_html(demo_report)


@pytest.fixture(scope="module")
def hostile_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    from obsctl.ingest import ingest_paths
    from obsctl.render.report_html import to_html
    from obsctl.store import Store

    root = tmp_path_factory.mktemp("report-hostile")
    path = root / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(write_hostile_bundle(root / "bundle"))])
    return to_html(_report(path))


class _Tags(HTMLParser):
    """Every start tag with its attributes, and whether the tags nest properly."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    return p


def _svgs(html: str) -> list[ET.Element]:
    """Every inline ``<svg>`` element, parsed as XML (each must be well formed)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


# --------------------------------------------------------------------------- demo


def test_html_is_well_formed_and_self_contained(demo_html):
    p = _parse(demo_html)
    assert p.errors == [] and p.stack == []
    names = [t for t, _ in p.tags]
    assert names[0] == "html" and "body" in names
    # nothing that runs or loads: no script, no external stylesheet, image, frame or font
    for bad in ("script", "link", "img", "iframe", "object", "embed", "base"):
        assert bad not in names
    for tag, attrs in p.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), (tag, key)
            if key in ("src", "href", "xlink:href", "action"):
                assert not re.match(r"\s*(https?:)?//", value or ""), (tag, key, value)
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", demo_html)
    assert "@import" not in demo_html and "url(" not in demo_html
    csp = [a for t, a in p.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


def test_names_the_top_suspect_and_has_every_section(demo_html):
    text = " ".join(_parse(demo_html).text)
    assert TRUTH.service in text and TRUTH.function in text
    for title in SECTIONS:
        assert title in text
    assert "obsctl investigate --since " in text


def test_three_charts_drawn_from_the_data(demo_html, demo_report):
    svgs = _svgs(demo_html)
    classes = [s.get("class") for s in svgs]
    assert classes.count("chart") == 2  # error rate, latency
    assert "waterfall" in classes and "obsctl-flame" in classes
    errors, latency = (s for s in svgs if s.get("class") == "chart")
    # lines with points, the incident window shaded, the baseline marked, time labels
    for chart in (errors, latency):
        paths = chart.findall(f".//{SVG_NS}path")
        assert paths and all(len(p.get("d", "").split("L")) > 20 for p in paths)
        assert chart.find(f".//{SVG_NS}rect[@class='band-window']") is not None
        assert chart.find(f".//{SVG_NS}rect[@class='band-baseline']") is not None
        labels = [t.text or "" for t in chart.iter(f"{SVG_NS}text")]
        assert sum(bool(re.fullmatch(r"\d\d:\d\d", x)) for x in labels) >= 4
    assert len(errors.findall(f".//{SVG_NS}path")) == 2  # log errors, failed spans
    assert len(latency.findall(f".//{SVG_NS}path")) == 3  # p50, p95, p99
    assert any((t.text or "").endswith("s") for t in latency.iter(f"{SVG_NS}text"))  # units


def test_waterfall_draws_the_exemplar_trace(demo_html, demo_report):
    wf = demo_report.waterfall
    (svg,) = (s for s in _svgs(demo_html) if s.get("class") == "waterfall")
    bars = [r for r in svg.iter(f"{SVG_NS}rect") if "span" in (r.get("class") or "").split()]
    assert len(bars) == len(wf.rows)
    failed = [r for r in bars if "err" in r.get("class", "").split()]
    assert len(failed) == sum(r.error for r in wf.rows) > 0
    faded = [r for r in bars if "off" in r.get("class", "").split()]
    assert len(faded) == sum(not r.critical for r in wf.rows)
    assert svg.findall(f".//{SVG_NS}rect[@class='cp']")  # the critical path
    # one colour per service
    fills = {r.get("fill") for r in bars}
    assert len(fills) == len(wf.services)
    assert wf.trace_id in (svg.find(f"{SVG_NS}title").text or "")


def test_flame_graph_shows_the_culprit_grown(demo_html):
    (flame,) = (s for s in _svgs(demo_html) if s.get("class") == "obsctl-flame")
    frames = {g.get("data-n"): g for g in flame.iter(f"{SVG_NS}g") if g.get("class") == "f"}
    g = frames[TRUTH.function]
    r, _, b = (int(c) for c in g.find(f"{SVG_NS}rect").get("fill")[4:-1].split(","))
    assert r == 255 and b < 255  # red: it grew
    assert flame.find(f".//{SVG_NS}script") is None  # embedded: no script


# --------------------------------------------------------------------------- hostile


def test_hostile_data_is_escaped(hostile_html):
    p = _parse(hostile_html)
    assert p.errors == [] and p.stack == []
    names = [t for t, _ in p.tags]
    assert "script" not in names and "img" not in names
    assert all(not k.startswith("on") for _, a in p.tags for k in a)
    assert "<script>alert" not in hostile_html and "<img src=x" not in hostile_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in hostile_html
    # the text a reader sees is the data itself
    text = "".join(p.text)
    for h in HOSTILE:
        assert h in text


def test_hostile_data_in_svg_stays_text(hostile_html):
    svgs = _svgs(hostile_html)  # still well-formed XML
    wf = next(s for s in svgs if s.get("class") == "waterfall")
    labels = ["".join(t.itertext()) for t in wf.iter(f"{SVG_NS}text")]
    assert any(HOSTILE[1] in x or "onerror" in x for x in labels)
    tips = [t.text or "" for t in wf.iter(f"{SVG_NS}title")]
    assert any(HOSTILE[1] in t and HOSTILE[0] in t for t in tips)  # name and error message
    for s in svgs:
        assert s.find(f".//{SVG_NS}script") is None
        assert s.find(f".//{SVG_NS}image") is None


def test_svg_text_escapes_everything():
    from obsctl.render import svg

    assert svg.esc('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
    assert svg.esc("esc\x1b[2J") == "esc\\x1b[2J"
    assert svg.esc("\ud800") == "\\ud800"
    el = ET.fromstring(
        svg.svg_open(100, 50, cls='c" onload="x', label="<t>") + svg.text(1, 2, "<b>") + "</svg>"
    )
    assert el.get("class") == 'c" onload="x' and el.get("onload") is None
    assert el.find(f"{SVG_NS}title").text == "<t>"
