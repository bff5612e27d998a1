"""Milvus filter expressions from plain words, labels and dates, and the stored form of words (nb 04, 06).

A filter keeps the rows whose stored fields match, in any search: `label == "beagle"` (a class of the sample
photos), `array_contains_any(tags, ["dog"])` (a tag), `array_contains(albums, "my_dog")` (an album),
`taken_at >= ...` (a date) or `year == 2024`. These helpers write them, quoting your words safely, and
`combine_filters` joins several that must all hold.
"""

from __future__ import annotations

import calendar
from datetime import date

MAX_WORDS, MAX_WORD_LENGTH = 32, 128  # per ARRAY field (tags, albums): how many words, and bytes per word


def normalize_tag(word: str) -> str:
    """The stored form of a tag: lower case, spaces for underscores, e.g. "Border_collie" -> "border collie"."""
    return " ".join(str(word).replace("_", " ").lower().split())


def album_name(album: str) -> str:
    """The album name, stripped; ValueError when empty or too long."""
    name = str(album).strip()
    if not name or len(name.encode("utf-8")) > MAX_WORD_LENGTH:
        raise ValueError(f"Album name {album!r}: give 1 to {MAX_WORD_LENGTH} bytes of text, e.g. 'my_dog'.")
    return name


def label_filter(label: str | None) -> str | None:
    """Milvus filter expression keeping one class, e.g. `label == "Afghan_hound"`; None keeps all (notebook 04)."""
    return None if label is None else f"label == {quote(label)}"


def tag_filter(*words: str) -> str:
    """Milvus filter keeping photos tagged with any of the words, e.g. `array_contains_any(tags, ["dog"])` (nb 06)."""
    tags = [normalize_tag(word) for word in words if normalize_tag(word)]
    if not tags:
        raise ValueError("Give at least one word, e.g. tag_filter('dog') or tag_filter('border collie').")
    return f"array_contains_any(tags, [{', '.join(map(quote, tags))}])"


def album_filter(album: str) -> str:
    """Milvus filter keeping the photos of an album, e.g. `array_contains(albums, "my_dog")` (notebook 06)."""
    return f"array_contains(albums, {quote(album_name(album))})"


def date_filter(start: date | str | None = None, end: date | str | None = None) -> str:
    """Milvus filter keeping photos taken from `start` up to, not including, `end` (dates or "YYYY-MM-DD") (nb 06).

    For whole years `year == 2024` is simpler; this one takes any dates, e.g. date_filter("2024-03-01", "2024-04-01").
    """
    bounds = [f"taken_at {op} {_day_seconds(day)}" for op, day in ((">=", start), ("<", end)) if day]
    if not bounds:
        raise ValueError("Give a start date, an end date, or both, e.g. date_filter('2024-01-01', '2025-01-01').")
    return " and ".join(bounds)


def _day_seconds(day: date | str) -> int:
    """Midnight of a day as stored in `taken_at`: seconds since 1970, the wall-clock time read as UTC."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return calendar.timegm(day.timetuple())


def combine_filters(*filters: str | None) -> str | None:
    """Several filters that must all hold, e.g. a year and a tag; None and "" are left out (notebook 06)."""
    kept = [f for f in filters if f]
    return " and ".join(f"({f})" for f in kept) if len(kept) > 1 else (kept[0] if kept else None)


def quote(text: str) -> str:
    """A string literal for a Milvus filter expression."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped.replace("\t", "\\t") + '"'
