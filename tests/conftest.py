"""Fixtures shared by the test modules: isolated settings, the real dataset, generated images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from fake_openai import TEST_KEY, FakeOpenAI
from PIL import Image

from helpers import config, data, openai_api


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


# --- OpenAI: the local test server (tests/fake_openai.py) and a client of it -----------------------------


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The local OpenAI-compatible server, with OPENAI_BASE_URL pointing at it."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        yield fake


@pytest.fixture
def openai_client(openai_server: FakeOpenAI) -> openai.OpenAI:
    """A client made by the helpers, with the test key, talking to the local server."""
    return openai_api.make_client(TEST_KEY)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits are recorded here instead of slept (the retry policy's `sleep`)."""
    recorded: list[float] = []
    monkeypatch.setattr(openai_api, "RETRIES", openai_api.RetryPolicy(sleep=recorded.append))
    return recorded


@pytest.fixture
def no_key_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key in the environment, and a developer's .env is not read."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(config, "_load_dotenv", lambda: None)
