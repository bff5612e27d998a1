"""The command line for big folders: index a photo library without a notebook open (notebook 06).

    python -m helpers.commands.index_folder ~/Pictures            # index it: new photos only, run it any time
    python -m helpers.commands.index_folder ~/Pictures --dry-run  # count the files by type, estimate the time
    index-folder ~/Pictures                                       # the same, as the package's console script

Every file is accounted for: the photos are indexed with their metadata and tags (`indexing.index_library`),
the rest are counted by reason, and the list of files not indexed is saved as a CSV (OUTPUT_DIR setting).
A progress bar shows the time left. Stop it whenever you like (Ctrl+C): what was inserted stays, and the
same command later indexes only the rest. The settings (MODEL_NAME, MILVUS_URI, COLLECTION_NAME, ...) are
those of the notebooks; a Milvus Lite database that a notebook has open is refused with advice.

A mistake (a wrong setting or argument, no network for the model) ends in one line that says what to do, with
exit status 1 (2 for a wrong argument). The heavy stages (torch, Milvus) are imported by the functions that use
them, once the arguments are read, so that Ctrl+C during the seconds they take to load stops in one line too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from helpers import config
from helpers.photos import data, folder, photo_info

DRY_RUN_PHOTOS = 16  # photos embedded to time the dry run's estimate
HEIC_CHECKED = 64  # HEIC photos whose thumbnail the dry run looks at (header only, about 5 ms each)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 error, 2 wrong argument, 130 stopped with Ctrl+C)."""
    args = _parse_args(argv)  # a wrong argument: argparse says which, in one line, and exits with status 2
    try:
        settings = config.load_settings()
        report = args.report or settings.output_dir / folder.REPORT_NAME
        problem = _report_problem(report)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        return _run(args, settings, report)
    except KeyboardInterrupt:  # Ctrl+C while the libraries load, the folder is scanned or the model loads
        print("\nStopped before any photo was indexed: nothing was changed.", file=sys.stderr)
        return 130
    except config.SettingsError as err:
        print(err, file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: config.Settings, report: Path) -> int:
    """Scan the folder, then estimate the time (--dry-run) or index it; a mistake is printed in one line."""
    from helpers.collection import database
    from helpers.vectors import models

    model_name = args.model or settings.model_name
    try:
        scan = folder.scan_folder(args.folder)
        print(folder.describe_scan(scan))
        if args.dry_run:
            print(describe_estimate(scan, model_name, with_tags=_with_tags(model_name, args), sample=args.sample))
            return 0
        return _index(scan, args.collection or settings.collection_name, model_name, args, report)
    except (FileNotFoundError, database.StoreError, models.ModelLoadError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpers.commands.index_folder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder that holds your photos (subfolders included)")
    parser.add_argument("--dry-run", action="store_true", help="count files by type and estimate the time only")
    parser.add_argument("--sample", type=_count, default=DRY_RUN_PHOTOS, help="photos the dry run times")
    parser.add_argument("--collection", help="Milvus collection (default: the COLLECTION_NAME setting)")
    parser.add_argument("--model", help="feature model (default: the MODEL_NAME setting)")
    parser.add_argument("--no-tags", action="store_true", help="store no tags (words) for the photos")
    parser.add_argument("--location", action="store_true",
                        help="also store GPS positions (private: where you live and go; off by default)")
    parser.add_argument("--recreate", action="store_true", help="delete the collection first and start afresh")
    parser.add_argument("--round-size", type=_count, help="photos per round (embed, then insert); default about 1/20")
    parser.add_argument("--report", type=Path, help="CSV of the files not indexed (default: OUTPUT_DIR)")
    return parser.parse_args(argv)


def _count(text: str) -> int:
    """An argument that counts photos: a whole number, 1 or more (argparse's one-line error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"give 1 or more photos, not {text}")
    return value


def _report_problem(report: Path) -> str:
    """Why the CSV report could not be written at `report` (checked before indexing); "" when it can."""
    if report.is_dir():
        return f"--report {report} is a folder: give a file name, for example {report / folder.REPORT_NAME}."
    existing = next(p for p in report.absolute().parents if p.exists())
    if not existing.is_dir():
        return (f"--report {report} cannot be written: {existing} is a file, not a folder. "
                "Give a path in a folder (--report), or point OUTPUT_DIR at a folder.")
    return ""


def _index(scan: folder.LibraryScan, collection_name: str, model_name: str, args: argparse.Namespace,
           report: Path) -> int:
    """Index the scan, then print the summary and write the report; Ctrl+C stops cleanly."""
    from helpers.collection import database, indexing, store

    client = database.connect()
    try:
        result = indexing.index_library(client, collection_name, scan, model_name,
                                        with_tags=_with_tags(model_name, args),
                                        location=args.location, recreate=args.recreate,
                                        batch_size=args.round_size)
    except KeyboardInterrupt:
        if client.has_collection(collection_name):  # not yet when Ctrl+C came while the model loaded
            store.flush_inserts(client, collection_name)
        print(f"\nStopped: {store.count_images(client, collection_name):,} photos are stored in "
              f"{collection_name!r}. Run the same command again to index the rest.", file=sys.stderr)
        return 130
    finally:
        database.release_database(client)
    report = folder.write_skipped_report(result.scan, report)
    print(f"Indexed {result.added:,} new photos in {result.seconds:.0f} s; {collection_name!r} holds "
          f"{result.stored:,} photos ({model_name}).")
    print(folder.describe_not_used(result.scan))
    print(f"Every file not indexed, with its reason: {report}")
    return 0


def _with_tags(model_name: str, args: argparse.Namespace) -> bool:
    """Tags unless --no-tags, for a model with an ImageNet classifier (a CLIP model reads words itself)."""
    from helpers.vectors import tags

    return not args.no_tags and tags.has_classifier(model_name)


def time_sample(scan: folder.LibraryScan, model_name: str, with_tags: bool = True,
                sample: int = DRY_RUN_PHOTOS, photos: Sequence[Path] | None = None) -> float:
    """Seconds per photo to embed and read a few of the scan's photos (or of `photos`), spread over them (nb 06).

    The model is loaded (and exported) before the clock starts; the cache is not used, so the photos are
    really decoded and embedded. Inserting into Milvus is not timed (about 1 ms per photo on Milvus Lite).
    """
    from helpers.vectors import embeddings

    chosen = _spread(scan.image_paths if photos is None else list(photos), sample)
    if not chosen:
        return 0.0
    embeddings.embed_images(chosen[:1], model_name, progress=False, use_cache=False)  # load the model first
    started = time.perf_counter()
    result = embeddings.embed_images(chosen, model_name, progress=False, use_cache=False, keep_features=with_tags)
    for path in result.image_paths:
        photo_info.read_photo(path, scan.root)
    return (time.perf_counter() - started) / len(chosen)


def describe_estimate(scan: folder.LibraryScan, model_name: str, with_tags: bool = True,
                      sample: int = DRY_RUN_PHOTOS) -> str:
    """The dry run's answer: how long indexing the scan's photos should take here, from a quick timing.

    A HEIC photo is embedded from its thumbnail when it has one the model can use (about 10 ms to decode),
    else decoded in full (about 0.5 s for 12 MP): the two are timed apart, and the HEICs without one are
    counted on up to HEIC_CHECKED of them (their headers only).
    """
    from helpers.vectors import models

    side = models.thumbnail_side(model_name)
    heic = [photo.path for photo in scan.photos if photo.kind == "heic"]
    checked = _spread(heic, HEIC_CHECKED)
    in_full = [path for path in checked if _decoded_in_full(path, side)]
    n_full = round(len(heic) * len(in_full) / len(checked)) if checked else 0
    quick = [path for path in _spread(scan.image_paths, 2 * sample) if not _decoded_in_full(path, side)]
    per_photo = time_sample(scan, model_name, with_tags, sample, quick or scan.image_paths)
    per_full = time_sample(scan, model_name, with_tags, 2, in_full) if in_full else 0.0
    total = per_photo * (len(scan.photos) - n_full) + per_full * n_full
    text = (f"Estimate: {per_photo * 1000:.0f} ms per photo ({min(sample, len(quick) or len(scan.photos))} timed, "
            f"{model_name}), so about {_duration(total)} for {len(scan.photos):,} photos, plus inserting into Milvus. "
            "Photos indexed before are skipped, so a later run takes less.")
    if not heic:
        return text
    crop = min(models.input_size(model_name)[1:])
    if not side:
        return text + (f"\nHEIC: HEIC_FULL_DECODE=1, so all {len(heic):,} HEIC photos are decoded in full, "
                       f"{per_full:.1f} s each here; unset it to embed those with a thumbnail of at least {crop} "
                       "pixels from it (about 10 ms to decode).")
    if not n_full:
        return text + (f"\nHEIC: all {len(checked):,} checked of the {len(heic):,} HEIC photos have a thumbnail of "
                       f"at least {crop} pixels, embedded instead of the photo (about 10 ms to decode); one without "
                       f"would be decoded in full, {_full_decode_seconds(checked[0], model_name):.1f} s here.")
    return text + (f"\nHEIC: about {n_full:,} of the {len(heic):,} HEIC photos have no thumbnail of at least {crop} "
                   f"pixels (counted on {len(checked):,}): each is decoded in full, {per_full:.1f} s here (included "
                   "above), against about 10 ms to decode a thumbnail.")


def _full_decode_seconds(path: Path, model_name: str) -> float:
    """Seconds to decode one photo in full at the model's size, as the pipeline does without a thumbnail."""
    from helpers.vectors import models

    started = time.perf_counter()
    try:
        data.load_image(path, min_side=models.decode_side(model_name), thumbnail_side=0)
    except data.ImageLoadError:
        return float("nan")
    return time.perf_counter() - started


def _decoded_in_full(path: Path, thumbnail_side: int) -> bool:
    """True for a HEIC photo that the pipeline decodes in full: no thumbnail it can use (or HEIC_FULL_DECODE=1)."""
    return path.suffix.lower() in data.HEIF_SUFFIXES and not data.uses_thumbnail(path, thumbnail_side)


def _spread(paths: Sequence[Path], n: int) -> list[Path]:
    """At most `n` of the paths, spread evenly over them."""
    return list(paths[::max(1, len(paths) // n)][:n]) if n > 0 else []


def _duration(seconds: float) -> str:
    """Seconds as "45 s", "12 min" or "2.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    sys.exit(main())
