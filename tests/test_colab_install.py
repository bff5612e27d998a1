"""The Colab setup cell, resolved: installing this package beside Colab's packages changes none of them.

Comparing our declared ranges with Colab's versions (tests/test_packaging.py) misses what our dependencies require in
turn (pillow-heif 1.9 requires Pillow 13). So this asks pip itself. A fresh virtual environment on Colab's Python
holds Colab's versions of the packages our dependencies touch (tests/colab_runtime.py; a few are only recorded as
installed, see RECORDED_ONLY there), and pip answers a dry run of installing the built wheel as the setup cell
installs it, with Colab's pip settings: PyPI only, no constraints. No package it has may change.

It needs PyPI and Python 3.13 (on PATH, under pyenv, or COLAB_PYTHON): without them it skips and says why, and
COLAB_INSTALL_TEST=required (CI) makes that a failure. About a minute, most of it building the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import colab_runtime
import pytest
from packaging.utils import canonicalize_name
from support import build_wheel

pytestmark = pytest.mark.slow  # PyPI and a minute: `make test` (CI) runs it, the unit lanes do not

COLAB_PACKAGES = {**colab_runtime.PREINSTALLED, **colab_runtime.ALSO_PREINSTALLED}


def _unavailable(reason: str) -> None:
    if os.environ.get("COLAB_INSTALL_TEST") == "required":
        pytest.fail(f"COLAB_INSTALL_TEST=required, but the Colab install test cannot run: {reason}")
    pytest.skip(reason)


def _colab_python() -> str | None:
    """An interpreter of Colab's Python version that runs: COLAB_PYTHON, the newest under pyenv, or on PATH."""
    version = colab_runtime.PYTHON
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    under_pyenv = sorted(pyenv.glob(f"{version}*/bin/python"),
                         key=lambda p: [int(n) for n in p.parts[-3].split(".") if n.isdigit()], reverse=True)
    candidates = [os.environ.get("COLAB_PYTHON"), *map(str, under_pyenv), shutil.which(f"python{version}")]
    check = f"import sys; assert sys.version.startswith('{version}')"
    return next((c for c in candidates if c and subprocess.run([c, "-c", check], capture_output=True).returncode == 0),
                None)


def _colab_pip_environment() -> dict[str, str]:
    """pip as on Colab: PyPI only, without this machine's pip configuration (constraints, local wheels, mirrors)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    kept = {k: os.environ[k] for k in ("PIP_INDEX_URL", "PIP_CERT", "PIP_DEFAULT_TIMEOUT") if k in os.environ}
    return {**env, **kept, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True,
                          env=_colab_pip_environment(), timeout=600)


def _record_installed(python: Path, name: str, version: str) -> None:
    """Make `name` count as installed at `version` (its metadata only), as a big package Colab ships."""
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    dist_info = Path(purelib) / f"{name}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist_info / "INSTALLER").write_text("colab_runtime\n")
    (dist_info / "RECORD").write_text("")


@pytest.fixture(scope="session")
def colab_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment on Colab's Python holding Colab's versions; built once per session."""
    interpreter = _colab_python()
    if interpreter is None:
        _unavailable(f"no Python {colab_runtime.PYTHON} (set COLAB_PYTHON=/path/to/python{colab_runtime.PYTHON})")
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/") + "/pip/"
    try:
        urllib.request.urlopen(index, timeout=15).close()
    except OSError as error:
        _unavailable(f"PyPI cannot be reached ({index}: {error})")
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    for name in colab_runtime.RECORDED_ONLY:
        _record_installed(python, name, COLAB_PACKAGES[name])
    pins = [f"{name}=={version}" for name, version in COLAB_PACKAGES.items() if name not in colab_runtime.RECORDED_ONLY]
    install = _pip(python, "install", "--quiet", "--no-compile", *pins)  # no .pyc: halves the time
    assert install.returncode == 0, f"Colab's versions do not install together:\n{install.stdout}{install.stderr}"
    return python


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built offline from a copy of the clone (a build writes build/ and *.egg-info)."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def _installed(python: Path) -> dict[str, str]:
    listing = _pip(python, "list", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(listing.stdout)}


def _changes(python: Path, requirement: str, report: Path) -> dict[str, tuple[str, str]]:
    """What `pip install requirement` would do to installed packages: name -> (installed version, new version)."""
    dry_run = _pip(python, "install", "--dry-run", "--quiet", "--report", str(report), requirement)
    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr
    installed = _installed(python)
    would_install = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                     for item in json.loads(report.read_text())["install"]}
    return {name: (installed[name], new) for name, new in would_install.items() if name in installed}


def test_the_environment_holds_colab_s_versions(colab_python: Path) -> None:
    """Otherwise the dry run below would prove nothing about Colab."""
    installed = _installed(colab_python)
    found = {name: installed.get(canonicalize_name(name), "missing") for name in COLAB_PACKAGES}
    assert found == COLAB_PACKAGES


def test_the_check_sees_a_package_that_would_change(colab_python: Path, tmp_path: Path) -> None:
    """pillow-heif 1.9 requires Pillow 13: the check must report Colab's Pillow as replaced."""
    changes = _changes(colab_python, "pillow-heif==1.9.0", tmp_path / "report.json")
    assert changes == {"pillow": (colab_runtime.PREINSTALLED["pillow"], changes["pillow"][1])}
    assert int(changes["pillow"][1].split(".")[0]) >= 13


def test_the_setup_cell_changes_no_package_colab_has(colab_python: Path, wheel: Path, tmp_path: Path) -> None:
    """The restart trap: an upgraded package that Colab has imported already works only after a restart."""
    changes = _changes(colab_python, str(wheel), tmp_path / "report.json")
    replaced = [f"{name} {old} -> {new}" for name, (old, new) in sorted(changes.items())]
    assert not replaced, f"the setup cell would replace what Colab has: {', '.join(replaced)}"
