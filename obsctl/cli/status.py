"""``obsctl status``: what the store holds."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from obsctl.cli.options import FormatOpt, StoreOpt, read_store, state


def status(
    ctx: typer.Context,
    sources: Annotated[
        bool, typer.Option("--sources", help="List the loaded files instead of the signals.")
    ] = False,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Show per signal the record count, services and time range, and the loaded sources."""
    from obsctl.analysis import status as analysis
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.status import signals_listing, sources_listing

    out = make_console(sys.stdout, state(ctx).policy)
    with read_store(ctx, store) as s:
        if sources:
            formats.write(sources_listing(analysis.sources(s)), format, sys.stdout, console=out)
            return
        listing = signals_listing(
            analysis.signals(s), s.location, analysis.source_count(s), s.engine != "duckdb"
        )
        formats.write(listing, format, sys.stdout, console=out)
