"""``obsctl demo``: write the bundled demo incident to a directory, ready to ingest."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from obsctl.cli.options import FormatOpt, state

# A literal list keeps --help free of imports; tests/demo checks it matches SCENARIOS.
SCENARIO_NAMES = ("payment-cpu", "db-slow", "gateway-errors")


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(
            help="Directory to write the bundle into (created; must be empty unless --force).",
            show_default=False,
        ),
    ],
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="The story: payment-cpu (a deploy burns payment CPU; default), db-slow"
            " (row-lock contention in PostgreSQL) or gateway-errors (the payment gateway"
            " fails).",
        ),
    ] = "payment-cpu",
    scale: Annotated[
        float,
        typer.Option(
            "--scale", help="Multiply the traffic (1: ~60 requests/min; 50: millions of records)."
        ),
    ] = 1.0,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed writes the same bytes.")
    ] = 42,
    gzip: Annotated[bool, typer.Option("--gzip", help="Gzip the text files (.gz).")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into a non-empty directory (replacing earlier demo files)."
        ),
    ] = False,
    format: FormatOpt = "table",
) -> None:
    """Write a demo incident bundle (an e-commerce checkout outage in logs, metrics, traces
    and profiles) to DIRECTORY; then run `obsctl ingest DIRECTORY`."""
    from obsctl.demo import generate
    from obsctl.errors import UsageError
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.render.demo import demo_listing

    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise UsageError(f"{directory} is not empty; use --force to write into it anyway")
    st = state(ctx)
    began = time.monotonic()
    summary = generate(directory, scenario=scenario, scale=scale, seed=seed, gzip=gzip)
    took = time.monotonic() - began
    out = make_console(sys.stdout, st.policy)
    formats.write(demo_listing(summary, took), format, sys.stdout, console=out)
    if not st.policy.quiet:
        typer.echo(f"next: obsctl ingest {directory}", err=True)
