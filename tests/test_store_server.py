"""The scale-up path for real: the same helpers.collection.store code against a Milvus 2.3.5 standalone server.

The server starts once for this module (about 10 s), on loopback only, with its data under the test's temporary
folder (see tests/milvus_server.py). Where it cannot start isolated, the module skips and says why; set
MILVUS_SERVER_TESTS=required (for example in CI) to make that a failure instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import photo_field_checks as checks
import pytest
from support import stored_paths, unit_vectors

from helpers import config
from helpers.collection import database, indexing, store

pytestmark = pytest.mark.server
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture
def client(server_uri: str):
    """A client of the test server; the test's collections are dropped afterwards."""
    client = database.connect(server_uri)
    yield client
    for name in client.list_collections():
        client.drop_collection(name)
    database.release_database(client)


def test_connect_uses_milvus_uri(server_uri: str, tmp_settings: config.Settings,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_URI", server_uri)
    client = database.connect()
    try:
        assert client.get_server_version().startswith("v2.3")
        assert not tmp_settings.milvus_lite_path.exists()  # no Milvus Lite file was made
    finally:
        assert database.release_database(client) is False  # on a server: only closes this client, frees no file


def test_a_released_server_client_reconnects_when_used(client) -> None:
    store.insert_embeddings(client, "images", ["/a.jpg", "/b.jpg"], "x", unit_vectors(2), "m", progress=False)
    database.release_database(client)
    assert store.count_images(client, "images") == 2  # connected again, as the explorer does after Run all
    assert store.search_similar(client, "images", unit_vectors(2)[1], top_k=1)[0].path == "/b.jpg"


def test_search_right_after_insert_finds_the_rows(client) -> None:
    vectors = unit_vectors(300)
    labels = ["Afghan_hound" if i % 3 == 0 else "beagle" for i in range(300)]
    store.insert_embeddings(client, "images", [f"/img{i}.jpg" for i in range(300)], labels, vectors, "m",
                            batch_size=100, progress=False)
    hits = store.search_similar(client, "images", vectors[42], top_k=5)  # no flush, no wait
    assert hits[0].path == "/img42.jpg" and hits[0].score == pytest.approx(1, abs=1e-4)
    assert store.count_images(client, "images") == 300
    results = store.search_similar(client, "images", vectors[:4], top_k=10, filter='label == "Afghan_hound"')
    assert len(results) == 4 and all(len(hits) == 10 and {h.label for h in hits} == {"Afghan_hound"}
                                     for hits in results)


def test_search_matches_exact_cosine_on_the_server(client) -> None:
    vectors = unit_vectors(500, seed=5)
    store.insert_embeddings(client, "images", [f"/img{i}.jpg" for i in range(500)], "x", vectors, "m",
                            progress=False)
    queries = unit_vectors(20, seed=6)
    results = store.search_similar(client, "images", queries, top_k=10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    overlap = np.mean([len({f"/img{i}.jpg" for i in row} & {h.path for h in hits}) / 10
                       for row, hits in zip(exact, results, strict=True)])
    assert overlap >= 0.99


def test_mismatches_get_our_errors(client, capfd: pytest.CaptureFixture) -> None:
    store.insert_embeddings(client, "images", ["/a.jpg"], "a", unit_vectors(1), "m", progress=False)
    with pytest.raises(store.SchemaMismatchError, match="holds 16-d vectors, but m makes 32-d"):
        store.insert_embeddings(client, "images", ["/b.jpg"], "b", unit_vectors(1, dim=32), "m", progress=False)
    with pytest.raises(store.SchemaMismatchError, match="made by m, not other"):
        store.create_collection(client, "images", 16, "other")
    with pytest.raises(store.SchemaMismatchError, match="8 dimensions"):
        store.search_similar(client, "images", np.ones(8))
    assert "expected dim" not in capfd.readouterr().err.lower()


def test_awkward_paths_and_released_collection(client) -> None:
    awkward = ['/photos/say "cheese".jpg', "/photos/it's.jpg", "/photos/back\\slash.jpg", "/photos/été.jpg"]
    store.insert_embeddings(client, "images", awkward[:3], "x", unit_vectors(3), "m", progress=False)
    assert store.find_new_images(client, "images", awkward) == [Path(awkward[3])]
    client.release_collection("images")
    assert store.search_similar(client, "images", unit_vectors(3)[2], top_k=1)[0].path == awkward[2]


def test_index_images_is_incremental(client, fake_embeddings, tmp_path: Path) -> None:
    paths = [tmp_path / f"img{i:02d}.jpg" for i in range(25)]
    assert indexing.index_images(client, "images", paths[:15], "dog", "fake", batch_size=10, progress=False) == 15
    assert indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False) == 10
    assert sorted(stored_paths(client)) == sorted(str(p) for p in paths)


def test_killed_run_resumes_with_each_image_once(client, server_uri: str, fake_embeddings, tmp_path: Path) -> None:
    """The 3rd insert reaches the server, then the client dies before seeing the reply; resume stores each once."""
    folder = tmp_path / "photos"
    child = subprocess.run([sys.executable, str(SCRIPTS / "index_and_die.py"), "after_insert", "3", server_uri,
                            str(folder)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stdout + child.stderr
    assert store.count_images(client, "images") == 30  # the 3rd batch arrived although its sender died
    paths = [folder / f"img{i:03d}.jpg" for i in range(40)]
    assert indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False) == 10
    assert sorted(stored_paths(client)) == sorted(str(p) for p in paths)


# --- the photo fields (notebook 06): the same checks as on Milvus Lite (tests/photo_field_checks.py) -------------

def test_photo_metadata_fields_and_filters(client) -> None:
    checks.check_metadata_and_filters(client, "photos")


def test_albums_update_rows_and_keep_vectors(client) -> None:
    """Milvus 2.3 cannot upsert with automatic ids: the helpers copy the row, then delete the old one."""
    checks.check_albums(client, "photos")


def test_an_interrupted_album_update_loses_nothing(client, monkeypatch: pytest.MonkeyPatch) -> None:
    checks.check_interrupted_album_update(client, "photos", monkeypatch)


def test_location_is_opt_in(client) -> None:
    checks.check_location_is_opt_in(client, "photos")


def test_an_older_collection_is_refused_with_advice(client) -> None:
    checks.check_older_collection_is_refused(client, "photos")


def test_word_filters_keep_the_right_rows(client) -> None:  # the server runs the ARRAY functions as written
    checks.check_word_filters_keep_the_right_rows(client, "photos")


def test_a_tag_search_without_tags_says_how_to_add_them(client) -> None:
    checks.check_a_tag_search_without_tags_says_how_to_add_them(client, "photos")


def test_a_collection_without_word_texts_still_filters_right(client) -> None:
    checks.check_a_collection_without_word_texts_still_filters_right(client, "photos")
