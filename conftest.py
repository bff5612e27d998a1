"""pytest set-up shared by tests/ and the nbval run over notebooks/."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent / "tools"


def pytest_configure(config: pytest.Config) -> None:
    """Keep what nbval executes for the site, and name the marker of the site's browser test.

    tools/executed_notebooks.py writes each notebook nbval ran, outputs included, into SAVE_EXECUTED_NOTEBOOKS
    (`make test` and `make notebooks` set it); `make site` builds the site from that folder, so nothing runs twice.
    """
    spec = importlib.util.spec_from_file_location("executed_notebooks", TOOLS / "executed_notebooks.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    config.pluginmanager.register(plugin, "executed_notebooks")
    config.addinivalue_line("markers", "site: opens the built site (make site) in headless chromium (test_site.py)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Let nbval compare the committed outputs of `# NBVAL_CHECK_OUTPUT` cells.

    Notebooks are committed without execution counts, and nbval treats a cell with outputs but no
    execution count as an error ("Unrun reference cell has outputs"). The count only tells nbval that
    the stored outputs are real, so it is set here, in memory, for the cells that carry outputs.
    """
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's notebook cell items
        if cell is not None and cell.get("outputs") and cell.get("execution_count") is None:
            cell["execution_count"] = 1
    if any(getattr(item, "cell", None) is not None for item in items):
        _tick_for_nobody()


def _tick_for_nobody() -> None:
    """Nobody ticks notebook 06's photo picker in an nbval run: it ticks the demo folder's photos of the dog itself.

    The kernels nbval starts after collection inherit UNATTENDED_PICKS; a learner's kernel never has it, and then
    only a person's ticks count (helpers/pictures/picker.py).
    """
    from helpers.photos.demo_library import DEMO_DOG
    from helpers.pictures.picker import UNATTENDED_PICKS

    os.environ.setdefault(UNATTENDED_PICKS, ",".join(DEMO_DOG))
