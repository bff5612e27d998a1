"""Installed mode, as on Colab: the wheel in a fresh environment puts every file under ./milvus-comics.

The wheel is built from a copy of the sources and installed (not editable) into a new virtual environment.
Its dependencies (torch & co, several GB) are not installed again: a `.pth` file makes the new environment
also see this one's site-packages. A directory added by a `.pth` line is not scanned for `.pth` files of its
own, so this environment's editable mapping of `helpers` to the clone does not come along; the test checks
that `helpers` really comes from the new environment.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from support import build_wheel, environment_without_pythonpath

SCRIPT = Path(__file__).parent / "scripts" / "installed_run.py"


def _fresh_venv(path: Path, wheel: Path) -> tuple[Path, Path]:
    """A new virtual environment with the wheel installed; returns its python and its site-packages."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    python = path / "bin" / "python"
    (site_packages,) = path.glob("lib/python*/site-packages")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True,
                             env=environment_without_pythonpath())
    assert install.returncode == 0, install.stdout + install.stderr
    # Only now (pip must not see this environment's editable install): reuse the dependencies installed here.
    reused = [p for p in dict.fromkeys(site.getsitepackages()) if Path(p).is_dir()]
    (site_packages / "zz_reuse_dependencies.pth").write_text("\n".join(reused) + "\n")
    return python, site_packages


def _files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


@pytest.mark.slow
def test_installed_wheel_writes_every_file_under_the_working_folder(tmp_path: Path, fake_zip: Path) -> None:
    python, site_packages = _fresh_venv(tmp_path / "venv", build_wheel(tmp_path / "wheel"))
    venv_before = _files_under(tmp_path / "venv")
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "DATASET_SOURCE": str(fake_zip), "MODEL_NAME": "efficientnet_lite0"}  # no TUTORIAL_DATA_DIR, OUTPUT_DIR
    run = subprocess.run([str(python), "-I", "-B", str(SCRIPT)], cwd=workdir, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])

    assert Path(report["helpers_file"]).is_relative_to(site_packages), report["helpers_file"]
    assert report["is_installed"] and report["indexed"] > 0
    project = workdir / "milvus-comics"
    assert Path(report["project_dir"]) == project
    files = {kind: Path(path) for kind, path in report["files"].items()}
    assert files["dataset"] == project / "data" / "reverse_image_search"
    assert files["milvus_lite"] == project / "data" / "milvus.db"
    assert files["embedding_cache"].parent == project / "data" / "cache"
    assert files["figure"] == project / "outputs" / "figures" / "installed-mode.png"
    assert files["comic"].parent == files["comic_sidecar"].parent == project / "outputs" / "comics"
    assert all(path.exists() for path in files.values()), files
    assert sorted(p.name for p in workdir.iterdir()) == ["milvus-comics"]
    assert _files_under(tmp_path / "venv") == venv_before  # nothing written into the Python installation
