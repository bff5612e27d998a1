"""Tests for helpers.explorer: the search explorer's controls reach the search, and every redraw is shown."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import pytest
from PIL import Image
from support import ranked_hits

from helpers.explorer import SearchExplorer
from helpers.hits import Hit

matplotlib.use("Agg")


class RecordingSearch:
    """A stand-in for the notebook's search (embed, then store.search_similar): records each call, returns hits."""

    def __init__(self, hits: list[Hit], fail: bool = False):
        self.calls: list[tuple[Path, int, str | None]] = []
        self.hits, self.fail = hits, fail

    def __call__(self, image_path: Path, top_k: int, label: str | None) -> list[Hit]:
        self.calls.append((image_path, top_k, label))
        if self.fail:
            raise ConnectionError("Milvus is not running")
        return self.hits[:top_k]


@pytest.fixture
def make_explorer(solid_images, tmp_path) -> Callable[..., tuple[SearchExplorer, RecordingSearch]]:
    def _make(fail: bool = False):
        labels = ["dog", "cat", "dog", "dog", "cow", "dog", "cat", "dog"]
        search = RecordingSearch(ranked_hits(solid_images[2:], labels), fail)
        explorer = SearchExplorer(search, solid_images[:2], ["dog", "cat"], classes=["cat", "cow", "dog"],
                                  top_k=4, max_k=8, upload_dir=tmp_path / "uploads")
        return explorer, search
    return _make


def _shown_png(explorer: SearchExplorer) -> Image.Image:
    (output,) = explorer.output.outputs
    return Image.open(io.BytesIO(base64.b64decode(output["data"]["image/png"])))


def test_explorer_draws_the_first_gallery_at_once(make_explorer, solid_images):
    explorer, search = make_explorer()
    assert search.calls == [(solid_images[0], 4, None)]
    assert explorer.redraws == 1 and len(explorer.hits) == 4
    assert _shown_png(explorer).format == "PNG"


def test_explorer_slider_and_filter_reach_the_search(make_explorer, solid_images):
    explorer, search = make_explorer()
    explorer.top_k.value = 7
    explorer.class_filter.value = "dog"
    explorer.query.value = solid_images[1]
    assert search.calls[1:] == [(solid_images[0], 7, None), (solid_images[0], 7, "dog"), (solid_images[1], 7, "dog")]
    assert explorer.redraws == 4 and len(explorer.hits) == 7
    explorer.class_filter.value = ""  # "any class"
    assert search.calls[-1] == (solid_images[1], 7, None)
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
    first = explorer.png
    explorer.top_k.value = 8
    assert len(explorer.output.outputs) == 1  # replaced, not appended
    assert explorer.png != first and _shown_png(explorer).size != Image.open(io.BytesIO(first)).size


def test_explorer_upload_becomes_the_query(make_explorer, make_image, tmp_path):
    explorer, search = make_explorer()
    content = make_image("phone.png", size=(50, 40)).read_bytes()
    explorer.upload.value = ({"name": "phone.png", "type": "image/png", "size": len(content),
                              "content": memoryview(content), "last_modified": datetime.now(timezone.utc)},)
    uploaded = tmp_path / "uploads" / "phone.png"
    assert search.calls[-1] == (uploaded, 4, None) and explorer.redraws == 2  # one redraw, not three
    assert explorer.query.value == uploaded
    assert explorer.query.options[-1] == ("your photo: phone.png", uploaded)
    assert explorer.upload.value == ()  # cleared, so that the same file can be uploaded again


def test_explorer_reports_a_bad_upload_and_a_failed_search(make_explorer):
    explorer, _ = make_explorer()
    explorer.upload.value = ({"name": "x.jpg", "type": "image/jpeg", "size": 3, "content": memoryview(b"abc"),
                              "last_modified": datetime.now(timezone.utc)},)
    assert "Not an image" in explorer.message.value and explorer.redraws == 1
    failing, _ = make_explorer(fail=True)
    assert "ConnectionError: Milvus is not running" in failing.message.value and failing.hits == []
    assert _shown_png(failing).format == "PNG"  # the gallery says "no hits" instead of vanishing


def test_explorer_falls_back_to_a_picture_where_widgets_cannot_render(make_explorer):
    explorer, _ = make_explorer()
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"] and "text/plain" in bundle


