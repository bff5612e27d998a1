"""The photo fields on Milvus Lite: metadata, tags and albums, their filters, and updates that keep the vectors.

The same checks run on a Milvus 2.3.5 server in tests/test_store_server.py (tests/photo_field_checks.py).
"""

from __future__ import annotations

from datetime import date, datetime

import photo_field_checks as checks
import pytest

from helpers import filters, store


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
