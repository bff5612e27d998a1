"""How fast are the ways to turn images into vectors? One run, the same images, the same model.

    python benchmarks/bench_embeddings.py                                  # ResNet-50 (random weights if offline)
    python benchmarks/bench_embeddings.py --model efficientnet_lite0 --images 256
    python benchmarks/bench_embeddings.py --model efficientnet_lite0 --int8-quality   # retrieval quality of int8

Rows: the blog's per-image loop (FeatureExtractor), the batched pipeline (embeddings.embed_images) for each
backend, and each backend's forward pass alone on pre-decoded tensors (the limit of the pipeline).
Speeds are images/s, best of --repeats runs. Compare numbers only within one run: other programs on the machine
change them. Needs the sample dataset (DATASET_SOURCE or a download).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import timing  # benchmarks/timing.py
import torch

from helpers.photos import data
from helpers.vectors import embeddings, models, onnx_export


def main() -> None:
    args = _parse_args()
    model_name = _register_model(args.model, args.random_weights)
    image_paths = _pick_images(args.images)
    print(_describe_machine())
    print(f"model {model_name}, {len(image_paths)} images, batch size {args.batch_size}, best of {args.repeats}\n")
    if args.int8_quality:
        if args.random_weights:
            raise SystemExit("--int8-quality needs trained weights: leave out --random-weights.")
        _print_int8_quality(model_name)
        return
    start = time.perf_counter()
    if "onnx-int8" in args.backends:  # calibrated on the sample photos, as notebook 02 does
        onnx_export.quantize_onnx(data.load_dataset().train.image_paths, model_name)
    for backend in args.backends:  # load, export and warm up outside the timings
        embeddings.embed_images(image_paths[:4], model_name, backend=backend, progress=False, use_cache=False)
    print(f"warm-up (model load, ONNX export and int8 calibration): {time.perf_counter() - start:.1f} s\n")
    seconds = {"blog's per-image loop": timing.best_time(lambda: _blog_loop(image_paths, model_name), args.repeats)}
    batches = _predecoded_batches(image_paths, model_name, args.batch_size)
    for backend in args.backends:
        seconds[f"pipeline, {backend}"] = timing.best_time(lambda b=backend: embeddings.embed_images(
            image_paths, model_name, backend=b, batch_size=args.batch_size, progress=False, use_cache=False),
            args.repeats)
        run_model = embeddings.load_backend(model_name, backend)
        seconds[f"forward only, {backend}"] = timing.best_time(lambda f=run_model: [f(b) for b in batches],
                                                               args.repeats)
    _print_table(seconds, len(image_paths))


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50", choices=sorted(models.MODELS))
    parser.add_argument("--random-weights", action="store_true",
                        help="use the architecture with random weights (no download; the speed is the same)")
    parser.add_argument("--images", type=int, default=96, help="how many sample images to embed")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="runs per method; the best is kept")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"],
                        choices=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--int8-quality", action="store_true",
                        help="measure mAP@10 of the onnx-int8 backend against onnx (needs real weights)")
    return parser.parse_args()


def _register_model(model_name: str, random_weights: bool) -> str:
    """The model to time; with random weights, a separate entry (its own ONNX file, no download)."""
    if not random_weights:
        return model_name
    random_name = f"{model_name}_random"
    models.MODELS[random_name] = dataclasses.replace(models.MODELS[model_name], weights="random")
    return random_name


def _pick_images(n: int) -> list[Path]:
    """n training images (at most 1,000) spread over the classes."""
    image_paths = data.load_dataset().train.image_paths
    return image_paths[::max(1, len(image_paths) // n)][:n]


def _describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    import onnxruntime

    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"machine: {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, GPU {gpu}, "
            f"load average {load}\ntorch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"python {platform.python_version()}")


def _blog_loop(image_paths: list[Path], model_name: str) -> None:
    extractor = models.FeatureExtractor(model_name)
    for path in image_paths:
        extractor(path)


def _predecoded_batches(image_paths: list[Path], model_name: str, batch_size: int) -> list[torch.Tensor]:
    transform = models.load_transform(model_name)
    tensors = [transform(data.load_image(p)) for p in image_paths]
    return [torch.stack(tensors[i:i + batch_size]) for i in range(0, len(tensors), batch_size)]


def _print_table(seconds: dict[str, float], n_images: int) -> None:
    rates = {name: n_images / s for name, s in seconds.items()}
    blog = rates["blog's per-image loop"]
    print(f"{'method':<28}{'images/s':>10}{'x blog loop':>13}{'% of forward':>14}")
    for name, rate in rates.items():
        forward = rates.get(name.replace("pipeline", "forward only")) if name.startswith("pipeline") else None
        share = f"{100 * rate / forward:.0f}%" if forward else ""
        print(f"{name:<28}{rate:>10.1f}{rate / blog:>12.2f}x{share:>14}")
    best = max((r for n, r in rates.items() if n.startswith("pipeline")), default=blog)
    print(f"\nbest pipeline: {best / blog:.2f}x the blog's per-image loop")


def _print_int8_quality(model_name: str) -> None:
    """mAP@10 on the test split (exact cosine search over train) with the float and the int8 ONNX models."""
    dataset = data.load_dataset()
    onnx_export.quantize_onnx(dataset.train.image_paths, model_name)  # calibrated on the collection
    scores = {}
    for backend in ("onnx", "onnx-int8"):
        train = embeddings.embed_images(dataset.train.image_paths, model_name, backend=backend, use_cache=False)
        test = embeddings.embed_images(dataset.test.image_paths, model_name, backend=backend, use_cache=False)
        scores[backend] = timing.map_at_10(train.embeddings, dataset.train.labels, test.embeddings, dataset.test.labels)
        print(f"{backend:10} mAP@10 = {scores[backend]:.4f}")
    drop = scores["onnx"] - scores["onnx-int8"]
    print(f"drop: {drop:.4f} ({'within' if drop <= 0.01 else 'MORE than'} the 0.01 allowed)")


if __name__ == "__main__":
    main()
