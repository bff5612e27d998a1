"""Run the index_folder command line and press Ctrl+C after its Nth insert; used by tests/test_index_library.py.

    python tests/scripts/index_folder_and_stop.py N FOLDER [index_folder options...]

The Nth round's insert goes through, then a KeyboardInterrupt arrives as a Ctrl+C would; the process exits
with the command line's own status (130).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2])]

from helpers.collection import store  # noqa: E402
from helpers.commands import index_folder  # noqa: E402

stop_after, arguments = int(sys.argv[1]), sys.argv[2:]
calls = {"n": 0}
real_insert = store.insert_embeddings


def insert_then_stop(*args, **kwargs):
    """The round is stored, then the person presses Ctrl+C."""
    added = real_insert(*args, **kwargs)
    calls["n"] += 1
    if calls["n"] == stop_after:
        raise KeyboardInterrupt
    return added


store.insert_embeddings = insert_then_stop
sys.exit(index_folder.main(arguments))
