"""Turn many photos into vectors, fast: the batched pipeline (introduced in notebook 02).

`embed_images` gives the same vectors as the blog's per-image `models.FeatureExtractor`, for many images,
in batches. On a CPU, one thread per core decodes a batch and runs the model on it (ONNX Runtime by default:
about twice as fast as torch there); on a GPU, DataLoader processes decode while the GPU runs the model with
mixed precision. Unreadable files are skipped and reported. Vectors of unchanged files come from the `cache`.

With a CLIP model, `embed_text` puts words into the same space as the photos (search by words, notebook 04),
and `mix_queries` blends a photo and words into one query.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from helpers import cache, data, models, onnx_export


@dataclass
class EmbeddingResult:
    """Unit vectors for the images that could be read, and the ones that could not (with the reason)."""

    image_paths: list[Path]
    embeddings: np.ndarray  # (n, dim) float32, one unit-length row per image of image_paths
    skipped: list[tuple[Path, str]]  # (path, reason) for each file that could not be read
    model_name: str

    def __len__(self) -> int:
        return len(self.image_paths)


@functools.lru_cache(maxsize=2)
def _extractor(model_name: str) -> models.FeatureExtractor:
    return models.FeatureExtractor(model_name)


def embed_image(path: Path | str, model_name: str | None = None) -> np.ndarray:
    """One image's unit vector, with the blog's per-image extractor (notebook 02); raises data.ImageLoadError."""
    return _extractor(models.resolve_model_name(model_name))(path)


def embed_images(image_paths: Sequence[Path | str], model_name: str | None = None, *, backend: str | None = None,
                 batch_size: int = 32, progress: bool = True, use_cache: bool = True) -> EmbeddingResult:
    """Unit vectors for many images, in batches, reusing cached vectors of unchanged files (notebook 02).

    Files that cannot be read are left out of the result and listed in `skipped` with the reason.
    """
    model_name, backend = models.resolve_model_name(model_name), models.resolve_backend(backend)
    image_paths = [Path(p) for p in image_paths]
    keys = [cache.file_key(p) for p in image_paths]
    stored = cache.load(cache.cache_path(model_name, backend)) if use_cache else {}
    vectors = [stored.get(key) if key else None for key in keys]
    todo = [i for i, v in enumerate(vectors) if v is None]
    computed, skipped = _embed_uncached([image_paths[i] for i in todo], model_name, backend, batch_size, progress)
    for j, vector in computed.items():
        vectors[todo[j]] = vector
        if keys[todo[j]]:
            stored[keys[todo[j]]] = vector
    if use_cache and computed and stored:
        cache.save(cache.cache_path(model_name, backend), stored)
    kept = [i for i, v in enumerate(vectors) if v is not None]
    dim = models.embedding_dim(model_name)
    stacked = np.stack([vectors[i] for i in kept]) if kept else np.empty((0, dim), np.float32)
    return EmbeddingResult([image_paths[i] for i in kept], stacked.astype(np.float32), skipped, model_name)


def normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32), so that a dot product is the cosine similarity (notebook 02)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    return embeddings / np.maximum(np.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)


def load_backend(model_name: str | None = None, backend: str | None = None) -> Callable[[torch.Tensor], np.ndarray]:
    """The model's forward pass: a preprocessed batch (n, 3, H, W) in, raw features (n, dim) out (notebook 02).

    torch runs channels-last on the best device, with mixed precision on a GPU; onnx runs the exported model
    with ONNX Runtime on the CPU; onnx-int8 runs its int8-quantised version (faster, slightly different vectors).
    """
    model_name, backend = models.resolve_model_name(model_name), models.resolve_backend(backend)
    if backend.startswith("onnx"):
        return onnx_export.onnx_runner(model_name, int8=backend == "onnx-int8")
    device = models.pick_device()
    model = _device_model(model_name, models.MODELS[model_name], device.type)

    def run_model(batch: torch.Tensor) -> np.ndarray:
        batch = batch.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(device.type, enabled=device.type != "cpu"):
            return model(batch).float().cpu().numpy()

    return run_model


@functools.lru_cache(maxsize=4)
def _device_model(model_name: str, spec: models.ModelSpec, device_type: str) -> torch.nn.Module:
    """A copy of the feature model on the device, channels-last (the CPU original stays as the blog's).

    `spec` is part of the cache key: a model replaced under the same name is copied anew.
    """
    return copy.deepcopy(models.load_model(model_name)).to(device_type, memory_format=torch.channels_last)


# ---- words: text queries in the photos' space (a CLIP model) -----------------------------------------------

class QueryTruncatedWarning(UserWarning):
    """A text query was longer than the text tower reads (77 tokens for CLIP): only its start was used."""


def can_embed_text(model_name: str | None = None) -> bool:
    """True when the model (default: MODEL_NAME) can embed words: a CLIP model (notebook 04)."""
    return models.has_text_tower(model_name)


def embed_text(texts: str | Sequence[str], model_name: str | None = None) -> np.ndarray:
    """Unit vectors for text queries, in the same space as the model's photo vectors (notebook 04).

    One text gives one vector (1-D), several give one row each (2-D), as `store.search_similar` takes them.
    An empty text raises ValueError; a text longer than CLIP reads (77 tokens, about 50-60 words) is cut
    to its start, with a QueryTruncatedWarning that says so. A model without a text tower (resnet50,
    efficientnet_lite0) raises models.NoTextTowerError, which says how to switch to CLIP.
    """
    queries = [texts] if isinstance(texts, str) else list(texts)
    if not queries or any(not isinstance(q, str) or not q.strip() for q in queries):
        raise ValueError(f"Cannot search for {texts!r}: give words that describe the photo you want, "
                         'for example "a dog running on a beach".')
    model_name = models.resolve_model_name(model_name)
    features, needed = models.encode_text(queries, model_name)
    limit = models.text_context_length(model_name)
    for query, n_tokens in zip(queries, needed):
        if n_tokens > limit:
            warnings.warn(QueryTruncatedWarning(
                f"The query {_shorten(query)!r} is {n_tokens} tokens long, but {model_name} reads only "
                f"{limit}: the words after about the first {limit - 2} tokens were left out. Put what matters "
                "first, or shorten the query."), stacklevel=2)
    vectors = normalize(features)
    return vectors[0] if isinstance(texts, str) else vectors


def _shorten(text: str, length: int = 60) -> str:
    return text if len(text) <= length else text[:length - 3] + "..."


def mix_queries(image_embedding: np.ndarray, text_embedding: np.ndarray,
                text_weight: float = 0.5) -> np.ndarray:
    """One query from a photo and words: their weighted sum, at unit length (notebook 04).

    text_weight 0 is the photo alone, 1 the words alone; both vectors must come from the same CLIP model.
    """
    image_embedding, text_embedding = normalize(image_embedding), normalize(text_embedding)
    if image_embedding.shape != text_embedding.shape:
        raise ValueError(f"The photo's vector {image_embedding.shape} and the words' {text_embedding.shape} "
                         "differ: embed both with the same CLIP model.")
    if not 0 <= text_weight <= 1:
        raise ValueError(f"text_weight must be between 0 (the photo alone) and 1 (the words alone), "
                         f"not {text_weight}.")
    mixed = (1 - text_weight) * image_embedding + text_weight * text_embedding
    if np.any(np.linalg.norm(mixed, axis=-1) < 1e-6):
        raise ValueError("The photo and the words cancel out at this weight: change text_weight.")
    return normalize(mixed)


# ---- the batched pipeline ---------------------------------------------------------------------------------------

class _ImageFiles(TorchDataset):
    """Decode and preprocess image i; a file that cannot be read gives its reason instead of a tensor."""

    def __init__(self, image_paths: list[Path], transform: Callable, min_side: int | None = None):
        self.image_paths, self.transform, self.min_side = image_paths, transform, min_side

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return i, self.transform(data.load_image(self.image_paths[i], min_side=self.min_side)), ""
        except data.ImageLoadError as err:
            return i, None, str(err)


def _collate(items: list[tuple[int, torch.Tensor | None, str]]) -> tuple[list[int], torch.Tensor | None, list]:
    """Stack the good images of a batch; keep (index, reason) for the bad ones."""
    good = [(i, x) for i, x, _ in items if x is not None]
    failures = [(i, reason) for i, x, reason in items if x is None]
    return [i for i, _ in good], torch.stack([x for _, x in good]) if good else None, failures


def _num_workers(n_images: int, batch_size: int) -> int:
    """Decoding processes: none for a batch or two (starting them costs more), else up to 8, leaving a core free."""
    if n_images <= 2 * batch_size:
        return 0
    return max(1, min(8, (os.cpu_count() or 1) - 1))


def _embed_uncached(image_paths: list[Path], model_name: str, backend: str, batch_size: int,
                    progress: bool) -> tuple[dict[int, np.ndarray], list[tuple[Path, str]]]:
    """Run the model over the images: {position in image_paths: unit vector}, and the skipped (path, reason)."""
    if not image_paths:
        return {}, []
    from tqdm.auto import tqdm

    files = _ImageFiles(image_paths, models.load_transform(model_name), models.decode_side(model_name))
    on_gpu = backend == "torch" and models.pick_device().type != "cpu"
    run_batches = _run_with_workers if on_gpu else _run_in_threads
    vectors, skipped = {}, []
    with tqdm(total=len(files), desc=f"{model_name} ({backend})", unit="img", disable=not progress) as bar:
        for indices, features, failures in run_batches(files, model_name, backend, batch_size):
            if indices:
                vectors.update(zip(indices, normalize(features), strict=True))
            skipped += [(image_paths[i], reason) for i, reason in failures]
            bar.update(len(indices) + len(failures))
    return vectors, skipped


Batches = Iterator[tuple[list[int], np.ndarray | None, list[tuple[int, str]]]]  # (indices, features, failures)


def _run_with_workers(files: _ImageFiles, model_name: str, backend: str, batch_size: int) -> Batches:
    """On a GPU: DataLoader processes decode the next batches on the CPU while the GPU runs the model."""
    run_model = load_backend(model_name, backend)
    loader = DataLoader(files, batch_size=batch_size, collate_fn=_collate,
                        pin_memory=models.pick_device().type == "cuda",
                        num_workers=_num_workers(len(files), batch_size))
    for indices, batch, failures in loader:
        yield indices, run_model(batch) if indices else None, failures


def _run_in_threads(files: _ImageFiles, model_name: str, backend: str, batch_size: int) -> Batches:
    """On a CPU: one thread per core decodes a batch, then runs the model on it on that core alone.

    Every core is busy all the time and none is shared, so decoding costs only its own CPU time; a separate
    decoding process would instead slow down the model's threads, which wait for each other at every layer.
    """
    n_threads = _cpu_cores()
    run_model = onnx_export.onnx_runner(model_name, backend == "onnx-int8", threads=1) \
        if backend.startswith("onnx") else load_backend(model_name, backend)  # torch: one thread per call, below
    n_batches = -(-len(files) // batch_size)
    n_batches = -(-n_batches // n_threads) * n_threads  # a multiple of the threads, so that no core idles at the end
    batches = [b for b in np.array_split(np.arange(len(files)), n_batches) if len(b)]

    def run_batch(batch: np.ndarray) -> tuple[list[int], np.ndarray | None, list[tuple[int, str]]]:
        indices, images, failures = _collate([files[int(i)] for i in batch])
        return indices, run_model(images) if indices else None, failures

    with _single_threaded_torch(), ThreadPoolExecutor(n_threads) as pool:
        yield from pool.map(run_batch, batches)


def _cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def _single_threaded_torch() -> Iterator[None]:
    """Run torch's small preprocessing ops (to tensor, normalise) without its thread pool, which would oversubscribe."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
