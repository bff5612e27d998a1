"""Tests for helpers/collection/album.py: several examples searched at once, and the measure of how much they help."""

from __future__ import annotations

import numpy as np
import pytest
from support import unit_vectors

from helpers import config
from helpers.collection import album, database, store
from helpers.photos.hits import Hit


def test_the_mean_query_is_the_normalised_mean() -> None:
    query = album.mean_query(np.array([[1, 0], [0, 1]], dtype=np.float32))
    assert np.allclose(query, [2 ** -0.5, 2 ** -0.5]) and np.isclose(np.linalg.norm(query), 1)
    assert np.allclose(album.mean_query(np.array([3.0, 4.0])), [0.6, 0.8])  # one example: itself


def test_merged_hits_keep_each_photo_once_with_its_best_score() -> None:
    first = [Hit("/a.jpg", "", 0.9), Hit("/b.jpg", "", 0.5)]
    second = [Hit("/b.jpg", "", 0.8), Hit("/c.jpg", "", 0.7)]
    assert album.merge_best([first, second]) == [first[0], second[0], second[1]]
    assert album.merge_best([first, second], top_k=1) == [first[0]]


def test_example_scores_mean_and_best() -> None:
    examples = np.array([[1, 0], [0, 1]], dtype=np.float32)
    candidates = np.array([[1, 0], [2 ** -0.5, 2 ** -0.5]], dtype=np.float32)
    assert np.allclose(album.example_scores(examples, candidates, "best"), [1, 2 ** -0.5])
    assert np.allclose(album.example_scores(examples, candidates, "mean"), [2 ** -0.5, 1])
    with pytest.raises(ValueError, match="combine"):
        album.example_scores(examples, candidates, "sum")


def _clusters(n_classes: int, per_class: int, noise: float, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Unit vectors around one random centre per class, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, 32))
    vectors = np.repeat(centres, per_class, axis=0) + noise * rng.standard_normal((n_classes * per_class, 32))
    labels = [f"class{c}" for c in range(n_classes) for _ in range(per_class)]
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def test_separate_classes_are_found_perfectly_and_the_examples_are_not_results() -> None:
    vectors, labels = _clusters(5, 11, noise=0.05)
    for combine in album.COMBINE:
        assert album.evaluate_examples(vectors, labels, 3, combine, trials=2) == 1.0


def test_noisy_examples_help_and_the_picks_do_not_depend_on_the_combination() -> None:
    """With noisy photos, five examples find more than one; both combinations see the same random picks."""
    vectors, labels = _clusters(20, 11, noise=0.9)
    one = album.evaluate_examples(vectors, labels, 1, "mean", trials=3)
    assert one == album.evaluate_examples(vectors, labels, 1, "best", trials=3)  # one example: the same ranking
    assert album.evaluate_examples(vectors, labels, 5, "mean", trials=3) > one
    with pytest.raises(ValueError, match="more than 11"):
        album.evaluate_examples(vectors, labels, 11)


def test_search_with_examples_on_milvus(tmp_settings: config.Settings) -> None:
    vectors = unit_vectors(30, seed=4)
    paths = [f"/img{i}.jpg" for i in range(30)]
    client = database.connect()
    try:
        store.insert_embeddings(client, "images", paths, "x", vectors, "m", progress=False)
        by_mean = album.search_with_examples(client, "images", vectors[:3], top_k=5, combine="mean")
        exact = np.argsort(-(vectors @ album.mean_query(vectors[:3])))[:5]
        assert [h.path for h in by_mean] == [paths[i] for i in exact]
        by_best = album.search_with_examples(client, "images", vectors[:3], top_k=5, combine="best")
        assert {h.path for h in by_best[:3]} == set(paths[:3]) and by_best[0].score == pytest.approx(1, abs=1e-4)
        kept = album.search_with_examples(client, "images", vectors[:2], top_k=5, combine="best",
                                          filter='path != "/img0.jpg"')
        assert "/img0.jpg" not in {h.path for h in kept} and len(kept) == 5
    finally:
        database.release_database(client)
