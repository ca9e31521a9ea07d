"""The ingest progress bar: drawn on stderr only when it is an interactive terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from obsctl.render.console import OutputPolicy

if TYPE_CHECKING:
    from rich.console import Console


@contextmanager
def progress_reporter(
    console: Console, policy: OutputPolicy
) -> Iterator[Callable[[str, int, int], None] | None]:
    """Yield a ``progress(name, done, size)`` callback drawing a bar over bytes, or None.

    The bar counts bytes over all files seen so far (the total grows as files are met),
    so it needs no extra pass over the inputs.
    """
    from obsctl.render.console import interactive

    if not interactive(console.file, policy):  # type: ignore[arg-type]
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("ingesting", total=0)
        seen: dict[str, tuple[int, int]] = {}

        def progress(name: str, done: int, size: int) -> None:
            from obsctl.render.safe import clean

            seen[name] = (done, size)
            bar.update(
                task,
                completed=sum(d for d, _ in seen.values()),
                total=sum(s for _, s in seen.values()),
                description=clean(name)[-40:],
            )

        yield progress
