"""Embed photos through the GPU path's worker processes while Milvus Lite's gRPC threads are busy.

    python tests/scripts/workers_beside_grpc.py DATABASE PHOTO...

Forking a process whose gRPC threads are in a call made gRPC print "Other threads are currently calling into
gRPC, skipping fork() handlers" once per worker; the test checks that nothing of the kind reaches stderr.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from helpers.collection import database, store  # noqa: E402
from helpers.vectors import embeddings, models  # noqa: E402


def main() -> None:
    db_path, photos = sys.argv[1], [Path(p) for p in sys.argv[2:]]
    client = database.connect(db_path)
    store.create_collection(client, "busy", 8, "efficientnet_lite0", recreate=True)
    stop = threading.Event()

    def keep_grpc_busy() -> None:
        while not stop.is_set():
            client.query("busy", filter="", output_fields=["path"], limit=1)

    busy = threading.Thread(target=keep_grpc_busy, daemon=True)
    busy.start()
    embeddings.MIN_IMAGES_FOR_WORKERS = 1
    files = embeddings._ImageFiles(photos, models.load_transform(), models.decode_side())
    batches = list(embeddings._run_with_workers(files, "efficientnet_lite0", "torch", batch_size=2))
    stop.set()
    busy.join()
    database.release_database(client)
    print(f"embedded {sum(len(batch.indices) for batch in batches)}")


if __name__ == "__main__":
    main()
