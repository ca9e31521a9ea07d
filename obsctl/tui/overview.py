"""Overview: what is loaded, each service's traffic, errors and latency over the window
(sparklines), and the investigation (``obsctl investigate``) with its suspects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from obsctl.render.traces import service_colour
from obsctl.render.units import fmt_count, fmt_duration_ns, fmt_time
from obsctl.tui.widgets import View, inert, reset_table, spark

if TYPE_CHECKING:
    from textual.widget import Widget

    from obsctl.analysis.investigate import Investigation
    from obsctl.analysis.status import SignalSummary
    from obsctl.analysis.traces import ServiceRates

SPARK_W = 12
"""Cells of each sparkline."""

SIGNAL_COLUMNS = ("signal", "records", "services", "time range")
SERVICE_COLUMNS = ("service", "spans", "errors", "p95", "errors ↦ time", "p95 ↦ time")


class OverviewView(View):
    """The Overview screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "use_incident", "Use incident window"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.investigation: Investigation | None = None

    def compose(self) -> Any:
        with Horizontal():
            with Vertical(id="overview-left"):
                yield Static(Text("Loaded", style="bold"), classes="title")
                yield DataTable(id="overview-signals", cursor_type="none", show_cursor=False)
                yield Static(
                    Text("Services (entry spans in the window)", style="bold"), classes="title"
                )
                yield DataTable(id="overview-services", cursor_type="row", zebra_stripes=True)
                yield Static(id="overview-note")
            with VerticalScroll(id="overview-right"):
                yield Static(id="overview-investigation")

    def on_mount(self) -> None:
        reset_table(self.query_one("#overview-signals", DataTable), SIGNAL_COLUMNS)
        reset_table(self.query_one("#overview-services", DataTable), SERVICE_COLUMNS)

    def main_widget(self) -> Widget:
        return self.query_one("#overview-services", DataTable)

    def commands(self) -> list[tuple[str, Any, str]]:
        """Palette entries of this view."""
        return [("Use the incident window (investigate's)", self.action_use_incident, "key i")]

    def reload(self) -> None:
        self.query_one("#overview-investigation", Static).update(
            Text("investigating (logs → metrics → traces → profiles)…", style="dim")
        )
        self._load_summary()
        self._investigate()

    # ------------------------------------------------------------- signals and services

    @work(thread=True, exit_on_error=False, exclusive=True, group="overview")
    def _load_summary(self) -> None:
        from obsctl.analysis import status, traces

        app = self.obsctl
        with app.pool.store() as s:
            sigs = status.signals(s)
            rates = traces.service_rates(
                s, app.window, services=(app.service,) if app.service else ()
            )
        if not get_current_worker().is_cancelled:
            self.deliver(self._summary_ready, sigs, rates)

    def _summary_ready(self, sigs: list[SignalSummary], rates: ServiceRates | None) -> None:
        import numpy as np
        import pyarrow as pa

        table = self.query_one("#overview-signals", DataTable)
        reset_table(table, SIGNAL_COLUMNS)
        for sig in sigs:
            names = ", ".join(sig.services[:3]) + (
                f" +{len(sig.services) - 3}" if len(sig.services) > 3 else ""
            )
            start = fmt_time(sig.start, precision="s") if sig.start else "—"
            end = fmt_time(sig.end, precision="s") if sig.end else "—"
            if start[:10] == end[:10]:
                end = end[11:]
            table.add_row(
                Text(sig.signal, style="bold"),
                Text(fmt_count(sig.records), justify="right"),
                inert(names),
                Text(f"{start} → {end}"),
            )
        svc = self.query_one("#overview-services", DataTable)
        reset_table(svc, SERVICE_COLUMNS)
        if rates is None:
            self.query_one("#overview-note", Static).update(
                Text("no spans in the window", style="dim")
            )
            return
        t = rates.table
        service = t.column("service").to_pylist()
        bucket = t.column("bucket").to_numpy(zero_copy_only=False)
        spans = t.column("spans").to_numpy()
        errors = t.column("errors").to_numpy()
        p95 = t.column("p95_ns").cast(pa.float64()).to_numpy(zero_copy_only=False)
        overall = np.isnan(bucket.astype(np.float64))
        n = rates.buckets
        for i in np.flatnonzero(overall).tolist():
            name = service[i]
            mine = np.flatnonzero(~overall & (np.asarray(service, dtype=object) == name))
            err_series = np.zeros(n)
            lat_series = np.full(n, np.nan)
            idx = bucket[mine].astype(np.int64)
            ok = (idx >= 0) & (idx < n)
            err_series[idx[ok]] = errors[mine][ok]
            lat_series[idx[ok]] = p95[mine][ok]
            ratio = errors[i] / spans[i] if spans[i] else 0.0
            svc.add_row(
                inert(name or "?", service_colour(name)),
                Text(fmt_count(int(spans[i])), justify="right"),
                Text(
                    f"{fmt_count(int(errors[i]))} ({ratio:.1%})" if errors[i] else "0",
                    style="red" if ratio >= 0.01 else "",
                    justify="right",
                ),
                Text(fmt_duration_ns(p95[i]) if np.isfinite(p95[i]) else "—", justify="right"),
                Text(spark(err_series, SPARK_W), style="red"),
                Text(spark(lat_series, SPARK_W), style="yellow"),
                key=name,
            )
        step = fmt_duration_ns(rates.width_ns)
        self.query_one("#overview-note", Static).update(
            Text(
                f"sparklines: {n} buckets of {step} over the window · enter: the service's traces",
                style="dim",
            )
        )

    def action_service_traces(self) -> None:
        table = self.query_one("#overview-services", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key:
            from obsctl.tui.traces import TracesView

            view = self.obsctl.show_view("traces")
            assert isinstance(view, TracesView)
            view.query_one("#traces-filter", Input).value = f"service:{key}"
            view.reload()

    @on(DataTable.RowSelected, "#overview-services")
    def _service_chosen(self) -> None:
        self.action_service_traces()

    # ------------------------------------------------------------- investigation

    @work(thread=True, exit_on_error=False, exclusive=True, group="investigate")
    def _investigate(self) -> None:
        from obsctl.analysis.investigate import investigate

        app = self.obsctl
        window = app.window if app.window.bounded else None
        with app.pool.store() as s:
            inv = investigate(s, window, None, service=app.service)
        if not get_current_worker().is_cancelled:
            self.deliver(self._investigation_ready, inv)

    def _investigation_ready(self, inv: Investigation | None) -> None:
        from rich.console import Group

        from obsctl.render.investigate import header, steps_view, suspects_view

        self.investigation = inv
        box = self.query_one("#overview-investigation", Static)
        if inv is None:
            box.update(Text("the store holds no telemetry", style="dim"))
            return
        head = Text()
        head.append("Investigation", style="bold")
        if inv.window_source not in ("given", "none"):
            head.append(" · i: make its incident window the shared window", style="dim")
        # suspects first: on a narrow pane they are what triage needs; the steps follow
        box.update(
            Group(head, Text(), header(inv), Text(), suspects_view(inv), Text(), steps_view(inv))
        )

    def action_use_incident(self) -> None:
        inv = self.investigation
        if inv is None:
            self.app.notify("the investigation is still running", severity="warning")
            return
        if inv.window_source == "none":
            self.app.notify("nothing left its baseline: no incident window", severity="warning")
            return
        self.obsctl.use_window(inv.window)
