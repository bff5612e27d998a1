"""Import helpers.collection.store as a notebook cell would, and print what was raised, as JSON.

Used by tests/test_mistakes.py with a wrong MILVUS_URI. IPython shows an exception that has
`_render_traceback_` as the lines that method returns, instead of a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2])]

try:
    import helpers.collection.store  # noqa: F401
except Exception as err:  # whatever it is, the test wants to see it
    render = getattr(err, "_render_traceback_", None)
    print(json.dumps({"raised": type(err).__name__, "shown": render() if render else None}))
else:
    print(json.dumps({"raised": None}))
