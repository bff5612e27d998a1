"""Install the tutorial from an offline bundle, with no network: `make install-offline BUNDLE=...` runs both steps.

    python3 tools/install_bundle.py packages BUNDLE --venv .venv   # a virtual environment from the bundle's wheels
    .venv/bin/python tools/install_bundle.py data BUNDLE            # dataset, vectors, Milvus collection, weights

Two steps, because the second needs the packages that the first installs. BUNDLE is the folder that
tools/make_bundle.py built, or its .tar (unpacked next to it first). The data step writes under
TUTORIAL_DATA_DIR as the notebooks would: the dataset, the embedding cache re-keyed to this laptop's photo
files, the ONNX export and the Milvus Lite collection built from the precomputed vectors (the model does not
run). Milvus rows and cache entries name photos by absolute path, which differs on every laptop: that is why
the collection is built here rather than copied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASET_ZIP = "reverse_image_search.zip"
FILES_LIST = "files.json"  # under precomputed/: the dataset root, model and photo hashes the vectors came from
MANIFEST = "manifest.json"


def bundle_root(path: Path) -> Path:
    """The bundle folder: `path` itself, or the folder a .tar unpacks to (unpacked once, next to it)."""
    path = Path(path).expanduser().resolve()
    if path.suffix == ".tar":
        folder = path.with_suffix("")
        if not (folder / MANIFEST).is_file():
            with tarfile.open(path) as archive:
                _check_members(archive, path)
                archive.extractall(folder.parent)
        path = folder
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"{path} is not an offline bundle (no {MANIFEST}): give the folder or .tar that "
                                "tools/make_bundle.py built.")
    return path


def _check_members(archive: tarfile.TarFile, path: Path) -> None:
    """Refuse a tar whose members would land outside its own folder."""
    for member in archive.getmembers():
        if member.name.startswith("/") or ".." in Path(member.name).parts or (member.islnk() or member.issym()) \
                and (member.linkname.startswith("/") or ".." in Path(member.linkname).parts[:-1]):
            raise ValueError(f"{path} holds an unsafe path {member.name!r}; refusing to unpack it.")


def venv_python(venv: Path) -> Path:
    """The Python of a virtual environment, on Linux, macOS or Windows."""
    windows = Path(venv) / "Scripts" / "python.exe"
    return windows if windows.exists() else Path(venv) / "bin" / "python"


def check_python_version(bundle: Path, version: tuple[int, int] = sys.version_info[:2]) -> None:
    """Raise ValueError, saying what to do, when the bundle's wheels are for another Python version."""
    wanted = json.loads((bundle / MANIFEST).read_text()).get("python", "")
    if wanted and tuple(int(part) for part in wanted.split(".")[:2]) != tuple(version):
        raise ValueError(f"{bundle} holds wheels for Python {wanted}, and this is Python "
                         f"{'.'.join(map(str, version))}: run it with that Python (make install-offline "
                         f"PYTHON=python{'.'.join(wanted.split('.')[:2])} BUNDLE=...), or build a bundle for this "
                         "one (tools/make_bundle.py --python-version).")


def install_packages(bundle: Path, venv: Path) -> Path:
    """Create `venv` if needed and install the tutorial and its packages from the bundle's wheels only."""
    if not venv_python(venv).exists():
        check_python_version(bundle)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--no-index", "--find-links", str(bundle / "wheels")]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", str(REPO_ROOT)], check=True)
    return venv


def install_dataset(bundle: Path) -> Path:
    """Extract the bundle's dataset zip into the data folder (kept if a valid copy is there); returns its root."""
    from helpers.photos import data

    return data.download_dataset(source=bundle / "dataset" / DATASET_ZIP)


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def rehome_cache(bundle: Path, dataset_root: Path) -> tuple[int, int]:
    """Re-key the bundle's vectors to this laptop's photo files (same content only); returns (re-keyed, bundled).

    The one place that reads and writes the helpers' embedding cache (helpers.vectors.cache).
    """
    from helpers.vectors import cache as embedding_cache

    listing = json.loads((bundle / "precomputed" / FILES_LIST).read_text())
    bundled = embedding_cache.load(bundle / "precomputed" / listing["cache_file"])
    target = embedding_cache.cache_path(listing["model_name"], "onnx")
    if target.name != listing["cache_file"]:  # another timm version or model build: its vectors may differ
        return 0, len(bundled)
    cache, old_root, rehomed = embedding_cache.load(target), Path(listing["dataset_root"]), 0
    for (old_path, _, _), vector in bundled.items():
        relative = Path(old_path).relative_to(old_root).as_posix()
        new_path = dataset_root / relative
        stat = embedding_cache.file_key(new_path)
        if stat and _sha256(new_path) == listing["files"].get(relative):
            cache[stat] = vector
            rehomed += 1
    if rehomed:
        embedding_cache.save(target, cache)
    return rehomed, len(bundled)


def install_onnx(bundle: Path) -> list[Path]:
    """Copy the bundle's ONNX exports into the data folder's models/ (the notebooks skip the export)."""
    from helpers import config

    models_dir = config.load_settings().data_dir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for onnx_file in sorted((bundle / "precomputed" / "models").glob("*.onnx")):
        if not (models_dir / onnx_file.name).is_file():
            shutil.copyfile(onnx_file, models_dir / onnx_file.name)
            copied.append(models_dir / onnx_file.name)
    return copied


def install_hub_weights(bundle: Path) -> list[Path]:
    """Copy pretrained weights (ResNet-50) from the bundle into this laptop's Hugging Face cache."""
    from huggingface_hub import constants

    copied = []
    for folder in sorted((bundle / "hub").glob("models--*")):
        shutil.copytree(folder, Path(constants.HF_HUB_CACHE) / folder.name, symlinks=True, dirs_exist_ok=True)
        copied.append(Path(constants.HF_HUB_CACHE) / folder.name)
    return copied


def hub_folder_name(model_name: str) -> str:
    """The Hugging Face cache folder of a model's weights: 'models--timm--resnet50.a1_in1k'."""
    from helpers.commands import checks

    return "models--" + checks.hub_repo_id(model_name).replace("/", "--")


def build_collection(dataset_root: Path, model_name: str) -> int:
    """Index the training photos as notebook 03 does; with the re-keyed cache no photo goes through the model."""
    from helpers import config
    from helpers.collection import database, indexing, store
    from helpers.photos import data

    dataset = data.load_dataset(dataset_root)
    collection_name = config.load_settings().collection_name
    client = database.connect()
    try:
        indexing.index_images(client, collection_name, dataset.train.image_paths, dataset.train.labels,
                              model_name)
        return store.count_images(client, collection_name)
    finally:
        database.release_database(client)


def remember_model(model_name: str, env_file: Path = REPO_ROOT / ".env") -> bool:
    """Add MODEL_NAME=<model> to .env unless MODEL_NAME is set already (there or in the environment)."""
    import os

    text = env_file.read_text() if env_file.is_file() else ""
    if os.environ.get("MODEL_NAME") or re.search(r"^\s*(export\s+)?MODEL_NAME\s*=", text, re.M):
        return False
    env_file.write_text(text + ("" if not text or text.endswith("\n") else "\n") + f"MODEL_NAME={model_name}\n")
    return True


def install_data(bundle: Path) -> list[str]:
    """Put the bundle's dataset, vectors, exports and weights in place; returns one report line per part."""
    model_name = json.loads((bundle / "precomputed" / FILES_LIST).read_text())["model_name"]
    dataset_root = install_dataset(bundle)
    rehomed, bundled = rehome_cache(bundle, dataset_root)
    lines = [f"dataset: {dataset_root}", f"embedding cache: {rehomed} of {bundled} photos' vectors ({model_name})",
             f"ONNX exports copied: {len(install_onnx(bundle))}",
             f"pretrained weights copied: {[p.name for p in install_hub_weights(bundle)] or 'none in the bundle'}"]
    if remember_model(model_name):
        lines.append(f"MODEL_NAME={model_name} added to {REPO_ROOT / '.env'} (the precomputed vectors are its)")
    lines.append(f"Milvus collection: {build_collection(dataset_root, model_name)} photos indexed")
    return lines


def main(argv: list[str] | None = None) -> int:
    """`packages BUNDLE [--venv DIR]` or `data BUNDLE`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["packages", "data"])
    parser.add_argument("bundle", type=Path, help="the bundle folder or its .tar")
    parser.add_argument("--venv", type=Path, default=REPO_ROOT / ".venv", help="virtual environment (packages)")
    args = parser.parse_args(argv)
    try:
        bundle = bundle_root(args.bundle)
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    if args.step == "packages":
        print("installed into", install_packages(bundle, args.venv))
        return 0
    sys.path.insert(0, str(REPO_ROOT))
    for line in install_data(bundle):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
