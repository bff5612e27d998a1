"""The search explorer: pick a query photo, k and a class, and the gallery redraws (introduced in notebook 04).

An ipywidgets panel around any search function; it knows nothing of Milvus. Each redraw must feel instant, so the
gallery is pasted together with Pillow from small thumbnails kept in memory and sent as one JPEG (the static
figures of `plots` use matplotlib, which takes about a second per gallery). It works with ipywidgets 7.7 (Colab)
and 8 (JupyterLab 4).

The page can read what the gallery shows (the browser tests do): the root widget has the CSS class
`search-explorer`, the picture is an <img> inside an element of class `explorer-gallery`, and one element of class
`explorer-caption` carries `data-query` (the query photo's file name), `data-hits` (how many hits are shown) and
`data-labels` (their labels, best first, joined by commas). Failures are shown in the `message` HTML widget.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from helpers.photos import data
from helpers.photos.hits import Hit
from helpers.pictures.plots import NEUTRAL_COLOR, OTHER_CLASS_COLOR, QUERY_COLOR, SAME_CLASS_COLOR

SearchFunction = Callable[[Path, int, "str | None"], Sequence[Hit]]  # (image_path, top_k, label)
TILE = 136  # thumbnail box, in pixels
NCOLS = 5  # hits per row (the query takes a column of its own on the left)
_GAP, _TEXT_HEIGHT, _FRAME = 10, 30, 3  # pixels between tiles, under each thumbnail for its text, frame width
TOOLTIPS = {
    "query": "The photo to search with: a test photo (its class is known, so hits are framed green or red) or "
             "one of yours",
    "top_k": "k: how many of the most similar photos Milvus returns",
    "class_filter": "Keep only the photos of one class: Milvus filters while it searches",
    "upload": "Choose a photo on your computer: it is saved in the data folder's uploads/ and becomes the query",
    "photo_path": "The path of a photo on this machine (on Colab: upload it in the Files pane, right-click it, "
                  "Copy path); press Enter",
}
COLAB_HINT = ("Colab's upload button drops photos of 1 MB or more, so here you give a path instead: upload your "
              "photo in the Files pane on the left (or with the upload cell above), right-click it, <i>Copy "
              "path</i>, paste it here and press Enter.")


class SearchExplorer:
    """Pick a query photo (or upload one), k and a class filter; the gallery redraws (notebook 04).

    `search(image_path, top_k, label)` returns the hits, best first; `label` is the class chosen in the
    menu, or None for any class (the notebook turns it into a Milvus filter). The picker lists `query_paths`
    (labelled, so hits are framed green or red) and then `extra_photos` (your own, unlabelled). Uploads are saved
    in `upload_dir` (default: the data folder's uploads/). On Colab, whose upload widget drops photos of 1 MB or
    more, a path box takes the upload button's place. Where widgets cannot render (a static viewer, nbval) the
    explorer shows its current gallery as a plain picture instead.
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
        self.message, self.caption = widgets.HTML(), widgets.HTML()
        self.gallery = widgets.Image(format="jpeg")
        self.upload, self.photo_path, photo_controls = _photo_controls(widgets)
        for name in TOOLTIPS:
            if getattr(self, name) is not None:
                _set_tooltip(getattr(self, name), TOOLTIPS[name])
        for text in (self.message, self.caption):
            _set_tooltip(text, "")  # its (hidden) label would otherwise carry title="null"
        gallery_box = widgets.Box([self.gallery])
        gallery_box.add_class("explorer-gallery")
        self.widget = widgets.VBox([widgets.HBox([self.query, *photo_controls]),
                                    widgets.HBox([self.top_k, self.class_filter]), self.message, self.caption,
                                    gallery_box])
        self.widget.add_class("search-explorer")
        self.hits: list[Hit] = []
        self.picture, self.redraws, self._holding = b"", 0, False
        for control in (self.query, self.top_k, self.class_filter):
            control.observe(self._on_change, names="value")
        if self.upload is not None:
            self.upload.observe(self._on_upload, names="value")
        if self.photo_path is not None:
            self.photo_path.observe(self._on_photo_path, names="value")
        self.redraw()

    def redraw(self) -> None:
        """Search with the current controls and replace the gallery and its caption."""
        query_path, label = self.query.value, self.labels.get(self.query.value)
        top_k, only = self.top_k.value, self.class_filter.value or None
        try:
            self.hits = list(self.search(query_path, top_k, only))
            self.message.value = ""
        except Exception as err:  # any failure is shown in the widget: a callback's exception would vanish
            self.hits = []
            self.message.value = f"<b>Search failed</b>: {html.escape(f'{type(err).__name__}: {err}')}"
        self.picture = gallery_jpeg(query_path, self.hits, label)
        self.gallery.value = self.picture
        self.caption.value = _caption_html(Path(query_path), self.hits, label, top_k, only)
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
        files = data.uploaded_files(change["new"])
        if not files:
            return
        clear_upload(self.upload)  # so that the same file can be uploaded again
        for name, content in files:
            try:
                self.add_photo(data.save_upload(name, content, self.upload_dir), name)
            except data.ImageLoadError as err:
                self.message.value = f"<b>Not an image</b>: {html.escape(str(err))}. Try a JPEG or PNG photo."

    def _on_photo_path(self, change: dict[str, Any]) -> None:
        text = change["new"].strip().strip("'\"")
        if not text:
            return
        path = Path(text).expanduser()
        try:
            data.load_image(path)
        except data.ImageLoadError as err:
            self.message.value = f"<b>Not a photo</b>: {html.escape(str(err))}"
            return
        self.add_photo(path)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget where widgets render; the current gallery as a JPEG everywhere else.

        Built by hand: ipywidgets 7 (Colab) has no `_repr_mimebundle_` on widgets, 8 has; both read this bundle.
        """
        return {"application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0,
                                                             "model_id": self.widget.model_id},
                "text/plain": f"SearchExplorer: {len(self.hits)} hits for {Path(self.query.value).name}",
                "image/jpeg": base64.b64encode(self.picture).decode()}


def upload_button(tooltip: str, description: str = "Your photo") -> Any:
    """An upload button for one photo, with a real tooltip in ipywidgets 7 and 8 (notebook 04).

    Not for Colab, whose upload widget drops photos of 1 MB or more: use `data.upload_with_colab` there.
    """
    import ipywidgets as widgets

    upload = widgets.FileUpload(accept="image/*", multiple=False, description=description)
    _set_tooltip(upload, tooltip)
    return upload


def _photo_controls(widgets: Any) -> tuple[Any, Any, list[Any]]:
    """The upload button, or on Colab a path box with a hint: (upload, photo_path, widgets to show)."""
    if not data.on_colab():
        upload = upload_button(TOOLTIPS["upload"])
        return upload, None, [upload]
    photo_path = widgets.Text(description="Your photo", placeholder="/content/my_dog.jpg", continuous_update=False)
    hint = widgets.HTML(f"<small>{COLAB_HINT}</small>")
    _set_tooltip(hint, "")
    return None, photo_path, [photo_path, hint]


def _set_tooltip(control: Any, text: str) -> None:
    """Give a control a real tooltip: `tooltip` in ipywidgets 8, `description_tooltip` in 7 (else title="null")."""
    major = int(sys.modules["ipywidgets"].__version__.split(".")[0])
    setattr(control, "tooltip" if major >= 8 else "description_tooltip", text)


def clear_upload(upload: Any) -> None:
    """Empty a FileUpload so that the same file can be chosen again, in ipywidgets 7.7 and 8."""
    if isinstance(upload.value, dict):  # 7.x: value is read-only, derived from `data` and `metadata`
        upload.metadata = []
        upload.data = []
        upload.set_trait("value", {})
    else:  # 8.x: a tuple of files
        upload.value = ()


def _caption_html(query_path: Path, hits: Sequence[Hit], query_label: str | None, top_k: int,
                  only: str | None) -> str:
    """The caption: what the gallery shows, in words and in data-* attributes that a page (or a test) can read."""
    labels = ",".join(hit.label for hit in hits)
    words = f"{len(hits)} hits for <b>{html.escape(query_path.name)}</b>"
    if query_label is not None and hits:
        same = sum(hit.label == query_label for hit in hits)
        words += f": {same} of the query's class ({html.escape(query_label)}), framed green"
    if only and len(hits) < top_k:
        words += f". Only {len(hits)} photos of class {html.escape(only)} are stored, fewer than k = {top_k}"
    return (f'<div class="explorer-caption" data-query="{html.escape(query_path.name)}" data-hits="{len(hits)}" '
            f'data-labels="{html.escape(labels)}">{words}</div>')


def gallery_jpeg(query_path: Path | str, hits: Sequence[Hit], query_label: str | None = None,
                 ncols: int = NCOLS, quality: int = 85) -> bytes:
    """The explorer's gallery as JPEG bytes: the query, then each hit with rank, class and cosine score (notebook 04).

    Frames as in `plots.show_results`: blue for the query, green for the query's class, red dashed for another,
    grey when the query's class is unknown. Thumbnails are kept in memory, so a redraw takes milliseconds.
    """
    rows = max(1, -(-len(hits) // ncols))
    cell_w, cell_h = TILE + _GAP, TILE + _TEXT_HEIGHT + _GAP
    canvas = Image.new("RGB", (_GAP + (ncols + 1) * cell_w + _GAP, _GAP + rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    _draw_tile(canvas, draw, (_GAP, _GAP), query_path, QUERY_COLOR, ["query", query_label or "your photo"])
    for rank, hit in enumerate(hits, start=1):
        row, col = divmod(rank - 1, ncols)
        color = NEUTRAL_COLOR if query_label is None else \
            SAME_CLASS_COLOR if hit.label == query_label else OTHER_CLASS_COLOR
        origin = (2 * _GAP + (col + 1) * cell_w, _GAP + row * cell_h)
        _draw_tile(canvas, draw, origin, hit.path, color, [f"#{rank} {hit.label}", f"cos {hit.score:.3f}"],
                   dashed=color == OTHER_CLASS_COLOR)
    if not hits:
        draw.text((2 * _GAP + cell_w + 10, _GAP + TILE // 2), "no hits", fill="black", font=_font())
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _draw_tile(canvas: Image.Image, draw: ImageDraw.ImageDraw, origin: tuple[int, int], path: Path | str,
               color: str, lines: list[str], dashed: bool = False) -> None:
    """One thumbnail, centred in its box, framed in `color`, with its text underneath."""
    x, y = origin
    try:
        thumb = _thumbnail(str(path), data.text_to_path(path).stat().st_mtime_ns)
    except (OSError, data.ImageLoadError):
        thumb = Image.new("RGB", (TILE, TILE), "#dddddd")  # a photo that went missing: a grey box
    left, top = x + (TILE - thumb.width) // 2, y + (TILE - thumb.height) // 2
    canvas.paste(thumb, (left, top))
    box = (left - _FRAME, top - _FRAME, left + thumb.width + _FRAME - 1, top + thumb.height + _FRAME - 1)
    if dashed:
        _dashed_rectangle(draw, box, color)
    else:
        draw.rectangle(box, outline=color, width=_FRAME)
    for i, line in enumerate(lines):
        draw.text((x, y + TILE + 4 + 13 * i), _fit(line), fill=color, font=_font())


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], color: str, dash: int = 7) -> None:
    """A rectangle outline of dashes, like matplotlib's '--' frame of a hit of another class."""
    x0, y0, x1, y1 = box
    for start in range(x0, x1, 2 * dash):
        for y in (y0, y1 - _FRAME + 1):
            draw.rectangle((start, y, min(start + dash, x1), y + _FRAME - 1), fill=color)
    for start in range(y0, y1, 2 * dash):
        for x in (x0, x1 - _FRAME + 1):
            draw.rectangle((x, start, x + _FRAME - 1, min(start + dash, y1)), fill=color)


def _fit(text: str, width: int = 21) -> str:
    """Shorten a long class name to fit under a thumbnail."""
    return text if len(text) <= width else text[: width - 1] + "…"


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at 12 px (a scalable one from Pillow 10.1; the small bitmap one before)."""
    try:
        return ImageFont.load_default(size=12)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


@functools.lru_cache(maxsize=600)
def _thumbnail(path: str, mtime_ns: int) -> Image.Image:
    """A photo shrunk to fit TILE x TILE, decoded at reduced scale; cached per file version (about 50 KB each)."""
    image = data.load_image(path, min_side=TILE)
    image.thumbnail((TILE, TILE))
    return image
