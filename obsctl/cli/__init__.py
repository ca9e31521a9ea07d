"""The ``obsctl`` command line: typer app, global options and error handling.

Commands live one module per group (``cli/ingest.py``, ``cli/status.py``…) and stay thin:
parse options, call one function of ``ingest``/``analysis``, hand the result to
``render``. Errors a user can cause are ``ObsctlError``s; ``ObsctlGroup`` turns them into
one plain line on stderr (``obsctl: error: …``) and the exit code from
``exit_codes.exit_code_for`` — also under ``CliRunner``, so tests see what users see.

Startup is a budget: this module and the command modules import only typer/rich-light
code at top level; duckdb, pyarrow and textual are imported inside command bodies.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from obsctl import __version__
from obsctl.cli.exit_codes import ExitCode, exit_code_for
from obsctl.cli.options import AppState, StoreOpt
from obsctl.errors import ObsctlError
from obsctl.render.console import OutputPolicy


def error_line(message: str) -> None:
    """Print ``obsctl: error: <message>`` to stderr: one plain line, no colour."""
    msg = " ".join(str(message).split())
    typer.echo(f"obsctl: error: {msg}", err=True)


class ObsctlGroup(TyperGroup):
    """A click group that reports ``ObsctlError`` as one line and an exit code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ObsctlError as exc:
            error_line(str(exc))
            raise typer.Exit(int(exit_code_for(exc))) from None
        except KeyboardInterrupt:
            typer.echo("obsctl: interrupted", err=True)
            raise typer.Exit(130) from None


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="obsctl",
    cls=ObsctlGroup,
    help=(
        "Investigate production incidents from exported telemetry: logs (what happened) → "
        "metrics (how much) → traces (where) → profiles (why)."
    ),
    context_settings=CONTEXT_SETTINGS,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"obsctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    store: StoreOpt = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour (also when NO_COLOR is set).")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No notes or progress on stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    ctx.obj = AppState(store=store, policy=OutputPolicy(no_color=no_color, quiet=quiet))


def _register() -> None:
    from obsctl.cli import (
        demo,
        export,
        ingest,
        investigate,
        logs,
        metrics,
        profiles,
        report,
        sql,
        status,
        traces,
        tui,
    )

    app.command("ingest", context_settings=CONTEXT_SETTINGS)(ingest.ingest)
    app.command("status", context_settings=CONTEXT_SETTINGS)(status.status)
    app.command("investigate", context_settings=CONTEXT_SETTINGS)(investigate.investigate)
    app.command("report", context_settings=CONTEXT_SETTINGS)(report.report)
    app.add_typer(logs.app, name="logs")
    app.add_typer(metrics.app, name="metrics")
    app.add_typer(traces.app, name="traces")
    app.add_typer(profiles.app, name="profiles")
    app.command("sql", context_settings=CONTEXT_SETTINGS)(sql.sql)
    app.command("export", context_settings=CONTEXT_SETTINGS)(export.export)
    app.command("demo", context_settings=CONTEXT_SETTINGS)(demo.demo)
    app.command("tui", context_settings=CONTEXT_SETTINGS)(tui.tui)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app(args=argv, prog_name="obsctl")
    except ObsctlError as exc:  # raised outside a command (e.g. in a callback)
        error_line(str(exc))
        sys.exit(int(exit_code_for(exc)))


__all__ = ["ExitCode", "app", "main"]
