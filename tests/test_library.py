"""Tests for helpers/photos/folder.py (your own photo library) and HEIC/AVIF reading in data.load_image.

Every photo, HEIC file and odd file here is generated in the test; the demo library test uses the sample dataset.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from support import BLUE, RED
from support import write_photo as _photo

from helpers import config
from helpers.photos import data, demo_library, photo_info
from helpers.photos import folder as library

FIXED_TIME = datetime(2022, 2, 22, 22, 22, 22)


def _colour_at(image: Image.Image, y: int) -> str:
    """'red' or 'blue' (or 'other'): the colour in the middle of row y."""
    r, _, b = np.asarray(image, dtype=int)[y, image.width // 2]
    return "red" if r > 150 and b < 100 else "blue" if b > 150 and r < 100 else "other"


# --- HEIC and AVIF through data.load_image --------------------------------------------------------------


@pytest.mark.parametrize(("thumbnails", "min_side", "expected_size"), [
    ([32], None, (48, 64)),  # no size asked: the full photo
    ([32], 16, (24, 32)),  # the 24x32 thumbnail is big enough for a 16-pixel side: used
    ([32], 30, (48, 64)),  # a 24-pixel thumbnail is too small for 30: the full photo
    ([], 16, (48, 64)),  # no thumbnail stored: the full photo
])
def test_heic_loads_upright_from_its_thumbnail_only_when_big_enough(tmp_path: Path, thumbnails: list[int],
                                                                   min_side: int | None,
                                                                   expected_size: tuple[int, int]) -> None:
    path = _photo(tmp_path / "IMG_0001.HEIC", size=(48, 64), orientation=6, thumbnails=thumbnails)
    image = data.load_image(path, min_side=min_side)
    assert (image.mode, image.size) == ("RGB", expected_size)
    assert _colour_at(image, 2) == "red" and _colour_at(image, image.height - 3) == "blue"


@pytest.mark.parametrize(("thumbnail_side", "expected_size"), [
    (224, (320, 240)),  # an iPhone-sized thumbnail covers a 224-pixel input crop: used, though below min_side 256
    (241, (640, 480)),  # 240 pixels are too few for 241: the full photo
    (0, (640, 480)),  # 0: never a thumbnail (HEIC_FULL_DECODE=1)
])
def test_heic_thumbnail_side_decides_apart_from_min_side(tmp_path: Path, thumbnail_side: int,
                                                         expected_size: tuple[int, int]) -> None:
    path = _photo(tmp_path / "IMG_0005.HEIC", size=(640, 480), thumbnails=[320])
    image = data.load_image(path, min_side=256, thumbnail_side=thumbnail_side)
    assert image.size == expected_size
    assert data.uses_thumbnail(path, thumbnail_side) == (expected_size == (320, 240))


def test_the_models_thumbnail_side_is_their_input_crop_unless_heic_full_decode(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.vectors import models

    monkeypatch.delenv("HEIC_FULL_DECODE", raising=False)
    assert models.thumbnail_side("efficientnet_lite0") == models.input_size("efficientnet_lite0")[-1] == 224
    assert models.thumbnail_side("efficientnet_lite0") < models.decode_side("efficientnet_lite0")
    monkeypatch.setenv("HEIC_FULL_DECODE", "1")
    assert models.thumbnail_side("efficientnet_lite0") == 0


@pytest.mark.parametrize(("full_decode", "decoded_size"), [("0", (320, 240)), ("1", (640, 480))])
def test_the_pipeline_embeds_an_iphone_heic_from_its_thumbnail(settings: config.Settings, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, full_decode: str,
                                                               decoded_size: tuple[int, int]) -> None:
    from helpers.vectors import embeddings, models

    monkeypatch.setenv("HEIC_FULL_DECODE", full_decode)
    path = _photo(tmp_path / "IMG_0006.HEIC", size=(640, 480), thumbnails=[320])
    decoded, real_load_image = [], data.load_image

    def recording_load_image(*args, **kwargs) -> Image.Image:
        image = real_load_image(*args, **kwargs)
        decoded.append(image.size)
        return image

    monkeypatch.setattr(data, "load_image", recording_load_image)
    result = embeddings.embed_images([path], progress=False, use_cache=False)
    assert decoded == [decoded_size] and not result.skipped
    assert models.FeatureExtractor().thumbnail_side == (0 if full_decode == "1" else 224)  # the blog's loop too


def test_the_embedding_cache_keeps_full_decode_vectors_apart(settings: config.Settings,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.vectors import cache

    monkeypatch.setenv("HEIC_FULL_DECODE", "0")
    from_thumbnails = cache.cache_path()
    monkeypatch.setenv("HEIC_FULL_DECODE", "1")
    assert cache.cache_path() != from_thumbnails


def test_the_dry_run_says_which_heic_photos_are_decoded_in_full(tmp_path: Path, settings: config.Settings,
                                                                 fake_embeddings, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    from helpers.commands import index_folder

    folder = tmp_path / "photos"
    for i in range(3):  # 4:3 like an iPhone photo: a 320x240 thumbnail covers the 224-pixel crop
        _photo(folder / f"IMG_{i}.HEIC", size=(640, 480), thumbnails=[320])
    _photo(folder / "IMG_9.HEIC", size=(640, 360), thumbnails=[320])  # 16:9: a 320x180 thumbnail does not
    _photo(folder / "IMG_8.jpg", size=(64, 48))
    scan = library.scan_folder(folder)
    text = index_folder.describe_estimate(scan, "efficientnet_lite0", sample=2)
    assert "about 1 of the 4 HEIC photos have no thumbnail of at least 224 pixels" in text
    assert "decoded in full" in text
    monkeypatch.setenv("HEIC_FULL_DECODE", "1")
    assert "all 4 HEIC photos are decoded in full" in index_folder.describe_estimate(scan, "efficientnet_lite0",
                                                                                      sample=2)


def test_a_heic_named_jpg_still_loads(tmp_path: Path) -> None:
    path = _photo(tmp_path / "IMG_0002.heic", size=(32, 24))
    disguised = path.rename(tmp_path / "IMG_0002.jpg")  # some exports keep HEIC content under a .jpg name
    assert data.load_image(disguised).size == (32, 24)


def test_heif_support_is_registered_on_the_first_open_not_on_import(tmp_path: Path) -> None:
    path = _photo(tmp_path / "IMG_0003.heic", size=(48, 64), orientation=6)
    script = Path(__file__).with_name("heif_on_first_open.py")
    env = {**os.environ, "PYTHONPATH": str(config.REPO_ROOT)}
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok 48x64"


def test_without_pillow_heif_heic_files_are_listed_as_unsupported_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _photo(tmp_path / "IMG_0004.HEIC")
    monkeypatch.setattr(data, "register_heif_opener", lambda: False)  # as if pillow-heif were not installed
    with pytest.raises(data.ImageLoadError, match="pip install pillow-heif"):
        data.load_image(path)
    entry = library.scan_folder(tmp_path).files[0]
    assert (entry.category, entry.kind) == (library.UNSUPPORTED, "heic") and "pip install pillow-heif" in entry.reason


@pytest.mark.skipif(not library._pillow_reads("AVIF"), reason="this Pillow has no AVIF support (Pillow 11.3+)")
def test_avif_loads_where_pillow_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "photo.avif"
    upright = Image.new("RGB", (32, 48), BLUE)
    upright.paste(RED, (0, 0, 32, 24))
    upright.save(path, quality=90)
    image = data.load_image(path)
    assert image.size == (32, 48) and _colour_at(image, 2) == "red"


# --- scanning: every file accounted for -----------------------------------------------------------------


def _mixed_folder(root: Path) -> dict[str, tuple[str, str, str]]:
    """Write a folder with one of everything; return {relative path: (category, kind, words of the reason)}."""
    expected = {}

    def photo(name: str, kind: str, **kwargs) -> None:
        _photo(root / name, size=(16, 12), **kwargs)
        expected[name] = (library.PHOTO, kind, "")

    def other(name: str, content: bytes, category: str, kind: str, reason: str) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
        expected[name] = (category, kind, reason)

    photo("IMG_0001.jpg", "jpeg")
    photo("IMG_0002.JPEG", "jpeg")
    photo("Screenshot.png", "png")
    photo("sticker.webp", "webp")
    photo("IMG_0003.HEIC", "heic")
    photo("trip/IMG_0004.jpg", "jpeg")
    avif = library._pillow_reads("AVIF")
    Image.new("RGB", (16, 12)).save(root / "IMG_0005.avif")
    expected["IMG_0005.avif"] = ((library.PHOTO, "avif", "") if avif else
                                 (library.UNSUPPORTED, "avif", "cannot read AVIF"))
    for name in ("IMG_0006.DNG", "IMG_0007.CR2", "DSC_0008.NEF", "DSC_0009.ARW", "DSCF0010.RAF", "P0011.ORF",
                 "P0012.RW2"):
        other(name, b"RAW stand-in", library.UNSUPPORTED, "raw", "RAW camera file")
    other("IMG_0003.MOV", b"video stand-in", library.UNSUPPORTED, "video", "Live Photo")
    other("VID_0013.mp4", b"video stand-in", library.UNSUPPORTED, "video", "only photos")
    other("._IMG_0001.jpg", b"\x00\x05\x16\x07", library.NOT_A_PHOTO, "other", "AppleDouble")
    other(".DS_Store", b"Bud1", library.NOT_A_PHOTO, "other", ".DS_Store")
    other(".hidden.jpg", (root / "IMG_0001.jpg").read_bytes(), library.SKIPPED, "jpeg", "hidden file")
    other(".nomedia", b"", library.NOT_A_PHOTO, "other", "hidden file")
    other("notes.txt", b"hello", library.NOT_A_PHOTO, "other", "not a photo file type (.txt)")
    other("README", b"hello", library.NOT_A_PHOTO, "other", "no extension")
    other("IMG_0001.AAE", b"<plist/>", library.NOT_A_PHOTO, "other", "(.AAE)")
    other("empty.jpg", b"", library.SKIPPED, "jpeg", "empty file")
    other(".thumbnails/t.jpg", b"x", library.SKIPPED, "folder", "hidden or system folder")
    other("@eaDir/IMG_0001.jpg/SYNOPHOTO_THUMB_S.jpg", b"x", library.SKIPPED, "folder", "hidden or system folder")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe.jpg")
        expected["pipe.jpg"] = (library.NOT_A_PHOTO, "jpeg", "not a regular file")
    for folder in (".thumbnails", "@eaDir"):  # a folder not entered is one entry, in place of its files
        expected = {name: value for name, value in expected.items() if not name.startswith(folder + "/")}
        expected[folder] = (library.SKIPPED, "folder", "hidden or system folder")
    return expected


def _relative(scan: library.LibraryScan) -> dict[str, library.LibraryFile]:
    return {photo_info.display_path(f.path.relative_to(scan.root)): f for f in scan.files}


def test_every_file_is_accounted_for_with_its_category_and_reason(tmp_path: Path) -> None:
    expected = _mixed_folder(tmp_path / "library")
    scan = library.scan_folder(tmp_path / "library")
    found = _relative(scan)
    assert sorted(found) == sorted(expected)  # nothing dropped, nothing counted twice
    for name, (category, kind, reason) in expected.items():
        entry = found[name]
        assert (entry.category, entry.kind) == (category, kind), name
        assert reason in entry.reason and (entry.reason == "") == (category == library.PHOTO), name
    assert scan.summary() == {c: sum(1 for v in expected.values() if v[0] == c) for c in library.CATEGORIES}
    assert scan.kinds(library.UNSUPPORTED) == {"raw": 7, "video": 2}
    assert sum(scan.summary().values()) == len(scan.files)


def test_a_missing_folder_is_an_error_that_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="give the folder that holds your photos"):
        library.scan_folder(tmp_path / "nowhere")


def _write_raw_name(folder: Path, name: bytes, content: bytes) -> None:
    """Write a file whose name is raw bytes (possibly not UTF-8)."""
    with open(os.path.join(os.fsencode(folder), name), "wb") as f:
        f.write(content)


def test_names_that_are_not_utf8_are_photos_and_shown_readably(tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    jpeg = _photo(tmp_path / "source.jpg").read_bytes()
    try:
        os.mkdir(os.path.join(os.fsencode(root), b"Vacances \xe9t\xe9"))  # Latin-1 "été"
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8 (macOS, Windows)")
    _write_raw_name(root, b"caf\xe9.jpg", jpeg)
    _write_raw_name(root / os.fsdecode(b"Vacances \xe9t\xe9"), b"plage.jpg", jpeg)
    _write_raw_name(root, b"notes \xff.txt", b"hello")
    _write_raw_name(root, b"ok.jpg", jpeg)
    scan = library.scan_folder(root)
    found = _relative(scan)
    assert sorted(found) == ["Vacances \\xe9t\\xe9/plage.jpg", "caf\\xe9.jpg", "notes \\xff.txt", "ok.jpg"]
    for name in ("caf\\xe9.jpg", "Vacances \\xe9t\\xe9/plage.jpg"):
        assert found[name].category == library.PHOTO  # stored escaped by the index: see tests/test_mistakes.py
    assert found["notes \\xff.txt"].category == library.NOT_A_PHOTO
    photos, scan = library.read_photos(scan)
    assert sorted(photo_info.display_path(p.path.relative_to(root)) for p in photos) == \
        ["Vacances \\xe9t\\xe9/plage.jpg", "caf\\xe9.jpg", "ok.jpg"]
    report = library.write_skipped_report(scan, tmp_path / "skipped.csv", include_photos=True)
    text = report.read_bytes().decode("utf-8")  # the report itself is valid UTF-8
    assert "caf\\xe9.jpg" in text and "Vacances \\xe9t\\xe9/plage.jpg" in text and "notes \\xff.txt" in text


def test_links_are_followed_once_and_loops_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "library"
    dog = _photo(root / "a" / "dog.jpg")
    outside = _photo(tmp_path / "elsewhere" / "cat.jpg")
    (root / "a" / "up").symlink_to(root, target_is_directory=True)  # a loop back to the top
    (root / "b").symlink_to(root / "a", target_is_directory=True)  # a second way into a/
    (root / "c.jpg").symlink_to(dog)  # a link to a photo also found under its own name
    (root / "outside.jpg").symlink_to(outside)  # a link to a photo outside the folder: used
    (root / "self.jpg").symlink_to(root / "self.jpg")  # a link to itself
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")  # a broken link
    scan = library.scan_folder(root)
    found = _relative(scan)
    assert scan.image_paths == [root / "outside.jpg", dog]  # a folder's files, then its subfolders' files
    assert sorted(found) == ["a/dog.jpg", "a/up", "b", "c.jpg", "gone.jpg", "outside.jpg", "self.jpg"]
    assert "the same folder as" in found["a/up"].reason and "the same folder as" in found["b"].reason
    assert found["c.jpg"].category == library.SKIPPED and str(dog) in found["c.jpg"].reason
    assert found["self.jpg"].category == library.SKIPPED and "cannot be opened" in found["self.jpg"].reason
    assert "broken link" in found["gone.jpg"].reason
    not_followed = _relative(library.scan_folder(root, follow_links=False))
    assert "not followed" in not_followed["b"].reason and "not followed" in not_followed["a/up"].reason


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "library"
    _photo(root / "IMG_0001.jpg")
    locked = root / "private"
    _photo(locked / "IMG_0002.jpg")
    real_scandir = os.scandir

    def refusing_scandir(path: object = ".") -> object:  # as the system refuses a user a folder without rights
        if Path(os.fsdecode(path)) == locked:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    found = _relative(library.scan_folder(root))
    assert sorted(found) == ["IMG_0001.jpg", "private"]
    assert found["private"].category == library.SKIPPED and "Permission denied" in found["private"].reason


# --- reading metadata: header only, private location opt-in, files that change -------------------------


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to decode pixels (Pillow's or pillow-heif's load) fails the test."""
    import pillow_heif.as_plugin

    def refuse(self: Image.Image, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"pixels of {self.format} decoded while reading metadata")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(pillow_heif.as_plugin._LibHeifImageFile, "load", refuse)


@pytest.mark.parametrize(("name", "orientation"), [("IMG_0001.jpg", 6), ("IMG_0002.HEIC", 6), ("IMG_0003.jpg", 1)])
def test_date_camera_and_size_come_from_the_header(tmp_path: Path, no_decoding: None, name: str,
                                                   orientation: int) -> None:
    path = _photo(tmp_path / "2024" / name, size=(48, 64), taken="2024:05:01 10:20:30", camera=" iPhone 13 ",
                  orientation=orientation, thumbnails=[16])
    info = photo_info.read_photo(path, tmp_path)
    assert (info.taken_at, info.taken_at_source) == (datetime(2024, 5, 1, 10, 20, 30), "exif")
    assert (info.camera, info.width, info.height, info.folder) == ("iPhone 13", 48, 64, "2024")
    assert info.format == ("HEIF" if name.endswith("HEIC") else "JPEG") and info.size == path.stat().st_size
    assert info.location is None


@pytest.mark.parametrize("taken", [None, "0000:00:00 00:00:00", "    :  :     :  :  ", "2024:13:45 99:00:00"])
def test_without_a_real_exif_date_the_file_time_is_used_and_said(tmp_path: Path, no_decoding: None,
                                                                 taken: str | None) -> None:
    if taken is None:  # a screenshot: a PNG with no EXIF at all (Pillow's PNG getexif would decode it)
        path = tmp_path / "shot.png"
        Image.new("RGB", (48, 64), RED).save(path)
    else:
        path = _photo(tmp_path / "IMG_0001.jpg", taken=taken)
    os.utime(path, (FIXED_TIME.timestamp(), FIXED_TIME.timestamp()))
    info = photo_info.read_photo(path)
    assert (info.taken_at, info.taken_at_source, info.camera, info.folder) == (FIXED_TIME, "file_time", "", "")


def test_location_is_read_only_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "library"
    _photo(root / "IMG_0001.jpg", gps=(51.5, -0.125))
    _photo(root / "IMG_0002.HEIC", gps=(-33.875, 151.25))
    _photo(root / "IMG_0003.jpg")  # no GPS
    scan = library.scan_folder(root)
    assert [p.location for p in library.read_photos(scan)[0]] == [None, None, None]
    located = library.read_photos(scan, include_location=True)[0]
    assert [p.location for p in located] == [(51.5, -0.125), (-33.875, 151.25), None]


def test_a_photo_that_disappears_before_it_is_read_is_skipped(tmp_path: Path) -> None:
    keep, gone = _photo(tmp_path / "keep.jpg"), _photo(tmp_path / "gone.jpg")
    scan = library.scan_folder(tmp_path)
    gone.unlink()
    photos, scan = library.read_photos(scan)
    assert [p.path for p in photos] == [keep]
    assert _relative(scan)["gone.jpg"].reason == "disappeared before it could be read"


@pytest.mark.parametrize(("change", "reason"), [
    ("delete", "disappeared while it was being read"),
    ("append", "changed while it was being read"),
])
def test_a_photo_that_changes_while_it_is_read_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          change: str, reason: str) -> None:
    _photo(tmp_path / "syncing.jpg")
    real_read_header = photo_info._read_header

    def read_while_a_sync_writes(photo: Path, include_location: bool) -> dict:
        header = real_read_header(photo, include_location)
        if change == "delete":
            photo.unlink()
        else:
            with open(photo, "ab") as f:
                f.write(b"more bytes arriving")
        return header

    monkeypatch.setattr(photo_info, "_read_header", read_while_a_sync_writes)
    photos, scan = library.read_photos(library.scan_folder(tmp_path))
    assert photos == [] and reason in _relative(scan)["syncing.jpg"].reason
    assert scan.summary()[library.SKIPPED] == 1


def test_a_file_that_disappears_during_the_scan_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _photo(tmp_path / "keep.jpg")
    _photo(tmp_path / "vanishing.jpg")
    real_by_name = library._classify_by_name

    def deleted_after_listing(path: Path, kind: str) -> library.LibraryFile | None:
        if path.name == "vanishing.jpg":
            path.unlink()
        return real_by_name(path, kind)

    monkeypatch.setattr(library, "_classify_by_name", deleted_after_listing)
    found = _relative(library.scan_folder(tmp_path))
    assert found["vanishing.jpg"].reason == "disappeared during the scan"
    assert found["keep.jpg"].category == library.PHOTO


def test_an_unreadable_photo_is_skipped_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, locked = _photo(tmp_path / "ok.jpg"), _photo(tmp_path / "locked.jpg")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # root reads anything: refuse as the system would refuse a user
            real_open = open

            def refusing_open(file: object, *args: object, **kwargs: object) -> object:
                if Path(os.fsdecode(file)) == locked:
                    raise PermissionError(13, "Permission denied", os.fsdecode(file))
                return real_open(file, *args, **kwargs)

            monkeypatch.setattr(photo_info, "open", refusing_open, raising=False)
        photos, scan = library.read_photos(library.scan_folder(tmp_path))
    finally:
        locked.chmod(0o644)
    assert [p.path for p in photos] == [ok]
    assert "permission denied" in _relative(scan)["locked.jpg"].reason


def test_decoding_failures_move_to_the_skipped_files(tmp_path: Path) -> None:
    good = _photo(tmp_path / "good.jpg")
    truncated = tmp_path / "truncated.jpg"
    content = _photo(tmp_path / "big.jpg", size=(256, 256)).read_bytes()
    (tmp_path / "big.jpg").unlink()
    truncated.write_bytes(content[: len(content) // 2])  # the header reads, the pixels do not
    scan = library.scan_folder(tmp_path)
    photos, scan = library.read_photos(scan)
    assert len(photos) == 2  # the header of the truncated one is fine
    with pytest.raises(data.ImageLoadError) as err:
        data.load_image(truncated)
    scan = library.mark_skipped(scan, [(truncated, str(err.value))])  # as EmbeddingResult.skipped holds them
    assert scan.image_paths == [good]
    assert _relative(scan)["truncated.jpg"].reason.startswith("unreadable image")
    with pytest.raises(ValueError, match="not in this scan"):
        library.mark_skipped(scan, [(tmp_path / "other.jpg", "unreadable")])


# --- the skipped-files report ---------------------------------------------------------------------------


def test_the_report_lists_every_file_not_used_with_its_reason(tmp_path: Path, tmp_settings: config.Settings) -> None:
    _mixed_folder(tmp_path / "library")
    scan = library.scan_folder(tmp_path / "library")
    report = library.write_skipped_report(scan)
    assert report == tmp_settings.output_dir / "skipped_files.csv"
    with open(report, newline="", encoding="utf-8") as f:
        rows = [tuple(row.values()) for row in csv.DictReader(f)]
    assert rows == [(photo_info.display_path(f.path), f.category, f.kind, f.reason) for f in scan.not_used]
    assert len(rows) == len(scan.files) - len(scan.photos) and all(row[3] for row in rows)
    everything = library.write_skipped_report(scan, tmp_path / "all.csv", include_photos=True)
    assert len(everything.read_text(encoding="utf-8").splitlines()) == len(scan.files) + 1


def test_the_report_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _photo(tmp_path / "library" / "IMG_0001.jpg")
    (tmp_path / "library" / "notes.txt").write_text("hello")
    report = library.write_skipped_report(library.scan_folder(tmp_path / "library"), tmp_path / "out" / "r.csv")
    before = report.read_bytes()
    (tmp_path / "library" / "IMG_0002.DNG").write_bytes(b"RAW")
    calls: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def full_disk_replace(src: object, dst: object) -> None:
        calls.append("replace")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", full_disk_replace)
    with pytest.raises(OSError, match="No space left"):
        library.write_skipped_report(library.scan_folder(tmp_path / "library"), report)
    assert report.read_bytes() == before  # the old report is intact
    assert list(report.parent.iterdir()) == [report]  # and no half-written file is left beside it
    assert "fsync" in calls and calls.index("fsync") < calls.index("replace")


# --- the demo library of notebook 06 --------------------------------------------------------------------


def test_the_demo_library_has_what_notebook_06_shows(tmp_path: Path, real_dataset: data.Dataset) -> None:
    folder = demo_library.make_demo_library(tmp_path / "demo", real_dataset.root)
    photos, scan = library.read_photos(library.scan_folder(folder), include_location=True)
    assert scan.summary() == {"photo": 30, "skipped": 3, "unsupported": 2, "not_a_photo": 3}
    assert scan.kinds(library.PHOTO) == {"jpeg": 26, "heic": 3, "png": 1}
    assert scan.kinds(library.UNSUPPORTED) == {"raw": 1, "video": 1}
    by_name = {p.path.name: p for p in photos}
    assert Counter(p.taken_at.year for p in photos if p.taken_at_source == "exif") == {2023: 9, 2024: 19}
    assert {p.camera for p in photos} == {"Pixel 7", "iPhone 13", ""}  # "": the screenshot and a download
    assert sum(p.location is not None for p in photos) == 10  # the holiday, readable only when asked
    for name in ("IMG_2001.HEIC", "IMG_2002.HEIC", "IMG_2006.HEIC"):
        with Image.open(by_name[name].path) as heic:
            assert heic.info["thumbnails"], name
    burst = [by_name[f"IMG_20{i:02d}.jpg"] for i in range(7, 11)]
    assert (burst[-1].taken_at - burst[0].taken_at).total_seconds() == 3
    rotated = by_name["IMG_1001.jpg"]
    assert data.load_image(rotated.path).size == (rotated.width, rotated.height)
    with pytest.raises(data.ImageLoadError, match="truncated"):
        data.load_image(folder / "Downloads" / "IMG_0999.jpg")


def test_the_demo_library_is_deterministic_and_never_overwrites_your_files(tmp_path: Path,
                                                                          real_dataset: data.Dataset) -> None:
    first = demo_library.make_demo_library(tmp_path / "one", real_dataset.root)
    second = demo_library.make_demo_library(tmp_path / "two", real_dataset.root)
    files_one = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files_one == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in files_one:
        if name.suffix.lower() != ".heic":  # HEVC encoding may differ by a few bytes between runs
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
    (first / "sentinel.txt").write_text("a rebuild would remove me")
    assert demo_library.make_demo_library(first, real_dataset.root) == first  # reused, not rebuilt
    assert (first / "sentinel.txt").exists()
    mine = tmp_path / "my photos"
    mine.mkdir()
    (mine / "IMG_0001.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="never deletes your files"):
        demo_library.make_demo_library(mine, real_dataset.root)
    assert (mine / "IMG_0001.jpg").read_bytes() == b"precious"
