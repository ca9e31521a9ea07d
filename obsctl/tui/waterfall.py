"""The waterfall: a trace's span tree as time bars, drawn through Textual's Line API.

Only the lines on screen are drawn (``render_line``), from per-node NumPy arrays of the
``analysis.trace_tree`` forest, and each drawn line is kept in an LRU cache of strips:
a 100k-span trace opens and scrolls like a 20-span one. The bar geometry (sub-cell
eighths, the reverse-video partial first cell) and the service colours are those of
``obsctl traces show`` (``render.traces``).

Folding hides a subtree: the display order is depth-first, so a subtree is a contiguous
run of it and the visible rows are one vectorised mask over the collapsed runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from obsctl.render.safe import clean
from obsctl.render.traces import (
    CRITICAL_MARK,
    ERROR_MARK,
    LEFT_BLOCKS,
    axis_labels,
    bar_geometry,
    service_colour,
)
from obsctl.render.units import fmt_duration_ns

if TYPE_CHECKING:
    from obsctl.analysis.trace_tree import TraceTree

HEADER = 2
"""Lines above the rows: the trace's summary and the time axis (they do not scroll)."""

DUR_W = 8
"""Cells of the duration column."""


class Waterfall(ScrollView, can_focus=True):
    """A trace as a collapsible waterfall with a cursor, search and the critical path."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "waterfall--cursor",
        "waterfall--match",
        "waterfall--axis",
    }
    DEFAULT_CSS = """
    Waterfall { height: 1fr; overflow-x: hidden; }
    Waterfall > .waterfall--cursor { background: $accent 30%; }
    Waterfall:focus > .waterfall--cursor { background: $accent 60%; }
    Waterfall > .waterfall--match { background: $warning 40%; }
    Waterfall > .waterfall--axis { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("space,enter", "toggle", "Fold"),
        Binding("left,h", "collapse", "Collapse", show=False),
        Binding("right", "expand", "Expand", show=False),
        Binding("c", "critical", "Critical path"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(1)", "Next match", show=False),
        Binding("N", "next_match(-1)", "Previous match", show=False),
        Binding("l", "logs", "Logs of trace"),
        Binding("p", "profile", "Profile of service"),
    ]

    class Selected(Message):
        """The cursor is on ``node`` (a forest node)."""

        def __init__(self, waterfall: Waterfall, node: int) -> None:
            super().__init__()
            self.waterfall = waterfall
            self.node = node

    class SearchWanted(Message):
        """``/`` was pressed: the view should ask for a search text."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trace_tree: TraceTree | None = None
        self.cursor = 0
        self.critical_on = False
        self.query_text = ""
        self._strips: LRUCache[tuple[int, bool], Strip] = LRUCache(1024)
        self._layout_width = -1
        self._header_cache: tuple[int, list[Strip]] | None = None

    # ------------------------------------------------------------- data in

    def show_tree(self, tree: TraceTree, span_id: str | None = None) -> None:
        """Draw ``tree`` with every span expanded; the cursor on ``span_id`` if given
        (else on the root)."""
        import numpy as np
        import pyarrow.compute as pc

        from obsctl.analysis.trace_tree import subtree_sizes

        f = tree.forest
        self.trace_tree = tree
        self.n_rows = f.n_rows
        self.size_n = f.size
        sp = tree.spans
        self.names: list[Any] = sp.column("name").to_pylist()
        self.services: list[Any] = sp.column("service_name").to_pylist()
        failed = np.zeros(f.size, dtype=bool)
        if f.n_rows:
            failed[: f.n_rows] = pc.fill_null(
                pc.equal(sp.column("status_code"), "ERROR"), False
            ).to_numpy(zero_copy_only=False)
        self.failed = failed
        self.order = f.order.astype(np.int64)
        self.pos = np.empty(f.size, dtype=np.int64)
        self.pos[self.order] = np.arange(len(self.order), dtype=np.int64)
        self.sizes = subtree_sizes(f)
        has_kids = np.zeros(f.size, dtype=bool)
        has_kids[f.parent[f.parent >= 0]] = True
        self.has_kids = has_kids
        self.depth = f.depth.tolist()
        self.parents = f.parent.tolist()
        self.crit = f.critical.tolist()
        self.ls = f.layout_start.tolist()
        self.le = f.layout_end.tolist()
        self.crit_time = np.bincount(
            f.seg_node.astype(np.int64),
            weights=(f.seg_end - f.seg_start).astype(np.float64),
            minlength=f.size,
        )
        self.max_depth = int(f.depth.max()) if f.size else 0
        self.collapsed: set[int] = set()
        self.matches: np.ndarray | None = None
        self.query_text = ""
        self._labels: dict[int, tuple[str, str]] = {}
        self._recompute_visible()
        self.cursor = 0
        if span_id:
            node = self.node_of_span(span_id)
            if node is not None:
                self.cursor = int(self.row_of[node])
        self._invalidate()
        self.scroll_to(y=0, animate=False, immediate=True)
        self._scroll_to_cursor()
        self._selected()

    def node_of_span(self, span_id: str) -> int | None:
        """The node of a span id (the first, when ids repeat), or ``None``."""
        if self.trace_tree is None:
            return None
        ids = self.trace_tree.spans.column("span_id").to_pylist()
        try:
            return ids.index(span_id)
        except ValueError:
            return None

    @property
    def node(self) -> int | None:
        """The node under the cursor."""
        if self.trace_tree is None or not len(self.rows_shown):
            return None
        return int(self.rows_shown[self.cursor])

    # ------------------------------------------------------------- folding

    def _recompute_visible(self) -> None:
        import numpy as np

        n = len(self.order)
        if self.collapsed:
            c = np.fromiter(self.collapsed, dtype=np.int64)
            starts = self.pos[c] + 1
            ends = self.pos[c] + self.sizes[c]
            delta = np.zeros(n + 1, dtype=np.int64)
            np.add.at(delta, starts, 1)
            np.add.at(delta, ends, -1)
            shown = np.cumsum(delta[:n]) == 0
            self.rows_shown = self.order[shown]
        else:
            self.rows_shown = self.order
        self.row_of = np.full(self.size_n, -1, dtype=np.int64)
        self.row_of[self.rows_shown] = np.arange(len(self.rows_shown), dtype=np.int64)
        self.virtual_size = Size(0, len(self.rows_shown) + HEADER)

    def _set_collapsed(self, node: int, collapsed: bool) -> None:
        keep = self.node
        if collapsed:
            self.collapsed.add(node)
        else:
            self.collapsed.discard(node)
        self._recompute_visible()
        if keep is not None:
            row = int(self.row_of[keep])
            self.cursor = row if row >= 0 else int(self.row_of[node])
        self._invalidate()
        self._scroll_to_cursor()

    def reveal(self, node: int) -> None:
        """Expand every collapsed ancestor of ``node`` and put the cursor on it."""
        p = self.parents[node]
        changed = False
        while p >= 0:
            if p in self.collapsed:
                self.collapsed.discard(p)
                changed = True
            p = self.parents[p]
        if changed:
            self._recompute_visible()
        self.cursor = int(self.row_of[node])
        self._invalidate()
        self._scroll_to_cursor()
        self._selected()

    def action_toggle(self) -> None:
        v = self.node
        if v is None or not self.has_kids[v]:
            return
        self._set_collapsed(v, v not in self.collapsed)

    def action_collapse(self) -> None:
        v = self.node
        if v is None:
            return
        if self.has_kids[v] and v not in self.collapsed:
            self._set_collapsed(v, True)
        elif self.parents[v] >= 0:
            self.reveal(self.parents[v])

    def action_expand(self) -> None:
        v = self.node
        if v is None:
            return
        if v in self.collapsed:
            self._set_collapsed(v, False)
        elif self.has_kids[v]:
            self.move_to(self.cursor + 1)

    # ------------------------------------------------------------- cursor

    def move_to(self, row: int) -> None:
        """Put the cursor on visible row ``row`` (clamped) and scroll it into view."""
        if self.trace_tree is None or not len(self.rows_shown):
            return
        row = max(0, min(len(self.rows_shown) - 1, row))
        if row == self.cursor:
            return
        self.cursor = row
        self._scroll_to_cursor()
        self.refresh()
        self._selected()

    def _scroll_to_cursor(self) -> None:
        rows = max(1, self.size.height - HEADER)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)
        self.refresh()

    def _selected(self) -> None:
        v = self.node
        if v is not None:
            self.post_message(self.Selected(self, v))

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.size.height - HEADER - 1))

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.rows_shown) - 1 if end else 0)

    def on_click(self, event: Any) -> None:
        self.focus()
        if self.trace_tree is None or event.y < HEADER:
            return
        row = int(self.scroll_y) + event.y - HEADER
        if row >= len(self.rows_shown):
            return
        self.move_to(row)
        if event.x <= 2:
            self.action_toggle()

    # ------------------------------------------------------------- critical path, search

    def action_critical(self) -> None:
        """Toggle the critical-path highlight; switching it on jumps to the span with the
        most time on the path (the bottleneck)."""
        if self.trace_tree is None:
            return
        self.critical_on = not self.critical_on
        self._invalidate()
        if self.critical_on:
            import numpy as np

            weights = self.crit_time.copy()
            weights[self.n_rows :] = -1  # a synthetic root is not a span to look at
            node = int(np.argmax(weights)) if weights.size else 0
            self.reveal(node)
            self.app.notify(
                f"critical path: {self.label(node)[1]} holds"
                f" {fmt_duration_ns(self.crit_time[node])} of it",
                markup=False,
                timeout=4,
            )

    def action_search(self) -> None:
        self.post_message(self.SearchWanted())

    def search(self, text: str) -> int:
        """Mark the spans whose service or name contains ``text`` (any case) and go to the
        first one from the cursor on; returns how many match."""
        import numpy as np
        import pyarrow.compute as pc

        if self.trace_tree is None:
            return 0
        self.query_text = text
        if not text:
            self.matches = None
            self._invalidate()
            return 0
        sp = self.trace_tree.spans
        hit = pc.or_(
            pc.match_substring(sp.column("name"), text, ignore_case=True),
            pc.match_substring(sp.column("service_name"), text, ignore_case=True),
        )
        m = np.zeros(self.size_n, dtype=bool)
        m[: self.n_rows] = pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
        self.matches = m
        self._invalidate()
        count = int(m.sum())
        if count:
            self._jump_match(1, include_current=True)
        return count

    def _jump_match(self, direction: int, include_current: bool = False) -> None:
        import numpy as np

        if self.matches is None or self.node is None:
            return
        here = int(self.pos[self.node])
        hits = np.flatnonzero(self.matches[self.order])  # positions in display order
        if not hits.size:
            return
        if direction > 0:
            after = hits[hits >= here] if include_current else hits[hits > here]
            target = after[0] if after.size else hits[0]
        else:
            before = hits[hits < here]
            target = before[-1] if before.size else hits[-1]
        self.reveal(int(self.order[target]))

    def action_next_match(self, direction: int) -> None:
        self._jump_match(direction)

    def action_logs(self) -> None:
        from obsctl.tui.widgets import OpenLogs

        if self.trace_tree is not None:
            self.post_message(OpenLogs(self.trace_tree.trace_id))

    def action_profile(self) -> None:
        from obsctl.tui.widgets import OpenProfile

        v = self.node
        if v is None or v >= self.n_rows or not self.services[v]:
            self.app.notify("this row has no service", severity="warning")
            return
        self.post_message(OpenProfile(self.services[v]))

    # ------------------------------------------------------------- drawing

    def _invalidate(self) -> None:
        self._strips.clear()
        self._header_cache = None
        self.refresh()

    def on_resize(self) -> None:
        if self.trace_tree is not None:
            self.virtual_size = Size(0, len(self.rows_shown) + HEADER)
        self._invalidate()

    def _layout(self, width: int) -> tuple[int, int, int]:
        """(label width, bar width, indent cap) for ``width`` cells."""
        label_w = min(max(24, width * 2 // 5), 64)
        bar_w = max(10, width - label_w - 1 - DUR_W - 1)
        return label_w, bar_w, min(self.max_depth, label_w // 3)

    def label(self, v: int) -> tuple[str, str]:
        """(service, operation) of a node, cleaned."""
        cached = self._labels.get(v)
        if cached is None:
            if v >= self.n_rows:
                cached = ("", "(trace)")
            else:
                cached = (clean(self.services[v] or ""), clean(self.names[v] or ""))
            self._labels[v] = cached
        return cached

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self.trace_tree is None:
            if y == 0:
                return Strip(
                    [
                        Segment(
                            " no trace open: pick one in the list (enter)", base + Style(dim=True)
                        )
                    ]
                ).extend_cell_length(width, base)
            return Strip.blank(width, base)
        if width != self._layout_width:
            self._layout_width = width
            self._strips.clear()
            self._header_cache = None
        if y < HEADER:
            return self._header(width)[y]
        row = int(self.scroll_y) + y - HEADER
        if row >= len(self.rows_shown):
            return Strip.blank(width, base)
        v = int(self.rows_shown[row])
        selected = row == self.cursor
        key = (v, selected)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._row(v, selected, width)
            self._strips[key] = strip
        return strip

    def _header(self, width: int) -> list[Strip]:
        if self._header_cache is not None and self._header_cache[0] == width:
            return self._header_cache[1]
        from obsctl.render.traces import Waterfall as WaterfallView

        assert self.trace_tree is not None
        base = self.rich_style
        label_w, bar_w, _ = self._layout(width)
        head = clean(WaterfallView(self.trace_tree).header())
        hint = f"  {CRITICAL_MARK} critical path" + (" (highlighted)" if self.critical_on else "")
        if self.query_text:
            n = int(self.matches.sum()) if self.matches is not None else 0
            hint += f" · /{clean(self.query_text)}: {n} match{'es' if n != 1 else ''}"
        room = width - len(hint)
        if len(head) > room:  # the state on the right matters more than the id
            head = head[: max(room - 1, 0)] + "…"
        first = Strip(
            [
                Segment(head, base + Style(bold=True)),
                Segment(hint, base + Style(color="bright_yellow")),
            ]
        ).crop_extend(0, width, base)
        axis = axis_labels(self.trace_tree.end_ns - self.trace_tree.start_ns, bar_w)
        axis_style = base + self.get_component_rich_style("waterfall--axis")
        second = Strip([Segment(" " * (label_w + 1) + axis, axis_style)]).crop_extend(
            0, width, base
        )
        self._header_cache = (width, [first, second])
        return [first, second]

    def _row(self, v: int, selected: bool, width: int) -> Strip:
        assert self.trace_tree is not None
        label_w, bar_w, cap = self._layout(width)
        base = self.rich_style
        if selected:
            base = base + self.get_component_rich_style("waterfall--cursor")
        service, name = self.label(v)
        critical = bool(self.crit[v])
        dim = self.critical_on and not critical
        colour = service_colour(service) if service else "white"
        svc_style = base + Style(color=colour, bold=critical and self.critical_on, dim=dim)
        name_style = base + Style(dim=dim)
        if self.matches is not None and self.matches[v]:
            name_style = name_style + self.get_component_rich_style("waterfall--match")
        segs: list[Segment] = []
        gutter = CRITICAL_MARK if critical else " "
        segs.append(Segment(gutter, base + Style(color="bright_yellow", bold=True)))
        fold = (("▸" if v in self.collapsed else "▾") if self.has_kids[v] else " ") + " "
        segs.append(Segment(fold, base + Style(dim=True)))
        d = min(self.depth[v], cap)
        room = label_w - 3 - d
        err = bool(self.failed[v])
        extra = ""
        if v in self.collapsed:
            extra = f" +{int(self.sizes[v]) - 1:,}"
        svc = service
        if len(svc) > max(room // 2, 4):
            svc = svc[: max(room // 2, 4) - 1] + "…"
        op_room = room - len(svc) - (1 if svc else 0) - (2 if err else 0) - len(extra)
        op = name if len(name) <= op_room else name[: max(op_room - 1, 0)] + "…"
        used = 3 + d + len(svc) + (1 if svc else 0) + len(op) + (2 if err else 0) + len(extra)
        segs.append(Segment(" " * d, base))
        if svc:
            segs.append(Segment(svc + " ", svc_style))
        segs.append(Segment(op, name_style))
        if err:
            segs.append(Segment(" " + ERROR_MARK, base + Style(color="red", bold=True)))
        if extra:
            segs.append(Segment(extra, base + Style(dim=True)))
        segs.append(Segment(" " * max(label_w - used, 0) + " ", base))
        t0, t1 = self.trace_tree.start_ns, self.trace_tree.end_ns
        g = bar_geometry(self.ls[v], self.le[v], t0, t1, bar_w)
        bar_style = base + Style(color=colour, dim=dim)
        if g.lead:
            segs.append(Segment(" " * g.lead, base))
        if g.first:
            style = bar_style + Style(reverse=True) if g.first_reverse else bar_style
            segs.append(Segment(g.first, style))
        if g.full:
            segs.append(Segment(LEFT_BLOCKS[8] * g.full, bar_style))
        if g.last:
            segs.append(Segment(g.last, bar_style))
        used_bar = g.lead + (1 if g.first else 0) + g.full + (1 if g.last else 0)
        segs.append(Segment(" " * max(bar_w - used_bar, 0), base))
        dur = fmt_duration_ns(self.le[v] - self.ls[v])
        segs.append(Segment(" " + dur.rjust(DUR_W), base + Style(bold=critical, dim=dim)))
        return Strip(segs).crop_extend(0, width, base)
