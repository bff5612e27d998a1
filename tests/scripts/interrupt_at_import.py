"""Run the index_folder command line as `python -m` does, with Ctrl+C pressed while it imports a library.

    python tests/scripts/interrupt_at_import.py MODULE [index_folder arguments...]

Used by tests/test_mistakes.py: the first import of MODULE (torch, pymilvus) raises KeyboardInterrupt, as a
Ctrl+C during the seconds those imports take at start-up would.
"""

from __future__ import annotations

import importlib.abc
import runpy
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2])]


class PressCtrlC(importlib.abc.MetaPathFinder):
    """An import hook that raises KeyboardInterrupt when one module is first imported."""

    def __init__(self, module: str):
        self.module = module

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == self.module:
            raise KeyboardInterrupt
        return None


module, sys.argv = sys.argv[1], ["index_folder", *sys.argv[2:]]
sys.meta_path.insert(0, PressCtrlC(module))
runpy.run_module("helpers.commands.index_folder", run_name="__main__", alter_sys=True)
