"""A search hit as plain data: the one result type that store, metrics, plots and comics share.

`store.search_similar` returns `Hit`s; `metrics` scores them, `plots` draws them and `comics` picks
reference photos among them, each knowing nothing of Milvus.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    """One search result: the stored image's path, its label and its cosine similarity to the query (notebook 03)."""

    path: str
    label: str
    score: float
