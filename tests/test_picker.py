"""Tests for helpers/pictures/picker.py: the checkbox grid, driven from code as a person's clicks would drive it.

Run with ipywidgets 8 here; the same tests passed with ipywidgets 7.7.1 (Colab's) on PYTHONPATH.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ipywidgets
import pytest

from helpers.pictures import picker


@pytest.fixture
def candidates(make_image: Callable[..., Path]) -> list[Path]:
    return [make_image(f"IMG_{i}.jpg", size=(64, 48), seed=i) for i in range(4)] + [
        make_image("screenshot.png", size=(30, 60), seed=9)]


def test_ticks_in_the_grid_are_the_picked_photos(candidates: list[Path]) -> None:
    grid = picker.PhotoPicker(candidates, ncols=3)
    assert grid.picked == [] and "0 of 5 picked" in grid.count.value
    grid.checkboxes[3].value = True  # a click
    grid.checkboxes[0].value = True
    assert grid.picked == [candidates[0], candidates[3]] and "2 of 5 picked" in grid.count.value
    grid.tick([candidates[0]], value=False)
    assert grid.picked == [candidates[3]]
    with pytest.raises(ValueError, match="not one of the photos"):
        grid.tick([Path("/elsewhere.jpg")])


def test_a_ticked_photo_the_search_did_not_return_is_shown_first(candidates: list[Path]) -> None:
    example = candidates[4]  # your example, not among the candidates (its tags said something else)
    grid = picker.PhotoPicker(candidates[:4], captions=["a", "b", "c", "d"], ticked=[example])
    assert grid.image_paths == [example, *candidates[:4]] and grid.picked == [example]
    assert [box.description for box in grid.checkboxes] == [example.name, "a", "b", "c", "d"]
    assert len(picker.PhotoPicker(candidates, ticked=[candidates[2]]).image_paths) == 5  # shown: not added again


def test_the_grid_shows_each_photo_with_its_checkbox_and_caption(candidates: list[Path]) -> None:
    grid = picker.PhotoPicker(candidates, captions=[f"#{i}" for i in range(5)], ticked=candidates[:2], cell=32)
    cells = grid.widget.children[1].children
    assert len(cells) == 5 and all(isinstance(cell.children[0], ipywidgets.Image) for cell in cells)
    assert cells[0].children[0].value[:2] == b"\xff\xd8"  # a JPEG thumbnail
    assert [box.description for box in grid.checkboxes] == ["#0", "#1", "#2", "#3", "#4"]
    assert grid.picked == candidates[:2]
    with pytest.raises(ValueError, match="captions"):
        picker.PhotoPicker(candidates, captions=["one"])


def test_without_widgets_it_shows_the_list_of_paths(candidates: list[Path]) -> None:
    grid = picker.PhotoPicker(candidates, ticked=[candidates[1]])
    bundle = grid._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == grid.widget.model_id
    lines = bundle["text/plain"].splitlines()
    assert lines[0] == "1 of 5 photos picked:"
    assert lines[1] == f"  1. [ ] {candidates[0]}" and lines[2] == f"  2. [x] {candidates[1]}"


def test_an_unattended_run_ticks_the_photos_it_names_and_a_person_s_run_ticks_none(
        candidates: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(picker.UNATTENDED_PICKS, raising=False)
    assert picker.PhotoPicker(candidates).picked == []  # a learner: only clicks tick
    monkeypatch.setenv(picker.UNATTENDED_PICKS, f"{candidates[1].name}, {candidates[3].parent.name}/IMG_3.jpg")
    grid = picker.PhotoPicker(candidates, ticked=[candidates[0]])
    assert grid.picked == [candidates[0], candidates[1], candidates[3]]  # as if a person had ticked them
    grid.tick([candidates[1]], value=False)  # and a click still unticks
    assert grid.picked == [candidates[0], candidates[3]]
