"""Search by words at the size of a phone's library: tag and album filters on Milvus Lite, old design against new.

    python benchmarks/bench_tags.py                   # 30,000 rows, Milvus Lite (about 10 minutes on 2 cores)
    python benchmarks/bench_tags.py --rows 3000       # a quick look
    python benchmarks/bench_tags.py --server          # also the Milvus 2.3.5 server of the tests (same rows)

Rows as `collection.index_library` stores a phone's photos: a vector of dimension 1280 (EfficientNet-Lite0's),
drawn around random cluster centres; 1-5 tags each (ImageNet class names; "dog" and a breed on about 12% of the
photos, as in the sample photos), an album on 1%, years 2019-2024, a folder. Inserted with
`store.insert_embeddings`, which stores every tag and album list also as text (`tags_text` = "|dog|beagle|").

Timed through the helpers (`store.query_photos`, `store.search_similar`), p50 of --repeats calls each:
- old design: the filters as written, `array_contains_any(tags, ["dog"])`, which Milvus Lite 3.x evaluates row by
  row in Python (what the helpers sent before `filters.text_filter`);
- new design: the same filters rewritten to `like` tests of the text fields (`tags_text like "%|dog|%"`), which
  Milvus Lite evaluates with Arrow; the same rows come back (checked);
- the first search right after inserting and flushing the rows: old, a flush that returns while Milvus Lite still
  builds the HNSW index in the background (searches meanwhile compare every row); new, `store.flush_inserts`,
  which waits for it. Two collections are inserted for this (the old one with a bare `client.flush`).
The 1-minute load average is printed: the machine may be shared; compare figures only within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from helpers.collection import database, filters, store  # noqa: E402
from helpers.vectors import tags  # noqa: E402

DIM = 1280  # EfficientNet-Lite0, the offline model
PER_CLUSTER = 50


def make_rows(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[dict]]:
    """Paths, unit vectors and metadata (tags, albums, date, folder) of n photos."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // PER_CLUSTER, 1), DIM), dtype=np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, DIM), dtype=np.float32) * 0.7
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    names = [synonyms[0] for synonyms in tags.class_names()]
    metadata = []
    for i in range(n):
        words = [names[j] for j in rng.integers(0, len(names), rng.integers(1, 4))]
        if rng.random() < 0.12:
            words = ["dog", names[rng.integers(151, 269)], *words[:1]]
        metadata.append({"tags": words, "albums": ["my_dog"] if rng.random() < 0.01 else [],
                         "taken_at": datetime(2019 + i % 6, 1 + i % 12, 1 + i % 28, 12), "folder": f"{i // 500:03d}"})
    return [f"/photos/{i // 500:03d}/IMG_{i:05d}.HEIC" for i in range(n)], vectors, metadata


def p50_ms(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls, in ms (after one call to warm up)."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def insert(client, collection_name: str, n: int, wait: bool) -> float:
    """Insert the n rows, then flush: with the index wait (store.flush_inserts) or without; seconds to flush."""
    paths, vectors, metadata = make_rows(n)
    store.create_collection(client, collection_name, DIM, "efficientnet_lite0", recreate=True)
    store.insert_embeddings(client, collection_name, paths, "", vectors, "efficientnet_lite0", metadata=metadata,
                            progress=False, flush=False)
    started = time.perf_counter()
    store.flush_inserts(client, collection_name) if wait else client.flush(collection_name)
    return time.perf_counter() - started


def first_searches(client, collection_name: str, query: np.ndarray, n: int = 5) -> list[float]:
    """The first n searches, in ms, one after the other."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        store.search_similar(client, collection_name, query, top_k=10)
        times.append((time.perf_counter() - started) * 1000)
    return times


def filter_figures(client, collection_name: str, query: np.ndarray, repeats: int, old: bool) -> dict[str, float]:
    """p50 ms of each kind of search, with the filters as written (old) or rewritten for Milvus Lite (new)."""
    dog, year = filters.tag_filter("dog"), "year == 2024"
    picker = filters.combine_filters(dog, f"not {filters.album_filter('my_dog')}")
    real_fast_filter, real_newest_matches = store._fast_filter, store._newest_matches
    if old:  # as the helpers did: the filter as written, and every matching row fetched
        store._fast_filter = lambda client, collection_name, filter: filter  # noqa: ARG005
        store._newest_matches = lambda client, collection_name, filter, limit: (client.query(  # noqa: ARG005
            collection_name, filter=filter, output_fields=["path", "label", "taken_at"], limit=store.QUERY_LIMIT), True)
    try:
        calls = {
            "by example, no filter": lambda: store.search_similar(client, collection_name, query),
            "by example, filter year == 2024": lambda: store.search_similar(client, collection_name, query,
                                                                            filter=year),
            'by example, filter folder like "01%" (VARCHAR)': lambda: store.search_similar(
                client, collection_name, query, filter='folder like "01%"'),  # a server matches prefixes only
            "tag alone: query_photos(tag dog), newest 100": lambda: store.query_photos(client, collection_name, dog),
            "by example, filter tag dog": lambda: store.search_similar(client, collection_name, query, filter=dog),
            "by example, tag dog and not in album (the picker)": lambda: store.search_similar(
                client, collection_name, query, filter=picker),
            "by example, tag dog and year == 2024": lambda: store.search_similar(
                client, collection_name, query, filter=filters.combine_filters(dog, year)),
        }
        return {name: p50_ms(call, min(5, repeats) if old and "tag" in name else repeats)
                for name, call in calls.items()}
    finally:
        store._fast_filter, store._newest_matches = real_fast_filter, real_newest_matches


def check_same_rows(client, collection_name: str) -> None:
    """The rewritten filters keep exactly the rows the ARRAY filters keep."""
    for expression in (filters.tag_filter("dog"), filters.tag_filter("beagle", "pug"), filters.album_filter("my_dog")):
        fast = filters.text_filter(expression)
        rows = [{row["id"] for row in client.query(collection_name, filter=f, output_fields=["id"],
                                                   limit=store.QUERY_LIMIT)} for f in (expression, fast)]
        assert rows[0] == rows[1], expression
        print(f"  same {len(rows[0]):,} rows: {expression}  ->  {fast}")


def run_lite(n: int, repeats: int, workdir: Path) -> None:
    """Milvus Lite: first search after insert (old flush, new flush), then every filter old against new."""
    client = database.connect(str(workdir / "tags.db"))
    query = make_rows(1, seed=9)[1][0]
    try:
        flush_old = insert(client, "old_flush", n, wait=False)
        first_old = first_searches(client, "old_flush", query)
        client.drop_collection("old_flush")
        flush_new = insert(client, "tags", n, wait=True)
        first_new = first_searches(client, "tags", query)
        print(f"\n{n:,} rows, Milvus Lite; load average {os.getloadavg()[0]:.1f}")
        print(f"first 5 searches after insert + flush, old (flush {flush_old:.1f} s): "
              + ", ".join(f"{t:.0f}" for t in first_old) + " ms")
        print(f"first 5 searches after insert + flush, new (flush and index wait {flush_new:.1f} s): "
              + ", ".join(f"{t:.0f}" for t in first_new) + " ms")
        check_same_rows(client, "tags")
        new = filter_figures(client, "tags", query, repeats, old=False)
        old = filter_figures(client, "tags", query, repeats, old=True)
        print(f"\n{'search, one query per call (p50)':<52} {'old (ms)':>10} {'new (ms)':>10}")
        for name in new:
            print(f"{name:<52} {old[name]:>10.0f} {new[name]:>10.0f}")
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        database.release_database(client)


def run_server(n: int, repeats: int, workdir: Path) -> None:
    """The same rows on the Milvus 2.3.5 server: the filters stay as written there (its ARRAY functions are fast)."""
    import milvus_server

    with milvus_server.running_server(workdir / "server") as uri:
        client = database.connect(uri)
        try:
            insert(client, "tags", n, wait=True)
            figures = filter_figures(client, "tags", make_rows(1, seed=9)[1][0], repeats, old=False)
            print(f"\n{n:,} rows, Milvus 2.3.5 server (filters as written)")
            for name, ms in figures.items():
                print(f"{name:<52} {ms:>10.0f} ms")
        finally:
            database.release_database(client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=30_000, help="photos in the collection")
    parser.add_argument("--repeats", type=int, default=20, help="calls per figure (old ARRAY filters: 5)")
    parser.add_argument("--server", action="store_true", help="also time the Milvus 2.3.5 server")
    args = parser.parse_args()
    warnings.simplefilter("ignore", store.LimitReachedWarning)  # "newest 100 of the 3,600 photos tagged dog"
    with tempfile.TemporaryDirectory(prefix="bench-tags-") as tmp:
        run_lite(args.rows, args.repeats, Path(tmp))
        if args.server:
            run_server(args.rows, args.repeats, Path(tmp))


if __name__ == "__main__":
    main()
