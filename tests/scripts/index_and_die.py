"""Index 40 fake images in batches of 10 and get killed (SIGKILL) at the Nth insert; used by the store tests.

    python tests/scripts/index_and_die.py MODE N DATABASE FOLDER

MODE: after_insert (the Nth insert reaches Milvus, then the process dies before it sees the reply),
before_wal_write (Milvus Lite dies before writing the Nth batch) or torn_write (half the batch reaches the file).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

import fake_embeddings  # noqa: E402
from milvus_lite.storage import wal  # noqa: E402
from pymilvus import MilvusClient  # noqa: E402

from helpers.collection import database, indexing  # noqa: E402

mode, kill_at, db_path, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
calls = {"n": 0}


def die() -> None:
    """Stop at once, as a crash or a closed laptop would: no cleanup, no exception handling."""
    os.kill(os.getpid(), signal.SIGKILL)


def insert_then_die(self, *args, _insert=MilvusClient.insert, **kwargs):
    """The batch is stored; the caller never learns it."""
    result = _insert(self, *args, **kwargs)
    calls["n"] += 1
    if calls["n"] == kill_at:
        die()
    return result


def die_in_wal_write(self, batch, _write=wal.WAL.write_insert):
    """Milvus Lite's write of the Nth batch never happens, or only half of it reaches the file."""
    calls["n"] += 1
    if calls["n"] == kill_at:
        before = self._data_sink.tell() if self._data_sink else 0
        if mode == "torn_write":
            _write(self, batch)
            os.truncate(self.data_path, before + (os.path.getsize(self.data_path) - before) // 2)
        die()
    return _write(self, batch)


fake_embeddings.install()
if mode == "after_insert":
    MilvusClient.insert = insert_then_die
else:
    wal.WAL.write_insert = die_in_wal_write
client = database.connect(db_path)
paths = [os.path.join(folder, f"img{i:03d}.jpg") for i in range(40)]
indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False)
print("finished without being killed")
