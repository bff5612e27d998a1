"""Install and documentation stay in step: pyproject vs environment.yml, README vs settings, CI vs README."""

from __future__ import annotations

import re
import shutil
import subprocess

import colab_runtime
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from helpers import config

ROOT = config.REPO_ROOT


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_lists_the_runtime_dependencies_and_the_lab_extra() -> None:
    project = _project()
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip_section = next(item["pip"] for item in environment if isinstance(item, dict))
    conda_pip = [r for r in pip_section if not r.startswith("-e")]
    assert sorted(conda_pip) == sorted(project["dependencies"] + project["optional-dependencies"]["lab"])


def _runtime_requirements() -> dict[str, Requirement]:
    return {_requirement_name(r): Requirement(r) for r in _project()["dependencies"]}


def test_colab_setup_installs_no_local_only_package() -> None:
    assert not {"jupyterlab", "notebook", "nbval", "pytest"} & set(_runtime_requirements())


@pytest.mark.parametrize("name, colab_version", sorted(colab_runtime.PREINSTALLED.items()))
def test_colab_setup_upgrades_nothing_colab_ships(name: str, colab_version: str) -> None:
    """On Colab the setup cell must keep the preinstalled versions (ipywidgets 7.7.1 is imported at start)."""
    requirement = _runtime_requirements()[name]
    assert requirement.specifier.contains(colab_version), f"{requirement} would upgrade Colab's {colab_version}"


def test_colab_python_is_supported() -> None:
    assert SpecifierSet(_project()["requires-python"]).contains(colab_runtime.PYTHON)


def test_make_installs_the_lab_and_test_extras() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'pip install -e "\.\[lab\]"', makefile)
    assert re.search(r'pip install -e "\.\[lab,test\]"', makefile)


def test_torch_2_13_is_excluded() -> None:
    pyproject = _project()["dependencies"]
    torch = next(r for r in pyproject if _requirement_name(r) == "torch")
    assert "!=2.13.0" in torch


def test_milvus_lite_comes_with_pymilvus() -> None:
    pyproject = _project()["dependencies"]
    assert any(r.startswith("pymilvus[milvus-lite]") for r in pyproject)


def test_readme_settings_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    table_rows = re.findall(r"^\|\s*`([A-Z_]+)`\s*\|", readme, re.M)
    assert set(config.SETTINGS) <= set(table_rows)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


@pytest.mark.skipif(not (ROOT / ".git").exists() or not shutil.which("git"), reason="not a git clone")
def test_data_folder_is_committed_with_its_readme_only() -> None:
    """A fresh clone has data/ (its README says what appears there); everything else in it stays out of git."""
    assert "TUTORIAL_DATA_DIR" in (ROOT / "data" / "README.md").read_text()

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", path]).returncode == 0

    assert not ignored("data/README.md")
    assert all(ignored(p) for p in ("data/milvus.db", "data/reverse_image_search/x.JPEG", "data/test-run/cache"))


def test_importing_the_helpers_does_nothing(tmp_path) -> None:
    """No folder, model, database or client appears when every helper module is imported."""
    import sys

    code = ("import helpers, sys; assert 'torch' not in sys.modules, 'import helpers loads torch'; "
            "from helpers import config, data, embeddings, store, metrics, plots, comics; "
            "import milvus_lite.server_manager as m; print(len(m.server_manager_instance._servers))")
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TUTORIAL_DATA_DIR": str(tmp_path / "data"),
           "OUTPUT_DIR": str(tmp_path / "outputs"), "HOME": str(tmp_path / "home")}  # libraries' caches go there
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"  # no Milvus Lite database opened
    assert not (tmp_path / "data").exists() and not (tmp_path / "outputs").exists()
    assert list(workdir.iterdir()) == []
