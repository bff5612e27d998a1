"""The picking step: tick the photos that really are your dog, in a grid of thumbnails (introduced in notebook 06).

Search finds dogs; only you know which dog is yours. `PhotoPicker` shows candidate photos with a checkbox
under each; `picked` is what you ticked, ready for `album.add_to_album`. It works with ipywidgets 7.7 (Colab)
and 8 (JupyterLab 4). Where widgets cannot render (a static viewer, nbval) it shows a numbered list of the
paths with the ticked ones marked, and code can tick photos too (`tick`), as the tests do.

Nobody clicks in an unattended run of the notebooks (nbval, CI): there, and only there, the environment variable
`UNATTENDED_PICKS` lists the photos a person would tick (the demo folder's photos of the dog, set by conftest.py), and
each picker ticks those of its photos when it is made. It is not a learner's setting: without it, only your ticks count.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import ImageOps

from helpers.photos import data

UNATTENDED_PICKS = "UNATTENDED_PICKS"  # comma-separated photo paths (or their ends) an unattended run ticks


class PhotoPicker:
    """A grid of thumbnails, each with a checkbox: tick the photos that are your dog (notebook 06).

    `ticked` photos start ticked; one that is not among `image_paths` (your example photo, when the search did
    not return it because its tags say something else) is shown first, so that it is never left out.
    """

    def __init__(self, image_paths: Sequence[Path | str], captions: Sequence[str] | None = None, ncols: int = 5,
                 cell: int = 140, ticked: Sequence[Path | str] = ()):
        import ipywidgets as widgets

        shown = [Path(p) for p in image_paths]
        captions = list(captions) if captions is not None else [p.name for p in shown]
        if len(captions) != len(shown):
            raise ValueError(f"Got {len(captions)} captions for {len(shown)} photos.")
        extra = list(dict.fromkeys(Path(p) for p in ticked if Path(p) not in shown))  # e.g. an untagged example
        self.image_paths = extra + shown
        captions = [p.name for p in extra] + captions
        self.checkboxes = [widgets.Checkbox(value=False, description=caption, indent=False,
                                            layout=widgets.Layout(width=f"{cell}px"))
                           for caption in captions]
        cells = [widgets.VBox([widgets.Image(value=_thumbnail(path, cell), format="jpeg"), checkbox])
                 for path, checkbox in zip(self.image_paths, self.checkboxes, strict=True)]
        self.count = widgets.HTML()
        grid = widgets.GridBox(cells, layout=widgets.Layout(
            grid_template_columns=f"repeat({ncols}, {cell + 12}px)", grid_gap="6px"))
        self.widget = widgets.VBox([self.count, grid])
        for checkbox in self.checkboxes:
            checkbox.observe(self._on_tick, names="value")
        self.tick(ticked)
        self.tick([path for path in self.image_paths if _unattended_pick(path)])  # only in unattended runs
        self._on_tick()

    @property
    def picked(self) -> list[Path]:
        """The ticked photos, in the grid's order."""
        return [path for path, box in zip(self.image_paths, self.checkboxes, strict=True) if box.value]

    def tick(self, image_paths: Sequence[Path | str], value: bool = True) -> None:
        """Tick (or, with value=False, untick) these photos, as a click would; ValueError for a photo not shown."""
        wanted = {Path(p) for p in image_paths}
        unknown = wanted - set(self.image_paths)
        if unknown:
            raise ValueError(f"{sorted(map(str, unknown))[0]} is not one of the photos in this picker.")
        for path, box in zip(self.image_paths, self.checkboxes, strict=True):
            if path in wanted:
                box.value = value

    def as_text(self) -> str:
        """The photos as a numbered list, ticked ones marked [x]: what shows where widgets cannot render."""
        lines = [f"{len(self.picked)} of {len(self.image_paths)} photos picked:"]
        lines += [f"{i:3d}. [{'x' if box.value else ' '}] {path}"
                  for i, (path, box) in enumerate(zip(self.image_paths, self.checkboxes, strict=True), start=1)]
        return "\n".join(lines)

    def _on_tick(self, change: dict[str, Any] | None = None) -> None:
        self.count.value = f"<b>{len(self.picked)} of {len(self.image_paths)} picked</b>: tick every photo of your dog"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live grid where widgets render (ipywidgets 7 and 8 alike); the list of paths everywhere else."""
        view = {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}
        return {"application/vnd.jupyter.widget-view+json": view, "text/plain": self.as_text()}


def _unattended_pick(path: Path) -> bool:
    """True when UNATTENDED_PICKS (set only for unattended runs) names this photo: a path, or the end of one."""
    wanted = [entry.strip() for entry in os.environ.get(UNATTENDED_PICKS, "").split(",") if entry.strip()]
    return any(path.as_posix().endswith(entry) for entry in wanted)


def _thumbnail(path: Path, cell: int) -> bytes:
    """The photo shrunk to fit a cell x cell square (EXIF rotation applied), as JPEG bytes."""
    image = ImageOps.contain(data.load_image(path, min_side=cell), (cell, cell))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()
