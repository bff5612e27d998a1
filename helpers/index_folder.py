"""The command line for big folders: index a photo library without a notebook open (notebook 06).

    python -m helpers.index_folder ~/Pictures              # index it: new photos only, so run it again any time
    python -m helpers.index_folder ~/Pictures --dry-run    # count the files by type and estimate the time
    index-folder ~/Pictures                                # the same, as the package's console script

Every file is accounted for: the photos are indexed with their metadata and tags (`indexing.index_library`),
the rest are counted by reason, and the list of files not indexed is saved as a CSV (OUTPUT_DIR setting).
A progress bar shows the time left. Stop it whenever you like (Ctrl+C): what was inserted stays, and the
same command later indexes only the rest. The settings (MODEL_NAME, MILVUS_URI, COLLECTION_NAME, ...) are
those of the notebooks; a Milvus Lite database that a notebook has open is refused with advice.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from helpers import config, database, embeddings, indexing, library, photo_info, store, tags

DRY_RUN_PHOTOS = 16  # photos embedded to time the dry run's estimate


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 error, 130 stopped with Ctrl+C)."""
    args = _parse_args(argv)
    settings = config.load_settings()
    model_name = args.model or settings.model_name
    collection_name = args.collection or settings.collection_name
    try:
        scan = library.scan_folder(args.folder)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    print(library.describe_scan(scan))
    if args.dry_run:
        print(describe_estimate(scan, model_name, with_tags=_with_tags(model_name, args), sample=args.sample))
        return 0
    return _index(scan, collection_name, model_name, args)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpers.index_folder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder that holds your photos (subfolders included)")
    parser.add_argument("--dry-run", action="store_true", help="count files by type and estimate the time only")
    parser.add_argument("--sample", type=int, default=DRY_RUN_PHOTOS, help="photos the dry run times")
    parser.add_argument("--collection", help="Milvus collection (default: the COLLECTION_NAME setting)")
    parser.add_argument("--model", help="feature model (default: the MODEL_NAME setting)")
    parser.add_argument("--no-tags", action="store_true", help="store no tags (words) for the photos")
    parser.add_argument("--location", action="store_true",
                        help="also store GPS positions (private: where you live and go; off by default)")
    parser.add_argument("--recreate", action="store_true", help="delete the collection first and start afresh")
    parser.add_argument("--round-size", type=int, help="photos per round (embed, then insert); default about 1/20")
    parser.add_argument("--report", type=Path, help="CSV of the files not indexed (default: OUTPUT_DIR)")
    return parser.parse_args(argv)


def _index(scan: library.LibraryScan, collection_name: str, model_name: str, args: argparse.Namespace) -> int:
    """Index the scan, then print the summary and write the report; Ctrl+C stops cleanly."""
    try:
        client = database.connect()
    except database.StoreError as err:
        print(err, file=sys.stderr)
        return 1
    try:
        result = indexing.index_library(client, collection_name, scan, model_name,
                                        with_tags=_with_tags(model_name, args),
                                        location=args.location, recreate=args.recreate,
                                        batch_size=args.round_size)
    except KeyboardInterrupt:
        store.flush_inserts(client, collection_name)
        print(f"\nStopped: {store.count_images(client, collection_name):,} photos are stored in "
              f"{collection_name!r}. Run the same command again to index the rest.", file=sys.stderr)
        return 130
    except (database.StoreError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        database.release_database(client)
    report = library.write_skipped_report(result.scan, args.report)
    print(f"Indexed {result.added:,} new photos in {result.seconds:.0f} s; {collection_name!r} holds "
          f"{result.stored:,} photos ({model_name}).")
    print(library.describe_not_used(result.scan))
    print(f"Every file not indexed, with its reason: {report}")
    return 0


def _with_tags(model_name: str, args: argparse.Namespace) -> bool:
    """Tags unless --no-tags, for a model with an ImageNet classifier (a CLIP model reads words itself)."""
    return not args.no_tags and tags.has_classifier(model_name)


def time_sample(scan: library.LibraryScan, model_name: str, with_tags: bool = True,
                sample: int = DRY_RUN_PHOTOS) -> float:
    """Seconds per photo to embed and read a few of the scan's photos, spread over the folder (notebook 06).

    The model is loaded (and exported) before the clock starts; the cache is not used, so the photos are
    really decoded and embedded. Inserting into Milvus is not timed (about 1 ms per photo on Milvus Lite).
    """
    photos = scan.image_paths
    if not photos:
        return 0.0
    chosen = photos[::max(1, len(photos) // sample)][:sample]
    embeddings.embed_images(chosen[:1], model_name, progress=False, use_cache=False)  # load the model first
    started = time.perf_counter()
    result = embeddings.embed_images(chosen, model_name, progress=False, use_cache=False, keep_features=with_tags)
    for path in result.image_paths:
        photo_info.read_photo(path, scan.root)
    return (time.perf_counter() - started) / len(chosen)


def describe_estimate(scan: library.LibraryScan, model_name: str, with_tags: bool = True,
                      sample: int = DRY_RUN_PHOTOS) -> str:
    """The dry run's answer: how long indexing the scan's photos should take here, from a quick timing."""
    per_photo = time_sample(scan, model_name, with_tags, sample)
    total = per_photo * len(scan.photos)
    return (f"Estimate: {per_photo * 1000:.0f} ms per photo ({min(sample, len(scan.photos))} timed, {model_name}), "
            f"so about {_duration(total)} for {len(scan.photos):,} photos, plus inserting into Milvus. "
            "Photos indexed before are skipped, so a later run takes less.")


def _duration(seconds: float) -> str:
    """Seconds as "45 s", "12 min" or "2.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    sys.exit(main())
