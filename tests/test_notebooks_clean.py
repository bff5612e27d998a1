"""The committed notebooks: clean, with the same setup cell, a Colab badge, a summary and exercises.

The badge and the setup cell come from config.REPO_URL and config.REPO_REF through
tools/sync_notebook_headers.py (`make clean-notebooks`); the tests below keep the files in step with it.
"""

from __future__ import annotations

import copy
import json
import sys

import pytest

from helpers import config

sys.path.insert(0, str(config.REPO_ROOT / "tools"))
import clean_notebooks  # noqa: E402
import sync_notebook_headers as headers  # noqa: E402

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
EXPECTED = ["01_setup.ipynb", "02_feature_extraction.ipynb", "03_indexing.ipynb",
            "04_search_and_visualisation.ipynb", "05_comic_generation.ipynb", "06_your_own_photos.ipynb"]


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
    assert headers.badge(name) in first_markdown.splitlines(), "run tools/sync_notebook_headers.py"
    code_cells = [c for c in cells if c["cell_type"] == "code"]
    assert _source(code_cells[0]) == headers.setup_cell(), "run tools/sync_notebook_headers.py"
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


def test_setup_cell_installs_the_configured_repository_only_on_colab() -> None:
    lines = headers.setup_cell().splitlines()
    pip_lines = [line for line in lines if "%pip" in line]
    assert pip_lines == [f"    %pip install --quiet git+{config.REPO_URL}@{config.REPO_REF}"]
    assert lines[lines.index(pip_lines[0]) - 1] == 'if "google.colab" in sys.modules:'
    assert "from helpers import config" in lines and "jupyterlab" not in headers.setup_cell()
    assert max(len(line) for line in lines) <= headers.MAX_CODE_LINE


def test_a_published_tag_pins_the_install_and_the_badges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "REPO_REF", "v9.8.7")
    assert f"git+{config.REPO_URL}@v9.8.7" in headers.setup_cell()
    assert headers.colab_url("01_setup.ipynb") == (
        f"https://colab.research.google.com/github/{config.REPO_URL.removeprefix('https://github.com/')}"
        "/blob/v9.8.7/notebooks/01_setup.ipynb")


@pytest.mark.parametrize("url", ["https://gitlab.com/someone/tutorial", "https://github.com/only-owner",
                                 "git@github.com:someone/tutorial.git"])
def test_a_repository_colab_cannot_open_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setattr(config, "REPO_URL", url)
    with pytest.raises(ValueError, match="REPO_URL"):
        headers.setup_cell()


def test_the_tool_rewrites_a_notebook_out_of_step() -> None:
    notebook = _load("03_indexing.ipynb")
    expected = copy.deepcopy(notebook)
    notebook["cells"][0]["source"] = ["# 03 · Indexing\n", "\n",
                                      "[![Open In Colab](" + headers.BADGE_IMAGE + ")](https://example.org/old)"]
    setup = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    setup["source"] = ["%pip install something-else\n", "import helpers"]
    synced = headers.sync_notebook(notebook, "03_indexing.ipynb")
    assert _source(synced["cells"][0]).splitlines()[2] == headers.badge("03_indexing.ipynb")
    assert _source(next(c for c in synced["cells"] if c["cell_type"] == "code")) == headers.setup_cell()
    assert headers.sync_notebook(copy.deepcopy(expected), "03_indexing.ipynb") == expected  # in step: unchanged


def test_the_tool_adds_a_missing_badge_under_the_title() -> None:
    assert headers.with_badge("# Title\n\nText", "x.ipynb").split("\n")[:3] == ["# Title", "", headers.badge("x.ipynb")]


def test_readme_colab_links_follow_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (config.REPO_ROOT / "README.md").read_text()
    assert headers.sync_readme(readme) == readme, "run tools/sync_notebook_headers.py"
    assert all(headers.colab_url(name) in readme for name in EXPECTED)
    monkeypatch.setattr(config, "REPO_REF", "v9.8.7")
    assert all(f"/blob/v9.8.7/notebooks/{name}" in headers.sync_readme(readme) for name in EXPECTED)
