"""Keep committed notebooks clean: `python tools/clean_notebooks.py notebooks/*.ipynb`.

Clean means: no execution counts; no outputs except the small text outputs of cells
marked `# NBVAL_CHECK_OUTPUT` (nbval compares those); no images; no widget state;
nothing that looks like an API key. tests/test_notebooks_clean.py uses `find_problems`.

A checked output is for people too: it shows figures (`mAP@10: 0.82`, a band in tests/nbval_sanitize.cfg
lets them vary a little), never a bare `True`/`False` in place of the figure, nor a progress bar.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
SECRET_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_-]{20,}"),  # OpenAI keys (sk-..., sk-proj-...)
    re.compile(r"(?i)(api[_-]?key|token)\s*[=:]\s*['\"][A-Za-z0-9_\-]{16,}['\"]"),
)
MAX_CHECKED_OUTPUT_CHARS = 2000
BARE_BOOLEAN = re.compile(r"^\s*(True|False)\s*$|:\s*(True|False)\b", re.M)  # "x >= 0.78: True", a line "True"
PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's text bar, "100%|##########| 1000/1000"


def find_problems(notebook: dict) -> list[str]:
    """Everything that keeps a notebook from being committed, one sentence each."""
    problems = []
    if "widgets" in notebook.get("metadata", {}):
        problems.append("widget state is saved in the notebook metadata")
    for i, cell in enumerate(notebook["cells"]):
        source = "".join(cell.get("source", ""))
        if cell["cell_type"] != "code":
            continue
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i}: has an execution count")
        if "execution" in cell.get("metadata", {}):
            problems.append(f"cell {i}: has execution timestamps in its metadata")
        outputs = cell.get("outputs", [])
        if outputs and CHECK_MARK not in source:
            problems.append(f"cell {i}: has outputs but is not marked {CHECK_MARK}")
        for output in outputs:
            if any(not kind.startswith("text/") for kind in output.get("data", {})):
                problems.append(f"cell {i}: has a non-text output ({', '.join(output['data'])})")
            if output.get("execution_count") is not None:
                problems.append(f"cell {i}: an output has an execution count")
        text = "".join(_text(output) for output in outputs)
        if BARE_BOOLEAN.search(text):
            problems.append(f"cell {i}: checked output prints a bare boolean: print the figure itself")
        if PROGRESS_BAR.search(text):
            problems.append(f"cell {i}: checked output holds a progress bar: pass progress=False")
        if len(json.dumps(outputs)) > MAX_CHECKED_OUTPUT_CHARS:
            problems.append(f"cell {i}: checked output is larger than {MAX_CHECKED_OUTPUT_CHARS} characters")
    text = json.dumps(notebook)
    problems += [f"something that looks like a secret: {m.group(0)[:6]}..." for p in SECRET_PATTERNS
                 for m in p.finditer(text)]
    return problems


def clean_notebook(notebook: dict) -> dict:
    """Drop execution counts and timestamps, widget state and every output nbval does not check."""
    notebook.get("metadata", {}).pop("widgets", None)
    for cell in notebook["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] != "code":
            continue
        cell["execution_count"] = None
        keep = CHECK_MARK in "".join(cell.get("source", ""))
        cell["outputs"] = [_strip_output(o) for o in cell.get("outputs", []) if keep and _is_text(o)]
    return notebook


def _text(output: dict) -> str:
    """The text a person reads in one output (a stream, or the text/plain of a result)."""
    text = output.get("text") or output.get("data", {}).get("text/plain") or ""
    return "".join(text) + "\n"


def _is_text(output: dict) -> bool:
    return output["output_type"] == "stream" or all(k.startswith("text/") for k in output.get("data", {}))


def _strip_output(output: dict) -> dict:
    if "execution_count" in output:
        output["execution_count"] = None
    return output


def main(paths: list[str]) -> int:
    """Clean each notebook in place and report what is still wrong."""
    status = 0
    for path in map(Path, paths):
        notebook = clean_notebook(json.loads(path.read_text()))
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        for problem in find_problems(notebook):
            print(f"{path}: {problem}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
