"""Checks of the photo fields (metadata, tags, albums, filters) run on Milvus Lite and on the Milvus 2.3.5 server.

Each `check_*` takes a client and a fresh collection name and asserts; tests/test_store_photos.py runs them on
Milvus Lite, tests/test_store_server.py on the server, so both backends pass the same checks.
"""

from __future__ import annotations

import calendar
import math
import warnings
from datetime import datetime

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from support import unit_vectors

from helpers.collection import album, database, filters, store

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


# --- words as text: the fast filters of Milvus Lite give the rows the ARRAY filters give -----------------------

WORD_ROWS = [  # (tags, albums, year): words that a careless `like` pattern would mix up
    (["dog", "hot dog"], ["my_dog"], 2024),
    (["hot dog"], ["myXdog"], 2024),  # "_" is a wildcard in `like`: must not match my_dog
    (["dogs"], ["my_dog", "holiday"], 2023),  # "dogs" is not "dog"
    (["50% off", "dog"], ["50%"], 2023),  # "%" is a wildcard too
    (["back\\slash"], [], 2024),
    ([], [], 2024),
    (["Dog", "Border_collie"], ["My_Dog"], 2022),  # stored as "dog", "border collie" and "my_dog"
    (["50 percent off"], ["50 percent"], 2023),  # would match "50% off" if "%" were a wildcard
]
WORD_PATHS = [f"/photos/words_{i}.jpg" for i in range(len(WORD_ROWS))]
WORD_FILTERS = {  # filter -> the indices of WORD_ROWS it keeps
    filters.tag_filter("dog"): [0, 3, 6],
    filters.tag_filter("hot dog"): [0, 1],
    filters.tag_filter("dogs", "Hot dog"): [0, 1, 2],
    filters.tag_filter("50% off"): [3],
    filters.tag_filter("back\\slash"): [4],
    filters.tag_filter("border collie"): [6],
    filters.tag_filter("o"): [],
    filters.album_filter("my_dog"): [0, 2, 6],
    filters.album_filter("50%"): [3],
    'array_contains_all(tags, ["dog", "hot dog"])': [0],
    'array_contains(tags, "dogs")': [2],
    'array_contains(tags, "dog|hot dog")': [],  # "|" is never inside a stored word
    filters.combine_filters("year == 2024", filters.tag_filter("dog")): [0],
    filters.combine_filters(filters.tag_filter("dog"), f"not {filters.album_filter('my_dog')}"): [3],
}


def insert_word_rows(client: MilvusClient, collection_name: str) -> np.ndarray:
    """The WORD_ROWS photos with vectors; returns the vectors."""
    vectors = unit_vectors(len(WORD_ROWS), seed=4)
    metadata = [{"tags": tags, "albums": albums, "taken_at": datetime(year, 6, 1 + i)}
                for i, (tags, albums, year) in enumerate(WORD_ROWS)]
    store.insert_embeddings(client, collection_name, WORD_PATHS, "", vectors, "m", metadata=metadata, progress=False)
    return vectors


def check_word_filters_keep_the_right_rows(client: MilvusClient, collection_name: str) -> None:
    """Each tag and album filter, alone or combined, keeps exactly its rows: as a query and as a search filter."""
    vectors = insert_word_rows(client, collection_name)
    rows = store.get_rows(client, collection_name, WORD_PATHS, ["tags_text", "albums_text"])
    assert rows[WORD_PATHS[0]]["tags_text"] == "|dog|hot dog|" and rows[WORD_PATHS[5]]["tags_text"] == ""
    assert rows[WORD_PATHS[6]]["albums_text"] == "|my_dog|"
    for expression, kept in WORD_FILTERS.items():
        expected = sorted(WORD_PATHS[i] for i in kept)
        assert sorted(h.path for h in store.query_photos(client, collection_name, expression)) == expected, expression
        hits = store.search_similar(client, collection_name, vectors[5], top_k=len(WORD_PATHS), filter=expression)
        assert sorted(h.path for h in hits) == expected, expression
    album.add_to_album(client, collection_name, [WORD_PATHS[1]], "my_dog")  # the text follows the ARRAY field
    assert album.album_paths(client, collection_name, "my_dog") == sorted(WORD_PATHS[i] for i in (0, 1, 2, 6))
    stored = store.get_rows(client, collection_name, [WORD_PATHS[1]], ["albums_text"])
    assert stored[WORD_PATHS[1]]["albums_text"] == "|myxdog|my_dog|"


def check_a_tag_search_without_tags_says_how_to_add_them(client: MilvusClient, collection_name: str) -> None:
    """Photos stored without tags (notebook 03's index_images): a search by tag explains, never just finds nothing."""
    store.create_collection(client, collection_name, 16, "m")
    assert store.query_photos(client, collection_name, filters.tag_filter("dog")) == []  # empty: nothing to say
    vectors = unit_vectors(3, seed=7)
    store.insert_embeddings(client, collection_name, PATHS[:3], "beagle", vectors, "m", progress=False)
    year_and_dog = filters.combine_filters("year == 0", filters.tag_filter("dog"))
    for search in (lambda: store.query_photos(client, collection_name, filters.tag_filter("dog")),
                   lambda: store.search_similar(client, collection_name, vectors[0], filter=year_and_dog)):
        with pytest.raises(store.NoTagsError, match="with_tags=True") as err:
            search()
        assert "index_library" in str(err.value) and "recreate=True" in str(err.value)
    assert store.search_similar(client, collection_name, vectors[0], filter='label == "pug"') == []  # no tag test
    store.insert_embeddings(client, collection_name, PATHS[3:4], "", unit_vectors(1), "m",
                            metadata=[{"tags": ["cat"]}], progress=False)
    assert store.query_photos(client, collection_name, filters.tag_filter("dog")) == []  # tags, but no dog


def create_collection_without_word_texts(client: MilvusClient, collection_name: str) -> None:
    """A collection as the helpers made it before tags_text and albums_text: every other field."""
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=16)
    for name, options in store.FIELDS.items():
        if name not in filters.WORD_TEXT_FIELDS.values():
            schema.add_field(name, **options)
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(collection_name, schema=schema, index_params=index_params)


def check_a_collection_without_word_texts_still_filters_right(client: MilvusClient, collection_name: str) -> None:
    """Made by older helpers: its filters keep the right rows (slower on Lite), and adding photos says why not."""
    create_collection_without_word_texts(client, collection_name)
    vectors = unit_vectors(len(WORD_ROWS), seed=4)
    client.insert(collection_name, [{"vector": vector, "path": path, "label": "", "model_name": "m",
                                     **{k: v for k, v in store.photo_fields({"tags": tags, "albums": albums}).items()
                                        if k not in filters.WORD_TEXT_FIELDS.values()}}
                                    for vector, path, (tags, albums, _) in zip(vectors, WORD_PATHS, WORD_ROWS)])
    store.flush_inserts(client, collection_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Milvus Lite warns that these filters are slow here
        assert sorted(h.path for h in store.query_photos(client, collection_name, filters.tag_filter("dog"))) == \
            sorted(WORD_PATHS[i] for i in (0, 3, 6))
        hits = store.search_similar(client, collection_name, vectors[0], filter=filters.album_filter("my_dog"))
    assert sorted(h.path for h in hits) == sorted(WORD_PATHS[i] for i in (0, 2, 6))
    with pytest.raises(store.SchemaMismatchError, match="tags_text, albums_text") as err:
        insert_photos(client, collection_name)
    assert "milliseconds on Milvus Lite" in str(err.value) and "recreate=True" in str(err.value)
