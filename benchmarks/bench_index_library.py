"""Index a realistic photo library end to end, and search it: the figures of issue 10 (notebook 06, the README).

    python benchmarks/bench_index_library.py --photos 30000 --server      # the full run (about 15-30 minutes)
    python benchmarks/bench_index_library.py                               # 3,000 photos (about 5-10 minutes)

The library is made from the sample photos: --distinct phone-sized JPEGs (4032x3024, upscaled with a little
noise so they compress like real ones, about 2 MB; a quarter stored on their side with EXIF orientation 6; EXIF
dates from 2019 to 2024 and a camera), bursts of near-identical shots, all repeated as hard links up to --photos
JPEGs in dated folders (each link is its own photo for the scan, the embedding cache and Milvus: the work is
real, only the disk space is shared), plus PNG screenshots. HEIC photos (iPhone-sized) are timed separately.
The files are in the page cache: a cold disk or a network drive adds its own time.

Measured, with the offline model (EfficientNet-Lite0, the CPU default backend onnx), on Milvus Lite:
1. scanning (library.scan_folder) and indexing with metadata and tags (indexing.index_library): wall time,
   photos per second, and how the time splits between embedding (decode + model, both cores), reading the
   metadata and inserting; the dry run's estimate (index_folder.time_sample) beside the real figure;
2. HEIC photos per second, the same way;
3. the per-photo cost with ResNet-50 (random weights: speed only), next to EfficientNet-Lite0 on the same photos
   (and, with --int8, EfficientNet-Lite0 on the opt-in onnx-int8 backend);
4. search p50/p95 (one query per call) at the full size: by example, by tag alone (no vector), by example with a
   tag or a year filter; with --server also on the Milvus 2.3.5 server the tests use (the same rows copied).
The load average is sampled every 10 s (the machine may be shared): compare figures only within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import milvus_server  # noqa: E402  (tests/milvus_server.py: the Milvus 2.3.5 server of the tests)
from bench_library import _distinct_heics, _phone_image  # noqa: E402  (the same phone-sized photos as bench_library.py)

from helpers import config  # noqa: E402
from helpers.collection import database, filters, indexing, store  # noqa: E402
from helpers.commands import index_folder  # noqa: E402
from helpers.photos import data  # noqa: E402
from helpers.photos import folder as library  # noqa: E402
from helpers.vectors import embeddings, models, onnx_export, tags  # noqa: E402

CAMERAS = ("iPhone 13", "Pixel 7", "iPhone 15 Pro", "Galaxy S23")


def main() -> None:
    args = _parse_args()
    work = Path(args.workdir)
    os.environ.setdefault("TUTORIAL_DATA_DIR", str(work / "data"))
    os.environ.setdefault("OUTPUT_DIR", str(work / "outputs"))
    os.environ.setdefault("MODEL_NAME", "efficientnet_lite0")
    if args.fresh:
        shutil.rmtree(work / "data", ignore_errors=True)
    report: dict = {"args": vars(args), "machine": config.describe_environment()}
    with _load_sampler() as load:
        root, heic_root = _build_library(work, args)
        report["library"] = _index_and_time(root, heic_root, args, report)
        report["load_average"] = load.summary()
    (work / f"report-{args.photos}.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"\nload average (1 min) during the run: {report['load_average']}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=3000, help="JPEG photos in the library (README: 30000)")
    parser.add_argument("--distinct", type=int, default=150, help="distinct phone-sized JPEGs made (then linked)")
    parser.add_argument("--screenshots", type=int, default=300, help="PNG screenshots added")
    parser.add_argument("--heic", type=int, default=200, help="HEIC photos timed separately (20 distinct)")
    parser.add_argument("--resnet-photos", type=int, default=300, help="photos indexed with ResNet-50 (random)")
    parser.add_argument("--queries", type=int, default=200, help="searches timed per kind")
    parser.add_argument("--server", action="store_true", help="also search on a Milvus 2.3.5 server")
    parser.add_argument("--int8", action="store_true", help="also time the opt-in onnx-int8 backend")
    parser.add_argument("--search-only", action="store_true",
                        help="reuse the collection an earlier run indexed: only search (and --int8)")
    parser.add_argument("--workdir", default="/tmp/bench-index-library", help="library, database and reports")
    parser.add_argument("--fresh", action="store_true", help="delete the database and caches of an earlier run")
    return parser.parse_args()


# --- the library ------------------------------------------------------------------------------------------------

def _build_library(work: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The JPEG library (made once per size and kept) and the HEIC folder."""
    originals = _distinct_photos(work / "originals", args.distinct)
    root, complete = work / f"library-{args.photos}", work / f"library-{args.photos}.complete"
    if not complete.exists():
        shutil.rmtree(root, ignore_errors=True)
        started = time.perf_counter()
        for i in range(args.photos):
            source = originals[i % len(originals)]
            folder = root / f"{2019 + i * 6 // args.photos}" / f"{1 + i // 100 % 12:02d} album {i // 100}"
            folder.mkdir(parents=True, exist_ok=True)
            os.link(source, folder / f"IMG_{i:05d}.jpg")
        _screenshots(root / "Screenshots", args.screenshots)
        complete.write_text("done\n")
        print(f"library: {args.photos} JPEG links + {args.screenshots} PNG in {time.perf_counter() - started:.0f} s")
    return root, _heic_folder(work / "heic", args.heic)


def _distinct_photos(folder: Path, n: int) -> list[Path]:
    """n phone-sized JPEGs (made once), with EXIF date, camera and, for one in four, orientation 6; plus bursts."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"photo_{i:04d}.jpg"
        if not path.exists():
            image = _phone_image(i)
            if i % 10 == 9:  # a burst: the previous photo, the frame moved a little
                with Image.open(paths[-1]) as previous:
                    moved = previous.crop((40, 20, previous.width, previous.height)).resize(previous.size)
                image = ImageEnhance.Brightness(moved).enhance(1.03)
            _save_phone_jpeg(image, path, i)
        paths.append(path)
    return paths


def _save_phone_jpeg(image: Image.Image, path: Path, i: int) -> None:
    """Save as a phone does: EXIF date and camera; one in four stored on its side with orientation 6."""
    exif = Image.Exif()
    exif[0x0110] = CAMERAS[i % len(CAMERAS)]
    exif.get_ifd(0x8769)[0x9003] = f"{2019 + i % 6}:{1 + i % 12:02d}:{1 + i % 28:02d} 10:{i % 60:02d}:00"
    if i % 4 == 1:
        exif[0x0112] = 6
        image = image.transpose(Image.Transpose.ROTATE_90)
    tmp = path.with_suffix(".tmp")
    image.save(tmp, format="JPEG", quality=90, exif=exif)
    tmp.rename(path)


def _screenshots(folder: Path, n: int) -> None:
    """n phone screenshots (390x844 PNG, no EXIF): four distinct ones, linked."""
    folder.mkdir(parents=True, exist_ok=True)
    distinct = []
    for i in range(4):
        image = Image.new("RGB", (390, 844), (242, 242, 247))
        image.paste((40 + 60 * i, 122, 255 - 50 * i), (20, 120, 370, 400))
        distinct.append(folder / f"distinct_{i}.png")
        image.save(distinct[-1])
    for i in range(n):
        os.link(distinct[i % 4], folder / f"Screenshot {i:04d}.png")
    for path in distinct:
        path.unlink()


def _heic_folder(folder: Path, n: int) -> Path:
    """n iPhone-sized HEICs (20 distinct, the rest hard links), made once."""
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    distinct = _distinct_heics(folder / "originals")
    for i in range(n):
        os.link(distinct[i % 20], folder / f"IMG_{i:05d}.HEIC")
    shutil.rmtree(folder / "originals")
    (folder / ".complete").write_text("done\n")
    return folder


# --- indexing ---------------------------------------------------------------------------------------------------

def _index_and_time(root: Path, heic_root: Path, args: argparse.Namespace, report: dict) -> dict:
    """Scan, estimate, index (JPEG, HEIC, ResNet-50), then search; prints and returns the figures."""
    figures: dict = {}
    started = time.perf_counter()
    scan = library.scan_folder(root)
    figures["scan_s"] = time.perf_counter() - started
    print(library.describe_scan(scan) + f"\nscan: {figures['scan_s']:.1f} s", flush=True)
    subset = replace(scan, files=tuple(scan.photos[:args.resnet_photos]))
    client = database.connect()
    try:
        if not args.search_only:
            figures["estimate_ms_per_photo"] = index_folder.time_sample(scan, "efficientnet_lite0") * 1000
            print(f"dry-run estimate: {figures['estimate_ms_per_photo']:.1f} ms per photo", flush=True)
            figures["jpeg"] = _timed_index(client, "library", scan, "efficientnet_lite0")
            figures["heic"] = _timed_index(client, "heic", library.scan_folder(heic_root), "efficientnet_lite0")
        if not args.search_only or args.int8:
            figures["lite0_subset"] = _timed_index(client, "lite0_subset", subset, "efficientnet_lite0")
        if args.int8:  # the opt-in int8 model, calibrated on 100 sample photos (notebook 02 does the same)
            onnx_export.quantize_onnx(data.load_dataset().train.image_paths, "efficientnet_lite0")
            figures["lite0_int8_subset"] = _timed_index(client, "lite0_int8_subset", subset, "efficientnet_lite0",
                                                        backend="onnx-int8")
        if not args.search_only:
            models.MODELS["resnet50"] = models.ModelSpec("resnet50", "random")  # speed only: no weights needed
            figures["resnet50_subset"] = _timed_index(client, "resnet50_subset", subset, "resnet50")
        figures["search_lite"] = _search_figures(client, "library", scan, args.queries)
    finally:
        database.release_database(client)
    if args.server:
        try:
            figures["search_server"] = _server_search(root.parent, scan, args.queries)
        except milvus_server.ServerUnavailable as err:
            print(f"server: not measured ({err})")
    return figures


@contextlib.contextmanager
def _timing(module, name: str, totals: dict[str, float]) -> Iterator[None]:
    """Add the wall time of every call of module.name to totals[name] while inside."""
    real = getattr(module, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - started

    setattr(module, name, timed)
    try:
        yield
    finally:
        setattr(module, name, real)


def _timed_index(client, collection_name: str, scan: library.LibraryScan, model_name: str,
                 backend: str | None = None) -> dict[str, float]:
    """index_library on a fresh collection (embedding cache off: each photo is really embedded); model loaded first."""
    embeddings.embed_images(scan.image_paths[:1], model_name, progress=False, use_cache=False, backend=backend)
    tags.classifier_weights(model_name)  # the classifier head, loaded once per model
    totals: dict[str, float] = {}
    cpu_started = time.process_time()  # CPU seconds of every thread of this process
    # embedding and reading the metadata happen in the pipeline's threads or workers, while the previous round is
    # inserted in the background: only the inserts and the final flush can be timed apart
    with _timing(store, "insert_embeddings", totals), _timing(store, "flush_inserts", totals):
        result = indexing.index_library(client, collection_name, scan, model_name, recreate=True,
                                        use_cache=False, backend=backend)
    n, cpu = result.added, time.process_time() - cpu_started
    figures = {"photos": n, "seconds": result.seconds, "photos_per_s": n / result.seconds,
               "ms_per_photo": 1000 * result.seconds / max(n, 1), "cpu_ms_per_photo": 1000 * cpu / max(n, 1),
               **{f"{name}_s": seconds for name, seconds in totals.items()}}
    print(f"{collection_name}: {n} photos with {model_name} in {result.seconds:.1f} s = "
          f"{figures['photos_per_s']:.1f} photos/s ({figures['ms_per_photo']:.1f} ms each, "
          f"{figures['cpu_ms_per_photo']:.1f} ms of CPU each); split: "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in totals.items()), flush=True)
    return figures


# --- search -----------------------------------------------------------------------------------------------------

def _percentiles(times: list[float]) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(times, 50) * 1000), "p95_ms": float(np.percentile(times, 95) * 1000),
            "calls": len(times)}


def _timed_calls(call: Callable[[int], object], n: int) -> dict[str, float]:
    """p50 and p95 of n calls, after 3 warm-up calls."""
    for i in range(3):
        call(i)
    times = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - started)
    return _percentiles(times)


def _search_figures(client, collection_name: str, scan: library.LibraryScan, n_queries: int) -> dict:
    """One query per call: by example, by tag alone, by example with a tag filter, with a year filter.

    Milvus Lite 3.2 evaluates scalar filters with Arrow, but ARRAY functions (array_contains...) row by row
    in Python: seconds per call at 30,000 rows, so those kinds get a tenth of the calls.
    """
    rng = np.random.default_rng(0)
    query_paths = [scan.image_paths[i] for i in rng.choice(len(scan.image_paths), n_queries, replace=False)]
    vectors = store.get_vectors(client, collection_name, query_paths)
    kinds = {
        "by example": lambda i: store.search_similar(client, collection_name, vectors[i], top_k=10),
        "by tag alone (dog, newest 100)": lambda i: store.query_photos(client, collection_name,
                                                                       filters.tag_filter("dog"), limit=100),
        "by example + tag dog": lambda i: store.search_similar(client, collection_name, vectors[i], top_k=10,
                                                               filter=filters.tag_filter("dog")),
        "by example + year == 2024": lambda i: store.search_similar(client, collection_name, vectors[i], top_k=10,
                                                                    filter="year == 2024"),
    }
    figures = {"rows": store.count_images(client, collection_name)}
    for name, call in kinds.items():  # Milvus Lite checks ARRAY filters row by row (seconds): fewer calls
        figures[name] = _timed_calls(call, n_queries if "tag" not in name else max(10, n_queries // 10))
        print(f"search {name}: p50 {figures[name]['p50_ms']:.1f} ms, p95 {figures[name]['p95_ms']:.1f} ms "
              f"({figures['rows']} rows, {figures[name]['calls']} calls)", flush=True)
    return figures


def _server_search(work: Path, scan: library.LibraryScan, n_queries: int) -> dict:
    """Copy the Milvus Lite rows to a Milvus 2.3.5 server (tests/milvus_server.py), then the same searches."""
    lite = database.connect()
    fields = [field["name"] for field in lite.describe_collection("library")["fields"] if field["name"] != "id"]
    rows = store.get_rows(lite, "library", scan.image_paths, fields)
    model_name = next(iter(rows.values()))["model_name"]
    dim = len(next(iter(rows.values()))[store.VECTOR_FIELD])
    database.release_database(lite)
    data_dir = work / "milvus-server"
    shutil.rmtree(data_dir, ignore_errors=True)
    with milvus_server.running_server(data_dir) as uri:
        server = database.connect(uri)
        store.create_collection(server, "library", dim, model_name, recreate=True)
        started = time.perf_counter()
        batch = [{name: row[name] for name in fields} for row in rows.values()]
        for start in range(0, len(batch), store.DEFAULT_BATCH_SIZE):
            server.insert("library", batch[start:start + store.DEFAULT_BATCH_SIZE])
        print(f"server: {len(batch)} rows copied in {time.perf_counter() - started:.1f} s", flush=True)
        figures = _search_figures(server, "library", scan, n_queries)
        database.release_database(server)
    shutil.rmtree(data_dir / "data", ignore_errors=True)
    return figures


# --- the load on the machine ------------------------------------------------------------------------------------

class _LoadSampler:
    """The 1-minute load average, every 10 s, in a background thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self.stop.wait(10)

    def summary(self) -> dict[str, float]:
        return {"mean": round(float(np.mean(self.samples)), 2), "min": min(self.samples),
                "max": max(self.samples), "samples": len(self.samples)}


@contextlib.contextmanager
def _load_sampler() -> Iterator[_LoadSampler]:
    sampler = _LoadSampler()
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        sampler.stop.set()
        thread.join()


if __name__ == "__main__":
    main()
