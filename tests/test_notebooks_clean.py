"""The committed notebooks: clean, with the same setup cell, a Colab badge, a summary and exercises."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from helpers import config

sys.path.insert(0, str(config.REPO_ROOT / "tools"))
import clean_notebooks  # noqa: E402

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
EXPECTED = ["01_setup.ipynb", "02_feature_extraction.ipynb", "03_indexing.ipynb",
            "04_search_and_visualisation.ipynb", "05_comic_generation.ipynb"]
SETUP_CELL = f'''\
# Setup (safe to re-run): on Colab, install this tutorial's helpers; show the versions in use.
import sys

if "google.colab" in sys.modules:
    REPO_URL = "{config.REPO_URL}"
    %pip install --quiet "milvus-comics-tutorial @ git+{{REPO_URL}}"

from helpers import config

config.describe_environment()'''


def _load(name: str) -> dict:
    return json.loads((NOTEBOOK_DIR / name).read_text())


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_the_numbered_sequence_is_complete() -> None:
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_committed_clean(name: str) -> None:
    assert clean_notebooks.find_problems(_load(name)) == []


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_shape(name: str) -> None:
    cells = _load(name)["cells"]
    first_markdown = _source(cells[0])
    assert cells[0]["cell_type"] == "markdown" and first_markdown.startswith("# ")
    badge = f"https://colab.research.google.com/github/{config.REPO_URL.split('github.com/')[1]}/blob/main/notebooks/{name}"
    assert badge in first_markdown
    code_cells = [c for c in cells if c["cell_type"] == "code"]
    assert _source(code_cells[0]) == SETUP_CELL
    headings = [line for c in cells if c["cell_type"] == "markdown" for line in _source(c).splitlines()
                if line.startswith("#")]
    assert any("Summary" in h for h in headings) and any("Exercises" in h for h in headings)


@pytest.mark.parametrize("name", EXPECTED)
def test_checked_cells_carry_their_expected_output(name: str) -> None:
    checked = [c for c in _load(name)["cells"] if c["cell_type"] == "code"
               and clean_notebooks.CHECK_MARK in _source(c)]
    assert all(c["outputs"] for c in checked), "run the notebook, then tools/clean_notebooks.py, then commit"


def _dirty_notebook() -> dict:
    return {"metadata": {"widgets": {"state": {}}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "execution_count": 3, "metadata": {}, "source": "print(1)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}]},
        {"cell_type": "code", "execution_count": 4, "metadata": {}, "source": "# NBVAL_CHECK_OUTPUT\nfig",
         "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBOR"}},
                     {"output_type": "execute_result", "execution_count": 4, "metadata": {},
                      "data": {"text/plain": "(1000, 1280)"}}]},
        {"cell_type": "markdown", "metadata": {}, "source": "key = 'sk-proj-abcdefghijklmnopqrstuvwxyz012345'"},
    ]}


def test_problems_are_found_in_a_dirty_notebook() -> None:
    problems = " | ".join(clean_notebooks.find_problems(_dirty_notebook()))
    for expected in ("widget state", "cell 0: has an execution count", "not marked", "non-text output (image/png)",
                     "looks like a secret"):
        assert expected in problems
    assert "sk-proj-abcdefghij" not in problems  # the report itself must not repeat the secret


def test_cleaning_keeps_only_checked_text_outputs() -> None:
    cleaned = clean_notebooks.clean_notebook(copy.deepcopy(_dirty_notebook()))
    assert [c.get("execution_count") for c in cleaned["cells"][:2]] == [None, None]
    assert cleaned["cells"][0]["outputs"] == []
    assert [o["data"] for o in cleaned["cells"][1]["outputs"]] == [{"text/plain": "(1000, 1280)"}]
    assert [p for p in clean_notebooks.find_problems(cleaned) if "secret" not in p] == []
