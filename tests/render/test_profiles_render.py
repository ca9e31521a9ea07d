"""``render.profiles``: icicle geometry, labels, colours and the SVG writers."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from obsctl.analysis import profiles as prof
from obsctl.render import profiles as view
from obsctl.timewindow import TimeWindow

HOSTILE = [
    "<script>alert(1)</script>",
    "[red]markup[/red]",
    "esc\x1b[2Jclear",
    "cdata]]>end",
    "quote\"&amp'",
    "bidi\u202eevil",
]


# ------------------------------------------------------------------ geometry


def test_icicle_boxes_round_both_edges():
    # root 0-100; children 0-50, 50-80, 80-100; a grandchild of 0.4 (too narrow)
    x = [0, 0, 50, 80, 0]
    v = [100, 50, 30, 20, 0.4]
    d = [0, 1, 1, 1, 2]
    boxes = view.icicle_boxes(x, v, d, scale=100, width=10)
    assert [(b.node, b.depth, b.col0, b.col1) for b in boxes] == [
        (0, 0, 0, 10),
        (1, 1, 0, 5),
        (2, 1, 5, 8),
        (3, 1, 8, 10),
    ]
    assert [b.node for b in view.icicle_boxes(x, v, d, scale=100, width=10, max_depth=0)] == [0]
    assert view.icicle_boxes(x, v, d, scale=0, width=10) == []


def test_icicle_rows_without_colour():
    boxes = view.icicle_boxes([0, 0, 60], [100, 60, 40], [0, 1, 1], scale=100, width=20)
    names = {0: "(root)", 1: "main.(*Server).Handle", 2: "runtime.gcDrain"}
    rows = view.icicle_rows(boxes, names, 20, color=False, fill=lambda n: (0, 0, 0))
    assert [r.plain for r in rows] == [
        "│(root)             ",
        "│…Handle    │gcDrai…",
    ]


def test_icicle_rows_with_colour_keep_a_gap_and_names_inert():
    boxes = view.icicle_boxes([0, 0, 5], [10, 5, 5], [0, 1, 1], scale=10, width=10)
    names = {0: "[bold]x", 1: "\x1b[2J", 2: "b"}
    rows = view.icicle_rows(boxes, names, 10, color=True, fill=lambda n: (250, 100, 0))
    assert rows[0].plain == "[bold]x   "
    assert rows[1].plain == "x1b… b    "  # the ESC is shown as \x1b, then shortened
    assert "\x1b" not in "".join(r.plain for r in rows)
    assert rows[0].spans and "250" in str(rows[0].spans[0].style)


def test_svg_frames_drop_subpixel_nodes():
    frames = view.svg_frames([0, 0, 99.99], [100, 99.99, 0.01], [0, 1, 1], scale=100, width_px=100)
    assert [(f.node, f.depth, f.x) for f in frames] == [(0, 0, 0.0), (1, 1, 0.0)]
    assert frames[1].w == pytest.approx(0.9999)


# ------------------------------------------------------------------ names and colours


@pytest.mark.parametrize(
    ("name", "width", "expected"),
    [
        ("runtime.mcall", 20, "runtime.mcall"),
        ("payment/internal/fraud.(*VelocityRule).scanWindow", 28, "…(*VelocityRule).scanWindow"),
        ("payment/internal/fraud.(*VelocityRule).scanWindow", 12, "…scanWindow"),
        ("payment/internal/fraud.(*VelocityRule).scanWindow", 6, "scanW…"),
        ("std::vector<int>::push_back", 12, "…push_back"),
        ("abcdef", 4, "abc…"),
        ("abcdef", 1, ""),
    ],
)
def test_short_label(name, width, expected):
    assert view.short_label(name, width) == expected
    assert len(view.short_label(name, width)) <= width


@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("payment/internal/fraud.(*VelocityRule).scanWindow", "payment/internal/fraud"),
        ("net/http.(*conn).serve", "net/http"),
        ("runtime.mallocgc", "runtime"),
        ("com.shop.cart.CartService.add", "com.shop.cart.CartService"),
        ("v8::internal::Heap::Scavenge", "v8::internal::Heap"),
        ("[libc-2.31.so]", "[libc-2.31.so]"),
        ("main", "main"),
    ],
)
def test_package_of(name, package):
    assert view.package_of(name) == package


def test_colours_are_stable_per_package():
    a = view.flame_rgb("net/http.(*conn).serve")
    assert a == view.flame_rgb("net/http.HandlerFunc.ServeHTTP")
    assert a != view.flame_rgb("runtime.mallocgc")
    assert view.diff_rgb(5.0, 10.0)[0] == 255 and view.diff_rgb(5.0, 10.0)[2] < 255
    assert view.diff_rgb(-5.0, 10.0)[2] == 255 and view.diff_rgb(-5.0, 10.0)[0] < 255
    assert view.diff_rgb(0.0, 10.0) == view.diff_rgb(0.001, 10.0)


def test_tree_guides():
    assert view.tree_guides([-1, 0, 1, 1, 0, 4]) == [
        "",
        "├─ ",
        "│  ├─ ",
        "│  └─ ",
        "└─ ",
        "   └─ ",
    ]


def test_value_formatter_speaks_the_unit():
    assert view.value_formatter("nanoseconds")(1.21e9) == "1.21s"
    assert view.value_formatter("bytes")(1536) == "1.5 KiB"
    assert view.value_formatter("count")(1234) == "1,234"
    assert view.value_formatter(None)(0.5) == "0.5"
    assert view.fmt_pct(72.7272) == "72.73%" and view.fmt_points(-3.456) == "-3.46"


# ------------------------------------------------------------------ whole views


@pytest.fixture
def hostile_tree(store, tmp_path, load):
    """A call tree whose function names are hostile text (loaded as folded stacks)."""
    lines = [f"main;{name};leaf {i + 1}" for i, name in enumerate(HOSTILE)]
    path = tmp_path / "hostile.folded"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not load(path, format="folded").failed
    return prof.call_tree(store, prof.ProfileFilter())


def test_icicle_renders_hostile_names_as_text(hostile_tree):
    for color in (None, "truecolor"):
        buf = io.StringIO()
        console = Console(
            file=buf, width=800, color_system=color, force_terminal=bool(color), markup=False
        )
        console.print(view.Icicle(hostile_tree))
        out = buf.getvalue()
        assert "\x1b[2J" not in out and "\u202e" not in out
        assert "[red]markup[/red]" in out and "<script>alert(1)</script>" in out
        assert "esc\\x1b[2Jclear" in out
        assert len(out.splitlines()) == 5  # heading, root, main, the names, leaf


def test_flame_svg_is_well_formed_and_escapes_names(hostile_tree):
    svg = view.flame_svg(hostile_tree, title="<b>title</b> & co")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert "<script>alert" not in svg and "<b>title" not in svg
    assert "\x1b" not in svg and "\u202e" not in svg
    frames = root.findall(f".//{ns}g[@class='f']")
    names = {g.get("data-n") for g in frames}
    assert "<script>alert(1)</script>" in names  # escaped in the file, intact once parsed
    assert "cdata]]>end" in names and "quote\"&amp'" in names
    assert "esc\\x1b[2Jclear" in names
    tips = [g.find(f"{ns}title").text for g in frames]
    assert any(t.startswith("<script>alert(1)</script> — ") for t in tips)
    assert root.find(f"{ns}script") is not None  # click to zoom, search
    assert root.find(f".//{ns}text[@id='title']").text == "<b>title</b> & co"


def test_diff_svg_colours_growth_red(store):
    from tests.analysis.test_profiles import _insert

    _insert(store, "svc", 1_000, {("main", "work"): 10, ("main", "idle"): 30})
    _insert(store, "svc", 2_000, {("main", "work"): 80, ("main", "idle"): 40})
    tree = prof.diff_tree(
        store, prof.ProfileFilter(), TimeWindow(None, 1_500), TimeWindow(1_500, None)
    )
    svg = view.diff_svg(tree)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    fills = {
        g.get("data-n"): g.find(f"{ns}rect").get("fill")
        for g in root.findall(f".//{ns}g[@class='f']")
    }
    r, _, b = (int(c) for c in fills["work"][4:-1].split(","))
    assert r == 255 and b < 255  # grew: red
    r, _, b = (int(c) for c in fills["idle"][4:-1].split(","))
    assert b == 255 and r < 255  # shrank: blue
    assert "+41.67 pts" in svg
