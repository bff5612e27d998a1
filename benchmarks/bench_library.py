"""How fast is reading a photo library? Scanning, metadata, and decoding phone-sized JPEG and HEIC photos.

    python benchmarks/bench_library.py                        # speed: scan, metadata, decoding (about 1 minute)
    python benchmarks/bench_library.py --photos 30000         # scan and metadata over 30,000 files (hard links)
    python benchmarks/bench_library.py --thumbnail-quality    # what a 320x240 HEIC thumbnail costs in accuracy

Speed: a library of phone-sized photos (4032x3024, EXIF date and orientation; a few distinct files repeated
as hard links up to --photos) is scanned (library.scan_folder) and its metadata read (library.read_photos);
then one JPEG and HEICs (with a 320-pixel thumbnail as iPhones store, and with a 512-pixel one) are decoded
by data.load_image, in full and at the size the models need (min_side=256). Times are ms per photo, best of
--repeats runs, with the files in the page cache (a cold disk or a network drive adds its own time).

Thumbnail quality: the 1,100 sample photos are stored as HEIC with a 320-pixel thumbnail, then embedded with the
offline model from the full photo and from the thumbnail alone: the cosine similarity of the two vectors, and
mAP@10 of the 100 test photos against the 1,000 training photos, each way. Needs the sample dataset
(DATASET_SOURCE or a download). Compare numbers only within one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import timing  # benchmarks/timing.py
from PIL import Image

from helpers import data, embeddings, library, models, photo_info

PHONE_SIZE = (4032, 3024)
MIN_SIDE = 256  # the decode side of ResNet-50 and EfficientNet-Lite0 (models.decode_side)


def main() -> None:
    args = _parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        if args.thumbnail_quality:
            _print_thumbnail_quality(Path(tmp), args.model)
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
        "load_image HEIC, 320 thumbnail, min_side=256 (full decode)": (photos["heic_320"], MIN_SIDE),
        "load_image HEIC, 512 thumbnail, min_side=256 (thumbnail)": (photos["heic_512"], MIN_SIDE),
    }
    seconds = {name: timing.best_time(lambda p=path, s=side: data.load_image(p, min_side=s), repeats)
               for name, (path, side) in rows.items()}
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
    """Cosine similarity and mAP@10: embeddings of the full HEIC photos against their 320 thumbnails."""
    dataset = data.load_dataset()
    image_paths = dataset.train.image_paths + dataset.test.image_paths
    labels, n_train = dataset.train.labels + dataset.test.labels, len(dataset.train)
    start = time.perf_counter()
    heic_paths, thumbnail_paths, has_thumbnail = _heic_copies(image_paths, folder)
    print(f"{len(heic_paths)} sample photos stored as HEIC with a 320 thumbnail ({time.perf_counter() - start:.0f} s); "
          f"{np.sum(~has_thumbnail)} fit in 320 pixels and have none (cosines below leave them out)")
    vectors = {}
    for name, paths in (("original JPEG", image_paths), ("HEIC, full photo", heic_paths),
                        ("HEIC, 320 thumbnail", thumbnail_paths)):
        result = embeddings.embed_images(paths, model_name, progress=False, use_cache=False)
        assert not result.skipped, result.skipped[:3]
        vectors[name] = result.embeddings
    print(f"model {model_name}, decode side {models.decode_side(model_name)}\n")
    print(f"{'vectors compared':<48} {'mean cos':>9} {'5th pct':>8} {'min':>7}")
    for a, b in (("original JPEG", "HEIC, full photo"), ("HEIC, full photo", "HEIC, 320 thumbnail")):
        cosine = np.sum(vectors[a] * vectors[b], axis=1)[has_thumbnail]
        print(f"{a + ' vs ' + b:<48} {cosine.mean():>9.4f} {np.percentile(cosine, 5):>8.4f} {cosine.min():>7.4f}")
    print(f"\n{'index (1,000 train) / queries (100 test)':<48} {'mAP@10':>9}")
    for index, queries in [(name, name) for name in vectors] + [("HEIC, full photo", "HEIC, 320 thumbnail")]:
        score = timing.map_at_10(vectors[index][:n_train], labels[:n_train], vectors[queries][n_train:],
                                 labels[n_train:])
        print(f"{index + ' / ' + queries:<48} {score:>9.3f}")


def _heic_copies(image_paths: list[Path], folder: Path) -> tuple[list[Path], list[Path], np.ndarray]:
    """Each photo as a HEIC with a 320 thumbnail, that thumbnail as a lossless PNG, and which photos have one.

    libheif stores no thumbnail for a photo that already fits in 320 pixels: its "thumbnail" is the photo.
    """
    data.register_heif_opener()
    (folder / "heic").mkdir(parents=True)
    (folder / "thumbnails").mkdir()
    heic_paths, thumbnail_paths, has_thumbnail = [], [], []
    for i, path in enumerate(image_paths):
        heic, png = folder / "heic" / f"{i:04d}.heic", folder / "thumbnails" / f"{i:04d}.png"
        with Image.open(path) as image:
            image.convert("RGB").save(heic, format="HEIF", quality=80, thumbnails=[320],
                                      enc_params={"preset": "ultrafast"})
        with Image.open(heic) as image:
            has_thumbnail.append(bool(image.info["thumbnails"]))
        (_load_thumbnail(heic) if has_thumbnail[-1] else data.load_image(heic)).save(png)
        heic_paths.append(heic)
        thumbnail_paths.append(png)
    return heic_paths, thumbnail_paths, np.array(has_thumbnail)


if __name__ == "__main__":
    main()
