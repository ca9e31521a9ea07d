"""``obsctl sql``: the deliberate raw-SQL door into the store (read-only by default)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from obsctl.cli.options import FormatOpt, StoreOpt, read_store, state, store_path


def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="SQL to run (DuckDB dialect); - reads stdin.")],
    write: Annotated[
        bool, typer.Option("--write", help="Open the store for writing (default: read-only).")
    ] = False,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Run SQL against the store; tables: logs, spans, metric_points, profiles,
    profile_samples, sources, rejects (columns in the README)."""
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.store import Store

    text = sys.stdin.read() if query == "-" else query
    opened = Store.open(store_path(ctx, store)) if write else read_store(ctx, store)
    with opened as s:
        result = s.query(text)
    formats.write(result, format, sys.stdout, console=make_console(sys.stdout, state(ctx).policy))
