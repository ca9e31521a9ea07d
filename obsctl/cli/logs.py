"""``obsctl logs``: search log records (step 1, *what* happened) and count them over time.

``obsctl logs [TEXT] [filters]`` lists records; ``obsctl logs histogram [TEXT] [filters]``
charts them. The group takes an optional TEXT argument *and* has subcommands, which click
cannot tell apart on its own (``histogram`` would be read as TEXT): ``LogsGroup`` routes
a first word that names a subcommand to it. To search for such a word, write
``obsctl logs -- histogram``.

Bad filter values are usage errors (exit 2) raised before the store is opened; no match
is not an error (exit 0, an empty table and a note on stderr).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from obsctl.cli.options import (
    BaselineOpt,
    FormatOpt,
    OneServiceOpt,
    ServiceOpt,
    SinceOpt,
    StoreOpt,
    UntilOpt,
    group,
    note,
    read_store,
    state,
)

DEFAULT_LIMIT = 200
"""Records the table view shows unless ``--limit`` says otherwise."""


class LogsGroup(TyperGroup):
    """A group whose callback takes an optional TEXT: a first word naming a subcommand
    goes to the subcommand (the group's own filters then keep their defaults).

    Options may follow TEXT (``obsctl logs timeout --level warn``): a click group
    normally stops reading its own options at the first positional argument.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_interspersed_args = True

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            super(TyperGroup, self).parse_args(ctx, [])  # the callback's params: defaults
            if hasattr(ctx, "_protected_args"):
                ctx._protected_args, ctx.args = args[:1], args[1:]
            else:  # pragma: no cover - click < 8.2
                ctx.protected_args, ctx.args = args[:1], args[1:]
            return ctx.args
        return super().parse_args(ctx, args)


app = group("logs", cls=LogsGroup, no_args_is_help=False)

TextArg = Annotated[
    str | None,
    typer.Argument(
        help="Case-insensitive substring of the message.", show_default=False, metavar="TEXT"
    ),
]
LevelOpt = Annotated[
    str | None,
    typer.Option(
        "--level",
        "-l",
        help="At or above this level: trace, debug, info, warn, error, fatal, or 1-24.",
        show_default=False,
    ),
]
TraceOpt = Annotated[
    str | None,
    typer.Option("--trace", help="Only records of this trace id (hex).", show_default=False),
]
GrepOpt = Annotated[
    str | None,
    typer.Option(
        "--grep",
        "-g",
        help="Regular expression the message must match (RE2 syntax).",
        show_default=False,
    ),
]


def _parse(
    text: str | None,
    level: str | None,
    service: list[str] | None,
    trace: str | None,
    grep: str | None,
    since: str | None,
    until: str | None,
) -> tuple[Any, Any]:
    """Validate the filters (no store needed): (LogFilter without window, WindowSpec)."""
    from obsctl.analysis.logs import LogFilter
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = LogFilter.from_options(text=text, level=level, services=service, trace=trace, grep=grep)
    return filt, spec


@app.callback(invoke_without_command=True)
def logs(
    ctx: typer.Context,
    text: TextArg = None,
    level: LevelOpt = None,
    service: ServiceOpt = None,
    trace: TraceOpt = None,
    grep: GrepOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            help=f"At most N records; 0 = all [default: {DEFAULT_LIMIT} for the table, "
            "all for json/ndjson/csv].",
            show_default=False,
            min=0,
        ),
    ] = None,
    reverse: Annotated[bool, typer.Option("--reverse", "-r", help="Newest first.")] = False,
    patterns: Annotated[
        bool,
        typer.Option(
            "--patterns/--no-patterns",
            help="Add each record's pattern_id and template to json/ndjson/csv output"
            " (mines the window once).",
        ),
    ] = True,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Search log records: filter by text, level, service, trace, regex and time.

    Records are listed in time order; json, ndjson and csv carry every field and the
    record's pattern (pattern_id, template).
    """
    if ctx.invoked_subcommand is not None:
        return
    import dataclasses

    from obsctl.analysis import logs as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.logs import records_listing

    filt, spec = _parse(text, level, service, trace, grep, since, until)
    policy = state(ctx).policy
    shown = (DEFAULT_LIMIT if limit is None else limit) if format == "table" else limit
    shown = shown or None  # 0 = no limit
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        if format != "table":  # stream: exports may be millions of records
            reader = analysis.search_stream(
                s, filt, limit=shown, reverse=reverse, patterns=patterns
            )
            counted = _Counted(reader)
            formats.write(records_listing(counted.reader()), format, sys.stdout)
            if counted.rows == 0:
                note(policy, "no log records match")
            return
        table = analysis.search(s, filt, limit=shown + 1 if shown else None, reverse=reverse)
        more = shown is not None and table.num_rows > shown
        total = analysis.count(s, filt) if more else table.num_rows
        if more:
            table = table.slice(0, shown)
    formats.write(
        records_listing(table), "table", sys.stdout, console=make_console(sys.stdout, policy)
    )
    if total == 0:
        note(policy, "no log records match")
    elif more:
        which, hint = ("newest", "") if reverse else ("first", ", --reverse for the newest")
        note(
            policy,
            f"showing the {which} {table.num_rows:,} of {total:,} matching records"
            f" (--limit 0 for all{hint})",
        )


@app.command("histogram")
def histogram(
    ctx: typer.Context,
    text: TextArg = None,
    level: LevelOpt = None,
    service: ServiceOpt = None,
    trace: TraceOpt = None,
    grep: GrepOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket",
            "-b",
            help="Bucket width (10s, 1m, 1h…) [default: a width giving 40-80 buckets].",
            show_default=False,
        ),
    ] = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Count log records per time bucket and level, drawn as stacked bars.

    json, ndjson and csv give one row per bucket and level (zeros included).
    """
    import dataclasses

    from obsctl.analysis import logs as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.logs import HistogramView

    filt, spec = _parse(text, level, service, trace, grep, since, until)
    width = analysis.parse_bucket(bucket) if bucket else None
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        hist = analysis.histogram(s, filt, width)
    if hist.total == 0:
        note(policy, "no log records match")
    if format == "table":
        make_console(sys.stdout, policy).print(HistogramView(hist))
        return
    formats.write(hist.table, format, sys.stdout)


@app.command("patterns")
def patterns(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    baseline: BaselineOpt = None,
    service: OneServiceOpt = None,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", help="At most N patterns in the table view; 0 = all.", min=0),
    ] = 30,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Mine message templates (variables as <*>) and rank what is new or grew.

    With --since, the window is compared with a baseline (everything before it, or
    --baseline): new patterns come first, then those that grew the most.
    """
    from obsctl.analysis import log_patterns as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.log_patterns import patterns_listing
    from obsctl.render.units import fmt_comparison
    from obsctl.timewindow import WindowSpec, baseline_window, data_end_ns

    spec = WindowSpec.parse(since, until)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        end = data_end_ns(s)
        window = spec.resolve_at(end)
        base = baseline_window(baseline, window, end)
        table = analysis.patterns(
            s,
            start_ns=window.start_ns,
            end_ns=window.end_ns,
            service=service,
            baseline=None if base is None else (base.start_ns or 0, base.end_ns or end or 0),
        )
    total = table.num_rows
    if format == "table" and limit and total > limit:
        table = table.slice(0, limit)
    footer = None
    if base is not None:
        footer = fmt_comparison((window.start_ns, window.end_ns), (base.start_ns, base.end_ns))
    formats.write(
        patterns_listing(table, compared=base is not None, footer=footer),
        format,
        sys.stdout,
        console=make_console(sys.stdout, policy),
    )
    if total == 0:
        note(policy, "no log records in the window")
    elif table.num_rows < total:
        note(policy, f"showing {table.num_rows} of {total} patterns (--limit 0 for all)")


class _Counted:
    """Wraps a record-batch reader to count the rows that went through it."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self.rows = 0

    def reader(self) -> Any:
        import pyarrow as pa

        def batches() -> Any:
            for batch in self._reader:
                self.rows += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(self._reader.schema, batches())
