"""Options shared by many commands, defined once (``Annotated`` aliases)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from obsctl.render.console import OutputPolicy

# Keep in sync with obsctl.render.formats.names(); importing the registry here would be
# cheap, but a literal list keeps the help text static and the test checks they agree.
OUTPUT_FORMATS = ("table", "json", "ndjson", "csv")


def _check_format(value: str) -> str:
    if value not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"choose from {', '.join(OUTPUT_FORMATS)}")
    return value


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="OBSCTL_STORE",
        help="Store: a DuckDB file, or a URL duckdb:///PATH, clickhouse://USER@HOST:PORT/DB"
        "[?secure=true] (password in $OBSCTL_CLICKHOUSE_PASSWORD), chdb:///DIR"
        " [default: ./.obsctl/store.duckdb; env OBSCTL_STORE].",
        show_default=False,
    ),
]

FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="Output format: table, json, ndjson or csv.",
        callback=_check_format,
    ),
]


@dataclass
class AppState:
    """What the top-level callback parsed, handed to every command through ``ctx.obj``."""

    store: str | None = None
    """``--store`` given before the command (a path or a URL)."""
    policy: OutputPolicy = field(default_factory=OutputPolicy)
    """Colour/quiet policy."""


def state(ctx: typer.Context) -> AppState:
    """The ``AppState`` of this invocation (a default one when called in isolation)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, AppState) else AppState()


def store_path(ctx: typer.Context, store: str | None) -> str | None:
    """The command's ``--store``, else the global one (``None`` = default resolution)."""
    return store or state(ctx).store


SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Start: a duration before the end of the data (15m, 2h, 1d) or a UTC time "
        "(2026-03-26T16:30:00Z, '2026-03-26 16:30').",
        show_default=False,
    ),
]

UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="End (exclusive), in the same forms as --since.",
        show_default=False,
    ),
]

ServiceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--service",
        "-s",
        help="Only this service (repeat for several).",
        show_default=False,
    ),
]

BaselineOpt = Annotated[
    str | None,
    typer.Option(
        "--baseline",
        help="Window to compare with: a duration just before --since (20m) or START..END"
        " [default: everything before --since].",
        show_default=False,
    ),
]

OneServiceOpt = Annotated[
    str | None,
    typer.Option("--service", "-s", help="Only this service.", show_default=False),
]


def group(name: str, help: str | None = None, **kwargs: Any) -> typer.Typer:
    """A command group (``obsctl logs``, ``obsctl traces``…) set up like every other:
    ``-h``, no Rich markup in help, no pretty tracebacks, help when run bare."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(
        name=name,
        help=help,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        **kwargs,
    )


def note(policy: OutputPolicy, message: str) -> None:
    """A note for people on stderr (left out with ``-q``); stdout stays data."""
    if not policy.quiet:
        typer.echo(message, err=True)


PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Telemetry to load first (files, directories, globs); already loaded"
        " content is skipped.",
        show_default=False,
    ),
]
"""``[PATH…]`` of the commands that ingest before they analyse (investigate, report, tui)."""


# Command group → the signals its commands read (a remote store loads only those).
_GROUP_SIGNALS = {
    "logs": ("logs",),
    "metrics": ("metrics",),
    "traces": ("traces",),
    "profiles": (),
    "status": (),
}


def read_store(ctx: typer.Context, store: str | None, locate: Any = None) -> Any:
    """The command's store, opened read-only: what every read command works on (a
    ``Store``, to use in a ``with`` block; a missing store is exit code 3).

    For a ClickHouse/chDB ``--store`` the command's own ``--since``/``--until``/
    ``--baseline``/``--service`` (read from the context) choose what is fetched, and a
    note on stderr says what was. ``locate``: see ``obsctl.store.open_read``.
    """
    from obsctl.store import open_read

    params = ctx.params
    words = ctx.command_path.split()
    group = next((w for w in words[1:] if w in _GROUP_SIGNALS), None)
    services = params.get("service") or ()
    if isinstance(services, str):
        services = (services,)
    s = open_read(
        store_path(ctx, store),
        since=params.get("since"),
        until=params.get("until"),
        baseline=params.get("baseline"),
        compares="baseline" in params,
        # investigate/report keep every service: suspects are found across them
        services=tuple(services) if group in ("logs", "metrics") else (),
        signals=_GROUP_SIGNALS[group] if group else ("logs", "traces", "metrics"),
        locate=locate,
    )
    loaded = getattr(s, "loaded", None)
    if loaded is not None and any(loaded.rows.values()):
        note(state(ctx).policy, _loaded_note(s, loaded))
    return s


def _loaded_note(s: Any, loaded: Any) -> str:
    from obsctl.render.units import fmt_count

    names = {"logs": "log records", "traces": "spans", "metrics": "metric points"}
    parts = [f"{fmt_count(n)} {names[k]}" for k, n in loaded.rows.items()]
    text = f"{s.location}: read {', '.join(parts)}"
    if loaded.narrowed:
        text += " (the last hour: the whole store is over the row cap; use --since for more)"
    if getattr(s, "located", None):
        from obsctl.render.units import fmt_time

        text += (
            f" from {fmt_time(s.located[0], precision='s')}: the whole store is over the row"
            f" cap, so the incident (from {fmt_time(s.located[1], precision='s')}) was"
            " located in ClickHouse first and read with what fits of the time before it"
            " as the baseline"
        )
    return text


def emit(policy: OutputPolicy, format: str, data: Any, view: Any = None) -> None:
    """Print a list on stdout in ``format``: the table through ``view`` (data → ``Listing``,
    with the column registry's widths and styles), the other formats as the data itself.

    The one place a list command hands its rows to ``render.formats``; ``view=None``
    means ``data`` is already a ``Listing`` (or a plain table) for every format.
    """
    import sys

    from obsctl.render import formats
    from obsctl.render.console import make_console

    shown = view(data) if view is not None and format == "table" else data
    formats.write(shown, format, sys.stdout, console=make_console(sys.stdout, policy))
