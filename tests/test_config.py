"""Tests for helpers.config: defaults, environment overrides, secrets kept out of sight."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from helpers import config


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for env_name in config.SETTINGS:
        monkeypatch.delenv(env_name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = config.load_settings()
    assert settings.model_name == "resnet50"
    assert settings.data_dir == config.REPO_ROOT / "data"
    assert settings.uses_milvus_lite and settings.resolved_milvus_uri == str(config.REPO_ROOT / "data" / "milvus.db")


@pytest.mark.parametrize("env_name, value, field, expected", [
    ("MODEL_NAME", "efficientnet_lite0", "model_name", "efficientnet_lite0"),
    ("COLLECTION_NAME", "my_dogs", "collection_name", "my_dogs"),
    ("MILVUS_URI", "http://127.0.0.1:19530", "resolved_milvus_uri", "http://127.0.0.1:19530"),
    ("IMAGE_MODEL", "some-image-model", "image_model", "some-image-model"),
])
def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, env_name: str, value: str, field: str,
                               expected: str) -> None:
    monkeypatch.setenv(env_name, value)
    assert getattr(config.load_settings(), field) == expected


def test_server_uri_is_not_milvus_lite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_URI", "https://in01-abc.zillizcloud.com")
    assert not config.load_settings().uses_milvus_lite


def test_every_setting_has_a_field_and_a_description() -> None:
    fields = {f.name for f in config.Settings.__dataclass_fields__.values()}
    assert {field for field, _, _ in config.SETTINGS.values()} == fields
    assert all(len(description) > 20 for _, _, description in config.SETTINGS.values())


def test_keyword_overrides_win_and_unknown_ones_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_NAME", "resnet50")
    assert config.load_settings(model_name="efficientnet_lite0").model_name == "efficientnet_lite0"
    with pytest.raises(TypeError, match="Unknown setting"):
        config.load_settings(modle_name="x")


def test_token_never_shows_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_TOKEN", "user:very-secret-password")
    settings = config.load_settings()
    assert settings.milvus_token == "user:very-secret-password"
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings)


def test_dotenv_file_is_read_but_real_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("COLLECTION_NAME=from_dotenv\nMODEL_NAME=from_dotenv\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLLECTION_NAME", raising=False)
    monkeypatch.setenv("MODEL_NAME", "from_environment")
    settings = config.load_settings()
    assert (settings.collection_name, settings.model_name) == ("from_dotenv", "from_environment")


def test_openai_key_from_environment_and_absent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-from-env")
    assert config.get_openai_api_key() == "sk-test-from-env"
    monkeypatch.setenv("OPENAI_API_KEY", "")  # empty counts as absent; monkeypatch restores the variable after
    assert config.get_openai_api_key(prompt=False) is None


def test_openai_key_prompt_is_hidden_input(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "")  # the helper sets the typed key; monkeypatch undoes it after
    monkeypatch.setattr("getpass.getpass", lambda prompt: "  sk-test-typed  ")
    assert config.get_openai_api_key(prompt=True) == "sk-test-typed"


def test_describe_environment_lists_the_versions_that_matter() -> None:
    info = config.describe_environment()
    assert {"python", "torch", "timm", "pymilvus", "milvus-lite", "openai", "device"} <= set(info)
    assert info["device"].split()[0] in {"cpu", "cuda", "mps"}


@pytest.mark.parametrize(("uri", "advice"), [("data/milvus.db", "MILVUS_LITE_PATH=data/milvus.db"),
                                             ("localhost:19530", "MILVUS_URI=http://localhost:19530")])
def test_milvus_uri_must_be_a_server_address(monkeypatch: pytest.MonkeyPatch, uri: str, advice: str) -> None:
    monkeypatch.setenv("MILVUS_URI", uri)
    with pytest.raises(config.SettingsError, match=advice):
        config.load_settings()


@pytest.mark.parametrize("error", [EOFError, "StdinNotImplementedError"])
def test_openai_key_prompt_without_input_counts_as_no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          error) -> None:
    """A kernel that cannot answer input (nbval, CI) or a closed stdin: no key, no crash, no hang."""
    if error == "StdinNotImplementedError":
        from IPython.core.error import StdinNotImplementedError as error
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "")

    def no_input(prompt: str) -> str:
        raise error("this front end does not support input requests")

    monkeypatch.setattr("getpass.getpass", no_input)
    assert config.get_openai_api_key(prompt=True) is None


def _unset(monkeypatch: pytest.MonkeyPatch, env_name: str) -> None:
    """Remove a variable so that monkeypatch deletes it again after the test, also when `.env` set it."""
    monkeypatch.setenv(env_name, "placeholder")
    monkeypatch.delenv(env_name)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The helpers as if pip-installed (no pyproject.toml or notebooks beside them); returns the working folder."""
    site_packages, workdir = tmp_path / "site-packages", tmp_path / "work"
    (site_packages / "helpers").mkdir(parents=True)
    workdir.mkdir()
    monkeypatch.setattr(config, "REPO_ROOT", site_packages)
    monkeypatch.chdir(workdir)
    for env_name in config.SETTINGS:
        _unset(monkeypatch, env_name)
    return workdir


def test_a_clone_is_not_installed_mode() -> None:
    assert (config.REPO_ROOT / "pyproject.toml").is_file()  # the tests run from a clone
    assert not config.is_installed() and config.project_dir() == config.REPO_ROOT


def test_installed_mode_puts_data_and_outputs_under_the_working_folder(installed: Path) -> None:
    settings = config.load_settings()
    assert config.is_installed()
    assert settings.data_dir == installed / "milvus-comics" / "data"
    assert settings.output_dir == installed / "milvus-comics" / "outputs"
    assert settings.milvus_lite_path == installed / "milvus-comics" / "data" / "milvus.db"
    assert list(installed.iterdir()) == []  # only named, not created


def test_installed_mode_relative_settings_are_relative_to_the_working_folder(installed: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORIAL_DATA_DIR", "my-data")
    assert config.load_settings().data_dir == installed / "my-data"


def test_installed_mode_reads_dotenv_from_the_project_folder_not_site_packages(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (installed / "milvus-comics").mkdir()
    (installed / "milvus-comics" / ".env").write_text("COLLECTION_NAME=from_project_dotenv\n")
    (config.REPO_ROOT / ".env").write_text("MODEL_NAME=from_site_packages\n")
    settings = config.load_settings()
    assert settings.collection_name == "from_project_dotenv"
    assert settings.model_name == "resnet50"


def test_dotenv_in_the_working_folder_wins_over_the_project_folder(installed: Path) -> None:
    (installed / "milvus-comics").mkdir()
    (installed / "milvus-comics" / ".env").write_text("COLLECTION_NAME=from_project_dotenv\n")
    (installed / ".env").write_text("COLLECTION_NAME=next_to_the_notebook\n")
    assert config.load_settings().collection_name == "next_to_the_notebook"


def test_the_milvus_lite_file_can_live_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("MILVUS_LITE_PATH", raising=False)
    assert config.load_settings().milvus_lite_path == tmp_path / "data" / "milvus.db"
    monkeypatch.setenv("MILVUS_LITE_PATH", str(tmp_path / "local" / "lite.db"))
    settings = config.load_settings()
    assert settings.milvus_lite_path == tmp_path / "local" / "lite.db"
    assert settings.resolved_milvus_uri == str(tmp_path / "local" / "lite.db")


def test_use_google_drive_mounts_drive_and_keeps_the_database_local(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    mounted: list[str] = []
    drive = types.SimpleNamespace(mount=mounted.append)  # what google.colab.drive offers
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.chdir(tmp_path)
    for name in ("TUTORIAL_DATA_DIR", "OUTPUT_DIR", "MILVUS_LITE_PATH"):
        monkeypatch.setenv(name, "recorded")  # so that monkeypatch restores it (or removes it) after the test,
        monkeypatch.delenv(name)  # whatever the helper sets: delenv alone records nothing for an unset name
    root = config.use_google_drive(mount_point=str(tmp_path / "drive"))
    assert mounted == [str(tmp_path / "drive")] and root == tmp_path / "drive" / "MyDrive" / "milvus-comics"
    settings = config.load_settings()
    assert settings.data_dir == root / "data" and settings.output_dir == root / "outputs"
    assert settings.milvus_lite_path == tmp_path / "milvus-comics" / "milvus.db"  # not on Drive


def test_use_google_drive_outside_colab_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.colab", None)  # importing it fails, as outside Colab
    with pytest.raises(RuntimeError, match="TUTORIAL_DATA_DIR"):
        config.use_google_drive()
