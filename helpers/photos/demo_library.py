"""The demo folder of notebook 06 and CI: a phone's photo library in miniature, made from the sample photos.

`make_demo_library` writes about 30 photos in dated folders (2023 and 2024) with EXIF dates and cameras, 3 HEIC
files, a burst of 4 shots (`DEMO_BURST`), an edited copy, a screenshot, broken files, macOS and hidden
leftovers, a RAW and a video stand-in: what `library.scan_folder` must account for in a real folder. Your dog
is the Afghan hound.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw, ImageEnhance

from helpers.photos import data

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
DEMO_DOG = tuple(photo.name for photo in _demo_photos() if photo.source.startswith(f"{_DOG}/"))  # your dog's photos


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
    exif[ExifTags.Base.Model] = photo.camera
    exif[ExifTags.Base.Orientation] = photo.orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = photo.taken
    if photo.gps:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
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
