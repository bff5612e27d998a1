"""How good and how fast is search by words with CLIP (MODEL_NAME=clip-vit-b-32)? Sample dataset, one run.

    python benchmarks/bench_clip.py                      # quality (needs the pretrained weights) and speed
    python benchmarks/bench_clip.py --speed-only         # speed only: random weights, no download

Quality needs CLIP's pretrained weights (about 600 MB from the Hugging Face hub, once):
- words to photos: one query per class, "a photo of a {class name}" (underscores as spaces), searched
  exactly (cosine) over the 1,000 training photos; a hit is right when it has the query's class (10 per
  class). precision@10, mAP@10 (Towhee's AP, as in notebook 04) and hit rate@10, over the 100 classes;
- photos to photos: the 100 test photos against the 1,000 training photos, as notebook 04 measures the
  other models.
Where the weights cannot be downloaded, the quality part says so and is skipped; the speed part still runs.

Speed: images/s of the batched pipeline (embeddings.embed_images, CLIP's image tower) per backend, and
text queries/s of embeddings.embed_text, best of --repeats runs. Random weights run at the speed of the
real ones (same architecture). Compare numbers only within one run: other programs change them.
Needs the sample dataset (DATASET_SOURCE or a download).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
import timing  # benchmarks/timing.py

from helpers.collection import metrics
from helpers.photos import data
from helpers.photos.hits import Hit
from helpers.vectors import embeddings, models

MODEL = "clip-vit-b-32"
PROMPT = "a photo of a {}"


def main() -> None:
    args = _parse_args()
    dataset = data.load_dataset()
    print(_describe_machine(), "\n")
    if not args.speed_only:
        _print_quality(dataset)
    _print_speed(dataset, args)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed-only", action="store_true", help="skip the quality part (no download)")
    parser.add_argument("--images", type=int, default=64, help="sample images to embed for the speed part")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="runs per backend; the best is kept")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"],
                        choices=["torch", "onnx", "onnx-int8"])
    return parser.parse_args()


def _describe_machine() -> str:
    import os
    import platform

    import onnxruntime
    import open_clip
    import torch

    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load}, GPU "
            f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}\n"
            f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, open_clip "
            f"{open_clip.__version__}, python {platform.python_version()}")


# ---- quality: needs the pretrained weights --------------------------------------------------------------------

def _print_quality(dataset: data.Dataset) -> None:
    """Words to photos and photos to photos, exact cosine search over the training photos."""
    try:
        models.load_model(MODEL)
    except models.ModelLoadError as err:
        print(f"QUALITY NOT MEASURED: the pretrained weights of {MODEL} could not be loaded here.\n"
              f"  {str(err).splitlines()[0]}\n  Run this script where the Hugging Face hub can be reached.\n")
        return
    train = embeddings.embed_images(dataset.train.image_paths, MODEL)
    train_labels = [path.parent.name for path in train.image_paths]
    queries = [PROMPT.format(label.replace("_", " ")) for label in dataset.classes]
    words = _exact_scores(embeddings.embed_text(queries, MODEL), dataset.classes, train.embeddings, train_labels)
    test = embeddings.embed_images(dataset.test.image_paths, MODEL)
    test_labels = [path.parent.name for path in test.image_paths]
    photos = _exact_scores(test.embeddings, test_labels, train.embeddings, train_labels)
    print(f"quality of {MODEL} (exact cosine search over {len(train_labels)} training photos)")
    for name, summary in ((f'words: "{PROMPT}", 100 classes', words), ("photos: 100 test photos", photos)):
        print(f"  {name:<40} precision@10 {summary['precision@10']:.3f}  mAP@10 {summary['mAP@10']:.3f}"
              f"  hit rate@10 {summary['hit_rate@10']:.3f}")
    print()


def _exact_scores(queries: np.ndarray, query_labels: list[str], collection: np.ndarray,
                  collection_labels: list[str]) -> dict[str, float]:
    """metrics.summarize of an exact top-10 search: each query ranks the whole collection."""
    ranked = np.argsort(-(queries @ collection.T), axis=1, kind="stable")[:, :10]
    hits = [[Hit("", collection_labels[j], 0.0) for j in row] for row in ranked]
    scores = metrics.score_queries([""] * len(query_labels), query_labels, hits, k=10,
                                   n_relevant=metrics.count_relevant(collection_labels))
    return metrics.summarize(scores)


# ---- speed: random weights are enough -------------------------------------------------------------------------

def _print_speed(dataset: data.Dataset, args: argparse.Namespace) -> None:
    """Images/s of the pipeline per backend and text queries/s, CLIP's architecture with random weights."""
    model_name = f"{MODEL}_random"
    models.MODELS[model_name] = dataclasses.replace(models.MODELS[MODEL], weights="random")
    image_paths = dataset.train.image_paths[::max(1, 1000 // args.images)][:args.images]
    queries = [PROMPT.format(label.replace("_", " ")) for label in dataset.classes]
    start = time.perf_counter()
    for backend in args.backends:  # load, export (and calibrate) and warm up outside the timings
        if backend == "onnx-int8":
            from helpers.vectors import onnx_export

            onnx_export.quantize_onnx(dataset.train.image_paths, model_name)
        embeddings.embed_images(image_paths[:4], model_name, backend=backend, progress=False, use_cache=False)
    embeddings.embed_text(queries[:2], model_name)
    print(f"speed of {MODEL}'s architecture with random weights, {len(image_paths)} sample images, "
          f"batch size {args.batch_size}, best of {args.repeats}")
    print(f"  warm-up (model build, ONNX export): {time.perf_counter() - start:.1f} s")
    for backend in args.backends:
        seconds = timing.best_time(lambda b=backend: embeddings.embed_images(
            image_paths, model_name, backend=b, batch_size=args.batch_size, progress=False,
            use_cache=False), args.repeats)
        print(f"  photos, pipeline {backend:<10} {len(image_paths) / seconds:8.1f} images/s")
    seconds = timing.best_time(lambda: embeddings.embed_text(queries, model_name), args.repeats)
    print(f"  words, embed_text (torch)   {len(queries) / seconds:8.1f} queries/s (100 prompts in one call)")
    seconds = timing.best_time(lambda: [embeddings.embed_text(q, model_name) for q in queries[:20]], args.repeats)
    print(f"  words, one query per call   {seconds / 20 * 1000:8.1f} ms per query")


if __name__ == "__main__":
    sys.exit(main())
