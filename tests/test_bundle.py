"""The offline bundle's logic on small generated inputs (tools/check_bundle.sh installs a real one, outside CI)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from helpers import config
from helpers.photos import data
from helpers.vectors import cache

sys.path.insert(0, str(config.REPO_ROOT / "tools"))
import install_bundle  # noqa: E402
import make_bundle  # noqa: E402


def _fake_bundle(folder: Path) -> Path:
    (folder / "wheels").mkdir(parents=True)
    (folder / "wheels" / "tiny-1.0-py3-none-any.whl").write_bytes(b"w" * 1000)
    (folder / "dataset").mkdir()
    (folder / "dataset" / install_bundle.DATASET_ZIP).write_bytes(b"z" * 300)
    (folder / install_bundle.MANIFEST).write_text("{}")
    return folder


# ---- building ------------------------------------------------------------------------------------------------------

class _Recorder:
    """Stands in for subprocess.run: records each command; the CPU-torch download leaves +cpu wheels behind."""

    def __init__(self, dest: Path) -> None:
        self.dest, self.commands = dest, []

    def __call__(self, command: list[str], check: bool = False, **kwargs) -> subprocess.CompletedProcess:
        self.commands.append(command)
        if "--index-url" in command:
            for name in ("torch-2.14.1+cpu-cp311-cp311-linux_x86_64.whl",
                         "torchvision-0.29.1+cpu-cp311-cp311-linux_x86_64.whl"):
                (self.dest / name).write_bytes(b"")
        return subprocess.CompletedProcess(command, 0)


def test_wheels_for_this_machine_are_every_runtime_package_plus_the_build_tools(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(tmp_path)
    monkeypatch.setattr(make_bundle.subprocess, "run", recorder)
    make_bundle.download_wheels(tmp_path)
    [command] = recorder.commands
    assert command[1:4] == ["-m", "pip", "download"] and "--platform" not in command
    assert set(make_bundle.runtime_requirements()) | {"setuptools>=68", "pip"} <= set(command)


def test_wheels_for_another_platform_are_binary_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(tmp_path)
    monkeypatch.setattr(make_bundle.subprocess, "run", recorder)
    make_bundle.download_wheels(tmp_path, "win_amd64", "3.11")
    command = " ".join(recorder.commands[0])
    assert "--only-binary=:all: --implementation cp --platform win_amd64 --python-version 3.11" in command


def test_cpu_only_torch_comes_from_its_index_and_is_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(tmp_path)
    monkeypatch.setattr(make_bundle.subprocess, "run", recorder)
    make_bundle.download_wheels(tmp_path, torch_index_url="https://example.invalid/whl/cpu")
    torch_only, everything = recorder.commands
    assert "--no-deps" in torch_only and torch_only[-2:] == ["torch>=2.4,!=2.13.0", "torchvision>=0.19"]
    assert "torch==2.14.1+cpu" in everything and "torchvision==0.29.1+cpu" in everything
    assert everything[everything.index("--find-links") + 1] == str(tmp_path)


def test_source_archives_are_turned_into_wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(tmp_path)
    monkeypatch.setattr(make_bundle.subprocess, "run", recorder)
    (tmp_path / "oldpkg-1.0.tar.gz").write_bytes(b"")
    make_bundle._build_sdists(tmp_path)
    assert recorder.commands[0][3:5] == ["wheel", "--no-deps"] and not (tmp_path / "oldpkg-1.0.tar.gz").exists()


def test_the_manifest_gives_each_part_its_size(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "bundle")
    manifest = make_bundle.write_manifest(bundle, "efficientnet_lite0", None, None)
    assert manifest["parts_bytes"] == {"dataset": 300, "wheels": 1000} and manifest["total_bytes"] == 1300
    assert json.loads((bundle / install_bundle.MANIFEST).read_text()) == manifest


@pytest.mark.slow
def test_the_dataset_zip_extracts_to_a_complete_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        real_dataset: data.Dataset) -> None:
    monkeypatch.setenv("DATASET_SOURCE", str(real_dataset.root))
    zip_path = make_bundle.zip_dataset(tmp_path / "dataset")
    root = data.download_dataset(data_dir=tmp_path / "data", source=zip_path)
    assert root == tmp_path / "data" / "reverse_image_search"
    assert len(data.load_dataset(root).train) == 1000


# ---- installing ----------------------------------------------------------------------------------------------------

def test_a_bundle_is_its_folder_or_its_tar(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "made" / "bundle")
    assert install_bundle.bundle_root(bundle) == bundle
    tar_path = tmp_path / "usb" / "bundle.tar"
    tar_path.parent.mkdir()
    with tarfile.open(tar_path, "w") as archive:
        archive.add(bundle, arcname="bundle")
    unpacked = install_bundle.bundle_root(tar_path)
    assert unpacked == tmp_path / "usb" / "bundle" and (unpacked / "wheels" / "tiny-1.0-py3-none-any.whl").is_file()
    with pytest.raises(FileNotFoundError, match="not an offline bundle"):
        install_bundle.bundle_root(tmp_path / "made")


def test_a_tar_that_escapes_its_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "evil.txt").write_text("x")
    with tarfile.open(tmp_path / "bundle.tar", "w") as archive:
        archive.add(tmp_path / "evil.txt", arcname="../evil.txt")
    with pytest.raises(ValueError, match="unsafe path"):
        install_bundle.bundle_root(tmp_path / "bundle.tar")


def test_the_install_command_explains_a_wrong_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert install_bundle.main(["data", str(tmp_path)]) == 2
    assert "not an offline bundle" in capsys.readouterr().err


def _photos(root: Path, n: int = 3) -> list[Path]:
    paths = []
    for i in range(n):
        path = root / "train" / f"class{i}" / f"photo{i}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8\xff" + bytes([i]) * 50)
        paths.append(path)
    return paths


def test_precomputed_vectors_are_rekeyed_to_this_laptops_photos(tmp_settings: config.Settings,
                                                                tmp_path: Path) -> None:
    """Vectors made on the teacher's machine serve the learner's copies of the same files, and only those."""
    model_name = "efficientnet_lite0"
    cache_name = cache.cache_path(model_name, "onnx").name
    teacher_root, learner_root = tmp_path / "teacher" / "reverse_image_search", tmp_path / "learner" / "photos"
    teacher_photos, learner_photos = _photos(teacher_root), _photos(learner_root)
    learner_photos[2].write_bytes(b"\xff\xd8\xff" + b"a different photo")  # same name, other content
    vectors = np.eye(3, 4, dtype=np.float32)
    bundle = tmp_path / "bundle"
    (bundle / "precomputed").mkdir(parents=True)
    cache.save(bundle / "precomputed" / cache_name, {cache.file_key(p): v for p, v in zip(teacher_photos, vectors)})
    files = {p.relative_to(teacher_root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in teacher_photos}
    (bundle / "precomputed" / install_bundle.FILES_LIST).write_text(json.dumps(
        {"dataset_root": str(teacher_root.resolve()), "model_name": model_name, "cache_file": cache_name,
         "files": files}))

    assert install_bundle.rehome_cache(bundle, learner_root) == (2, 3)
    rehomed = cache.load(cache.cache_path(model_name, "onnx"))
    assert set(rehomed) == {cache.file_key(p) for p in learner_photos[:2]}
    np.testing.assert_array_equal(rehomed[cache.file_key(learner_photos[1])], vectors[1])


def test_the_bundle_model_is_remembered_unless_one_is_chosen(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_NAME", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-keep-me")  # no final newline
    assert install_bundle.remember_model("efficientnet_lite0", env_file)
    assert env_file.read_text() == "OPENAI_API_KEY=sk-keep-me\nMODEL_NAME=efficientnet_lite0\n"
    assert not install_bundle.remember_model("efficientnet_lite0", env_file)  # already there: once only
    other = tmp_path / "other.env"
    monkeypatch.setenv("MODEL_NAME", "resnet50")
    assert not install_bundle.remember_model("efficientnet_lite0", other) and not other.exists()


def test_a_bundle_for_another_python_is_refused_before_installing(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "bundle")
    (bundle / install_bundle.MANIFEST).write_text(json.dumps({"python": "3.11.7"}))
    install_bundle.check_python_version(bundle, (3, 11))
    with pytest.raises(ValueError, match="Python 3.11.7, and this is Python 3.12.*PYTHON=python3.11"):
        install_bundle.check_python_version(bundle, (3, 12))
