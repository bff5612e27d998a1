"""Tests for the GPU pipeline (vectors.gpu_decode and the worker path of vectors.embeddings), run without a GPU.

Where nvJPEG would decode on the GPU, torchvision's decode_jpeg decodes on the CPU (device="cpu"): the same
batch call, the same preparation (reduced-size decode, EXIF orientation, resize, crop), so these tests check
that a photo decoded "on the GPU" gets the vector of the CPU path, and that every file is still accounted for
when the GPU decoder refuses some.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from support import OFFLINE_MODEL as MODEL
from support import cosines

from helpers import config
from helpers.photos import data, photo_info
from helpers.vectors import embeddings, gpu_decode, models

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PHONE_SIZE = (4032, 3024)  # 12 MP, as phones store them
# How a phone stores an upright photo for each EXIF orientation (the inverse of what exif_transpose does).
STORED = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
          7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def _phone_photo(seed: int = 0, size: tuple[int, int] = PHONE_SIZE) -> Image.Image:
    """A photo-like picture: smooth colour patches, upscaled, with noise so that it compresses like a real one."""
    rng = np.random.default_rng(seed)
    patches = Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    noisy = np.asarray(patches, np.int16) + rng.normal(0, 2, (size[1], size[0], 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _save_with_orientation(upright: Image.Image, path: Path, orientation: int) -> Path:
    """Save as a phone does: the pixels as the sensor read them, and the EXIF tag that turns them upright."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright.transpose(STORED[orientation]) if STORED[orientation] is not None else upright
    stored.save(path, quality=90, exif=exif)
    return path


@pytest.fixture(scope="module")
def rotated_photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One 12-MP photo stored eight ways, EXIF orientations 1 to 8: each displays the same upright picture."""
    folder = tmp_path_factory.mktemp("rotated")
    upright = _phone_photo()
    return [_save_with_orientation(upright, folder / f"IMG_{o}.jpg", o) for o in range(1, 9)]


def _stand_in(calls: list[int] | None = None, refuse: str = "") -> gpu_decode.Decoder:
    """torchvision's decode_jpeg on the CPU where nvJPEG would run; it refuses any batch holding `refuse` bytes."""
    decode = gpu_decode.jpeg_decoder.__wrapped__()  # not the cached one: a test may replace torchcodec

    def decode_batch(encoded: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        if calls is not None:
            calls.append(len(encoded))
        if refuse and any(refuse.encode() in bytes(e[:4096].tolist()) for e in encoded):
            raise RuntimeError("nvjpeg: unsupported JPEG")
        return decode(encoded, device)

    return decode_batch


def _preprocess() -> gpu_decode.TensorPreprocess:
    preprocess = gpu_decode.TensorPreprocess.from_transform(models.load_transform(MODEL))
    assert preprocess is not None
    return preprocess


# --- the same pixels and the same vector as the CPU path -------------------------------------------------------------

def test_gpu_preparation_matches_the_cpu_path_on_rotated_phone_photos(settings: config.Settings,
                                                                      rotated_photos: list[Path]) -> None:
    """Each orientation: the model's input from the GPU path equals the CPU path's within JPEG rounding."""
    transform, side = models.load_transform(MODEL), models.decode_side(MODEL)
    jpegs = [gpu_decode.read_jpeg(path, side) for path in rotated_photos]
    assert [j.orientation for j in jpegs] == list(range(1, 9)) and {j.reduce for j in jpegs} == {8}
    prepared = gpu_decode.prepare_jpegs(jpegs, _preprocess(), "cpu", _stand_in())
    assert prepared.rejected == [] and sorted(prepared.positions) == list(range(8))
    for k, image in zip(prepared.positions, prepared.images):
        on_cpu = transform(data.load_image(rotated_photos[k], min_side=side))
        assert image.shape == on_cpu.shape
        assert float((image - on_cpu).abs().mean()) < 0.01  # a wrong turn or crop differs by about 0.5
        assert float((image - on_cpu).abs().max()) < 0.1


def test_gpu_path_gives_the_cpu_vectors_and_every_orientation_the_same(settings: config.Settings,
                                                                      rotated_photos: list[Path]) -> None:
    on_cpu = embeddings.embed_images(rotated_photos, MODEL, backend="torch", progress=False, use_cache=False)
    files = embeddings._ImageFiles(rotated_photos, models.load_transform(MODEL), models.decode_side(MODEL),
                                   gpu_jpeg=True)
    calls: list[int] = []
    batches = list(embeddings._run_with_workers(files, MODEL, "torch", batch_size=4, preprocess=_preprocess(),
                                                decode=_stand_in(calls)))
    assert calls == [4, 4]  # the decoder got whole batches
    positions = [i for batch in batches for i in batch.indices]
    on_gpu = embeddings.normalize(np.concatenate([batch.features for batch in batches]))[np.argsort(positions)]
    assert cosines(on_cpu.embeddings, on_gpu).min() >= 0.998  # 0.9988-0.9993: block means for libjpeg's scaling
    assert (on_gpu @ on_gpu.T).min() >= 0.999  # stored eight ways, displayed the same: the same photo


# --- every file accounted for ---------------------------------------------------------------------------------------

def test_files_the_gpu_does_not_take_or_refuses_go_through_the_cpu(settings: config.Settings, tmp_path: Path,
                                                                   make_image) -> None:
    """PNG, grey and CMYK JPEGs decode on the CPU; a JPEG the GPU decoder refuses too; bad files are reported."""
    good = [_save_with_orientation(_phone_photo(i, (1600, 1200)), tmp_path / f"good{i}.jpg", 6) for i in range(3)]
    refused = tmp_path / "refused.jpg"
    _phone_photo(5, (800, 600)).save(refused, quality=90, comment=b"REFUSE-ME")
    others = [make_image("grey.jpg", mode="L", size=(300, 200)), make_image("cmyk.jpg", mode="CMYK", size=(64, 48)),
              make_image("screenshot.png", size=(390, 844))]
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(good[0].read_bytes()[:600] + b"\x00" * 5000)  # a JPEG header, then nothing decodable
    missing = tmp_path / "missing.jpg"
    image_paths = [*good, refused, *others, damaged, missing]
    files = embeddings._ImageFiles(image_paths, models.load_transform(MODEL), models.decode_side(MODEL),
                                   gpu_jpeg=True)
    assert [files[i].jpeg is not None for i in range(len(image_paths))] == [True] * 4 + [False] * 3 + [True, False]
    batches = list(embeddings._run_with_workers(files, MODEL, "torch", batch_size=16, preprocess=_preprocess(),
                                                decode=_stand_in(refuse="REFUSE-ME")))
    embedded = sorted(i for batch in batches for i in batch.indices)
    failures = dict(f for batch in batches for f in batch.failures)
    assert embedded == list(range(7)) and sorted(failures) == [7, 8]  # each file once: embedded or skipped
    assert str(damaged) in failures[7] and "file not found" in failures[8]
    features = {i: f for batch in batches for i, f in zip(batch.indices, batch.features)}
    on_cpu = embeddings.embed_images(image_paths[:7], MODEL, backend="torch", progress=False, use_cache=False)
    on_gpu = embeddings.normalize(np.stack([features[i] for i in range(7)]))
    assert cosines(on_cpu.embeddings, on_gpu).min() >= 0.998


def test_read_jpeg_sends_only_plain_colour_jpegs_to_the_gpu(tmp_path: Path, make_image) -> None:
    photo = _save_with_orientation(_phone_photo(1, (2000, 1500)), tmp_path / "photo.jpg", 8)
    jpeg = gpu_decode.read_jpeg(photo, 256)
    assert jpeg.orientation == 8 and jpeg.reduce == 4 and bytes(jpeg.data.numpy()) == photo.read_bytes()
    assert gpu_decode.read_jpeg(photo, None).reduce == 1  # no size asked: decoded in full, as on the CPU
    assert gpu_decode.read_jpeg(photo, 256, max_pixels=1000) is None  # the CPU path says it is too large
    for name, mode in [("grey.jpg", "L"), ("cmyk.jpg", "CMYK"), ("photo.png", "RGB"), ("photo.webp", "RGB")]:
        assert gpu_decode.read_jpeg(make_image(name, mode=mode), 256) is None
    (tmp_path / "notes.jpg").write_text("not a photo")
    assert gpu_decode.read_jpeg(tmp_path / "notes.jpg", 256) is None
    assert gpu_decode.read_jpeg(tmp_path / "missing.jpg", 256) is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_turns_a_photo_as_pillow_does(orientation: int) -> None:
    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = Image.fromarray(pixels)
    image.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(image)).transpose(2, 0, 1)
    turned = gpu_decode.orient(torch.from_numpy(pixels).permute(2, 0, 1)[None], orientation)[0]
    np.testing.assert_array_equal(turned.numpy(), expected)


def test_reduce_like_draft_averages_blocks() -> None:
    images = torch.arange(2 * 3 * 16 * 24, dtype=torch.float32).reshape(2, 3, 16, 24).remainder(256).to(torch.uint8)
    reduced = gpu_decode.reduce_like_draft(images, 8)
    assert reduced.shape == (2, 3, 2, 3) and reduced.dtype == torch.uint8
    assert int(reduced[0, 0, 0, 0]) == round(float(images[0, 0, :8, :8].float().mean()))
    assert gpu_decode.reduce_like_draft(images, 1) is images


# --- the decoder and the preprocessing -------------------------------------------------------------------------------

def test_the_decoder_is_torchcodec_where_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's image decoders are deprecated from 0.29 on: TorchCodec's decode_jpeg is used when present."""
    seen = []
    decoders = types.ModuleType("torchcodec.decoders")
    decoders.decode_jpeg = lambda encoded, mode, device: seen.append((len(encoded), mode, device)) or ["image"]
    monkeypatch.setitem(sys.modules, "torchcodec", types.ModuleType("torchcodec"))
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", decoders)
    assert gpu_decode.jpeg_decoder.__wrapped__()([torch.zeros(3, dtype=torch.uint8)], "cuda") == ["image"]
    assert seen == [(1, "RGB", "cuda")]


def test_torchvision_decodes_a_list_without_a_deprecation_warning(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchcodec", None)  # `import torchcodec` fails, installed or not
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    path = _save_with_orientation(_phone_photo(2, (64, 48)), tmp_path / "small.jpg", 1)
    encoded = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    decode = gpu_decode.jpeg_decoder.__wrapped__()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images = decode([encoded, encoded], torch.device("cpu"))
    assert [tuple(image.shape) for image in images] == [(3, 48, 64)] * 2


def test_tensor_preprocessing_only_for_transforms_it_mirrors(settings: config.Settings) -> None:
    from torchvision import transforms as T

    preprocess = _preprocess()
    assert preprocess.size == [256] and preprocess.crop == [224, 224] and preprocess.mean == (0.5, 0.5, 0.5)

    def _convert_to_rgb(image):  # open_clip's step: our images are RGB already
        return image

    clip_like = T.Compose([T.Resize(224), T.CenterCrop(224), _convert_to_rgb, T.ToTensor(), T.Normalize([0.5] * 3,
                                                                                                         [0.2] * 3)])
    assert gpu_decode.TensorPreprocess.from_transform(clip_like).size == [224]
    unusual = T.Compose([T.Resize(256), T.RandomHorizontalFlip(), T.CenterCrop(224), T.ToTensor()])
    assert gpu_decode.TensorPreprocess.from_transform(unusual) is None
    assert gpu_decode.TensorPreprocess.from_transform(lambda image: image) is None


# --- metadata read where the photo is read; workers started without noise -------------------------------------------

def test_metadata_is_read_in_the_decoding_threads(settings: config.Settings, photos: list[Path],
                                                  tmp_path: Path) -> None:
    """On a CPU the threads that decode a photo also read its header; a photo that vanished is reported."""
    threads: list[str] = []

    def describe(path: Path) -> photo_info.PhotoInfo:
        threads.append(threading.current_thread().name)
        if path.name == "c.jpg":
            raise photo_info.PhotoReadError(path, "disappeared while it was being read")
        return photo_info.read_photo(path)

    batches = list(embeddings.embed_in_batches(photos, MODEL, backend="torch", batch_size=3, use_cache=False,
                                               describe=describe))
    described = {photos[p].name: info for b in batches for p, info in zip(b.positions, b.descriptions)}
    assert len(described) == len(photos) - 1 and described["h.jpg"].width == 1200
    assert dict((photos[p].name, r) for b in batches for p, r in b.skipped) == {
        "c.jpg": "disappeared while it was being read"}
    assert threads and "MainThread" not in threads


@pytest.mark.slow  # starts a fork server and worker processes: 10-40 s here
def test_workers_start_without_grpc_fork_messages(settings: config.Settings, photos: list[Path]) -> None:
    """With Milvus Lite's gRPC threads busy, starting the decoding workers prints nothing (it printed a line each)."""
    script = SCRIPTS / "workers_beside_grpc.py"
    child = subprocess.run([sys.executable, str(script), str(settings.data_dir / "grpc.db"), *map(str, photos)],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stdout + child.stderr
    assert f"embedded {len(photos)}" in child.stdout
    assert "fork" not in child.stderr.lower(), child.stderr
