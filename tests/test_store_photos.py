"""The photo fields on Milvus Lite: metadata, tags and albums, their filters, and updates that keep the vectors.

The same checks run on a Milvus 2.3.5 server in tests/test_store_server.py (tests/photo_field_checks.py).
"""

from __future__ import annotations

from datetime import date, datetime

import photo_field_checks as checks
import pytest
from support import unit_vectors

from helpers.collection import database, filters, store


def test_metadata_fields_and_filters(client) -> None:
    checks.check_metadata_and_filters(client, "photos")


def test_albums_update_rows_and_keep_vectors(client) -> None:
    checks.check_albums(client, "photos")


def test_an_interrupted_album_update_loses_nothing(client, monkeypatch: pytest.MonkeyPatch) -> None:
    checks.check_interrupted_album_update(client, "photos", monkeypatch)


def test_location_is_opt_in(client) -> None:
    checks.check_location_is_opt_in(client, "photos")


def test_an_older_collection_is_refused_with_advice(client) -> None:
    checks.check_older_collection_is_refused(client, "photos")


def test_word_filters_keep_the_right_rows(client) -> None:
    checks.check_word_filters_keep_the_right_rows(client, "photos")


def test_a_tag_search_without_tags_says_how_to_add_them(client) -> None:
    checks.check_a_tag_search_without_tags_says_how_to_add_them(client, "photos")


def test_a_collection_without_word_texts_still_filters_right(client) -> None:
    checks.check_a_collection_without_word_texts_still_filters_right(client, "photos")


def test_on_milvus_lite_word_filters_run_on_the_text_fields(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Milvus Lite runs ARRAY functions row by row in Python: the helpers send `like` tests of the texts instead."""
    vectors = checks.insert_word_rows(client, "photos")
    sent: list[str] = []
    for method in ("query", "search"):
        real = getattr(client, method)
        monkeypatch.setattr(client, method, lambda *args, _real=real, **kwargs: (
            sent.append(kwargs.get("filter", "")), _real(*args, **kwargs))[1])
    dogs_not_mine = filters.combine_filters(filters.tag_filter("dog"), f"not {filters.album_filter('my_dog')}")
    store.query_photos(client, "photos", dogs_not_mine)
    store.search_similar(client, "photos", vectors[0], filter=dogs_not_mine)
    fast = '((tags_text like "%|dog|%")) and (not (albums_text like "%|my\\\\_dog|%"))'
    assert sent[-1] == fast  # the search; the query asked year by year, newest first (all in `sent`)
    assert all(fast in expression and "array_contains" not in expression for expression in sent)


def test_a_collection_without_word_texts_warns_that_its_word_filters_are_slow(client) -> None:
    checks.create_collection_without_word_texts(client, "old_photos")
    with pytest.warns(UserWarning, match="recreate=True"):
        assert store.query_photos(client, "old_photos", filters.tag_filter("dog")) == []


@pytest.mark.parametrize("expression, expected", [
    ('array_contains_any(tags, ["dog", "border collie"])',
     '(tags_text like "%|dog|%" or tags_text like "%|border collie|%")'),
    ('array_contains_all(tags, ["a", "b"])', '(tags_text like "%|a|%" and tags_text like "%|b|%")'),
    ('array_contains(albums, "my_dog")', '(albums_text like "%|my\\\\_dog|%")'),
    ('array_contains(tags, "50% off")', '(tags_text like "%|50\\\\% off|%")'),
    ('array_contains(tags, "back\\\\slash")', 'array_contains(tags, "back\\\\slash")'),  # Arrow's like: no
    ('year == 2024 and not array_contains(tags,"x")', 'year == 2024 and not (tags_text like "%|x|%")'),
    ('camera == "array_contains(tags, \\"x\\")"', 'camera == "array_contains(tags, \\"x\\")"'),  # a literal
    ('array_contains(tags, "a|b")', 'array_contains(tags, "a|b")'),  # "|" is never in a stored word
    ('array_contains_any(tags, "dog")', 'array_contains_any(tags, "dog")'),  # not a list: left to Milvus
    ('array_contains(mytags, "x")', 'array_contains(mytags, "x")'),  # another field
])
def test_text_filter_rewrites_only_array_tests_on_literal_words(expression: str, expected: str) -> None:
    assert filters.text_filter(expression) == expected


def test_words_text_and_tests_field() -> None:
    assert filters.words_text(["dog", "border collie"]) == "|dog|border collie|" and filters.words_text([]) == ""
    assert filters.normalize_tag("a|b") == "a b"
    with pytest.raises(ValueError, match="without"):
        filters.album_name("a|b")
    assert filters.tests_field(filters.tag_filter("dog"), "tags") and filters.tests_field('tags_text != ""', "tags")
    assert not filters.tests_field('camera == "tags"', "tags") and not filters.tests_field("mytags == 1", "tags")


@pytest.mark.parametrize("words, expected", [
    (("dog",), 'array_contains_any(tags, ["dog"])'),
    (("Border_collie", " Afghan  Hound "), 'array_contains_any(tags, ["border collie", "afghan hound"])'),
    (('say "hi"',), 'array_contains_any(tags, ["say \\"hi\\""])'),
])
def test_tag_filter(words, expected) -> None:
    assert filters.tag_filter(*words) == expected


def test_filter_helpers() -> None:
    assert filters.album_filter(" my_dog ") == 'array_contains(albums, "my_dog")'
    assert filters.date_filter("2024-01-01", date(2025, 1, 1)) == "taken_at >= 1704067200 and taken_at < 1735689600"
    assert filters.date_filter(end="1970-01-02") == "taken_at < 86400"
    assert filters.combine_filters("year == 2024", None, "") == "year == 2024"
    assert filters.combine_filters("a", "b") == "(a) and (b)"
    assert filters.combine_filters(None) is None
    for bad in (lambda: filters.tag_filter(" "), lambda: filters.date_filter(), lambda: filters.album_filter("")):
        with pytest.raises(ValueError):
            bad()


def test_photo_fields_fill_in_the_unknown_and_clip_long_text() -> None:
    row = store.photo_fields({"taken_at": datetime(1969, 12, 31, 23, 0), "camera": "x" * 300,
                              "tags": ["Dog", "dog", "DOG ", *[f"w{i}" for i in range(40)]], "albums": [" a ", "a"]})
    assert row["taken_at"] == -3600 and row["year"] == 1969  # before 1970: negative seconds
    assert len(row["camera"]) == store.MAX_LENGTHS["camera"]
    assert row["tags"][:2] == ["dog", "w0"] and len(row["tags"]) == filters.MAX_WORDS
    assert row["albums"] == ["a"] and "latitude" not in row
    assert store.photo_fields({}, location=True)["latitude"] == store.NO_LOCATION


def test_flush_returns_once_milvus_lite_has_indexed_the_new_rows(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Milvus Lite builds the index of flushed rows in a background thread; searches meanwhile compare every row.

    The build is slowed down here, so that a flush which does not wait for it would return before it is done.
    """
    import time

    from milvus_lite.engine.collection import Collection
    from milvus_lite.server_manager import server_manager_instance

    real_build = Collection._bg_compact_and_index
    monkeypatch.setattr(Collection, "_bg_compact_and_index", lambda self: (time.sleep(1), real_build(self))[1])
    store.insert_embeddings(client, "photos", [f"/p/{i}.jpg" for i in range(50)], "", unit_vectors(50), "m",
                            progress=False)  # flushes
    lite_database = server_manager_instance._servers[str(database._LITE_PATHS[client])][1]
    segments = lite_database.get_collection("photos")._segments_snapshot()
    assert segments and all(store.VECTOR_FIELD in segment.indexes for segment in segments if segment.num_rows)


def test_query_photos_finds_the_newest_without_fetching_every_match(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Milvus Lite builds each returned row in Python: query_photos asks for the newest years first."""
    from datetime import datetime

    years = [2015, 2019, 2021, 2022, 2023, 2023, 2024, None]  # None: no date known (stored as 0, found last)
    paths = [f"/p/{i}.jpg" for i in range(len(years))]
    metadata = [{"tags": ["dog"], "taken_at": datetime(year, 5, 1 + i) if year else None}
                for i, year in enumerate(years)]
    store.insert_embeddings(client, "photos", paths, "", unit_vectors(len(paths)), "m", metadata=metadata,
                            progress=False)
    fetched: list[int] = []
    real_query = client.query
    monkeypatch.setattr(client, "query", lambda *args, **kwargs: (
        fetched.append(len(rows := real_query(*args, **kwargs))), rows)[1])
    newest = [paths[i] for i in (6, 5, 4, 3, 2, 1, 0, 7)]
    with pytest.warns(store.LimitReachedWarning, match="newest 2 of at least"):
        assert [h.path for h in store.query_photos(client, "photos", filters.tag_filter("dog"), limit=2)] == newest[:2]
    assert sum(fetched) < len(paths)  # the older photos were never fetched
    store.insert_embeddings(client, "photos", ["/p/new.jpg"], "", unit_vectors(1, seed=1), "m",
                            metadata=[{"tags": ["dog"], "taken_at": datetime(2031, 1, 1)}], progress=False)
    assert [h.path for h in store.query_photos(client, "photos", filters.tag_filter("dog"), limit=1)] == ["/p/new.jpg"]
    assert [h.path for h in store.query_photos(client, "photos", filters.tag_filter("dog"))] == ["/p/new.jpg", *newest]
