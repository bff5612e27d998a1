"""Rounds stored from a second process (what indexing does while a GPU runs the pipeline): the same rows as when
stored here, errors raised here, a dead process reported, Ctrl+C keeping what was counted, and the Milvus Lite
database free for this process again afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import stored_paths

from helpers.collection import database, indexing, insert_process, store
from helpers.vectors import embeddings

FIELDS = ["path", "label", "model_name", "camera", "folder", "taken_at", "year", "width", "height", "tags",
          "tags_text"]


def _forbid_inserts_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make an insert in this process fail, so that rows that arrive can only have come from the other one."""
    def refuse(*args, **kwargs):
        raise AssertionError("inserted in the indexing process")

    monkeypatch.setattr(store, "insert_embeddings", refuse)


def test_rows_stored_from_a_second_process_are_the_rows_stored_here(client, fake_embeddings, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [tmp_path / f"2024/img{i:03d}.jpg" for i in range(30)]
    monkeypatch.setattr(indexing, "INSERT_PROCESS", False)
    assert indexing.index_images(client, "here", paths, "dog", "fake", batch_size=10, progress=False,
                                 with_tags=False) == 30
    with monkeypatch.context() as inside:
        inside.setattr(indexing, "INSERT_PROCESS", True)
        _forbid_inserts_here(inside)
        assert indexing.index_images(client, "there", paths, "dog", "fake", batch_size=10, progress=False,
                                     with_tags=False) == 30
    here, there = (store.get_rows(client, name, paths, FIELDS) for name in ("here", "there"))
    assert here == there and len(there) == 30
    assert np.array_equal(store.get_vectors(client, "here", paths), store.get_vectors(client, "there", paths))
    hits = store.search_similar(client, "there", fake_embeddings.vector_for(paths[7]), top_k=1)
    assert hits[0].path == str(paths[7])  # flushed and searchable, by this process, which opened it again


def test_an_error_there_is_raised_here_and_the_next_round_still_goes_in(client) -> None:
    store.create_collection(client, "c", 4, "fake")
    with insert_process.InsertProcess(client, "c") as storing:
        with pytest.raises(Exception, match="(?i)dim"):
            storing.insert(["/a.jpg"], [""], np.ones((1, 8), np.float32), "fake", [{}])
        assert storing.insert(["/b.jpg"], [""], np.ones((1, 4), np.float32), "fake", [{}]) == 1
        storing.flush()
        index_files = Path(database.opened_as(client)[0], "collections/c/partitions/_default/indexes")
        assert any(index_files.iterdir())  # indexed there, at the flush, not later by this process's first search
    assert store.count_images(client, "c") == 1  # the database is this process's again
    assert stored_paths(client, "c") == ["/b.jpg"]


def test_a_dead_insert_process_is_an_error_that_says_to_run_again(client) -> None:
    store.create_collection(client, "c", 4, "fake")
    storing = insert_process.InsertProcess(client, "c")
    try:
        assert storing.insert(["/a.jpg"], [""], np.ones((1, 4), np.float32), "fake", [{}]) == 1
        storing._process.kill()
        storing._process.join()
        with pytest.raises(database.StoreError, match="stopped .exit code -9.*run the indexing again"):
            storing.insert(["/b.jpg"], [""], np.ones((1, 4), np.float32), "fake", [{}])
    finally:
        storing.close()
    assert store.count_images(client, "c") == 1  # open here again (a killed process holds no lock), nothing lost


def test_ctrl_c_keeps_the_rounds_stored_there_and_frees_the_database(client, fake_embeddings, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real_stream, seen = fake_embeddings.embed_in_batches, []

    def stopped_by_ctrl_c(image_paths, *args, **kwargs):
        for batch in real_stream(image_paths, *args, **kwargs):
            seen.extend(batch.positions)
            if len(seen) > 25:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(embeddings, "embed_in_batches", stopped_by_ctrl_c)
    monkeypatch.setattr(indexing, "INSERT_PROCESS", True)
    paths = [tmp_path / f"img{i:03d}.jpg" for i in range(40)]
    with pytest.raises(KeyboardInterrupt):
        indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10, progress=False)
    stored = stored_paths(client)  # this process opens the database again: the insert process has let go
    assert sorted(stored) == sorted(map(str, paths[:20]))  # the two rounds sent; the third was not whole
    monkeypatch.setattr(embeddings, "embed_in_batches", real_stream)
    assert indexing.index_images(client, "images", paths, "dog", "fake", batch_size=10,
                                 progress=False) == 40 - len(stored)
    assert sorted(stored_paths(client)) == sorted(map(str, paths))


def test_rows_are_stored_from_a_second_process_only_while_a_gpu_runs_the_model(client,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from pymilvus import MilvusClient

    from helpers.vectors import models

    assert indexing.INSERT_PROCESS is None  # decided by the device, unless a benchmark forces it
    assert not indexing._insert_elsewhere(client, "torch")  # this machine's CPU
    monkeypatch.setattr(models, "pick_device", lambda: torch.device("cuda"))
    assert indexing._insert_elsewhere(client, "torch")
    assert indexing._insert_elsewhere(client, "auto")  # auto picks torch on a GPU
    assert not indexing._insert_elsewhere(client, "onnx")  # the pipeline runs ONNX Runtime on the CPU
    unknown = MilvusClient.__new__(MilvusClient)  # made without collection.connect: cannot be opened elsewhere
    assert not indexing._insert_elsewhere(unknown, "torch")
