"""Install and documentation stay in step: pyproject vs environment.yml, docs/settings.md vs settings, CI vs README."""

from __future__ import annotations

import importlib
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
sys.path.insert(0, str(ROOT / "tools"))
import helpers_map  # noqa: E402  (tools/helpers_map.py: the map of helpers/ in docs/helpers.md)


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


def test_settings_page_lists_every_setting() -> None:
    page = (ROOT / "docs" / "settings.md").read_text()  # the README links to it
    table_rows = re.findall(r"^\|\s*`([A-Z_]+)`\s*\|", page, re.M)
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
    assert {"config", "photos.data", "vectors.embeddings", "vectors.models", "collection.store", "pictures.plots",
            "comic.comics"} <= set(report["modules"])
    assert report == {**report, "torch_after_import_helpers": False, "milvus_lite_servers": 0, "models_built": 0}
    assert not (tmp_path / "data").exists() and not (tmp_path / "outputs").exists()
    assert list(workdir.iterdir()) == []


def test_the_package_front_is_seven_stages_each_a_folder_of_modules() -> None:
    import helpers

    stages = sorted(p.name for p in (ROOT / "helpers").iterdir() if (p / "__init__.py").exists())
    assert helpers.__all__ == helpers_map.STAGES and sorted(helpers.__all__) == sorted(stages + ["config"])
    assert {p.stem for p in (ROOT / "helpers").glob("*.py")} == {"__init__", "_lazy", "config"}


@pytest.mark.parametrize("stage", helpers_map.STAGES[1:])
def test_every_front_name_resolves_to_a_documented_helper(stage: str) -> None:
    """`collection.search_similar` is `collection/store.py`'s function, with a type-hinted one-line docstring."""
    front = importlib.import_module(f"helpers.{stage}")
    for name in front.__all__:
        value = getattr(front, name)
        module = getattr(value, "__module__", None)
        if callable(value) and module and module.startswith(f"helpers.{stage}."):
            assert (value.__doc__ or "").strip(), f"{stage}.{name} has no docstring"
    assert sorted(dir(front)) == sorted(front.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        front.no_such_name  # noqa: B018


def test_notebooks_use_the_front_only_and_few_names() -> None:
    """A notebook imports at most seven helper names (config and six stages), and only the stage fronts."""
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        imported = set()
        for names in re.findall(r"^from helpers import ([\w, ]+)$", code, re.M):
            imported |= {name.strip() for name in names.split(",")}
        assert imported <= set(helpers_map.STAGES), notebook.name
        assert len(imported) <= 7, (notebook.name, sorted(imported))
        assert not re.search(r"^\s*(from helpers\.\w+\.\w+|import helpers\.)", code, re.M), notebook.name


def test_helpers_map_matches_the_code() -> None:
    """docs/helpers.md: its table lists every module with the helper modules it imports; its diagram is made from it."""
    text = helpers_map.PAGE.read_text()
    table = helpers_map.table_in_page(text)
    code = {name: helpers_map.imports_in_code(path) for name, path in helpers_map.module_files().items()}
    assert table == code
    assert helpers_map.with_diagram(text) == text, "run python tools/helpers_map.py"


def test_helpers_map_check_can_fail(tmp_path) -> None:
    text = helpers_map.PAGE.read_text()
    wrong = text.replace("| `photos` | `data` |", "| `photos` | `data_renamed` |", 1)
    assert helpers_map.table_in_page(wrong) != helpers_map.table_in_page(text)
    stale = text.replace("    collection --> vectors\n", "", 1)
    assert helpers_map.with_diagram(stale) != stale


def test_dependencies_flow_one_way() -> None:
    table = helpers_map.table_in_page(helpers_map.PAGE.read_text())
    for name in table:  # pictures and measures take plain data only
        if name.startswith("pictures.") or name == "collection.metrics":
            assert not {i for i in table[name] if i.split(".")[0] in ("collection", "vectors", "comic")}, name
    stage_rank = {stage: i for i, stage in enumerate(helpers_map.STAGES)}
    for name, imports in table.items():  # a stage imports only the stages before it, or itself
        assert all(stage_rank[i.split(".")[0]] <= stage_rank[name.split(".")[0]] for i in imports), name
    order: list[str] = []
    while len(order) < len(table):  # a topological order exists only without cycles
        ready = sorted(m for m in table if m not in order and table[m] <= set(order))
        assert ready, f"import cycle among {sorted(set(table) - set(order))}"
        order += ready
