"""JPEG photos decoded on the GPU (nvJPEG), prepared as the CPU path prepares them (notebook 02).

On a CUDA GPU, the pipeline (`embeddings`) does not decode JPEGs on the CPU: its worker processes read each
file's bytes and header (`read_jpeg`), and the main process decodes a whole batch at once on the GPU
(`prepare_jpegs`), then does on the GPU what `photos.data.load_image` and the model's transform do on the CPU:
the reduced-size decode (libjpeg's 1/2, 1/4, 1/8 scaling, close to the mean of each 2x2, 4x4, 8x8 block), the
EXIF orientation (a quarter of phone photos are stored on their side), the resize, the centre crop and the
normalisation. So a photo gets nearly the same vector either way: cosine 0.9988-0.9993 for 12-MP photos in all
eight orientations (tests/test_gpu_pipeline.py), where the model's mixed precision alone gives 0.9999.
Other formats, unusual JPEGs (grey, CMYK, Adobe RGB) and files the GPU decoder rejects take the CPU path.

The decoder is TorchCodec's `decode_jpeg` where TorchCodec is installed (torchvision's image decoders are
deprecated from torchvision 0.29 on), else torchvision's; both decode a list of JPEGs in one nvJPEG call.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from PIL import Image

from helpers.photos import data

_ORIENTATION = 0x0112  # the EXIF tag
Decoder = Callable[[list[torch.Tensor], torch.device], list[torch.Tensor]]  # encoded bytes in, RGB uint8 out
GROUP_SIZE = 8  # full-size photos stacked at once on the GPU (8 x 36 MB for 12 MP): bounds the memory used


class JpegBytes(NamedTuple):
    """A JPEG's encoded bytes, read by a worker, and how to prepare it once decoded."""

    data: torch.Tensor  # uint8, 1-D: the file's bytes
    orientation: int  # EXIF orientation, 1 (upright) to 8
    reduce: int  # 1, 2, 4 or 8: the scale the CPU path decodes it at (Pillow's draft)


class JpegBatch(NamedTuple):
    """Several JpegBytes packed into one tensor, so that a worker hands them over in one piece."""

    data: torch.Tensor  # the files' bytes, one after the other
    sizes: list[int]
    orientations: list[int]
    reduces: list[int]


def read_jpeg(path: Path | str, min_side: int | None, max_pixels: int = data.MAX_IMAGE_PIXELS) -> JpegBytes | None:
    """A JPEG's bytes, orientation and decode scale, from its header; None for a file the GPU path leaves to the CPU.

    Only 3-channel (YCbCr) JPEGs go to the GPU; anything else, or a file that cannot be opened, returns None and
    the CPU path decodes it or reports why it cannot.
    """
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(f) as image:
                width, height = image.size
                if image.format != "JPEG" or image.mode != "RGB" or "adobe" in image.info \
                        or width * height > max_pixels:
                    return None
                orientation = image.getexif().get(_ORIENTATION, 1)
                reduce = _draft_scale(image, min_side)
            f.seek(0)
            raw = bytearray(f.read())
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    return JpegBytes(torch.frombuffer(raw, dtype=torch.uint8), orientation, reduce)


def _draft_scale(image: Image.Image, min_side: int | None) -> int:
    """The scale (1, 2, 4, 8) Pillow's draft decodes this JPEG at in `data.load_image(path, min_side)`."""
    if not min_side:
        return 1
    width, height = image.size
    scale = min_side / min(width, height)
    image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))  # only sets the decoder up
    return next((s for s in (8, 4, 2) if image.size == (-(-width // s), -(-height // s))), 1)


def pack(jpegs: Sequence[JpegBytes]) -> JpegBatch:
    """One tensor for several JPEGs (a worker's share of a batch)."""
    return JpegBatch(torch.cat([j.data for j in jpegs]), [len(j.data) for j in jpegs],
                     [j.orientation for j in jpegs], [j.reduce for j in jpegs])


def unpack(batch: JpegBatch) -> list[JpegBytes]:
    """The JPEGs of a packed batch again (views of its tensor, no copy)."""
    parts = torch.split(batch.data, batch.sizes)
    return [JpegBytes(*item) for item in zip(parts, batch.orientations, batch.reduces, strict=True)]


@dataclass(frozen=True)
class TensorPreprocess:
    """The model's preprocessing (resize, centre crop, to float, normalise) on uint8 image tensors, on any device."""

    size: list[int]
    interpolation: object  # torchvision's InterpolationMode
    max_size: int | None
    antialias: bool
    crop: list[int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_transform(cls, transform: Callable) -> TensorPreprocess | None:
        """The same steps as a torchvision Compose of Resize, CenterCrop, ToTensor, Normalize; None for others."""
        from torchvision import transforms as T

        steps = [s for s in getattr(transform, "transforms", [None])
                 if getattr(s, "__name__", "") != "_convert_to_rgb"]  # open_clip's: our images are RGB already
        kinds = [type(s).__name__.replace("MaybeToTensor", "ToTensor") for s in steps]
        if kinds != ["Resize", "CenterCrop", "ToTensor", "Normalize"] or not isinstance(steps[0], T.Resize):
            return None
        resize, crop, normalize = steps[0], steps[1], steps[3]
        size = [resize.size] if isinstance(resize.size, int) else list(resize.size)
        return cls(size, resize.interpolation, resize.max_size, resize.antialias is not False, list(crop.size),
                   tuple(float(v) for v in torch.as_tensor(normalize.mean).flatten()),
                   tuple(float(v) for v in torch.as_tensor(normalize.std).flatten()))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) uint8 in, (n, 3, crop) float32 out, as the CPU transform gives for each image."""
        from torchvision.transforms.v2 import functional as TF

        images = TF.resize(images, self.size, interpolation=self.interpolation, max_size=self.max_size,
                           antialias=self.antialias)
        images = TF.center_crop(images, self.crop).float().div_(255)
        return TF.normalize(images, list(self.mean), list(self.std))


class Prepared(NamedTuple):
    """What `prepare_jpegs` made of a batch."""

    positions: list[int]  # positions in the batch of the images in `images`, in that order
    images: torch.Tensor | None  # (n, 3, h, w) float32 on the device, ready for the model
    rejected: list[int]  # positions the decoder refused: decode them on the CPU


def prepare_jpegs(jpegs: Sequence[JpegBytes], preprocess: TensorPreprocess, device: torch.device | str,
                  decode: Decoder | None = None) -> Prepared:
    """Decode a batch of JPEGs on `device` and prepare them exactly as the CPU path does.

    `decode` defaults to nvJPEG (`jpeg_decoder()`); tests pass a stand-in. A batch the decoder refuses is
    decoded again one photo at a time, so that only the bad files are left to the CPU.
    """
    decoded = _decode_each(decode or jpeg_decoder(), [j.data for j in jpegs], torch.device(device))
    groups: dict[tuple, list[int]] = defaultdict(list)  # photos of one size and orientation are prepared together
    for k, image in enumerate(decoded):
        if image is not None:
            groups[(tuple(image.shape), jpegs[k].reduce, jpegs[k].orientation)].append(k)
    positions, prepared = [], []
    for (_, reduce, orientation), members in groups.items():
        for start in range(0, len(members), GROUP_SIZE):
            chunk = members[start:start + GROUP_SIZE]
            images = torch.stack([decoded[k] for k in chunk])
            prepared.append(preprocess(orient(reduce_like_draft(images, reduce), orientation)))
            positions += chunk
    rejected = [k for k, image in enumerate(decoded) if image is None]
    return Prepared(positions, torch.cat(prepared) if prepared else None, rejected)


def _decode_each(decode: Decoder, encoded: list[torch.Tensor], device: torch.device) -> list[torch.Tensor | None]:
    """The batch decoded in one call; if that fails, photo by photo, with None for each one refused."""
    try:
        return list(decode(encoded, device))
    except (RuntimeError, ValueError):
        pass
    images = []
    for one in encoded:
        try:
            images.append(decode([one], device)[0])
        except (RuntimeError, ValueError):
            images.append(None)
    return images


def reduce_like_draft(images: torch.Tensor, reduce: int) -> torch.Tensor:
    """(n, 3, H, W) uint8 at 1/reduce size, each pixel the rounded mean of its block, as libjpeg's scaled decode."""
    if reduce == 1:
        return images
    means = F.avg_pool2d(images.float(), reduce, ceil_mode=True)
    return means.round_().clamp_(0, 255).to(torch.uint8)


def orient(images: torch.Tensor, orientation: int) -> torch.Tensor:
    """(..., H, W) turned upright as `PIL.ImageOps.exif_transpose` does for EXIF orientation 1-8."""
    if orientation == 2:
        return images.flip(-1)  # mirrored
    if orientation == 3:
        return images.flip(-2, -1)  # upside down
    if orientation == 4:
        return images.flip(-2)
    if orientation == 5:
        return images.transpose(-2, -1)
    if orientation == 6:  # on its side: turned a quarter clockwise to display
        return torch.rot90(images, -1, (-2, -1))
    if orientation == 7:
        return images.transpose(-2, -1).flip(-2, -1)
    if orientation == 8:
        return torch.rot90(images, 1, (-2, -1))
    return images


@functools.lru_cache(maxsize=1)
def jpeg_decoder() -> Decoder:
    """nvJPEG through TorchCodec where it is installed, else through torchvision (deprecated there from 0.29)."""
    try:
        from torchcodec.decoders import decode_jpeg as codec_decode
    except (ImportError, OSError, RuntimeError):  # not installed, or its libraries do not load here
        codec_decode = None
    if codec_decode is not None:
        return lambda encoded, device: codec_decode(encoded, mode="RGB", device=device)
    from torchvision.io import ImageReadMode
    from torchvision.io import decode_jpeg as vision_decode

    def decode(encoded: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29+: "use TorchCodec"
            return vision_decode(encoded, mode=ImageReadMode.RGB, device=device)

    return decode
