"""Fixtures shared by the test modules: isolated settings, the real dataset, generated images, notebook runs."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator
from pathlib import Path

import jupyter_browser
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


@pytest.fixture(scope="session")
def notebook_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The settings of a learner's kernel in the browser and server-notebook tests (jupyter_browser.notebook_settings).

    Fresh data and output folders (their own Milvus Lite file), sharing the embedding cache of the usual data folder.
    """
    return jupyter_browser.notebook_settings(tmp_path_factory.mktemp("notebooks"), config.load_settings().data_dir)


def browser_artifacts_dir() -> Path:
    """Where failing browser tests leave screenshots: BROWSER_ARTIFACTS_DIR, or the data folder's browser-artifacts/."""
    return Path(os.environ.get("BROWSER_ARTIFACTS_DIR") or config.load_settings().data_dir / "browser-artifacts")


@pytest.fixture(scope="session")
def browser_artifacts() -> Path:
    """The folder for the screenshots of failing browser tests (see browser_artifacts_dir)."""
    return browser_artifacts_dir()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, pytest.TestReport,
                                                                                     pytest.TestReport]:
    """When a test fails, keep a screenshot of each browser page it uses (fixtures named `page...`) as artefacts."""
    report = yield
    if report.failed:
        for fixture, page in getattr(item, "funcargs", {}).items():
            if fixture.startswith("page") and not page.is_closed():
                name = re.sub(r"[^\w.-]+", "_", item.nodeid.split("/")[-1])
                path = jupyter_browser.save_screenshot(page, browser_artifacts_dir() / f"{name}.png")
                report.sections.append(("browser", f"screenshot of the page: {path}"))
    return report
