"""Tests for helpers.data: fetching, verifying and reading the sample dataset, on generated copies."""

from __future__ import annotations

import csv
import http.server
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import data


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
    assert not (tmp_path / "notes.jpg").exists()


def test_save_upload_defaults_to_a_temporary_folder(make_image):
    path = data.save_upload("a.png", make_image("b.png").read_bytes())
    assert path.is_file() and path.parent.name.startswith("upload-")
