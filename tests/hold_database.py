"""Hold a Milvus Lite database open until stdin closes, as another notebook's kernel would (used by test_reset.py).

Usage: python tests/hold_database.py PATH/milvus.db   (prints "ready" once the database is open)
"""

from __future__ import annotations

import sys

from helpers import database


def main() -> None:
    client = database.connect(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    database.release_database(client)


if __name__ == "__main__":
    main()
