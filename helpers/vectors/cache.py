"""The embedding cache on disk: a photo's vector is computed once, until the file or the model changes (nb 02).

One `.npz` file per model (and per int8 calibration) under `<data_dir>/cache`, keyed by each photo's
absolute path, size and modification time: a changed or touched file is a miss and is embedded again.
Delete the file to start afresh; a damaged one is ignored with a warning and rebuilt.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np

from helpers import config
from helpers.photos import files
from helpers.vectors import models, onnx_export

FileKey = tuple[str, int, int]  # (absolute path, size in bytes, mtime in ns): a file is unchanged if all match


def file_key(path: Path) -> FileKey | None:
    """What identifies a file's content for the cache; None when it is missing or unreadable."""
    try:
        stat = path.stat()
    except OSError:  # missing or unreadable: the loader reports why
        return None
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def cache_path(model_name: str | None = None, backend: str | None = None) -> Path:
    """A model's embedding cache file under `<data_dir>/cache`; delete it to start afresh (notebook 02).

    torch and onnx give the same vectors and share it; onnx-int8 vectors differ slightly and have their own,
    one per calibration of the int8 model. HEIC_FULL_DECODE=1 has its own too (HEIC vectors from the full photo).
    """
    model_name, backend = models.resolve_model_name(model_name), models.resolve_backend(backend)
    int8 = f"-int8-{onnx_export.calibration_tag(model_name)}" if backend == "onnx-int8" else ""
    settings = config.load_settings()
    heic = "-heic-full" if settings.decodes_heic_in_full else ""
    name = f"embeddings-{model_name}-{models.fingerprint(model_name)}{int8}{heic}.npz"
    return settings.data_dir / "cache" / name


def load(path: Path) -> dict[FileKey, np.ndarray]:
    """The cached vectors, keyed by file (a changed size or mtime is a miss); empty when there is no cache."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            rows = zip(stored["paths"].tolist(), stored["sizes"].tolist(), stored["mtimes"].tolist(),
                       stored["embeddings"], strict=True)
            return {(p, s, m): v for p, s, m, v in rows}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        warnings.warn(f"Ignoring the damaged embedding cache {path} ({err}); it will be rebuilt.", stacklevel=3)
        return {}


def save(path: Path, vectors: dict[FileKey, np.ndarray]) -> None:
    """Write the cache atomically, keeping only the newest entry per file."""
    latest = {key[0]: (key, vector) for key, vector in vectors.items()}
    keys = [key for key, _ in latest.values()]
    with files.atomic_path(path) as tmp:
        np.savez(tmp, paths=np.array([k[0] for k in keys]), sizes=np.array([k[1] for k in keys], np.int64),
                 mtimes=np.array([k[2] for k in keys], np.int64),
                 embeddings=np.stack([v for _, v in latest.values()]).astype(np.float32))
