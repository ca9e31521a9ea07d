"""The colour and decoration policy, decided once at the edge.

stdout carries data, stderr carries talk (notes, warnings, progress, errors). Colour,
spinners and progress bars appear only when the stream is a terminal and neither
``NO_COLOR`` (https://no-color.org) nor ``--no-color`` asks otherwise. Nothing below the
CLI asks ``isatty()``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class OutputPolicy:
    """How the CLI may decorate its output."""

    no_color: bool = False
    """``--no-color`` was given (``NO_COLOR`` is checked separately)."""
    quiet: bool = False
    """``-q``: no notes or progress on stderr, only errors."""


def wants_color(stream: IO[str], policy: OutputPolicy) -> bool:
    """Colour only on a terminal, and never when NO_COLOR or --no-color say no."""
    if policy.no_color or os.environ.get("NO_COLOR", "") != "":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_console(
    stream: IO[str] | None, policy: OutputPolicy, *, width: int | None = None
) -> Console:
    """A Rich console for ``stream`` following the policy.

    Markup and highlighting are off: every styled piece is built explicitly, and data is
    never parsed for markup.
    """
    from rich.console import Console

    stream = stream if stream is not None else sys.stdout
    color = wants_color(stream, policy)
    is_tty = False
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        pass
    return Console(
        file=stream,
        color_system="auto" if color else None,
        no_color=not color,
        force_terminal=color or None,
        highlight=False,
        markup=False,
        emoji=False,
        width=width or (None if is_tty else _pipe_width()),
        soft_wrap=False,
    )


def _pipe_width() -> int:
    """Width for tables written to a pipe or file: COLUMNS if set, else generous."""
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 160


def interactive(stream: IO[str], policy: OutputPolicy) -> bool:
    """Whether progress bars/spinners may be drawn on this stream."""
    if policy.quiet:
        return False
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False
