"""One way to connect to ClickHouse: a server over HTTP(S), or chDB in this process.

``clickhouse-connect`` (and ``chdb`` for embedded stores) are optional extras; a missing
one is a one-line ``UsageError`` naming the extra to install, never an ImportError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obsctl.errors import QueryError, StoreNotFound, UsageError
from obsctl.store import one_line

if TYPE_CHECKING:
    from obsctl.store.url import StoreURL


def connect(url: StoreURL, *, create: bool = False) -> Any:
    """A ``clickhouse_connect`` client for ``url`` (engine ``clickhouse`` or ``chdb``).

    Args:
        url: the parsed ``--store``.
        create: for chDB, create the directory (and the database) when absent; read
            commands pass ``False`` so a mistyped path is an error, not an empty store.

    Raises:
        UsageError: the optional packages are not installed.
        StoreNotFound: a chDB directory that does not exist (and ``create`` is false).
        QueryError: the server refused the connection or the credentials.
    """
    try:
        import clickhouse_connect
    except ImportError:
        raise UsageError(
            f"--store {url.display}: needs the ClickHouse client; "
            "install it with: pip install 'obsctl[clickhouse]'"
        ) from None
    if url.engine == "chdb":
        try:
            import chdb  # noqa: F401
        except ImportError:
            raise UsageError(
                f"--store {url.display}: needs chDB; install it with: pip install 'obsctl[chdb]'"
            ) from None
        assert url.path is not None
        if not create and not url.path.exists():
            raise StoreNotFound(f"no chDB store at {url.path}")
        url.path.mkdir(parents=True, exist_ok=True)
        try:
            client = clickhouse_connect.get_client(interface="chdb", path=str(url.path))
            if create and url.database != "default":
                client.command(f"CREATE DATABASE IF NOT EXISTS {url.database}")
            if url.database != "default":
                client.command(f"USE {url.database}")
                client.database = url.database
        except Exception as exc:  # chdb raises its own error classes
            raise QueryError(f"cannot open chDB store {url.path}: {one_line(exc)}") from None
        return client
    try:
        return clickhouse_connect.get_client(
            host=url.host,
            port=url.port,
            username=url.user,
            password=url.password,
            database=url.database,
            interface="https" if url.secure else "http",
            secure=url.secure,
            verify=url.verify,
            connect_timeout=10,
            send_receive_timeout=300,
        )
    except Exception as exc:
        raise QueryError(f"cannot connect to {url.display}: {one_line(exc)}") from None
