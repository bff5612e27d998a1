"""Fixtures shared by the test modules: isolated settings, the real dataset, generated images and datasets."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import config, data


@pytest.fixture
def tmp_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    """Settings whose data and output folders live in a fresh temporary folder."""
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    return config.load_settings()


@pytest.fixture(scope="session")
def real_dataset() -> data.Dataset:
    """The real sample dataset, through DATASET_SOURCE (offline) or a download."""
    return data.load_dataset()


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., Path]:
    """Write a small generated image and return its path: make_image("x.png", mode="RGBA", size=(32, 24))."""

    def _make(name: str, mode: str = "RGB", size: tuple[int, int] = (32, 24), seed: int = 0, **save_args) -> Path:
        rng = np.random.default_rng(seed)
        rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
        if mode == "I;16":
            image = Image.fromarray(rng.integers(0, 65535, (size[1], size[0]), dtype=np.uint16))
        elif mode == "P":
            image = rgb.quantize(16)
        else:
            image = rgb.convert(mode)
        path = tmp_path / name
        image.save(path, **save_args)
        return path

    return _make


def write_fake_dataset(root: Path) -> Path:
    """A dataset with the real layout (100 classes x 10 train + 1 test) made of tiny JPEGs."""
    tiny = Image.new("RGB", (4, 4), (200, 100, 50))
    rows = []
    for c in range(data.N_CLASSES):
        label = f"class_{c:03d}"
        for split, n in (("train", data.TRAIN_PER_CLASS), ("test", data.TEST_PER_CLASS)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                tiny.save(folder / f"n{c:08d}_{i}.JPEG", "JPEG")
                if split == "train":
                    rows.append([len(rows), f"./train/{label}/n{c:08d}_{i}.JPEG", label])
    with open(root / data.CSV_NAME, "w", newline="") as f:
        csv.writer(f).writerows([["id", "path", "label"], *rows])
    return root


@pytest.fixture(scope="session")
def fake_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated dataset (tiny JPEGs in the real layout), made once per test session."""
    return write_fake_dataset(tmp_path_factory.mktemp("fake") / "reverse_image_search")


@pytest.fixture(scope="session")
def fake_zip(fake_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake dataset zipped like the real release asset (train/, test/ and the CSV at the top)."""
    zip_path = tmp_path_factory.mktemp("zips") / "reverse_image_search.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(fake_dataset.rglob("*")):
            archive.write(path, path.relative_to(fake_dataset))
    return zip_path
