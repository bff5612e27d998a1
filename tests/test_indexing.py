"""Tests for helpers.collection.indexing on Milvus Lite: only new images are embedded and stored; a killed run resumes.

The model is replaced by tests/fake_embeddings.py (a vector made from each path), so these run in seconds.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import stored_paths

from helpers.collection import database, indexing, store
from helpers.vectors import embeddings

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def test_index_images_adds_only_new_images(client, fake_embeddings, tmp_path: Path) -> None:
    paths = [tmp_path / f"img{i:03d}.jpg" for i in range(30)]
    assert indexing.index_images(client, "images", paths[:20], "dog", "fake", batch_size=8, progress=False) == 20
    assert indexing.index_images(client, "images", paths[:20], "dog", "fake", progress=False) == 0
    assert indexing.index_images(client, "images", paths + paths[:5], "dog", "fake", progress=False) == 10
    assert sorted(stored_paths(client)) == sorted(str(p) for p in paths)
    hits = store.search_similar(client, "images", fake_embeddings.vector_for(paths[7]), top_k=1)
    assert hits[0].path == str(paths[7])


def test_index_images_warns_about_unreadable_images(client, fake_embeddings, tmp_path: Path) -> None:
    paths = [tmp_path / "ok.jpg", tmp_path / "broken.jpg"]
    with pytest.warns(UserWarning, match="broken.jpg"):
        assert indexing.index_images(client, "images", paths, ["a", "b"], "fake", progress=False) == 1


def test_index_images_refuses_another_model(client, fake_embeddings, tmp_path: Path) -> None:
    indexing.index_images(client, "images", [tmp_path / "a.jpg"], "a", "fake", progress=False)
    with pytest.raises(store.SchemaMismatchError, match="made by fake, not other"):
        indexing.index_images(client, "images", [tmp_path / "b.jpg"], "b", "other", progress=False)
    assert indexing.index_images(client, "images", [tmp_path / "b.jpg"], "b", "other", recreate=True,
                              progress=False) == 1


# --- killed mid-run, then resumed: every image present exactly once ----------------------------------------------

# Each case kills a process; `make unit` keeps the quickest (torn_write).
@pytest.mark.parametrize("mode, rows_left", [pytest.param("after_insert", 30, marks=pytest.mark.slow),
                                             pytest.param("before_wal_write", 20, marks=pytest.mark.slow),
                                             ("torn_write", 20)])
def test_killed_run_resumes_with_each_image_once(tmp_path: Path, fake_embeddings, mode: str, rows_left: int) -> None:
    """SIGKILL at the 3rd insert of 4 (after it, or inside it before or halfway through its write), then resume."""
    db, folder = tmp_path / "kill.db", tmp_path / "photos"
    child = subprocess.run([sys.executable, str(SCRIPTS / "index_and_die.py"), mode, "3", str(db), str(folder)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stdout + child.stderr  # it really was killed
    client = database.connect(str(db))
    try:
        assert store.count_images(client, "images") == rows_left  # none lost but the killed batch
        paths = [folder / f"img{i:03d}.jpg" for i in range(40)]
        added = indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False)
        assert added == 40 - rows_left
        stored = stored_paths(client)
        assert len(stored) == 40 and sorted(stored) == sorted(str(p) for p in paths)  # each exactly once
    finally:
        database.release_database(client)




def test_the_next_round_is_embedded_while_a_round_is_inserted(client, fake_embeddings, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The first insert waits for the second round's photos to reach the pipeline: they do, meanwhile."""
    next_round_started, embedded, overlapped = threading.Event(), [], []
    real_stream, real_insert = fake_embeddings.embed_in_batches, store.insert_embeddings

    def stream(image_paths, *args, **kwargs):
        for batch in real_stream(image_paths, *args, **kwargs):
            embedded.extend(batch.positions)
            if len(embedded) > 10:
                next_round_started.set()
            yield batch

    def insert_while_watching(*args, **kwargs):
        overlapped.append(next_round_started.wait(timeout=10))  # one after the other, this waited in vain
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(embeddings, "embed_in_batches", stream)
    monkeypatch.setattr(store, "insert_embeddings", insert_while_watching)
    paths = [tmp_path / f"img{i:03d}.jpg" for i in range(30)]
    assert indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False) == 30
    assert overlapped == [True, True, True] and sorted(stored_paths(client)) == sorted(map(str, paths))


def test_the_collection_is_checked_once_per_run_not_once_per_round(client, fake_embeddings, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """On Milvus Lite the check's query reads every stored row: once per round made indexing quadratic."""
    paths = [tmp_path / f"img{i:03d}.jpg" for i in range(40)]
    indexing.index_images(client, "images", paths[:10], "dog", "fake", progress=False)
    checks, real_check = [], store._check_collection
    monkeypatch.setattr(store, "_check_collection", lambda *a, **k: checks.append(1) or real_check(*a, **k))
    assert indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False) == 30
    assert len(checks) == 1 and sorted(stored_paths(client)) == sorted(map(str, paths))


def test_an_insert_that_fails_stops_the_run_with_its_error(client, fake_embeddings, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in the background insert reaches the caller; the rounds before it stay stored."""
    real_insert, calls = store.insert_embeddings, []

    def insert_until_full(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(store, "insert_embeddings", insert_until_full)
    paths = [tmp_path / f"img{i:03d}.jpg" for i in range(30)]
    with pytest.raises(RuntimeError, match="disk full"):
        indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False)
    assert len(calls) == 2 and sorted(stored_paths(client)) == sorted(map(str, paths[:10]))


def test_nothing_to_index_draws_no_progress_bar(client, fake_embeddings, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    paths = [tmp_path / f"img{i}.jpg" for i in range(3)]
    indexing.index_images(client, "images", paths, "dog", "fake", progress=True)
    assert "Indexing" in capsys.readouterr().err  # the first run shows its progress
    assert indexing.index_images(client, "images", paths, "dog", "fake", progress=True) == 0
    assert capsys.readouterr().err == ""  # no empty 0/0 bar


def test_one_label_per_image_or_one_for_all(client, fake_embeddings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one label per image"):
        indexing.index_images(client, "images", [tmp_path / "a.jpg", tmp_path / "b.jpg"], ["dog"], "fake")


def test_a_second_run_on_a_collection_at_once_is_refused_and_says_who_runs(client, fake_embeddings,
                                                                          tmp_path: Path) -> None:
    paths = [tmp_path / f"img{i}.jpg" for i in range(3)]
    with indexing._one_run_at_a_time(client, "images"):  # as another notebook's run would
        with pytest.raises(indexing.IndexingBusyError, match=rf"process {os.getpid()} .*collection 'images'"):
            indexing.index_images(client, "images", paths, "dog", "fake", progress=False)
        assert not client.has_collection("images")  # refused before it changed anything
        assert indexing.index_images(client, "other", paths, "dog", "fake", progress=False) == 3  # not locked
    assert indexing.index_images(client, "images", paths, "dog", "fake", progress=False) == 3  # free again
    assert sorted(stored_paths(client)) == sorted(map(str, paths))


def test_a_run_that_has_only_just_taken_the_lock_is_still_named(tmp_path: Path) -> None:
    """Between taking the lock and writing who it is, a run's lock file is empty for a moment: wait for the name."""
    lock_path = tmp_path / "index.lock"
    lock_path.touch()
    writer = threading.Timer(0.2, lambda: lock_path.write_text("process 42 (index_folder), started at 10:00:00"))
    writer.start()
    try:
        with open(lock_path, "a+", encoding="utf-8") as lock_file:
            assert indexing._holder(lock_file) == "process 42 (index_folder), started at 10:00:00"
    finally:
        writer.join()
    lock_path.write_text("")
    with open(lock_path, "a+", encoding="utf-8") as lock_file:
        assert indexing._holder(lock_file, wait=0.1) == "another process"  # nothing written: no name to give


def test_the_progress_bar_counts_a_round_once_it_is_stored() -> None:
    """What the bar shows when you press Ctrl+C is what stays: a round embedded but not yet inserted is not counted."""
    from tqdm.auto import tqdm

    release = threading.Event()

    def slow_insert(photos: indexing._Round) -> tuple[int, list]:
        release.wait(10)
        return len(photos.paths), []

    round_of_four = indexing._Round(paths=[Path(f"{i}.jpg") for i in range(4)])
    with tqdm(total=8, file=io.StringIO()) as bar, indexing._Inserter(slow_insert, bar) as inserter:
        inserter.submit(round_of_four)
        assert bar.n == 0  # embedded, being inserted
        release.set()
        inserter.wait()
        assert bar.n == 4 and inserter.added == 4
