"""``obsctl traces``: step 3, *where* — list traces, draw one, and find where time and
failures sit across many.

``list`` finds traces; ``show ID`` draws a waterfall with the critical path (``--format
json`` is the documented document); ``services`` gives per-operation traffic, errors,
latency and self time; ``deps`` the service graph (also as DOT or Mermaid);
``critical-path`` which operations hold the critical path and how that changed;
``compare`` what sets slow/failed/recent traces apart (BubbleUp); ``errors`` where
failures originate.

Bad option values are usage errors (exit 2) raised before the store is opened; an
unknown trace id is exit 3.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from obsctl.cli.options import (
    BaselineOpt,
    FormatOpt,
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

app = group(
    "traces",
    "Step 3 — where: list traces, draw a waterfall, services, dependencies, critical path.",
)

OperationOpt = Annotated[
    str | None,
    typer.Option(
        "--operation", "-o", help="Only traces with a span of this name.", show_default=False
    ),
]
MinDurationOpt = Annotated[
    str | None,
    typer.Option(
        "--min-duration",
        help="Only traces at least this long (250ms, 2s).",
        show_default=False,
    ),
]
ErrorsOpt = Annotated[bool, typer.Option("--errors", help="Only traces with a failed span.")]
AttrOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--attr",
        "-a",
        help="Only traces with a span whose attribute (span or resource) KEY equals VALUE"
        " (repeat: all must hold).",
        show_default=False,
        metavar="KEY=VALUE",
    ),
]


LimitOpt = Annotated[int, typer.Option("--limit", "-n", help="At most N rows (0 = all).", min=0)]


def _filter(**kw: Any) -> Any:
    from obsctl.analysis.traces import TraceFilter

    return TraceFilter.from_options(**kw)


# --------------------------------------------------------------------------- list


@app.command("list")
def list_(
    ctx: typer.Context,
    service: ServiceOpt = None,
    operation: OperationOpt = None,
    min_duration: MinDurationOpt = None,
    errors: ErrorsOpt = False,
    attr: AttrOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    sort: Annotated[
        str, typer.Option("--sort", help="duration (longest first) or start (oldest first).")
    ] = "duration",
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the sort.")] = False,
    limit: LimitOpt = 20,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """List traces: id, start, duration, spans, services, errors, root span."""
    import dataclasses

    from obsctl.analysis import traces as analysis
    from obsctl.render.traces import list_listing
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(
        services=service,
        operation=operation,
        min_duration=min_duration,
        errors=errors,
        attrs=attr,
        limit=limit,
        sort=sort,
        reverse=reverse,
    )
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        table, matched = analysis.list_traces(s, filt)
    emit(policy, format, table, list_listing)
    if matched == 0:
        note(policy, "no traces match")
    elif table.num_rows < matched:
        note(policy, f"showing {table.num_rows:,} of {matched:,} traces (--limit 0 for all)")


# --------------------------------------------------------------------------- show


@app.command("show")
def show(
    ctx: typer.Context,
    trace_id: Annotated[
        str,
        typer.Argument(
            help="Trace id: 32 hex digits, a 16-digit (64-bit) id, or a unique prefix.",
            metavar="TRACE_ID",
        ),
    ],
    collapse_below: Annotated[
        str | None,
        typer.Option(
            "--collapse-below",
            "-c",
            help="Fold subtrees whose span is shorter than this (5ms) into one row per parent.",
            show_default=False,
        ),
    ] = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Draw one trace as a waterfall, with the critical path marked (┃).

    --format json writes one document: trace_id, spans (span_id, parent_span_id,
    service, name, depth, start_offset_ns, duration_ns, self_time_ns, critical, status,
    attributes…) and critical_path (span_id, start_offset_ns, end_offset_ns);
    ndjson and csv write the span rows.
    """
    from obsctl.analysis import traces as analysis
    from obsctl.analysis.traces import parse_min_duration
    from obsctl.render.console import make_console, wants_color

    below = parse_min_duration(collapse_below, "--collapse-below")
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        tree = analysis.load_trace(s, trace_id)
    for w in tree.warnings:
        note(policy, f"note: {w}")
    if format == "table":
        from obsctl.render.traces import Waterfall

        console = make_console(sys.stdout, policy)
        Waterfall(tree, collapse_below_ns=below, color=wants_color(sys.stdout, policy)).write(
            console
        )
        return
    from obsctl.render.traces import trace_document

    doc = trace_document(tree)
    if format == "json":
        import orjson

        out = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
        sys.stdout.flush()
        buf = getattr(sys.stdout, "buffer", None)
        if buf is not None:
            buf.write(out)
            buf.flush()
        else:
            sys.stdout.write(out.decode())
        return
    import orjson
    import pyarrow as pa

    from obsctl.render import formats

    rows = doc["spans"]
    for r in rows:
        r["attributes"] = orjson.dumps(r["attributes"]).decode()
    table = pa.Table.from_pylist(rows)
    fields = [
        f.with_metadata({"obsctl.json": "1"}) if f.name == "attributes" else f for f in table.schema
    ]
    formats.write(table.cast(pa.schema(fields)), format, sys.stdout)


# --------------------------------------------------------------------------- services


@app.command("services")
def services(
    ctx: typer.Context,
    service: ServiceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = 30,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Per service and operation: rate, error %, p50/p95/p99 and self time.

    Self time is the time a span is not covered by its children: a slow downstream call
    is blamed on the callee, not on its callers. Rows are sorted by total self time.
    """
    import dataclasses

    from obsctl.analysis import traces as analysis
    from obsctl.render.traces import services_listing
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(services=service)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        table = analysis.services(s, filt)
    total = table.num_rows
    if limit and total > limit:
        table = table.slice(0, limit)
    emit(policy, format, services_listing(table))
    if total == 0:
        note(policy, "no spans match")
    elif table.num_rows < total:
        note(policy, f"showing {table.num_rows} of {total} operations (--limit 0 for all)")


# --------------------------------------------------------------------------- deps

GRAPH_FORMATS = ("table", "json", "ndjson", "csv", "dot", "mermaid")


def _check_graph_format(value: str) -> str:
    if value not in GRAPH_FORMATS:
        raise typer.BadParameter(f"choose from {', '.join(GRAPH_FORMATS)}")
    return value


@app.command("deps")
def deps(
    ctx: typer.Context,
    service: ServiceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Output format: table, json, ndjson, csv, dot (Graphviz) or mermaid.",
            callback=_check_graph_format,
        ),
    ] = "table",
    store: StoreOpt = None,
) -> None:
    """The service dependency graph: caller → callee with calls, errors and latency.

    Edges come from parent/child spans in different services; a client span with no
    instrumented callee is an edge to its peer.service (or server address, db system):
    marked uninstrumented (dashed in DOT, rounded in Mermaid).
    """
    import dataclasses

    from obsctl.analysis import traces as analysis
    from obsctl.render.traces import deps_listing, to_dot, to_mermaid
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(services=service)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        table = analysis.deps(s, filt)
    if format == "dot":
        sys.stdout.write(to_dot(table))
    elif format == "mermaid":
        sys.stdout.write(to_mermaid(table))
    else:
        emit(policy, format, table, deps_listing)
    if table.num_rows == 0:
        note(policy, "no calls between services in the selection")


# --------------------------------------------------------------------------- critical path


@app.command("critical-path")
def critical_path(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    baseline: BaselineOpt = None,
    min_duration: MinDurationOpt = None,
    service: ServiceOpt = None,
    operation: OperationOpt = None,
    errors: ErrorsOpt = False,
    limit: LimitOpt = 20,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Which service/operation holds the critical path over many traces, and the change.

    For each trace the critical path is walked back from the root's end; each operation
    is credited with its own time on it. With --since, the window is compared with a
    baseline (everything before, --baseline 20m or START..END).
    """
    import dataclasses

    from obsctl.analysis import traces as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.traces import critical_path_listing
    from obsctl.render.units import fmt_comparison
    from obsctl.timewindow import WindowSpec, baseline_window, data_end_ns

    spec = WindowSpec.parse(since, until)
    filt = _filter(services=service, operation=operation, min_duration=min_duration, errors=errors)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        end = data_end_ns(s)
        window = spec.resolve_at(end)
        base = baseline_window(baseline, window, end)
        filt = dataclasses.replace(filt, window=window)
        summary = analysis.critical_path_summary(s, filt, base)
    total = summary.table.num_rows
    shown = summary.table.slice(0, limit) if limit and total > limit else summary.table
    shown_summary = dataclasses.replace(summary, table=shown)
    footer = f"{summary.traces:,} traces"
    if base is not None:
        footer += f" vs {summary.baseline_traces or 0:,} · " + fmt_comparison(
            (window.start_ns, window.end_ns), (base.start_ns, base.end_ns)
        )
    formats.write(
        critical_path_listing(shown_summary, footer if format == "table" else None),
        format,
        sys.stdout,
        console=make_console(sys.stdout, policy),
    )
    if summary.traces == 0:
        note(policy, "no traces match")
    elif shown.num_rows < total:
        note(policy, f"showing {shown.num_rows} of {total} operations (--limit 0 for all)")


# --------------------------------------------------------------------------- compare


@app.command("compare")
def compare(
    ctx: typer.Context,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            "-w",
            help="Outliers = traces starting in this window: START..END or a duration at"
            " the end of the data (15m) [default: 15m unless --slow/--errors].",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            "-b",
            help="Baseline for --window: START..END or a duration just before it (20m)"
            " [default: everything before the window].",
            show_default=False,
        ),
    ] = None,
    slow: Annotated[
        bool,
        typer.Option(
            "--slow", help="Outliers = traces at or above p95 (or --min-duration) vs the rest."
        ),
    ] = False,
    errors: Annotated[
        bool, typer.Option("--errors", help="Outliers = traces with a failed span vs the rest.")
    ] = False,
    min_duration: Annotated[
        str | None,
        typer.Option(
            "--min-duration", help="With --slow: the threshold [default: p95].", show_default=False
        ),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    service: ServiceOpt = None,
    operation: OperationOpt = None,
    limit: LimitOpt = 15,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """BubbleUp: the attribute values that set outlier traces apart from the baseline.

    For every span attribute, resource attribute and the span status, the share of
    the outliers' spans with each value is set beside the baseline's (reweighted to the
    outliers' mix of service and operation, so keys that only tell services apart do
    not rank), ranked by total variation distance. Id-like keys are skipped.
    """
    import dataclasses

    from obsctl.analysis import traces as analysis
    from obsctl.analysis.traces import parse_min_duration
    from obsctl.errors import UsageError
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.traces import compare_listing
    from obsctl.render.units import fmt_comparison, fmt_duration_ns
    from obsctl.timewindow import WindowSpec, baseline_window, data_end_ns, window_from_text

    if slow and errors:
        raise UsageError("choose one of --slow and --errors")
    if (slow or errors) and (window or baseline):
        raise UsageError(
            "--window/--baseline compare two windows; --slow/--errors compare"
            " within one (narrow it with --since/--until)"
        )
    mode = "slow" if slow else ("errors" if errors else "window")
    threshold = parse_min_duration(min_duration)
    if threshold is not None and mode != "slow":
        raise UsageError("--min-duration sets the --slow threshold; add --slow")
    spec = WindowSpec.parse(since, until)
    if mode == "window":
        window_from_text(window or "15m", 0)
        if baseline:
            baseline_window(baseline, window_from_text(window or "15m", 0), 0)
    filt = _filter(services=service, operation=operation)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        end = data_end_ns(s)
        if mode == "window":
            win = window_from_text(window or "15m", end)
            base = baseline_window(baseline, win, end)
            if base is None:
                raise UsageError("--window has no start: give --baseline START..END")
            filt = dataclasses.replace(filt, window=win)
        else:
            base = None
            filt = dataclasses.replace(filt, window=spec.resolve_at(end))
        result = analysis.compare(s, filt, mode=mode, baseline=base, threshold_ns=threshold)
    if mode == "window":
        assert base is not None
        what = fmt_comparison(
            (filt.window.start_ns, filt.window.end_ns), (base.start_ns, base.end_ns)
        )
    elif mode == "slow":
        what = f"traces ≥ {fmt_duration_ns(result.threshold_ns)} vs the rest"
    else:
        what = "traces with errors vs the rest"
    footer = (
        f"outliers {result.outlier_traces:,} traces ({result.outlier_spans:,} spans) · "
        f"baseline {result.baseline_traces:,} traces ({result.baseline_spans:,} spans)\n{what}"
    )
    if format == "table":
        listing = compare_listing(result, keys=limit or 10**9)
        listing.footer = footer
        formats.write(listing, "table", sys.stdout, console=make_console(sys.stdout, policy))
    else:
        formats.write(result.table, format, sys.stdout)
    if result.outlier_traces == 0 or result.baseline_traces == 0:
        note(policy, "one of the groups is empty: nothing to compare")
    elif result.skipped_keys:
        some = ", ".join(k.split(":", 1)[1] for k in result.skipped_keys[:5])
        more = "…" if len(result.skipped_keys) > 5 else ""
        note(policy, f"skipped id-like keys (too many distinct values): {some}{more}")


# --------------------------------------------------------------------------- errors


@app.command("errors")
def errors_(
    ctx: typer.Context,
    service: ServiceOpt = None,
    operation: OperationOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = 20,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Where failures originate: the deepest failed spans of failed traces, grouped.

    A caller that reports its callee's failure is not an origin; the failing span with
    no failed span below it is. Rows: service, operation, traces, share of failed
    traces, the most common status message and an example trace id.
    """
    import dataclasses

    import pyarrow as pa
    import pyarrow.compute as pc

    from obsctl.analysis import traces as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.traces import errors_listing
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(services=service, operation=operation)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        table = analysis.error_origins(s, filt)
    total = table.num_rows
    if limit and total > limit:
        table = table.slice(0, limit)
    if format == "table":
        first = pc.list_element(table.column("examples"), 0)
        view = table.set_column(
            table.schema.get_field_index("examples"), "examples", first.cast(pa.string())
        )
        formats.write(
            errors_listing(view), "table", sys.stdout, console=make_console(sys.stdout, policy)
        )
    else:
        formats.write(table, format, sys.stdout)
    if total == 0:
        note(policy, "no failed traces match")
    elif table.num_rows < total:
        note(policy, f"showing {table.num_rows} of {total} origins (--limit 0 for all)")
