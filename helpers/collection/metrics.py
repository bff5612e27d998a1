"""How good is the search? Precision, recall, hit rate and average precision at k (introduced in notebook 04).

A query's hits come back best first. A hit is *relevant* when it has the query's class. From the list of
relevant / not relevant, for the first k hits of one query:

- precision@k = relevant hits in the top k / k  (missing hits, when fewer than k come back, count as wrong)
- recall@k    = relevant hits in the top k / relevant images in the collection (10 per class here)
- hit rate@k  = 1 if at least one of the top k is relevant, else 0
- AP@k        = the mean of precision@i over the ranks i <= k that hold a relevant hit (0 when there is none);
  this is the definition of Towhee's notebooks, whose published mAP@10 figures we compare with.
  `average_precision(..., n_relevant=R)` gives the stricter textbook variant, divided by min(k, R) instead.

Each figure for the whole test set is the mean over queries (mAP@k is the mean of AP@k).
Ties (equal scores) keep the order the search returned: precision, recall and hit rate do not depend on
the order inside the top k, AP does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.photos.hits import Hit


@dataclass(frozen=True)
class QueryScore:
    """The metrics of one query at one k (notebook 04)."""

    query_path: Path
    label: str
    k: int
    precision: float
    recall: float
    hit_rate: float
    average_precision: float
    n_hits: int  # how many hits the search returned (can be fewer than k)


def relevance(hits: Sequence[Hit], label: str) -> list[bool]:
    """True for each hit (best first) that has the query's class (notebook 04)."""
    return [hit.label == label for hit in hits]


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")


def precision_at_k(relevant: Sequence[bool], k: int) -> float:
    """Relevant hits among the first k, divided by k (notebook 04)."""
    _check_k(k)
    return sum(map(bool, relevant[:k])) / k


def recall_at_k(relevant: Sequence[bool], k: int, n_relevant: int) -> float:
    """Relevant hits among the first k, divided by how many relevant images exist (notebook 04)."""
    _check_k(k)
    if n_relevant < 1:
        raise ValueError(f"n_relevant must be at least 1, got {n_relevant}: a class with no images in the "
                         "collection cannot be found; leave such queries out of the evaluation.")
    return sum(map(bool, relevant[:k])) / n_relevant


def hit_rate_at_k(relevant: Sequence[bool], k: int) -> float:
    """1.0 if any of the first k hits is relevant, else 0.0 (notebook 04)."""
    _check_k(k)
    return float(any(relevant[:k]))


def average_precision(relevant: Sequence[bool], k: int, n_relevant: int | None = None) -> float:
    """AP@k: mean precision@i over the relevant ranks i <= k (Towhee's), or their sum / min(k, n_relevant).

    Args:
        n_relevant: None (default) divides by the relevant hits found, as Towhee's notebooks do;
            a number divides by min(k, n_relevant), the textbook AP@k that also punishes missed images.
    """
    _check_k(k)
    found, total = 0, 0.0
    for rank, is_relevant in enumerate(relevant[:k], start=1):
        if is_relevant:
            found += 1
            total += found / rank
    if n_relevant is not None:
        return total / min(k, n_relevant) if n_relevant > 0 else 0.0
    return total / found if found else 0.0


def score_query(hits: Sequence[Hit], label: str, k: int, n_relevant: int,
                query_path: Path | str = "") -> QueryScore:
    """All metrics of one query's hits at k (notebook 04)."""
    relevant = relevance(hits, label)
    return QueryScore(query_path=Path(query_path), label=label, k=k, precision=precision_at_k(relevant, k),
                      recall=recall_at_k(relevant, k, n_relevant), hit_rate=hit_rate_at_k(relevant, k),
                      average_precision=average_precision(relevant, k), n_hits=len(hits))


def score_queries(query_paths: Sequence[Path | str], query_labels: Sequence[str],
                  hits_per_query: Sequence[Sequence[Hit]], k: int = 10,
                  n_relevant: int | Mapping[str, int] = 10) -> list[QueryScore]:
    """Score every query (same order as the inputs); `n_relevant` may map each class to its count (notebook 04)."""
    if not len(query_paths) == len(query_labels) == len(hits_per_query):
        raise ValueError(f"Got {len(query_paths)} query paths, {len(query_labels)} labels and "
                         f"{len(hits_per_query)} hit lists: give one of each per query, in the same order.")
    def relevant_count(label: str) -> int:
        return n_relevant.get(label, 0) if isinstance(n_relevant, Mapping) else n_relevant

    return [score_query(hits, label, k, relevant_count(label), path)
            for path, label, hits in zip(query_paths, query_labels, hits_per_query, strict=True)]


def count_relevant(labels: Iterable[str]) -> dict[str, int]:
    """How many collection images each class has: the denominator of recall (notebook 04)."""
    return dict(Counter(labels))


def summarize(scores: Sequence[QueryScore]) -> dict[str, float]:
    """Mean precision@k, recall@k, hit rate@k and mAP@k over queries, keyed like 'mAP@10' (notebook 04)."""
    if not scores:
        raise ValueError("No query scores to summarize: run the search for at least one query first.")
    ks = {s.k for s in scores}
    if len(ks) != 1:
        raise ValueError(f"The scores mix several k ({sorted(ks)}): summarize one k at a time.")
    k, n = ks.pop(), len(scores)
    return {f"precision@{k}": sum(s.precision for s in scores) / n,
            f"recall@{k}": sum(s.recall for s in scores) / n,
            f"hit_rate@{k}": sum(s.hit_rate for s in scores) / n,
            f"mAP@{k}": sum(s.average_precision for s in scores) / n}


def metrics_by_k(query_labels: Sequence[str], hits_per_query: Sequence[Sequence[Hit]],
                 ks: Iterable[int], n_relevant: int | Mapping[str, int] = 10) -> dict[int, dict[str, float]]:
    """`summarize` for each k of `ks`, from one search at the largest k (notebook 04)."""
    paths = [""] * len(query_labels)
    return {k: summarize(score_queries(paths, query_labels, hits_per_query, k, n_relevant)) for k in ks}


def worst_queries(scores: Sequence[QueryScore], n: int = 5) -> list[QueryScore]:
    """The n queries with the lowest AP (then lowest precision; ties keep the input order) (notebook 04)."""
    return sorted(scores, key=lambda s: (s.average_precision, s.precision))[:n]
