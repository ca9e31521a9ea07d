"""Exit codes: one enum, one mapping from exception to code (documented in the README)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``obsctl``'s exit status means."""

    OK = 0
    """Success."""
    ERROR = 1
    """An unexpected internal error (a bug: please report it)."""
    USAGE = 2
    """The command line is wrong (unknown option, bad value, unknown format name)."""
    NOT_FOUND = 3
    """A named input, store or object does not exist."""
    INPUT = 4
    """Input could not be loaded: format not recognised, or a file failed to load."""
    LOCKED = 5
    """Another obsctl process holds the store's write lock."""
    INCOMPATIBLE = 6
    """The store was written by a newer obsctl."""
    QUERY = 7
    """A query failed (``obsctl sql`` or a filter)."""
    NOTHING_FOUND = 8
    """``obsctl investigate`` found nothing that left its baseline (all quiet)."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an ``ObsctlError`` (``ERROR`` for anything unexpected)."""
    from obsctl import errors

    table: list[tuple[type[BaseException], ExitCode]] = [
        (errors.UsageError, ExitCode.USAGE),
        (errors.InputNotFound, ExitCode.NOT_FOUND),
        (errors.StoreNotFound, ExitCode.NOT_FOUND),
        (errors.FormatNotDetected, ExitCode.INPUT),
        (errors.IngestError, ExitCode.INPUT),
        (errors.StoreLocked, ExitCode.LOCKED),
        (errors.StoreSchemaTooNew, ExitCode.INCOMPATIBLE),
        (errors.QueryError, ExitCode.QUERY),
    ]
    for cls, code in table:
        if isinstance(exc, cls):
            return code
    return ExitCode.ERROR
