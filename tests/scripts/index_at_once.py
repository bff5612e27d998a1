"""Two processes index the same photos into one served database at the same moment; used by tests/test_serve_lab.py.

    python tools/serve_lab.py --command python tests/scripts/index_at_once.py
Starts two copies of itself ("runs"), waits until both have connected, lets them start together, and prints what
each said and how many rows (and distinct paths) the collection holds afterwards. Embedding is faked and slowed
down (1 s per round of 5 photos), so that the two runs overlap.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

import fake_embeddings  # noqa: E402

from helpers.collection import database, indexing  # noqa: E402
from helpers.vectors import embeddings  # noqa: E402

PATHS = [f"/photos/img{i:03d}.jpg" for i in range(20)]

if sys.argv[1:] == ["run"]:
    fake_embeddings.install()
    fast = embeddings.embed_images

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return fast(*args, **kwargs)

    embeddings.embed_images = slow
    client = database.connect()
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    try:
        added = indexing.index_images(client, "photos", PATHS, "dog", "fake", batch_size=5, progress=False)
        print("added", added, flush=True)
    except indexing.IndexingBusyError as err:
        print("busy:", err, flush=True)
    sys.exit(0)

runs = [subprocess.Popen([sys.executable, __file__, "run"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)]
for run in runs:
    assert run.stdout.readline().strip() == "ready"
for run in runs:
    run.stdin.write("go\n")
    run.stdin.flush()
for run in runs:
    said, _ = run.communicate(timeout=120)
    print("run said:", said.strip(), flush=True)
client = database.connect()
rows = client.query("photos", filter="", output_fields=["path"], limit=1000, consistency_level="Strong")
print("rows:", len(rows), "distinct paths:", len({row["path"] for row in rows}), flush=True)
