"""Tests for helpers.photos.data: fetching, verifying and reading the sample dataset, on generated copies."""

from __future__ import annotations

import csv
import http.server
import shutil
import sys
import threading
import types
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers.photos import data


@pytest.fixture
def broken_copy(fake_dataset: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the fake dataset for a test to damage."""
    return Path(shutil.copytree(fake_dataset, tmp_path / "copy"))


def _leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir()) if data_dir.exists() else []


def test_fake_dataset_is_valid_and_loads(fake_dataset: Path) -> None:
    data.verify_dataset(fake_dataset)
    dataset = data.load_dataset(fake_dataset)
    assert len(dataset.train) == 1000 and len(dataset.test) == 100
    assert len(dataset.classes) == 100
    assert all(path.parent.name == label for path, label in zip(dataset.train.image_paths, dataset.train.labels))


def test_missing_folder_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetError, match="download_dataset"):
        data.verify_dataset(tmp_path / "nowhere")


def test_missing_class_is_named(broken_copy: Path) -> None:
    shutil.rmtree(broken_copy / "train" / "class_042")
    with pytest.raises(data.DatasetError, match="99 class folders"):
        data.verify_dataset(broken_copy)


def test_missing_image_is_named(broken_copy: Path) -> None:
    (broken_copy / "test" / "class_007" / "n00000007_0.JPEG").unlink()
    with pytest.raises(data.DatasetError, match="class_007 has 0 images"):
        data.verify_dataset(broken_copy)


def test_empty_jpeg_is_rejected(broken_copy: Path) -> None:
    (broken_copy / "train" / "class_003" / "n00000003_5.JPEG").write_bytes(b"")
    with pytest.raises(data.DatasetError, match="not a JPEG"):
        data.verify_dataset(broken_copy)


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[:-1], "999 rows"),
    (lambda rows: [*rows[:-1], [rows[-1][0], "./train/class_099/missing.JPEG", "class_099"]], "listed but missing"),
    (lambda rows: [*rows[:-1], [rows[-1][0], rows[-1][1], "class_000"]], "wrong label"),
])
def test_csv_that_disagrees_with_files(broken_copy: Path, edit, message: str) -> None:
    csv_path = broken_copy / data.CSV_NAME
    header, *rows = list(csv.reader(csv_path.open()))
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([header, *edit(rows)])
    with pytest.raises(data.DatasetError, match=message):
        data.verify_dataset(broken_copy)


def test_folder_source_is_used_in_place(fake_dataset: Path, tmp_path: Path) -> None:
    assert data.download_dataset(tmp_path / "data", source=fake_dataset) == fake_dataset
    assert _leftovers(tmp_path / "data") == []


def test_zip_source_is_extracted_and_verified(fake_zip: Path, tmp_path: Path) -> None:
    root = data.download_dataset(tmp_path / "data", source=fake_zip)
    assert root == tmp_path / "data" / "reverse_image_search"
    assert len(data.load_dataset(root).train) == 1000
    assert _leftovers(tmp_path / "data") == ["reverse_image_search"]


def test_valid_copy_is_not_fetched_again(fake_zip: Path, tmp_path: Path) -> None:
    root = data.download_dataset(tmp_path / "data", source=fake_zip)
    marker = root / "train" / "class_000" / "n00000000_0.JPEG"
    before = marker.stat().st_mtime_ns
    assert data.download_dataset(tmp_path / "data", source="",
                                  urls=("http://127.0.0.1:9/never-called",)) == root
    assert marker.stat().st_mtime_ns == before


def test_truncated_zip_leaves_nothing_behind(fake_zip: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(fake_zip.read_bytes()[: fake_zip.stat().st_size // 2])
    with pytest.raises(data.DatasetError, match="not a complete zip"):
        data.download_dataset(tmp_path / "data", source=truncated)
    assert _leftovers(tmp_path / "data") == []


def test_zip_with_disagreeing_csv_leaves_nothing_behind(broken_copy: Path, tmp_path: Path) -> None:
    (broken_copy / "train" / "class_010" / "n00000010_3.JPEG").rename(
        broken_copy / "train" / "class_010" / "renamed.JPEG")
    zip_path = tmp_path / "bad.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(broken_copy.rglob("*")):
            archive.write(path, Path("reverse_image_search") / path.relative_to(broken_copy))
    with pytest.raises(data.DatasetError, match="disagrees"):
        data.download_dataset(tmp_path / "data", source=zip_path)
    assert _leftovers(tmp_path / "data") == []


def test_missing_source_is_reported(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetError, match="does not exist"):
        data.download_dataset(tmp_path / "data", source=tmp_path / "nope.zip")


@pytest.fixture
def zip_server(fake_zip: Path) -> Iterator[str]:
    """A local web server on 127.0.0.1: /dataset.zip is the fake zip, every other path is a 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            if self.path != "/dataset.zip":
                self.send_error(404)
                return
            body = fake_zip.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_download_falls_back_to_the_mirror(zip_server: str, tmp_path: Path) -> None:
    root = data.download_dataset(tmp_path / "data", source="", urls=(f"{zip_server}/gone.zip",
                                                                     f"{zip_server}/dataset.zip"))
    assert len(data.load_dataset(root).test) == 100
    assert _leftovers(tmp_path / "data") == ["reverse_image_search"]


def test_failed_download_names_every_url_and_the_offline_setting(zip_server: str, tmp_path: Path) -> None:
    with pytest.raises(data.DatasetError, match="DATASET_SOURCE") as err:
        data.download_dataset(tmp_path / "data", source="", urls=(f"{zip_server}/a.zip", f"{zip_server}/b.zip"))
    assert "a.zip" in str(err.value) and "b.zip" in str(err.value)
    assert _leftovers(tmp_path / "data") == []


def test_invalid_existing_copy_is_replaced(fake_zip: Path, tmp_path: Path) -> None:
    root = data.download_dataset(tmp_path / "data", source=fake_zip)
    shutil.rmtree(root / "test" / "class_001")
    with pytest.warns(UserWarning, match="not valid"):
        assert data.download_dataset(tmp_path / "data", source=fake_zip) == root
    data.verify_dataset(root)


def test_real_dataset_matches_the_published_layout(real_dataset: data.Dataset) -> None:
    assert (len(real_dataset.train), len(real_dataset.test), len(real_dataset.classes)) == (1000, 100, 100)
    assert real_dataset.test.labels == real_dataset.classes


def test_list_images_finds_nested_photos(make_image, tmp_path: Path) -> None:
    make_image("a.png")
    (tmp_path / "sub").mkdir()
    make_image("sub/b.JPG")
    (tmp_path / "notes.txt").write_text("not a photo")
    assert [p.name for p in data.list_images(tmp_path)] == ["a.png", "b.JPG"]


def test_save_upload_writes_a_readable_photo(tmp_path, make_image):
    content = make_image("src.png", mode="RGBA").read_bytes()
    path = data.save_upload("my dog (1).png", content, tmp_path / "uploads")
    assert path == tmp_path / "uploads" / "my_dog__1_.png"
    assert data.load_image(path).mode == "RGB"
    assert data.save_upload("../../etc/x.png", content, tmp_path / "up2").parent == tmp_path / "up2"


def test_save_upload_refuses_what_is_not_an_image(tmp_path):
    with pytest.raises(data.ImageLoadError, match="not an image"):
        data.save_upload("notes.jpg", b"hello, not a photo", tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing kept, not even a temporary file


def test_save_upload_defaults_to_the_uploads_folder_of_the_data_folder(tmp_settings, make_image):
    path = data.save_upload("a.png", make_image("b.png").read_bytes())
    assert path == tmp_settings.data_dir / "uploads" / "a.png" == data.uploads_dir() / "a.png"
    assert path.is_file()


def test_save_upload_keeps_two_photos_with_the_same_name(tmp_path, make_image):
    first, second = (make_image(f"{i}.png", seed=i).read_bytes() for i in (1, 2))
    paths = [data.save_upload("dog.png", content, tmp_path / "up") for content in (first, second, first, second)]
    assert [p.name for p in paths] == ["dog.png", "dog-2.png", "dog.png", "dog-2.png"]  # the same photo: one file
    assert paths[1].read_bytes() == second


# What an ipywidgets FileUpload holds after one upload: 7.x (Colab) and 8.x (JupyterLab 4) differ.
_CONTENT = b"\x89PNG..."
_UPLOAD_VALUES = {
    "ipywidgets 7": {"my dog.jpg": {"metadata": {"name": "my dog.jpg", "type": "image/jpeg", "size": 9,
                                                 "lastModified": 1700000000000}, "content": _CONTENT}},
    "ipywidgets 8": ({"name": "my dog.jpg", "type": "image/jpeg", "size": 9, "content": memoryview(_CONTENT),
                      "last_modified": datetime(2024, 1, 1, tzinfo=timezone.utc)},),
}


@pytest.mark.parametrize("version", sorted(_UPLOAD_VALUES))
def test_uploaded_files_reads_both_widget_formats(version):
    assert data.uploaded_files(_UPLOAD_VALUES[version]) == [("my dog.jpg", _CONTENT)]


@pytest.mark.parametrize("empty", [{}, ()])
def test_uploaded_files_of_an_empty_upload(empty):
    assert data.uploaded_files(empty) == []


def test_upload_with_colab_saves_what_was_chosen(tmp_path, make_image, monkeypatch):
    content = make_image("x.png").read_bytes()
    answers = [{"phone photo.png": content}, {}]  # a chosen photo, then a cancelled dialog
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(upload=lambda: answers.pop(0))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert data.on_colab()
    assert data.upload_with_colab(tmp_path) == [tmp_path / "phone_photo.png"]
    assert data.upload_with_colab(tmp_path) == []


def test_upload_with_colab_outside_colab_says_what_to_do(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not data.on_colab()
    with pytest.raises(RuntimeError, match="MY_PHOTO"):
        data.upload_with_colab()
