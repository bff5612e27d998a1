"""tools/time_notebooks.py on tiny generated notebooks: order, shared data folder, env, failures, the report."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import config
from helpers.vectors import models

sys.path.insert(0, str(config.REPO_ROOT / "tools"))
import time_notebooks  # noqa: E402

# What a kernel saw, appended by every run to a file in the data folder: cwd, data folder, key, model.
RECORD = ("import os, json\n"
          "with open(os.path.join(os.environ['TUTORIAL_DATA_DIR'], 'seen.jsonl'), 'a') as f:\n"
          "    f.write(json.dumps([os.getcwd(), os.environ['TUTORIAL_DATA_DIR'], os.environ.get('OPENAI_API_KEY'),\n"
          "                        os.environ['MODEL_NAME']]) + '\\n')")


def _notebook(path: Path, *sources: str) -> Path:
    """Write a notebook with a title cell and one code cell per source."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_markdown_cell("# a tiny notebook"),
                                       *[new_code_cell(s) for s in sources]]), path)
    return path


def test_cell_seconds_and_slowest_cells_from_recorded_timestamps() -> None:
    def timed(source: str, start: str, end: str) -> dict:
        cell = new_code_cell(source)
        cell.metadata["execution"] = {"iopub.execute_input": start, "shell.execute_reply": end}
        return cell

    notebook = new_notebook(cells=[
        new_markdown_cell("# title"),
        timed("x = 1", "2026-01-01T10:00:00.000Z", "2026-01-01T10:00:00.250Z"),
        timed("\n# embed everything\nresult = embed()", "2026-01-01T10:00:01Z", "2026-01-01T10:00:13.5Z"),
        new_code_cell("never_ran()"),
        timed("index()", "2026-01-01T10:00:14Z", "2026-01-01T10:00:16Z")])
    assert time_notebooks.cell_seconds(notebook.cells[1]) == 0.25
    assert time_notebooks.cell_seconds(notebook.cells[3]) is None
    assert time_notebooks.slowest_cells(notebook, top=2) == [
        {"cell": 2, "first_line": "# embed everything", "seconds": 12.5},
        {"cell": 4, "first_line": "index()", "seconds": 2.0}]


def test_first_line_skips_blank_lines_and_shortens() -> None:
    assert time_notebooks.first_line("\n\n  a = 1\nb = 2") == "a = 1"
    assert time_notebooks.first_line("x" * 100, width=10) == "xxxxxxx..."
    assert time_notebooks.first_line("") == ""


@pytest.mark.slow  # runs notebooks in kernels
def test_notebooks_run_in_order_twice_in_one_fresh_data_folder(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-reach-the-kernel")
    first = _notebook(tmp_path / "nbs" / "01_a.ipynb", RECORD, "total = sum(range(1000))")
    broken = _notebook(tmp_path / "nbs" / "02_b.ipynb", "y = 2", "raise ValueError('cell two broke')", "z = 3")
    third = _notebook(tmp_path / "nbs" / "03_c.ipynb", RECORD)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    report = time_notebooks.time_notebooks([first, broken, third], "efficientnet_lite0", data_dir, top=5)

    assert list(report["runs"]) == ["first run", "re-run"]
    for run in report["runs"].values():
        assert [t["notebook"] for t in run] == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
        assert [t["ok"] for t in run] == [True, False, True]  # a failure is reported, the next notebook still runs
        assert run[1]["error"] == "cell 2: ValueError: cell two broke"
        assert sorted(c["cell"] for c in run[0]["slowest"]) == [1, 2]  # code cells, by their index in the notebook
        assert {c["cell"] for c in run[1]["slowest"]} == {1, 2}  # the cell after the failure never ran
        assert all(t["seconds"] > 0 for t in run)
    seen = [json.loads(line) for line in (data_dir / "seen.jsonl").read_text().splitlines()]
    assert seen == [[str(first.parent), str(data_dir), "", "efficientnet_lite0"]] * 4


def test_the_report_is_written_as_markdown_and_json(tmp_path: Path) -> None:
    timing = {"notebook": "01_setup.ipynb", "seconds": 75.0, "ok": True, "error": "",
              "slowest": [{"cell": 4, "first_line": "dataset = data.load_dataset()", "seconds": 30.04}]}
    report = {"model": "efficientnet_lite0", "machine": time_notebooks.machine_info(), "dataset_source": "download",
              "data_dir": "/tmp/x", "runs": {"first run": [timing], "re-run": [{**timing, "seconds": 9.5}]}}
    json_path, md_path = time_notebooks.write_report(report, tmp_path / "timings")
    assert json.loads(json_path.read_text()) == report
    markdown = md_path.read_text()
    assert "| notebook | first run | re-run | slowest cells (first run) |" in markdown
    assert "| 01_setup.ipynb | 1 min 15 s | 9.5 s | cell 4 `dataset = data.load_dataset()` 30.0 s |" in markdown
    assert "| **all** | **1 min 15 s** | **9.5 s** | |" in markdown


def test_the_random_resnet50_lives_only_in_the_timing_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.MODELS["resnet50"].weights == "hub"  # the product: real weights only
    monkeypatch.setitem(models.MODELS, "resnet50", models.MODELS["resnet50"])  # restored after the test
    runpy.run_path(str(time_notebooks.RANDOM_RESNET50))
    assert models.MODELS["resnet50"] == models.ModelSpec("resnet50", "random")


@pytest.mark.slow  # runs a notebook in a kernel
def test_the_timing_kernel_runs_the_startup_file(tmp_path: Path) -> None:
    check = _notebook(tmp_path / "check.ipynb",
                      "from helpers.vectors import models\nassert models.MODELS['resnet50'].weights == 'random'")
    model_name, startup = time_notebooks.MODELS["resnet50-random"]
    timing = time_notebooks.run_notebook(check, time_notebooks.kernel_env(tmp_path / "data", model_name), startup)
    assert timing.ok, timing.error
    plain = time_notebooks.run_notebook(check, time_notebooks.kernel_env(tmp_path / "data", "resnet50"))
    assert not plain.ok and "AssertionError" in plain.error
