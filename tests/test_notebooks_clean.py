"""The committed notebooks: clean, with the same setup cell, a Colab badge, a summary and exercises; the
solutions notebooks (solutions/), one per tutorial notebook, quote every exercise and are just as clean;
deep-dive sections can be skipped.

The badge, the setup cell and the exercises quoted in the solutions come from config.REPO_URL,
config.REPO_REF and the notebooks through tools/sync_notebook_headers.py (`make clean-notebooks`); the tests
below keep the files in step with it.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys

import pytest

from helpers import config

sys.path.insert(0, str(config.REPO_ROOT / "tools"))
import clean_notebooks  # noqa: E402
import sync_notebook_headers as headers  # noqa: E402

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
SOLUTIONS_DIR = config.REPO_ROOT / "solutions"
EXPECTED = ["01_setup.ipynb", "02_feature_extraction.ipynb", "03_indexing.ipynb",
            "04_search_and_visualisation.ipynb", "05_comic_generation.ipynb", "06_your_own_photos.ipynb"]
# Tutorial notebooks whose solutions are written.
SOLVED = ["01_setup.ipynb", "02_feature_extraction.ipynb", "03_indexing.ipynb",
          "04_search_and_visualisation.ipynb", "05_comic_generation.ipynb", "06_your_own_photos.ipynb"]
DEEP_DIVE = "(deep dive: skip in a workshop)"  # the end of a skippable section's heading


def _load(name: str) -> dict:
    return json.loads((NOTEBOOK_DIR / name).read_text())


def _load_solutions(name: str) -> dict:
    return json.loads((SOLUTIONS_DIR / headers.solutions_name(name)).read_text())


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


@pytest.mark.parametrize("printed", ["mAP@10 >= 0.78: True\n", "ok: False, again\n", "True\n",
                                     "100%|##########| 1000/1000 [00:05<00:00, 190.2it/s]\n"])
def test_a_checked_cell_that_prints_a_boolean_or_a_bar_is_a_problem(printed: str) -> None:
    notebook = {"metadata": {}, "cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                                           "source": "# NBVAL_CHECK_OUTPUT\nprint(x)", "outputs": [
                                               {"output_type": "stream", "name": "stdout", "text": printed}]}]}
    assert clean_notebooks.find_problems(notebook), printed
    notebook["cells"][0]["outputs"][0]["text"] = "mAP@10: 0.82\nlabels: ['Afghan_hound'] (True labels: 3)\n"
    assert clean_notebooks.find_problems(notebook) == []


@pytest.mark.parametrize("name", EXPECTED)
def test_the_picker_is_ticked_by_people_only(name: str) -> None:
    """No notebook ticks photos for the learner (an unattended run sets UNATTENDED_PICKS instead), and no
    setting exists only for CI."""
    code = "\n".join(_source(c) for c in _load(name)["cells"] if c["cell_type"] == "code")
    assert ".tick(" not in code and "auto_pick" not in code and "(CI)" not in code


@pytest.mark.parametrize("name", EXPECTED)
def test_a_notebook_opens_with_what_you_will_build(name: str) -> None:
    assert "**What you'll build" in _source(_load(name)["cells"][0])


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


# --- solutions ------------------------------------------------------------------------------------------------


def test_every_solutions_notebook_solves_a_notebook() -> None:
    assert sorted(p.name for p in SOLUTIONS_DIR.glob("*.ipynb")) == sorted(map(headers.solutions_name, SOLVED))


@pytest.mark.parametrize("name", SOLVED)
def test_solutions_are_committed_clean(name: str) -> None:
    solutions = _load_solutions(name)
    assert clean_notebooks.find_problems(solutions) == []
    checked = [c for c in solutions["cells"] if c["cell_type"] == "code" and clean_notebooks.CHECK_MARK in _source(c)]
    assert all(c["outputs"] for c in checked), "run the solutions, then tools/clean_notebooks.py, then commit"


@pytest.mark.parametrize("name", SOLVED)
def test_solutions_shape(name: str) -> None:
    solutions_name, cells = headers.solutions_name(name), _load_solutions(name)["cells"]
    assert cells[0]["cell_type"] == "markdown" and _source(cells[0]).startswith("# ")
    assert headers.badge(solutions_name, "solutions") in _source(cells[0]).splitlines()
    assert f"(../notebooks/{name})" in _source(cells[0])  # back to the exercises
    code = [_source(c) for c in cells if c["cell_type"] == "code"]
    assert code[0] == headers.setup_cell(), "run tools/sync_notebook_headers.py"
    if any("database.connect(" in text for text in code):
        assert "database.release_database(" in code[-1], "end by releasing Milvus Lite for the next notebook"


@pytest.mark.parametrize("name", SOLVED)
def test_solutions_quote_every_exercise_and_are_linked(name: str) -> None:
    notebook, solutions = _load(name), _load_solutions(name)
    ids = [c["id"] for c in solutions["cells"] if c["id"].startswith("exercise-")]
    assert ids == [f"exercise-{n}" for n in range(1, len(headers.exercises(notebook)) + 1)], \
        "one exercise-N cell per exercise of the notebook, in order, each followed by its solution"
    synced = headers.sync_solutions(copy.deepcopy(solutions), copy.deepcopy(notebook), name)
    assert synced == (solutions, notebook), "run tools/sync_notebook_headers.py"
    positions = [i for i, c in enumerate(solutions["cells"]) if c["id"].startswith("exercise-")]
    for start, end in zip(positions, [*positions[1:], len(solutions["cells"])]):
        assert any(c["cell_type"] == "code" for c in solutions["cells"][start + 1:end]) or \
            len(_source(solutions["cells"][start + 1])) > 200, f"{solutions['cells'][start]['id']} has no solution"


def test_exercises_are_read_with_their_indented_lines() -> None:
    notebook = {"cells": [{"cell_type": "markdown", "source": [
        "## Summary\n", "\n", "1. not an exercise\n", "\n", "## Exercises\n", "\n",
        "1. Do this\n", "   and that.\n", "2. Then `x = 1`.\n", "\n", "Stuck? See the solutions.\n",
        "   indented, but not in an exercise"]}]}
    assert headers.exercises(notebook) == ["Do this\nand that.", "Then `x = 1`."]
    assert headers.exercise_cell(1, "Do this\nand that.") == "## Exercise 1\n\n> Do this\n> and that."
    notebook["cells"][0]["source"][8] = "3. Then `x = 1`.\n"
    with pytest.raises(ValueError, match="exercise 3 follows exercise 1"):
        headers.exercises(notebook)


def test_a_solutions_cell_for_a_missing_exercise_is_refused() -> None:
    notebook = {"cells": [{"cell_type": "markdown", "id": "x", "source": ["## Exercises\n\n1. Only one."]}]}
    solutions = {"cells": [{"cell_type": "markdown", "id": "exercise-2", "source": ["old"]}]}
    with pytest.raises(ValueError, match="has 1 exercises"):
        headers.sync_solutions(solutions, notebook, "09_x.ipynb")


# --- deep dives --------------------------------------------------------------------------------------------------


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names a cell defines, names it reads); IPython magics are left out."""
    lines = [re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in code.splitlines()]
    defined, read = set(), set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return defined, read


def needed_from_deep_dives(notebook: dict) -> list[tuple[int, str]]:
    """(cell, name) for each name a cell outside the deep dives reads whose latest definition is in one.

    A deep dive is a `##` or `###` section whose heading ends with DEEP_DIVE, up to the next heading of the
    same or a higher level.
    """
    deep_level, defined_in_deep_dive, problems = None, {}, []
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            for level, heading in re.findall(r"^(#{2,3}) (.*)$", _source(cell), flags=re.M):
                if DEEP_DIVE in heading and (deep_level is None or len(level) <= deep_level):
                    deep_level = len(level)
                elif DEEP_DIVE not in heading and deep_level is not None and len(level) <= deep_level:
                    deep_level = None
            continue
        defined, read = _names(_source(cell))
        if deep_level is None:
            problems += [(i, name) for name in sorted(read - defined) if defined_in_deep_dive.get(name)]
        defined_in_deep_dive.update(dict.fromkeys(defined, deep_level is not None))
    return problems


@pytest.mark.parametrize("name", EXPECTED)
def test_deep_dives_can_be_skipped(name: str) -> None:
    assert needed_from_deep_dives(_load(name)) == [], "a later cell needs a name defined only in a deep dive"


def test_a_deep_dive_that_a_later_cell_needs_is_found() -> None:
    def cell(kind: str, text: str) -> dict:
        return {"cell_type": kind, "source": [text]}

    notebook = {"cells": [cell("markdown", "## 1. Start"), cell("code", "a = 1"),
                          cell("markdown", f"## 2. Speed {DEEP_DIVE}\n\n### Details"), cell("code", "b = a + 1"),
                          cell("code", "for c in range(b):\n    a = c"),
                          cell("markdown", "## 3. Back"), cell("code", "print(a, b, len([d for d in 'x']))")]}
    assert needed_from_deep_dives(notebook) == [(6, "a"), (6, "b")]
    notebook["cells"][2]["source"] = ["## 2. Speed"]
    assert needed_from_deep_dives(notebook) == []


def test_the_deep_dive_marker_is_explained_where_learners_and_teachers_read() -> None:
    assert DEEP_DIVE in "".join(_source(c) for c in _load("01_setup.ipynb")["cells"] if c["cell_type"] == "markdown")
    assert DEEP_DIVE in (config.REPO_ROOT / "docs" / "WORKSHOP.md").read_text()
    marked = [name for name in EXPECTED[1:] if DEEP_DIVE in json.dumps(_load(name))]
    assert marked == EXPECTED[1:], "notebooks 02 to 05 each mark their deep dives"
