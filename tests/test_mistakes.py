"""Every mistake a learner can make gets one clear sentence, and no photo is left out for its name (issue 19).

The command line answers in one short line on stderr, without a traceback, with a non-zero exit; in a notebook
the error shows its advice first (`_render_traceback_`, as DatabaseLockedError does). Where a mistake has a
sensible meaning (a year for `date_filter`, one path for `embed_images`), the helper does that instead.
Every file here is generated in the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from support import OFFLINE_MODEL, unit_vectors, write_photo

from helpers import config
from helpers.collection import album, database, filters, indexing, store
from helpers.photos import data, photo_info
from helpers.photos import folder as library
from helpers.vectors import embeddings

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The command line's settings: a fresh data folder, the offline model, Milvus Lite."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "TUTORIAL_DATA_DIR": str(tmp_path / "data"),
            "OUTPUT_DIR": str(tmp_path / "outputs"), "MODEL_NAME": OFFLINE_MODEL, "EMBED_BACKEND": "torch",
            "MILVUS_URI": "", "COLLECTION_NAME": "mine"}


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """A folder with two small photos."""
    for name in ("a.jpg", "b.jpg"):
        write_photo(tmp_path / "photos" / name)
    return tmp_path / "photos"


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def _index_folder(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "helpers.commands.index_folder", *args], env)


def _one_line(run: subprocess.CompletedProcess) -> str:
    """The command line's only line on stderr; fails when there is a traceback or more to read."""
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


# --- the command line --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--round-size", "-5"], ["--round-size", "0"], ["--dry-run", "--sample", "0"]])
def test_a_count_below_one_is_refused_before_anything_runs(args: list[str], photo_folder: Path, tmp_path: Path,
                                                           cli_env: dict[str, str]) -> None:
    run = _index_folder(str(photo_folder), *args, env=cli_env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and f"{args[-2]}: give 1 or more" in run.stderr.splitlines()[-1]
    assert not (tmp_path / "data").exists()  # nothing indexed, no database made


@pytest.mark.parametrize(("uri", "advice"), [("milvus.db", "MILVUS_LITE_PATH=milvus.db"),
                                             ("localhost:19530", "MILVUS_URI=http://localhost:19530")])
def test_a_milvus_uri_that_is_no_server_address_gets_the_projects_own_sentence(
        uri: str, advice: str, photo_folder: Path, tmp_path: Path, cli_env: dict[str, str]) -> None:
    run = _index_folder(str(photo_folder), env={**cli_env, "MILVUS_URI": uri})
    assert run.returncode == 1 and advice in _one_line(run)
    assert not (tmp_path / "data").exists()
    in_a_notebook = _run([sys.executable, str(SCRIPTS / "import_collection.py")], {**cli_env, "MILVUS_URI": uri})
    shown = json.loads(in_a_notebook.stdout)
    assert shown["raised"] == "SettingsError" and len(shown["shown"]) == 1 and advice in shown["shown"][0]


@pytest.mark.parametrize("variable", ["OUTPUT_DIR", "TUTORIAL_DATA_DIR"])
def test_a_folder_setting_that_names_a_file_stops_before_indexing(variable: str, photo_folder: Path, tmp_path: Path,
                                                                  cli_env: dict[str, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    run = _index_folder(str(photo_folder), env={**cli_env, variable: str(a_file)})
    line = _one_line(run)
    assert run.returncode == 1 and f"{variable}={a_file}" in line and "a folder" in line
    assert not (tmp_path / "data").exists()  # stopped before indexing
    monkeypatch.setenv(variable, str(a_file / "below"))  # a folder inside a file cannot be made either
    with pytest.raises(config.SettingsError, match=variable):
        config.load_settings()


def test_a_report_path_inside_a_file_stops_before_indexing(photo_folder: Path, tmp_path: Path,
                                                          cli_env: dict[str, str]) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")
    run = _index_folder(str(photo_folder), "--report", str(tmp_path / "notes.txt" / "skipped.csv"), env=cli_env)
    assert run.returncode == 1 and "--report" in _one_line(run)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("module", ["torch", "pymilvus"])
def test_ctrl_c_during_start_up_stops_in_one_line(module: str, photo_folder: Path, cli_env: dict[str, str]) -> None:
    run = _run([sys.executable, str(SCRIPTS / "interrupt_at_import.py"), module, str(photo_folder)], cli_env)
    assert run.returncode == 130 and "Stopped" in _one_line(run)


# --- the default model without network ------------------------------------------------------------------------

def _no_hub(tmp_path: Path) -> dict[str, str]:
    """Settings where the Hugging Face hub cannot be reached (a closed local port) and nothing is cached yet."""
    return {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "", "TUTORIAL_DATA_DIR": str(tmp_path / "data")}


def test_a_hub_model_without_network_fails_at_once_with_the_offline_advice(tmp_path: Path) -> None:
    run = _run([sys.executable, str(SCRIPTS / "load_hub_model.py")], _no_hub(tmp_path))
    outcome = json.loads(run.stdout)
    assert outcome["loaded"] is False and "MODEL_NAME=efficientnet_lite0" in outcome["message"]
    assert "cannot be reached" in outcome["message"] and len(outcome["message"].splitlines()) <= 3
    assert "Retry" not in run.stderr, run.stderr  # no download attempts, no retries: one quick look


def test_a_cached_hub_model_loads_without_network(tmp_path: Path) -> None:
    """Weights downloaded before are used at once when the hub cannot be reached."""
    import timm
    from safetensors.torch import save_file

    snapshot = tmp_path / "hf/hub/models--timm--test_resnet.r160_in1k/snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    save_file(timm.create_model("test_resnet").state_dict(), str(snapshot / "model.safetensors"))
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs/main").write_text("0" * 40)
    run = _run([sys.executable, str(SCRIPTS / "load_hub_model.py")], _no_hub(tmp_path))
    assert json.loads(run.stdout)["loaded"] is True, run.stdout + run.stderr
    assert "Retry" not in run.stderr, run.stderr


# --- Python: the store, filters, albums, embeddings ----------------------------------------------------------

def test_querying_a_collection_that_does_not_exist_says_to_index_first(client) -> None:
    store.insert_embeddings(client, "images", ["/p/a.jpg"], "x", unit_vectors(1), "fake", progress=False)
    with pytest.raises(database.StoreError, match="no collection 'nope'.*index") as raised:
        store.query_photos(client, "nope", "year == 2024")
    assert "'images'" in str(raised.value)  # the collections there are, to spot a typo
    with pytest.raises(database.StoreError, match="no collection 'nope'"):
        store.get_rows(client, "nope", ["/p/a.jpg"])


def test_a_query_cut_at_its_limit_says_how_many_matched(client) -> None:
    paths = [f"/p/{i}.jpg" for i in range(5)]
    store.insert_embeddings(client, "images", paths, "x", unit_vectors(5), "fake", progress=False)
    with pytest.warns(store.LimitReachedWarning, match="2 of the 5 photos"):
        assert len(store.query_photos(client, "images", 'label == "x"', limit=2)) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all of them fit: nothing to say
        assert len(store.query_photos(client, "images", 'label == "x"', limit=5)) == 5


@pytest.mark.parametrize("year", ["2024", 2024])
def test_date_filter_takes_a_year(year: str | int) -> None:
    assert filters.date_filter(year) == filters.date_filter("2024-01-01", "2025-01-01")
    assert filters.date_filter(2023, year) == filters.date_filter("2023-01-01", "2025-01-01")  # both years
    assert filters.date_filter("2024-03") == filters.date_filter("2024-03-01", "2024-04-01")  # a month


@pytest.mark.parametrize("day", ["March", "2024-13-01", 2024.5, "24"])
def test_date_filter_explains_what_it_takes(day: object) -> None:
    with pytest.raises(ValueError, match="2024-03-01"):
        filters.date_filter(day)


def test_album_names_ignore_case_as_tags_do(client) -> None:
    paths = [f"/p/{i}.jpg" for i in range(4)]
    vectors = unit_vectors(4)
    store.insert_embeddings(client, "images", paths, "x", vectors, "fake", progress=False)
    assert album.add_to_album(client, "images", paths[:2], "My_Dog") == 2
    assert album.add_to_album(client, "images", paths[:1], "MY_DOG ") == 0  # already in it
    assert album.album_paths(client, "images", "my_dog") == paths[:2]
    store.update_albums(client, "images", paths[2:3], lambda albums: ["Holiday"])  # as older helpers stored it
    assert album.album_paths(client, "images", "Holiday") == paths[2:3]  # found as it was written
    assert album.remove_from_album(client, "images", paths, "HOLIDAY") == 1
    assert album.album_paths(client, "images", "Holiday") == []


def test_search_with_examples_leaves_the_album_out_as_the_docs_say(client) -> None:
    paths = [f"/p/{i}.jpg" for i in range(6)]
    vectors = unit_vectors(6)
    store.insert_embeddings(client, "images", paths, "x", vectors, "fake", progress=False)
    album.add_to_album(client, "images", paths[:2], "my_dog")
    for combine in album.COMBINE:
        hits = album.search_with_examples(client, "images", vectors[:2], top_k=6, combine=combine,
                                          exclude_album="My_Dog")
        assert sorted(hit.path for hit in hits) == paths[2:]
    docs = (ROOT / "docs/your-own-photos.md").read_text()
    assert "search_with_examples" in docs and "exclude_album" in docs


def test_embed_images_takes_one_path(settings: config.Settings, tmp_path: Path) -> None:
    path = write_photo(tmp_path / "photo.jpg")
    for one in (str(path), path):
        result = embeddings.embed_images(one, OFFLINE_MODEL, progress=False, use_cache=False)
        assert result.image_paths == [path] and result.embeddings.shape[0] == 1


# --- photos whose file names are not valid UTF-8 ------------------------------------------------------------

def _raw_name_folder(root: Path) -> list[bytes]:
    """Photos named in Latin-1 (as old Windows zips and cameras write them) beside a plain one."""
    names = [b"caf\xe9.jpg", b"Vacances \xe9t\xe9/plage.jpg", b"ok.jpg"]
    try:
        os.makedirs(os.path.join(os.fsencode(root), b"Vacances \xe9t\xe9"))
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8 (macOS, Windows)")
    jpeg = write_photo(root.parent / "source.jpg", size=(64, 48)).read_bytes()
    for name in names:
        with open(os.path.join(os.fsencode(root), name), "wb") as f:
            f.write(jpeg)
    return names


def test_a_photo_whose_name_is_not_utf8_is_indexed_opened_and_shown_readably(settings: config.Settings,
                                                                             tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _raw_name_folder(root)
    scan = library.scan_folder(root)
    assert scan.summary()["photo"] == 3
    client = database.connect()
    try:
        result = indexing.index_library(client, "mine", scan, OFFLINE_MODEL, with_tags=False, progress=False)
        assert (result.added, result.scan.summary()["skipped"]) == (3, 0)
        hits = store.query_photos(client, "mine", "year > 0")
        cafe = next(hit for hit in hits if "caf" in hit.path)
        assert data.load_image(cafe.path).size == (64, 48)  # the stored path opens the photo
        assert photo_info.display_path(cafe.path) == str(root) + "/caf\\xe9.jpg"
        rows = store.get_rows(client, "mine", scan.image_paths, ["folder"])
        assert sorted(row["folder"] for row in rows.values()) == ["", "", "Vacances \\xe9t\\xe9"]
        assert store.find_new_images(client, "mine", scan.image_paths) == []  # each one found again
        assert indexing.index_library(client, "mine", scan, OFFLINE_MODEL, with_tags=False, progress=False).added == 0
        vectors = store.get_vectors(client, "mine", [hit.path for hit in hits])
        assert vectors.shape[0] == 3 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    finally:
        database.release_database(client)


def test_the_stored_form_of_a_path_round_trips_and_leaves_plain_paths_alone(tmp_path: Path) -> None:
    odd = Path(os.fsdecode(b"/photos/caf\xe9 100%.jpg"))
    text = data.path_to_text(odd)
    text.encode("utf-8")  # storable as a Milvus VARCHAR
    assert data.text_to_path(text) == odd and data.text_to_path(str(Path(text))) == odd
    assert store.path_key(text) == text and store.path_key(odd) == text
    plain = tmp_path / "Vacances été" / "plage 100%.jpg"  # valid UTF-8: stored as it always was
    assert data.path_to_text(plain) == str(plain) == store.path_key(plain)
    assert data.text_to_path(str(plain)) == plain
