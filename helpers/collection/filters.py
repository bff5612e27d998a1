"""Milvus filter expressions from plain words, labels and dates, and the stored form of words (nb 04, 06).

A filter keeps the rows whose stored fields match, in any search: `label == "beagle"` (a class of the sample
photos), `array_contains_any(tags, ["dog"])` (a tag), `array_contains(albums, "my_dog")` (an album),
`taken_at >= ...` (a date) or `year == 2024`. These helpers write them, quoting your words safely, and
`combine_filters` joins several that must all hold.

Each ARRAY of words (tags, albums) is also stored as one text, `tags_text` = "|dog|border collie|": Milvus Lite
evaluates functions on ARRAY fields row by row in Python (seconds at 30,000 photos), but `like` on text with
Arrow (tens of ms). `text_filter` rewrites the ARRAY tests of a filter into `like` tests of the texts, with the
same result; `store` uses it on Milvus Lite. A Milvus 2.3 server matches only prefixes with `like`, but its
ARRAY functions are fast, so there the filter stays as written.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

MAX_WORDS, MAX_WORD_LENGTH = 32, 128  # per ARRAY field (tags, albums): how many words, and bytes per word
WORD_SEPARATOR = "|"  # between the words of a text field; never inside a stored word
WORD_TEXT_FIELDS = {"tags": "tags_text", "albums": "albums_text"}  # each ARRAY field and its text twin
WORD_TEXT_LENGTH = MAX_WORDS * (MAX_WORD_LENGTH + 1) + 1  # bytes: every word with its separator
_STRING = r'"(?:[^"\\]|\\.)*"'  # a double-quoted string literal, as `quote` writes it
_ANY_STRING = rf"{_STRING}|'(?:[^'\\]|\\.)*'"  # or single-quoted
_ARRAY_TEST = re.compile(  # a string literal (skipped whole), or an ARRAY test of tags or albums on literals
    rf"(?P<string>{_ANY_STRING})"
    rf"|(?<![\w.])(?P<function>array_contains(?:_any|_all)?)\s*\(\s*(?P<field>tags|albums)\s*,\s*"
    rf"(?:\[\s*(?P<words>{_STRING}(?:\s*,\s*{_STRING})*)\s*\]|(?P<word>{_STRING}))\s*\)")


def normalize_tag(word: str) -> str:
    """The stored form of a tag: lower case, spaces for underscores and "|", e.g. "Border_collie" -> "border collie"."""
    return " ".join(str(word).replace("_", " ").replace(WORD_SEPARATOR, " ").lower().split())


def normalize_album(album: str) -> str:
    """The stored form of an album name: lower case, as a tag's, e.g. "My_Dog" -> "my_dog" (notebook 06)."""
    return " ".join(str(album).lower().split())


def album_name(album: str) -> str:
    """The album name in its stored form (`normalize_album`); ValueError when empty or too long."""
    name = normalize_album(album)
    if not name or len(name.encode("utf-8")) > MAX_WORD_LENGTH or WORD_SEPARATOR in name:
        raise ValueError(f"Album name {album!r}: give 1 to {MAX_WORD_LENGTH} bytes of text without "
                         f"{WORD_SEPARATOR!r}, e.g. 'my_dog'.")
    return name


def words_text(words: list[str]) -> str:
    """The stored text of a list of words: "|dog|border collie|", or "" for none (see the module docstring)."""
    return WORD_SEPARATOR + WORD_SEPARATOR.join(words) + WORD_SEPARATOR if words else ""


def text_filter(expression: str) -> str:
    """The filter with its ARRAY tests of tags and albums as `like` tests of their texts: the same rows, fast on
    Milvus Lite, e.g. `array_contains_any(tags, ["dog"])` -> `(tags_text like "%|dog|%")` (notebook 06).

    Only tests on literal words are rewritten; anything else stays as it is, so the result never changes: a word
    holding "|" (no stored word does) or a backslash (which Arrow's `like` does not take literally).
    """
    return _ARRAY_TEST.sub(_text_test, expression)


def tests_field(expression: str | None, field: str) -> bool:
    """True when the filter names `field` (or its text twin) outside its string literals."""
    code = re.sub(_ANY_STRING, '""', expression or "")
    return any(re.search(rf"(?<![\w.]){name}(?!\w)", code) for name in {field, WORD_TEXT_FIELDS.get(field, field)})


def _text_test(match: re.Match) -> str:
    """One ARRAY test as `like` tests of the text field; a string literal or an unusual test as it was."""
    if match.group("string") or (match.group("function") == "array_contains") != bool(match.group("word")):
        return match.group(0)
    words = [_unquote(literal) for literal in re.findall(_STRING, match.group("words") or match.group("word"))]
    if any(not word or WORD_SEPARATOR in word or "\\" in word for word in words):
        return match.group(0)
    field = WORD_TEXT_FIELDS[match.group("field")]
    tests = [f"{field} like {quote('%' + WORD_SEPARATOR + _like_escape(w) + WORD_SEPARATOR + '%')}" for w in words]
    return "(" + (" and " if match.group("function") == "array_contains_all" else " or ").join(tests) + ")"


def _unquote(literal: str) -> str:
    """The text of a double-quoted string literal (the reverse of `quote`)."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), literal[1:-1])


def _like_escape(word: str) -> str:
    """A word (without backslashes) for a `like` pattern: its % and _ taken literally."""
    return word.replace("%", "\\%").replace("_", "\\_")


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
    """Milvus filter keeping the photos of an album, e.g. `array_contains(albums, "my_dog")` (notebook 06).

    Album names are stored in lower case; an album stored by older helpers, which kept the case it was written
    in, is found by that same spelling too.
    """
    name, written = album_name(album), " ".join(str(album).split())
    if written != name:
        return f"array_contains_any(albums, [{quote(name)}, {quote(written)}])"
    return f"array_contains(albums, {quote(name)})"


Day = date | str | int  # a date, "2024-03-01", a month "2024-03", or a year: 2024 or "2024"


def date_filter(start: Day | None = None, end: Day | None = None) -> str:
    """Milvus filter keeping photos taken from `start` up to, not including, `end` (notebook 06).

    Each is a date, "YYYY-MM-DD", a month "YYYY-MM" or a year (2024 or "2024"). A year or a month alone keeps
    all of it: date_filter(2024); as `end`, a year or month is included: date_filter(2023, 2024) keeps both
    years, while date_filter("2024-03-01", "2024-04-01") keeps March.
    """
    start, end = (None if day == "" else day for day in (start, end))
    if start is None and end is None:
        raise ValueError("Give a start date, an end date, or both, e.g. date_filter('2024-01-01', '2025-01-01'), "
                         "or a year: date_filter(2024).")
    first, after = _period(start) if start is not None else (None, None)
    after = None if after == first else after  # a day alone: from that day on; a year or month alone: all of it
    if end is not None:
        after = _period(end)[1]  # a day: up to it; a year or month: with it
    bounds = [f"taken_at {op} {_day_seconds(day)}" for op, day in ((">=", first), ("<", after)) if day is not None]
    return " and ".join(bounds)


def _period(day: Day) -> tuple[date, date]:
    """The first day of a year, a month or a day, and the first day after the year or month (a day: itself)."""
    text = str(day).strip() if isinstance(day, (str, int)) and not isinstance(day, bool) else None
    if isinstance(day, date):
        return day, day
    if text and re.fullmatch(r"\d{4}", text) and int(text) >= 1000:
        return date(int(text), 1, 1), date(int(text) + 1, 1, 1)
    try:
        if text and re.fullmatch(r"\d{4}-\d{2}", text):
            year, month = map(int, text.split("-"))
            return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
        if isinstance(day, str):
            return date.fromisoformat(text), date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"date_filter cannot read {day!r} as a date: give a year (2024 or '2024'), a month "
                     "('2024-03'), a day ('2024-03-01') or a datetime.date.")


def _day_seconds(day: date) -> int:
    """Midnight of a day (or a datetime) as stored in `taken_at`: seconds since 1970, the wall-clock time as UTC."""
    return calendar.timegm(day.timetuple())


def combine_filters(*filters: str | None) -> str | None:
    """Several filters that must all hold, e.g. a year and a tag; None and "" are left out (notebook 06)."""
    kept = [f for f in filters if f]
    return " and ".join(f"({f})" for f in kept) if len(kept) > 1 else (kept[0] if kept else None)


def quote(text: str) -> str:
    """A string literal for a Milvus filter expression."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped.replace("\t", "\\t") + '"'
