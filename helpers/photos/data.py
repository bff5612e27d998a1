"""Get, check and read the sample dataset and your own photos (introduced in notebook 01).

The Milvus sample dataset `reverse_image_search` is a 1,100-image ImageNet subset:
`train/<class>/*.JPEG` (100 classes x 10 images), `test/<class>/*.JPEG` (one per class)
and `reverse_image_search.csv` (id,path,label for the 1,000 training images).
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from helpers import config
from helpers.photos import files

DATASET_URLS = (
    "https://github.com/milvus-io/pymilvus-assets/releases/download/imagedata/reverse_image_search.zip",
    "https://github.com/towhee-io/examples/releases/download/data/reverse_image_search.zip",  # mirror
)
CSV_NAME = "reverse_image_search.csv"
N_CLASSES, TRAIN_PER_CLASS, TEST_PER_CLASS = 100, 10, 1
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".hif", ".avif"}
HEIF_SUFFIXES = {".heic", ".heif", ".hif"}  # iPhone photos; read through the pillow-heif package
STORED_PATH_PREFIX = "file://"  # a stored path whose name is not valid UTF-8, escaped (path_to_text)
MAX_IMAGE_PIXELS = 150_000_000  # 150 MP: a 108 MP phone photo loads; larger files are refused as bombs
_FIX_HINT = "Delete the folder and run `data.download_dataset()` again, or point DATASET_SOURCE at a good copy."


class DatasetError(RuntimeError):
    """The sample dataset is missing, incomplete or inconsistent; the message says what to do."""


class ImageLoadError(ValueError):
    """A file could not be read as an image; the message gives the path and the reason."""


@dataclass(frozen=True)
class ImageSet:
    """Image paths with their class labels, in the same order."""

    image_paths: list[Path]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.image_paths)

    def paths_for(self, label: str) -> list[Path]:
        """The image paths of one class."""
        return [path for path, path_label in zip(self.image_paths, self.labels) if path_label == label]


@dataclass(frozen=True)
class Dataset:
    """The sample dataset: its folder, the train and test splits and the class names."""

    root: Path
    train: ImageSet
    test: ImageSet

    @property
    def classes(self) -> list[str]:
        """Sorted class names."""
        return sorted(set(self.train.labels))


def download_dataset(data_dir: Path | None = None, source: str | Path | None = None,
                     urls: tuple[str, ...] = DATASET_URLS, timeout: float = 60) -> Path:
    """Return the dataset folder, fetching it first unless a valid copy is there (notebook 01).

    Args:
        source: a local folder (used in place) or .zip (extracted) instead of the network;
            defaults to the DATASET_SOURCE setting.
    """
    settings = config.load_settings()
    data_dir = Path(data_dir or settings.data_dir)
    source = source if source is not None else settings.dataset_source
    if source:
        source = Path(source).expanduser().resolve()
        if source.is_dir():
            verify_dataset(source)
            return source
        if not source.is_file():
            raise DatasetError(f"DATASET_SOURCE {source} does not exist: point it at the dataset folder or its .zip.")
    target = data_dir / "reverse_image_search"
    if target.exists():
        try:
            verify_dataset(target)
            return target
        except DatasetError as err:
            warnings.warn(f"Fetching the dataset again: the copy in {target} is not valid ({err})", stacklevel=2)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".download-") as tmp:
        zip_path = Path(source) if source else _download_first(urls, Path(tmp) / "dataset.zip", timeout)
        extracted = _extract_zip(zip_path, Path(tmp) / "extracted")
        verify_dataset(extracted)
        if target.exists():  # an invalid copy: replace it only now that a good one is ready
            shutil.rmtree(target)
        extracted.rename(target)
    return target


def _download_first(urls: tuple[str, ...], zip_path: Path, timeout: float) -> Path:
    """Download the first URL that works into `zip_path`, with a progress bar."""
    errors = []
    for url in urls:
        try:
            _download(url, zip_path, timeout)
            return zip_path
        except (urllib.error.URLError, OSError, DatasetError) as err:
            errors.append(f"{url}: {err}")
            zip_path.unlink(missing_ok=True)
    raise DatasetError("Could not download the sample dataset:\n  " + "\n  ".join(errors)
                       + "\nCheck your connection, or download reverse_image_search.zip yourself "
                       "and set DATASET_SOURCE to its path.")


def _download(url: str, zip_path: Path, timeout: float) -> None:
    """Stream one URL to a file, checking the length the server announced."""
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response:  # raises HTTPError on 4xx/5xx
        expected = int(response.headers.get("Content-Length") or 0)
        with open(zip_path, "wb") as out, tqdm(total=expected or None, unit="B", unit_scale=True,
                                               desc="reverse_image_search.zip") as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
    if expected and zip_path.stat().st_size != expected:
        raise DatasetError(f"download stopped after {zip_path.stat().st_size} of {expected} bytes")


def _extract_zip(zip_path: Path, dest: Path) -> Path:
    """Extract a dataset zip into `dest` and return the folder that holds the CSV."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            bad_member = archive.testzip()
            if bad_member is not None:
                raise DatasetError(f"{zip_path} is corrupt (bad CRC in {bad_member}). {_FIX_HINT}")
            for name in archive.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    raise DatasetError(f"{zip_path} holds an unsafe path {name!r}; refusing to extract it.")
            archive.extractall(dest)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
        raise DatasetError(f"{zip_path} is not a complete zip file ({err}): the download or copy was "
                           f"probably cut short. {_FIX_HINT}") from err
    csv_files = sorted(dest.rglob(CSV_NAME), key=lambda p: len(p.parts))
    if not csv_files:
        raise DatasetError(f"{zip_path} has no {CSV_NAME}: is it the reverse_image_search dataset?")
    return csv_files[0].parent


def verify_dataset(root: Path) -> None:
    """Raise `DatasetError` unless `root` holds the complete sample dataset (checked by content)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"No dataset folder at {root}. Run `data.download_dataset()` or set DATASET_SOURCE.")
    train = _scan_split(root, "train", TRAIN_PER_CLASS)
    test = _scan_split(root, "test", TEST_PER_CLASS)
    if set(train) != set(test):
        raise DatasetError(f"train/ and test/ have different classes in {root} "
                           f"(only in test: {sorted(set(test) - set(train))[:5]}). {_FIX_HINT}")
    rows = _read_csv(root)
    listed = {(root / path).resolve(): label for path, label in rows}
    on_disk = {path.resolve(): label for label, paths in train.items() for path in paths}
    if listed != on_disk:
        missing = sorted(str(p.relative_to(root.resolve())) for p in set(listed) - set(on_disk))
        extra = sorted(str(p.relative_to(root.resolve())) for p in set(on_disk) - set(listed))
        wrong = sorted(str(p) for p in set(listed) & set(on_disk) if listed[p] != on_disk[p])
        raise DatasetError(f"{CSV_NAME} disagrees with the files in {root}: "
                           f"listed but missing {missing[:3]}, present but not listed {extra[:3]}, "
                           f"wrong label {wrong[:3]}. {_FIX_HINT}")


def _scan_split(root: Path, split: str, per_class: int) -> dict[str, list[Path]]:
    """Map class name -> image files of one split, checking counts and JPEG signatures."""
    split_dir = root / split
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir} is missing. {_FIX_HINT}")
    classes = {d.name: sorted(d.glob("*.JPEG")) for d in sorted(split_dir.iterdir()) if d.is_dir()}
    if len(classes) != N_CLASSES:
        raise DatasetError(f"{split_dir} has {len(classes)} class folders, expected {N_CLASSES}. {_FIX_HINT}")
    for label, paths in classes.items():
        if len(paths) != per_class:
            raise DatasetError(f"{split_dir / label} has {len(paths)} images, expected {per_class}. {_FIX_HINT}")
        for path in paths:
            with open(path, "rb") as f:
                if f.read(3) != b"\xff\xd8\xff":
                    raise DatasetError(f"{path} is not a JPEG file (empty or damaged). {_FIX_HINT}")
    return classes


def _read_csv(root: Path) -> list[tuple[str, str]]:
    """Read (path, label) rows from the dataset CSV, checking its header and row count."""
    csv_path = root / CSV_NAME
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path} is missing. {_FIX_HINT}")
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        rows = [row for row in reader if row]
    if header != ["id", "path", "label"] or any(len(row) != 3 for row in rows):
        raise DatasetError(f"{csv_path} should have the columns id,path,label. {_FIX_HINT}")
    if len(rows) != N_CLASSES * TRAIN_PER_CLASS:
        raise DatasetError(f"{csv_path} has {len(rows)} rows, expected {N_CLASSES * TRAIN_PER_CLASS}. {_FIX_HINT}")
    return [(path, label) for _, path, label in rows]


def load_dataset(root: Path | None = None) -> Dataset:
    """Return the train and test image paths with their labels (notebook 01)."""
    root = Path(root) if root else download_dataset()
    verify_dataset(root)
    return Dataset(root=root, train=_image_set(root / "train"), test=_image_set(root / "test"))


def _image_set(split_dir: Path) -> ImageSet:
    """All JPEGs of one split, sorted by class then file name, labelled by their folder."""
    image_paths = sorted(split_dir.glob("*/*.JPEG"))
    return ImageSet(image_paths=image_paths, labels=[p.parent.name for p in image_paths])


def list_images(folder: Path) -> list[Path]:
    """Every image file under `folder`, sorted; use it to index your own photo collection."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No folder at {folder}: give the folder that holds your photos.")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def path_to_text(path: Path | str) -> str:
    """A path as text Milvus can store (UTF-8), which `text_to_path` turns back into the same path (notebook 06).

    A path that is valid UTF-8 is itself. One whose name is not (Latin-1 names from an old camera or zip, such
    as `caf\\xe9.jpg`) becomes `file://` and the path, with each of its odd bytes written as %E9 and % as %25.
    """
    text = os.fsdecode(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # the odd bytes of the name became lone surrogates \udc80-\udcff (surrogateescape)
        pass
    return STORED_PATH_PREFIX + "".join(f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else c
                                        for c in text.replace("%", "%25"))


def text_to_path(text: Path | str) -> Path:
    """The path that `path_to_text` stored as `text` (a search result's path); any other path as it is (nb 06)."""
    text = os.fspath(text)
    if not text.startswith("file:/"):
        return Path(text)
    body = text.removeprefix(STORED_PATH_PREFIX) if text.startswith(STORED_PATH_PREFIX) else text[len("file:"):]
    return Path(urllib.parse.unquote(body, errors="surrogateescape"))  # Path() makes "file:///a" "file:/a"


def load_image(path: Path | str, max_pixels: int = MAX_IMAGE_PIXELS, min_side: int | None = None,
               thumbnail_side: int | None = None) -> Image.Image:
    """Open a photo as people have them: EXIF rotation applied, converted to 8-bit RGB (notebook 02).

    JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF (where Pillow reads it) and HEIC/HEIF (iPhone photos, notebook 06).

    Args:
        min_side: the shorter side the caller needs at most (a model's resize size); a large JPEG is then
            decoded at 1/2, 1/4 or 1/8 scale, still at least that size (several times faster).
        thumbnail_side: a HEIC's embedded thumbnail is used instead of the photo when its shorter side is at
            least this (default: min_side; 0: always the photo). HEVC has no reduced-size decode, so this is
            the difference between about 10 ms and 0.5 s for a 12 MP iPhone photo. The models pass their input
            crop (224), which an iPhone's 320x240 thumbnail covers (`models.thumbnail_side`).
    """
    path = text_to_path(path)  # a search result's stored path, too
    heif_ok = register_heif_opener()  # on the first photo, not on import; a HEIC may hide behind any name
    if not heif_ok and path.suffix.lower() in HEIF_SUFFIXES:
        raise ImageLoadError(f"{path}: HEIC/HEIF photos need the pillow-heif package: pip install pillow-heif")
    try:
        with warnings.catch_warnings():  # Pillow warns from 89 MP on; the size check below decides instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageLoadError(f"{path}: {width}x{height} pixels is larger than the {max_pixels:,} "
                                     "allowed (a possible decompression bomb); resize it first.")
            side = (min_side if thumbnail_side is None else thumbnail_side) if image.format == "HEIF" else min_side
            if side and image.format in ("JPEG", "HEIF"):  # HEIF: the smallest thumbnail at least this big, if any
                image.draft(image.mode, _draft_size(image.size, side))
            image.load()
            image = ImageOps.exif_transpose(image)  # HEIF: already upright (pillow-heif resets the EXIF tag)
            return _to_rgb(image)
    except ImageLoadError:
        raise
    except FileNotFoundError as err:
        raise ImageLoadError(f"{path}: file not found") from err
    except UnidentifiedImageError as err:
        raise ImageLoadError(f"{path}: not an image file (or an unsupported format)") from err
    except Image.DecompressionBombError as err:
        raise ImageLoadError(f"{path}: refused as a possible decompression bomb ({err}); resize it first.") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(f"{path}: unreadable image ({err})") from err


def uses_thumbnail(path: Path | str, thumbnail_side: int) -> bool:
    """True when `load_image(path, thumbnail_side=...)` decodes a HEIC's embedded thumbnail, not the photo (nb 06).

    Reads the header only (about 5 ms). False for other formats and for files that cannot be read.
    """
    if not thumbnail_side or not register_heif_opener():
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.format == "HEIF" and image.draft(image.mode, _draft_size(image.size, thumbnail_side)) \
                    is not None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def _draft_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The photo's size scaled so that its shorter side is `side`, rounded up: what `draft` must cover."""
    scale = side / min(size)
    return math.ceil(size[0] * scale), math.ceil(size[1] * scale)


@functools.lru_cache(maxsize=1)
def register_heif_opener() -> bool:
    """Teach Pillow to open HEIC/HEIF files, once, when the first photo is opened; False without pillow-heif."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener(thumbnails=True)  # thumbnails: load_image's draft() may use one
    return True


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode (L, LA, P, RGBA, CMYK, I;16, I, F) to RGB; alpha goes on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = image.convert("I") if image.mode.startswith("I;16") else image
        extrema = image.getextrema()
        scale = 255 / max(float(extrema[1]), 1.0) if extrema[1] > 255 else 1.0
        image = image.point(lambda v: v * scale).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def on_colab() -> bool:
    """True inside Google Colab, whose upload widget cannot take photos of 1 MB or more (ipywidgets issue 3452)."""
    return "google.colab" in sys.modules


def uploads_dir(settings: config.Settings | None = None) -> Path:
    """Where uploaded photos are kept: `uploads/` in the data folder (on Colab, in the Files pane) (notebook 04)."""
    return (settings or config.load_settings()).data_dir / "uploads"


def uploaded_files(value: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[tuple[str, bytes]]:
    """(name, content) of each file in an ipywidgets FileUpload's `value`, from ipywidgets 7 or 8 (notebook 04).

    ipywidgets 7 (Colab) gives a dict {name: {"metadata": {...}, "content": bytes}}; 8 gives a tuple of dicts
    with "name" and "content" (a memoryview), among others.
    """
    if isinstance(value, Mapping):
        return [(str(name), bytes(item["content"])) for name, item in value.items()]
    return [(str(item["name"]), bytes(item["content"])) for item in value]


def save_upload(name: str, content: bytes, folder: Path | None = None) -> Path:
    """Keep uploaded image bytes as a file in `folder` (default: `uploads_dir()`) and return its path (notebook 04).

    The name is made safe for any file system; a different photo with the same name gets `-2`, `-3`... added.
    Raises ImageLoadError (and keeps nothing) when the bytes are not a readable image.
    """
    content = bytes(content)
    folder = Path(folder) if folder else uploads_dir()
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".") or "photo"
    path = folder / safe_name
    for number in itertools.count(2):
        if not path.exists() or path.read_bytes() == content:
            break
        path = folder / f"{Path(safe_name).stem}-{number}{Path(safe_name).suffix}"
    with files.atomic_path(path) as tmp:
        tmp.write_bytes(content)
        load_image(tmp)  # not an image: ImageLoadError, and the temporary file is removed
    return path


def upload_with_colab(folder: Path | None = None) -> list[Path]:
    """Colab's own upload dialog, which takes large photos; the saved paths ([] if none was chosen) (notebook 04).

    It waits until you choose files (or cancel), so call it from a cell, not from a widget's callback.
    """
    try:
        from google.colab import files as colab_files  # type: ignore[import-not-found]
    except ImportError as err:
        raise RuntimeError("google.colab is only available on Colab: use the upload button of the "
                           "widget, or set MY_PHOTO to a path on this machine.") from err
    chosen = colab_files.upload() or {}
    return [save_upload(name, content, folder) for name, content in chosen.items()]
