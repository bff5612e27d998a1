"""A photo's metadata, read from its header without decoding its pixels: date taken, camera, size, place (nb 06).

`read_photo` returns a `PhotoInfo`: the date taken (EXIF `DateTimeOriginal`, else the file's modification
time, and which of the two it is), the camera model, the size as displayed (after the EXIF orientation), the
format, and the GPS location only if you ask for it (it is private). A file that cannot be read, or that
disappears or changes while it is read, raises `PhotoReadError` with the reason.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from helpers.photos import data

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MODEL, _ORIENTATION, _DATE_TIME_ORIGINAL = 0x0110, 0x0112, 0x9003
_EXIF_DATE = re.compile(r"\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


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
    return os.fsencode(data.text_to_path(path)).decode("utf-8", "backslashreplace")  # a stored path, too


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
