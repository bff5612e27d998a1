"""A stand-in for the model in store tests: a unit vector derived from each path, no model, no image file needed.

`install(monkeypatch)` (or `install()` in a subprocess) replaces `embeddings.embed_images`,
`embeddings.embed_in_batches` and `models.embedding_dim`, which `indexing.index_images` calls, and lets
`photo_info.read_photo` describe a path that does not exist (no file needed: empty metadata). Paths containing
"broken" are reported as unreadable, like a damaged photo.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

FAKE_DIM = 16


def vector_for(path: Path | str) -> np.ndarray:
    """The fake embedding of a path: the same unit vector every time, in every process."""
    seed = int.from_bytes(hashlib.sha256(str(path).encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(FAKE_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def embed_images(image_paths: list[Path | str], model_name: str | None = None, **kwargs: Any) -> SimpleNamespace:
    """What embeddings.embed_images returns, for fake vectors."""
    ok = [Path(p) for p in image_paths if "broken" not in str(p)]
    skipped = [(Path(p), "not an image file") for p in image_paths if "broken" in str(p)]
    vectors = np.stack([vector_for(p) for p in ok]) if ok else np.zeros((0, FAKE_DIM), np.float32)
    return SimpleNamespace(image_paths=ok, embeddings=vectors, skipped=skipped, model_name=model_name or "fake")


def embed_in_batches(image_paths: list[Path | str], model_name: str | None = None, *, describe: Any = None,
                     keep_features: bool = False, **kwargs: Any) -> Iterator[Any]:
    """What embeddings.embed_in_batches yields, for fake vectors: one batch per image."""
    from helpers.vectors import embeddings

    for position, path in enumerate(map(Path, image_paths)):
        info, reason = (None, "not an image file") if "broken" in str(path) \
            else embeddings.describe_photo(describe, path)
        if reason:
            yield embeddings.EmbeddedBatch([], np.zeros((0, FAKE_DIM), np.float32), [(position, reason)])
        else:
            vector = vector_for(path)[None]
            yield embeddings.EmbeddedBatch([position], vector, [], vector if keep_features else None,
                                           [info] if describe else None)


def embedding_dim(model_name: str | None = None) -> int:
    """What models.embedding_dim returns for the fake model."""
    return FAKE_DIM


def describe_missing_photo(read_photo: Any) -> Any:
    """`photo_info.read_photo` for real files, and empty metadata (taken 2000-01-01) for a path with no file."""
    from helpers.photos import photo_info

    def read(path: Path | str, root: Path | str | None = None, include_location: bool = False) -> Any:
        if Path(path).exists():
            return read_photo(path, root, include_location=include_location)
        return photo_info.PhotoInfo(Path(path), "", datetime(2000, 1, 1), "file_time", "", 0, 0, "", 0, 0)

    return read


def install(monkeypatch: Any = None) -> None:
    """Use the fake in helpers.vectors.embeddings, models and photo_info (undone by `monkeypatch` when given)."""
    from helpers.photos import photo_info
    from helpers.vectors import embeddings, models

    set_attribute = monkeypatch.setattr if monkeypatch is not None else setattr
    set_attribute(embeddings, "embed_images", embed_images)
    set_attribute(embeddings, "embed_in_batches", embed_in_batches)
    set_attribute(models, "embedding_dim", embedding_dim)
    set_attribute(photo_info, "read_photo", describe_missing_photo(photo_info.read_photo))
