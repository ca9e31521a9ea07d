"""``obsctl metrics``: step 2, *how much* — list metrics, chart one, compare two windows.

``list`` shows what is loaded; ``show NAME`` charts one metric (gauges as values,
counters as per-second rates, histograms as p50/p95/p99) and ``--format json|ndjson|csv``
gives the numbers behind the chart; ``compare`` ranks every series by how far it moved
between a baseline and a window. (``anomalies`` joins this group from
``obsctl.analysis.metric_anomalies``.)

Bad option values are usage errors (exit 2) raised before the store is opened; an unknown
metric name is exit 3 with close names suggested.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from obsctl.cli.options import (
    BaselineOpt,
    FormatOpt,
    OneServiceOpt,
    ServiceOpt,
    SinceOpt,
    StoreOpt,
    UntilOpt,
    emit,
    group,
    note,
    read_store,
    state,
)

app = group("metrics", "Step 2 — how much: list metrics, chart one, compare two windows.")

LabelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--label",
        "-l",
        help="Only series whose attribute KEY equals VALUE (KEY=VALUE; repeat: all must hold).",
        show_default=False,
        metavar="KEY=VALUE",
    ),
]
StepOpt = Annotated[
    str | None,
    typer.Option(
        "--step",
        help="Step width (15s, 1m, 5m…) [default: ~100-200 points, never finer than the"
        " sampling interval].",
        show_default=False,
    ),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    service: ServiceOpt = None,
    label: LabelOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """List the metrics loaded: type, unit, series, points, services and label keys."""
    import dataclasses

    from obsctl.analysis import metrics as analysis
    from obsctl.render.metrics import list_listing
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = analysis.MetricFilter.from_options(services=service, labels=label)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        table = analysis.list_metrics(s, filt)
    emit(policy, format, list_listing(table))
    if table.num_rows == 0:
        note(policy, "no metric points match")


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Metric name (see 'obsctl metrics list').")],
    label: LabelOpt = None,
    service: ServiceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    step: StepOpt = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Chart one metric over time, one line per series.

    Gauges are shown as values, counters as per-second rates (resets handled),
    histograms as p50/p95/p99 from their buckets, summaries as their quantiles.
    json, ndjson and csv give one row per series, step (and quantile).
    """
    import dataclasses

    from obsctl.analysis import metrics as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.metrics import LineChart
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = analysis.MetricFilter.from_options(services=service, labels=label)
    step_ns = analysis.parse_step(step) if step else None
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        data = analysis.series(s, name, filt, step_ns)
    if data.table.num_rows == 0:
        note(policy, f"no points of {name} match the filters")
    if format == "table":
        make_console(sys.stdout, policy).print(LineChart(data))
        return
    formats.write(data.table, format, sys.stdout)


@app.command("compare")
def compare(
    ctx: typer.Context,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            "-b",
            help="Baseline: START..END, or a duration just before the window (20m)"
            " [default: everything before the window].",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        str,
        typer.Option(
            "--window",
            "-w",
            help="Window to compare: START..END, or a duration at the end of the data (15m).",
        ),
    ] = "15m",
    service: ServiceOpt = None,
    label: LabelOpt = None,
    step: StepOpt = None,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", help="At most N series in the table view; 0 = all.", min=0),
    ] = 30,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Rank every series by how much it moved between a baseline and a window.

    Each side is summarised by the median of its step values (gauge value, counter
    rate, histogram p50/p95/p99); robust z = change / (1.4826 × MAD of the baseline).
    """
    from obsctl.analysis import metrics as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.metrics import compare_listing
    from obsctl.render.units import fmt_comparison
    from obsctl.timewindow import baseline_window, data_end_ns, window_from_text

    filt = analysis.MetricFilter.from_options(services=service, labels=label)
    step_ns = analysis.parse_step(step) if step else None
    window_from_text(window, 0)  # validate the text before opening the store
    if baseline:
        baseline_window(baseline, window_from_text(window, 0), 0)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        end = data_end_ns(s)
        win = window_from_text(window, end)
        base = baseline_window(baseline, win, end)
        if base is None:
            from obsctl.errors import UsageError

            raise UsageError("--window has no start: give --baseline START..END")
        table = analysis.compare(s, base, win, filt, step_ns)
    total = table.num_rows

    footer = fmt_comparison((win.start_ns, win.end_ns), (base.start_ns, base.end_ns))
    if format == "table":
        shown = table.slice(0, limit) if limit and total > limit else table
        formats.write(
            compare_listing(shown, footer),
            "table",
            sys.stdout,
            console=make_console(sys.stdout, policy),
        )
        if shown.num_rows < total:
            note(policy, f"showing {shown.num_rows} of {total} series (--limit 0 for all)")
    else:
        formats.write(table, format, sys.stdout)
    if total == 0:
        note(policy, "no metric points in either window")


@app.command("anomalies")
def anomalies(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    baseline: BaselineOpt = None,
    service: OneServiceOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most N series; 0 = all.", min=0)
    ] = 20,
    group: Annotated[
        bool,
        typer.Option(
            "--group/--no-group",
            help="Fold series of one metric that moved together (quantiles, CPUs, services"
            " on a call path) into one row; --no-group lists each series.",
        ),
    ] = True,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Rank the series that left their baseline: when, which way, how far (robust).

    Gauges are judged on their value, counters on their rate, histograms on p50/p95/p99.
    A utilisation near saturation ranks above a symptom of the same size.
    """
    from obsctl.analysis import metric_anomalies
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.metrics import anomalies_listing
    from obsctl.render.units import fmt_comparison
    from obsctl.timewindow import WindowSpec, baseline_window, data_end_ns

    spec = WindowSpec.parse(since, until)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        end = data_end_ns(s)
        window = spec.resolve_at(end)
        base = baseline_window(baseline, window, end)
        table, pair = metric_anomalies.scan(
            s, window, base, service=service, group=group, limit=limit or None
        )
    footer = None
    if pair is not None:
        footer = fmt_comparison((window.start_ns, window.end_ns), pair)
    formats.write(
        anomalies_listing(table, footer=footer),
        format,
        sys.stdout,
        console=make_console(sys.stdout, policy),
    )
    if table.num_rows == 0:
        note(policy, "no series left its baseline")
