"""``obsctl tui [PATH…]``: the interactive triage app (``obsctl.tui``).

With paths, they are ingested first (as ``investigate`` does). The window and the store
are checked before the terminal switches to the app, so a typo or a missing store is one
line on stderr and an exit code, like every other command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from obsctl.cli.ingest import load_first
from obsctl.cli.options import (
    OneServiceOpt,
    PathsArg,
    SinceOpt,
    StoreOpt,
    UntilOpt,
    state,
    store_path,
)

VIEWS = ("overview", "logs", "metrics", "traces", "profiles")


def tui(
    ctx: typer.Context,
    paths: PathsArg = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    service: OneServiceOpt = None,
    view: Annotated[
        str,
        typer.Option(
            "--view", help="The view shown first: overview, logs, metrics, traces or profiles."
        ),
    ] = "overview",
    store: StoreOpt = None,
) -> None:
    """Triage interactively: overview, logs, metrics, traces (waterfall) and profiles.

    Keys 1-5 switch views, w sets the time window every view shares, ? lists the keys,
    ctrl+p opens the command palette, q quits.
    """
    from obsctl.errors import UsageError
    from obsctl.timewindow import WindowSpec

    if view not in VIEWS:
        raise UsageError(f"--view {view!r}: choose from {', '.join(VIEWS)}")
    WindowSpec.parse(since, until)  # a typo is a usage error before anything is loaded
    path = store_path(ctx, store)
    if paths:
        load_first(path, paths, state(ctx).policy)
    from obsctl.tui.app import ObsctlApp  # deferred: textual costs ~100 ms to import

    app = ObsctlApp(path, since=since, until=until, service=service, view=view)
    app.run()
