"""Index photos incrementally: embed and store only the ones Milvus does not hold yet (introduced in notebook 03).

`index_images` asks Milvus which of the paths are stored, then embeds and inserts the others in rounds
(embed a round, insert it). Each insert call is all-or-nothing, so a run stopped anywhere (a crash, a closed
laptop, even in the middle of an insert) and started again ends with every image stored exactly once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from pymilvus import MilvusClient
from tqdm.auto import tqdm

from helpers import config, embeddings, models, store

INDEX_ROUNDS = 20  # about 20 rounds (embed, then insert): a stopped run loses one round at most
MIN_ROUND_SIZE = 100  # images per round, at least


def index_images(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str],
                 labels: Sequence[str] | str, model_name: str | None = None, *, recreate: bool = False,
                 batch_size: int | None = None, progress: bool = True, **embed_kwargs) -> int:
    """Embed and insert only the images not stored yet; safe to stop and re-run; returns how many were added (nb 03).

    Works in rounds of `batch_size` images (embed, then insert); by default about 1/20 of the new images, at
    least 100. Extra keyword arguments go to `embeddings.embed_images` (for example `backend`).
    """
    model_name = model_name or config.load_settings().model_name
    labels = [labels] * len(image_paths) if isinstance(labels, str) else list(labels)
    if len(labels) != len(image_paths):
        raise ValueError(f"Got {len(labels)} labels for {len(image_paths)} images: give one label per image "
                         "(or one string for all).")
    label_of = dict(zip(map(store.path_key, image_paths), labels, strict=True))
    store.create_collection(client, collection_name, models.embedding_dim(model_name), model_name, recreate)
    todo = store.find_new_images(client, collection_name, list(label_of))
    round_size = batch_size or max(MIN_ROUND_SIZE, -(-len(todo) // INDEX_ROUNDS))
    added, skipped = 0, []
    with tqdm(total=len(todo), unit="img", desc=f"Indexing ({model_name})", disable=not progress or not todo) as bar:
        for start in range(0, len(todo), round_size):
            result = embeddings.embed_images(todo[start:start + round_size], model_name, progress=False,
                                             **embed_kwargs)
            paths = [store.path_key(p) for p in result.image_paths]
            added += store.insert_embeddings(client, collection_name, paths, [label_of[p] for p in paths],
                                             result.embeddings, result.model_name, progress=False, flush=False)
            skipped += list(result.skipped)
            bar.update(len(todo[start:start + round_size]))
    if added:
        store.flush_inserts(client, collection_name)
    if skipped:
        warnings.warn(f"{len(skipped)} image(s) could not be read and were not indexed, for example "
                      f"{skipped[0][0]}: {skipped[0][1]}", stacklevel=2)
    return added
