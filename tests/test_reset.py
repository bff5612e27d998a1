"""Reset: the computed state goes, the dataset, DATASET_SOURCE and offline bundles stay, a held database stops it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import database_held_elsewhere

from helpers import config
from helpers.collection import database
from helpers.commands import reset


def _learner_state(settings: config.Settings) -> dict[str, Path]:
    """A data and output folder as a learner leaves them after the five notebooks (small generated files)."""
    paths = {
        "photo": settings.dataset_dir / "train" / "dog" / "a.JPEG",
        "cache": settings.data_dir / "cache" / "embeddings-x.npz",
        "onnx": settings.data_dir / "models" / "x.onnx",
        "figure": settings.output_dir / "figures" / "gallery.png",
        "comic": settings.output_dir / "comics" / "strip.png",
        "sidecar": settings.output_dir / "comics" / "strip.json",
        "stale download": settings.data_dir / ".download-abc" / "dataset.zip",
        "bundle": settings.data_dir / "offline-bundle" / reset.BUNDLE_MARKER,
        "bundle wheel": settings.data_dir / "offline-bundle" / "wheels" / "x.whl",
        "own file": settings.output_dir / "notes.txt",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    paths["database"] = settings.milvus_lite_path
    database.release_database(database.connect(str(settings.milvus_lite_path)))  # a real Milvus Lite database
    return paths


def test_reset_removes_the_computed_state_and_keeps_dataset_and_bundle(tmp_settings: config.Settings) -> None:
    paths = _learner_state(tmp_settings)
    removed = reset.reset_learner_state(tmp_settings)
    data, outputs = tmp_settings.data_dir, tmp_settings.output_dir
    assert set(removed) == {paths["database"], data / "cache", data / "models", outputs / "figures",
                            outputs / "comics", data / ".download-abc"}
    assert not any(path.exists() for path in removed)
    for kept in ("photo", "bundle", "bundle wheel", "own file"):
        assert paths[kept].exists(), kept
    assert reset.reset_learner_state(tmp_settings) == []  # a second reset has nothing left to do


def test_a_database_with_collections_is_removed(tmp_settings: config.Settings) -> None:
    client = database.connect(str(tmp_settings.milvus_lite_path))
    try:  # Milvus Lite writes a manifest.json per collection: not an offline bundle's
        client.create_collection("photos", dimension=4)
        client.insert("photos", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
    finally:
        database.release_database(client)
    assert list(tmp_settings.milvus_lite_path.rglob(reset.BUNDLE_MARKER)), "Milvus Lite's layout changed"
    assert reset.reset_learner_state(tmp_settings) == [tmp_settings.milvus_lite_path]
    assert not tmp_settings.milvus_lite_path.exists()


def test_dry_run_lists_and_removes_nothing(tmp_settings: config.Settings) -> None:
    paths = _learner_state(tmp_settings)
    would = reset.reset_learner_state(tmp_settings, dry_run=True)
    assert paths["database"] in would and tmp_settings.output_dir / "comics" in would
    assert all(path.exists() for path in paths.values())


def test_a_bundle_or_dataset_source_inside_a_cleared_folder_is_kept(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    own_copy = tmp_path / "data" / "models" / "my_dataset"
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("DATASET_SOURCE", str(own_copy))
    settings = config.load_settings()
    (own_copy / "train").mkdir(parents=True)
    bundle = settings.data_dir / "cache" / "usb-bundle"
    bundle.mkdir(parents=True)
    (bundle / reset.BUNDLE_MARKER).write_text("{}")
    figures = settings.output_dir / "figures"
    figures.mkdir(parents=True)
    removals, kept = reset.planned_removals(settings)
    assert removals == [figures]
    assert set(kept) == {settings.data_dir / "cache", settings.data_dir / "models"}
    reset.reset_learner_state(settings)
    assert (own_copy / "train").is_dir() and (bundle / reset.BUNDLE_MARKER).is_file() and not figures.exists()


def test_a_database_held_by_another_kernel_stops_the_reset(tmp_settings: config.Settings) -> None:
    paths = _learner_state(tmp_settings)
    with database_held_elsewhere(paths["database"]):
        with pytest.raises(database.DatabaseLockedError, match="another process"):
            reset.reset_learner_state(tmp_settings)
        assert paths["database"].exists() and paths["cache"].exists() and paths["comic"].exists()
    assert paths["database"] in reset.reset_learner_state(tmp_settings)  # released: the reset goes through


def test_a_milvus_server_is_not_touched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("MILVUS_URI", "http://127.0.0.1:19530")
    settings = config.load_settings()
    settings.milvus_lite_path.mkdir(parents=True)  # an old Lite database: not the one in use, so left alone
    assert settings.milvus_lite_path not in reset.reset_learner_state(settings)
    assert settings.milvus_lite_path.exists()


def test_the_command_lists_what_it_would_remove(tmp_settings: config.Settings,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_settings.output_dir / "figures").mkdir(parents=True)
    assert reset.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"Would remove: {tmp_settings.output_dir / 'figures'}" in out
    assert (tmp_settings.output_dir / "figures").exists()
    assert reset.main([]) == 0
    assert f"Removed: {tmp_settings.output_dir / 'figures'}" in capsys.readouterr().out
    assert reset.main([]) == 0 and "Nothing to remove" in capsys.readouterr().out


@pytest.mark.parametrize("variable, value", [("OUTPUT_DIR", "a-file"), ("MILVUS_URI", "milvus.db")])
def test_a_wrong_setting_is_one_sentence_and_removes_nothing(tmp_settings: config.Settings, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, variable: str,
                                                             value: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_settings.output_dir / "figures").mkdir(parents=True)
    monkeypatch.setenv(variable, str(tmp_path / value) if value == "a-file" else value)
    assert reset.main([]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("Nothing removed. ") and captured.err.count("\n") == 1 and not captured.out
    assert (tmp_settings.output_dir / "figures").exists()
