"""The bands of tests/nbval_sanitize.cfg: a checked cell prints its figure, and the check can still fail.

A checked cell prints a figure such as `mAP@10: 0.82`. A figure that may differ a little between machines has a
band in the sanitize file: its regex replaces the figure with `within [0.78, 1.00]` only while the figure is inside
that band. nbval sanitizes the stored output and the new one alike, so a figure that stays in its band compares
equal, and one that leaves it does not. Here every band is tried with every value around it (at the precision the
notebook prints), on the real stored outputs, and nbval itself is run once on a generated notebook whose figure
has left its band.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

from helpers import config

SANITIZE = config.REPO_ROOT / "tests" / "nbval_sanitize.cfg"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
BAND = re.compile(r"within \[(?P<low>[+-]?\d+(?:\.\d+)?%?), (?P<high>[+-]?\d+(?:\.\d+)?%?)\]")


def _patterns() -> list[tuple[str, str]]:
    return get_sanitize_patterns(SANITIZE.read_text())


def _sanitize(text: str) -> str:
    """What nbval compares: every pattern of the file applied in order (nbval.plugin.IPyNbCell.sanitize)."""
    for regex, replace in _patterns():
        text = re.sub(regex, replace, text)
    return text


def _stored_outputs() -> list[tuple[str, str]]:
    """(where, text) of every stored text output of a checked cell, in notebooks/ and solutions/."""
    texts = []
    for path in sorted([*config.REPO_ROOT.glob("notebooks/*.ipynb"), *config.REPO_ROOT.glob("solutions/*.ipynb")]):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code" or CHECK_MARK not in "".join(cell["source"]):
                continue
            for output in cell.get("outputs", []):
                text = output.get("text") or output.get("data", {}).get("text/plain")
                if text:
                    texts.append((f"{path.name} cell {i}", "".join(text)))
    return texts


def _bands() -> list[tuple[str, str]]:
    return [(regex, replace) for regex, replace in _patterns() if BAND.fullmatch(replace)]


def _values_around(low: str, high: str) -> list[tuple[str, bool]]:
    """Every value from well below `low` to well above `high`, printed as the band prints them; True inside."""
    decimals = len(low.rstrip("%").partition(".")[2])
    signed, percent = low[0] in "+-", low.endswith("%")
    first, last = (round(float(bound.rstrip("%")) * 10**decimals) for bound in (low, high))
    margin = max(last - first, 100)
    values = []
    for n in range(first - margin, last + margin + 1):
        text = f"{n / 10**decimals:{'+' if signed else ''}.{decimals}f}" + ("%" if percent else "")
        values.append((text, first <= n <= last))
    return values


def test_the_file_has_bands_and_nbval_reads_every_pattern() -> None:
    assert len(_bands()) >= 5
    sections = re.findall(r"^\[.+\]$", SANITIZE.read_text(), flags=re.M)
    assert len(_patterns()) == len(sections), "each [section] needs a `regex:` line right above a `replace:` line"


@pytest.mark.parametrize(("regex", "replace"), _bands(), ids=[replace for _, replace in _bands()])
def test_a_band_hides_only_the_figures_inside_it(regex: str, replace: str) -> None:
    found = [(where, text, match) for where, text in _stored_outputs() for match in re.finditer(regex, text)]
    assert found, f"no stored output of a checked cell has a figure for {regex!r}: the band guards nothing"
    low, high = BAND.fullmatch(replace).groups()
    for where, text, match in found:
        reference = _sanitize(text)
        for value, inside in _values_around(low, high):
            printed = text[:match.start()] + value + text[match.end():]
            assert (_sanitize(printed) == reference) == inside, f"{where}: {value!r} against band {replace!r}"


def test_the_grid_of_values_follows_the_printed_format() -> None:
    values = dict(_values_around("0.78", "1.00"))
    assert values["0.78"] and values["1.00"] and not values["0.77"] and not values["1.01"]
    assert dict(_values_around("+0.001", "+1.000"))["-0.010"] is False
    assert dict(_values_around("99%", "100%"))["98%"] is False


def _notebook(printed: str, stored: str) -> dict:
    cell = {"cell_type": "code", "execution_count": 1, "id": "figure", "metadata": {},
            "source": f"{CHECK_MARK}\nprint('mAP@10: {printed}')",
            "outputs": [{"output_type": "stream", "name": "stdout", "text": f"mAP@10: {stored}\n"}]}
    return {"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def test_nbval_passes_a_figure_inside_its_band_and_fails_one_outside(tmp_path: Path) -> None:
    """The stored output says 0.82; a run that prints 0.80 passes, one that prints 0.70 fails."""
    for name, printed in (("inside", "0.80"), ("outside", "0.70")):
        (tmp_path / f"{name}.ipynb").write_text(json.dumps(_notebook(printed, "0.82")))
    run = subprocess.run([sys.executable, "-m", "pytest", "inside.ipynb", "outside.ipynb", "--nbval-lax",
                          "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE), "-p", "no:cacheprovider",
                          "-rA", "-q", "--rootdir", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "PASSED inside.ipynb::Cell 0" in run.stdout, run.stdout[-3000:]
    assert "FAILED outside.ipynb::Cell 0" in run.stdout, run.stdout[-3000:]
    assert "mAP@10: 0.70" in run.stdout  # the report shows the figure that left the band
