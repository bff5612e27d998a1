"""Tests for vectors.onnx_export: the ONNX export gives torch's vectors, int8 is calibrated on photos you give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from support import OFFLINE_MODEL as MODEL
from support import cosines as _cosines

from helpers import config
from helpers.photos import data
from helpers.vectors import cache, embeddings, models, onnx_export


def test_onnx_backend_gives_the_same_vectors(onnx_ready: config.Settings, photos: list[Path]) -> None:
    on_torch = embeddings.embed_images(photos, backend="torch", progress=False, use_cache=False)
    on_onnx = embeddings.embed_images(photos, backend="onnx", progress=False, use_cache=False)
    assert on_onnx.embeddings.shape == on_torch.embeddings.shape
    assert _cosines(on_torch.embeddings, on_onnx.embeddings).min() >= 0.9999
    np.testing.assert_allclose(on_onnx.embeddings, on_torch.embeddings, atol=1e-4)


@pytest.fixture(scope="session")
def exported_int8(exported_onnx: Path, real_dataset: data.Dataset) -> Path:
    """The int8 model, quantised once per session (calibrated on the sample photos, as notebook 02 does)."""
    return onnx_export.quantize_onnx(real_dataset.train.image_paths, MODEL, models_dir=exported_onnx.parent)


@pytest.mark.slow
def test_int8_backend_is_close_and_has_its_own_cache(onnx_ready: config.Settings, exported_int8: Path,
                                                    real_dataset: data.Dataset) -> None:
    for path in (exported_int8, exported_int8.with_suffix(".json")):  # the model and its calibration record
        (onnx_ready.data_dir / "models" / path.name).symlink_to(path)
    image_paths = real_dataset.test.image_paths[:16]
    on_onnx = embeddings.embed_images(image_paths, backend="onnx", progress=False)
    on_int8 = embeddings.embed_images(image_paths, backend="onnx-int8", progress=False)
    cosines = _cosines(on_onnx.embeddings, on_int8.embeddings)
    assert cosines.mean() > 0.95 and cosines.max() < 0.99999  # close, but not the same vectors
    assert cache.cache_path(backend="onnx-int8") != cache.cache_path(backend="onnx")
    assert cache.cache_path(backend="onnx") == cache.cache_path(backend="torch")
    assert cache.cache_path(backend="onnx-int8").exists()


def test_onnx_export_is_reused_and_keyed_by_model(onnx_ready: config.Settings, exported_onnx: Path) -> None:
    path = onnx_export.export_onnx()
    assert path.parent == onnx_ready.data_dir / "models" and path.name == exported_onnx.name
    assert path.name.startswith(f"{MODEL}-") and path.suffix == ".onnx"


def test_failed_onnx_export_leaves_no_file(settings: config.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_export(model, args, path, **kwargs):
        Path(path).write_bytes(b"half an onnx file")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(models.ModelLoadError, match="EMBED_BACKEND=torch"):
        onnx_export.export_onnx()
    assert list((settings.data_dir / "models").iterdir()) == []




def test_int8_without_a_calibration_says_how_and_never_loads_the_sample_dataset(
        onnx_ready: config.Settings, photos: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sample_dataset(*args, **kwargs):
        raise AssertionError("the sample dataset was loaded for a user's own photos")

    monkeypatch.setattr(data, "load_dataset", no_sample_dataset)
    monkeypatch.setattr(data, "download_dataset", no_sample_dataset)
    with pytest.raises(models.ModelLoadError, match=r"quantize_onnx\(photo_paths\)"):
        embeddings.embed_images(photos, backend="onnx-int8", progress=False)
    assert not list((onnx_ready.data_dir / "models").glob("*int8*"))


def test_int8_is_calibrated_on_the_photos_given(onnx_ready: config.Settings, photos: list[Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("sample dataset loaded"))
    path = onnx_export.quantize_onnx(photos)
    assert path == onnx_export.model_path(int8=True) and path.is_file()
    first_tag = onnx_export.calibration_tag()
    result = embeddings.embed_images(photos, backend="onnx-int8", progress=False)
    assert result.embeddings.shape == (len(photos), 1280) and cache.cache_path(backend="onnx-int8").exists()
    onnx_export.quantize_onnx(photos[:4])  # another calibration: another cache, never mixed with the first
    assert onnx_export.calibration_tag() != first_tag
    assert not cache.cache_path(backend="onnx-int8").exists()
