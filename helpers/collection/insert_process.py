"""Store the rows from a second process, so that a GPU pipeline has the interpreter to itself (notebook 06).

Milvus Lite is pure Python and runs inside the process that opens it. On a GPU, where decoding and the model
keep one Python process busy, its inserts (about 0.4-0.9 ms of CPU a row, the client's packing included) take
turns with them on the interpreter lock. `InsertProcess` opens the same database in a process of its own: the
indexing process lets go of a Milvus Lite database for the run (one process at a time may open it) and opens
it again after. Each round goes through a pipe and is answered once stored, so it is still stored whole or not
at all, and the progress bar still counts only what is stored. docs/performance.md has the figures.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from pymilvus import MilvusClient

from helpers.collection import database, store


class InsertProcess:
    """A process that holds its own connection to the client's database and inserts the rounds sent to it."""

    def __init__(self, client: MilvusClient, collection_name: str):
        opened = database.opened_as(client)
        if opened is None:
            raise ValueError("InsertProcess needs a client made by collection.connect (it opens the same database).")
        self._client, self._collection_name = client, collection_name
        database.release_database(client)  # Milvus Lite: one process per database; a server: nothing to free
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no gRPC threads copied by a fork
        self._connection, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, *opened, collection_name),
                                        name="milvus-insert", daemon=True)
        self._process.start()
        theirs.close()

    def insert(self, keys: Sequence[str], labels: Sequence[str], vectors: np.ndarray, model_name: str,
               metadata: Sequence[Mapping[str, Any]]) -> int:
        """`store.insert_embeddings` there (no flush, the collection already checked): the rows added."""
        return self._call("insert", list(keys), list(labels), vectors, model_name, list(metadata))

    def flush(self) -> None:
        """`store.flush_inserts` there: on Milvus Lite, seal the rows and wait for their index."""
        self._call("flush")

    def close(self) -> None:
        """Stop the process once the round under way is stored, and open the database here again."""
        with contextlib.suppress(OSError):
            self._connection.send(None)
        self._connection.close()  # it stops even if a second Ctrl+C cuts the wait short
        self._process.join()
        database.ensure_open(self._client)
        if self._client.has_collection(self._collection_name):  # as before the run (Milvus Lite opens it released)
            self._client.load_collection(self._collection_name)

    def __enter__(self) -> InsertProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, *request: object) -> Any:
        """Send one request and wait for its answer; raise the error it met there, or say the process died."""
        try:
            self._connection.send(request)
            status, value = self._connection.recv()
        except (EOFError, OSError):
            self._process.join(timeout=10)
            raise database.StoreError(
                f"The process that stores the photos stopped (exit code {self._process.exitcode}; anything it "
                "printed went to the terminal that runs Python or JupyterLab). The rounds already counted are "
                "stored; run the indexing again to add the rest.") from None
        if status == "error":
            raise value
        return value


def _serve(connection: Connection, uri: str, token: str, collection_name: str) -> None:
    """The insert process: open the database, answer requests until told to stop, then close the database."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the indexing process's to handle; it stops us after
    client, failure = None, None
    try:
        client = database.connect(uri, token)
        if client.has_collection(collection_name):  # loaded, as it was there: Milvus Lite indexes only a loaded one
            client.load_collection(collection_name)
    except Exception as err:  # noqa: BLE001 - every request is answered with it
        failure = err
    try:
        while (request := _next_request(connection)) is not None:
            try:
                if failure is not None:
                    raise failure
                connection.send(("ok", _handle(client, collection_name, request)))
            except Exception as err:  # noqa: BLE001 - sent back, raised in the indexing process
                connection.send(("error", _sendable(err)))
    finally:
        if client is not None:
            database.release_database(client)


def _next_request(connection: Connection) -> tuple | None:
    """The next request, or None when told to stop or when the indexing process has gone."""
    try:
        return connection.recv()
    except (EOFError, OSError):
        return None


def _handle(client: MilvusClient, collection_name: str, request: tuple) -> Any:
    """Carry out one request: ("insert", keys, labels, vectors, model_name, metadata) or ("flush",)."""
    kind, *args = request
    if kind == "insert":
        keys, labels, vectors, model_name, metadata = args
        return store.insert_embeddings(client, collection_name, keys, labels, vectors, model_name,
                                       metadata=metadata, progress=False, flush=False, checked=True)
    if kind == "flush":
        return store.flush_inserts(client, collection_name)
    raise ValueError(f"Unknown request {kind!r}.")


def _sendable(err: Exception) -> Exception:
    """The error itself if it survives the pipe, else a StoreError with its type and message."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - e.g. an exception class whose __init__ wants other arguments
        return database.StoreError(f"{type(err).__name__}: {err}")
