"""How fast is reading a photo library? Scanning, metadata, and decoding phone-sized JPEG and HEIC photos.

    python benchmarks/bench_library.py                        # speed: scan, metadata, decoding (about 1 minute)
    python benchmarks/bench_library.py --photos 30000         # scan and metadata over 30,000 files (hard links)
    python benchmarks/bench_library.py --thumbnail-quality    # HEIC thumbnails against full decoding: quality
    python benchmarks/bench_library.py --heic-library 300     # ... and speed: iPhone-sized HEICs indexed end to end

Speed: a library of phone-sized photos (4032x3024, EXIF date and orientation; a few distinct files repeated
as hard links up to --photos) is scanned (library.scan_folder) and its metadata read (library.read_photos);
then one JPEG and HEICs (with a 320-pixel thumbnail as iPhones store, and with a 512-pixel one) are decoded
by data.load_image, in full and at the size the models need (min_side=256 for JPEG draft, thumbnail_side=224
for HEIC thumbnails). Times are ms per photo, best of --repeats runs, with the files in the page cache (a cold
disk or a network drive adds its own time).

Thumbnail quality: the 1,100 sample photos are stored as HEIC with an iPhone-sized thumbnail (320-pixel box:
320x240 for a 4:3 photo), then embedded with the offline model through the pipeline (embeddings.embed_images)
twice: from the thumbnail where it covers the model's input crop (the default) and decoded in full
(HEIC_FULL_DECODE=1). Printed: the cosine similarity of the vectors, mAP@10 of the 100 test photos against the
1,000 training photos, and the precision and recall of the tag `dog`, each way and for the original JPEGs.
Needs the sample dataset (DATASET_SOURCE or a download). Compare numbers only within one run.

HEIC library: --heic-library N iPhone-sized HEICs (4032x3024 with a 320x240 thumbnail; 20 distinct, the rest hard
links) indexed end to end by collection.index_library (metadata, tags, Milvus Lite) with the thumbnails, then
--heic-full of them decoded in full; photos per second and the time 30,000 would take, extrapolated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import timing  # benchmarks/timing.py
from PIL import Image

from helpers.collection import database, indexing
from helpers.photos import data, photo_info
from helpers.photos import folder as library
from helpers.vectors import embeddings, models, tags

PHONE_SIZE = (4032, 3024)
MIN_SIDE = 256  # the decode side of ResNet-50 and EfficientNet-Lite0 (models.decode_side)
THUMBNAIL_SIDE = 224  # their input crop: the smallest HEIC thumbnail they use (models.thumbnail_side)
LIBRARY_PHOTOS = 30_000  # the blog's library, for the extrapolation


def main() -> None:
    args = _parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        if args.thumbnail_quality:
            _print_thumbnail_quality(Path(tmp), args.model)
            return
        if args.heic_library:
            _print_heic_library(Path(tmp), args.heic_library, args.heic_full, args.model)
            return
        photos = _make_phone_photos(Path(tmp) / "originals")
        root = _make_library(Path(tmp) / "library", list(photos.values()), args.photos)
        print(f"library: {args.photos} files ({len(photos)} distinct phone photos, the rest hard links)")
        print(", ".join(f"{path.name} {path.stat().st_size / 1e6:.1f} MB" for path in photos.values()) + "\n")
        rows = {
            "scan_folder (per file)": timing.best_time(lambda: library.scan_folder(root), args.repeats) / args.photos,
            "read_photos: header metadata (per photo)": timing.best_time(
                lambda: library.read_photos(library.scan_folder(root)), args.repeats) / args.photos,
        }
        for kind in ("jpeg", "heic_320"):
            rows[f"read_photo {kind.split('_')[0].upper()} 4032x3024 (header only)"] = timing.best_time(
                lambda k=kind: [photo_info.read_photo(photos[k]) for _ in range(100)], args.repeats) / 100
        rows.update(_decode_rows(photos, args.repeats))
    print(f"{'step':<58} {'ms per photo':>12}")
    for name, seconds in rows.items():
        print(f"{name:<58} {seconds * 1000:>12.2f}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2000, help="files in the library for scan and metadata")
    parser.add_argument("--repeats", type=int, default=3, help="runs per step; the best is kept")
    parser.add_argument("--thumbnail-quality", action="store_true",
                        help="measure the accuracy cost of embedding HEIC thumbnails instead of the photos")
    parser.add_argument("--heic-library", type=int, default=0, metavar="N",
                        help="index N iPhone-sized HEICs end to end from their thumbnails (and --heic-full in full)")
    parser.add_argument("--heic-full", type=int, default=40, help="of those, how many to index decoded in full")
    parser.add_argument("--model", default="efficientnet_lite0", choices=sorted(models.MODELS))
    return parser.parse_args()


def _phone_image(seed: int) -> Image.Image:
    """A 4032x3024 photo from a sample photo: upscaled, with a little noise so that it compresses like a real one.

    (sigma 1: about 2 MB as JPEG and 2.5 MB as HEIC; an iPhone's 12 MP HEIC is 1.5-3 MB.)
    """
    sample = data.load_dataset().train.image_paths[seed * 97 % 1000]
    with Image.open(sample) as image:
        big = np.asarray(image.convert("RGB").resize(PHONE_SIZE, Image.Resampling.BICUBIC), dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0, 1, big.shape).astype(np.int16)
    return Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8))


def _make_phone_photos(folder: Path) -> dict[str, Path]:
    """Two JPEGs (one stored on its side) and two HEICs (320- and 512-pixel thumbnails), with EXIF dates."""
    folder.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0110] = "iPhone 13"
    exif.get_ifd(0x8769)[0x9003] = "2024:08:10 11:00:00"
    photos = {"jpeg": folder / "IMG_0001.jpg", "jpeg_rotated": folder / "IMG_0002.jpg",
              "heic_320": folder / "IMG_0003.HEIC", "heic_512": folder / "IMG_0004.HEIC"}
    _phone_image(0).save(photos["jpeg"], quality=90, exif=exif)
    exif[0x0112] = 6
    _phone_image(1).transpose(Image.Transpose.ROTATE_90).save(photos["jpeg_rotated"], quality=90, exif=exif)
    data.register_heif_opener()
    for key, box in (("heic_320", 320), ("heic_512", 512)):  # ultrafast: x265's default takes about 20 s here
        _phone_image(2).save(photos[key], format="HEIF", quality=80, exif=exif.tobytes(), thumbnails=[box],
                             enc_params={"preset": "ultrafast"})
    return photos


def _make_library(root: Path, photos: list[Path], n_files: int) -> Path:
    """n_files hard links to the given photos, 100 per dated folder."""
    for i in range(n_files):
        folder = root / f"2024-{1 + i // 100 % 12:02d}-{1 + i // 1200:02d} folder {i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        source = photos[i % len(photos)]
        os.link(source, folder / f"IMG_{i:05d}{source.suffix}")
    return root


def _decode_rows(photos: dict[str, Path], repeats: int) -> dict[str, float]:
    """Seconds per data.load_image call, for each photo and min_side, and the forced 320 thumbnail."""
    rows = {
        "load_image JPEG 4032x3024, full": (photos["jpeg"], None),
        "load_image JPEG 4032x3024, min_side=256 (draft 1/8)": (photos["jpeg"], MIN_SIDE),
        "load_image JPEG 4032x3024 EXIF-rotated, min_side=256": (photos["jpeg_rotated"], MIN_SIDE),
        "load_image HEIC 4032x3024, full": (photos["heic_320"], None),
        "load_image HEIC, 320 thumbnail, min_side=256, thumbnail_side=0 (full decode)": (photos["heic_320"], 0),
        "load_image HEIC, 320 thumbnail, thumbnail_side=224 (thumbnail)": (photos["heic_320"], THUMBNAIL_SIDE),
        "load_image HEIC, 512 thumbnail, thumbnail_side=224 (thumbnail)": (photos["heic_512"], THUMBNAIL_SIDE),
    }
    seconds = {name: timing.best_time(lambda p=path, s=side: data.load_image(
        p, min_side=None if s is None else MIN_SIDE, thumbnail_side=s), repeats) for name, (path, side) in rows.items()}
    seconds["HEIC 320x240 thumbnail decoded alone (for reference)"] = timing.best_time(
        lambda: _load_thumbnail(photos["heic_320"]), repeats)
    return seconds


def _load_thumbnail(path: Path) -> Image.Image:
    """The smallest embedded thumbnail of a HEIC, decoded as RGB (what a relaxed thumbnail policy would use)."""
    data.register_heif_opener()
    with Image.open(path) as image:
        if image.draft("RGB", (1, 1)) is None:
            raise ValueError(f"{path} has no embedded thumbnail")
        image.load()
        return image.convert("RGB")


def _print_thumbnail_quality(folder: Path, model_name: str) -> None:
    """Cosine, mAP@10 and the tag `dog`: the pipeline on HEIC copies, from thumbnails and decoded in full."""
    dataset = data.load_dataset()
    image_paths = dataset.train.image_paths + dataset.test.image_paths
    labels, n_train = dataset.train.labels + dataset.test.labels, len(dataset.train)
    start = time.perf_counter()
    heic_paths = _heic_copies(image_paths, folder)
    os.environ.pop("HEIC_FULL_DECODE", None)
    side = models.thumbnail_side(model_name)
    used = np.array([data.uses_thumbnail(path, side) for path in heic_paths])
    print(f"{len(heic_paths)} sample photos stored as HEIC with a thumbnail in a 320-pixel box "
          f"({time.perf_counter() - start:.0f} s); {used.sum()} have one of at least {side} pixels, which the "
          f"default embeds; {np.sum(~used)} are decoded in full (thumbnail too small, or none: the photo fits)")
    runs = {"original JPEG": (image_paths, "0"), "HEIC, decoded in full": (heic_paths, "1"),
            "HEIC, thumbnails (default)": (heic_paths, "0")}
    vectors, photo_tags = {}, {}
    for name, (paths, full_decode) in runs.items():
        os.environ["HEIC_FULL_DECODE"] = full_decode
        started = time.perf_counter()
        result = embeddings.embed_images(paths, model_name, progress=False, use_cache=False, keep_features=True)
        assert not result.skipped, result.skipped[:3]
        vectors[name], photo_tags[name] = result.embeddings, tags.photo_tags(result.features, model_name)
        print(f"  embedded {name}: {len(paths) / (time.perf_counter() - started):.1f} photos/s")
    os.environ.pop("HEIC_FULL_DECODE")
    print(f"\nmodel {model_name}, decode side {models.decode_side(model_name)}, thumbnail side {side}\n")
    print(f"{'vectors compared (photos whose thumbnail is used)':<52} {'mean cos':>9} {'5th pct':>8} {'min':>7}")
    for a, b in (("original JPEG", "HEIC, decoded in full"), ("HEIC, decoded in full", "HEIC, thumbnails (default)")):
        cosine = np.sum(vectors[a] * vectors[b], axis=1)[used]
        print(f"{a + ' vs ' + b:<52} {cosine.mean():>9.4f} {np.percentile(cosine, 5):>8.4f} {cosine.min():>7.4f}")
    is_dog = [tags.coarse_word(tags.class_index(path.name.split("_")[0])) == "dog" for path in image_paths]
    print(f"\n{'index (1,000 train) / queries (100 test)':<52} {'mAP@10':>9} {'dog: precision':>15} {'recall':>7}")
    for name in vectors:
        score = timing.map_at_10(vectors[name][:n_train], labels[:n_train], vectors[name][n_train:], labels[n_train:])
        precision, recall = tags.tag_quality(photo_tags[name], is_dog, "dog")
        print(f"{name:<52} {score:>9.3f} {precision:>15.3f} {recall:>7.3f}")


def _heic_copies(image_paths: list[Path], folder: Path) -> list[Path]:
    """Each photo as a HEIC with a thumbnail in a 320-pixel box, as iPhones store (320x240 for a 4:3 photo).

    libheif stores no thumbnail for a photo that already fits in 320 pixels: its "thumbnail" is the photo.
    """
    data.register_heif_opener()
    (folder / "heic").mkdir(parents=True)
    heic_paths = []
    for path in image_paths:
        heic_paths.append(folder / "heic" / f"{path.stem}.heic")  # the name keeps the class (n02088094_...)
        with Image.open(path) as image:
            image.convert("RGB").save(heic_paths[-1], format="HEIF", quality=80, thumbnails=[320],
                                      enc_params={"preset": "ultrafast"})
    return heic_paths


def _print_heic_library(folder: Path, n_photos: int, n_full: int, model_name: str) -> None:
    """Index n_photos iPhone-sized HEICs from their thumbnails, then n_full decoded in full: photos/s, 30,000 photos."""
    os.environ.setdefault("TUTORIAL_DATA_DIR", str(folder / "data"))
    os.environ.pop("HEIC_FULL_DECODE", None)
    started = time.perf_counter()
    root = _heic_library(folder / "library", n_photos)
    print(f"{n_photos} iPhone-sized HEICs (4032x3024, 320x240 thumbnail; 20 distinct, the rest hard links) made in "
          f"{time.perf_counter() - started:.0f} s; load average before: {os.getloadavg()[0]:.1f}")
    scan = library.scan_folder(root)
    full_scan = library.LibraryScan(scan.root, scan.photos[:n_full])
    embeddings.embed_images(scan.image_paths[:1], model_name, progress=False, use_cache=False)  # load the model
    tags.classifier_weights(model_name)
    client = database.connect(str(folder / "heic.db"))
    try:
        for name, photos, full_decode in (("thumbnails (default)", scan, "0"),
                                          ("decoded in full (HEIC_FULL_DECODE=1)", full_scan, "1")):
            os.environ["HEIC_FULL_DECODE"] = full_decode
            cpu_started = time.process_time()
            result = indexing.index_library(client, f"heic_{full_decode}", photos, model_name, recreate=True,
                                            progress=False)
            cpu_ms = 1000 * (time.process_time() - cpu_started) / result.added
            rate = result.added / result.seconds
            print(f"{name:<38} {result.added:>5} photos in {result.seconds:6.1f} s = {rate:5.1f} photos/s, "
                  f"{cpu_ms:5.0f} ms of CPU each; {LIBRARY_PHOTOS:,} photos: about "
                  f"{LIBRARY_PHOTOS / rate / 60:.0f} min (load average {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        os.environ.pop("HEIC_FULL_DECODE", None)
        database.release_database(client)


def _distinct_heics(originals: Path) -> list[Path]:
    """20 distinct iPhone-sized HEICs in `originals`, with EXIF dates and a 320-pixel thumbnail as iPhones store."""
    originals.mkdir(parents=True)
    data.register_heif_opener()
    distinct = []
    for i in range(20):
        exif = Image.Exif()
        exif[0x0110] = "iPhone 13"
        exif.get_ifd(0x8769)[0x9003] = f"2024:08:{1 + i:02d} 11:00:00"
        distinct.append(originals / f"{i:02d}.HEIC")
        _phone_image(500 + i).save(distinct[-1], format="HEIF", quality=80, exif=exif.tobytes(), thumbnails=[320],
                                   enc_params={"preset": "ultrafast"})
    return distinct


def _heic_library(folder: Path, n_photos: int) -> Path:
    """n_photos hard links to 20 distinct iPhone-sized HEICs with EXIF dates, 100 per folder."""
    distinct = _distinct_heics(folder / "originals")
    for i in range(n_photos):
        (folder / f"{i // 100:03d}").mkdir(exist_ok=True)
        os.link(distinct[i % 20], folder / f"{i // 100:03d}" / f"IMG_{i:05d}.HEIC")
    shutil.rmtree(folder / "originals")
    return folder


if __name__ == "__main__":
    main()
