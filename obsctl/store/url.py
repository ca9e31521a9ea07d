"""Where a store lives: ``--store`` as a path or a URL.

=====================================================  ===================================
``PATH`` or ``duckdb:///abs/path`` / ``duckdb:rel``     the local DuckDB store (default)
``clickhouse://user@host:8443/otel?secure=true``        a ClickHouse server written by the
                                                        OpenTelemetry Collector's exporter
``chdb:///path``                                        the same tables in an embedded
                                                        chDB directory (no server)
=====================================================  ===================================

The URL is parsed here rather than by ``clickhouse-connect``: its DSN parser ignores the
scheme when choosing TLS and raises on ``secure=true``. The password comes from
``$OBSCTL_CLICKHOUSE_PASSWORD`` (a password written in the URL is accepted, the variable
wins); ``StoreURL.display`` never shows it.

Query parameters of ``clickhouse://`` and ``chdb://``:

``secure``            ``true``/``false``: HTTPS (default: true on ports 8443 and 443)
``verify``            ``false`` skips TLS certificate verification
``logs_table``        exporter table names, when the collector was configured with others
``traces_table``      (defaults ``otel_logs``, ``otel_traces``, ``otel_metrics`` — the
``metrics_table``     metrics tables are ``<metrics_table>_gauge`` and so on)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from obsctl.errors import UsageError

PASSWORD_ENV = "OBSCTL_CLICKHOUSE_PASSWORD"

ENGINES = ("duckdb", "clickhouse", "chdb")

_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_KNOWN_PARAMS = {"secure", "verify", "logs_table", "traces_table", "metrics_table", "database"}


@dataclass(frozen=True)
class StoreURL:
    """A parsed ``--store`` value."""

    engine: str
    """``duckdb``, ``clickhouse`` or ``chdb``."""
    path: Path | None = None
    """The DuckDB file or chDB directory (``None`` for ``duckdb`` = default resolution)."""
    host: str = ""
    port: int = 0
    user: str = "default"
    password: str = field(default="", repr=False)
    database: str = "default"
    secure: bool = False
    verify: bool = True
    logs_table: str = "otel_logs"
    traces_table: str = "otel_traces"
    metrics_table: str = "otel_metrics"

    @property
    def remote(self) -> bool:
        """Whether the store is a ClickHouse engine (server or chDB) rather than DuckDB."""
        return self.engine != "duckdb"

    @property
    def display(self) -> str:
        """The location for messages, without the password."""
        if self.engine == "duckdb":
            return str(self.path) if self.path else "(default store)"
        if self.engine == "chdb":
            return f"chdb://{self.path}" + (
                f" (database {self.database})" if self.database != "default" else ""
            )
        scheme = "clickhouse"
        tls = "?secure=true" if self.secure else ""
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.database}{tls}"


def parse(value: str | os.PathLike[str] | None) -> StoreURL:
    """Parse ``--store``: a plain path (DuckDB) or one of the URL forms above.

    Raises:
        UsageError: an unknown scheme, a URL without a host or path, or a bad parameter.
    """
    if value is None or value == "":
        return StoreURL("duckdb")
    text = os.fspath(value)
    m = _SCHEME.match(text)
    if not m:
        if text.startswith("duckdb:"):
            return StoreURL("duckdb", Path(text[len("duckdb:") :]))
        return StoreURL("duckdb", Path(text))
    scheme = m.group("scheme").lower()
    if scheme not in ENGINES:
        raise UsageError(
            f"--store {text!r}: unknown scheme {scheme}:// (use a path, duckdb:///PATH, "
            "clickhouse://USER@HOST:PORT/DATABASE or chdb:///PATH)"
        )
    parts = urlsplit(text)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - _KNOWN_PARAMS)
    if unknown:
        raise UsageError(
            f"--store: unknown parameter {unknown[0]!r} (known: {', '.join(sorted(_KNOWN_PARAMS))})"
        )
    tables = {
        k: _table_name(params[k])
        for k in ("logs_table", "traces_table", "metrics_table")
        if k in params
    }
    if scheme == "duckdb":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise UsageError("--store duckdb:// needs a path: duckdb:///abs/path.duckdb")
        return StoreURL("duckdb", Path(path))
    if scheme == "chdb":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise UsageError("--store chdb:// needs a directory: chdb:///abs/dir")
        database = _identifier(params.get("database", "default"), "database")
        return StoreURL("chdb", Path(path), database=database, **tables)
    # clickhouse://
    if not parts.hostname:
        raise UsageError("--store clickhouse:// needs a host: clickhouse://USER@HOST:PORT/DB")
    try:
        port_given = parts.port
    except ValueError:
        raise UsageError(f"--store {text!r}: the port is not a number") from None
    secure = _flag(params.get("secure"), "secure")
    if secure is None:
        secure = port_given in (443, 8443)
    verify = _flag(params.get("verify"), "verify")
    database = parts.path.strip("/") or params.get("database", "default")
    return StoreURL(
        "clickhouse",
        host=parts.hostname,
        port=port_given or (8443 if secure else 8123),
        user=unquote(parts.username) if parts.username else "default",
        password=os.environ.get(PASSWORD_ENV) or unquote(parts.password or ""),
        database=_identifier(unquote(database), "database"),
        secure=secure,
        verify=True if verify is None else verify,
        **tables,
    )


def _flag(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in _TRUE or v == "":
        return True
    if v in _FALSE:
        return False
    raise UsageError(f"--store: {name}={value!r} is not true or false")


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _identifier(value: str, what: str) -> str:
    """Database and table names end up in SQL as identifiers: accept only plain names."""
    if not _IDENT.match(value):
        raise UsageError(f"--store: {what} {value!r} is not a plain name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def _table_name(value: str) -> str:
    return _identifier(value, "table")
