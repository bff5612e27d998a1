"""Tests for collection/duplicates.py: bursts and edits fold into their best shot; different photos stay apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from support import OFFLINE_MODEL, ranked_hits

from helpers import config
from helpers.collection import duplicates
from helpers.vectors import embeddings


def _unit(*rows: list[float]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_near_duplicates_join_the_group_of_their_best_shot() -> None:
    vectors = _unit([1, 0, 0], [0, 1, 0], [1, 0.1, 0], [0, 1, 0.2], [0, 0, 1], [1, 0, 0.05])
    assert duplicates.group_near_duplicates(vectors, threshold=0.95) == [[0, 2, 5], [1, 3], [4]]
    assert duplicates.group_near_duplicates(vectors, threshold=1.01) == [[0], [1], [2], [3], [4], [5]]


def test_a_chain_of_small_changes_is_not_merged_into_one_group() -> None:
    """Each step is within the threshold of the one before, but the ends are far apart: compared with the first."""
    angles = np.radians([0, 20, 40, 60])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert duplicates.group_near_duplicates(vectors, threshold=0.9) == [[0, 1], [2, 3]]


def test_collapsed_hits_keep_the_best_of_each_moment() -> None:
    hits = ranked_hits([f"/p{i}.jpg" for i in range(4)], ["", "", "", ""])
    vectors = _unit([1, 0], [1, 0.05], [0, 1], [1, 0.02])
    groups = duplicates.collapse_hits(hits, vectors)
    assert [g.best.path for g in groups] == ["/p0.jpg", "/p2.jpg"]
    assert [h.path for h in groups[0].duplicates] == ["/p1.jpg", "/p3.jpg"] and len(groups[0]) == 3
    assert duplicates.distinct_hits(hits, vectors) == [hits[0], hits[2]]
    with pytest.raises(ValueError, match="one vector per hit"):
        duplicates.collapse_hits(hits, vectors[:3])


@pytest.mark.slow
def test_a_real_burst_and_edit_fold_but_another_photo_does_not(real_dataset, settings: config.Settings,
                                                               tmp_path: Path) -> None:
    """The offline model on generated variants of a sample photo: the threshold's reason, on real vectors."""
    hound = [p for p in real_dataset.train.image_paths if p.parent.name == "Afghan_hound"]
    with Image.open(hound[7]) as image:
        original = image.convert("RGB")
    width, height = original.size
    variants = {
        "original.jpg": original,
        "burst.jpg": ImageEnhance.Brightness(original.crop((6, 3, width, height)).resize(original.size)).enhance(1.05),
        "edited.jpg": ImageEnhance.Color(original.crop((width // 12, height // 12, width - width // 12,
                                                        height - height // 12))).enhance(1.3),
    }
    for name, picture in variants.items():
        picture.save(tmp_path / name, quality=90)
    paths = [tmp_path / name for name in variants] + [hound[0]]  # another photo of the same breed
    vectors = embeddings.embed_images(paths, OFFLINE_MODEL, progress=False).embeddings
    assert duplicates.group_near_duplicates(vectors) == [[0, 1, 2], [3]]
