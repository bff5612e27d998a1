"""This dog, not any dog: your album of picked photos, searched with all of them at once (notebook 06).

After you pick the photos that really are your dog (`picker`) and store them as an album in Milvus
(`add_to_album`: a word in each photo's `albums` field), they become examples for the next search.
Two ways to combine several examples:

- "mean": one query, the mean of the example vectors (normalised): the direction they share, which is your
  dog rather than the background, the light or the pose of one photo;
- "best": one query per example, each photo scored by its best match to any example (the hit lists merged).

`evaluate_examples` measures both on the sample dataset, one class playing "your dog": mAP@k with n random
examples of that class, the other photos of the class to be found among all the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient

from helpers.collection import filters, metrics, store
from helpers.photos.hits import Hit

COMBINE = ("mean", "best")


def add_to_album(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str], album: str) -> int:
    """Put these stored photos in an album (their `albums` field); returns how many rows changed (notebook 06).

    Album names ignore case, as tags do: "My_Dog" and "my_dog" are one album, stored as "my_dog".
    """
    album = filters.album_name(album)
    return store.update_albums(client, collection_name, image_paths,
                               lambda albums: albums if album in albums else
                               [*(a for a in albums if filters.normalize_album(a) != album), album])


def remove_from_album(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str],
                      album: str) -> int:
    """Take these photos out of an album; returns how many rows changed (notebook 06)."""
    album = filters.album_name(album)
    return store.update_albums(client, collection_name, image_paths,
                               lambda albums: [a for a in albums if filters.normalize_album(a) != album])


def album_paths(client: MilvusClient, collection_name: str, album: str) -> list[str]:
    """The paths of the photos in an album, sorted (notebook 06)."""
    hits = store.query_photos(client, collection_name, filters.album_filter(album), limit=store.QUERY_LIMIT)
    return sorted({hit.path for hit in hits})


def mean_query(example_embeddings: np.ndarray) -> np.ndarray:
    """One unit query vector from several examples: their normalised mean (notebook 06)."""
    vectors = np.atleast_2d(np.asarray(example_embeddings, dtype=np.float32))
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def merge_best(hit_lists: Sequence[Sequence[Hit]], top_k: int = 10) -> list[Hit]:
    """Hits of several queries as one list: each photo once, with its best score, best first (notebook 06)."""
    best: dict[str, Hit] = {}
    for hits in hit_lists:
        for hit in hits:
            if hit.path not in best or hit.score > best[hit.path].score:
                best[hit.path] = hit
    return sorted(best.values(), key=lambda hit: -hit.score)[:top_k]


def search_with_examples(client: MilvusClient, collection_name: str, example_embeddings: np.ndarray,
                         top_k: int = 10, combine: str = "mean", filter: str | None = None,
                         exclude_album: str | None = None) -> list[Hit]:
    """The `top_k` photos most like several examples at once, combined by "mean" or "best" (notebook 06).

    exclude_album="my_dog" leaves out the photos already in that album (to find more of your dog); without it
    the album's own photos are results too (to rank them, as notebook 06 does for the comic).
    """
    _check_combine(combine)
    if exclude_album is not None:
        filter = filters.combine_filters(filter, f"not {filters.album_filter(exclude_album)}")
    examples = np.atleast_2d(np.asarray(example_embeddings, dtype=np.float32))
    if combine == "mean":
        return store.search_similar(client, collection_name, mean_query(examples), top_k=top_k, filter=filter)
    return merge_best(store.search_similar(client, collection_name, examples, top_k=top_k, filter=filter), top_k)


def example_scores(example_embeddings: np.ndarray, embeddings: np.ndarray, combine: str = "mean") -> np.ndarray:
    """Each row's score against the examples: cosine with their mean, or the best cosine with any of them."""
    _check_combine(combine)
    examples = np.atleast_2d(np.asarray(example_embeddings, dtype=np.float32))
    if combine == "mean":
        return np.asarray(embeddings, dtype=np.float32) @ mean_query(examples)
    return (np.asarray(embeddings, dtype=np.float32) @ examples.T).max(axis=1)


def evaluate_examples(embeddings: np.ndarray, labels: Sequence[str], n_examples: int, combine: str = "mean",
                      trials: int = 5, k: int = 10, seed: int = 0) -> float:
    """mAP@k of searching with `n_examples` photos of one class, over every class and `trials` random picks (nb 06).

    For each class and trial, `n_examples` of its photos are picked at random (the same picks for every
    `combine`, given the seed); the other photos are ranked by `example_scores` (exact search, no Milvus) and
    a hit is relevant when it has the class. AP@k as in notebook 04 (`metrics.average_precision`).
    """
    _check_combine(combine)
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    vectors = np.asarray(embeddings, dtype=np.float32)
    similarities = vectors @ vectors.T  # once: a row per example photo
    scores = []
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        if len(members) <= n_examples:
            continue
        for _ in range(trials):
            examples = rng.choice(members, n_examples, replace=False)
            rows = similarities[examples]  # the mean of the rows ranks as the cosine with the mean vector does
            ranking = rows.mean(axis=0) if combine == "mean" else rows.max(axis=0)
            ranking[examples] = -np.inf  # the examples themselves are not results
            top = np.argsort(-ranking, kind="stable")[:k]
            scores.append(metrics.average_precision(list(labels[top] == label), k))
    if not scores:
        raise ValueError(f"No class has more than {n_examples} photos: nothing left to find.")
    return float(np.mean(scores))


def _check_combine(combine: str) -> None:
    if combine not in COMBINE:
        raise ValueError(f"combine={combine!r}: use one of {COMBINE}.")
