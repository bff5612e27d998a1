"""Checks of the photo fields (metadata, tags, albums, filters) run on Milvus Lite and on the Milvus 2.3.5 server.

Each `check_*` takes a client and a fresh collection name and asserts; tests/test_store_photos.py runs them on
Milvus Lite, tests/test_store_server.py on the server, so both backends pass the same checks.
"""

from __future__ import annotations

import calendar
import math
from datetime import datetime

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from support import unit_vectors

from helpers import album, database, filters, store

PATHS = [f"/photos/IMG_{i:04d}.jpg" for i in range(6)]
METADATA = [
    {"taken_at": datetime(2023, 4, 8, 10, 12), "camera": "Pixel 7", "width": 4032, "height": 3024,
     "folder": "2023/Park", "tags": ["dog", "afghan hound", "afghan"]},
    {"taken_at": datetime(2023, 12, 31, 23, 59, 59), "camera": "Pixel 7", "width": 3024, "height": 4032,
     "folder": "2023/Party", "tags": ["pizza"]},
    {"taken_at": datetime(2024, 1, 1, 0, 0), "camera": "iPhone 13", "width": 4032, "height": 3024,
     "folder": "2024/Beach", "tags": ["dog", "border collie"]},
    {"taken_at": datetime(2024, 8, 12, 17, 5), "camera": "iPhone 13", "width": 4032, "height": 3024,
     "folder": "2024/Holiday", "tags": ["castle"]},
    {"taken_at": datetime(2024, 8, 12, 17, 20), "camera": "iPhone 13", "width": 4032, "height": 3024,
     "folder": "2024/Holiday", "tags": ["Dog", "Afghan_hound"]},  # stored as "dog", "afghan hound"
    {},  # nothing known: empty values
]


def insert_photos(client: MilvusClient, collection_name: str) -> np.ndarray:
    """The six photos above with vectors; returns the vectors."""
    vectors = unit_vectors(len(PATHS), seed=3)
    store.insert_embeddings(client, collection_name, PATHS, "", vectors, "m", metadata=METADATA, progress=False)
    return vectors


def check_metadata_and_filters(client: MilvusClient, collection_name: str) -> None:
    vectors = insert_photos(client, collection_name)
    rows = store.get_rows(client, collection_name, PATHS)
    assert rows[PATHS[0]]["taken_at"] == calendar.timegm((2023, 4, 8, 10, 12, 0))
    assert rows[PATHS[0]]["year"] == 2023 and rows[PATHS[0]]["camera"] == "Pixel 7"
    assert (rows[PATHS[1]]["width"], rows[PATHS[1]]["height"], rows[PATHS[1]]["folder"]) == (3024, 4032, "2023/Party")
    assert list(rows[PATHS[4]]["tags"]) == ["dog", "afghan hound"]
    assert {key: rows[PATHS[5]][key] for key in ("taken_at", "year", "camera", "width", "folder")} == \
        {"taken_at": 0, "year": 0, "camera": "", "width": 0, "folder": ""}
    assert list(rows[PATHS[5]]["tags"]) == [] and list(rows[PATHS[5]]["albums"]) == []
    # a similarity search restricted to one year, then to a year and a word
    hits = store.search_similar(client, collection_name, vectors[0], top_k=6, filter="year == 2024")
    assert sorted(h.path for h in hits) == PATHS[2:5]
    dogs_2024 = filters.combine_filters("year == 2024", filters.tag_filter("Dog"))
    assert sorted(h.path for h in store.search_similar(client, collection_name, vectors[0], top_k=6,
                                                        filter=dogs_2024)) == [PATHS[2], PATHS[4]]
    new_year = filters.date_filter("2023-12-31", "2024-01-02")
    assert sorted(h.path for h in store.search_similar(client, collection_name, vectors[0], top_k=6,
                                                        filter=new_year)) == PATHS[1:3]
    # words alone: no query photo, newest first, no score
    by_word = store.query_photos(client, collection_name, filters.tag_filter("afghan hound", "border collie"))
    assert [h.path for h in by_word] == [PATHS[4], PATHS[2], PATHS[0]]
    assert all(math.isnan(h.score) for h in by_word)
    assert store.query_photos(client, collection_name, 'camera == "Pixel 7"', limit=1)[0].path == PATHS[1]
    assert np.allclose(store.get_vectors(client, collection_name, PATHS[::-1]), vectors[::-1], atol=1e-6)


def check_albums(client: MilvusClient, collection_name: str) -> None:
    vectors = insert_photos(client, collection_name)
    assert album.add_to_album(client, collection_name, [PATHS[0], PATHS[4]], "my_dog") == 2
    assert album.add_to_album(client, collection_name, [PATHS[0]], "my_dog") == 0  # already in it
    assert album.add_to_album(client, collection_name, [PATHS[0]], "holiday") == 1
    assert album.album_paths(client, collection_name, "my_dog") == [PATHS[0], PATHS[4]]
    assert store.count_images(client, collection_name) == len(PATHS)  # updated, not added
    rows = store.get_rows(client, collection_name, PATHS)
    assert list(rows[PATHS[0]]["albums"]) == ["my_dog", "holiday"]
    assert rows[PATHS[0]]["camera"] == "Pixel 7" and list(rows[PATHS[0]]["tags"]) == ["dog", "afghan hound", "afghan"]
    assert np.allclose(store.get_vectors(client, collection_name, PATHS), vectors, atol=1e-6)  # vectors kept
    hits = store.search_similar(client, collection_name, vectors[1], top_k=6, filter=filters.album_filter("my_dog"))
    assert sorted(h.path for h in hits) == [PATHS[0], PATHS[4]]
    outside = filters.combine_filters(filters.tag_filter("dog"), f"not {filters.album_filter('my_dog')}")
    assert [h.path for h in store.search_similar(client, collection_name, vectors[1], filter=outside)] == [PATHS[2]]
    assert album.remove_from_album(client, collection_name, [PATHS[4]], "my_dog") == 1
    assert album.album_paths(client, collection_name, "my_dog") == [PATHS[0]]
    with pytest.raises(database.StoreError, match="not stored"):
        album.add_to_album(client, collection_name, ["/photos/never_indexed.jpg"], "my_dog")


def check_interrupted_album_update(client: MilvusClient, collection_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped between the insert of the new rows and the delete of the old: photos are doubled, never lost."""
    insert_photos(client, collection_name)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(client, "delete", stopped)
        with pytest.raises(KeyboardInterrupt):
            album.add_to_album(client, collection_name, PATHS[:2], "my_dog")
    store.flush_inserts(client, collection_name)
    assert store.count_images(client, collection_name) == len(PATHS) + 2  # the old rows are still there
    assert album.album_paths(client, collection_name, "my_dog") == PATHS[:2]  # the new ones too
    assert album.add_to_album(client, collection_name, PATHS[:3], "my_dog") == 3  # run again: heals the doubles
    assert store.count_images(client, collection_name) == len(PATHS)
    assert album.album_paths(client, collection_name, "my_dog") == PATHS[:3]


def check_location_is_opt_in(client: MilvusClient, collection_name: str) -> None:
    with_gps = [{**METADATA[0], "location": (47.5576, 10.7498)}, METADATA[1]]
    store.create_collection(client, collection_name, 16, "m")
    assert not store.has_location(client, collection_name)
    with pytest.raises(store.SchemaMismatchError, match="location"):
        store.insert_embeddings(client, collection_name, PATHS[:2], "", unit_vectors(2), "m", metadata=with_gps,
                                progress=False)
    store.create_collection(client, collection_name, 16, "m", recreate=True, location=True)
    store.insert_embeddings(client, collection_name, PATHS[:2], "", unit_vectors(2), "m", metadata=with_gps,
                            progress=False)
    rows = store.get_rows(client, collection_name, PATHS[:2], ["latitude", "longitude"])
    assert (rows[PATHS[0]]["latitude"], rows[PATHS[0]]["longitude"]) == pytest.approx((47.5576, 10.7498))
    assert rows[PATHS[1]]["latitude"] == store.NO_LOCATION  # no GPS in that photo


def check_older_collection_is_refused(client: MilvusClient, collection_name: str) -> None:
    """A collection made before the photo fields existed gets the SchemaMismatchError advice."""
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=16)
    for name, max_length in {"path": 4096, "label": 512, "model_name": 256}.items():
        schema.add_field(name, DataType.VARCHAR, max_length=max_length)
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(collection_name, schema=schema, index_params=index_params)
    with pytest.raises(store.SchemaMismatchError, match="older version of these helpers") as err:
        insert_photos(client, collection_name)
    assert "recreate=True" in str(err.value) and "taken_at" in str(err.value)
    store.create_collection(client, collection_name, 16, "m", recreate=True)
    insert_photos(client, collection_name)
    assert store.count_images(client, collection_name) == len(PATHS)
