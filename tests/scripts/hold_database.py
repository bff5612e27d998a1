"""Open a Milvus Lite database and hold it until told to release it; used by the lock tests.

    python tests/scripts/hold_database.py DATABASE
Prints "holding", waits for a line on stdin, releases the database, prints "released", waits for another line.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from helpers.collection import database  # noqa: E402

client = database.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()
database.release_database(client)
print("released", flush=True)
sys.stdin.readline()
