"""Start the tutorial afresh: remove what the notebooks computed, keep the photos and any offline bundle.

`reset_learner_state()` removes the Milvus Lite database, the embedding cache, the ONNX exports, and the saved
figures and comics, and returns what it removed (with `dry_run=True`: what it would remove). It never removes
the sample dataset, a DATASET_SOURCE copy or an offline bundle (a folder with a manifest.json, as
tools/make_bundle.py builds), even when one lies inside a folder it would clear. `make reset` and
`python -m helpers.commands.reset [--dry-run]` call it. A Milvus server (MILVUS_URI) is not touched.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from helpers import config

BUNDLE_MARKER = "manifest.json"  # what tools/make_bundle.py writes at the top of an offline bundle


def reset_targets(settings: config.Settings) -> list[Path]:
    """What a reset clears, present or not: Milvus Lite database, cache, exports, figures, comics, old downloads."""
    targets = [settings.milvus_lite_path] if settings.uses_milvus_lite else []
    targets += [settings.data_dir / "cache", settings.data_dir / "models",
                settings.output_dir / "figures", settings.output_dir / "comics"]
    return targets + sorted(settings.data_dir.glob(".download-*"))  # left by a download that was stopped


def protected_paths(settings: config.Settings, targets: list[Path]) -> list[Path]:
    """What a reset keeps: the dataset folder, DATASET_SOURCE, and any offline bundle found inside a target."""
    protected = [settings.dataset_dir]
    if settings.dataset_source:
        protected.append(Path(settings.dataset_source).expanduser().resolve())
    for target in targets:
        if target.is_dir() and target != settings.milvus_lite_path:  # Milvus Lite keeps its own manifest.json
            protected += [marker.parent for marker in target.rglob(BUNDLE_MARKER)]
    return protected


def _overlaps(path: Path, other: Path) -> bool:
    """True when one path is the other or lies inside it."""
    return path == other or path in other.parents or other in path.parents


def planned_removals(settings: config.Settings | None = None) -> tuple[list[Path], list[Path]]:
    """(what a reset would remove, what it keeps although it is a target because it holds protected files)."""
    settings = settings or config.load_settings()
    targets = [t for t in reset_targets(settings) if t.exists() or t.is_symlink()]
    protected = protected_paths(settings, targets)
    kept = [t for t in targets if any(_overlaps(t, p) for p in protected)]
    return [t for t in targets if t not in kept], kept


def _check_database_free(path: Path) -> None:
    """Raise database.DatabaseLockedError (which says what to do) when another process has the database open."""
    from helpers.collection import database

    database.release_database(database.connect(str(path)))


def reset_learner_state(settings: config.Settings | None = None, dry_run: bool = False) -> list[Path]:
    """Remove the database, caches, exports, figures and comics; returns what was (or, dry_run, would be) removed.

    Run it with the other notebooks' kernels shut down: a Milvus Lite database that another kernel holds
    raises `database.DatabaseLockedError` and nothing is removed.
    """
    settings = settings or config.load_settings()
    removals, _ = planned_removals(settings)
    if dry_run:
        return removals
    if settings.uses_milvus_lite and settings.milvus_lite_path in removals:
        _check_database_free(settings.milvus_lite_path)
    for path in removals:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removals


def main(argv: list[str] | None = None) -> int:
    """`python -m helpers.commands.reset [--dry-run]`: reset and list what was removed and what was kept."""
    parser = argparse.ArgumentParser(description="Return the tutorial to a clean state (dataset and bundle kept).")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    args = parser.parse_args(argv)
    try:  # a MILVUS_URI that is no address, a folder setting that names a file: one line, not a traceback
        settings = config.load_settings()
        from helpers.collection import database
    except config.SettingsError as err:
        print(f"Nothing removed. {err}", file=sys.stderr)
        return 2
    _, kept = planned_removals(settings)
    try:
        removed = reset_learner_state(settings, dry_run=args.dry_run)
    except database.DatabaseLockedError as err:
        print(f"Nothing removed. {err}", file=sys.stderr)
        return 1
    verb = "Would remove" if args.dry_run else "Removed"
    print("\n".join([f"{verb}: {path}" for path in removed] or ["Nothing to remove: already clean."]))
    for path in kept:
        print(f"Kept (holds the dataset or a bundle): {path}")
    print(f"Kept: the dataset ({settings.dataset_dir}) and any offline bundle.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
