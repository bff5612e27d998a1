"""Import the workshop helpers and report what that loaded (used by test_checks.py): nothing heavy, nothing opened.

Prints one line: the heavy modules that importing
`helpers.commands.checks` and `helpers.commands.reset` loaded (none expected).
"""

from __future__ import annotations

import sys

import helpers.commands.checks  # noqa: F401
import helpers.commands.reset  # noqa: F401

HEAVY = ("torch", "timm", "pymilvus", "milvus_lite", "onnxruntime", "openai")

if __name__ == "__main__":
    print(",".join(name for name in HEAVY if name in sys.modules) or "none")
