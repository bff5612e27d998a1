"""The model as an ONNX file for ONNX Runtime, and its int8-quantised version (introduced in notebook 02).

On a CPU, ONNX Runtime runs the same network about twice as fast as PyTorch. `export_onnx` exports the
feature model once, under `<data_dir>/models`. `quantize_onnx` makes the opt-in `onnx-int8` backend: weights
and activations in 8-bit integers, calibrated on photos you choose (a hundred of your own, or the sample
dataset's as notebook 02 does). Its vectors differ slightly from the float model's.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from helpers import config
from helpers.photos import data, files
from helpers.vectors import models

CALIBRATION_IMAGES = 100  # photos that set the int8 model's value ranges; more cost time, not accuracy


def model_path(model_name: str | None = None, int8: bool = False, models_dir: Path | None = None) -> Path:
    """Where the (float or int8) ONNX file of a model lives: `<data_dir>/models/<name>-<fingerprint>.onnx`."""
    model_name = models.resolve_model_name(model_name)
    models_dir = Path(models_dir or config.load_settings().data_dir / "models")
    return models_dir / f"{model_name}-{models.fingerprint(model_name)}{'-int8' if int8 else ''}.onnx"


def export_onnx(model_name: str | None = None, models_dir: Path | None = None) -> Path:
    """The feature model as an ONNX file with a variable batch size, exported once (notebook 02)."""
    path = model_path(model_name, models_dir=models_dir)
    if not path.is_file():
        _export(models.resolve_model_name(model_name), path)
    return path


def _export(model_name: str, path: Path) -> None:
    """torch.onnx.export of the feature model, written atomically."""
    model = models.load_model(model_name)
    example = torch.zeros(2, *models.input_size(model_name))
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        with files.atomic_path(path) as tmp, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's progress lines and deprecation notes
            torch.onnx.export(model, (example,), str(tmp), dynamo=True, input_names=["images"],
                              output_names=["embeddings"], dynamic_shapes=({0: batch},), external_data=False)
    except (RuntimeError, ImportError, ValueError) as err:
        raise models.ModelLoadError(f"Exporting {model_name} to ONNX failed ({type(err).__name__}: {err}). "
                                    "Use the torch backend instead: EMBED_BACKEND=torch.") from err


def quantize_onnx(calibration_paths: Sequence[Path | str], model_name: str | None = None,
                  models_dir: Path | None = None) -> Path:
    """Make the int8 model, calibrated on `calibration_paths` (up to 100 are used, spread out) (notebook 02).

    Static quantisation with per-channel 7-bit weights (reduce_range), which keeps the accuracy on AVX2 CPUs:
    without it, mAP@10 of the offline model fell from 0.816 to about 0.79. Calibrating again with other
    photos replaces the int8 model, and its vectors get a new cache.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_name = models.resolve_model_name(model_name)
    photos = _calibration_batches(calibration_paths, model_name)
    fp32_path, path = export_onnx(model_name, models_dir), model_path(model_name, True, models_dir)
    try:
        with files.atomic_path(path) as tmp, tempfile.TemporaryDirectory(dir=path.parent) as scratch:
            quant_pre_process(str(fp32_path), str(Path(scratch) / "prepared.onnx"))
            quantize_static(str(Path(scratch) / "prepared.onnx"), str(tmp), _calibration_reader(photos),
                            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    except (RuntimeError, ValueError) as err:
        raise models.ModelLoadError(f"Quantising {model_name} to int8 failed ({type(err).__name__}: {err}). "
                                    "Use the float model instead: EMBED_BACKEND=onnx.") from err
    tag = hashlib.sha256("\n".join(sorted(map(str, calibration_paths))).encode()).hexdigest()[:8]
    files.write_atomically({path.with_suffix(".json"): json.dumps({"calibration": tag,
                                                                   "photos": len(photos)}).encode()})
    _onnx_session.cache_clear()
    return path


def _calibration_batches(calibration_paths: Sequence[Path | str], model_name: str) -> list[np.ndarray]:
    """Up to CALIBRATION_IMAGES photos, spread over the list, preprocessed exactly as the pipeline does."""
    paths = list(calibration_paths)[::max(1, len(calibration_paths) // CALIBRATION_IMAGES)]
    transform, min_side = models.load_transform(model_name), models.decode_side(model_name)
    batches = []
    for path in paths:
        with contextlib.suppress(data.ImageLoadError):  # an unreadable photo just does not calibrate
            batches.append(transform(data.load_image(path, min_side=min_side))[None].numpy())
    if not batches:
        raise ValueError("No readable calibration photos: give quantize_onnx a list of photo paths.")
    return batches


def _calibration_reader(batches: list[np.ndarray]):  # -> onnxruntime.quantization.CalibrationDataReader
    """Feeds the calibration photos to onnxruntime's quantiser, one at a time."""
    from onnxruntime.quantization import CalibrationDataReader

    class CalibrationPhotos(CalibrationDataReader):
        def __init__(self) -> None:
            self.inputs = iter({"images": batch} for batch in batches)

        def get_next(self) -> dict | None:
            return next(self.inputs, None)

    return CalibrationPhotos()


def calibration_tag(model_name: str | None = None) -> str:
    """Which calibration made the current int8 model (a short hash of its photos); raises if there is none."""
    sidecar = model_path(model_name, int8=True).with_suffix(".json")
    try:
        return json.loads(sidecar.read_text())["calibration"]
    except (OSError, ValueError, KeyError) as err:
        raise models.ModelLoadError(
            "The onnx-int8 backend needs an int8 model calibrated on your photos first: run "
            "onnx_export.quantize_onnx(photo_paths) with about 100 photos (notebook 02 uses the sample "
            "dataset's), or use EMBED_BACKEND=onnx.") from err


def onnx_runner(model_name: str, int8: bool = False, threads: int = 0) -> Callable[[torch.Tensor], np.ndarray]:
    """ONNX Runtime on the float (exported if needed) or int8 model; threads=0 uses every core per batch."""
    if int8:
        calibration_tag(model_name)  # says how to make the int8 model when there is none
        path = model_path(model_name, int8=True)
    else:
        path = export_onnx(model_name)
    session = _onnx_session(path, threads)
    input_name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {input_name: batch.numpy()})[0]


@functools.lru_cache(maxsize=4)
def _onnx_session(path: Path, threads: int = 0):  # -> onnxruntime.InferenceSession (0 threads: one per core)
    import onnxruntime as ort
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except (Fail, InvalidGraph, InvalidProtobuf) as err:
        raise models.ModelLoadError(f"ONNX Runtime cannot load {path} ({err}): delete the file to export it "
                                    "again.") from err
