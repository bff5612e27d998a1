"""Tests for data.load_image: photos as people have them, and files that are not photos (all generated here)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.photos import data


def _pixel(image: Image.Image, xy: tuple[int, int]) -> np.ndarray:
    return np.asarray(image, dtype=int)[xy[1], xy[0]]


@pytest.mark.parametrize(("name", "mode", "save_args"), [
    ("gray.jpg", "L", {}),  # 20 of the sample images are grayscale JPEGs
    ("cmyk.jpg", "CMYK", {}),
    ("rgba.png", "RGBA", {}),
    ("gray_alpha.png", "LA", {}),
    ("palette.png", "P", {}),
    ("palette.gif", "P", {}),
    ("sixteen_bit.png", "I;16", {}),
    ("bilevel.png", "1", {}),
    ("rgb.webp", "RGB", {}),
    ("rgb.tiff", "RGB", {}),
])
def test_every_image_mode_becomes_8bit_rgb(make_image: Callable[..., Path], name: str, mode: str,
                                           save_args: dict) -> None:
    image = data.load_image(make_image(name, mode=mode, size=(32, 24), **save_args))
    assert (image.mode, image.size) == ("RGB", (32, 24))


def test_cmyk_colours_survive(tmp_path: Path) -> None:
    path = tmp_path / "red.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    r, g, b = _pixel(data.load_image(path), (8, 8))
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "ramp16.png"
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    Image.fromarray(ramp).save(path)
    gray = np.asarray(data.load_image(path))[0, :, 0].astype(int)
    assert gray[0] == 0 and gray[-1] == 255 and 100 < gray[32] < 160  # mid-grey stays mid-grey


def _half_red(mode: str) -> Image.Image:
    """8x8, red on the left half, fully transparent on the right half."""
    if mode == "RGBA":
        image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
        image.paste((200, 0, 0, 255), (0, 0, 4, 8))
        return image
    image = Image.new("P", (8, 8), 0)  # palette index 0 is the transparent one
    image.putpalette([0, 0, 0, 200, 0, 0])
    image.paste(1, (0, 0, 4, 8))
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize(("mode", "name"), [("RGBA", "rgba.png"), ("P", "palette.png"), ("P", "palette.gif")])
def test_transparent_pixels_become_white(tmp_path: Path, mode: str, name: str) -> None:
    path = tmp_path / name
    _half_red(mode).save(path)
    image = data.load_image(path)
    assert tuple(_pixel(image, (6, 4))) == (255, 255, 255)
    assert tuple(_pixel(image, (1, 4))) == (200, 0, 0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A phone photo stored landscape with 'rotate 90 degrees' in its EXIF comes back portrait, red at the top."""
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 10, 20))  # red on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    image = data.load_image(path)
    assert image.size == (20, 40)
    assert _pixel(image, (10, 2))[0] > 200 and _pixel(image, (10, 37))[2] > 200


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A 1x1 PNG whose header claims width x height (cheap to write: Pillow reads the size from the header)."""
    Image.new("L", (1, 1)).save(path)
    raw = bytearray(path.read_bytes())
    header = struct.pack(">II", width, height) + raw[24:29]
    raw[16:29] = header
    raw[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("width", "height"), [(13_000, 12_000), (30_000, 30_000)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    path = _png_claiming(tmp_path / "bomb.png", width, height)
    with pytest.raises(data.ImageLoadError, match="decompression bomb"):
        data.load_image(path)


def test_a_108_megapixel_phone_photo_is_not_called_a_bomb(tmp_path: Path) -> None:
    path = _png_claiming(tmp_path / "phone.png", 12_000, 9_000)  # header only: decoding then fails as truncated
    with pytest.raises(data.ImageLoadError) as err:
        data.load_image(path)
    assert "bomb" not in str(err.value) and "truncated" in str(err.value)


@pytest.mark.parametrize(("name", "size", "min_side", "expected"), [
    ("big.jpg", (2000, 1500), 256, (500, 375)),  # decoded at 1/4 scale: the shorter side stays >= 256
    ("big.jpg", (2000, 1500), 1000, (2000, 1500)),  # 1/2 would be 750 < 1000: full size
    ("big.png", (2000, 1500), 256, (2000, 1500)),  # only JPEGs can be decoded at a reduced scale
    ("big.jpg", (2000, 1500), None, (2000, 1500)),
])
def test_large_jpegs_are_decoded_only_as_large_as_needed(make_image: Callable[..., Path], name: str,
                                                         size: tuple[int, int], min_side: int | None,
                                                         expected: tuple[int, int]) -> None:
    image = data.load_image(make_image(name, size=size), min_side=min_side)
    assert image.size == expected and image.mode == "RGB"


def test_pixel_limit_is_a_parameter(make_image: Callable[..., Path]) -> None:
    path = make_image("small.png", size=(32, 24))
    with pytest.raises(data.ImageLoadError, match="32x24 pixels is larger than the 100 allowed"):
        data.load_image(path, max_pixels=100)


def _truncated_jpeg(folder: Path) -> Path:
    path = folder / "truncated.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:400])
    return path


@pytest.mark.parametrize(("make_bad", "reason"), [
    (_truncated_jpeg, "unreadable image"),
    (lambda folder: (folder / "empty.jpg", (folder / "empty.jpg").write_bytes(b""))[0], "not an image"),
    (lambda folder: (folder / "notes.jpg", (folder / "notes.jpg").write_text("a shopping list"))[0], "not an image"),
    (lambda folder: folder / "missing.jpg", "file not found"),
    (lambda folder: (folder / "a_folder.jpg", (folder / "a_folder.jpg").mkdir())[0], "unreadable image"),
])
def test_bad_files_raise_image_load_error_with_path_and_reason(tmp_path: Path, make_bad: Callable[[Path], Path],
                                                               reason: str) -> None:
    path = make_bad(tmp_path)
    with pytest.raises(data.ImageLoadError, match=reason) as caught:
        data.load_image(path)
    assert str(path) in str(caught.value)
