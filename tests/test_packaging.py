"""Install and documentation stay in step: pyproject vs environment.yml, README vs settings, CI vs README."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys

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
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TUTORIAL_DATA_DIR": str(tmp_path / "data"),
           "OUTPUT_DIR": str(tmp_path / "outputs"), "HOME": str(tmp_path / "home"),  # libraries' caches go to HOME
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "scripts" / "import_helpers.py")], capture_output=True,
                         text=True, env=env, cwd=workdir)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {"config", "data", "embeddings", "models", "store", "plots", "comics"} <= set(report["modules"])
    assert report == {**report, "torch_after_import_helpers": False, "milvus_lite_servers": 0, "models_built": 0}
    assert not (tmp_path / "data").exists() and not (tmp_path / "outputs").exists()
    assert list(workdir.iterdir()) == []


def test_the_package_names_every_module() -> None:
    import helpers

    on_disk = {p.stem for p in (ROOT / "helpers").glob("*.py") if not p.stem.startswith("_")}
    assert set(helpers.__all__) == on_disk


def _helper_imports(module: str) -> set[str]:
    """The helper modules a module of helpers/ imports, anywhere in its code."""
    tree = ast.parse((ROOT / "helpers" / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "helpers":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("helpers.")}
    return found


def _readme_dependency_table() -> dict[str, set[str]]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Which helper modules each module imports"):]
    section = section[:section.index("\n\n", section.index("|---"))]  # the table ends at the first blank line
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", section, re.M)
    return {module: {name.strip() for name in imports.split(",") if name.strip() != "-"} for module, imports in rows}


def test_readme_dependency_table_matches_the_code() -> None:
    table = _readme_dependency_table()
    on_disk = {p.stem for p in (ROOT / "helpers").glob("*.py") if not p.stem.startswith("_")}
    assert set(table) == on_disk
    assert {module: _helper_imports(module) for module in on_disk} == table


def test_dependencies_flow_one_way() -> None:
    table = _readme_dependency_table()
    for view in ("plots", "explorer", "metrics"):  # pictures and measures take plain data only
        assert not table[view] & {"store", "embeddings", "openai_api", "comics"}, view
    order: list[str] = []
    while len(order) < len(table):  # a topological order exists only without cycles
        ready = sorted(m for m in table if m not in order and table[m] <= set(order))
        assert ready, f"import cycle among {sorted(set(table) - set(order))}"
        order += ready
