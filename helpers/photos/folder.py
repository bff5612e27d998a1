"""Your own photo library: every file in a folder accounted for, as a photo to index or with a reason (nb 06).

- `scan_folder` walks a folder and its subfolders and puts every file in one category: a `photo` to embed,
  `skipped` (with the reason), `unsupported` (RAW camera files, videos such as a Live Photo's .mov) or
  `not_a_photo`. Nothing is dropped without a word; `write_skipped_report` saves the list as a CSV.
- `read_photos` reads each photo's metadata (`photo_info.read_photo`: date taken, camera, size, folder, and
  the GPS location only if you ask for it) and moves the photos that cannot be read to the skipped files.
- `mark_skipped` moves photos that later fail to decode (a truncated JPEG) to the skipped files.
- `demo_library.make_demo_library` builds a small folder that looks like a phone's photos, for trying it.

File names that are not valid UTF-8 (possible on Linux, for example Latin-1 names from an old Windows zip or
camera) are photos like any other: Milvus stores text as UTF-8, so the index keeps such a path escaped
(`data.path_to_text`: `file://` and the odd bytes as %E9), which opens the photo again (gallery, comic).
Reports and messages show such names with the odd bytes written as `\\xe9` (`photo_info.display_path`).
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from helpers import config
from helpers.photos import data, files, photo_info

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
        return skip(f"the same folder as {photo_info.display_path(seen[key])} (a link), scanned there once")
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
            entry = replace(entry, category=SKIPPED, reason=f"a link to {photo_info.display_path(first)}, used there")
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
    if st.st_size == 0:
        return SKIPPED, "empty file (0 bytes)"
    if kind == "heic" and not data.register_heif_opener():
        return UNSUPPORTED, "HEIC needs the pillow-heif package: pip install pillow-heif"
    if kind == "avif" and not _pillow_reads("AVIF"):
        return UNSUPPORTED, "this Pillow cannot read AVIF: upgrade it (pip install -U pillow)"
    return PHOTO, ""


def _pillow_reads(format_name: str) -> bool:
    """True when Pillow has an opener for the format."""
    Image.init()
    return format_name in Image.OPEN


def read_photos(scan: LibraryScan, include_location: bool = False,
                progress: bool = False) -> tuple[list[photo_info.PhotoInfo], LibraryScan]:
    """Metadata of every photo of a scan, and the scan with the unreadable ones moved to skipped (notebook 06).

    A photo that cannot be opened, disappears or changes while it is read is skipped with the reason.
    See `photo_info.read_photo` for `include_location`.
    """
    from tqdm.auto import tqdm

    photos: list[photo_info.PhotoInfo] = []
    failures: list[tuple[Path, str]] = []
    for entry in tqdm(scan.photos, desc="Reading photo metadata", unit="photo", disable=not progress):
        try:
            photos.append(photo_info.read_photo(entry.path, scan.root, include_location=include_location))
        except photo_info.PhotoReadError as err:
            failures.append((entry.path, err.reason))
    return photos, mark_skipped(scan, failures)


def mark_skipped(scan: LibraryScan, skipped: Iterable[tuple[Path | str, str]]) -> LibraryScan:
    """The scan with these photos moved to skipped with their reasons, e.g. `EmbeddingResult.skipped` (notebook 06)."""
    reasons = {Path(path): _without_path(Path(path), reason) for path, reason in skipped}
    unknown = set(reasons) - {f.path for f in scan.files}
    if unknown:
        example = photo_info.display_path(sorted(unknown)[0])
        raise ValueError(f"{len(unknown)} path(s) are not in this scan, e.g. {example}: "
                         "give the skipped files of an embedding run over this scan's image_paths.")
    files = tuple(replace(f, category=SKIPPED, reason=reasons[f.path]) if f.path in reasons else f
                  for f in scan.files)
    return replace(scan, files=files)


def _without_path(path: Path, reason: str) -> str:
    """A reason without the "path: " that data.ImageLoadError messages start with."""
    for prefix in (f"{path}: ", f"{photo_info.display_path(path)}: "):
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
        writer.writerow([photo_info.display_path(entry.path), entry.category, entry.kind, entry.reason])
    files.write_atomically({path: text.getvalue().encode("utf-8")})
    return path


def describe_scan(scan: LibraryScan) -> str:
    """How many files of each category and kind a scan found, as text (notebook 06 and the command line)."""
    names = {PHOTO: "photos to index", SKIPPED: "skipped", UNSUPPORTED: "not supported", NOT_A_PHOTO: "not photos"}
    lines = [f"{len(scan.files)} files in {photo_info.display_path(scan.root)}"]
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


