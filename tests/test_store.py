"""Tests for helpers.collection.store on Milvus Lite: schema, errors, batching, search, locks and kill-and-resume.

Most tests use small synthetic unit vectors and a fake `embeddings` module (vectors derived from the path),
so that they run in seconds; one slow test checks search exactness on the real sample embeddings.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pymilvus import MilvusClient
from support import database_held_elsewhere, unit_vectors

from helpers import config
from helpers.collection import database, filters, store

SCRIPTS = Path(__file__).resolve().parent / "scripts"
DIM = 16


# --- connect, schema and mismatches ----------------------------------------------------------------------------


def test_connect_creates_the_lite_folder(tmp_settings: config.Settings) -> None:
    assert not tmp_settings.data_dir.exists()
    client = database.connect()
    try:
        assert tmp_settings.milvus_lite_path.exists()
        assert store.count_images(client, "images") == 0
    finally:
        database.release_database(client)


def test_connect_to_a_missing_server_says_what_to_check() -> None:
    with pytest.raises(database.StoreError, match="MILVUS_URI"):
        database.connect("http://127.0.0.1:1")


def test_create_collection_has_the_explicit_schema(client) -> None:
    store.create_collection(client, "images", DIM, "m")
    info = client.describe_collection("images")
    fields = {f["name"]: f for f in info["fields"]}
    assert set(fields) == {"id", "vector", "path", "label", "model_name", "taken_at", "year", "camera", "width",
                           "height", "folder", "tags", "albums", "tags_text", "albums_text"}  # no location unless
    # asked for (notebook 06); tags_text and albums_text hold the words as text, for fast filters on Milvus Lite
    assert fields["id"].get("auto_id") or info.get("auto_id")
    assert int(fields["vector"]["params"]["dim"]) == DIM
    assert client.describe_index("images", "vector")["metric_type"] == "COSINE"


@pytest.mark.parametrize("dim, model_name, cause", [(DIM * 2, "m", "holds 16-d vectors"),
                                                     (DIM, "other-model", "made by m, not other-model")])
def test_create_collection_refuses_another_dim_or_model(client, dim: int, model_name: str, cause: str) -> None:
    store.insert_embeddings(client, "images", ["/a.jpg"], ["a"], unit_vectors(1), "m", progress=False)
    with pytest.raises(store.SchemaMismatchError, match=cause) as err:
        store.create_collection(client, "images", dim, model_name)
    assert "recreate=True" in str(err.value) and "COLLECTION_NAME" in str(err.value)
    assert store.count_images(client, "images") == 1  # nothing was touched


def test_insert_with_another_dim_gets_our_error_not_milvus(client, capfd: pytest.CaptureFixture) -> None:
    store.insert_embeddings(client, "images", ["/a.jpg"], ["a"], unit_vectors(1), "m", progress=False)
    with pytest.raises(store.SchemaMismatchError, match="holds 16-d vectors, but m makes 32-d"):
        store.insert_embeddings(client, "images", ["/b.jpg"], ["b"], unit_vectors(1, dim=32), "m", progress=False)
    assert "expected dim" not in capfd.readouterr().err


def test_collection_from_elsewhere_is_refused(client) -> None:
    client.create_collection("blog", dimension=DIM, metric_type="COSINE", auto_id=True, enable_dynamic_field=True)
    with pytest.raises(store.SchemaMismatchError, match="not made by these helpers"):
        store.create_collection(client, "blog", DIM, "m")


def test_recreate_replaces_the_collection(client) -> None:
    store.insert_embeddings(client, "images", ["/a.jpg"], ["a"], unit_vectors(1), "m", progress=False)
    store.create_collection(client, "images", DIM * 2, "other", recreate=True)
    assert store.count_images(client, "images") == 0
    assert int(client.describe_collection("images")["fields"][1]["params"]["dim"]) == DIM * 2


# --- insert and search --------------------------------------------------------------------------------------------


def test_insert_in_batches_then_flush_once(client, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"insert": 0, "flush": 0}
    for name in calls:
        original = getattr(client, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(client, name, counting)
    n = store.insert_embeddings(client, "images", [f"/img{i}.jpg" for i in range(25)], "dog", unit_vectors(25),
                                "m", batch_size=10, progress=False)
    assert n == 25 and store.count_images(client, "images") == 25
    assert calls == {"insert": 3, "flush": 1}


@pytest.mark.parametrize("bad", ["labels", "rows", "long_path"])
def test_insert_rejects_inconsistent_input(client, bad: str) -> None:
    paths, labels, vectors = ["/a.jpg", "/b.jpg"], ["a", "b"], unit_vectors(2)
    if bad == "labels":
        labels = ["a"]
    elif bad == "rows":
        vectors = unit_vectors(3)
    else:
        paths = ["/" + "x" * 5000 + ".jpg", "/b.jpg"]
    with pytest.raises(ValueError):
        store.insert_embeddings(client, "images", paths, labels, vectors, "m", progress=False)


def test_search_returns_hits_best_first_like_numpy(client) -> None:
    vectors = unit_vectors(200)
    labels = ["dog" if i % 2 else "cat" for i in range(200)]
    store.insert_embeddings(client, "images", [f"/img{i}.jpg" for i in range(200)], labels, vectors, "m",
                            progress=False)
    queries = unit_vectors(5, seed=1)
    results = store.search_similar(client, "images", queries, top_k=10)
    assert len(results) == 5 and all(len(hits) == 10 for hits in results)
    for query, hits in zip(queries, results, strict=True):
        exact = np.argsort(-(vectors @ query))[:10]
        assert [h.path for h in hits] == [f"/img{i}.jpg" for i in exact]
        assert np.allclose([h.score for h in hits], (vectors @ query)[exact], atol=1e-4)


def test_search_one_query_and_a_filter(client) -> None:
    vectors = unit_vectors(40)
    labels = ["Afghan_hound" if i % 4 == 0 else "beagle" for i in range(40)]
    store.insert_embeddings(client, "images", [f"/img{i}.jpg" for i in range(40)], labels, vectors, "m",
                            progress=False)
    hits = store.search_similar(client, "images", vectors[3], top_k=5)
    assert isinstance(hits[0], store.Hit) and hits[0].path == "/img3.jpg"
    assert hits[0].score == pytest.approx(1, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    hounds = store.search_similar(client, "images", vectors[3], top_k=20, filter='label == "Afghan_hound"')
    assert len(hounds) == 10 and {h.label for h in hounds} == {"Afghan_hound"}


@pytest.mark.parametrize("query, error, match", [
    (np.ones(8), store.SchemaMismatchError, "8 dimensions"),
    ("bad filter", database.StoreError, "A filter looks like"),
])
def test_search_errors_teach(client, capfd: pytest.CaptureFixture, query, error, match) -> None:
    store.insert_embeddings(client, "images", ["/a.jpg"], ["a"], unit_vectors(1), "m", progress=False)
    filter = "label = 'a'" if isinstance(query, str) else None
    vector = unit_vectors(1)[0] if isinstance(query, str) else query
    with pytest.raises(error, match=match):
        store.search_similar(client, "images", vector, filter=filter)
    assert "Traceback" not in capfd.readouterr().err


def test_search_a_missing_collection(client) -> None:
    with pytest.raises(database.StoreError, match="index_images"):
        store.search_similar(client, "nothing_here", unit_vectors(1)[0])


def test_reopened_database_counts_and_searches(tmp_settings: config.Settings) -> None:
    client = database.connect()
    store.insert_embeddings(client, "images", ["/a.jpg", "/b.jpg"], "x", unit_vectors(2), "m", progress=False)
    database.release_database(client)
    client = database.connect()
    try:
        assert client.get_load_state("images")["state"].name != "Loaded"  # what Milvus Lite does on reopen
        assert store.count_images(client, "images") == 2
        assert store.search_similar(client, "images", unit_vectors(2)[1], top_k=1)[0].path == "/b.jpg"
    finally:
        database.release_database(client)


# --- which images are stored -----------------------------------------------------------------------------------------


def test_find_new_images_with_awkward_paths(client) -> None:
    awkward = ['/photos/say "cheese".jpg', "/photos/it's.jpg", "/photos/back\\slash.jpg", "/photos/été 2024.jpg",
               "/photos/[1] (copy).jpg", "/photos/tab\there.jpg"]
    store.insert_embeddings(client, "images", awkward[:4], "x", unit_vectors(4), "m", progress=False)
    assert store.find_new_images(client, "images", awkward + awkward) == [Path(p) for p in awkward[4:]]
    assert store.find_new_images(client, "other", ["rel/a.jpg"]) == [Path("rel/a.jpg").absolute()]


# --- one process per Milvus Lite database -------------------------------------------------------------------------

def test_second_process_gets_advice_then_release_frees_the_file(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    db = tmp_path / "shared.db"
    with database_held_elsewhere(db) as holder:
        with pytest.raises(database.DatabaseLockedError) as err:
            database.connect(str(db))
        for advice in ("another process", "release_database", "Shut Down Kernel", "milvus-lite server", "MILVUS_URI"):
            assert advice in str(err.value)
        assert "DataDirLockedError" not in capfd.readouterr().err  # Milvus Lite's own traceback stays hidden
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        client = database.connect(str(db))  # the holder is still running, but has let go of the file
        database.release_database(client)


def test_release_database_frees_the_file_for_another_process(tmp_settings: config.Settings) -> None:
    client = database.connect()
    database.release_database(client)
    with database_held_elsewhere(tmp_settings.milvus_lite_path):
        pass  # it opened the file: the release freed it


# --- exactness on the real sample embeddings ----------------------------------------------------------------------


@pytest.mark.slow
def test_search_matches_exact_cosine_on_the_sample_embeddings(real_dataset, tmp_path: Path) -> None:
    """Milvus top-10 against numpy top-10 on the real train/test embeddings: at least 99% overlap."""
    from helpers.vectors import embeddings

    model_name = "efficientnet_lite0"  # the offline model; the embedding cache makes re-runs fast
    train = embeddings.embed_images(real_dataset.train.image_paths, model_name, progress=False)
    test = embeddings.embed_images(real_dataset.test.image_paths, model_name, progress=False)
    client = database.connect(str(tmp_path / "exact.db"))
    try:
        labels = [Path(p).parent.name for p in train.image_paths]
        store.insert_embeddings(client, "images", train.image_paths, labels, train.embeddings, model_name,
                                progress=False)
        results = store.search_similar(client, "images", test.embeddings, top_k=10)
    finally:
        database.release_database(client)
    keys = np.array([store.path_key(p) for p in train.image_paths])
    similarities = test.embeddings @ train.embeddings.T
    exact = np.argsort(-similarities, axis=1)[:, :10]
    found = [{h.path for h in hits} for hits in results]
    overlap = np.mean([len(set(keys[row]) & paths) / 10 for row, paths in zip(exact, found, strict=True)])
    assert overlap >= 0.99
    assert np.allclose([h.score for h in results[0]], similarities[0, exact[0]], atol=1e-4)


def test_a_released_client_opens_its_database_again_when_used(tmp_settings) -> None:
    client = database.connect()
    vectors = np.eye(2, 8, dtype=np.float32)
    store.insert_embeddings(client, "released", ["/a.jpg", "/b.jpg"], "x", vectors, "m", progress=False)
    assert database.release_database(client) is True  # a Milvus Lite file was freed
    assert another_process_opens(tmp_settings.milvus_lite_path)
    try:
        assert store.count_images(client, "released") == 2  # as the explorer does after the notebook's last cell
        assert store.search_similar(client, "released", vectors[1], top_k=1)[0].path == "/b.jpg"
        assert not another_process_opens(tmp_settings.milvus_lite_path)  # this process holds the file again
    finally:
        assert database.release_database(client) is True
    assert another_process_opens(tmp_settings.milvus_lite_path)


def test_a_client_not_made_by_connect_says_how_to_reconnect() -> None:
    foreign = MilvusClient.__new__(MilvusClient)  # made by hand: the helpers do not know its database
    database._RELEASED.add(foreign)
    with pytest.raises(database.StoreError, match=r"client = database.connect\(\)"):
        store.count_images(foreign, "anything")


def another_process_opens(path: Path) -> bool:
    """Whether another process can open the Milvus Lite database at `path` (it lets go of it at once)."""
    other = subprocess.run([sys.executable, str(SCRIPTS / "hold_database.py"), str(path)], input="\n\n",
                           capture_output=True, text=True, timeout=120)
    if "DatabaseLockedError" in other.stderr:
        return False
    assert other.stdout.split() == ["holding", "released"], other.stderr
    return True


def test_a_lock_error_shows_its_advice_first_and_no_traceback(tmp_path: Path, capsys) -> None:
    """In a notebook, IPython shows `_render_traceback_` instead of a traceback: the advice, first, with no chain."""
    from IPython.core.interactiveshell import InteractiveShell

    db = tmp_path / "shared.db"
    with database_held_elsewhere(db):
        with pytest.raises(database.DatabaseLockedError) as err:
            database.connect(str(db))
        shell = InteractiveShell.instance()
        shell.user_ns["database"] = database
        capsys.readouterr()
        result = shell.run_cell(f"client = database.connect({str(db)!r})")
        shown = capsys.readouterr().out
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no "During handling of..." chain
    assert isinstance(result.error_in_exec, database.DatabaseLockedError)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown).strip()
    assert plain.startswith(f"DatabaseLockedError: The Milvus Lite database {db} is open in another process")
    assert "Shut Down Kernel" in plain and "make run" in plain
    assert "Traceback" not in plain and "ConnectionConfigException" not in plain and len(plain.splitlines()) == 1


@pytest.mark.parametrize(("label", "expected"), [
    (None, None),
    ("Afghan_hound", 'label == "Afghan_hound"'),
    ('odd "name"', 'label == "odd \\"name\\""'),
])
def test_label_filter(label, expected):
    assert filters.label_filter(label) == expected


# --- the gRPC connection: no keepalive pings to a server on this machine ---------------------------------------


@pytest.mark.parametrize(("uri", "loopback"), [
    ("http://127.0.0.1:19530", True), ("http://localhost:19530", True), ("http://[::1]:19530", True),
    ("http://user:pw@127.0.0.1:19530", True), ("http://milvus.example.org:19530", False),
    ("https://in01-abc.zillizcloud.com", False), ("http://10.0.0.5:19530", False),
])
def test_loopback_addresses(uri: str, loopback: bool) -> None:
    assert database._is_loopback(uri) is loopback


def test_a_lite_client_sends_no_keepalive_pings(tmp_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """pymilvus pings every 10 s; Milvus Lite's gRPC server hangs up after a few (GOAWAY too_many_pings on stderr).

    Idling past that takes about 2 minutes, too slow for a test, so this checks the channel options instead; the
    README says how the idle client was watched.
    """
    import grpc

    channels: list[dict] = []
    real_channel = grpc.insecure_channel

    def recording_channel(target, options=None, *args, **kwargs):
        channels.append(dict(options or []))
        return real_channel(target, options, *args, **kwargs)

    monkeypatch.setattr(grpc, "insecure_channel", recording_channel)
    client = database.connect()
    try:
        assert channels and all(options["grpc.keepalive_time_ms"] == 2**31 - 1 for options in channels)
    finally:
        database.release_database(client)


# --- filtered search: top_k hits whenever that many rows match ---------------------------------------------------


def test_a_filtered_search_finds_top_k_far_from_the_query(client) -> None:
    """HNSW skips rows that fail the filter while it walks its graph: with ef 64 a far class came back short."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, 64))
    vectors = np.repeat(centres, 10, axis=0) + 0.6 * rng.normal(size=(1000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    labels = [f"class_{i // 10:03d}" for i in range(1000)]
    store.insert_embeddings(client, "clusters", [f"/p/{i}.jpg" for i in range(1000)], labels, vectors, "m",
                            progress=False)
    wait_for_lite_index(client, "clusters")  # until then Milvus Lite searches exhaustively, and finds them all
    for query in range(0, 1000, 100):
        for label in ("class_007", "class_042", "class_093"):
            hits = store.search_similar(client, "clusters", vectors[query], top_k=10,
                                        filter=filters.label_filter(label))
            assert len(hits) == 10 and {hit.label for hit in hits} == {label}
    assert len(store.search_similar(client, "clusters", vectors[0], top_k=12,
                                    filter=filters.label_filter("class_042"))) == 10  # only 10 rows match


def wait_for_lite_index(client, collection_name: str) -> None:
    """Wait until Milvus Lite has built its HNSW index, which it does in the background after a flush.

    There is no public call for this; like benchmarks/bench_store.py, the test uses Milvus Lite's private one.
    """
    from milvus_lite.server_manager import server_manager_instance

    _, lite_db, _ = server_manager_instance._servers[str(database._LITE_PATHS[client])]
    lite_db.get_collection(collection_name)._wait_for_bg()
