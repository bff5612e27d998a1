"""Open Milvus: a Milvus Lite database by default, or a server or Zilliz Cloud, and release it again (notebook 03).

One setting picks the database: by default a Milvus Lite database (a folder) under the data folder (no server to run);
set MILVUS_URI (and MILVUS_TOKEN) to use a Milvus server or Zilliz Cloud with the same code. Milvus Lite lets
one process at a time open its file, so each notebook ends with `release_database`; a released client opens
its database again when it is next used. What is stored in the database, and how it is searched, is `store`.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pymilvus import MilvusClient
from pymilvus.exceptions import ConnectionConfigException, MilvusException

from helpers import config

# pymilvus pings an idle connection every 10 s, but the gRPC server inside Milvus Lite (in this process, or served by
# `milvus-lite server`) keeps gRPC's default policy, at most one ping per 5 minutes without calls: after a few pings
# it hangs up, and the gRPC core prints "GOAWAY ... too_many_pings" to the kernel's stderr about 2 minutes into any
# pause. On the loopback interface there is no dead connection to detect, so the client does not ping there at all.
_LOOPBACK_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 2**31 - 1}  # gRPC's "never"


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class _Database:
    """How a client was opened, so that a released client can open the same database again."""

    uri: str
    token: str
    lite_path: Path | None  # the Milvus Lite database this process serves itself; None for a server


_DATABASES: weakref.WeakKeyDictionary[MilvusClient, _Database] = weakref.WeakKeyDictionary()


_LITE_PATHS: weakref.WeakKeyDictionary[MilvusClient, Path] = weakref.WeakKeyDictionary()  # open in-process files


_RELEASED: weakref.WeakSet[MilvusClient] = weakref.WeakSet()  # clients closed by release_database


class StoreError(RuntimeError):
    """A Milvus operation failed; the message says what happened and what to do."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: the message, which says what to do, without a traceback of library internals."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class DatabaseLockedError(StoreError):
    """Another process (usually another notebook's kernel) has the Milvus Lite database open."""


def connect(uri: str | None = None, token: str | None = None) -> MilvusClient:
    """Open Milvus: the Milvus Lite database by default, or the server in MILVUS_URI / `uri` (notebook 03)."""
    settings = config.load_settings()
    uri = uri or settings.resolved_milvus_uri
    token = settings.milvus_token if token is None else token
    lite_path = Path(uri).expanduser().resolve() if uri.endswith(".db") else None
    database = _Database(str(lite_path) if lite_path else uri, token, lite_path)
    client = MilvusClient.__new__(MilvusClient)
    _open(client, database)
    return client


def _open(client: MilvusClient, database: _Database) -> None:
    """(Re)initialise `client` on `database`, turning a lock conflict or an unreachable server into advice."""
    if database.lite_path is not None:
        database.lite_path.parent.mkdir(parents=True, exist_ok=True)
        with captured_logs("milvus_lite.server_manager") as records:
            try:
                MilvusClient.__init__(client, database.uri, grpc_options=_LOOPBACK_GRPC_OPTIONS)
            except ConnectionConfigException:
                raise _lite_open_error(database.lite_path, records) from None  # its cause is in the advice
        _LITE_PATHS[client] = database.lite_path
    else:
        options = {"grpc_options": _LOOPBACK_GRPC_OPTIONS} if _is_loopback(database.uri) else {}
        with captured_logs("pymilvus.decorators"):
            try:
                MilvusClient.__init__(client, uri=database.uri, token=database.token, **options)
            except MilvusException as err:
                raise StoreError(
                    f"Could not connect to Milvus at {database.uri}: {err.message}. Check that the server is running "
                    "and that MILVUS_URI (and MILVUS_TOKEN) are right, or unset MILVUS_URI to use the local Milvus "
                    "Lite file.") from None
    _DATABASES[client] = database
    _RELEASED.discard(client)


def _is_loopback(uri: str) -> bool:
    """True for a server on this machine's loopback interface (http://127.0.0.1:19530, localhost, [::1])."""
    return urlsplit(uri).netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0].lower() in _LOOPBACK_HOSTS


def _lite_open_error(path: Path, records: list[logging.LogRecord]) -> StoreError:
    """Explain why Milvus Lite could not open `path`, from the log records of the failed start."""
    from milvus_lite.exceptions import DataDirLockedError

    causes = [r.exc_info[1] for r in records if r.exc_info and r.exc_info[1] is not None]
    if any(isinstance(cause, DataDirLockedError) for cause in causes):
        return DatabaseLockedError(
            f"The Milvus Lite database {path} is open in another process (usually another notebook's kernel: "
            "Milvus Lite allows one process per database). To go on, either shut that kernel down "
            "(Kernel > Shut Down Kernel) or run its last cell, `database.release_database(client)`, then run this cell "
            "again. To keep several notebooks open at once, start JupyterLab with `make run`, which serves the "
            "database to every notebook; or serve it yourself with "
            f"`milvus-lite server --data-dir {path} --host 127.0.0.1 --port 19530` in a terminal and set "
            "MILVUS_URI=http://127.0.0.1:19530."
        )
    cause = "; ".join(f"{type(c).__name__}: {c}" for c in causes) or "no reason given"
    return StoreError(f"Milvus Lite could not open {path} ({cause}). Check that the folder is writable, "
                      "or point TUTORIAL_DATA_DIR somewhere else.")


@contextlib.contextmanager
def captured_logs(logger_name: str) -> Iterator[list[logging.LogRecord]]:
    """Collect (and keep off the screen) what a library logs while the helpers turn its errors into theirs."""
    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return False

    logger = logging.getLogger(logger_name)
    logger.addFilter(keep)
    try:
        yield records
    finally:
        logger.removeFilter(keep)


def release_database(client: MilvusClient) -> bool:
    """Close `client`; True when that freed a Milvus Lite database for other processes (notebook 03).

    Only the Milvus Lite database that this process opens itself has a lock; a server (or a Milvus Lite database served
    by `make run`) needs no release. A released client is not dead: the helpers open its database again when it is
    next used (and so take the lock again).
    """
    path = _LITE_PATHS.pop(client, None)
    client.close()
    _RELEASED.add(client)
    if path is not None:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(path))
    return path is not None


def ensure_open(client: MilvusClient) -> None:
    """Open the database again for a client that release_database closed (so the explorer outlives Run All)."""
    if client in _RELEASED:
        database = _DATABASES.get(client)
        if database is None:  # not made by database.connect: we cannot know where it pointed
            raise StoreError("This client was closed by database.release_database(client). "
                             "Connect again with `client = database.connect()` and run the cell again.")
        _open(client, database)


def opened_as(client: MilvusClient) -> tuple[str, str] | None:
    """The (uri, token) that `connect` opened `client` with, so another process can open the same database."""
    database = _DATABASES.get(client)
    return (database.uri, database.token) if database is not None else None


def is_lite(client: MilvusClient) -> bool:
    """True when `client` talks to Milvus Lite (its version string starts with milvus_lite)."""
    database = _DATABASES.get(client)
    return (database is not None and database.lite_path is not None) or \
        client.get_server_version().startswith("milvus_lite")


def address(client: MilvusClient) -> str:
    """The database a client opened with `connect`: its Milvus Lite database or its server's URI ("" if unknown)."""
    database = _DATABASES.get(client)
    return database.uri if database is not None else ""
