"""Fixtures shared by the test modules: isolated settings, the real dataset, generated images and datasets,
fake OpenAI and embeddings, notebook runs in a real browser."""

from __future__ import annotations

import csv
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import ModuleType

import fake_embeddings as fake_embedding_module
import jupyter_browser
import milvus_server
import numpy as np
import openai
import pytest
import torch
from fake_openai import TEST_KEY, FakeOpenAI
from PIL import Image
from support import OFFLINE_MODEL

from helpers import config
from helpers.collection import database
from helpers.comic import openai_api
from helpers.photos import data
from helpers.vectors import embeddings, onnx_export


@pytest.fixture(autouse=True)
def restore_environment() -> Iterator[None]:
    """Put os.environ back after every test: a .env read by a test must not leak into later notebook kernels."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def tmp_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    """Settings whose data and output folders live in a fresh temporary folder."""
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    return config.load_settings()


@pytest.fixture
def client(tmp_settings: config.Settings) -> Iterator:
    """A Milvus Lite client on a fresh database under the test's temporary folder, released afterwards."""
    client = database.connect()
    yield client
    database.release_database(client)


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


# --- models and embeddings: the offline model, generated photos, the ONNX export ------------------------------

@pytest.fixture
def settings(tmp_settings: config.Settings, monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    """Fresh data folder, the offline model and the torch backend unless a test says otherwise."""
    monkeypatch.setenv("MODEL_NAME", OFFLINE_MODEL)
    monkeypatch.setenv("EMBED_BACKEND", "torch")
    return config.load_settings()


@pytest.fixture
def photos(make_image: Callable[..., Path]) -> list[Path]:
    """Eight photos of different sizes and modes; the large JPEG is decoded at a reduced scale."""
    specs = [("a.jpg", "RGB", (64, 48)), ("b.png", "RGBA", (40, 60)), ("c.jpg", "L", (300, 200)),
             ("d.png", "P", (50, 50)), ("e.jpg", "CMYK", (33, 77)), ("f.png", "I;16", (64, 64)),
             ("g.webp", "RGB", (500, 375)), ("h.jpg", "RGB", (1200, 900))]
    return [make_image(name, mode=mode, size=size, seed=i) for i, (name, mode, size) in enumerate(specs)]


@pytest.fixture(scope="session")
def exported_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline model exported to ONNX once for the whole test session (it takes 10-30 s)."""
    return onnx_export.export_onnx(OFFLINE_MODEL, models_dir=tmp_path_factory.mktemp("models"))


@pytest.fixture
def onnx_ready(settings: config.Settings, exported_onnx: Path) -> config.Settings:
    """Settings whose models folder already holds the session's ONNX export."""
    models_dir = settings.data_dir / "models"
    models_dir.mkdir(parents=True)
    (models_dir / exported_onnx.name).symlink_to(exported_onnx)
    return settings


@pytest.fixture
def batches_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Record the size of every batch the model runs on (to see what the cache saved)."""
    sizes: list[int] = []
    real_load_backend = embeddings.load_backend

    def counting_load_backend(*args, **kwargs):
        run_model = real_load_backend(*args, **kwargs)

        def run(batch: torch.Tensor) -> np.ndarray:
            sizes.append(len(batch))
            return run_model(batch)
        return run

    monkeypatch.setattr(embeddings, "load_backend", counting_load_backend)
    yield sizes


@pytest.fixture
def fake_embeddings(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Vectors made from paths instead of a model, for fast store tests (tests/fake_embeddings.py)."""
    fake_embedding_module.install(monkeypatch)
    return fake_embedding_module


@pytest.fixture
def solid_images(tmp_path: Path) -> list[Path]:
    """Ten 40x30 JPEGs of distinct solid colours."""
    paths = []
    for i in range(10):
        path = tmp_path / f"solid_{i}.jpg"
        Image.new("RGB", (40, 30), (i * 25, 255 - i * 25, 100)).save(path, quality=95)
        paths.append(path)
    return paths
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


@pytest.fixture(scope="session")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a real Milvus server (tests/milvus_server.py), started once for the session, on loopback only.

    Where it cannot start isolated, the tests that use it skip and say why; MILVUS_SERVER_TESTS=required (CI)
    makes that a failure instead.
    """
    problem = milvus_server.isolation_problem()
    if problem:
        if os.environ.get("MILVUS_SERVER_TESTS") == "required":
            pytest.fail(f"MILVUS_SERVER_TESTS=required, but the Milvus server cannot start: {problem}")
        pytest.skip(problem)
    data_dir = tmp_path_factory.mktemp("milvus-server")
    with milvus_server.running_server(data_dir) as uri:
        yield uri
    shutil.rmtree(data_dir / "data", ignore_errors=True)  # ~300 MB (etcd, message queue); the logs stay
