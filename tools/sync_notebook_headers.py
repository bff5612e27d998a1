"""Write the Colab badges and setup cells from helpers/config.py: `python tools/sync_notebook_headers.py`.

`config.REPO_URL` (the repository) and `config.REPO_REF` (the branch or tag) are the one place the address
lives. This tool rewrites, in every notebook (notebooks/ and solutions/), the badge line of the first markdown
cell and the whole setup cell (the first code cell, which pip-installs the helpers on Colab), and the Colab
links of the README's notebook table. `make clean-notebooks` runs it; tests/test_notebooks_clean.py fails when
a file is out of step. Nobody edits those lines by hand.

It also keeps each solutions notebook (solutions/NN_name_solutions.ipynb) in step with its tutorial notebook:
the cells with id `exercise-N` quote exercise N of the notebook's Exercises section, word for word, and the
Exercises section ends with a link to the solutions. Only the worked solutions are written by hand.

Pinning a release, so that a Colab badge opens notebooks and installs helpers of the same version:
  1. set `REPO_REF = "v0.2.0"` in helpers/config.py (and `version = "0.2.0"` in pyproject.toml);
  2. `make clean-notebooks` (runs this tool) and `make test`, then commit;
  3. `git tag v0.2.0` on that commit and push both together: `git push origin main v0.2.0`. Until the tag is
     on GitHub, the badges and setup cells of that commit point at nothing.
Moving back to the development branch is the same with `REPO_REF = "main"`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this clone's helpers/config.py, whatever copy of the helpers is installed

from helpers import config  # noqa: E402

NOTEBOOK_DIR = ROOT / "notebooks"
SOLUTIONS_DIR = ROOT / "solutions"
README = ROOT / "README.md"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
MAX_CODE_LINE = 100  # notebooks/ruff.toml's line length
EXERCISE_ITEM = re.compile(r"(\d+)\. (.*)")  # "3. Set `COLLECTION_NAME=my_photos` ..."
EXERCISE_CELL_ID = re.compile(r"exercise-(\d+)")
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+?/notebooks/(?P<name>[\w.-]+\.ipynb)")


def github_path() -> str:
    """`OWNER/REPO` of `config.REPO_URL` (Colab opens notebooks straight from GitHub only)."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", config.REPO_URL)
    if not match:
        raise ValueError(f"config.REPO_URL must look like https://github.com/OWNER/REPO, not {config.REPO_URL!r}")
    return match.group(1)


def colab_url(notebook_name: str, folder: str = "notebooks") -> str:
    """The link that opens a notebook of the repository, at `config.REPO_REF`, on Colab."""
    return (f"https://colab.research.google.com/github/{github_path()}/blob/{config.REPO_REF}"
            f"/{folder}/{notebook_name}")


def badge(notebook_name: str, folder: str = "notebooks") -> str:
    """A notebook's "Open In Colab" badge, in markdown."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_name, folder)})"


def install_spec() -> str:
    """What the setup cell hands to pip on Colab: the repository at `config.REPO_REF`."""
    github_path()  # a GitHub address, checked
    return f"git+{config.REPO_URL}@{config.REPO_REF}"


def setup_cell() -> str:
    """The first code cell of every notebook: safe to re-run, installs only on Colab."""
    lines = [
        "# Setup (safe to re-run): on Colab, install this tutorial's helpers; everywhere, show the versions.",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f"    %pip install --quiet {install_spec()}",
        "",
        "from helpers import config",
        "",
        "KEEP_ON_DRIVE = False  # on Colab, True keeps photos, caches and results on your Google Drive",
        'if KEEP_ON_DRIVE and "google.colab" in sys.modules:',
        "    config.use_google_drive()",
        "config.describe_environment()",
    ]
    too_long = [line for line in lines if len(line) > MAX_CODE_LINE]
    if too_long:
        raise ValueError(f"setup cell lines longer than {MAX_CODE_LINE} characters: {too_long}; "
                         "shorten config.REPO_URL or config.REPO_REF, or change this template")
    return "\n".join(lines)


def with_badge(markdown: str, notebook_name: str, folder: str = "notebooks") -> str:
    """The title cell with its badge line replaced, or added under the title where there is none."""
    lines = markdown.split("\n")
    found = [i for i, line in enumerate(lines) if BADGE_IMAGE in line]
    if found:
        lines[found[0]] = badge(notebook_name, folder)
    else:
        lines[1:1] = ["", badge(notebook_name, folder)]
    return "\n".join(lines)


def sync_notebook(notebook: dict, notebook_name: str, folder: str = "notebooks") -> dict:
    """Rewrite the badge of the first (markdown) cell and the first code cell from config."""
    cells = notebook["cells"]
    if not cells or cells[0]["cell_type"] != "markdown":
        raise ValueError(f"{notebook_name}: the first cell should be the markdown title cell")
    cells[0]["source"] = _lines(with_badge("".join(cells[0]["source"]), notebook_name, folder))
    setup = next((c for c in cells if c["cell_type"] == "code"), None)
    if setup is None:
        raise ValueError(f"{notebook_name}: has no code cell to hold the setup cell")
    setup["source"] = _lines(setup_cell())
    return notebook


def solutions_name(notebook_name: str) -> str:
    """The solutions notebook of a tutorial notebook: 01_setup.ipynb -> 01_setup_solutions.ipynb."""
    return notebook_name.removesuffix(".ipynb") + "_solutions.ipynb"


def solutions_link(notebook_name: str) -> str:
    """The last line of a notebook's Exercises section: where its worked solutions are."""
    name = solutions_name(notebook_name)
    return f"Stuck? Every exercise is worked out in [solutions/{name}](../solutions/{name})."


def _exercises_cell(notebook: dict) -> dict:
    """The markdown cell that holds the `## Exercises` heading."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown" and "## Exercises" in "".join(cell["source"]).splitlines():
            return cell
    raise ValueError("the notebook has no '## Exercises' section")


def exercises(notebook: dict) -> list[str]:
    """The text of each numbered exercise of a notebook's Exercises section, in order.

    An exercise is a line `N. text` plus the indented lines under it (joined with newlines, unindented).
    """
    text = "".join(_exercises_cell(notebook)["source"]).split("## Exercises", 1)[1]
    items: list[list[str]] = []
    in_item = False
    for line in text.splitlines():
        match = EXERCISE_ITEM.fullmatch(line)
        if match:
            if int(match.group(1)) != len(items) + 1:
                raise ValueError(f"exercise {match.group(1)} follows exercise {len(items)}")
            items.append([match.group(2)])
            in_item = True
        elif in_item and line.startswith(" ") and line.strip():
            items[-1].append(line.strip())
        else:
            in_item = False
    return ["\n".join(item) for item in items]


def exercise_cell(number: int, text: str) -> str:
    """The markdown of exercise `number` in a solutions notebook: a heading and the exercise, quoted."""
    return f"## Exercise {number}\n\n" + "\n".join(f"> {line}" for line in text.split("\n"))


def sync_solutions(solutions: dict, notebook: dict, notebook_name: str) -> tuple[dict, dict]:
    """Quote each exercise of `notebook` in its `exercise-N` cell of `solutions`; link the solutions from it."""
    texts = exercises(notebook)
    for cell in solutions["cells"]:
        match = EXERCISE_CELL_ID.fullmatch(cell.get("id", ""))
        if match:
            number = int(match.group(1))
            if number > len(texts):
                raise ValueError(f"{solutions_name(notebook_name)}: cell {cell['id']}, but {notebook_name} "
                                 f"has {len(texts)} exercises")
            cell["source"] = _lines(exercise_cell(number, texts[number - 1]))
    cell = _exercises_cell(notebook)
    source = "".join(cell["source"])
    if solutions_link(notebook_name) not in source:
        cell["source"] = _lines(source.rstrip("\n") + "\n\n" + solutions_link(notebook_name))
    return solutions, notebook


def sync_readme(text: str) -> str:
    """The README with every Colab link pointing at `config.REPO_URL` and `config.REPO_REF`."""
    return COLAB_LINK.sub(lambda m: colab_url(m.group("name")), text)


def _lines(text: str) -> list[str]:
    """A cell source as notebooks store it: lines that keep their newline, the last one without."""
    return text.splitlines(keepends=True)


def _write_if_changed(path: Path, notebook: dict) -> None:
    new = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    if new != path.read_text():
        path.write_text(new)
        print(f"updated {path.relative_to(ROOT)}")


def main() -> int:
    """Rewrite every notebook and the README in place; list the files that changed."""
    for folder in (NOTEBOOK_DIR, SOLUTIONS_DIR):
        for path in sorted(folder.glob("*.ipynb")):
            _write_if_changed(path, sync_notebook(json.loads(path.read_text()), path.name, folder.name))
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        solutions_path = SOLUTIONS_DIR / solutions_name(path.name)
        if solutions_path.is_file():
            solutions, notebook = sync_solutions(json.loads(solutions_path.read_text()),
                                                 json.loads(path.read_text()), path.name)
            _write_if_changed(solutions_path, solutions)
            _write_if_changed(path, notebook)
    old = README.read_text()
    if sync_readme(old) != old:
        README.write_text(sync_readme(old))
        print(f"updated {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
