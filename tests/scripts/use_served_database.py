"""Two "kernels" at once on the database that tools/serve_lab.py serves; used by tests/test_serve_lab.py.

    python tools/serve_lab.py --command python tests/scripts/use_served_database.py
Opens the database (MILVUS_URI, set by serve_lab.py), starts a second process that opens it too and inserts two
rows while this one still holds its client, then counts the rows from here and prints what it saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from helpers.collection import database, store  # noqa: E402

print("uri", os.environ.get("MILVUS_URI", ""), flush=True)
client = database.connect()
if sys.argv[1:] == ["second"]:
    vectors = np.eye(2, 8, dtype=np.float32)
    store.insert_embeddings(client, "shared", ["/a.jpg", "/b.jpg"], "x", vectors, "m", progress=False)
    sys.exit(0)
second = subprocess.run([sys.executable, __file__, "second"], capture_output=True, text=True, timeout=120)
print("second process:", "ok" if second.returncode == 0 else second.stderr[-2000:], flush=True)
print("images seen by the first:", store.count_images(client, "shared"), flush=True)
print("released a file:", database.release_database(client), flush=True)
