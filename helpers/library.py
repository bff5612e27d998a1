"""Your own photo library: every file in a folder accounted for, photos read with their metadata (notebook 06).

- `scan_folder` walks a folder and its subfolders and puts every file in one category: a `photo` to embed,
  `skipped` (with the reason), `unsupported` (RAW camera files, videos such as a Live Photo's .mov) or
  `not_a_photo`. Nothing is dropped without a word; `write_skipped_report` saves the list as a CSV.
- `read_photos` reads each photo's metadata from its header, without decoding its pixels: the date taken,
  the camera, the size, the folder, and the GPS location only if you ask for it.
- `mark_skipped` moves photos that later fail to decode (a truncated JPEG) to the skipped files.
- `make_demo_library` builds a small folder that looks like a phone's photos, from the sample dataset.

File names that are not valid UTF-8 (possible on Linux, for example Latin-1 names from an old Windows zip)
are skipped, with a reason that says how to rename them: Milvus stores text as UTF-8, and the index keeps each
photo's path to open it again (gallery, comic), which a lossy copy of the name could not do. Reports show such
names with the odd bytes written as `\\xe9`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
import stat
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, UnidentifiedImageError

from helpers import config, data, files

PHOTO, SKIPPED, UNSUPPORTED, NOT_A_PHOTO = "photo", "skipped", "unsupported", "not_a_photo"
CATEGORIES = (PHOTO, SKIPPED, UNSUPPORTED, NOT_A_PHOTO)
PHOTO_KINDS = {".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".png": "png", ".webp": "webp", ".gif": "gif",
               ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff", ".heic": "heic", ".heif": "heic", ".hif": "heic",
               ".avif": "avif"}
RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
                ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".rwl"}
VIDEO_SUFFIXES = {".mov", ".mp4", ".m4v", ".avi", ".mkv", ".3gp", ".mts", ".m2ts", ".wmv", ".webm", ".mpg"}
SKIPPED_FOLDERS = {"@eaDir", "__MACOSX", "$RECYCLE.BIN"}  # NAS thumbnails, zip leftovers, the Windows bin
REPORT_NAME = "skipped_files.csv"
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MODEL, _ORIENTATION, _DATE_TIME_ORIGINAL = 0x0110, 0x0112, 0x9003
_EXIF_DATE = re.compile(r"\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_UTF8_FIX = ("its name is not valid UTF-8, which Milvus cannot store: rename it (for example "
             "`convmv -f latin1 -t utf-8 -r --notest FOLDER`) and scan again")


@dataclass(frozen=True)
class LibraryFile:
    """One file (or unscanned folder) of a library: its category, kind and, unless it is a photo, why."""

    path: Path
    category: str  # one of CATEGORIES
    kind: str  # jpeg, png, heic, avif, ... for photos; raw, video, folder or other otherwise
    reason: str = ""  # empty for photos
    size: int = -1  # bytes, -1 when unknown
    mtime_ns: int = -1


@dataclass(frozen=True)
class LibraryScan:
    """Every file found under `root`, each in one category (notebook 06)."""

    root: Path
    files: tuple[LibraryFile, ...]

    @property
    def photos(self) -> list[LibraryFile]:
        """The files to embed."""
        return [f for f in self.files if f.category == PHOTO]

    @property
    def image_paths(self) -> list[Path]:
        """The paths of the photos to embed."""
        return [f.path for f in self.photos]

    @property
    def not_used(self) -> list[LibraryFile]:
        """Everything that is not a photo to embed, with its reason."""
        return [f for f in self.files if f.category != PHOTO]

    def summary(self) -> dict[str, int]:
        """How many files are in each category (every category listed, even when 0)."""
        counts = Counter(f.category for f in self.files)
        return {category: counts[category] for category in CATEGORIES}

    def kinds(self, category: str | None = None) -> dict[str, int]:
        """How many files of each kind (jpeg, heic, raw, video, ...), in one category or in all."""
        return dict(Counter(f.kind for f in self.files if category in (None, f.category)).most_common())


@dataclass(frozen=True)
class PhotoInfo:
    """A photo's metadata, read from its header (notebook 06)."""

    path: Path
    folder: str  # the photo's folder relative to the scanned root, "/"-separated; "" at the root
    taken_at: datetime  # local time as the camera wrote it (EXIF has no reliable time zone)
    taken_at_source: str  # "exif" (DateTimeOriginal) or "file_time" (the file's modification time)
    camera: str  # EXIF Model, "" when absent
    width: int  # as displayed: after the EXIF orientation
    height: int
    format: str  # Pillow's name: JPEG, HEIF, PNG, ...
    size: int  # bytes
    mtime_ns: int
    location: tuple[float, float] | None = None  # (latitude, longitude); only with include_location=True


class PhotoReadError(ValueError):
    """A photo's header could not be read; `reason` says why (without the path), the message adds the path."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{display_path(path)}: {reason}")
        self.path, self.reason = path, reason


def display_path(path: Path | str) -> str:
    """The path as printable UTF-8 text: bytes of a non-UTF-8 name are shown as \\xe9 (notebook 06)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def scan_folder(folder: Path | str, follow_links: bool = True) -> LibraryScan:
    """Every file under `folder`, each one a photo, skipped, unsupported or not a photo, with the reason (notebook 06).

    Hidden folders and NAS/zip leftovers (@eaDir, __MACOSX) are listed as one entry each, not entered.
    Links to folders are followed once: a link back up (a loop) or a second link to a folder is reported.
    A link to a photo that is also found under its own name is skipped (hard links are kept: two names).
    """
    root = Path(folder).expanduser().absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"No folder at {root}: give the folder that holds your photos.")
    return LibraryScan(root=root, files=tuple(_skip_linked_copies(list(_walk(root, follow_links)))))


_Found = tuple[LibraryFile, tuple[int, int] | None, bool]  # an entry, its (device, inode) and whether it is a link


def _walk(root: Path, follow_links: bool) -> Iterator[_Found]:
    """Classify the files of every folder under root, each folder once, in a stable (sorted) order."""
    unlisted: list[LibraryFile] = []
    seen = {_folder_key(root): root}
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda err: unlisted.append(_unlisted(err)),
                                                followlinks=follow_links):
        here = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            entry = _folder_entry(here / name, seen, follow_links)
            if entry is None:
                kept.append(name)
            else:
                yield entry, None, False
        dirnames[:] = kept
        for name in sorted(filenames):
            yield _classify_file(here / name)
    yield from ((entry, None, False) for entry in unlisted)


def _folder_key(folder: Path) -> tuple[int, int]:
    """(device, inode): the same for every link to one folder."""
    st = os.stat(folder)
    return st.st_dev, st.st_ino


def _folder_entry(folder: Path, seen: dict[tuple[int, int], Path], follow_links: bool) -> LibraryFile | None:
    """None for a folder to enter (now marked as seen), else its entry saying why it is not entered."""
    def skip(reason: str) -> LibraryFile:
        return LibraryFile(folder, SKIPPED, "folder", reason)

    if folder.name.startswith(".") or folder.name in SKIPPED_FOLDERS:
        return skip("hidden or system folder: not scanned")
    if folder.is_symlink() and not follow_links:
        return skip("a link to a folder: not followed (follow_links=False)")
    try:
        key = _folder_key(folder)
    except OSError as err:
        return skip(f"folder could not be opened: {err.strerror}")
    if key in seen:
        return skip(f"the same folder as {display_path(seen[key])} (a link), scanned there once")
    seen[key] = folder
    return None


def _unlisted(err: OSError) -> LibraryFile:
    """The entry for a folder that os.walk could not list."""
    return LibraryFile(Path(err.filename), SKIPPED, "folder",
                       f"folder could not be listed: {err.strerror} (check its permissions)")


def _skip_linked_copies(found: list[_Found]) -> Iterator[LibraryFile]:
    """Keep one entry per photo content: a real file before links to it, else the first link."""
    owner: dict[tuple[int, int] | None, Path] = {}
    for entry, key, is_link in found:
        if entry.category == PHOTO and not is_link:
            owner.setdefault(key, entry.path)
    for entry, key, is_link in found:
        first = owner.setdefault(key, entry.path) if entry.category == PHOTO and is_link else entry.path
        if first != entry.path:
            entry = replace(entry, category=SKIPPED, reason=f"a link to {display_path(first)}, used there")
        yield entry


def _classify_file(path: Path) -> _Found:
    """One file's entry, from its name and stat (its content is read later by read_photos)."""
    kind = _kind(path.suffix.lower())
    by_name = _classify_by_name(path, kind)
    if by_name is not None:
        return by_name, None, False
    is_link = path.is_symlink()
    try:
        st = path.stat()
    except FileNotFoundError:
        reason = "a broken link: its target does not exist" if is_link else "disappeared during the scan"
        return LibraryFile(path, SKIPPED, kind, reason), None, is_link
    except OSError as err:  # a link loop, a permission problem
        return LibraryFile(path, SKIPPED, kind, f"cannot be opened: {err.strerror}"), None, is_link
    category, reason = _classify_by_stat(path, kind, st)
    return LibraryFile(path, category, kind, reason, st.st_size, st.st_mtime_ns), (st.st_dev, st.st_ino), is_link


def _kind(suffix: str) -> str:
    """jpeg, png, heic, ... for photo types; raw, video or other for the rest."""
    if suffix in PHOTO_KINDS:
        return PHOTO_KINDS[suffix]
    return "raw" if suffix in RAW_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else "other"


def _classify_by_name(path: Path, kind: str) -> LibraryFile | None:
    """The entry for macOS leftovers and hidden files, which are never photos to embed; None for the rest."""
    name = path.name
    if name.startswith("._"):
        return LibraryFile(path, NOT_A_PHOTO, "other", f"macOS metadata of {name[2:]} (an AppleDouble ._ file)")
    if name == ".DS_Store":
        return LibraryFile(path, NOT_A_PHOTO, "other", "macOS folder view settings (.DS_Store)")
    if name.startswith("."):
        return LibraryFile(path, SKIPPED if kind in PHOTO_KINDS.values() else NOT_A_PHOTO, kind,
                           "hidden file (its name starts with a dot)")
    return None


def _classify_by_stat(path: Path, kind: str, st: os.stat_result) -> tuple[str, str]:
    """(category, reason) of a file that exists, from its kind, its stat and its name."""
    if not stat.S_ISREG(st.st_mode):
        return NOT_A_PHOTO, "not a regular file (a pipe, socket or device)"
    if kind == "raw":
        return UNSUPPORTED, "RAW camera file: not read; export it as JPEG or HEIC"
    if kind == "video":
        return UNSUPPORTED, "video (a Live Photo's .mov, a clip): only photos are indexed"
    if kind == "other":
        return NOT_A_PHOTO, f"not a photo file type ({path.suffix or 'no extension'})"
    if not _is_utf8(path):
        return SKIPPED, _UTF8_FIX
    if st.st_size == 0:
        return SKIPPED, "empty file (0 bytes)"
    if kind == "heic" and not data.register_heif_opener():
        return UNSUPPORTED, "HEIC needs the pillow-heif package: pip install pillow-heif"
    if kind == "avif" and not _pillow_reads("AVIF"):
        return UNSUPPORTED, "this Pillow cannot read AVIF: upgrade it (pip install -U pillow)"
    return PHOTO, ""


def _is_utf8(path: Path) -> bool:
    """True when the path can be stored as UTF-8 text (a Milvus VARCHAR)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name became lone surrogates (surrogateescape)
        return False
    return True


def _pillow_reads(format_name: str) -> bool:
    """True when Pillow has an opener for the format."""
    Image.init()
    return format_name in Image.OPEN


def read_photo(path: Path | str, root: Path | str | None = None, include_location: bool = False) -> PhotoInfo:
    """Read a photo's metadata from its header, without decoding its pixels (notebook 06).

    Args:
        root: the scanned folder, for the photo's `folder`; defaults to the photo's own folder.
        include_location: also read the GPS position. Off by default: a location is private (your home,
            your routines), and anything stored beside the vectors travels with the database you share.
    """
    path = Path(path)
    before = _stat(path, "disappeared before it could be read")
    header = _read_header(path, include_location)
    after = _stat(path, "disappeared while it was being read")
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise PhotoReadError(path, "changed while it was being read (still being copied or synced?): scan again")
    taken_at, source = _date_taken(header["exif"], after.st_mtime)
    folder = path.parent.relative_to(Path(root)).as_posix() if root else ""
    return PhotoInfo(path=path, folder="" if folder == "." else folder, taken_at=taken_at,
                     taken_at_source=source, camera=header["camera"], width=header["width"],
                     height=header["height"], format=header["format"], size=after.st_size,
                     mtime_ns=after.st_mtime_ns, location=header["location"])


def _stat(path: Path, missing_reason: str) -> os.stat_result:
    """The file's stat, or PhotoReadError with `missing_reason` when it is gone."""
    try:
        return path.stat()
    except FileNotFoundError as err:
        raise PhotoReadError(path, missing_reason) from err
    except OSError as err:
        raise PhotoReadError(path, f"cannot be opened: {err.strerror}") from err


def _read_header(path: Path, include_location: bool) -> dict:
    """Format, displayed size, camera, EXIF and (if asked) location, from the header only."""
    data.register_heif_opener()
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(f) as image:
                exif = Image.Image.getexif(image)  # the base method: PNG's own would decode the pixels
                width, height = image.size
                image_format = image.format or ""
    except PermissionError as err:
        raise PhotoReadError(path, "cannot be read: permission denied (check the file's permissions)") from err
    except FileNotFoundError as err:
        raise PhotoReadError(path, "disappeared while it was being read") from err
    except UnidentifiedImageError as err:
        raise PhotoReadError(path, "not an image, or damaged: Pillow does not recognise its content") from err
    except Image.DecompressionBombError as err:
        raise PhotoReadError(path, "refused as a possible decompression bomb (too many pixels)") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise PhotoReadError(path, f"unreadable image header ({err})") from err
    if exif.get(_ORIENTATION) in (5, 6, 7, 8):  # stored on its side: displayed turned by 90 degrees
        width, height = height, width
    return {"exif": exif, "width": width, "height": height, "format": image_format,
            "camera": _text(exif.get(_MODEL)), "location": _location(exif) if include_location else None}


def _text(value: object) -> str:
    """An EXIF text value as clean text: bytes decoded, NULs and spaces stripped."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip("\x00 \t\r\n") if value is not None else ""


def _date_taken(exif: Image.Exif, mtime: float) -> tuple[datetime, str]:
    """EXIF DateTimeOriginal when it is a real date, else the file's modification time; with which one it is."""
    value = _text(exif.get_ifd(_EXIF_IFD).get(_DATE_TIME_ORIGINAL) or exif.get(_DATE_TIME_ORIGINAL))
    match = _EXIF_DATE.match(value)
    if match:
        try:
            return datetime(*(int(part) for part in match.groups())), "exif"
        except ValueError:  # "0000:00:00 00:00:00" and other placeholders cameras write
            pass
    return datetime.fromtimestamp(mtime).replace(microsecond=0), "file_time"


def _location(exif: Image.Exif) -> tuple[float, float] | None:
    """(latitude, longitude) in decimal degrees from the GPS IFD, or None when absent or invalid."""
    gps = exif.get_ifd(_GPS_IFD)
    try:
        latitude, longitude = _degrees(gps[2], gps.get(1)), _degrees(gps[4], gps.get(3))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)) or abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return round(latitude, 6), round(longitude, 6)


def _degrees(dms: tuple, ref: object) -> float:
    """Degrees, minutes, seconds and N/S/E/W to signed decimal degrees."""
    degrees, minutes, seconds = (float(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if _text(ref).upper() in ("S", "W") else value


def read_photos(scan: LibraryScan, include_location: bool = False,
                progress: bool = False) -> tuple[list[PhotoInfo], LibraryScan]:
    """Metadata of every photo of a scan, and the scan with the unreadable ones moved to skipped (notebook 06).

    A photo that cannot be opened, disappears or changes while it is read is skipped with the reason.
    See `read_photo` for `include_location`.
    """
    from tqdm.auto import tqdm

    photos: list[PhotoInfo] = []
    failures: list[tuple[Path, str]] = []
    for entry in tqdm(scan.photos, desc="Reading photo metadata", unit="photo", disable=not progress):
        try:
            photos.append(read_photo(entry.path, scan.root, include_location=include_location))
        except PhotoReadError as err:
            failures.append((entry.path, err.reason))
    return photos, mark_skipped(scan, failures)


def mark_skipped(scan: LibraryScan, skipped: Iterable[tuple[Path | str, str]]) -> LibraryScan:
    """The scan with these photos moved to skipped with their reasons, e.g. `EmbeddingResult.skipped` (notebook 06)."""
    reasons = {Path(path): _without_path(Path(path), reason) for path, reason in skipped}
    unknown = set(reasons) - {f.path for f in scan.files}
    if unknown:
        raise ValueError(f"{len(unknown)} path(s) are not in this scan, e.g. {display_path(sorted(unknown)[0])}: "
                         "give the skipped files of an embedding run over this scan's image_paths.")
    files = tuple(replace(f, category=SKIPPED, reason=reasons[f.path]) if f.path in reasons else f
                  for f in scan.files)
    return replace(scan, files=files)


def _without_path(path: Path, reason: str) -> str:
    """A reason without the "path: " that data.ImageLoadError messages start with."""
    for prefix in (f"{path}: ", f"{display_path(path)}: "):
        if reason.startswith(prefix):
            return reason[len(prefix):]
    return reason


def write_skipped_report(scan: LibraryScan, path: Path | str | None = None, include_photos: bool = False) -> Path:
    """Write the files not used (path, category, kind, reason) as a CSV, atomically (notebook 06).

    Args:
        path: defaults to skipped_files.csv in the OUTPUT_DIR setting's folder.
        include_photos: list the photos too, for a full inventory.
    """
    path = Path(path) if path else config.load_settings().output_dir / REPORT_NAME
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["path", "category", "kind", "reason"])
    for entry in scan.files if include_photos else scan.not_used:
        writer.writerow([display_path(entry.path), entry.category, entry.kind, entry.reason])
    files.write_atomically({path: text.getvalue().encode("utf-8")})
    return path


def describe_scan(scan: LibraryScan) -> str:
    """How many files of each category and kind a scan found, as text (notebook 06 and the command line)."""
    names = {PHOTO: "photos to index", SKIPPED: "skipped", UNSUPPORTED: "not supported", NOT_A_PHOTO: "not photos"}
    lines = [f"{len(scan.files)} files in {display_path(scan.root)}"]
    for category, count in scan.summary().items():
        kinds = ", ".join(f"{n} {kind}" for kind, n in scan.kinds(category).items())
        lines.append(f"{count:>8,}  {names[category]}" + (f": {kinds}" if kinds else ""))
    return "\n".join(lines)


def describe_not_used(scan: LibraryScan, limit: int = 10) -> str:
    """The files not indexed, counted by reason, most common first (notebook 06 and the command line)."""
    reasons = Counter((f.category, f.reason) for f in scan.not_used)
    if not reasons:
        return "Every file was indexed."
    lines = [f"{len(scan.not_used):,} files not indexed, by reason:"]
    lines += [f"{n:>8,}  {category:<11}  {reason}" for (category, reason), n in reasons.most_common(limit)]
    if len(reasons) > limit:
        lines.append(f"          ... and {len(reasons) - limit} other reasons: see the CSV report")
    return "\n".join(lines)


# The demo library of notebook 06 and CI: a phone's photo folder in miniature, made from the sample photos.
DEMO_VERSION = "1"
_DEMO_MARKER = ".demo_library"  # marks a folder as made here, so that it may be rebuilt
_DOG, _PIXEL, _IPHONE = "Afghan_hound", "Pixel 7", "iPhone 13"
_HOLIDAY_GPS = (47.5576, 10.7498)


@dataclass(frozen=True)
class _DemoPhoto:
    """One demo photo: where it goes, which sample photo it shows and the EXIF it gets."""

    name: str  # path inside the demo folder; the suffix picks the format (.jpg, .HEIC)
    source: str  # "class/i": the i-th training photo of a class, in sorted order
    taken: str  # EXIF DateTimeOriginal, also the file's modification time
    camera: str
    orientation: int = 1  # 6: stored on its side with "rotate 90 degrees" in the EXIF, as phones do
    gps: tuple[float, float] | None = None
    edit: str = ""  # "burst1".."burst3": a near-identical shot; "edited": cropped, more colourful


def _demo_photos() -> list[_DemoPhoto]:
    """The demo photos: 2023 (Pixel) and 2024 (iPhone), your dog (an Afghan hound) among other dogs and things."""
    park, zoo = "2023/2023-04-08 Park/IMG_01", "2023/2023-07-15 Zoo/IMG_02"
    dinner, beach = "2023/2023-10-21 Dinner/IMG_03", "2024/2024-03-02 Beach/IMG_10"
    holiday, market = "2024/2024-08-10 Holiday/IMG_20", "2024/2024-11-30 Market/IMG_30"
    photos = [_DemoPhoto(f"{park}01.jpg", f"{_DOG}/0", "2023:04:08 10:12:00", _PIXEL),
              _DemoPhoto(f"{park}02.jpg", f"{_DOG}/9", "2023:04:08 10:15:31", _PIXEL),
              _DemoPhoto(f"{park}03.jpg", "Airedale/0", "2023:04:08 10:31:02", _PIXEL),
              _DemoPhoto(f"{park}04.jpg", "basset/0", "2023:04:08 11:02:45", _PIXEL),
              _DemoPhoto(f"{zoo}01.jpg", "lion/0", "2023:07:15 14:03:10", _PIXEL),
              _DemoPhoto(f"{zoo}02.jpg", "flamingo/0", "2023:07:15 14:20:54", _PIXEL),
              _DemoPhoto(f"{zoo}03.jpg", "killer_whale/0", "2023:07:15 15:41:07", _PIXEL),
              _DemoPhoto(f"{dinner}01.jpg", "pizza/0", "2023:10:21 19:45:00", _PIXEL),
              _DemoPhoto(f"{dinner}02.jpg", "meat_loaf/0", "2023:10:21 20:02:13", _PIXEL),
              _DemoPhoto(f"{beach}01.jpg", f"{_DOG}/2", "2024:03:02 09:01:12", _IPHONE, orientation=6),
              _DemoPhoto(f"{beach}02.jpg", f"{_DOG}/3", "2024:03:02 09:04:40", _IPHONE),
              _DemoPhoto(f"{beach}03.jpg", "Doberman/0", "2024:03:02 09:30:05", _IPHONE),
              _DemoPhoto(f"{beach}04.jpg", "standard_poodle/0", "2024:03:02 09:41:19", _IPHONE),
              _DemoPhoto(f"{beach}05.jpg", "malamute/0", "2024:03:02 10:05:51", _IPHONE),
              _DemoPhoto(f"{holiday}01.HEIC", "castle/0", "2024:08:10 11:00:00", _IPHONE, gps=_HOLIDAY_GPS),
              _DemoPhoto(f"{holiday}02.HEIC", "steel_arch_bridge/0", "2024:08:10 12:30:00", _IPHONE, gps=_HOLIDAY_GPS),
              _DemoPhoto(f"{holiday}03.jpg", "yawl/0", "2024:08:10 15:10:00", _IPHONE, gps=_HOLIDAY_GPS),
              _DemoPhoto(f"{holiday}04.jpg", "bullet_train/0", "2024:08:11 08:45:00", _IPHONE, gps=_HOLIDAY_GPS),
              _DemoPhoto(f"{holiday}05.jpg", "cliff_dwelling/0", "2024:08:12 13:20:00", _IPHONE, gps=_HOLIDAY_GPS),
              _DemoPhoto(f"{holiday}06.HEIC", f"{_DOG}/4", "2024:08:12 17:05:00", _IPHONE, gps=_HOLIDAY_GPS),
              _DemoPhoto(f"{market}01.jpg", "orange/0", "2024:11:30 10:00:00", _IPHONE),
              _DemoPhoto(f"{market}02.jpg", "banana/0", "2024:11:30 10:02:00", _IPHONE),
              _DemoPhoto(f"{market}03.jpg", "grocery_store/0", "2024:11:30 10:09:00", _IPHONE),
              _DemoPhoto("Edited/IMG_2001 (edited).jpg", "castle/0", "2024:08:10 11:00:00", _IPHONE, edit="edited")]
    burst = [_DemoPhoto(f"{holiday}{7 + i:02d}.jpg", f"{_DOG}/7", f"2024:08:12 17:20:0{i}", _IPHONE,
                        gps=_HOLIDAY_GPS, edit=f"burst{i}" if i else "") for i in range(4)]
    return photos + burst


DEMO_BURST = tuple(photo.name for photo in _demo_photos() if photo.source == f"{_DOG}/7")  # one moment, 4 shots


def make_demo_library(target_dir: Path | str, dataset_root: Path | str | None = None) -> Path:
    """Build (or reuse) a small phone-like photo folder from the sample photos, for notebook 06 and CI.

    About 30 photos in dated folders (2023 and 2024) with EXIF dates and cameras, 3 HEIC files, a burst, an
    edited copy, a screenshot, broken files, macOS and hidden leftovers, a RAW and a video stand-in. Your dog
    is the Afghan hound. A folder that is not empty and was not made here is refused, never overwritten.
    """
    target = Path(target_dir).expanduser().absolute()
    marker = target / _DEMO_MARKER
    if marker.is_file() and marker.read_text().strip() == f"version {DEMO_VERSION}":
        return target
    if target.exists() and any(target.iterdir()) and not marker.is_file():
        raise FileExistsError(f"{target} is not empty and is not a demo library: give a new or empty folder "
                              "(make_demo_library never deletes your files).")
    root = Path(dataset_root) if dataset_root else data.download_dataset()
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for photo in _demo_photos():
        _write_demo_photo(photo, partial, root)
    _write_demo_extras(partial, root)
    shutil.rmtree(target, ignore_errors=True)  # an older demo version (checked above), or an empty folder
    partial.rename(target)
    return target


def _write_demo_photo(photo: _DemoPhoto, folder: Path, dataset_root: Path) -> None:
    """Write one demo photo with its EXIF (date, camera, orientation, GPS) and modification time."""
    label, index = photo.source.split("/")
    source = sorted((dataset_root / "train" / label).glob("*.JPEG"))[int(index)]
    with Image.open(source) as image:
        upright = _demo_edit(image.convert("RGB"), photo.edit)
    stored = upright.transpose(Image.Transpose.ROTATE_90) if photo.orientation == 6 else upright
    path = folder / photo.name
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = _demo_exif(photo)
    if path.suffix.lower() == ".heic":
        data.register_heif_opener()
        stored.save(path, format="HEIF", quality=80, exif=exif.tobytes(), thumbnails=[320],  # iPhones store 320x240 too
                    enc_params={"preset": "ultrafast"})  # x265 (in pillow-heif's wheels): 8x faster than its default
    else:
        stored.save(path, format="JPEG", quality=90, exif=exif)
    _set_mtime(path, photo.taken)


def _demo_edit(image: Image.Image, edit: str) -> Image.Image:
    """A burst shot (a slightly moved crop, slightly brighter) or an edited copy (cropped, more colour)."""
    width, height = image.size
    if edit.startswith("burst"):  # the camera moved a little: the same-size window, shifted, and the light
        shot, step = int(edit[-1]), max(2, width // 100)
        window = (shot * step, shot * step // 2, width - (3 - shot) * step, height - (3 - shot) * step // 2)
        return ImageEnhance.Brightness(image.crop(window).resize((width, height))).enhance(1 + 0.03 * shot)
    if edit == "edited":
        cropped = image.crop((width // 10, height // 10, width - width // 10, height - height // 10))
        return ImageEnhance.Contrast(ImageEnhance.Color(cropped).enhance(1.4)).enhance(1.1)
    return image


def _demo_exif(photo: _DemoPhoto) -> Image.Exif:
    """EXIF with the camera model, DateTimeOriginal, orientation and, if given, a GPS position."""
    exif = Image.Exif()
    exif[_MODEL] = photo.camera
    exif[_ORIENTATION] = photo.orientation
    exif.get_ifd(_EXIF_IFD)[_DATE_TIME_ORIGINAL] = photo.taken
    if photo.gps:
        gps = exif.get_ifd(_GPS_IFD)
        gps[1], gps[2] = ("N" if photo.gps[0] >= 0 else "S"), _dms(abs(photo.gps[0]))
        gps[3], gps[4] = ("E" if photo.gps[1] >= 0 else "W"), _dms(abs(photo.gps[1]))
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    """Decimal degrees to (degrees, minutes, seconds), as EXIF stores them."""
    degrees, rest = divmod(value * 3600, 3600)
    minutes, seconds = divmod(rest, 60)
    return float(degrees), float(minutes), round(seconds, 2)


def _set_mtime(path: Path, taken: str) -> None:
    """Give a file the modification time "YYYY:MM:DD HH:MM:SS" (local time), as a phone's export does."""
    when = datetime.strptime(taken, "%Y:%m:%d %H:%M:%S").timestamp()
    os.utime(path, (when, when))


def _write_demo_extras(folder: Path, dataset_root: Path) -> None:
    """The files that are not (usable) photos, a screenshot, and the marker."""
    holiday, downloads = folder / "2024/2024-08-10 Holiday", folder / "Downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    _demo_screenshot(folder / "Screenshots/Screenshot 2024-05-01 at 09.30.00.png")
    jpeg = sorted((dataset_root / "train/lion").glob("*.JPEG"))[1].read_bytes()
    extras = {
        holiday / "IMG_2006.MOV": b"Stand-in for the video half of a Live Photo (not real media).\n",
        holiday / "._IMG_2006.HEIC": b"\x00\x05\x16\x07 macOS AppleDouble stand-in\n",
        folder / "2023/2023-07-15 Zoo/IMG_0204.DNG": b"Stand-in for a RAW camera file (not real media).\n",
        folder / "2024/2024-11-30 Market/IMG_3004.jpg": b"",  # a copy that never finished
        downloads / "menu.jpg": b"Dinner menu\nSoup 4.50\nPizza 9.00\n",  # text with a photo's name
        downloads / "IMG_0999.jpg": jpeg[: len(jpeg) * 3 // 5],  # a truncated JPEG: its header still reads
        downloads / ".trashed-IMG_0998.jpg": jpeg,  # Android's bin: a hidden file
        folder / ".DS_Store": b"\x00\x00\x00\x01Bud1 stand-in\n",
        folder / _DEMO_MARKER: f"version {DEMO_VERSION}\n".encode(),
    }
    for path, content in extras.items():
        path.write_bytes(content)
        _set_mtime(path, "2024:12:01 12:00:00")


def _demo_screenshot(path: Path) -> None:
    """A phone screenshot (PNG, no EXIF): a status bar, a title and a few coloured cards."""
    image = Image.new("RGB", (390, 844), (242, 242, 247))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 390, 44), fill=(255, 255, 255))
    draw.text((20, 14), "09:30", fill=(0, 0, 0))
    draw.text((20, 70), "Boarding pass  MUC -> LIS", fill=(0, 0, 0))
    for i, colour in enumerate([(0, 122, 255), (52, 199, 89), (255, 149, 0)]):
        draw.rounded_rectangle((20, 120 + i * 160, 370, 260 + i * 160), radius=16, fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    _set_mtime(path, "2024:05:01 09:30:00")
