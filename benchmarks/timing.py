"""What the benchmark scripts share: the best of several timed runs, and mAP@10 of an exact search.

Imported by the scripts of this folder (`python benchmarks/bench_x.py` puts the folder on sys.path).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from helpers.collection import metrics


def best_time(work: Callable[[], object], repeats: int) -> float:
    """The shortest of `repeats` runs of `work`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def map_at_10(train: np.ndarray, train_labels: Sequence[str], test: np.ndarray, test_labels: Sequence[str]) -> float:
    """Mean AP@10 (Towhee's, collection.metrics) of exact cosine search: each test image ranks all of train."""
    ranked = np.argsort(-(test @ train.T), axis=1, kind="stable")[:, :10]
    return float(np.mean([metrics.average_precision([train_labels[j] == label for j in row], 10)
                          for row, label in zip(ranked, test_labels, strict=True)]))
