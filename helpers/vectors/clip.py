"""CLIP through open_clip: photos and words in one vector space (search by words, notebook 04).

`models` uses this module for the `clip-...` entries of `models.MODELS`:
- `load_clip` builds the open_clip model and CLIP's own preprocessing, once per process: pretrained weights
  by tag from the Hugging Face hub (downloaded the first time, then cached), or random weights (tests).
- `ImageTower` is its image encoder as a feature model, so the batched pipeline, the cache and the ONNX
  export treat it like any other model.
- `tokenize` and `encode_text` run the text tower. CLIP reads at most 77 tokens (about 50-60 English
  words): `tokenize` counts each text's tokens so that the caller can say which texts were cut.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch


class ImageTower(torch.nn.Module):
    """CLIP's image encoder: preprocessed images (n, 3, H, W) in, raw image embeddings (n, dim) out."""

    def __init__(self, clip_model: torch.nn.Module):
        super().__init__()
        self.visual = clip_model.visual
        self.num_features = int(clip_model.visual.output_dim)  # as timm models name their vector length

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)


@functools.lru_cache(maxsize=2)
def load_clip(architecture: str, pretrained: str | None) -> tuple[torch.nn.Module, Callable]:
    """The open_clip model (eval mode, CPU) and its preprocessing; pretrained=None gives random weights.

    A pretrained tag (for example "laion2b_s34b_b79k") downloads the weights from the Hugging Face hub the
    first time; a failed download raises open_clip's RuntimeError (models turns it into advice).
    """
    import open_clip

    if pretrained:
        model, _, transform = open_clip.create_model_and_transforms(architecture, pretrained=pretrained)
        return model.eval(), transform
    with torch.random.fork_rng(), _quiet_root_warnings():  # the same random weights in every run
        torch.manual_seed(0)
        model, _, transform = open_clip.create_model_and_transforms(architecture, pretrained=None)
    return model.eval(), transform


@contextlib.contextmanager
def _quiet_root_warnings() -> Iterator[None]:
    """Keep open_clip's "no pretrained weights loaded" (logged on the root logger) off the screen."""
    root = logging.getLogger()

    def quiet(record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()

    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def input_size(clip_model: torch.nn.Module) -> tuple[int, int, int]:
    """The (channels, height, width) of one preprocessed image."""
    height, width = _preprocess_size(clip_model)
    return 3, height, width


def decode_side(clip_model: torch.nn.Module) -> int:
    """The shorter side CLIP's preprocessing resizes to (then it crops the centre square)."""
    return max(_preprocess_size(clip_model))


def _preprocess_size(clip_model: torch.nn.Module) -> tuple[int, int]:
    import open_clip

    size = open_clip.get_model_preprocess_cfg(clip_model)["size"]
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@functools.lru_cache(maxsize=2)
def _tokenizer(architecture: str):  # -> open_clip's tokenizer (its vocabulary ships with the package)
    import open_clip

    return open_clip.get_tokenizer(architecture)


def context_length(architecture: str) -> int:
    """How many tokens the text tower reads, start and end marks included (77 for CLIP)."""
    return int(_tokenizer(architecture).context_length)


def tokenize(architecture: str, texts: Sequence[str]) -> tuple[torch.Tensor, list[int]]:
    """Token ids (n, context_length), cut where too long, and how many tokens each whole text needs."""
    tokenizer = _tokenizer(architecture)
    tokens = tokenizer(list(texts))
    if hasattr(tokenizer, "encode"):  # CLIP's BPE tokenizer: count the tokens before the cut
        needed = [len(tokenizer.encode(text)) + 2 for text in texts]  # + start and end marks
    else:  # another tokenizer: only what was kept can be counted
        needed = [int(n) for n in (tokens != 0).sum(dim=1)]
    return tokens, needed


def encode_text(clip_model: torch.nn.Module, tokens: torch.Tensor) -> np.ndarray:
    """The text tower's raw embeddings (n, dim) for token ids from `tokenize`."""
    with torch.inference_mode():
        return clip_model.encode_text(tokens).float().numpy()


def hub_files(architecture: str, pretrained: str) -> tuple[str, tuple[str, ...]]:
    """The Hugging Face repository of a pretrained tag and the weight files open_clip looks for there."""
    import open_clip

    repo_id = open_clip.get_pretrained_cfg(architecture, pretrained).get("hf_hub", "").rstrip("/")
    return repo_id, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def library_version() -> str:
    """open_clip's version ("open_clip 3.3.0"), part of a CLIP model's fingerprint."""
    import open_clip

    return f"open_clip {open_clip.__version__}"
