"""Tests for vectors.embeddings with the offline model: the batched pipeline gives the blog's vectors; bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import OFFLINE_MODEL as MODEL
from support import cosines as _cosines

from helpers import config
from helpers.photos import data
from helpers.vectors import embeddings, models


def test_feature_extractor_returns_a_unit_float32_vector(settings: config.Settings, photos: list[Path]) -> None:
    vector = models.FeatureExtractor()(photos[0])
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


@pytest.mark.slow  # starts decoding worker processes: 10-40 s, left out of `make unit`
def test_gpu_input_pipeline_decodes_in_worker_processes(settings: config.Settings, photos: list[Path],
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU path (DataLoader worker processes), run here on the CPU: same vectors, bad files reported."""
    monkeypatch.setattr(embeddings, "MIN_IMAGES_FOR_WORKERS", 2)
    (tmp_path / "bad.jpg").write_text("not a photo")
    files = embeddings._ImageFiles([*photos, tmp_path / "bad.jpg"], models.load_transform(),
                                   models.decode_side())
    assert embeddings._num_workers(len(files)) >= 1
    batches = list(embeddings._run_with_workers(files, MODEL, "torch", batch_size=2))
    indices = [i for batch in batches for i in batch.indices]
    features = np.concatenate([batch.features for batch in batches if batch.features is not None])
    assert indices == list(range(len(photos))) and [i for b in batches for i, _ in b.failures] == [len(photos)]
    per_image = np.stack([embeddings.embed_image(p) for p in photos])
    assert _cosines(per_image, features).min() >= 0.9999


@pytest.mark.parametrize("n_images, batch_size", [(200, 32), (200, 128), (200, 512), (40, 1000), (30_000, 32)])
def test_a_batch_size_never_switches_the_decoding_workers_off(n_images: int, batch_size: int,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers (one per core but one) whatever the batch size; each worker gets two tasks or more, a batch or less."""
    monkeypatch.setattr(embeddings, "_cpu_cores", lambda: 16)
    workers = embeddings._num_workers(n_images)
    chunk = embeddings._chunk_size(n_images, batch_size, workers)
    assert workers == 15 and 1 <= chunk <= batch_size and -(-n_images // chunk) >= 2 * workers
    assert embeddings._num_workers(1) == 0  # one photo (a query) is decoded in place


@pytest.mark.parametrize("backend", ["torch", pytest.param("onnx", marks=pytest.mark.slow)])  # onnx: exports first
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
