"""Indexing with metadata and tags: index_images on the sample layout, index_library on your own folder, and the
index_folder command line (dry run, stop and restart) in a subprocess. Every file here is generated.
"""

from __future__ import annotations

import calendar
import csv
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from support import OFFLINE_MODEL, write_photo

from helpers import config
from helpers.collection import database, indexing, store
from helpers.photos import data
from helpers.photos import folder as library
from helpers.vectors import models, tags

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "scripts"


def _file_time(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_index_images_stores_each_photos_metadata(client, fake_embeddings, tmp_path: Path) -> None:
    """The sample dataset's layout: the folder is the class, the date the file time when there is no EXIF."""
    hound = write_photo(tmp_path / "train/Afghan_hound/n1.JPEG", size=(64, 48), taken="2024:03:02 09:01:12",
                        camera="iPhone 13", orientation=6)
    pug = write_photo(tmp_path / "train/pug/n2.JPEG", size=(40, 30))
    _file_time(pug, datetime(2019, 5, 6, 7, 8, 9))
    assert indexing.index_images(client, "images", [hound, pug], ["Afghan_hound", "pug"], "fake",
                                 progress=False) == 2
    rows = store.get_rows(client, "images", [hound, pug])
    assert {k: rows[str(hound)][k] for k in ("year", "camera", "width", "height", "folder")} == \
        {"year": 2024, "camera": "iPhone 13", "width": 64, "height": 48, "folder": "Afghan_hound"}
    assert rows[str(hound)]["taken_at"] == calendar.timegm((2024, 3, 2, 9, 1, 12))
    assert rows[str(pug)]["taken_at"] == calendar.timegm((2019, 5, 6, 7, 8, 9)) and rows[str(pug)]["camera"] == ""
    assert list(rows[str(pug)]["tags"]) == []  # tags only with with_tags=True


def _own_folder(root: Path) -> Path:
    """A small library: two JPEGs (one with GPS), a HEIC made by pillow-heif, a truncated JPEG, a video, a ._ file."""
    write_photo(root / "2023/park.jpg", size=(96, 72), taken="2023:04:08 10:12:00", camera="Pixel 7")
    write_photo(root / "2024/beach.jpg", size=(96, 72), taken="2024:03:02 09:01:12", gps=(47.5, 10.75))
    write_photo(root / "2024/holiday.HEIC", size=(72, 96), taken="2024:08:10 11:00:00", camera="iPhone 13")
    whole = write_photo(root / "2024/whole.jpg", size=(400, 300)).read_bytes()
    (root / "2024/whole.jpg").unlink()
    (root / "2024/cut.jpg").write_bytes(whole[:len(whole) // 2])  # its header reads, its pixels do not
    (root / "2024/IMG_0001.MOV").write_bytes(b"not really a video")
    (root / "2024/._holiday.HEIC").write_bytes(b"\x00\x05\x16\x07")
    return root


def test_index_library_accounts_for_every_file_and_stores_tags(settings: config.Settings, tmp_path: Path) -> None:
    scan = library.scan_folder(_own_folder(tmp_path / "photos"))
    client = database.connect()
    try:
        result = indexing.index_library(client, "mine", scan, OFFLINE_MODEL, progress=False)
        assert (result.added, result.stored) == (3, 3)
        assert result.scan.summary() == {"photo": 3, "skipped": 1, "unsupported": 1, "not_a_photo": 1}
        cut = next(f for f in result.scan.files if f.path.name == "cut.jpg")
        assert cut.category == "skipped" and "truncated" in cut.reason
        rows = store.get_rows(client, "mine", scan.image_paths)
        heic = rows[str(tmp_path / "photos/2024/holiday.HEIC")]
        assert (heic["year"], heic["camera"], heic["width"], heic["height"], heic["folder"]) == \
            (2024, "iPhone 13", 72, 96, "2024")
        assert all(len(row["tags"]) >= 1 for row in rows.values())  # words from the classifier
        assert not store.has_location(client, "mine")  # private unless asked for
        assert indexing.index_library(client, "mine", scan, OFFLINE_MODEL, progress=False).added == 0
        located = indexing.index_library(client, "located", scan, OFFLINE_MODEL, location=True, with_tags=False,
                                         progress=False)
        assert located.added == 3
        beach = store.get_rows(client, "located", [tmp_path / "photos/2024/beach.jpg"], ["latitude", "tags"])
        assert beach[str(tmp_path / "photos/2024/beach.jpg")]["latitude"] == pytest.approx(47.5)
    finally:
        database.release_database(client)


def test_a_clip_model_indexes_without_tags(settings: config.Settings, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """CLIP has no ImageNet classifier: no tags (it searches by words itself), everything else the same."""
    monkeypatch.setitem(models.MODELS, "clip-random", models.ModelSpec("ViT-B-32", "random", "open_clip"))
    assert not tags.has_classifier("clip-random") and tags.has_classifier(OFFLINE_MODEL)
    scan = library.scan_folder(_own_folder(tmp_path / "photos"))
    client = database.connect()
    try:
        result = indexing.index_library(client, "clip", scan, "clip-random", progress=False)
        assert result.added == 3 and result.scan.summary()["skipped"] == 1
        rows = store.get_rows(client, "clip", scan.image_paths, ["tags", "year"])
        assert all(list(row["tags"]) == [] for row in rows.values())
        assert sorted(row["year"] for row in rows.values()) == [2023, 2024, 2024]
    finally:
        database.release_database(client)


def _run_cli(*args: str, env: dict[str, str], script: list[str] | None = None) -> subprocess.CompletedProcess:
    command = script or [sys.executable, "-m", "helpers.commands.index_folder"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TUTORIAL_DATA_DIR": str(tmp_path / "data"),
            "OUTPUT_DIR": str(tmp_path / "outputs"), "MODEL_NAME": OFFLINE_MODEL, "EMBED_BACKEND": "torch",
            "MILVUS_URI": "", "COLLECTION_NAME": "mine"}


def test_the_dry_run_counts_files_by_type_and_estimates_the_time(tmp_path: Path, cli_env: dict[str, str]) -> None:
    folder = _own_folder(tmp_path / "photos")
    run = _run_cli(str(folder), "--dry-run", "--sample", "2", env=cli_env)
    assert run.returncode == 0, run.stderr
    assert "6 files in" in run.stdout and "4  photos to index: 3 jpeg, 1 heic" in run.stdout
    assert "1  not supported: 1 video" in run.stdout and "Estimate:" in run.stdout and "ms per photo" in run.stdout
    assert not (tmp_path / "data" / "milvus.db").exists()  # nothing indexed, no database made


@pytest.mark.slow  # two runs of the command, one stopped: 15-45 s, left out of `make unit`
def test_stopped_with_ctrl_c_then_run_again_indexes_each_photo_once(tmp_path: Path, cli_env: dict[str, str]) -> None:
    folder = tmp_path / "photos"
    for i in range(7):
        write_photo(folder / f"day{i % 2}/IMG_{i:04d}.jpg", size=(64, 48), taken=f"2024:01:0{i + 1} 10:00:00")
    (folder / "day0/broken.jpg").write_bytes(b"not a photo at all")
    stopped = _run_cli("2", str(folder), "--round-size", "3", env=cli_env,  # 2 rounds of 3: one is broken
                       script=[sys.executable, str(SCRIPTS / "index_folder_and_stop.py")])
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "Stopped: 5 photos are stored" in stopped.stderr and "Run the same command again" in stopped.stderr
    again = _run_cli(str(folder), "--round-size", "3", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert "Indexed 2 new photos" in again.stdout and "'mine' holds 7 photos" in again.stdout
    assert "1  skipped      not an image file" in again.stdout
    with open(tmp_path / "outputs" / library.REPORT_NAME) as f:
        assert [row["path"] for row in csv.DictReader(f)] == [str(folder / "day0/broken.jpg")]
    client = database.connect(str(tmp_path / "data" / "milvus.db"))
    try:
        assert store.count_images(client, "mine") == 7
        assert len(store.find_new_images(client, "mine", data.list_images(folder))) == 1  # only the broken one
    finally:
        database.release_database(client)


def test_a_missing_folder_is_an_error_that_says_what_to_give(tmp_path: Path, cli_env: dict[str, str]) -> None:
    run = _run_cli(str(tmp_path / "nowhere"), env=cli_env)
    assert run.returncode == 1 and "give the folder that holds your photos" in run.stderr
