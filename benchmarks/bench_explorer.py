"""How long does the explorer of notebook 04 take to redraw, as a learner sees it in JupyterLab?

    python benchmarks/bench_explorer.py                # 10 changes each of k, the class filter and the query
    python benchmarks/bench_explorer.py --changes 20 --run-all

Starts JupyterLab on 127.0.0.1 with the test settings (offline model, a fresh data folder that shares the embedding
cache of the usual one) and opens notebook 04 in headless chromium (tests/jupyter_browser.py: Playwright and the
system's chromium). It runs the notebook through the explorer's cell (--run-all: every cell, once the explorer
keeps working after the notebook's last cell), then changes k (typed into the slider's readout), the class filter
and the query, taking turns, and times each redraw in the page: from the user's action until the gallery's
picture changes. Target: at most 0.3 s. Prints a Markdown table (median and p95 per kind of change).
Other programs on the machine change the figures: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from itertools import cycle, islice
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

import jupyter_browser as jb  # noqa: E402

from helpers import config  # noqa: E402

NOTEBOOK = "04_search_and_visualisation.ipynb"
EXPLORER_CELL = "SearchExplorer("  # code that only the explorer's cell contains
TARGET_S = 0.3
FILTER_CLASSES = ("pizza", "goldfish", "lion", "Afghan_hound", "flamingo")


def changes(explorer, n: int) -> dict[str, list[Callable[[], None]]]:
    """`n` actions per kind of change, each one different from the state before it."""
    queries = jb.dropdown(explorer, "Query").locator("option").evaluate_all("options => options.map(o => o.value)")
    current = jb.slider_value(explorer)
    k_values = islice(cycle((current + 2, current - 2)), n)
    filters = islice(cycle(option for name in FILTER_CLASSES for option in (name, "any class")), n)
    return {
        "k": [lambda value=value: jb.type_slider_value(explorer, value) for value in k_values],
        "filter": [lambda value=value: jb.choose(explorer, "Only class", value) for value in filters],
        "query": [lambda value=value: jb.choose(explorer, "Query", value) for value in queries[1:n + 1]],
    }


def measure(explorer, actions: dict[str, list[Callable[[], None]]]) -> dict[str, list[float]]:
    """Seconds per redraw, per kind of change; the kinds take turns, so that a busy moment hits them alike.

    The first change of each kind warms up and is not counted.
    """
    timings: dict[str, list[float]] = {kind: [] for kind in actions}
    for round_number, kinds in enumerate(zip(*actions.values())):
        for kind, action in zip(actions, kinds):
            seconds = jb.measure_redraw(explorer, action)
            if round_number:
                timings[kind].append(seconds)
    for kind, seconds in timings.items():
        print(f"  {kind}: {', '.join(f'{t:.2f}' for t in seconds)} s", flush=True)
    return timings


def markdown(timings: dict[str, list[float]]) -> str:
    """A Markdown table: median, p95 and max redraw time per kind of change, against the target."""
    rows = ["| change | redraws | median (s) | p95 (s) | max (s) | target <= 0.3 s |", "|---|---:|---:|---:|---:|---|"]
    for kind, seconds in [*timings.items(), ("all", [t for ts in timings.values() for t in ts])]:
        median, p95 = np.median(seconds), np.percentile(seconds, 95)
        rows.append(f"| {kind} | {len(seconds)} | {median:.2f} | {p95:.2f} | {max(seconds):.2f} | "
                    f"{'met' if p95 <= TARGET_S else 'not met'} |")
    return "\n".join(rows)


def describe_machine(browser) -> str:
    """CPU, Python, browser and the load average, for the figures' context."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, chromium {browser.version}; load average {load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=10, help="measured changes per kind (default 10)")
    parser.add_argument("--run-all", action="store_true", help="run every cell first, not only up to the explorer")
    args = parser.parse_args()
    if problem := jb.browser_problem():
        raise SystemExit(f"Cannot benchmark in a browser: {problem}")
    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as tmp:
        env = jb.notebook_settings(Path(tmp), config.load_settings().data_dir)
        with jb.running_jupyterlab(REPO_ROOT / "notebooks", env, Path(tmp) / "lab") as lab, \
                jb.launched_browser() as browser:
            page = jb.new_page(browser)
            jb.open_notebook(page, lab, NOTEBOOK)
            if args.run_all:
                jb.run_all(page)
                jb.wait_until_executed(page)
            else:
                jb.run_through_cell(page, EXPLORER_CELL)
            explorer = jb.find_explorer(page)
            explorer.scroll_into_view_if_needed()
            print(describe_machine(browser))
            timings = measure(explorer, changes(explorer, args.changes + 1))
            print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    print(markdown(timings))


if __name__ == "__main__":
    main()
