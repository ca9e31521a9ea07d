"""``obsctl profiles``: step 4, *why* — which code burns the CPU or holds the memory.

``list`` shows the profiles loaded; ``top`` is ``pprof -top`` over every profile of the
selection (same numbers); ``peek FUNC`` shows a function's callers and callees and
``tree [FUNC]`` the call tree (below FUNC); ``flame`` draws a flame graph in the terminal
or, with ``--svg FILE``, as an interactive SVG; ``diff`` compares two windows by each
function's share of its window's total (with ``--svg``, a differential flame graph);
``export`` writes the aggregated profile as folded stacks or a speedscope file.

Option values are checked before the store is opened (usage errors, exit 2); no profile
in the selection, an unknown sample type or an unknown function is exit 3 (``NOT_FOUND``)
with what *is* there; a function name that is part of several names is exit 2 with the
candidates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from obsctl.cli.options import (
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

app = group("profiles", "Step 4 — why: top functions, call tree, flame graphs, profile diff.")

DEFAULT_TOP = 20
"""Functions the ``top`` and ``diff`` table views show unless ``-n`` says otherwise."""

SampleTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--sample-type",
        "-t",
        help="Sample type to aggregate: its name (cpu, samples, alloc_space, inuse_space…)"
        " or 0-based index [default: the profiles' default, as pprof picks it].",
        show_default=False,
    ),
]
IdOpt = Annotated[
    list[int] | None,
    typer.Option(
        "--id",
        help="Only this profile (see 'obsctl profiles list'; repeat for several).",
        show_default=False,
    ),
]
FunctionArg = Annotated[
    str,
    typer.Argument(
        help="Function: its full name, or a part of exactly one name (case-insensitive).",
        show_default=False,
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        "-n",
        help=f"At most N functions; 0 = all [default: {DEFAULT_TOP} in the table view,"
        " all in json/ndjson/csv].",
        min=0,
        show_default=False,
    ),
]


def _typenote(policy: Any, sel: Any) -> None:
    """Say so when profiles of other kinds were left out by the default sample type."""
    st = sel.sample_type
    if st.defaulted and st.mixed_defaults:
        note(
            policy,
            f"the selected profiles default to different sample types; showing"
            f" {st.name or repr('')} (also: {', '.join(st.mixed_defaults)}; choose with"
            " --sample-type)",
        )


def _filter(
    service: list[str] | None,
    sample_type: str | None,
    ids: list[int] | None,
) -> Any:
    from obsctl.analysis.profiles import ProfileFilter

    return ProfileFilter.from_options(services=service, sample_type=sample_type, profile_ids=ids)


def _limit(limit: int | None, format: str) -> int | None:
    """Rows to show: ``-n`` if given (0 = all), else a screenful in the table view."""
    if limit is None:
        return DEFAULT_TOP if format == "table" else None
    return limit or None


@app.command("list")
def list_(
    ctx: typer.Context,
    service: ServiceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdOpt = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """List the profiles loaded: service, type, sample types, total, time, source file."""
    import dataclasses

    from obsctl.analysis import profiles as analysis
    from obsctl.render.profiles import list_listing
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(service, None, ids)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        table = analysis.list_profiles(s, filt)
    emit(policy, format, table, list_listing)
    if table.num_rows == 0:
        note(policy, "no profiles match")


@app.command("top")
def top(
    ctx: typer.Context,
    service: ServiceOpt = None,
    sample_type: SampleTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdOpt = None,
    cum: Annotated[
        bool, typer.Option("--cum", help="Sort by cum instead of flat (pprof -top -cum).")
    ] = False,
    limit: LimitOpt = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """The functions that cost the most: flat, flat%, sum%, cum, cum% as pprof -top.

    Aggregated over every selected profile; flat is a function's own cost (it is the leaf),
    cum includes its callees (once per stack, even under recursion); percentages are of
    the total of the selected samples.
    """
    import dataclasses

    from obsctl.analysis import profiles as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.profiles import top_listing, write_table
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(service, sample_type, ids)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        result = analysis.top(s, filt, sort="cum" if cum else "flat")
    _typenote(policy, result.selection)
    shown = _limit(limit, format)
    total = result.table.num_rows
    if format == "table":
        write_table(top_listing(result, shown), make_console(sys.stdout, policy))
        if shown and total > shown:
            note(policy, f"showing {shown} of {total:,} functions (-n 0 for all)")
    else:
        formats.write(result.table.slice(0, shown) if shown else result.table, format, sys.stdout)


@app.command("peek")
def peek(
    ctx: typer.Context,
    function: FunctionArg,
    service: ServiceOpt = None,
    sample_type: SampleTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdOpt = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Who calls a function and what it calls, with the share of its time through each.

    Callers are listed above the function, callees below it (pprof -peek); "of cum" is
    the share of the function's cum that goes through that caller or callee, (self) is
    its flat.
    """
    import dataclasses

    from obsctl.analysis import profiles as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.profiles import peek_listing, peek_table, write_table
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(service, sample_type, ids)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        result = analysis.peek(s, filt, function)
    _typenote(policy, result.selection)
    if result.function != function:
        note(policy, f"{function!r} is {result.function}")
    if format == "table":
        write_table(peek_listing(result), make_console(sys.stdout, policy))
    else:
        formats.write(peek_table(result), format, sys.stdout)


@app.command("tree")
def tree(
    ctx: typer.Context,
    function: Annotated[
        str | None,
        typer.Argument(
            help="Show the tree below this function (full name or a part of one)"
            " [default: the whole call tree].",
            show_default=False,
        ),
    ] = None,
    service: ServiceOpt = None,
    sample_type: SampleTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdOpt = None,
    min_share: Annotated[
        float,
        typer.Option(
            "--min-share",
            help="Leave out calls under this % of the tree's root (FUNC's cum, or the total).",
            min=0.0,
            max=100.0,
        ),
    ] = 1.0,
    depth: Annotated[
        int | None,
        typer.Option("--depth", "-d", help="At most N levels below the root.", min=1),
    ] = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """The call tree, from the roots or below FUNC: value, % of total, self per call path.

    With FUNC, every stack through it is cut at its outermost call, so recursion is not
    counted twice; "of cum" is the share of FUNC's cum.
    """
    import dataclasses

    from obsctl.analysis import profiles as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.profiles import tree_listing, write_table
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(service, sample_type, ids)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        result = analysis.call_tree(s, filt, focus=function)
    _typenote(policy, result.selection)
    if function is not None and result.focus != function:
        note(policy, f"{function!r} is {result.focus}")
    rows = analysis.tree_rows(result, min_fraction=min_share / 100, max_depth=depth)
    if format == "table":
        write_table(tree_listing(rows, result), make_console(sys.stdout, policy))
        left = len(result) - rows.num_rows
        if left:
            note(policy, f"{left:,} call paths under {min_share:g}% or deeper not shown")
    else:
        formats.write(rows, format, sys.stdout)


@app.command("flame")
def flame(
    ctx: typer.Context,
    svg: Annotated[
        Path | None,
        typer.Option(
            "--svg",
            help="Write an interactive SVG flame graph to FILE ('-' for stdout) instead of"
            " drawing in the terminal.",
            show_default=False,
            dir_okay=False,
            allow_dash=True,
        ),
    ] = None,
    service: ServiceOpt = None,
    sample_type: SampleTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdOpt = None,
    focus: Annotated[
        str | None,
        typer.Option(
            "--focus", help="Only the calls below this function (pprof -focus).", show_default=False
        ),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option("--depth", "-d", help="At most N levels in the terminal.", min=1),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="SVG title.", show_default=False)
    ] = None,
    store: StoreOpt = None,
) -> None:
    """A flame graph of the selected profiles: an icicle in the terminal, or an SVG.

    In the terminal the root is on top, callees below, each box as wide as its share
    (boxes narrower than a column are left out). The SVG has every frame, tooltips and
    click-to-zoom, and needs no network (open it in a browser).
    """
    import dataclasses

    from obsctl.analysis import profiles as analysis
    from obsctl.render.console import make_console
    from obsctl.render.profiles import Icicle, flame_svg
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    filt = _filter(service, sample_type, ids)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        result = analysis.call_tree(s, filt, focus=focus)
    _typenote(policy, result.selection)
    if svg is None:
        make_console(sys.stdout, policy).print(Icicle(result, max_depth=depth))
        return
    text = flame_svg(result, title=title)
    _write_text(svg, text)
    if str(svg) != "-":
        note(policy, f"wrote {svg} ({len(text.encode()) / 1024:,.0f} KiB); open it in a browser")


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (``-``: stdout)."""
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from obsctl.errors import InputNotFound

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputNotFound(f"cannot write {path}: {exc.strerror or exc}") from None


@app.command("diff")
def diff(
    ctx: typer.Context,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            "-b",
            help="Base window: START..END, or a duration just before the target (20m)"
            " [default: everything before the target].",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-w",
            help="Target window: START..END, or a duration at the end of the data (15m).",
        ),
    ] = "15m",
    service: ServiceOpt = None,
    sample_type: SampleTypeOpt = None,
    ids: IdOpt = None,
    svg: Annotated[
        Path | None,
        typer.Option(
            "--svg",
            help="Also write a differential flame graph (red grew, blue shrank) to FILE.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    limit: LimitOpt = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Which functions' share of the total grew or shrank between two windows.

    Each window is normalised to its own total, so windows with different numbers of
    samples compare fairly; changes are in percentage points, the largest first
    (ranked by the change of cum share plus the change of flat share).
    """
    from obsctl.analysis import profiles as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.profiles import diff_listing, diff_svg, write_table
    from obsctl.render.units import fmt_comparison
    from obsctl.timewindow import baseline_window, data_end_ns, window_from_text

    filt = _filter(service, sample_type, ids)
    window_from_text(target, 0, "--target")  # validate the text before opening the store
    if base:
        baseline_window(base, window_from_text(target, 0, "--target"), 0)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        end = data_end_ns(s)
        win = window_from_text(target, end, "--target")
        bwin = baseline_window(base, win, end)
        if bwin is None:
            from obsctl.errors import UsageError

            raise UsageError("--target has no start: give --base START..END")
        result = analysis.diff(s, filt, bwin, win)
        dtree = analysis.diff_tree(s, filt, bwin, win) if svg is not None else None
    _typenote(policy, result.target)
    shown = _limit(limit, format)
    total = result.table.num_rows
    footer = (
        fmt_comparison((win.start_ns, win.end_ns), (bwin.start_ns, bwin.end_ns))
        .replace("window", "target", 1)
        .replace("baseline", "base", 1)
    )
    if format == "table":
        write_table(diff_listing(result, shown, footer), make_console(sys.stdout, policy))
        if shown and total > shown:
            note(policy, f"showing {shown} of {total:,} functions (-n 0 for all)")
    else:
        formats.write(result.table.slice(0, shown) if shown else result.table, format, sys.stdout)
    if dtree is not None and svg is not None:
        text = diff_svg(dtree)
        _write_text(svg, text)
        note(policy, f"wrote {svg} ({len(text.encode()) / 1024:,.0f} KiB); open it in a browser")


@app.command("export")
def export(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="Output file ('-' for stdout).", dir_okay=False, allow_dash=True),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--format",
            help="folded (FlameGraph / speedscope 'a;b;c 42' lines) or speedscope (JSON).",
        ),
    ] = "folded",
    service: ServiceOpt = None,
    sample_type: SampleTypeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdOpt = None,
    store: StoreOpt = None,
) -> None:
    """Write the aggregated profile for FlameGraph tools or speedscope.

    One line (folded) or one weighted sample (speedscope) per distinct call path of the
    selection, root first; the values are those of the sample type (speedscope keeps the
    unit when it knows it).
    """
    import dataclasses

    from obsctl import __version__
    from obsctl.analysis import profiles as analysis
    from obsctl.errors import UsageError
    from obsctl.timewindow import WindowSpec

    if to not in ("folded", "speedscope"):
        raise UsageError(f"--format {to!r}: choose folded or speedscope")
    spec = WindowSpec.parse(since, until)
    filt = _filter(service, sample_type, ids)
    policy = state(ctx).policy
    with read_store(ctx, store) as s:
        filt = dataclasses.replace(filt, window=spec.resolve(s))
        paths = analysis.stack_paths(s, filt)
    _typenote(policy, paths.selection)
    skipped = 0
    if to == "folded":
        text, skipped = analysis.folded_text(paths)
    else:
        import orjson

        name = " ".join(paths.selection.services) or "obsctl profile"
        st = paths.selection.sample_type.name
        doc = analysis.speedscope_document(paths, f"{name} · {st}", f"obsctl {__version__}")
        text = orjson.dumps(doc).decode() + "\n"
        skipped = paths.table.num_rows - len(doc["profiles"][0]["samples"])
    _write_text(file, text)
    if skipped:
        note(policy, f"{skipped:,} call paths with a zero or negative value left out")
    if str(file) != "-":
        note(policy, f"wrote {file}: {paths.table.num_rows - skipped:,} call paths ({to})")
