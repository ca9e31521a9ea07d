"""Metrics: the series that left their baseline, ranked (``metric_anomalies.scan``), and
a chart of the one under the cursor over the whole data with the window marked; ``a``
switches to every loaded metric, charted with all its series."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from obsctl.render.metrics import fmt_change, fmt_value
from obsctl.render.units import fmt_count
from obsctl.tui.widgets import SeriesChart, View, clock, inert, reset_table

if TYPE_CHECKING:
    import pyarrow as pa
    from textual.widget import Widget

    from obsctl.analysis.metrics import SeriesSet

LIMIT = 200
"""Anomalies listed."""

SERIES_W = 52
"""Cells of the series column (metric and labels, cut with an ellipsis)."""


def series_text(service: str | None, labels: str | None) -> str:
    """``payment{http.route=/charge}`` from a service and a labels JSON object."""
    import orjson

    try:
        pairs = orjson.loads(labels) if labels else {}
    except orjson.JSONDecodeError:
        pairs = {}
    inner = (
        ",".join(f"{k}={v}" for k, v in sorted(pairs.items())) if isinstance(pairs, dict) else ""
    )
    return f"{service or ''}{{{inner}}}" if inner else (service or "")


class MetricsView(View):
    """The Metrics screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "toggle_list", "Anomalies / all metrics"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.all_metrics = False
        self._rows: list[dict[str, Any]] = []
        self._baseline: tuple[int, int] | None = None
        self._charted: tuple[Any, ...] | None = None

    def compose(self) -> Any:
        with Horizontal():
            with Vertical(id="metrics-left"):
                yield Static(id="metrics-title")
                yield DataTable(id="metrics-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="metrics-right"):
                yield SeriesChart(id="metrics-chart")
                with VerticalScroll(id="metrics-all-chart"):
                    yield Static(id="metrics-linechart")
                yield Static(id="metrics-detail")

    def on_mount(self) -> None:
        self.query_one("#metrics-all-chart").display = False

    def main_widget(self) -> Widget:
        return self.query_one("#metrics-table", DataTable)

    def commands(self) -> list[tuple[str, Any, str]]:
        """Palette entries of this view."""
        return [("Metrics: anomalies / every metric", self.action_toggle_list, "key a")]

    def action_toggle_list(self) -> None:
        self.all_metrics = not self.all_metrics
        self.query_one("#metrics-chart").display = not self.all_metrics
        self.query_one("#metrics-all-chart").display = self.all_metrics
        self.reload()

    # ------------------------------------------------------------- lists

    def reload(self) -> None:
        title = self.query_one("#metrics-title", Static)
        what = "every metric loaded" if self.all_metrics else "series that left their baseline"
        title.update(Text(f"{what} · loading…", style="dim"))
        self.query_one("#metrics-table", DataTable).clear(columns=True)
        if self.all_metrics:
            self._load_metrics()
        else:
            self._load_anomalies()

    @work(thread=True, exit_on_error=False, exclusive=True, group="metrics-list")
    def _load_anomalies(self) -> None:
        from obsctl.analysis.metric_anomalies import scan
        from obsctl.timewindow import TimeWindow, baseline_window

        app = self.obsctl
        window = app.window
        base = baseline_window(None, window, app.data_end) if window.start_ns else None
        with app.pool.store() as s:
            table, pair = scan(
                s,
                window if window.start_ns else TimeWindow(None, window.end_ns),
                base,
                service=app.service,
                limit=LIMIT,
            )
        if not get_current_worker().is_cancelled:
            self.deliver(self._anomalies_ready, table, pair)

    def _anomalies_ready(self, table: pa.Table, pair: tuple[int, int] | None) -> None:
        import pyarrow as pa

        self._charted = None
        self._baseline = pair
        dt = self.query_one("#metrics-table", DataTable)
        reset_table(dt, ("score", "series", "since", "change"))
        starts = table.column("start").cast(pa.int64()).to_pylist()
        rows = table.drop_columns(["start", "end"]).to_pylist()
        for r, start in zip(rows, starts, strict=True):
            r["start_ns"] = start
        self._rows = rows
        for i, r in enumerate(rows):
            arrow = "↑" if r["direction"] == "up" else "↓"
            name = inert(r["metric"])
            name.append(" ")
            name.append_text(inert(series_text(r["service"], r["labels"]), "cyan"))
            name.truncate(SERIES_W, overflow="ellipsis")
            dt.add_row(
                Text(f"{r['score']:.3g}", justify="right"),
                name,
                Text(clock(r["start_ns"])[:8]),
                Text(
                    f"{arrow} {fmt_change(r['baseline'], r['value'], r['relative_change'])}",
                    style="red" if r["direction"] == "up" else "blue",
                ),
                key=str(i),
            )
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"{len(rows)} series left their baseline", style="bold")
        if pair:
            title.append(f" · baseline {clock(pair[0])[:8]} → {clock(pair[1])[:8]}", style="dim")
        else:
            title.append(" · baseline: the first third of the window", style="dim")
        title.append(" · a: every metric", style="dim")
        self.query_one("#metrics-title", Static).update(title)
        if rows:
            self._chart_anomaly(0)
        else:
            self.query_one(SeriesChart).clear("nothing left its baseline in this window")
            self.query_one("#metrics-detail", Static).update(Text(""))

    @work(thread=True, exit_on_error=False, exclusive=True, group="metrics-list")
    def _load_metrics(self) -> None:
        from obsctl.analysis.metrics import MetricFilter, list_metrics

        app = self.obsctl
        filt = MetricFilter.from_options(
            services=[app.service] if app.service else None, window=app.window
        )
        with app.pool.store() as s:
            table = list_metrics(s, filt)
        if not get_current_worker().is_cancelled:
            self.deliver(self._metrics_ready, table)

    def _metrics_ready(self, table: pa.Table) -> None:
        dt = self.query_one("#metrics-table", DataTable)
        reset_table(dt, ("metric", "type", "unit", "series", "points"))
        rows = table.to_pylist()
        self._rows = rows
        for i, r in enumerate(rows):
            dt.add_row(
                inert(r.get("metric")),
                inert(r.get("type")),
                inert(r.get("unit") or "—"),
                Text(fmt_count(r.get("series")), justify="right"),
                Text(fmt_count(r.get("points")), justify="right"),
                key=str(i),
            )
        self.query_one("#metrics-title", Static).update(
            Text(f"{len(rows)} metrics · a: anomalies", style="bold")
        )
        if rows:
            self._chart_metric(0)

    @on(DataTable.RowHighlighted, "#metrics-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        i = int(event.row_key.value)
        if i >= len(self._rows):
            return
        if self.all_metrics:
            self._chart_metric(i)
        else:
            self._chart_anomaly(i)

    # ------------------------------------------------------------- charts

    def _chart_anomaly(self, i: int) -> None:
        r = self._rows[i]
        key = (r["metric"], r["service"], r["labels"])
        if key == self._charted:
            return
        self._charted = key
        detail = Text()
        detail.append_text(inert(r["metric"], "bold"))
        detail.append(" ")
        detail.append_text(inert(series_text(r["service"], r["labels"]), "cyan"))
        detail.append(f"\n{r['kind']} {r['direction']} since {clock(r['start_ns'])[:8]}: ")
        unit, kind = r["unit"], "rate/s" if r["measure"] == "rate/s" else "value"
        detail.append(
            f"{fmt_value(r['baseline'], unit, kind)} → {fmt_value(r['value'], unit, kind)}"
            f" ({fmt_change(r['baseline'], r['value'], r['relative_change'])}),"
            f" robust z {r['magnitude']:.3g}, score {r['score']:.3g}"
        )
        related = r.get("related") or []
        if related:
            detail.append(f"\nwith {len(related)} more: ", "dim")
            names = dict.fromkeys(x.get("service") or "?" for x in related)
            detail.append_text(inert(", ".join(names), "dim"))
        self.query_one("#metrics-detail", Static).update(detail)
        self._load_series(r["metric"], r["service"], r["labels"], unit, kind)

    @work(thread=True, exit_on_error=False, exclusive=True, group="metrics-chart")
    def _load_series(
        self, metric: str, service: str | None, labels: str | None, unit: str | None, kind: str
    ) -> None:
        import orjson

        from obsctl.analysis.metric_anomalies import base_metric
        from obsctl.analysis.metrics import MetricFilter, series

        name = base_metric(metric)
        quantile = None
        if name != metric:
            quantile = float(metric[len(name) + 2 :]) / 100
        want = orjson.loads(labels) if labels else {}
        with self.obsctl.pool.store() as s:
            data = series(s, name, MetricFilter(services=(service,) if service else ()))
        if get_current_worker().is_cancelled:
            return
        keep = [
            i
            for i, lab in enumerate(data.table.column("labels").to_pylist())
            if (orjson.loads(lab) if lab else {}) == want
        ]
        table = data.table.take(keep)
        if quantile is not None and "quantile" in table.column_names:
            import pyarrow.compute as pc

            table = table.filter(pc.equal(table.column("quantile"), quantile))
        self.deliver(self._series_ready, metric, service, labels, table, unit, kind)

    def _series_ready(
        self,
        metric: str,
        service: str | None,
        labels: str | None,
        table: pa.Table,
        unit: str | None,
        kind: str,
    ) -> None:
        import pyarrow as pa

        chart = self.query_one(SeriesChart)
        if table.num_rows == 0:
            chart.clear("no points for this series")
            return
        times = table.column("time").cast(pa.int64()).to_numpy()
        values = table.column("value").cast(pa.float64()).to_numpy(zero_copy_only=False)
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append_text(inert(metric, "bold"))
        title.append(" ")
        title.append_text(inert(series_text(service, labels), "cyan"))
        title.append("  ▔ the window", "dim")
        chart.plot(title, times, values, self.obsctl.window, lambda v: fmt_value(v, unit, kind))

    def _chart_metric(self, i: int) -> None:
        name = self._rows[i].get("metric")
        if name:
            self._load_metric(name)

    @work(thread=True, exit_on_error=False, exclusive=True, group="metrics-chart")
    def _load_metric(self, name: str) -> None:
        from obsctl.analysis.metrics import MetricFilter, series

        app = self.obsctl
        filt = MetricFilter.from_options(
            services=[app.service] if app.service else None, window=app.window
        )
        with app.pool.store() as s:
            data = series(s, name, filt)
        if not get_current_worker().is_cancelled:
            self.deliver(self._metric_ready, data)

    def _metric_ready(self, data: SeriesSet) -> None:
        from obsctl.render.metrics import LineChart

        self.query_one("#metrics-linechart", Static).update(LineChart(data, height=12))
        self.query_one("#metrics-detail", Static).update(Text(""))
