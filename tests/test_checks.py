"""The pre-flight check: each line passes here, fails in a broken situation made on the spot, and says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from helpers import config
from helpers.collection import database
from helpers.commands import checks
from helpers.photos import data

FAKE_KEY = "sk-test-" + "k3y" * 12  # looks like a real key; must never appear in any output


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to download fails the test instead of reaching the network."""

    def refuse(*args, **kwargs):
        raise AssertionError("the pre-flight check tried to download something")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> config.Settings:
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("DATASET_SOURCE", raising=False)
    monkeypatch.delenv("MILVUS_URI", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return config.load_settings()


# ---- python and packages ------------------------------------------------------------------------------------------

def test_minimums_come_from_pyproject() -> None:
    requirements = checks.project_requirements()
    assert requirements["torch"] == ">=2.4,!=2.13.0"
    assert requirements["pymilvus"] == ">=2.6"
    assert requirements["python"] == ">=3.10"


def test_minimums_come_from_the_installed_package_outside_a_checkout(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)  # no pyproject.toml there, as on Colab
    requirements = checks.project_requirements()
    assert requirements["python"].startswith(">=3.")
    assert requirements["openai"].startswith(">=")


def test_python_and_packages_pass_in_this_environment() -> None:
    assert checks.check_python().ok
    result = checks.check_packages()
    assert result.ok, result.detail
    assert all(name in result.detail for name in checks.KEY_PACKAGES)


def test_a_python_below_the_minimum_fails() -> None:
    result = checks.check_python(">=99")
    assert not result.ok and "needs >=99" in result.detail and result.fix


def test_an_old_or_missing_package_fails_and_says_what_to_install() -> None:
    result = checks.check_packages(("torch", "no-such-package-xyz"), {"torch": ">=999"})
    assert not result.ok
    assert "no-such-package-xyz not installed" in result.detail and "(needs >=999)" in result.detail
    assert "'torch>=999'" in result.fix


def test_torch_2_13_0_is_refused_by_the_real_minimum() -> None:
    assert not checks._meets("2.13.0+cpu", checks.project_requirements()["torch"])
    assert checks._meets("2.14.1+cu130", checks.project_requirements()["torch"])


# ---- folders and disk space ---------------------------------------------------------------------------------------

def test_writable_folders_pass_and_are_not_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, tmp_path)
    assert checks.check_folders(settings).ok
    assert not settings.data_dir.exists() and not settings.output_dir.exists()


def test_a_data_folder_that_cannot_be_created_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(config.SettingsError):  # the settings refuse it, so the check reports it as one line
        _settings(monkeypatch, tmp_path, TUTORIAL_DATA_DIR=str(tmp_path / "a-file" / "data"))
    [result] = checks.run_checks()
    assert not result.ok and "TUTORIAL_DATA_DIR" in result.detail and "a-file is a file" in result.detail


def test_a_read_only_data_folder_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder the system refuses to write in (simulated: as root, chmod alone would not refuse)."""
    (tmp_path / "data").mkdir()
    real_temporary_file = checks.tempfile.TemporaryFile

    def refuse_in_data(*args, dir=None, **kwargs):
        if Path(dir) == tmp_path / "data":
            raise PermissionError(13, "Permission denied")
        return real_temporary_file(*args, dir=dir, **kwargs)

    monkeypatch.setattr(checks.tempfile, "TemporaryFile", refuse_in_data)
    result = checks.check_folders(_settings(monkeypatch, tmp_path))
    assert not result.ok and "Permission denied" in result.detail and "OUTPUT_DIR" not in result.detail


def test_disk_space_against_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, tmp_path)
    assert checks.check_disk_space(settings, min_free_bytes=1).ok
    too_much = checks.check_disk_space(settings, min_free_bytes=10**18)
    assert not too_much.ok and "TUTORIAL_DATA_DIR" in too_much.fix


def test_a_nearly_full_disk_fails_with_the_default_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda path: _Usage(5_000_000))
    result = checks.check_disk_space(_settings(monkeypatch, tmp_path))
    assert not result.ok and "0.0 GB free" in result.detail


class _Usage:
    def __init__(self, free: int) -> None:
        self.total, self.used, self.free = free * 2, free, free


# ---- dataset ------------------------------------------------------------------------------------------------------

def test_a_missing_dataset_fails_without_downloading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     no_network: None) -> None:
    result = checks.check_dataset(_settings(monkeypatch, tmp_path))
    assert not result.ok and "not downloaded yet" in result.detail
    assert "make data" in result.fix and "DATASET_SOURCE" in result.fix
    assert not (tmp_path / "data").exists()


def test_a_dataset_source_that_does_not_exist_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    no_network: None) -> None:
    settings = _settings(monkeypatch, tmp_path, DATASET_SOURCE=str(tmp_path / "nowhere.zip"))
    result = checks.check_dataset(settings)
    assert not result.ok and "does not exist" in result.detail


def test_an_incomplete_dataset_fails_with_the_verifier_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               no_network: None) -> None:
    settings = _settings(monkeypatch, tmp_path)
    (settings.dataset_dir / "train" / "dog").mkdir(parents=True)
    (settings.dataset_dir / "train" / "dog" / "a.JPEG").write_bytes(b"\xff\xd8\xff")
    result = checks.check_dataset(settings)
    assert not result.ok and "class folders" in result.detail


@pytest.mark.parametrize("content, expected", [(b"not a zip at all", "not a readable zip"),
                                               (None, "has no reverse_image_search.csv")])
def test_a_bad_dataset_zip_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None,
                                 content: bytes | None, expected: str) -> None:
    zip_path = tmp_path / "reverse_image_search.zip"
    if content is None:
        with zipfile.ZipFile(zip_path, "w") as archive:
            archive.writestr("readme.txt", "another dataset")
    else:
        zip_path.write_bytes(content)
    result = checks.check_dataset(_settings(monkeypatch, tmp_path, DATASET_SOURCE=str(zip_path)))
    assert not result.ok and expected in result.detail


def test_the_real_dataset_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_dataset: data.Dataset,
                                 no_network: None) -> None:
    result = checks.check_dataset(_settings(monkeypatch, tmp_path, DATASET_SOURCE=str(real_dataset.root)))
    assert result.ok, result.detail


# ---- model --------------------------------------------------------------------------------------------------------

@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache; loading a model with pretrained weights would fail the test."""
    import huggingface_hub.constants
    import timm

    def refuse(*args, pretrained: bool = False, **kwargs):
        raise AssertionError("the pre-flight check tried to load hub weights") if pretrained else None

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(timm, "create_model", refuse)
    return tmp_path / "hub"


def test_resnet50_without_its_weights_fails_and_points_to_the_offline_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_hub_cache: Path) -> None:
    result = checks.check_model(_settings(monkeypatch, tmp_path, MODEL_NAME="resnet50"))
    assert not result.ok and "not downloaded" in result.detail
    assert "MODEL_NAME=efficientnet_lite0" in result.fix


def _cached_weights(hub: Path, content: bytes | None) -> Path:
    """Lay out a Hugging Face cache entry for timm/resnet50.a1_in1k holding `content` (None: a real tiny file)."""
    import torch
    from safetensors.torch import save_file

    repo = hub / ("models--" + checks.hub_repo_id("resnet50").replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    weights = repo / "snapshots" / "abc123" / "model.safetensors"
    weights.parent.mkdir(parents=True)
    if content is None:
        save_file({"fc.weight": torch.zeros(2, 2)}, str(weights))
    else:
        weights.write_bytes(content)
    return weights


def test_resnet50_with_cached_weights_passes_and_damaged_ones_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_hub_cache: Path) -> None:
    settings = _settings(monkeypatch, tmp_path, MODEL_NAME="resnet50")
    weights = _cached_weights(empty_hub_cache, None)
    assert checks.cached_weights("resnet50") == weights
    assert checks.check_model(settings).ok
    weights.write_bytes(b"cut short")
    result = checks.check_model(settings)
    assert not result.ok and "damaged" in result.detail


def test_clip_is_checked_in_its_own_hub_repository(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_hub_cache: Path) -> None:
    settings = _settings(monkeypatch, tmp_path, MODEL_NAME="clip-vit-b-32")
    result = checks.check_model(settings)
    assert not result.ok and "not downloaded" in result.detail and "MODEL_NAME=efficientnet_lite0" in result.fix
    repo = empty_hub_cache / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    weights = repo / "snapshots" / "abc123" / "open_clip_pytorch_model.bin"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights")
    assert checks.cached_weights("clip-vit-b-32") == weights and checks.check_model(settings).ok


def test_the_offline_model_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = checks.check_model(_settings(monkeypatch, tmp_path, MODEL_NAME="efficientnet_lite0"))
    assert result.ok and "1280-d" in result.detail


def test_an_unknown_model_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = checks.check_model(_settings(monkeypatch, tmp_path, MODEL_NAME="resnet9000"))
    assert not result.ok and "efficientnet_lite0" in result.fix


# ---- Milvus Lite --------------------------------------------------------------------------------------------------

def test_milvus_lite_opens_and_releases_in_a_temporary_folder(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, tmp_path)
    assert checks.check_milvus_lite().ok
    assert not settings.milvus_lite_path.exists()  # the learner's database is not opened or created


def test_milvus_lite_that_cannot_start_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise database.StoreError("Milvus Lite could not open the file (disk full)")

    monkeypatch.setattr(database, "connect", broken)
    result = checks.check_milvus_lite()
    assert not result.ok and "disk full" in result.detail and "pymilvus[milvus-lite]" in result.fix


# ---- OpenAI key ---------------------------------------------------------------------------------------------------

def test_a_present_key_passes_and_is_never_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    result = checks.check_openai_key()
    assert result.ok
    assert FAKE_KEY not in repr(result) and FAKE_KEY not in checks.format_results([result])


def test_a_missing_key_is_a_note_not_a_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "")
    result = checks.check_openai_key()
    assert not result.ok and not result.required and ".env" in result.fix
    assert checks.all_required_pass([result])
    assert checks.format_results([result]).startswith("note")


# ---- the whole list -----------------------------------------------------------------------------------------------

def test_format_results_marks_failures_and_says_what_to_do() -> None:
    results = [checks.CheckResult("python", True, "3.11"),
               checks.CheckResult("dataset", False, "missing", "run make data"),
               checks.CheckResult("openai key", False, "not set", "add it to .env", required=False)]
    lines = checks.format_results(results).splitlines()
    assert lines[0].startswith("ok") and lines[1].startswith("FAIL") and "-> run make data" in lines[2]
    assert lines[3].startswith("note") and "Not ready: fix dataset" in lines[-1]
    assert not checks.all_required_pass(results)
    assert checks.format_results(results[:1]).endswith("Ready for the workshop.")


def test_a_first_run_lists_the_downloads_to_come_as_to_do_not_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_hub_cache: Path, no_network: None) -> None:
    settings = _settings(monkeypatch, tmp_path, MODEL_NAME="resnet50")  # the default model, nothing downloaded
    results = [checks.check_dataset(settings), checks.check_model(settings),
               checks.CheckResult("openai key", False, "not set", "add it to .env", required=False)]
    first_run = checks.format_results(results, first_run=True)
    lines = first_run.splitlines()
    assert "FAIL" not in first_run and "Not ready" not in first_run
    assert lines[0].startswith("to do dataset") and "notebook 01 downloads it" in lines[0]
    assert lines[1].startswith("to do model") and "notebook 02 downloads them" in lines[1]
    assert lines[2].startswith("note") and lines[3].strip() == "-> add it to .env"  # no fix under a to do
    assert first_run.endswith("Ready to start: the notebooks download what is marked `to do` (this needs the network).")
    assert checks.all_required_pass(results, first_run=True)
    workshop = checks.format_results(results)  # `make check`: the same lines are problems to fix before the day
    assert "FAIL  dataset" in workshop and "FAIL  model" in workshop and "to do" not in workshop
    assert workshop.endswith("Not ready: fix dataset, model (lines marked FAIL), then run the check again.")
    assert not checks.all_required_pass(results)


def test_a_real_problem_fails_on_a_first_run_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 empty_hub_cache: Path, no_network: None) -> None:
    settings = _settings(monkeypatch, tmp_path, MODEL_NAME="resnet50", DATASET_SOURCE=str(tmp_path / "nowhere"))
    _cached_weights(empty_hub_cache, b"cut short")
    results = [checks.check_dataset(settings), checks.check_model(settings)]
    text = checks.format_results(results, first_run=True)
    assert "FAIL  dataset" in text and "FAIL  model" in text and "to do" not in text
    assert "Not ready: fix dataset, model" in text and not checks.all_required_pass(results, first_run=True)


def test_a_check_that_crashes_becomes_a_failing_line() -> None:
    def crashes() -> checks.CheckResult:
        raise ValueError("surprise")

    result = checks._safely("model", crashes)
    assert not result.ok and "ValueError: surprise" in result.detail


def test_run_checks_prints_nothing_and_never_shows_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capfd: pytest.CaptureFixture[str],
                                                           no_network: None) -> None:
    monkeypatch.chdir(tmp_path)
    settings = _settings(monkeypatch, tmp_path, MODEL_NAME="efficientnet_lite0", OPENAI_API_KEY=FAKE_KEY)
    results = checks.run_checks(settings)
    assert capfd.readouterr() == ("", "")
    by_name = {r.name: r for r in results}
    assert list(by_name) == ["python", "packages", "folders", "disk space", "dataset", "model", "milvus lite",
                             "openai key"]
    assert not by_name["dataset"].ok and by_name["openai key"].ok and by_name["milvus lite"].ok
    assert FAKE_KEY not in checks.format_results(results) and FAKE_KEY not in repr(results)


def test_the_command_exits_1_on_a_failure_and_never_prints_the_key(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(config.REPO_ROOT), "TUTORIAL_DATA_DIR": str(tmp_path / "data"),
           "OUTPUT_DIR": str(tmp_path / "outputs"), "MODEL_NAME": "efficientnet_lite0", "OPENAI_API_KEY": FAKE_KEY,
           "DATASET_SOURCE": ""}
    done = subprocess.run([sys.executable, "-m", "helpers.commands.checks"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  dataset" in done.stdout and "ok    openai key   set (not shown)" in done.stdout
    assert FAKE_KEY not in done.stdout + done.stderr


def test_importing_the_workshop_helpers_does_nothing(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(config.REPO_ROOT),
           "TUTORIAL_DATA_DIR": str(tmp_path / "data"), "OUTPUT_DIR": str(tmp_path / "outputs"),
           "HOME": str(tmp_path / "home")}
    workdir = tmp_path / "work"
    workdir.mkdir()
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("import_workshop_helpers.py"))],
                          capture_output=True, text=True, env=env, cwd=workdir, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"] and list(workdir.iterdir()) == []
