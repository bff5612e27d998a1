"""Tests for helpers.collection.metrics on hand-computed rankings (R = relevant hit, x = other class)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from helpers.collection import metrics


@dataclass(frozen=True)
class FakeHit:
    path: str
    label: str
    score: float


def ranking(pattern: str) -> list[bool]:
    """'RxR' -> [True, False, True]."""
    return [c == "R" for c in pattern]


def hits_for(pattern: str, label: str = "dog") -> list[FakeHit]:
    """Hits, best first, whose label is `label` where the pattern has R."""
    return [FakeHit(f"{i}.jpg", label if c == "R" else "cat", 1.0 - i / 100) for i, c in enumerate(pattern)]


def towhee_ap(actual: set[str], predicted: list[str]) -> float:
    """Towhee's notebooks' AP, written independently: the reference our default must match."""
    hits, total = 0, 0.0
    for i, p in enumerate(predicted):
        if p in actual:
            hits += 1
            total += hits / (i + 1)
    return total / hits if hits else 0.0


@pytest.mark.parametrize(("pattern", "k", "precision", "recall", "hit", "ap", "strict_ap"), [
    # R at ranks 1 and 3: AP = (1/1 + 2/3) / 2; strict = (1/1 + 2/3) / min(5, 10)
    ("RxRxx", 5, 2 / 5, 2 / 10, 1.0, (1 + 2 / 3) / 2, (1 + 2 / 3) / 5),
    ("RRRRRRRRRR", 10, 1.0, 1.0, 1.0, 1.0, 1.0),
    ("xxxxxxxxxx", 10, 0.0, 0.0, 0.0, 0.0, 0.0),
    # one relevant hit at rank 4: AP = 1/4, strict = (1/4) / 10
    ("xxxRxxxxxx", 10, 1 / 10, 1 / 10, 1.0, 1 / 4, 1 / 40),
    # k cuts the list: the R at rank 3 is not counted at k=2
    ("xRRR", 2, 1 / 2, 1 / 10, 1.0, 1 / 2, (1 / 2) / 2),
    # fewer hits than k (a filter or a small collection): missing hits count as wrong in precision
    ("RR", 5, 2 / 5, 2 / 10, 1.0, 1.0, 2 / 5),
    ("", 10, 0.0, 0.0, 0.0, 0.0, 0.0),
    # rank 1 matters most: the same two relevant hits late score lower
    ("xxxxxxxxRR", 10, 2 / 10, 2 / 10, 1.0, (1 / 9 + 2 / 10) / 2, (1 / 9 + 2 / 10) / 10),
])
def test_hand_computed_rankings(pattern, k, precision, recall, hit, ap, strict_ap):
    relevant = ranking(pattern)
    assert metrics.precision_at_k(relevant, k) == pytest.approx(precision)
    assert metrics.recall_at_k(relevant, k, n_relevant=10) == pytest.approx(recall)
    assert metrics.hit_rate_at_k(relevant, k) == hit
    assert metrics.average_precision(relevant, k) == pytest.approx(ap)
    assert metrics.average_precision(relevant, k, n_relevant=10) == pytest.approx(strict_ap)


def test_strict_ap_divides_by_k_when_fewer_relevant_images_exist():
    # only 2 relevant images exist and both come first: a perfect AP@10 even with the strict variant
    assert metrics.average_precision(ranking("RRxxxxxxxx"), 10, n_relevant=2) == pytest.approx(1.0)
    assert metrics.average_precision(ranking("xRRxxxxxxx"), 10, n_relevant=2) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_ties_keep_the_order_the_search_returned():
    # ranks 2 and 3 have the same score; their order decides AP and precision@2, not precision@3
    tied = [FakeHit("a", "dog", 0.9), FakeHit("b", "cat", 0.8), FakeHit("c", "dog", 0.8)]
    swapped = [tied[0], tied[2], tied[1]]
    first, second = (metrics.score_query(h, "dog", k=3, n_relevant=10) for h in (tied, swapped))
    assert first.precision == second.precision == pytest.approx(2 / 3)
    assert first.recall == second.recall == pytest.approx(2 / 10)
    assert first.average_precision == pytest.approx((1 + 2 / 3) / 2)
    assert second.average_precision == pytest.approx(1.0)
    assert metrics.precision_at_k(metrics.relevance(tied, "dog"), 2) == pytest.approx(1 / 2)
    assert metrics.precision_at_k(metrics.relevance(swapped, "dog"), 2) == pytest.approx(1.0)


def test_default_average_precision_matches_towhee_on_random_rankings():
    rng = random.Random(0)
    for _ in range(200):
        predicted = [f"img{rng.randrange(30)}" for _ in range(10)]
        actual = {f"img{i}" for i in range(10)}
        relevant = [p in actual for p in predicted]
        assert metrics.average_precision(relevant, 10) == pytest.approx(towhee_ap(actual, predicted))


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(k):
    with pytest.raises(ValueError, match="k must be at least 1"):
        metrics.precision_at_k([True], k)


def test_recall_needs_relevant_images():
    with pytest.raises(ValueError, match="cannot be found"):
        metrics.recall_at_k([True], 1, n_relevant=0)


def test_relevance_compares_labels():
    assert metrics.relevance(hits_for("RxR"), "dog") == [True, False, True]
    assert metrics.relevance(hits_for("RxR"), "cat") == [False, True, False]


def test_score_queries_and_summarize_by_hand():
    hits_per_query = [hits_for("RRxx", "dog"), hits_for("xxxR", "cow"), hits_for("xx", "emu")]
    scores = metrics.score_queries(["q1.jpg", "q2.jpg", "q3.jpg"], ["dog", "cow", "emu"], hits_per_query, k=4,
                                   n_relevant={"dog": 2, "cow": 4, "emu": 1})
    assert [s.recall for s in scores] == pytest.approx([1.0, 1 / 4, 0.0])
    assert [s.n_hits for s in scores] == [4, 4, 2]
    assert scores[0].query_path.name == "q1.jpg"
    summary = metrics.summarize(scores)
    assert summary == pytest.approx({
        "precision@4": (2 / 4 + 1 / 4 + 0) / 3,
        "recall@4": (1.0 + 1 / 4 + 0) / 3,
        "hit_rate@4": 2 / 3,
        "mAP@4": (1.0 + 1 / 4 + 0) / 3,
    })


def test_score_queries_needs_matching_lengths():
    with pytest.raises(ValueError, match="one of each per query"):
        metrics.score_queries(["q1.jpg"], ["dog", "cat"], [[]], k=1)


def test_summarize_refuses_mixed_k_and_empty_input():
    one, two = (metrics.score_query(hits_for("R"), "dog", k=k, n_relevant=1) for k in (1, 2))
    with pytest.raises(ValueError, match="several k"):
        metrics.summarize([one, two])
    with pytest.raises(ValueError, match="at least one query"):
        metrics.summarize([])


def test_metrics_by_k_uses_one_search_for_every_k():
    by_k = metrics.metrics_by_k(["dog"], [hits_for("xRxR")], ks=[1, 2, 4], n_relevant=2)
    assert by_k[1]["precision@1"] == 0.0
    assert by_k[2]["precision@2"] == pytest.approx(1 / 2)
    assert by_k[4]["recall@4"] == pytest.approx(1.0)
    assert by_k[4]["mAP@4"] == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_count_relevant():
    assert metrics.count_relevant(["dog", "cat", "dog"]) == {"dog": 2, "cat": 1}


def test_worst_queries_sorted_by_ap_then_precision():
    scores = [metrics.score_query(hits_for(p), "dog", k=4, n_relevant=4, query_path=p) for p in
              ("RRRR", "xxxR", "xRRR", "xxxx", "RxxR")]
    worst = metrics.worst_queries(scores, n=3)
    assert [s.query_path.name for s in worst] == ["xxxx", "xxxR", "xRRR"]
