"""``obsctl ingest``: load files into the store and summarise what was loaded."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from obsctl.cli.options import OUTPUT_FORMATS, StoreOpt, note, state, store_path
from obsctl.render.console import OutputPolicy


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories (walked recursively), globs, or - for stdin.",
            show_default=False,
        ),
    ],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Force the input format instead of detecting it (see README for names).",
            show_default=False,
        ),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            "-s",
            help="Service for records that name none (before guessing from the path).",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option("--output-format", "-o", help="Summary format: table, json, ndjson or csv."),
    ] = "table",
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List the kept rejected records.")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Load telemetry files into the store (format detected from content; .gz transparently).

    Loading is idempotent (content already loaded is skipped) and atomic per file.
    """
    from obsctl.analysis.status import extent
    from obsctl.cli.exit_codes import ExitCode
    from obsctl.errors import UsageError
    from obsctl.ingest import ingest_paths
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.ingest import summary_listing, write_rejects
    from obsctl.render.progress import progress_reporter
    from obsctl.store import Store

    if output_format not in OUTPUT_FORMATS:
        raise UsageError(f"--output-format: choose from {', '.join(OUTPUT_FORMATS)}")
    st = state(ctx)
    err = make_console(sys.stderr, st.policy)
    with Store.open(store_path(ctx, store)) as s:
        with progress_reporter(err, st.policy) as progress:
            report = ingest_paths(s, paths, format=format, service=service, progress=progress)
        ids = [f.source_id for f in report.files if f.status == "loaded" and f.source_id]
        listing = summary_listing(report, extent(s, ids), group=output_format == "table")
    formats.write(listing, output_format, sys.stdout, console=make_console(sys.stdout, st.policy))
    if verbose or report.failed:
        write_rejects(report, err, verbose=verbose, quiet=st.policy.quiet)
    if report.failed:
        raise typer.Exit(int(ExitCode.INPUT))


def load_first(path: Path | None, paths: list[str], policy: OutputPolicy) -> None:
    """Ingest ``paths`` before a read command runs (``investigate``, ``report``, ``tui``).

    One note on stderr; a file that failed stops the command with exit code 4 after its
    rejects are listed, so an analysis never runs on half-loaded input.
    """
    from obsctl.cli.exit_codes import ExitCode
    from obsctl.ingest import ingest_paths
    from obsctl.render.console import make_console
    from obsctl.render.ingest import write_rejects
    from obsctl.render.progress import progress_reporter
    from obsctl.store import Store

    err = make_console(sys.stderr, policy)
    with Store.open(path) as s, progress_reporter(err, policy) as progress:
        report = ingest_paths(s, paths, progress=progress)
    loaded = sum(1 for f in report.files if f.status == "loaded")
    counts = f"{report.records:,} records, {report.rejected:,} rejected"
    note(policy, f"loaded {loaded} files ({counts})")
    if report.failed:
        write_rejects(report, err, verbose=False, quiet=policy.quiet)
        raise typer.Exit(int(ExitCode.INPUT))
