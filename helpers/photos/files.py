"""Write files safely: every file appears complete, or not at all (used by every helper that saves).

A file is written to a hidden temporary file in the same folder, flushed to disk (fsync) and then
renamed over its final name (`os.replace`, atomic on one disk). A crash, a full disk or a stopped
kernel therefore never leaves half a file behind, and an older version stays intact until the new
one is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside `path` for a writer (np.savez, an exporter) to fill; moved into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(contents: Mapping[Path, bytes]) -> None:
    """Write several files so that all of them appear complete, or none does; the last one appears last.

    Every file is first written in full to a temporary file; only then are they renamed into place, in
    order. If a rename fails, the files already renamed are removed again.
    """
    temps: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for path, content in contents.items():
            temps[Path(path)] = _write_temp(Path(path).parent, content)
        for path, tmp in temps.items():
            os.replace(tmp, path)
            placed.append(path)
        for folder in {path.parent for path in placed}:
            _fsync_folder(folder)
    except BaseException:
        for path in (*temps.values(), *placed):
            path.unlink(missing_ok=True)
        raise


def _write_temp(folder: Path, content: bytes) -> Path:
    """Write `content` to a hidden temporary file in `folder` (same disk, so os.replace is atomic), synced."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", delete=False) as f:
        path = Path(f.name)
        try:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return path


def _fsync_file(path: Path) -> None:
    """Flush a finished file's data to disk before it is renamed into place."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the system supports syncing folders)."""
    with contextlib.suppress(OSError):  # Windows cannot open a folder; the rename is still atomic there
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
