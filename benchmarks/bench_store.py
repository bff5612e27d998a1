"""Benchmark helpers.collection.store: batched versus one-row-per-call insert, search latency and recall at scale.

    python benchmarks/bench_store.py           # full: Milvus Lite at 1k, 10k and 100k vectors, the server at 1k
    python benchmarks/bench_store.py --quick   # a minute or two: Lite at 1k and 10k, the server at 1k

Vectors are synthetic unit vectors of dimension 2048 (ResNet-50's), drawn around random cluster centres, about
100 vectors per cluster (cosine to the centre about 0.7), so that nearest neighbours mean something, as with
image embeddings (the sample dataset has 10 photos per class); queries are new draws from the same clusters.
Recall@10 compares Milvus's top 10 with exact numpy cosine search.
Targets: batched insert at least 3x faster than one row per call; Lite at 100k: p50 <= 20 ms, recall@10 >= 0.95.
Prints a Markdown table for the README; --json saves every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from helpers.collection import database, store  # noqa: E402

DIM = 2048
PER_CLUSTER = 100
TOP_K = 10


def make_vectors(n: int, seed: int, centres: np.ndarray) -> np.ndarray:
    """`n` unit vectors, each a random cluster centre plus noise (cosine to the centre about 0.7)."""
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, len(centres), n)]
    vectors += rng.standard_normal(vectors.shape, dtype=np.float32) / np.sqrt(DIM)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_centres(n: int, seed: int = 0) -> np.ndarray:
    """Random unit cluster centres for `n` vectors (about PER_CLUSTER vectors per centre)."""
    centres = np.random.default_rng(seed).standard_normal((max(n // PER_CLUSTER, 1), DIM), dtype=np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def time_insert(client, vectors: np.ndarray, mode: str, batch_size: int = store.DEFAULT_BATCH_SIZE) -> dict:
    """Insert `vectors` into a fresh collection one row per call (the blog's loop) or batched; seconds."""
    store.create_collection(client, "bench_insert", DIM, "synthetic", recreate=True)
    paths = [f"/bench/img{i:06d}.jpg" for i in range(len(vectors))]
    started = time.perf_counter()
    if mode == "one_per_call":
        for vector, path in zip(vectors, paths, strict=True):
            client.insert("bench_insert", {"vector": vector, "path": path, "label": "x", "model_name": "synthetic"})
    else:
        store.insert_embeddings(client, "bench_insert", paths, "x", vectors, "synthetic", batch_size=batch_size,
                                progress=False, flush=False)
    inserted = time.perf_counter()
    store.flush_inserts(client, "bench_insert")  # Milvus Lite: flush, as insert_embeddings does by default
    done = time.perf_counter()
    assert store.count_images(client, "bench_insert") == len(vectors)
    return {"insert_s": inserted - started, "total_s": done - started}


def bench_insert(client, repeats: int) -> dict:
    """Median seconds for 1,000 rows one per call versus batched (several batch sizes)."""
    vectors = make_vectors(1000, 1, make_centres(1000))
    modes = {"one_per_call": None, **{f"batch_{b}": b for b in (100, 200, 500, 1000)}}
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    for _ in range(repeats):  # interleaved, so that a noisy moment hits every mode alike
        for mode, batch_size in modes.items():
            runs[mode].append(time_insert(client, vectors, "batched" if batch_size else mode, batch_size or 0))
    client.drop_collection("bench_insert")
    return {mode: {key: statistics.median(r[key] for r in results) for key in ("insert_s", "total_s")}
            for mode, results in runs.items()}


def bench_search(client, n: int, n_queries: int) -> dict:
    """Index `n` vectors, then time single-query searches and one call with all queries; recall@10."""
    centres = make_centres(n)
    vectors = make_vectors(n, 2, centres)
    paths = [f"/bench/img{i:06d}.jpg" for i in range(n)]
    started = time.perf_counter()
    store.insert_embeddings(client, "bench_search", paths, "x", vectors, "synthetic", progress=n >= 10_000)
    insert_s = time.perf_counter() - started
    wait_for_lite_index(client, "bench_search")
    index_s = time.perf_counter() - started
    queries = make_vectors(n_queries, 3, centres)
    for query in queries[:5]:  # warm up
        store.search_similar(client, "bench_search", query, top_k=TOP_K)
    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = store.search_similar(client, "bench_search", query, top_k=TOP_K)
        latencies.append((time.perf_counter() - started) * 1000)
        found.append({int(h.path[-10:-4]) for h in hits})
    started = time.perf_counter()
    store.search_similar(client, "bench_search", queries, top_k=TOP_K)
    batched_ms = (time.perf_counter() - started) * 1000 / n_queries
    exact = np.argpartition(-(queries @ vectors.T), TOP_K, axis=1)[:, :TOP_K]
    recall = float(np.mean([len(f & set(e.tolist())) / TOP_K for f, e in zip(found, exact, strict=True)]))
    client.drop_collection("bench_search")
    return {"n": n, "insert_s": insert_s, "index_s": index_s, "p50_ms": float(np.percentile(latencies, 50)),
            "p95_ms": float(np.percentile(latencies, 95)), "batched_ms_per_query": batched_ms,
            "recall_at_10": recall}


def wait_for_lite_index(client, collection_name: str) -> None:
    """Wait until Milvus Lite has built the HNSW indexes, which it does in a background thread after a flush.

    Searches meanwhile fall back to brute force and are much slower. There is no public call for this,
    so the benchmark uses Milvus Lite's private one; on a server it does nothing.
    """
    path = database._LITE_PATHS.get(client)
    if path is not None:
        from milvus_lite.server_manager import server_manager_instance

        _, lite_db, _ = server_manager_instance._servers[str(path)]
        lite_db.get_collection(collection_name)._wait_for_bg()


def run_lite(sizes: list[int], n_queries: int, repeats: int, workdir: Path) -> dict:
    """Insert and search benchmarks on a fresh Milvus Lite database."""
    client = database.connect(str(workdir / "bench.db"))
    try:
        results = {"insert": bench_insert(client, repeats)}
        results["search"] = [bench_search(client, n, n_queries) for n in sizes]
        return results
    finally:
        database.release_database(client)


def run_server(n_queries: int, workdir: Path) -> dict:
    """Search at 1k vectors on a real Milvus 2.3.5 standalone server (loopback only, see tests/milvus_server.py)."""
    import milvus_server

    problem = milvus_server.isolation_problem()
    if problem:
        return {"skipped": problem}
    with milvus_server.running_server(workdir / "server") as uri:
        client = database.connect(uri)
        try:
            search = bench_search(client, 1000, n_queries)
            return {"insert": bench_insert(client, 1), "search": [search]}
        finally:
            database.release_database(client)


def markdown(results: dict) -> str:
    """The README's "Performance: Milvus" tables."""
    lines = ["| Backend | Vectors (dim 2048) | Insert + flush (s) | Index ready (s) | Search p50 (ms) | p95 (ms) | "
             "All queries in one call (ms/query) | Recall@10 |", "|---|---|---|---|---|---|---|---|"]
    for backend, name in (("lite", "Milvus Lite 3.2.2"), ("server", "Milvus 2.3.5 server")):
        for row in results.get(backend, {}).get("search", []):
            lines.append(f"| {name} | {row['n']:,} | {row['insert_s']:.1f} | {row['index_s']:.1f} | "
                         f"{row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['batched_ms_per_query']:.2f} | "
                         f"{row['recall_at_10']:.3f} |")
    lines += ["", "| Insert 1,000 rows (dim 2048) | Backend | Insert calls (s) | + flush (s) | Speed-up (calls) |",
              "|---|---|---|---|---|"]
    for backend in ("lite", "server"):
        insert = results.get(backend, {}).get("insert", {})
        for mode, row in insert.items():
            speedup = insert["one_per_call"]["insert_s"] / row["insert_s"]
            lines.append(f"| {mode.replace('_', ' ')} | {backend} | {row['insert_s']:.2f} | {row['total_s']:.2f} | "
                         f"{speedup:.1f}x |")
    if "skipped" in results.get("server", {}):
        lines.append(f"\nServer run skipped: {results['server']['skipped']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Lite at 1k and 10k only, fewer queries and repeats")
    parser.add_argument("--sizes", type=int, nargs="+", help="collection sizes for Milvus Lite")
    parser.add_argument("--no-server", action="store_true", help="skip the Milvus server run")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    sizes = args.sizes or ([1000, 10_000] if args.quick else [1000, 10_000, 100_000])
    n_queries, repeats = (50, 1) if args.quick else (200, 3)
    results: dict = {"machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
                     "index": store.INDEX_PARAMS, "search_ef": store.SEARCH_EF}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        results["lite"] = run_lite(sizes, n_queries, repeats, Path(tmp))
        if not args.no_server:
            results["server"] = run_server(n_queries, Path(tmp))
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    lite_insert = results["lite"]["insert"]
    speedup = lite_insert["one_per_call"]["insert_s"] / lite_insert[f"batch_{store.DEFAULT_BATCH_SIZE}"]["insert_s"]
    print(f"\nBatched insert (batch_size={store.DEFAULT_BATCH_SIZE}) on Milvus Lite: {speedup:.1f}x faster than "
          "one row per call (target >= 3x)")


if __name__ == "__main__":
    main()
