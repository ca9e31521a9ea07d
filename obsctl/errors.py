"""Exceptions that carry a one-line, user-facing message.

Every error a user can cause (bad input, locked store, unknown format…) is an
``ObsctlError``; the CLI prints ``obsctl: error: <message>`` and maps the class to an
exit code (``obsctl.cli.exit_codes``). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ObsctlError(Exception):
    """Base class: ``str(exc)`` is a complete one-line message for the user."""


class UsageError(ObsctlError):
    """The command line asked for something that cannot be done (bad option value…)."""


class InputNotFound(ObsctlError):
    """A path, glob or source named on the command line matched nothing."""


class FormatNotDetected(ObsctlError):
    """No format module recognised a file's content (and no ``--format`` was given)."""


class IngestError(ObsctlError):
    """A file could not be loaded at all; the store was left as it was."""


class StoreLocked(ObsctlError):
    """Another process holds the store's write lock."""


class StoreSchemaTooNew(ObsctlError):
    """The store was written by a newer obsctl with migrations this one does not know."""


class StoreNotFound(ObsctlError):
    """A read-only command was pointed at a store that does not exist yet."""


class QueryError(ObsctlError):
    """A query (``obsctl sql`` or a filter expression) failed."""
