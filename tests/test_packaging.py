"""Install and documentation stay in step: pyproject vs environment.yml, README vs settings, CI vs README."""

from __future__ import annotations

import re

import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from helpers import config

ROOT = config.REPO_ROOT


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_runtime_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip_section = next(item["pip"] for item in environment if isinstance(item, dict))
    conda_pip = [r for r in pip_section if not r.startswith("-e")]
    assert sorted(conda_pip) == sorted(pyproject)


def test_torch_2_13_is_excluded() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = next(r for r in pyproject if _requirement_name(r) == "torch")
    assert "!=2.13.0" in torch


def test_milvus_lite_comes_with_pymilvus() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
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


def test_readme_has_a_colab_badge_per_notebook() -> None:
    readme = (ROOT / "README.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"blob/main/notebooks/{notebook.name}" in readme


def test_importing_the_helpers_does_nothing(tmp_path) -> None:
    """No folder, model, database or client appears when every helper module is imported."""
    import subprocess
    import sys

    code = ("import helpers, sys; assert 'torch' not in sys.modules, 'import helpers loads torch'; "
            "from helpers import config, data, embeddings, store, metrics, plots, comics, comic_chat; "
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
