"""The figures the README and docs/ quote agree with what the notebooks print.

Checked cells (`# NBVAL_CHECK_OUTPUT`) print figures such as `mAP@10: 0.82`, and nbval compares them on every run
(within a band, tests/nbval_sanitize.cfg). Where the README or a docs page quotes the same quantity, measured
the same way (same model, same data, same search), the two must agree to the notebook's rounding. Each row below
names the quantity, where the text says it and where the notebook prints it. A figure missing from both the text
and the output fails too: a reworded page or cell must keep its row here in step.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

import pytest

from helpers import config

ROOT = config.REPO_ROOT
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
NUMBER = r"(\d+\.\d+)"


@dataclass(frozen=True)
class Figure:
    """One quantity: a regex for it in README.md and docs/*.md, and one in a notebook's checked outputs."""

    name: str
    in_text: str  # its first group is the figure, in any page (README.md or docs/*.md)
    notebook: str
    in_output: str  # its first group is the figure, in a checked cell's stored output
    tolerance: float = 0.005  # half the last printed decimal of the notebook (2 decimals)


FIGURES = [
    Figure("mAP@10, EfficientNet-Lite0, Milvus Lite",
           r"EfficientNet-Lite0, Milvus Lite \(HNSW\) \| " + NUMBER,
           "notebooks/04_search_and_visualisation.ipynb", r"mAP@10: " + NUMBER),
    Figure("precision@10, EfficientNet-Lite0, Milvus Lite",
           r"EfficientNet-Lite0, Milvus Lite \(HNSW\) \| [\d.]+ \| " + NUMBER,
           "notebooks/04_search_and_visualisation.ipynb", r"precision@10: " + NUMBER),
    Figure("recall@10, EfficientNet-Lite0, Milvus Lite",
           r"EfficientNet-Lite0, Milvus Lite \(HNSW\) \| [\d.]+ \| [\d.]+ \| " + NUMBER,
           "notebooks/04_search_and_visualisation.ipynb", r"recall@10: " + NUMBER),
    Figure("hit rate@10, EfficientNet-Lite0, Milvus Lite",
           r"EfficientNet-Lite0, Milvus Lite \(HNSW\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| " + NUMBER,
           "notebooks/04_search_and_visualisation.ipynb", r"hit_rate@10: " + NUMBER),
    Figure("mAP@10 of the offline model, in the workshop guide",
           r"mAP@10 " + NUMBER + r" against ResNet-50's published",
           "notebooks/04_search_and_visualisation.ipynb", r"mAP@10: " + NUMBER),
    Figure("precision of the tag 'dog', EfficientNet-Lite0, sample photos",
           r"the tag `dog` has precision " + NUMBER,
           "notebooks/06_your_own_photos.ipynb", r"tag 'dog' precision: " + NUMBER),
    Figure("recall of the tag 'dog', EfficientNet-Lite0, sample photos",
           r"the tag `dog` has precision [\d.]+ and recall " + NUMBER,
           "notebooks/06_your_own_photos.ipynb", r"tag 'dog' recall: " + NUMBER),
]

# Differences of two figures of one table: (name, the two rows' regexes in the text, the printed difference).
EXAMPLE_ROWS = r"\| {n} \| \**([\d.]+)\** \| \**([\d.]+)\** \|"  # a row of docs/your-own-photos.md's table
DIFFERENCES = [
    ("mean of 5 examples against 1", ("mean", 5), ("mean", 1), r"gain over 1 example: ([+-][\d.]+)"),
    ("mean against best, 3 examples", ("mean", 3), ("best", 3), r"3 examples, mean's gain over best: ([+-][\d.]+)"),
    ("mean against best, 5 examples", ("mean", 5), ("best", 5), r"5 examples, mean's gain over best: ([+-][\d.]+)"),
]


def _pages() -> dict[str, str]:
    return {path.relative_to(ROOT).as_posix(): path.read_text() for path in [ROOT / "README.md",
                                                                             *sorted((ROOT / "docs").glob("*.md"))]}


def _checked_output(notebook: str) -> str:
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    return "".join("".join(output.get("text", "")) for cell in cells if cell["cell_type"] == "code"
                   and CHECK_MARK in "".join(cell["source"]) for output in cell.get("outputs", []))


def _in_text(regex: str) -> list[tuple[str, float]]:
    return [(page, float(m.group(1))) for page, text in _pages().items() for m in re.finditer(regex, text)]


@pytest.mark.parametrize("figure", FIGURES, ids=[f.name for f in FIGURES])
def test_a_figure_in_the_docs_is_what_the_notebook_prints(figure: Figure) -> None:
    quoted = _in_text(figure.in_text)
    assert quoted, f"{figure.name}: not found in README.md or docs/ (regex {figure.in_text!r}); update FIGURES"
    printed = re.search(figure.in_output, _checked_output(figure.notebook))
    assert printed, f"{figure.name}: no checked output of {figure.notebook} prints it; update FIGURES"
    for page, value in quoted:
        assert abs(value - float(printed.group(1))) <= figure.tolerance, \
            f"{page} says {figure.name} is {value}, {figure.notebook} prints {printed.group(1)}"


@pytest.mark.parametrize(("name", "first", "second", "in_output"), DIFFERENCES, ids=[d[0] for d in DIFFERENCES])
def test_the_several_examples_table_agrees_with_notebook_06(name: str, first: tuple[str, int],
                                                             second: tuple[str, int], in_output: str) -> None:
    page = _pages()["docs/your-own-photos.md"]
    table = {n: re.search(EXAMPLE_ROWS.format(n=n), page) for n in (1, 3, 5)}
    assert all(table.values()), "the table of docs/your-own-photos.md (examples, mean, best) has moved; update"
    value = {(combine, n): float(table[n].group(1 if combine == "mean" else 2)) for n in (1, 3, 5)
             for combine in ("mean", "best")}
    printed = re.search(in_output, _checked_output("notebooks/06_your_own_photos.ipynb"))
    assert printed, f"{name}: notebook 06 no longer prints it; update DIFFERENCES"
    assert abs(value[first] - value[second] - float(printed.group(1))) <= 0.002, \
        f"docs/your-own-photos.md gives {value[first] - value[second]:+.3f} for {name}, notebook 06 {printed.group(1)}"


def test_a_changed_figure_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: the docs table with another mAP@10 disagrees with notebook 04."""
    pages = _pages()
    monkeypatch.setattr(sys.modules[__name__], "_pages", lambda: {
        name: text.replace("Milvus Lite (HNSW) | 0.816", "Milvus Lite (HNSW) | 0.750") for name, text in pages.items()})
    with pytest.raises(AssertionError, match="prints 0.82"):
        test_a_figure_in_the_docs_is_what_the_notebook_prints(FIGURES[0])

