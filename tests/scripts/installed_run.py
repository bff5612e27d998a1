"""Run by tests/test_installed_mode.py inside a fresh virtual environment that holds the built wheel.

It does one small round of every step that writes a file (the dataset from DATASET_SOURCE, an embedding
cache, a Milvus Lite database, a figure, a saved comic) with the installed helpers and default folders, then
prints one line of JSON: where the helpers were imported from and where each file landed. It checks
nothing itself; the test does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

import helpers
from helpers import config
from helpers.collection import database, indexing
from helpers.comic import comics
from helpers.photos import data
from helpers.pictures import plots
from helpers.vectors import cache

N_PHOTOS = 8  # enough to write the cache and the database, few enough to stay quick


def tiny_png() -> bytes:
    """A small PNG standing in for a generated comic (no OpenAI call)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (250, 200, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def index_a_few_photos(dataset: data.Dataset, settings: config.Settings) -> int:
    """Embed (torch, so no ONNX export) and store a few training photos in the default Milvus Lite file."""
    client = database.connect()
    try:
        return indexing.index_images(client, settings.collection_name, dataset.train.image_paths[:N_PHOTOS],
                                     dataset.train.labels[:N_PHOTOS], backend="torch", progress=False)
    finally:
        database.release_database(client)


def main() -> dict[str, object]:
    """Write one file of each kind with the default settings; return where everything is."""
    settings = config.load_settings()
    dataset = data.load_dataset()
    indexed = index_a_few_photos(dataset, settings)
    figure = plots.save_figure(Image.new("RGB", (16, 16), (0, 120, 200)), "installed-mode")
    comic = comics.save_result(tiny_png(), {"prompt": "installed-mode test"})
    return {
        "helpers_file": helpers.__file__,
        "is_installed": config.is_installed(),
        "project_dir": str(config.project_dir()),
        "indexed": indexed,
        "files": {
            "dataset": str(dataset.root),
            "milvus_lite": str(settings.milvus_lite_path),
            "embedding_cache": str(cache.cache_path(backend="torch")),
            "figure": str(figure),
            "comic": str(comic.image_path),
            "comic_sidecar": str(Path(comic.image_path).with_suffix(".json")),
        },
    }


if __name__ == "__main__":
    print(json.dumps(main()))
