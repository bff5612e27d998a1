"""How long does the explorer of notebook 04 take to redraw, as a learner sees it in JupyterLab?

    python benchmarks/bench_explorer.py                # 10 rounds: k, the query, a class filter on and off
    python benchmarks/bench_explorer.py --rounds 20 --run-all

Starts JupyterLab on 127.0.0.1 with the test settings (offline model, a fresh data folder that shares the embedding
cache of the usual one) and opens notebook 04 in headless chromium (tests/jupyter_browser.py: Playwright and the
system's chromium). It runs the notebook through the explorer's cell (--run-all: every cell, once the explorer
keeps working after the notebook's last cell), then, round after round, changes k (typed into the slider's readout)
and the query, and sets a class filter and clears it; it times each redraw in the page, from the user's action
until the gallery's picture changes. Target: at most 0.3 s. Prints a Markdown table (median and p95 per kind of change).
Other programs on the machine change the figures: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from functools import partial
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
FILTER_CLASSES = ("pizza", "goldfish", "lion", "flamingo", "malamute")
K_VALUES = (7, 5)  # the notebook leaves k at 5: the first change must differ, or nothing redraws
REDRAW_TIMEOUT_S = 60


def rounds(explorer, n: int) -> list[list[tuple[str, Callable[[], None]]]]:
    """`n` rounds of changes: a new k, a new query, then a class filter on and off again.

    Each change alters the gallery: k and the query change while no filter is on (a filtered search can return
    the same few hits for two values of k), and the filter classes differ from the queries' classes.
    """
    queries = jb.options(explorer, "Query")
    return [[("k", partial(jb.type_slider_value, explorer, K_VALUES[i % 2])),
             ("query", partial(jb.choose, explorer, "Query", queries[1 + i])),
             ("filter", partial(jb.choose, explorer, "Only class", FILTER_CLASSES[i % len(FILTER_CLASSES)])),
             ("filter", partial(jb.choose, explorer, "Only class", "any class"))]
            for i in range(n)]


def measure(explorer, changes: list[list[tuple[str, Callable[[], None]]]]) -> tuple[dict[str, list[float]], int]:
    """Seconds per redraw, per kind of change, and how many changes showed no redraw within REDRAW_TIMEOUT_S.

    The kinds take turns, so that a busy moment hits them alike; the first round warms up and is not counted.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    timings: dict[str, list[float]] = {"k": [], "filter": [], "query": []}
    missing = 0
    for round_number, changes_of_round in enumerate(changes):
        for kind, action in changes_of_round:
            try:
                seconds = jb.measure_redraw(explorer, action, timeout=REDRAW_TIMEOUT_S)
            except PlaywrightTimeout:
                print(f"  {kind}: no redraw within {REDRAW_TIMEOUT_S} s; the explorer says "
                      f"{jb.gallery_state(explorer).message!r}", flush=True)
                missing += 1
                continue
            if round_number:
                timings[kind].append(seconds)
    for kind, seconds in timings.items():
        print(f"  {kind}: {', '.join(f'{t:.2f}' for t in seconds)} s", flush=True)
    return timings, missing


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
    parser.add_argument("--rounds", type=int, default=10,
                        help="measured rounds: each changes k and the query once, the filter twice (default 10)")
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
            timings, missing = measure(explorer, rounds(explorer, args.rounds + 1))
            print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    print(markdown(timings))
    if missing:
        print(f"\n{missing} changes showed no redraw within {REDRAW_TIMEOUT_S} s (not in the table).")


if __name__ == "__main__":
    main()
