"""Notebooks 03, 04 and 05 once more, with MILVUS_URI pointing at a real Milvus 2.3.5 server.

The README promises that scaling up is a change of URI. Here nbval executes each notebook top to bottom, as
`make test` does on Milvus Lite, but against the server that the scale-up tests start (tests/milvus_server.py),
and compares the `# NBVAL_CHECK_OUTPUT` cells. Where the server cannot start isolated the tests skip with the
reason; MILVUS_SERVER_TESTS=required (CI) makes that a failure, as in tests/test_store_server.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from helpers import config

pytestmark = [pytest.mark.server, pytest.mark.slow]

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
NOTEBOOKS = ("03_indexing.ipynb", "04_search_and_visualisation.ipynb", "05_comic_generation.ipynb")
SANITIZE = config.REPO_ROOT / "tests" / "nbval_sanitize.cfg"
ANSI_CODES = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")  # colours in tracebacks (JUnit XML writes ESC as #x1B)


def nbval_command(notebook: Path, report: Path) -> list[str]:
    """The nbval run of `make test` for one notebook, with a JUnit report of its cells."""
    return [sys.executable, "-m", "pytest", str(notebook), "--nbval-lax", "--nbval-current-env",
            "--nbval-sanitize-with", str(SANITIZE), "-p", "no:cacheprovider", "-q", f"--junitxml={report}"]


def failed_cells(report: Path, notebook: Path) -> list[str]:
    """One line per failed cell of nbval's JUnit report: the cell, its first line of code and its last error line."""
    code = [cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    failures = []
    for case in ET.parse(report).iter("testcase"):
        for problem in [*case.iter("failure"), *case.iter("error")]:
            text = ANSI_CODES.sub("", problem.text or problem.get("message", ""))
            lines = [line.strip() for line in text.splitlines() if line.strip()] or ["(no message)"]
            number = re.fullmatch(r"Cell (\d+)", case.get("name", ""))  # nbval counts code cells from 0
            source = code[int(number.group(1))].splitlines()[:1] if number else []
            failures.append(f"{case.get('name')} ({source[0] if source else '?'}): {lines[-1]}")
    return failures


def executed_cells(report: Path) -> int:
    """How many cells nbval reported on (passed or not)."""
    return sum(1 for _ in ET.parse(report).iter("testcase"))


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_on_a_milvus_server(notebook: str, server_uri: str, notebook_env: dict[str, str],
                                          tmp_path: Path) -> None:
    report = tmp_path / "nbval.xml"
    env = {**os.environ, **notebook_env, "MILVUS_URI": server_uri}
    run = subprocess.run(nbval_command(NOTEBOOK_DIR / notebook, report), cwd=config.REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert report.is_file(), f"nbval wrote no report:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    failures = failed_cells(report, NOTEBOOK_DIR / notebook)
    assert not failures, f"{notebook} on a Milvus server, cells that failed:\n" + "\n".join(failures)
    assert run.returncode == 0, run.stdout[-3000:]
    assert executed_cells(report) > 10
