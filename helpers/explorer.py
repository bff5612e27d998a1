"""The search explorer: pick a query photo, k and a class, and the gallery redraws (introduced in notebook 04).

An ipywidgets panel around any search function; it draws with `plots` and knows nothing of Milvus.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from helpers import data, plots
from helpers.hits import Hit

SearchFunction = Callable[[Path, int, "str | None"], Sequence[Hit]]  # (image_path, top_k, label)


class SearchExplorer:
    """Pick a query photo (or upload one), k and a class filter; the gallery redraws (notebook 04).

    `search(image_path, top_k, label)` returns the hits, best first; `label` is the class chosen in the
    menu, or None for any class (the notebook turns it into a Milvus filter). The picker lists `query_paths`
    (labelled, so hits are framed green or red) and then `extra_photos` (your own, unlabelled). Where widgets
    cannot render (a static viewer, nbval) the explorer shows its current gallery as a plain picture instead.
    """

    def __init__(self, search: SearchFunction, query_paths: Sequence[Path], query_labels: Sequence[str],
                 classes: Sequence[str], top_k: int = 10, max_k: int = 30, upload_dir: Path | None = None,
                 extra_photos: Sequence[Path] = ()):
        import ipywidgets as widgets

        self.search, self.upload_dir = search, upload_dir
        self.labels = {Path(p): label for p, label in zip(query_paths, query_labels, strict=True)}
        self.query = widgets.Dropdown(options=[(f"{label} ({p.stem})", p) for p, label in self.labels.items()]
                                      + [(f"your photo: {Path(p).name}", Path(p)) for p in extra_photos],
                                      description="Query", layout={"width": "380px"})
        self.top_k = widgets.IntSlider(value=top_k, min=1, max=max_k, description="k", continuous_update=False)
        self.class_filter = widgets.Dropdown(options=[("any class", "")] + [(c, c) for c in classes],
                                             description="Only class")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Your photo")
        self.message = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox([self.query, self.upload]),
                                    widgets.HBox([self.top_k, self.class_filter]), self.message, self.output])
        self.hits: list[Hit] = []
        self.png, self.redraws, self._holding = b"", 0, False
        for control in (self.query, self.top_k, self.class_filter):
            control.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.redraw()

    def redraw(self) -> None:
        """Search with the current controls and replace the gallery in the output area."""
        query_path, label = self.query.value, self.labels.get(self.query.value)
        try:
            self.hits = list(self.search(query_path, self.top_k.value, self.class_filter.value or None))
            self.message.value = ""
        except Exception as err:  # any failure is shown in the widget: a callback's exception would vanish
            self.hits = []
            self.message.value = f"<b>Search failed</b>: {html.escape(f'{type(err).__name__}: {err}')}"
        fig = plots.show_results(query_path, self.hits, label, ncols=5, size=1.8)
        self.png = plots.figure_png(fig)
        plt.close(fig)
        self.output.outputs = ({"output_type": "display_data", "metadata": {}, "data": {
            "image/png": base64.b64encode(self.png).decode(), "text/plain": f"<gallery of {len(self.hits)} hits>"}},)
        self.redraws += 1

    def add_photo(self, path: Path, name: str | None = None) -> None:
        """Add a photo to the query picker, select it and redraw once."""
        path = Path(path)
        self._holding = True
        try:
            self.query.options = (*self.query.options, (f"your photo: {name or path.name}", path))
            self.query.value = path
        finally:
            self._holding = False
        self.redraw()

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._holding:
            self.redraw()

    def _on_upload(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            return
        self.upload.value = ()  # clear it, so that the same file can be uploaded again
        for item in change["new"]:
            try:
                self.add_photo(data.save_upload(item["name"], item["content"], self.upload_dir), item["name"])
            except data.ImageLoadError as err:
                self.message.value = f"<b>Not an image</b>: {html.escape(str(err))}. Try a JPEG or PNG photo."

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget where widgets render; the current gallery as a PNG everywhere else."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.png).decode()
        return bundle
