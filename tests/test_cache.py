"""Tests for helpers.vectors.cache through embed_images: unchanged files are never embedded twice."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import OFFLINE_MODEL as MODEL
from support import cosines as _cosines

from helpers import config
from helpers.vectors import cache, embeddings, models


def test_unchanged_files_come_from_the_cache(settings: config.Settings, photos: list[Path],
                                             batches_run: list[int]) -> None:
    first = embeddings.embed_images(photos, progress=False)
    assert sum(batches_run) == len(photos)
    assert cache.cache_path().parent == settings.data_dir / "cache"
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
    offline_cache = cache.cache_path()
    before = offline_cache.read_bytes()
    monkeypatch.setitem(models.MODELS, "lite0_untrained", models.ModelSpec("tf_efficientnet_lite0", "random"))
    batches_run.clear()
    other = embeddings.embed_images(photos, "lite0_untrained", progress=False)
    assert sum(batches_run) == len(photos) and other.model_name == "lite0_untrained"
    assert cache.cache_path("lite0_untrained") != offline_cache
    assert offline_cache.read_bytes() == before


def test_new_weights_under_the_same_name_invalidate_the_cache(settings: config.Settings, photos: list[Path],
                                                              batches_run: list[int],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    embeddings.embed_images(photos, progress=False)
    monkeypatch.setitem(models.MODELS, MODEL, models.ModelSpec("tf_efficientnet_lite0", "random"))
    batches_run.clear()
    embeddings.embed_images(photos, progress=False)
    assert sum(batches_run) == len(photos)


def test_use_cache_false_neither_reads_nor_writes(settings: config.Settings, photos: list[Path],
                                                  batches_run: list[int]) -> None:
    embeddings.embed_images(photos, progress=False, use_cache=False)
    assert not cache.cache_path().exists()  # nothing written
    embeddings.embed_images(photos, progress=False)  # now the cache holds every photo
    before = cache.cache_path().read_bytes()
    batches_run.clear()
    embeddings.embed_images(photos, progress=False, use_cache=False)
    assert sum(batches_run) == len(photos)  # nothing read: every photo went through the model again
    assert cache.cache_path().read_bytes() == before


def test_a_damaged_cache_is_rebuilt_with_a_warning(settings: config.Settings, photos: list[Path]) -> None:
    first = embeddings.embed_images(photos, progress=False)
    cache.cache_path().write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.warns(UserWarning, match="rebuilt"):
        again = embeddings.embed_images(photos, progress=False)
    np.testing.assert_allclose(again.embeddings, first.embeddings, atol=1e-6)
    assert len(cache.load(cache.cache_path())) == len(photos)


def test_a_failed_cache_write_keeps_the_old_cache(settings: config.Settings, photos: list[Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    embeddings.embed_images(photos[:3], progress=False)
    before = cache.cache_path().read_bytes()

    def disk_full(file, **arrays):
        Path(file).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        embeddings.embed_images(photos, progress=False)
    assert cache.cache_path().read_bytes() == before
    assert sorted(p.name for p in cache.cache_path().parent.iterdir()) == [cache.cache_path().name]


