"""Time the notebooks as a learner runs them: `python tools/time_notebooks.py [--model NAME] [NOTEBOOK ...]`.

Each notebook runs top to bottom with nbclient (kernel python3, working folder notebooks/), in order, twice:
a "first run" in a fresh data folder (the dataset is extracted, vectors computed, the collection built), then a
"re-run" in the same folder (caches warm). The report gives the wall time of each notebook, kernel start
included, and its slowest cells (index in the notebook, first line, seconds), with the machine it ran on, as
Markdown and JSON under docs/timings/ (timings-<model>.md and .json).

Without network, set DATASET_SOURCE to the dataset's .zip (its extraction is then timed as a learner's
download would not be) and use an offline model:

    DATASET_SOURCE=/path/reverse_image_search.zip python tools/time_notebooks.py --model efficientnet_lite0
    DATASET_SOURCE=... python tools/time_notebooks.py --model resnet50-random

`resnet50-random` times ResNet-50 where its weights cannot be downloaded: MODEL_NAME=resnet50, and each kernel
runs tools/timing_random_resnet50.py at start, which swaps in random weights for that kernel only (same
architecture, same speed; the search results it shows are meaningless). The tutorial never offers random weights.
The OpenAI key is set empty for the kernels: timing never spends money.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RANDOM_RESNET50 = Path(__file__).with_name("timing_random_resnet50.py")
# --model -> (MODEL_NAME for the kernels, files each kernel runs at start)
MODELS: dict[str, tuple[str, tuple[Path, ...]]] = {
    "efficientnet_lite0": ("efficientnet_lite0", ()),
    "resnet50": ("resnet50", ()),  # needs the real weights (network, or the Hugging Face cache)
    "resnet50-random": ("resnet50", (RANDOM_RESNET50,)),
}
RUNS = ("first run", "re-run")


@dataclass
class NotebookTiming:
    """One notebook's run: wall seconds (kernel start included), whether it finished, and its slowest cells."""

    notebook: str
    seconds: float
    ok: bool
    slowest: list[dict] = field(default_factory=list)  # {"cell": index, "first_line": str, "seconds": float}
    error: str = ""  # the failing cell and the error's last line, when ok is False


def cell_seconds(cell: dict) -> float | None:
    """How long a code cell ran, from the timestamps nbclient records in its metadata (None if it did not run)."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    return (_timestamp(end) - _timestamp(start)).total_seconds()


def _timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def first_line(source: str, width: int = 70) -> str:
    """The first non-empty line of a cell, shortened to `width` characters."""
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= width else line[:width - 3] + "..."


def slowest_cells(notebook: dict, top: int = 3) -> list[dict]:
    """The `top` slowest code cells of an executed notebook, slowest first."""
    timed = [{"cell": i, "first_line": first_line(_source(cell)), "seconds": round(seconds, 2)}
             for i, cell in enumerate(notebook["cells"])
             if cell["cell_type"] == "code" and (seconds := cell_seconds(cell)) is not None]
    return sorted(timed, key=lambda c: c["seconds"], reverse=True)[:top]


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _failure(notebook: dict, err: Exception) -> str:
    """'cell N: <last line of the error>' for the cell whose output holds the error."""
    for i, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {i}: {output.get('ename')}: {output.get('evalue')}"
    return f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"


def run_notebook(path: Path, env: dict[str, str], startup_files: tuple[Path, ...] = (), top: int = 3,
                 timeout: int = 1800) -> NotebookTiming:
    """Run one notebook top to bottom in a new python3 kernel, in its own folder; never raises on a cell error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=[f"--IPKernelApp.exec_files={f}" for f in startup_files])
    start = time.perf_counter()
    try:
        client.execute(env=env)
        ok, error = True, ""
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        ok, error = False, _failure(notebook, err)
    seconds = round(time.perf_counter() - start, 2)
    return NotebookTiming(path.name, seconds, ok, slowest_cells(notebook, top), error)


def kernel_env(data_dir: Path, model_name: str) -> dict[str, str]:
    """The learner's environment for the kernels: a given data folder and model, no OpenAI key, Milvus Lite."""
    env = dict(os.environ)
    env.update(TUTORIAL_DATA_DIR=str(data_dir), OUTPUT_DIR=str(data_dir / "outputs"), MODEL_NAME=model_name,
               OPENAI_API_KEY="", MILVUS_URI="", MILVUS_TOKEN="")
    env.pop("OPENAI_BASE_URL", None)
    return env


def time_notebooks(notebooks: list[Path], model: str, data_dir: Path, runs: tuple[str, ...] = RUNS, top: int = 3,
                   timeout: int = 1800) -> dict:
    """Run the notebooks in order once per run, all runs sharing `data_dir` (fresh at the first); returns the report."""
    model_name, startup_files = MODELS[model]
    env = kernel_env(data_dir, model_name)
    report = {"model": model, "machine": machine_info(), "dataset_source": _dataset_source_kind(),
              "data_dir": str(data_dir), "runs": {}}
    for run in runs:
        report["runs"][run] = [asdict(run_notebook(path, env, startup_files, top, timeout)) for path in notebooks]
    return report


def _dataset_source_kind() -> str:
    """How notebook 01 gets the dataset: extracted from a zip, used in place from a folder, or downloaded."""
    source = os.environ.get("DATASET_SOURCE", "")
    if not source:
        return "download"
    return f"{'zip (extracted, timed)' if Path(source).is_file() else 'folder (used in place)'}: {source}"


def machine_info() -> dict[str, str]:
    """Processor, cores, OS, Python and torch versions, and the date: what the timings depend on."""
    import importlib.metadata as md

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    versions = {}
    for package in ("torch", "onnxruntime", "milvus-lite"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "not installed"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "os": platform.platform(terse=True),
            "python": platform.python_version(), **versions,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")}


def to_markdown(report: dict) -> str:
    """The report as a short Markdown section: one row per notebook, first run and re-run, slowest cells."""
    m = report["machine"]
    runs = list(report["runs"])
    lines = [f"### Notebook timings, model `{report['model']}`", "",
             f"{m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']}, torch {m['torch']}, "
             f"onnxruntime {m['onnxruntime']}, {m['date']}. Dataset: {report['dataset_source']}.", "",
             "| notebook | " + " | ".join(runs) + f" | slowest cells ({runs[0]}) |",
             "|---|" + "---|" * len(runs) + "---|"]
    names = [t["notebook"] for t in report["runs"][runs[0]]]
    for i, name in enumerate(names):
        timings = [report["runs"][run][i] for run in runs]
        cells = "; ".join(f"cell {c['cell']} `{c['first_line'].replace('|', '/')}` {c['seconds']:.1f} s"
                          for c in timings[0]["slowest"])
        lines.append(f"| {name} | " + " | ".join(_cell_text(t) for t in timings) + f" | {cells} |")
    totals = [sum(t["seconds"] for t in report["runs"][run]) for run in runs]
    lines.append("| **all** | " + " | ".join(f"**{_minutes(s)}**" for s in totals) + " | |")
    return "\n".join(lines) + "\n"


def _cell_text(timing: dict) -> str:
    return _minutes(timing["seconds"]) if timing["ok"] else f"failed ({timing['error']})"


def _minutes(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write timings-<model>.json and .md under `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"timings-{report['model']}.json", out_dir / f"timings-{report['model']}.md"
    for path, text in ((json_path, json.dumps(report, indent=1) + "\n"), (md_path, to_markdown(report))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, time the notebooks in a fresh data folder, write and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb, in order")
    parser.add_argument("--model", choices=sorted(MODELS), default="efficientnet_lite0")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "timings")
    parser.add_argument("--runs", choices=["both", "first"], default="both", help="'first' skips the re-run")
    parser.add_argument("--top", type=int, default=3, help="slowest cells listed per notebook")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    data_dir = Path(tempfile.mkdtemp(prefix="notebook-timing-"))
    try:
        report = time_notebooks(notebooks, args.model, data_dir, RUNS if args.runs == "both" else RUNS[:1],
                                args.top, args.timeout)
    finally:
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    json_path, md_path = write_report(report, args.out)
    print(to_markdown(report))
    print(f"Written: {md_path} and {json_path}")
    return 0 if all(t["ok"] for run in report["runs"].values() for t in run) else 1


if __name__ == "__main__":
    sys.exit(main())
