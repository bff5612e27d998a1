"""Tests for pictures.explorer: the controls reach the search, every redraw is shown, the page can read the gallery.

They run with whichever ipywidgets is installed: 8 here and in JupyterLab 4; with 7.7 (Colab's) on the path, e.g.
`pip install --no-deps --target /tmp/iw77 ipywidgets==7.7.1 ipython_genutils` and PYTHONPATH=/tmp/iw77, they
check the 7.x code paths (upload value, clearing, tooltips) the same way.
"""

from __future__ import annotations

import base64
import io
import re
import sys
import types
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import ipywidgets
import numpy as np
import pytest
import traitlets
from PIL import Image
from support import ranked_hits

from helpers.photos.hits import Hit
from helpers.pictures import explorer as explorer_module
from helpers.pictures.explorer import SearchExplorer

IPYWIDGETS_MAJOR = int(ipywidgets.__version__.split(".")[0])


class RecordingSearch:
    """A stand-in for the notebook's search (embed, then store.search_similar): records each call, returns hits."""

    def __init__(self, hits: list[Hit], fail: bool = False):
        self.calls: list[tuple[Path, int, str | None]] = []
        self.hits, self.fail = hits, fail

    def __call__(self, image_path: Path, top_k: int, label: str | None) -> list[Hit]:
        self.calls.append((image_path, top_k, label))
        if self.fail:
            raise ConnectionError("Milvus is not running")
        hits = [hit for hit in self.hits if label is None or hit.label == label]
        return hits[:top_k]


@pytest.fixture
def make_explorer(solid_images, tmp_path) -> Callable[..., tuple[SearchExplorer, RecordingSearch]]:
    def _make(fail: bool = False):
        labels = ["dog", "cat", "dog", "dog", "cow", "dog", "cat", "dog"]
        search = RecordingSearch(ranked_hits(solid_images[2:], labels), fail)
        explorer = SearchExplorer(search, solid_images[:2], ["dog", "cat"], classes=["cat", "cow", "dog"],
                                  top_k=4, max_k=8, upload_dir=tmp_path / "uploads")
        return explorer, search
    return _make


def shown_picture(explorer: SearchExplorer) -> Image.Image:
    """The picture the gallery widget holds now."""
    assert explorer.gallery.format == "jpeg"
    return Image.open(io.BytesIO(explorer.gallery.value))


def caption(explorer: SearchExplorer) -> dict[str, str]:
    """The data-* attributes of the caption element, as the browser tests read them."""
    (element,) = re.findall(r"<div [^>]*class=\"explorer-caption\"[^>]*>", explorer.caption.value)
    return dict(re.findall(r'data-(\w+)="([^"]*)"', element))


def simulate_upload(upload, name: str, content: bytes) -> None:
    """What the front end does when a file is chosen, in the installed ipywidgets' own format."""
    if IPYWIDGETS_MAJOR >= 8:
        upload.value = ({"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
                         "last_modified": datetime.now(timezone.utc)},)
    else:  # 7.x: the front end sets metadata and data, then bumps a counter that fills the read-only value
        upload.metadata = [{"name": name, "type": "image/png", "size": len(content), "lastModified": 0}]
        upload.data = [content]
        upload._counter += 1


def test_explorer_draws_the_first_gallery_at_once(make_explorer, solid_images):
    explorer, search = make_explorer()
    assert search.calls == [(solid_images[0], 4, None)]
    assert explorer.redraws == 1 and len(explorer.hits) == 4
    assert shown_picture(explorer).format == "JPEG" and explorer.picture == explorer.gallery.value


def test_explorer_offers_the_page_a_readable_gallery(make_explorer, solid_images):
    explorer, _ = make_explorer()
    assert "search-explorer" in explorer.widget._dom_classes
    gallery_boxes = [child for child in explorer.widget.children if "explorer-gallery" in child._dom_classes]
    assert [box.children for box in gallery_boxes] == [(explorer.gallery,)]
    assert caption(explorer) == {"query": "solid_0.jpg", "hits": "4", "labels": "dog,cat,dog,dog"}
    assert explorer.message in explorer.widget.children
    explorer.class_filter.value = "dog"
    assert caption(explorer) == {"query": "solid_0.jpg", "hits": "4", "labels": "dog,dog,dog,dog"}


def test_explorer_slider_and_filter_reach_the_search(make_explorer, solid_images):
    explorer, search = make_explorer()
    explorer.top_k.value = 7
    explorer.class_filter.value = "dog"
    explorer.query.value = solid_images[1]
    assert search.calls[1:] == [(solid_images[0], 7, None), (solid_images[0], 7, "dog"), (solid_images[1], 7, "dog")]
    assert explorer.redraws == 4 and len(explorer.hits) == 5  # only 5 dogs among the 8 stored photos
    assert "Only 5 photos of class dog are stored, fewer than k = 7" in explorer.caption.value
    explorer.class_filter.value = ""  # "any class"
    assert search.calls[-1] == (solid_images[1], 7, None) and len(explorer.hits) == 7
    assert "fewer than" not in explorer.caption.value
    assert explorer.class_filter.options[0] == ("any class", "")


def test_explorer_lists_extra_photos_without_a_label(solid_images):
    search = RecordingSearch(ranked_hits(solid_images[2:5], ["dog", "cat", "dog"]))
    explorer = SearchExplorer(search, solid_images[:1], ["dog"], ["cat", "dog"], extra_photos=[solid_images[9]])
    assert explorer.query.options[-1] == ("your photo: solid_9.jpg", solid_images[9])
    assert not explorer.top_k.continuous_update  # dragging the slider searches once, on release
    explorer.query.value = solid_images[9]
    assert search.calls[-1] == (solid_images[9], 10, None)
    assert explorer.labels.get(solid_images[9]) is None


def test_explorer_redraw_replaces_the_gallery(make_explorer):
    explorer, _ = make_explorer()
    first = explorer.picture
    explorer.top_k.value = 8
    assert explorer.picture != first
    assert shown_picture(explorer).size[1] > Image.open(io.BytesIO(first)).size[1]  # two rows of hits, not one


def test_gallery_frames_hits_by_class(tmp_path):
    grey = []
    for i in range(3):
        grey.append(tmp_path / f"grey_{i}.jpg")
        Image.new("RGB", (120, 90), (128, 128, 128)).save(grey[-1])

    def framed(hits, query_label):
        picture = np.asarray(Image.open(io.BytesIO(explorer_module.gallery_jpeg(grey[0], hits, query_label))))
        red, green, blue = (picture[..., c].astype(int) for c in range(3))
        return {"green": int(((green > 120) & (red < 60) & (blue < 110)).sum()),  # #1a9850: same class
                "red": int(((red > 180) & (green < 80) & (blue < 80)).sum())}  # #d73027, dashed: another class

    labelled = framed(ranked_hits(grey[1:], ["dog", "cat"]), "dog")
    assert labelled["green"] > 300 and labelled["red"] > 150
    assert framed(ranked_hits(grey[1:], ["dog", "dog"]), "dog")["red"] < 20  # no hit of another class
    unlabelled = framed(ranked_hits(grey[1:], ["dog", "cat"]), None)  # your own photo: grey frames only
    assert unlabelled["green"] < 20 and unlabelled["red"] < 20


def test_explorer_upload_becomes_the_query(make_explorer, make_image, tmp_path):
    explorer, search = make_explorer()
    content = make_image("phone.png", size=(50, 40)).read_bytes()
    simulate_upload(explorer.upload, "phone.png", content)
    uploaded = tmp_path / "uploads" / "phone.png"
    assert search.calls[-1] == (uploaded, 4, None) and explorer.redraws == 2  # one redraw, not three
    assert explorer.query.value == uploaded and uploaded.read_bytes() == content
    assert explorer.query.options[-1] == ("your photo: phone.png", uploaded)
    assert not explorer.upload.value  # cleared, so that the same file can be uploaded again
    assert caption(explorer)["query"] == "phone.png"
    simulate_upload(explorer.upload, "phone.png", content)  # the same file once more: a redraw again
    assert explorer.redraws == 3


def test_explorer_reports_a_bad_upload_and_a_failed_search(make_explorer):
    explorer, _ = make_explorer()
    simulate_upload(explorer.upload, "x.jpg", b"abc")
    assert "Not an image" in explorer.message.value and explorer.redraws == 1
    failing, _ = make_explorer(fail=True)
    assert "ConnectionError: Milvus is not running" in failing.message.value and failing.hits == []
    assert shown_picture(failing).format == "JPEG"  # the gallery shows the query and no hits instead of vanishing
    assert caption(failing)["hits"] == "0"


def test_every_control_has_a_real_tooltip(make_explorer):
    explorer, _ = make_explorer()
    trait = "tooltip" if IPYWIDGETS_MAJOR >= 8 else "description_tooltip"
    for name in ("query", "top_k", "class_filter", "upload"):
        assert getattr(getattr(explorer, name), trait) == explorer_module.TOOLTIPS[name]


class FileUpload7(traitlets.HasTraits):
    """The value traits of ipywidgets 7.7's FileUpload (Colab's): `value` is read-only, filled from data+metadata."""

    value = traitlets.Dict(read_only=True)
    data = traitlets.List()
    metadata = traitlets.List()


class FileUpload8(traitlets.HasTraits):
    """The value trait of ipywidgets 8's FileUpload: a tuple of dicts, one per file."""

    value = traitlets.Tuple()


def test_clear_upload_in_both_widget_versions():
    old = FileUpload7(data=[b"x"], metadata=[{"name": "a.png"}])
    old.set_trait("value", {"a.png": {"metadata": {"name": "a.png"}, "content": b"x"}})
    explorer_module.clear_upload(old)
    assert (old.value, old.data, old.metadata) == ({}, [], [])
    new = FileUpload8(value=({"name": "a.png", "content": memoryview(b"x")},))
    explorer_module.clear_upload(new)
    assert new.value == ()


@pytest.fixture
def on_colab(monkeypatch):
    """The explorer believes it runs on Colab (google.colab imported)."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_on_colab_a_path_box_replaces_the_upload_button(on_colab, make_explorer, make_image, tmp_path):
    explorer, search = make_explorer()
    assert explorer.upload is None and explorer.photo_path is not None
    assert not any(isinstance(w, ipywidgets.FileUpload) for w in explorer.widget.children[0].children)
    assert "Files pane" in explorer.widget.children[0].children[-1].value
    explorer.photo_path.value = str(tmp_path / "nothing.jpg")
    assert "Not a photo" in explorer.message.value and explorer.redraws == 1
    photo = make_image("big phone photo.png", size=(64, 48))
    explorer.photo_path.value = f"'{photo}'"  # as copied, quotes and all
    assert search.calls[-1] == (photo, 4, None) and explorer.query.value == photo


def test_explorer_falls_back_to_a_picture_where_widgets_cannot_render(make_explorer):
    explorer, _ = make_explorer()
    bundle = explorer._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == explorer.widget.model_id and view["version_major"] == 2
    assert Image.open(io.BytesIO(base64.b64decode(bundle["image/jpeg"]))).format == "JPEG"
    assert "4 hits" in bundle["text/plain"]


def test_upload_button_and_text_widgets_have_no_null_tooltip(make_explorer):
    trait = "tooltip" if IPYWIDGETS_MAJOR >= 8 else "description_tooltip"
    tip = "Choose a photo, then run the next cell"
    button = explorer_module.upload_button(tip)
    assert isinstance(button, ipywidgets.FileUpload) and getattr(button, trait) == tip
    explorer, _ = make_explorer()
    assert getattr(explorer.message, trait) == "" and getattr(explorer.caption, trait) == ""  # not None: "null"
