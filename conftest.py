"""pytest set-up shared by tests/ and the nbval run over notebooks/."""

from __future__ import annotations

import pytest


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
