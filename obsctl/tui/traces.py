"""Traces: a filterable list of traces, the waterfall of the chosen one and the detail
of the span under the cursor (attributes, events, resource, its log records)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from obsctl.errors import ObsctlError
from obsctl.render.logs import LEVEL_STYLES
from obsctl.render.safe import clean
from obsctl.render.traces import ERROR_MARK, service_colour
from obsctl.render.units import fmt_count, fmt_duration_ns, fmt_time
from obsctl.tui.waterfall import Waterfall
from obsctl.tui.widgets import View, clock, inert, reset_table

if TYPE_CHECKING:
    import pyarrow as pa
    from textual.widget import Widget

    from obsctl.analysis.trace_tree import TraceTree
    from obsctl.analysis.traces import TraceFilter

LIST_LIMIT = 500
"""Traces listed (the slowest first)."""

LIST_COLUMNS = ("trace", "duration", "spans", "err", "root span")

SPAN_LOGS = 2000
"""Log records of one trace kept for the span detail."""


def trace_filter(text: str, window: Any, service: str | None) -> TraceFilter:
    """The filter box as a ``TraceFilter``: ``service:NAME op:NAME min:250ms errors
    attr:key=value``; other words are an operation name.

    Raises:
        UsageError: a malformed ``min:`` or ``attr:`` term.
    """
    import shlex

    from obsctl.analysis.traces import TraceFilter

    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    services: list[str] = [service] if service else []
    attrs: list[str] = []
    words: list[str] = []
    op = min_d = None
    errors = False
    for tok in tokens:
        key, sep, rest = tok.partition(":")
        if sep and key in ("service", "s") and rest:
            services.append(rest)
        elif sep and key == "op" and rest:
            op = rest
        elif sep and key == "min" and rest:
            min_d = rest
        elif sep and key == "attr" and rest:
            attrs.append(rest)
        elif tok in ("errors", "error", "err"):
            errors = True
        else:
            words.append(tok)
    if words and op is None:
        op = " ".join(words)
    return TraceFilter.from_options(
        services=services,
        operation=op,
        min_duration=min_d,
        errors=errors,
        attrs=attrs,
        window=window,
        limit=LIST_LIMIT,
    )


def span_detail(tree: TraceTree, node: int, logs: list[dict[str, Any]] | None) -> Text:
    """What the detail pane says about one span: every value inert."""
    import orjson

    f = tree.forest
    out = Text()
    if node >= f.n_rows:
        out.append("(trace) ", "bold")
        out.append(
            f"{fmt_duration_ns(tree.duration_ns)} · a synthetic root holding the trace's"
            " top-level spans",
            "dim",
        )
        for w in tree.warnings:
            out.append("\n")
            out.append_text(inert(w, "yellow"))
        return out
    row = tree.spans.slice(node, 1).to_pylist()[0]
    service = row["service_name"] or ""
    out.append_text(inert(service, f"bold {service_colour(service)}"))
    out.append(" ")
    out.append_text(inert(row["name"], "bold"))
    dur = int(f.layout_end[node] - f.layout_start[node])
    out.append(f" · {row['kind'] or '—'} · {fmt_duration_ns(dur)}")
    out.append(f" · self {fmt_duration_ns(int(f.self_time[node]))}")
    if f.critical[node]:
        out.append(" · on the critical path", "bright_yellow")
    out.append("\n")
    if row["status_code"] == "ERROR":
        out.append(f"{ERROR_MARK} ERROR ", "bold red")
        out.append_text(inert(row["status_message"] or "", "red"))
        out.append("\n")
    offset = int(f.layout_start[node] - tree.start_ns)
    out.append(
        f"start +{fmt_duration_ns(offset)} ({fmt_time(int(f.start[node]), precision='us')})", "dim"
    )
    out.append(" · span ", "dim")
    out.append_text(inert(row["span_id"], "dim"))
    if row["parent_span_id"]:
        out.append(" · parent ", "dim")
        out.append_text(inert(row["parent_span_id"], "dim"))
    from obsctl.analysis.trace_tree import flag_names

    flags = flag_names(int(f.flags[node]))
    if flags:
        out.append(" · " + ", ".join(flags), "yellow")
    out.append("\n")

    def pairs(title: str, raw: Any) -> None:
        try:
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            data = {}
        if not isinstance(data, dict) or not data:
            return
        out.append(f"{title}\n", "bold")
        for k in sorted(data):
            v = data[k]
            out.append("  ")
            out.append_text(inert(k, "cyan"))
            out.append(" ")
            out.append_text(inert(v if isinstance(v, str) else orjson.dumps(v).decode()))
            out.append("\n")

    pairs("attributes", row["attributes"])
    try:
        events = orjson.loads(row["events"]) if row["events"] else []
    except orjson.JSONDecodeError:
        events = []
    if isinstance(events, list) and events:
        out.append(f"events ({len(events)})\n", "bold")
        for ev in events[:50]:
            if not isinstance(ev, dict):
                continue
            t = ev.get("time_unix_nano")
            at = f"+{fmt_duration_ns(int(t) - tree.start_ns)} " if isinstance(t, int) else ""
            out.append(f"  {at}", "dim")
            out.append_text(inert(ev.get("name") or "", "magenta"))
            attrs = ev.get("attributes")
            if isinstance(attrs, dict) and attrs:
                out.append(" ")
                out.append_text(inert(" ".join(f"{k}={v}" for k, v in attrs.items()), "dim"))
            out.append("\n")
    pairs("resource", row["resource_attributes"])
    if logs is not None:
        mine = [r for r in logs if r["span_id"] == row["span_id"]]
        out.append(f"logs ({len(mine)})", "bold")
        if len(mine) < len(logs):
            out.append(f" · {len(logs)} in the trace (l shows them)", "dim")
        out.append("\n")
        for r in mine[:30]:
            out.append(f"  {clock(r['ns'])} ", "dim")
            out.append(f"{r['level'] or '—':<5} ", LEVEL_STYLES.get(r["level"], "") or "")
            out.append_text(inert(r["body"]))
            out.append("\n")
    return out


class TracesView(View):
    """The Traces screen: list | waterfall over span detail."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "filter", "Filter"),
        Binding("z", "zoom", "List on/off"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trace_id: str | None = None
        self.pending: str | None = None
        self.logs: list[dict[str, Any]] | None = None

    def compose(self) -> Any:
        with Horizontal():
            with Vertical(id="trace-list"):
                yield Input(
                    placeholder="service:NAME op:NAME min:250ms errors attr:k=v", id="traces-filter"
                )
                yield DataTable(id="traces-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="traces-summary")
            with Vertical(id="trace-main"):
                yield Waterfall(id="waterfall")
                yield Input(placeholder="search spans (service or name), enter", id="span-search")
                with VerticalScroll(id="span-detail"):
                    yield Static(id="span-text")

    def on_mount(self) -> None:
        reset_table(self.query_one("#traces-table", DataTable), LIST_COLUMNS)
        self.query_one("#span-search", Input).display = False

    def main_widget(self) -> Widget:
        if self.trace_id or self.pending:
            return self.query_one(Waterfall)
        return self.query_one("#traces-table", DataTable)

    def commands(self) -> list[tuple[str, Any, str]]:
        """Palette entries of this view."""
        w = self.query_one(Waterfall)
        return [
            ("Traces: failed traces only", lambda: self._set_filter("errors"), ""),
            ("Traces: list on/off", self.action_zoom, "key z"),
            ("Waterfall: critical path", w.action_critical, "key c"),
            ("Waterfall: search spans", w.action_search, "key /"),
            ("Waterfall: profile of the span's service", w.action_profile, "key p"),
            ("Waterfall: logs of the trace", w.action_logs, "key l"),
        ]

    # ------------------------------------------------------------- list

    def reload(self) -> None:
        value = self.query_one("#traces-filter", Input).value
        try:
            filt = trace_filter(value, self.obsctl.window, self.obsctl.service)
        except ObsctlError as exc:
            self.query_one("#traces-summary", Static).update(Text(str(exc), style="red"))
            return
        self.query_one("#traces-summary", Static).update(Text("loading…", style="dim"))
        self._load_list(filt)

    def _set_filter(self, value: str) -> None:
        self.query_one("#traces-filter", Input).value = value
        self.reload()

    def action_filter(self) -> None:
        self.query_one("#trace-list").display = True
        self.query_one("#traces-filter", Input).focus()

    def action_zoom(self) -> None:
        lst = self.query_one("#trace-list")
        lst.display = not lst.display

    def action_back(self) -> None:
        box = self.query_one("#span-search", Input)
        if box.display:
            box.display = False
            self.query_one(Waterfall).focus()
        else:
            self.query_one("#trace-list").display = True
            self.query_one("#traces-table", DataTable).focus()

    @on(Input.Submitted, "#traces-filter")
    def _filter_submitted(self) -> None:
        self.reload()
        self.query_one("#traces-table", DataTable).focus()

    @work(thread=True, exit_on_error=False, exclusive=True, group="traces-list")
    def _load_list(self, filt: TraceFilter) -> None:
        from obsctl.analysis import traces

        with self.obsctl.pool.store() as s:
            table, matched = traces.list_traces(s, filt)
        if not get_current_worker().is_cancelled:
            self.deliver(self._list_ready, table, matched)

    def _list_ready(self, table: pa.Table, matched: int) -> None:
        dt = self.query_one("#traces-table", DataTable)
        reset_table(dt, LIST_COLUMNS)
        rows = table.select(
            ["trace_id", "duration_ns", "spans", "errors", "root_service", "root_operation"]
        ).to_pylist()
        for r in rows:
            root = Text(no_wrap=True)
            root.append_text(inert(r["root_service"] or "", service_colour(r["root_service"])))
            root.append(" ")
            root.append_text(inert(r["root_operation"] or ""))
            dt.add_row(
                inert(r["trace_id"][:8]),
                Text(fmt_duration_ns(r["duration_ns"]), justify="right"),
                Text(fmt_count(r["spans"]), justify="right"),
                Text(
                    f"{r['errors']} {ERROR_MARK}" if r["errors"] else "",
                    style="red",
                    justify="right",
                ),
                root,
                key=r["trace_id"],
            )
        shown = f"{len(rows):,} of {matched:,}" if matched > len(rows) else f"{matched:,}"
        self.query_one("#traces-summary", Static).update(
            Text(f"{shown} traces, slowest first · enter opens the waterfall", style="dim")
        )

    @on(DataTable.RowSelected, "#traces-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        self.open_trace(str(event.row_key.value))

    # ------------------------------------------------------------- one trace

    def open_trace(self, trace_id: str, span_id: str | None = None) -> None:
        """Load a trace into the waterfall (cursor on ``span_id`` when given)."""
        self.pending = trace_id
        self.query_one("#span-text", Static).update(
            Text(f"loading trace {clean(trace_id)}…", style="dim")
        )
        self._load_trace(trace_id, span_id)
        self.query_one(Waterfall).focus()

    @work(thread=True, exit_on_error=False, exclusive=True, group="trace")
    def _load_trace(self, trace_id: str, span_id: str | None) -> None:
        import pyarrow as pa

        from obsctl.analysis import logs, traces

        try:
            with self.obsctl.pool.store() as s:
                tree = traces.load_trace(s, trace_id)
                recs = logs.search(s, logs.LogFilter(trace_id=tree.trace_id), limit=SPAN_LOGS)
        except ObsctlError as exc:
            self.deliver(self._trace_failed, str(exc))
            return
        rows = recs.select(["level", "span_id", "body"]).to_pylist()
        times = recs.column("time").cast(pa.int64()).to_pylist()
        for r, ns in zip(rows, times, strict=True):
            r["ns"] = ns
        if not get_current_worker().is_cancelled:
            self.deliver(self._trace_ready, tree, rows, span_id)

    def _trace_failed(self, message: str) -> None:
        self.pending = None
        self.query_one("#span-text", Static).update(inert(message, "red"))

    def _trace_ready(
        self, tree: TraceTree, logs: list[dict[str, Any]], span_id: str | None
    ) -> None:
        self.pending = None
        self.trace_id = tree.trace_id
        self.logs = logs
        w = self.query_one(Waterfall)
        w.show_tree(tree, span_id)
        w.focus()

    @on(Waterfall.Selected)
    def _span_selected(self, event: Waterfall.Selected) -> None:
        tree = event.waterfall.trace_tree
        if tree is None:
            return
        self.query_one("#span-text", Static).update(span_detail(tree, event.node, self.logs))
        self.query_one("#span-detail", VerticalScroll).scroll_home(animate=False)

    @on(Waterfall.SearchWanted)
    def _search_wanted(self) -> None:
        box = self.query_one("#span-search", Input)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#span-search")
    def _search(self, event: Input.Submitted) -> None:
        w = self.query_one(Waterfall)
        n = w.search(event.value.strip())
        event.input.display = False
        w.focus()
        if event.value.strip():
            self.app.notify(
                f"{n:,} span{'s' if n != 1 else ''} match · n / N: next / previous",
                markup=False,
                timeout=3,
            )
