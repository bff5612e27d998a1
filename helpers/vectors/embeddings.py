"""Turn many photos into vectors, fast: the batched pipeline (introduced in notebook 02).

`embed_images` gives the same vectors as the blog's per-image `models.FeatureExtractor`, for many images,
in batches. On a CPU, one thread per core decodes a batch and runs the model on it (ONNX Runtime by default:
about twice as fast as torch there); on a GPU, DataLoader processes (one per core) read the photos while the GPU
decodes the JPEGs (`gpu_decode`) and runs the model with mixed precision. Unreadable files are skipped and reported.
Vectors of unchanged files come from the `cache`. `embed_in_batches` hands the vectors over batch by batch, so
that `collection.indexing` stores one round while the next is computed.

With a CLIP model, `embed_text` puts words into the same space as the photos (search by words, notebook 04),
and `mix_queries` blends a photo and words into one query.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from helpers.photos import data, photo_info
from helpers.vectors import cache, gpu_decode, models, onnx_export


@dataclass
class EmbeddingResult:
    """Unit vectors for the images that could be read, and the ones that could not (with the reason)."""

    image_paths: list[Path]
    embeddings: np.ndarray  # (n, dim) float32, one unit-length row per image of image_paths
    skipped: list[tuple[Path, str]]  # (path, reason) for each file that could not be read
    model_name: str
    features: np.ndarray | None = None  # keep_features=True: the pooled features before normalisation (for tags)

    def __len__(self) -> int:
        return len(self.image_paths)


@functools.lru_cache(maxsize=2)
def _extractor(model_name: str) -> models.FeatureExtractor:
    return models.FeatureExtractor(model_name)


def embed_image(path: Path | str, model_name: str | None = None) -> np.ndarray:
    """One image's unit vector, with the blog's per-image extractor (notebook 02); raises data.ImageLoadError."""
    return _extractor(models.resolve_model_name(model_name))(path)


@dataclass
class EmbeddedBatch:
    """Vectors of some of the images given to `embed_in_batches`, by their positions in that list."""

    positions: list[int]  # positions in image_paths of the images embedded, in the order of the rows below
    embeddings: np.ndarray  # (n, dim) float32, unit length
    skipped: list[tuple[int, str]]  # (position, reason) for each file that could not be used
    features: np.ndarray | None = None  # keep_features=True: the pooled features before normalisation
    descriptions: list | None = None  # describe=...: what it returned for each embedded image, in the same order

    @property
    def attempted(self) -> int:
        """How many files this batch accounts for: embedded or skipped."""
        return len(self.positions) + len(self.skipped)


def embed_images(image_paths: Sequence[Path | str] | Path | str, model_name: str | None = None, *,
                 backend: str | None = None, batch_size: int | None = None, progress: bool = True,
                 use_cache: bool = True,
                 keep_features: bool = False) -> EmbeddingResult:
    """Unit vectors for many images, in batches, reusing cached vectors of unchanged files (notebook 02).

    Files that cannot be read are left out of the result and listed in `skipped` with the reason. batch_size:
    photos per batch, by default 32 (GPU_BATCH_SIZE on a CUDA GPU, where larger batches decode faster).
    One path (a str or Path) is one image. keep_features=True also returns the features before normalisation
    (the input of the model's classifier, for `tags`); a cached vector has lost its length, so then every image
    is computed (and the cache updated).
    """
    model_name = models.resolve_model_name(model_name)
    one = isinstance(image_paths, (str, os.PathLike))  # one photo, not one per letter of its name
    image_paths = [data.text_to_path(p) for p in ([image_paths] if one else image_paths)]  # a search result's too
    vectors, features, skipped = {}, {}, {}
    for batch in embed_in_batches(image_paths, model_name, backend=backend, batch_size=batch_size,
                                  progress=progress, use_cache=use_cache, keep_features=keep_features):
        vectors.update(zip(batch.positions, batch.embeddings))
        features.update(zip(batch.positions, batch.features if keep_features else []))
        skipped.update(batch.skipped)
    kept = sorted(vectors)
    dim = models.embedding_dim(model_name)
    stacked = np.stack([vectors[i] for i in kept]) if kept else np.empty((0, dim), np.float32)
    raw = None
    if keep_features:  # every kept image was computed in this call
        raw = np.stack([features[i] for i in kept]).astype(np.float32) if kept else np.empty((0, dim), np.float32)
    return EmbeddingResult([image_paths[i] for i in kept], stacked.astype(np.float32),
                           [(image_paths[i], skipped[i]) for i in sorted(skipped)], model_name, raw)


def embed_in_batches(image_paths: Sequence[Path | str], model_name: str | None = None, *,
                     backend: str | None = None, batch_size: int | None = None, progress: bool = False,
                     use_cache: bool = True, keep_features: bool = False,
                     describe: Callable[[Path], object] | None = None) -> Iterator[EmbeddedBatch]:
    """`embed_images` batch by batch, as they are computed: `collection.indexing` stores each while the next runs.

    Cached vectors come first, in one batch. describe: a function of the path (photo_info.read_photo, say),
    called where the photo is read (in the decoding workers on a GPU), its results in `descriptions`; a
    photo_info.PhotoReadError skips the photo with its reason. The cache is written when the last batch is done.
    """
    model_name, backend = models.resolve_model_name(model_name), models.resolve_backend(backend)
    image_paths = [Path(p) for p in image_paths]
    keys = [cache.file_key(p) for p in image_paths]
    stored = cache.load(cache.cache_path(model_name, backend)) if use_cache else {}
    hits = [i for i, key in enumerate(keys) if key and not keep_features and stored.get(key) is not None]
    if hits:
        yield _cached_batch(hits, [stored[keys[i]] for i in hits], image_paths, describe)
    hit_set = set(hits)
    todo = [i for i in range(len(image_paths)) if i not in hit_set]
    from tqdm.auto import tqdm

    computed = False
    with tqdm(total=len(todo), desc=f"{model_name} ({backend})", unit="img", disable=not progress or not todo) as bar:
        for done in _embed_uncached([image_paths[i] for i in todo], model_name, backend,
                                    batch_size or _default_batch_size(backend), describe):
            batch = _embedded_batch(done, todo, keep_features, describe is not None)
            for position, vector in zip(batch.positions, batch.embeddings):
                if keys[position]:
                    stored[keys[position]] = vector
            computed = computed or bool(batch.positions)
            bar.update(batch.attempted)
            yield batch
    if use_cache and computed and stored:
        cache.save(cache.cache_path(model_name, backend), stored)


def _default_batch_size(backend: str) -> int:
    """32 photos per batch; GPU_BATCH_SIZE with torch on a CUDA GPU (nvJPEG and the model like larger batches)."""
    return GPU_BATCH_SIZE if backend == "torch" and models.pick_device().type == "cuda" else 32


def _cached_batch(positions: list[int], vectors: list[np.ndarray], image_paths: list[Path],
                  describe: Callable[[Path], object] | None) -> EmbeddedBatch:
    """The batch of cached vectors, described here (their photos are not decoded)."""
    kept, descriptions, skipped = [], [], []
    for position, vector in zip(positions, vectors):
        info, reason = describe_photo(describe, image_paths[position])
        if reason:
            skipped.append((position, reason))
        else:
            kept.append((position, vector))
            descriptions.append(info)
    dim = len(vectors[0])
    stacked = np.stack([v for _, v in kept]).astype(np.float32) if kept else np.empty((0, dim), np.float32)
    return EmbeddedBatch([p for p, _ in kept], stacked, skipped, None, descriptions if describe else None)


def _embedded_batch(done: _Embedded, todo: list[int], keep_features: bool, described: bool) -> EmbeddedBatch:
    """A pipeline batch as an EmbeddedBatch: positions in the caller's list, unit vectors, features if asked."""
    raw = np.asarray(done.features, np.float32) if done.indices else np.empty((0, 0), np.float32)
    return EmbeddedBatch([todo[i] for i in done.indices], normalize(raw) if done.indices else raw,
                         [(todo[i], reason) for i, reason in done.failures], raw if keep_features else None,
                         [done.infos[i] for i in done.indices] if described else None)


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

GPU_JPEG_DECODE = True  # on a CUDA GPU, decode JPEGs there (gpu_decode); False: every photo on the CPU
GPU_DECODE_THREADS = 2  # batches decoded on the GPU at once, while the model runs on the one before
GPU_BATCH_SIZE = 128  # photos per batch on a CUDA GPU unless a batch_size is given
CPU_JPEG_SHARE: float | None = None  # JPEGs the workers decode on the CPU beside the GPU; None: from the cores
MIN_IMAGES_FOR_WORKERS = 32  # fewer images are decoded in the main process: starting processes would cost more


class _Item(NamedTuple):
    """One file as a worker hands it over: a preprocessed image, or a JPEG's bytes for the GPU, or the reason."""

    index: int
    image: torch.Tensor | None
    jpeg: gpu_decode.JpegBytes | None
    reason: str  # "" unless the file could not be used
    info: object = None  # what `describe` returned for it


class _Chunk(NamedTuple):
    """Several items collated in a worker: the images stacked, the JPEGs packed into one tensor."""

    indices: list[int]
    images: torch.Tensor | None
    jpeg_indices: list[int]
    jpegs: gpu_decode.JpegBatch | None
    failures: list[tuple[int, str]]
    infos: dict[int, object]


class _Embedded(NamedTuple):
    """A batch through the model: raw features of the images at `indices`, the failures, the descriptions."""

    indices: list[int]
    features: np.ndarray | None
    failures: list[tuple[int, str]]
    infos: dict[int, object]


class _ImageFiles(TorchDataset):
    """Decode and preprocess image i (or read a JPEG's bytes for the GPU); a file that cannot be used gives its reason.

    describe: an optional function of the path (a picklable one, such as photo_info.read_photo), called where the
    photo is read, in the worker process or thread; a photo_info.PhotoReadError skips the photo with its reason.
    """

    def __init__(self, image_paths: list[Path], transform: Callable, min_side: int | None = None,
                 thumbnail_side: int | None = None, *, describe: Callable[[Path], object] | None = None,
                 gpu_jpeg: bool = False, cpu_share: float = 0.0):
        self.image_paths, self.transform, self.min_side = image_paths, transform, min_side
        self.thumbnail_side = thumbnail_side  # HEIC: its embedded thumbnail from this side up (models.thumbnail_side)
        self.describe, self.gpu_jpeg = describe, gpu_jpeg
        self.cpu_share = cpu_share  # with gpu_jpeg: this share of the JPEGs is decoded here all the same

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, i: int) -> _Item:
        on_cpu = int((i + 1) * self.cpu_share) > int(i * self.cpu_share)  # spread evenly: every 4th for 0.25
        jpeg = gpu_decode.read_jpeg(self.image_paths[i], self.min_side) if self.gpu_jpeg and not on_cpu else None
        image = None
        if jpeg is None:
            try:
                image = self.decode(i)
            except data.ImageLoadError as err:
                return _Item(i, None, None, str(err))
        info, reason = describe_photo(self.describe, self.image_paths[i])
        return _Item(i, None, None, reason) if reason else _Item(i, image, jpeg, "", info)

    def decode(self, i: int) -> torch.Tensor:
        """Image i decoded and preprocessed on the CPU; raises data.ImageLoadError."""
        image = data.load_image(self.image_paths[i], min_side=self.min_side, thumbnail_side=self.thumbnail_side)
        return self.transform(image)


def describe_photo(describe: Callable[[Path], object] | None, path: Path) -> tuple[object, str]:
    """(describe(path), "") or, when the photo's header cannot be read, (None, the reason)."""
    if describe is None:
        return None, ""
    try:
        return describe(path), ""
    except photo_info.PhotoReadError as err:  # it disappeared or changed since it was decoded
        return None, err.reason


def _collate(items: list[_Item]) -> _Chunk:
    """Stack the decoded images, pack the JPEGs for the GPU; keep (index, reason) for the bad files."""
    decoded = [item for item in items if item.image is not None]
    jpegs = [item for item in items if item.jpeg is not None]
    return _Chunk([item.index for item in decoded], torch.stack([item.image for item in decoded]) if decoded else None,
                  [item.index for item in jpegs], gpu_decode.pack([item.jpeg for item in jpegs]) if jpegs else None,
                  [(item.index, item.reason) for item in items if item.reason],
                  {item.index: item.info for item in items if not item.reason})


def _num_workers(n_images: int) -> int:
    """Decoding processes: one per core but one (the GPU's feeder), unless the images are too few to be worth it.

    The batch size plays no part: `_chunk_size` gives each worker a share of a batch.
    """
    return 0 if n_images < MIN_IMAGES_FOR_WORKERS else max(1, _cpu_cores() - 1)


def _cpu_share(workers: int) -> float:
    """The share of JPEGs the workers decode on the CPU beside the GPU (CPU_JPEG_SHARE, else from their number).

    A worker decodes about 25 phone JPEGs a second, nvJPEG about 700 on a large GPU: with 15 workers a quarter
    of the photos go faster on the CPU than waiting for the GPU; with a few cores, none.
    """
    if CPU_JPEG_SHARE is not None:
        return CPU_JPEG_SHARE
    return 0.0 if workers < 8 else round(workers * 25 / (workers * 25 + 1000), 2)


def _chunk_size(n_images: int, batch_size: int, workers: int) -> int:
    """Images per worker task: at most a batch, and small enough that every worker gets at least two."""
    return max(1, min(batch_size, n_images // max(1, 2 * workers)))


def _worker_context(workers: int) -> dict:
    """DataLoader options that start workers without forking this process, where the system can.

    A fork copies a process with Milvus Lite's gRPC threads running (gRPC then prints "Other threads are
    currently calling into gRPC, skipping fork() handlers" for every worker) and risks a deadlock; a fork server
    that has imported only this module starts workers quickly and cleanly, once per run.
    """
    if not workers or "forkserver" not in multiprocessing.get_all_start_methods():
        return {}  # none, or Windows and macOS, which start workers with spawn already
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # read when the fork server starts: the first run of the process
    return {"multiprocessing_context": context}


def _embed_uncached(image_paths: list[Path], model_name: str, backend: str, batch_size: int,
                    describe: Callable[[Path], object] | None = None) -> Iterator[_Embedded]:
    """Run the model over the images, batch by batch: raw features by position in image_paths, and the failures."""
    if not image_paths:
        return
    device = models.pick_device()
    transform = models.load_transform(model_name)
    on_gpu = backend == "torch" and device.type != "cpu"
    preprocess = gpu_decode.TensorPreprocess.from_transform(transform) if on_gpu and device.type == "cuda" \
        and GPU_JPEG_DECODE else None
    files = _ImageFiles(image_paths, transform, models.decode_side(model_name), models.thumbnail_side(model_name),
                        describe=describe, gpu_jpeg=preprocess is not None,
                        cpu_share=_cpu_share(_num_workers(len(image_paths))) if preprocess else 0.0)
    if on_gpu:
        yield from _run_with_workers(files, model_name, backend, batch_size, preprocess=preprocess)
    else:
        yield from _run_in_threads(files, model_name, backend, batch_size)


def _run_with_workers(files: _ImageFiles, model_name: str, backend: str, batch_size: int, *,
                      preprocess: gpu_decode.TensorPreprocess | None = None,
                      decode: gpu_decode.Decoder | None = None) -> Iterator[_Embedded]:
    """On a GPU: worker processes (one per core) read and decode the next batches while the GPU runs the model.

    With `preprocess` (CUDA), the workers hand over most JPEGs undecoded and GPU_DECODE_THREADS threads decode
    them on the GPU (`gpu_decode`; `decode` replaces its decoder in tests) while this thread runs the model on
    the batch before; other files, and a share of the JPEGs (`_cpu_share`), are decoded by the workers.
    """
    run_model = load_backend(model_name, backend)
    device = models.pick_device()
    workers = _num_workers(len(files))
    loader = DataLoader(files, batch_size=_chunk_size(len(files), batch_size, workers), collate_fn=_collate,
                        num_workers=workers, **_worker_context(workers))
    with ThreadPoolExecutor(max(1, GPU_DECODE_THREADS), thread_name_prefix="gpu-decode") as pool:
        pending: collections.deque = collections.deque()
        for chunks in _batches_of(loader, batch_size):
            pending.append(pool.submit(_gather, chunks, files, preprocess, device, decode))
            if len(pending) >= max(1, GPU_DECODE_THREADS):
                yield _run_gathered(pending.popleft().result(), run_model, device)
        while pending:
            yield _run_gathered(pending.popleft().result(), run_model, device)


def _run_gathered(gathered: tuple[list[int], list, list, dict], run_model: Callable,
                  device: torch.device) -> _Embedded:
    """The model on a gathered batch."""
    indices, images, failures, infos = gathered
    features = run_model(torch.cat([x.to(device) for x in images])) if indices else None
    return _Embedded(indices, features, failures, {i: infos[i] for i in indices})


def _batches_of(chunks: Iterable[_Chunk], batch_size: int) -> Iterator[list[_Chunk]]:
    """The workers' chunks grouped into model batches of at least batch_size files (the last one smaller)."""
    group, count = [], 0
    for chunk in chunks:
        group.append(chunk)
        count += len(chunk.indices) + len(chunk.jpeg_indices) + len(chunk.failures)
        if count >= batch_size:
            yield group
            group, count = [], 0
    if group:
        yield group


def _gather(chunks: list[_Chunk], files: _ImageFiles, preprocess: gpu_decode.TensorPreprocess | None,
            device: torch.device, decode: gpu_decode.Decoder | None) -> tuple[list[int], list, list, dict]:
    """A batch's images (decoded by the workers, or JPEGs decoded now on the GPU), indices, failures, infos."""
    indices, images, failures, infos = [], [], [], {}
    jpeg_indices, jpegs = [], []
    for chunk in chunks:
        indices += chunk.indices
        images += [chunk.images] if chunk.images is not None else []
        failures += chunk.failures
        infos.update(chunk.infos)
        if chunk.jpegs is not None:
            jpeg_indices += chunk.jpeg_indices
            jpegs += gpu_decode.unpack(chunk.jpegs)
    if jpegs:
        prepared = gpu_decode.prepare_jpegs(jpegs, preprocess, device, decode)
        indices += [jpeg_indices[k] for k in prepared.positions]
        images += [prepared.images] if prepared.images is not None else []
        for k in prepared.rejected:  # the GPU decoder refused it: the CPU decodes it, or says why it cannot
            try:
                images.append(files.decode(jpeg_indices[k]).unsqueeze(0))
                indices.append(jpeg_indices[k])
            except data.ImageLoadError as err:
                failures.append((jpeg_indices[k], str(err)))
    return indices, images, failures, infos


def _run_in_threads(files: _ImageFiles, model_name: str, backend: str, batch_size: int) -> Iterator[_Embedded]:
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

    def run_batch(batch: np.ndarray) -> _Embedded:
        chunk = _collate([files[int(i)] for i in batch])
        features = run_model(chunk.images) if chunk.indices else None
        return _Embedded(chunk.indices, features, chunk.failures, chunk.infos)

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
