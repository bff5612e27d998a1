"""How fast does a phone library go through the pipeline on this machine? GPU and CPU, in about 3-5 minutes.

    python benchmarks/bench_gpu.py                                  # a CUDA machine: 12,000 photos end to end
    python benchmarks/bench_gpu.py --photos 400 --cli-photos 0      # no GPU: the CPU figures and their limit
    python benchmarks/bench_gpu.py --inserts-only --insert-rows 30000   # storing alone, here and from a 2nd process

It makes its own library: --distinct phone-sized JPEGs (4032x3024, smooth colour patches with noise so that
they compress like real photos, about 1.8 MB at quality 90; one in four stored on its side with EXIF
orientation 6; EXIF date and camera), repeated as hard links up to --photos files in dated folders. Each link is
its own photo for the pipeline and Milvus (the decoding work is real; only the disk space and the page cache are
shared), so the figures hold for that many distinct photos whose files are in the page cache.

Printed, in photos per second, all measured in this run:
- decode on the CPU: one process per core, each running `photos.load_image` (1/8-scale JPEG decode) and the
  model's transform: the CPU decode limit;
- on a GPU: nvJPEG (`vectors.gpu_decode.prepare_jpegs`: batch decode, orientation, resize, crop) on bytes in
  memory; the model alone on ready tensors (EfficientNet-Lite0, and ResNet-50 with random weights); the pipeline
  (`vectors.embed_in_batches`) with GPU decoding and with CPU workers only; end to end into Milvus Lite through
  `collection.index_library` (storing from a second process, the default on a GPU, then in this process) and
  through the command line (`python -m helpers.commands.index_folder`), whose output is checked for gRPC fork
  messages;
- Milvus Lite alone: rounds of ready rows stored in this process and from a second one (rows/s, the flush, the
  CPU time this process spends per 1,000 rows);
- without a GPU: the model alone (ONNX, one thread per core, as the pipeline runs it), the decode+model limit
  of the cores (1 / (1/decode + 1/model)), and `embed_images` and `index_library` against that limit.
Figures go to the screen and to --out. Compare figures only within one run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

PHONE_SIZE = (4032, 3024)
CAMERAS = ("iPhone 13", "Pixel 7", "Galaxy S23", "iPhone 15 Pro")
STARTED = time.monotonic()


def main() -> None:
    args = _parse_args()
    work = Path(args.workdir)
    os.environ.setdefault("TUTORIAL_DATA_DIR", str(work / "data"))
    os.environ.setdefault("OUTPUT_DIR", str(work / "outputs"))
    os.environ.setdefault("MODEL_NAME", args.model)
    out = Report(Path(args.out) if args.out else work / "bench_gpu.txt")
    import torch

    cuda = torch.cuda.is_available()
    out.line(_machine(cuda))
    figures: dict = {"cuda": cuda}
    if args.inserts_only:
        _section(out, "Milvus Lite inserts alone", lambda: _inserts_alone(args, out, figures))
        out.json(figures)
        return
    originals = _section(out, "library", lambda: _distinct_photos(work / "originals", args.distinct, out))
    if not originals:
        return
    library = _library(work / f"library-{args.photos}", originals, args.photos)
    figures["cpu_decode"] = _section(out, "CPU decode limit", lambda: _cpu_decode(originals, args, out))
    if cuda:
        _section(out, "nvJPEG", lambda: _nvjpeg(originals, args, out, figures))
        _section(out, "model alone", lambda: _gpu_models(out, figures))
        _section(out, "vectors: GPU decoding against CPU decoding", lambda: _vector_check(work, originals, args, out,
                                                                                            figures))
        _section(out, "pipeline", lambda: _pipelines(library, args, out, figures))
    else:
        _section(out, "model alone (CPU)", lambda: _cpu_model(args, out, figures))
        _section(out, "embed_images (CPU)", lambda: _cpu_pipeline(library, args, out, figures))
    _section(out, "index_library", lambda: _index_library(library, args, out, figures))
    _section(out, "Milvus Lite inserts alone", lambda: _inserts_alone(args, out, figures))
    if args.cli_photos and _time_left(args) > 60:
        cli_library = _library(work / f"cli-{args.cli_photos}", originals, args.cli_photos, offset=args.photos)
        _section(out, "command line", lambda: _command_line(cli_library, args, out, figures))
    out.line(f"\ntotal time of this benchmark: {time.monotonic() - STARTED:.0f} s")
    out.json(figures)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=12000, help="photos indexed end to end")
    parser.add_argument("--cli-photos", type=int, default=3000, help="photos indexed by the command line (0: skip)")
    parser.add_argument("--pipeline-photos", type=int, default=3000, help="photos through the pipeline alone")
    parser.add_argument("--distinct", type=int, default=192, help="distinct phone-sized JPEGs made (then linked)")
    parser.add_argument("--model", default="efficientnet_lite0", help="the model indexed with (MODEL_NAME)")
    parser.add_argument("--budget", type=float, default=280, help="seconds: later sections are skipped past it")
    parser.add_argument("--workdir", default="/tmp/bench-gpu", help="library, database, figures")
    parser.add_argument("--out", help="the figures file (default: WORKDIR/bench_gpu.txt)")
    parser.add_argument("--insert-rows", type=int, help="rows stored by 'inserts alone' (default: --photos)")
    parser.add_argument("--inserts-only", action="store_true", help="only 'inserts alone' (no library, no model)")
    return parser.parse_args()


class Report:
    """Lines to the screen and, as they come, to a file (what a run cut short had measured stays)."""

    def __init__(self, path: Path):
        self.path, self.figures = path, {}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def line(self, text: str) -> None:
        """Print a line and append it to the file."""
        print(text, flush=True)
        with open(self.path, "a") as f:
            f.write(text + "\n")

    def rate(self, name: str, photos: int, seconds: float, note: str = "") -> float:
        """One 'photos/s' line; returns the rate."""
        rate = photos / seconds if seconds > 0 else float("nan")
        self.line(f"  {name:<62} {rate:>9.1f} photos/s  ({photos} in {seconds:.2f} s){'  ' + note if note else ''}")
        return rate

    def json(self, figures: dict) -> None:
        """All figures as JSON beside the text."""
        self.path.with_suffix(".json").write_text(json.dumps(figures, indent=1, default=str))


def _section(out: Report, name: str, work: Callable[[], object]) -> object:
    """Run one part; a failure is reported and the next part runs."""
    out.line(f"\n== {name} (at {time.monotonic() - STARTED:.0f} s)")
    try:
        return work()
    except Exception:  # noqa: BLE001 - a benchmark reports what broke and goes on with the rest
        out.line("FAILED:\n" + traceback.format_exc())
        return None


def _time_left(args: argparse.Namespace) -> float:
    return args.budget - (time.monotonic() - STARTED)


def _machine(cuda: bool) -> str:
    import torch
    import torchvision

    gpu = torch.cuda.get_device_name(0) if cuda else "none"
    try:
        shm = shutil.disk_usage("/dev/shm").total / 2**30
    except OSError:
        shm = float("nan")
    try:
        import torchcodec

        codec = torchcodec.__version__
    except Exception:  # noqa: BLE001 - absent, or its libraries do not load
        codec = "not installed"
    return (f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), GPU {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
            f"torchcodec {codec}; /dev/shm {shm:.0f} GiB")


# --- the library ------------------------------------------------------------------------------------------------

def _phone_photo(seed: int) -> Image.Image:
    """A 12-MP picture that compresses like a photo: smooth colour patches and uniform noise (about 1.8 MB)."""
    rng = np.random.default_rng(seed)
    patches = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)
    base = Image.fromarray(patches).resize(PHONE_SIZE, Image.Resampling.BICUBIC)
    noise = rng.integers(-5, 6, (PHONE_SIZE[1], PHONE_SIZE[0], 3), dtype=np.int16)
    return Image.fromarray(np.clip(np.asarray(base, np.int16) + noise, 0, 255).astype(np.uint8))


def _save_phone_photo(job: tuple[int, str]) -> str:
    """Photo i as a phone saves it: EXIF date and camera; one in four on its side with orientation 6."""
    i, path = job
    image = _phone_photo(i)
    exif = Image.Exif()
    exif[0x0110] = CAMERAS[i % len(CAMERAS)]
    exif.get_ifd(0x8769)[0x9003] = f"{2019 + i % 6}:{1 + i % 12:02d}:{1 + i % 28:02d} 10:{i % 60:02d}:00"
    if i % 4 == 1:
        exif[0x0112] = 6
        image = image.transpose(Image.Transpose.ROTATE_90)
    image.save(path + ".tmp", format="JPEG", quality=90, exif=exif)
    os.replace(path + ".tmp", path)
    return path


def _distinct_photos(folder: Path, n: int, out: Report) -> list[Path]:
    """n distinct phone JPEGs, made once, one process per core."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo_{i:04d}.jpg" for i in range(n)]
    todo = [(i, str(p)) for i, p in enumerate(paths) if not p.exists()]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        pool.map(_save_phone_photo, todo)
    sizes = [p.stat().st_size / 1e6 for p in paths]
    out.line(f"  {n} distinct 4032x3024 JPEGs ({len(todo)} made in {time.perf_counter() - started:.0f} s), "
             f"{np.mean(sizes):.2f} MB each on average ({min(sizes):.2f}-{max(sizes):.2f}); one in four stored "
             "on its side (EXIF orientation 6); the libraries below repeat them as hard links")
    return paths


def _library(root: Path, originals: list[Path], n: int, offset: int = 0) -> Path:
    """n hard links to the distinct photos, 100 per dated folder (made once per size)."""
    done = root.with_suffix(".complete")
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        for i in range(n):
            folder = root / f"{2019 + i * 6 // max(n, 1)}" / f"{1 + i // 100 % 12:02d} album {i // 100}"
            folder.mkdir(parents=True, exist_ok=True)
            os.link(originals[(i + offset) % len(originals)], folder / f"IMG_{i:05d}.jpg")
        done.write_text("done\n")
    return root


# --- decoding ---------------------------------------------------------------------------------------------------

def _decode_worker_setup(model_name: str) -> None:
    global _TRANSFORM, _SIDE
    import torch

    from helpers.vectors import models

    torch.set_num_threads(1)  # one process per core, as the pipeline's threads run single-threaded

    _TRANSFORM, _SIDE = models.load_transform(model_name), models.decode_side(model_name)


def _decode_one(path: str) -> int:
    from helpers.photos import data

    return int(_TRANSFORM(data.load_image(path, min_side=_SIDE)).shape[0])


def _cpu_decode(originals: list[Path], args: argparse.Namespace, out: Report) -> float:
    """Photos per second decoded and preprocessed on the CPU by one process per core (what CPU workers can do)."""
    cores = len(os.sched_getaffinity(0))
    paths = [str(originals[i % len(originals)]) for i in range(max(cores * 48, 96))]
    with multiprocessing.get_context("spawn").Pool(cores, _decode_worker_setup, (args.model,)) as pool:
        pool.map(_decode_one, paths[:cores * 2])  # every process started and warm
        started = time.perf_counter()
        pool.map(_decode_one, paths, chunksize=2)
        seconds = time.perf_counter() - started
    return out.rate(f"CPU decode limit: {cores} processes (load_image 1/8 + transform)", len(paths), seconds)


def _nvjpeg(originals: list[Path], args: argparse.Namespace, out: Report, figures: dict) -> None:
    """nvJPEG on bytes in memory: decode alone, and decode with the preparation, at several batch sizes."""
    import torch

    from helpers.vectors import gpu_decode, models

    side = models.decode_side(args.model)
    jpegs = [gpu_decode.read_jpeg(p, side) for p in originals]
    preprocess = gpu_decode.TensorPreprocess.from_transform(models.load_transform(args.model))
    decode, device = gpu_decode.jpeg_decoder(), torch.device("cuda")
    n = 768
    for batch_size in (32, 64, 128):
        batches = [[jpegs[(start + k) % len(jpegs)] for k in range(batch_size)] for start in range(0, n, batch_size)]
        gpu_decode.prepare_jpegs(batches[0], preprocess, device)  # warm-up: nvJPEG handles, kernels
        torch.cuda.synchronize()
        started = time.perf_counter()
        for batch in batches:
            decode([j.data for j in batch], device)
        torch.cuda.synchronize()
        figures[f"nvjpeg_decode_b{batch_size}"] = out.rate(f"nvJPEG decode alone, batches of {batch_size}", n,
                                                           time.perf_counter() - started)
        started = time.perf_counter()
        for batch in batches:
            gpu_decode.prepare_jpegs(batch, preprocess, device)
        torch.cuda.synchronize()
        figures[f"nvjpeg_prepare_b{batch_size}"] = out.rate(
            f"nvJPEG decode + 1/8 + orientation + resize + crop, batches of {batch_size}", n,
            time.perf_counter() - started)


def _gpu_models(out: Report, figures: dict) -> None:
    """The model alone on ready tensors, mixed precision, as the pipeline runs it."""
    import torch

    from helpers.vectors import embeddings, models

    models.MODELS["resnet50"] = models.ModelSpec("resnet50", "random")  # speed only: no weights needed
    for model_name, sizes in (("efficientnet_lite0", (32, 128)), ("resnet50", (32, 256))):
        run_model = embeddings.load_backend(model_name, "torch")
        for batch_size in sizes:
            batch = torch.randn(batch_size, 3, 224, 224).cuda()
            run_model(batch)
            n = batch_size * max(8, 2048 // batch_size)
            started = time.perf_counter()
            for _ in range(n // batch_size):
                run_model(batch)
            figures[f"model_{model_name}_b{batch_size}"] = out.rate(
                f"{model_name} alone (random input on the GPU), batch {batch_size}", n, time.perf_counter() - started)


PIPELINE_VARIANTS = {  # name: (GPU_JPEG_DECODE, GPU_DECODE_THREADS, CPU_JPEG_SHARE, GPU_BATCH_SIZE)
    "nvJPEG, 1 decode thread, no CPU share, batch 32": (True, 1, 0.0, 32),
    "nvJPEG, 2 decode threads, CPU share from the cores, batch 32": (True, 2, None, 32),
    "nvJPEG, 2 decode threads, no CPU share, batch 128": (True, 2, 0.0, 128),
    "nvJPEG, 2 decode threads, CPU share from the cores, batch 128 (default)": (True, 2, None, 128),
    "CPU workers decode every photo, batch 128": (False, 2, 0.0, 128),
}
DEFAULT_VARIANT = (True, 2, None, 128)


def _set_variant(variant: tuple) -> None:
    from helpers.vectors import embeddings

    (embeddings.GPU_JPEG_DECODE, embeddings.GPU_DECODE_THREADS, embeddings.CPU_JPEG_SHARE,
     embeddings.GPU_BATCH_SIZE) = variant


def _pipelines(library: Path, args: argparse.Namespace, out: Report, figures: dict) -> None:
    """embed_in_batches over the library's first photos, for each variant; where the main thread's time goes."""
    from helpers.photos import data
    from helpers.vectors import embeddings

    paths = data.list_images(library)[:args.pipeline_photos]
    workers = embeddings._num_workers(len(paths))
    out.line(f"  {workers} decoding workers; CPU share from the cores: {embeddings._cpu_share(workers)}")
    best = None
    for name, variant in PIPELINE_VARIANTS.items():
        _set_variant(variant)
        with _MainThreadSplit() as split:
            started = time.perf_counter()
            done = sum(len(b.positions) for b in embeddings.embed_in_batches(paths, args.model, use_cache=False))
            seconds = time.perf_counter() - started
        rate = out.rate(f"embed_in_batches: {name}", done, seconds, split.summary(seconds))
        figures[f"pipeline: {name}"] = rate
        if variant[0] and (best is None or rate > best[1]):
            best = (name, rate)
    figures["best_variant"] = best[0]
    _set_variant(DEFAULT_VARIANT)
    out.line(f"  fastest: {best[0]}; end to end below with the default")


class _MainThreadSplit:
    """Where the pipeline's main thread waits: for the workers, for the GPU decoding, for the model."""

    def __enter__(self) -> _MainThreadSplit:
        from helpers.vectors import embeddings

        self.module, self.times = embeddings, {"first batch": 0.0, "waiting for workers": 0.0, "model": 0.0}
        self.real = {name: getattr(embeddings, name) for name in ("_batches_of", "_run_gathered")}
        real_batches, real_run, times = self.real["_batches_of"], self.real["_run_gathered"], self.times

        def batches_of(chunks, batch_size):
            groups, first = real_batches(chunks, batch_size), True
            while True:
                started = time.perf_counter()
                try:
                    group = next(groups)
                except StopIteration:
                    return
                times["first batch" if first else "waiting for workers"] += time.perf_counter() - started
                first = False
                yield group

        def run_gathered(gathered, run_model, device):
            started = time.perf_counter()
            try:
                return real_run(gathered, run_model, device)
            finally:
                times["model"] += time.perf_counter() - started

        embeddings._batches_of, embeddings._run_gathered = batches_of, run_gathered
        return self

    def __exit__(self, *_: object) -> None:
        for name, real in self.real.items():
            setattr(self.module, name, real)

    def summary(self, seconds: float) -> str:
        rest = seconds - sum(self.times.values())
        spent = "; ".join(f"{name} {seconds:.1f} s" for name, seconds in self.times.items())
        return f"{spent}; rest (GPU decoding, Python) {rest:.1f} s"


def _save_turned(job: tuple[str, int]) -> str:
    """Photo 0 stored as a phone does for EXIF orientation o: turned so that the tag displays it upright."""
    path, orientation = job
    turn = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270}.get(orientation)
    image = _phone_photo(0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    (image.transpose(turn) if turn else image).save(path, quality=90, exif=exif)
    return path


def _vector_check(work: Path, originals: list[Path], args: argparse.Namespace, out: Report, figures: dict) -> None:
    """Cosine of each photo's vector decoded by nvJPEG against decoded on the CPU (same model, same GPU)."""
    from helpers.vectors import embeddings

    turned = [str(work / f"turned_{o}.jpg") for o in range(1, 9)]
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        pool.map(_save_turned, list(zip(turned, range(1, 9), strict=True)))
    paths = [*map(Path, turned), *originals[:56]]
    vectors = {}
    for gpu_decoding in (True, False):
        _set_variant((gpu_decoding, 2, 0.0, 128))  # every JPEG on the GPU, or every one on the CPU
        result = embeddings.embed_images(paths, args.model, progress=False, use_cache=False)
        assert len(result) == len(paths), result.skipped[:3]
        vectors[gpu_decoding] = result.embeddings
    _set_variant(DEFAULT_VARIANT)
    cosines = np.sum(vectors[True] * vectors[False], axis=1)
    turned_gpu = vectors[True][:8]
    figures["cosine_gpu_cpu_decode"] = {"min": float(cosines.min()), "mean": float(cosines.mean()),
                                        "orientations_min": float((turned_gpu @ turned_gpu.T).min())}
    out.line(f"  {len(paths)} photos, nvJPEG against CPU decoding: cosine min {cosines.min():.5f}, mean "
             f"{cosines.mean():.5f}; one photo stored in the 8 EXIF orientations, nvJPEG vectors: min cosine "
             f"between them {(turned_gpu @ turned_gpu.T).min():.5f}")


# --- without a GPU ----------------------------------------------------------------------------------------------

def _cpu_model(args: argparse.Namespace, out: Report, figures: dict) -> None:
    """The model alone on ready tensors, one thread per core with ONNX Runtime (the CPU default, as the pipeline)."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from helpers.vectors import embeddings, models, onnx_export

    cores, batch_size = embeddings._cpu_cores(), 32
    backend = models.resolve_backend(None)
    run_model = onnx_export.onnx_runner(args.model, backend == "onnx-int8", threads=1) \
        if backend.startswith("onnx") else embeddings.load_backend(args.model, backend)
    batch = torch.randn(batch_size, *models.input_size(args.model))
    run_model(batch)
    n_batches = cores * 4
    started = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda _: run_model(batch), range(n_batches)))
    figures["model_cpu"] = out.rate(f"{args.model} alone ({backend}, {cores} threads, batch {batch_size})",
                                    n_batches * batch_size, time.perf_counter() - started)
    if figures.get("cpu_decode"):
        limit = 1 / (1 / figures["cpu_decode"] + 1 / figures["model_cpu"])
        figures["cpu_limit"] = limit
        out.line(f"  {'decode + model limit of the cores: 1 / (1/decode + 1/model)':<62} {limit:>9.1f} photos/s")


def _cpu_pipeline(library: Path, args: argparse.Namespace, out: Report, figures: dict) -> None:
    from helpers.photos import data
    from helpers.vectors import embeddings

    paths = data.list_images(library)[:args.pipeline_photos]
    embeddings.embed_images(paths[:4], args.model, progress=False, use_cache=False)  # model loaded
    started = time.perf_counter()
    result = embeddings.embed_images(paths, args.model, progress=False, use_cache=False)
    rate = out.rate("embed_images (the CPU pipeline: decode and model on every core)", len(result),
                    time.perf_counter() - started)
    figures["embed_images_cpu"] = rate
    if figures.get("cpu_limit"):
        out.line(f"  embed_images at {100 * rate / figures['cpu_limit']:.0f}% of the limit")


# --- end to end -------------------------------------------------------------------------------------------------

def _index_library(library: Path, args: argparse.Namespace, out: Report, figures: dict) -> None:
    """Scan and index the library into a fresh Milvus Lite collection, with metadata and tags.

    On a GPU twice: storing from a second process (the default there) and storing in this process.
    """
    from helpers.collection import indexing
    from helpers.photos import folder
    from helpers.vectors import embeddings, tags

    scan = folder.scan_folder(library)
    embeddings.embed_images(scan.image_paths[:2], args.model, progress=False, use_cache=False)  # model loaded
    tags.classifier_weights(args.model)
    label = f"index_library into Milvus Lite ({args.model}, tags, metadata)"
    if not figures.get("cuda"):
        _index_once(scan, label, args, out, figures)
        return
    for elsewhere in (True, False):
        indexing.INSERT_PROCESS = elsewhere
        where = "from a second process" if elsewhere else "in this process"
        _index_once(scan, f"{label}, stored {where}", args, out, figures)
    indexing.INSERT_PROCESS = None


def _index_once(scan, label: str, args: argparse.Namespace, out: Report, figures: dict) -> None:
    from helpers.collection import database, indexing

    client = database.connect()
    storing = {"seconds": 0.0}
    real_round = indexing._IndexRun._insert_round

    def timed_round(*a, **k):
        started = time.perf_counter()
        try:
            return real_round(*a, **k)
        finally:
            storing["seconds"] += time.perf_counter() - started

    indexing._IndexRun._insert_round = timed_round
    gpu_load = _GpuLoad()
    try:
        with gpu_load, _MainThreadSplit() as split:
            result = indexing.index_library(client, "bench", scan, args.model, recreate=True, progress=False)
    finally:
        indexing._IndexRun._insert_round = real_round
        database.release_database(client)
    rate = out.rate(label, result.added, result.seconds,
                    f"storing {storing['seconds']:.1f} s in the background; GPU busy {gpu_load.summary()}")
    figures[label] = rate
    out.line(f"    main thread: {split.summary(result.seconds)}; -> 30,000 such photos in about {30000 / rate:.0f} s")
    for key in ("cpu_limit", "cpu_decode"):
        if figures.get(key):
            out.line(f"    at {100 * rate / figures[key]:.0f}% of the {key.replace('_', ' ')} "
                     f"({figures[key]:.1f} photos/s)")
            break


def _inserts_alone(args: argparse.Namespace, out: Report, figures: dict) -> None:
    """Rows of ready vectors and metadata stored as index_library stores them (rounds of 400), in this process and
    from a second one: rows/s, and the CPU time this process spends per 1,000 rows (what the pipeline loses)."""
    from datetime import datetime

    from helpers.collection import database, indexing, insert_process, store

    round_size, dim = 400, 1280
    n = max(1, (args.insert_rows or args.photos) // round_size) * round_size
    vectors = np.random.default_rng(0).standard_normal((round_size, dim)).astype(np.float32)
    metadata = [{"taken_at": datetime(2024, 5, 1, 10), "camera": "iPhone 13", "width": 4032, "height": 3024,
                 "folder": "2024/05 album", "tags": ["dog", "beach", "golden retriever"]}] * round_size
    client = database.connect()
    try:
        for where in ("in this process", "from a second process"):
            store.create_collection(client, "inserts", dim, args.model, recreate=True)
            if where == "in this process":
                storage = indexing._StoreHere(client, "inserts")
                closing = None
            else:
                storage = closing = insert_process.InsertProcess(client, "inserts")
                storage.insert([], [], np.empty((0, dim), np.float32), args.model, [])  # started and open
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, n, round_size):
                paths = [f"/photos/{start + i:06d}.jpg" for i in range(round_size)]
                storage.insert(paths, [""] * round_size, vectors, args.model, metadata)
            inserted, cpu = time.perf_counter() - started, time.process_time() - cpu
            storage.flush()
            flushed = time.perf_counter() - started - inserted
            handed_back = ""
            if closing is not None:
                closing.close()
                handed_back = f", the database back here {time.perf_counter() - started - inserted - flushed:.1f} s"
            figures[f"inserts_alone {where}"] = out.rate(
                f"Milvus Lite: rounds of 400 rows stored {where}", n, inserted,
                f"then the flush {flushed:.1f} s{handed_back}; CPU time of this process "
                f"{1000 * cpu / n:.3f} s per 1,000 rows")
            figures[f"insert_cpu_per_1000 {where}"] = 1000 * cpu / n
    finally:
        database.release_database(client)


class _GpuLoad:
    """nvidia-smi's GPU utilisation, sampled every 200 ms while inside (nothing where there is no nvidia-smi)."""

    def __enter__(self) -> _GpuLoad:
        try:
            self.process = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu",
                                             "--format=csv,noheader,nounits", "-lms", "200"],
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            self.process = None
        return self

    def __exit__(self, *_: object) -> None:
        self.samples = []
        if self.process is not None:
            self.process.terminate()
            output = self.process.communicate(timeout=10)[0]
            self.samples = [int(v) for v in re.findall(r"^\s*(\d+)\s*$", output, re.MULTILINE)]

    def summary(self) -> str:
        if not getattr(self, "samples", None):
            return "n/a"
        return f"{np.mean(self.samples):.0f}% on average (median {np.median(self.samples):.0f}%)"


def _command_line(library: Path, args: argparse.Namespace, out: Report, figures: dict) -> None:
    """python -m helpers.commands.index_folder on a second library: wall time, and its output checked for noise."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "helpers.commands.index_folder", str(library), "--collection", "cli",
                          "--recreate"], capture_output=True, text=True, env=env, timeout=max(60, _time_left(args)),
                         cwd=Path(__file__).resolve().parents[1])
    seconds = time.perf_counter() - started
    added = re.search(r"Indexed ([\d,]+) new photos in (\d+) s", run.stdout)
    photos = int(added.group(1).replace(",", "")) if added else 0
    figures["cli"] = out.rate("the command line, start to end (Python, model and Milvus start included)", photos,
                              seconds, f"exit status {run.returncode}")
    if added and int(added.group(2)):
        figures["cli_indexing"] = out.rate("the command line's indexing, as it reports it", photos,
                                           int(added.group(2)))
    noise = [line for line in (run.stdout + run.stderr).splitlines()
             if "fork" in line.lower() or "grpc" in line.lower()]
    figures["cli_fork_lines"] = len(noise)
    out.line(f"  gRPC / fork messages in its output: {len(noise)}" + (f", e.g. {noise[0][:150]!r}" if noise else ""))
    if run.returncode != 0:
        out.line("  its last output:\n" + (run.stdout + run.stderr)[-2000:])


if __name__ == "__main__":
    main()
