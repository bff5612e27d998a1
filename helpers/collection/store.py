"""The image collection in Milvus: its fields, inserting embeddings, and searching them (notebook 03).

`database.connect` opens the database (a Milvus Lite database or a server); these helpers work on a collection in
it and take care of what differs between the two: Milvus Lite wants a `flush` after inserting (search is ~15x
slower before it), a reopened collection must be loaded before a search, and a server answers a search right
after an insert only with a suitable consistency level.

Each stored row is one image: an auto id, its embedding (`vector`, COSINE metric), the image `path`
(absolute, the key that makes `indexing` incremental), its `label` and the `model_name` that made the vector,
then the photo's metadata as scalar fields a search can filter on (notebook 06): when it was taken
(`taken_at`, `year`), the `camera`, `width` and `height`, its `folder`, its `tags` (words) and `albums`, and,
only when you opt in, its `latitude` and `longitude`. The sample photos and your own library share this schema.
Filters are written by `filters`."""

from __future__ import annotations

import calendar
import datetime
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException
from tqdm.auto import tqdm

from helpers.collection import database, filters
from helpers.photos import data
from helpers.photos.hits import Hit

VECTOR_FIELD = "vector"
MAX_LENGTHS = {"path": 4096, "label": 512, "model_name": 256, "camera": 256, "folder": 4096}  # VARCHARs, bytes
FIELDS: dict[str, dict[str, Any]] = {  # the scalar fields of a row, after id and vector: Milvus types
    **{name: {"datatype": DataType.VARCHAR, "max_length": n} for name, n in MAX_LENGTHS.items()},
    "taken_at": {"datatype": DataType.INT64},  # seconds since 1970 of the date taken, read as UTC; 0: unknown
    "year": {"datatype": DataType.INT32},  # the year taken, for easy filters such as `year == 2024`; 0: unknown
    "width": {"datatype": DataType.INT32},  # pixels, as displayed; 0: unknown
    "height": {"datatype": DataType.INT32},
    **{name: {"datatype": DataType.ARRAY, "element_type": DataType.VARCHAR, "max_capacity": filters.MAX_WORDS,
              "max_length": filters.MAX_WORD_LENGTH} for name in ("tags", "albums")},
    # the same words as one text, "|dog|border collie|": fast filters on Milvus Lite (filters.text_filter)
    **{name: {"datatype": DataType.VARCHAR, "max_length": filters.WORD_TEXT_LENGTH}
       for name in filters.WORD_TEXT_FIELDS.values()},
}
LOCATION_FIELDS = {name: {"datatype": DataType.DOUBLE} for name in ("latitude", "longitude")}  # opt-in only
NO_LOCATION = -999.0  # latitude and longitude of a photo without GPS (Milvus 2.3 has no empty/NULL scalars)
METRIC_TYPE = "COSINE"  # score = cosine similarity, 1.0 for the same direction
INDEX_PARAMS = {"index_type": "AUTOINDEX", "metric_type": METRIC_TYPE}  # HNSW on Milvus Lite and a server
SEARCH_EF = 64  # HNSW search breadth (at least top_k): larger finds more true neighbours, a little slower
# With a filter, HNSW walks its graph past the rows that do not match, and a narrow breadth runs out before it has
# top_k matches: on Milvus Lite, single-class searches of the 1,000 sample photos returned fewer than k hits half of
# the time with ef 64, never with 1024. A breadth above the number of matching rows lets the walk reach them all.
FILTERED_SEARCH_EF = 4096
DEFAULT_BATCH_SIZE = 500  # rows per insert call (about 3x faster than one per call on Milvus Lite, dim 2048)
QUERY_CHUNK = 256  # paths per `path in [...]` query when looking for images already stored
QUERY_LIMIT = 16384  # the most rows one Milvus query returns
_SEARCH_CONSISTENCY = "Session"  # a client always sees its own inserts, without Strong's ~200 ms wait
_EXACT_CONSISTENCY = "Strong"  # counts and "already stored?" checks see every finished insert


class SchemaMismatchError(database.StoreError):
    """The collection exists with another vector dimension, another model or other fields."""


class NoTagsError(database.StoreError):
    """A search by tag on a collection whose photos were stored without tags; the message says how to add them."""


_WORD_TEXT_REASON = ("(tags_text and albums_text hold the tags and albums as text, so that word and album filters "
                     "take milliseconds on Milvus Lite instead of seconds.) ")
_SLOW_WORDS_WARNED: set[str] = set()  # collections without the text fields, already warned about
_YEAR_STEPS = (0, 1, 3, 7)  # query_photos on Milvus Lite: the newest year, then 1, 2 and 4 more (_newest_matches)
_NEWEST_YEAR: dict[tuple[str, str], int] = {}  # (database, collection): the newest year query_photos found there


class LimitReachedWarning(UserWarning):
    """More stored photos match a query than it returns (its `limit`): the message says how many."""


def create_collection(client: MilvusClient, collection_name: str, dim: int, model_name: str,
                      recreate: bool = False, location: bool = False) -> None:
    """Create the image collection if absent, or check that it fits `dim` and `model_name` (notebook 03).

    location=True adds latitude and longitude fields (opt-in: a photo's location is private, notebook 06).
    """
    database.ensure_open(client)
    if client.has_collection(collection_name):
        if not recreate:
            _check_collection(client, collection_name, dim, model_name, location)
            return
        client.drop_collection(collection_name)
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=int(dim))
    for name, options in {**FIELDS, **(LOCATION_FIELDS if location else {})}.items():
        schema.add_field(name, **options)  # path, label, model_name, then the photo's metadata
    index_params = client.prepare_index_params()
    index_params.add_index(VECTOR_FIELD, **INDEX_PARAMS)
    client.create_collection(collection_name, schema=schema, index_params=index_params,
                             consistency_level=_SEARCH_CONSISTENCY)


def _check_collection(client: MilvusClient, collection_name: str, dim: int, model_name: str,
                      location: bool = False) -> None:
    """Raise SchemaMismatchError unless the collection has our fields, `dim` and only `model_name` vectors."""
    fields = _describe_fields(client, collection_name)
    if VECTOR_FIELD not in fields or "path" not in fields:
        raise SchemaMismatchError(f"Collection {collection_name!r} was not made by these helpers "
                                  f"(it has no {VECTOR_FIELD!r} or 'path' field). {_fix_hint(client, collection_name)}")
    missing = [name for name in [*FIELDS, *(LOCATION_FIELDS if location else {})] if name not in fields]
    if missing:
        raise SchemaMismatchError(f"Collection {collection_name!r} has no {', '.join(missing)} field(s): it was made "
                                  + ("without the opt-in location fields. " if set(missing) <= set(LOCATION_FIELDS)
                                     else "by an older version of these helpers, or by another program. ")
                                  + (_WORD_TEXT_REASON if set(missing) & set(filters.WORD_TEXT_FIELDS.values())
                                     else "") + _fix_hint(client, collection_name))
    stored_dim = int(fields[VECTOR_FIELD]["params"]["dim"])
    if stored_dim != int(dim):
        raise SchemaMismatchError(f"Collection {collection_name!r} holds {stored_dim}-d vectors, but {model_name} "
                                  f"makes {dim}-d vectors: the two cannot be compared. "
                                  + _fix_hint(client, collection_name))
    _ensure_loaded(client, collection_name)
    rows = client.query(collection_name, filter="", output_fields=["model_name"], limit=1,
                        consistency_level=_EXACT_CONSISTENCY)
    if rows and rows[0]["model_name"] != model_name:
        raise SchemaMismatchError(f"Collection {collection_name!r} holds vectors made by {rows[0]['model_name']}, "
                                  f"not {model_name}: vectors of two models cannot be compared. "
                                  + _fix_hint(client, collection_name))


def has_location(client: MilvusClient, collection_name: str) -> bool:
    """True when the collection was created with the opt-in latitude and longitude fields (notebook 06)."""
    return set(LOCATION_FIELDS) <= set(_describe_fields(client, collection_name))


def _fix_hint(client: MilvusClient, collection_name: str) -> str:
    """What to do about a collection that does not fit: replace it or use another name."""
    return (f"Pass recreate=True (to create_collection or indexing.index_images) to replace it: this deletes its "
            f"{count_images(client, collection_name)} rows. Or set another COLLECTION_NAME to keep both.")


def _describe_fields(client: MilvusClient, collection_name: str) -> dict[str, dict]:
    """The collection's fields by name; StoreError when there is no such collection."""
    with database.captured_logs("pymilvus.decorators"):
        try:
            return {f["name"]: f for f in client.describe_collection(collection_name)["fields"]}
        except MilvusException as err:
            raise database.StoreError(f"Cannot use collection {collection_name!r}: {err.message}. Index images first "
                                      "(indexing.index_images), or check COLLECTION_NAME and MILVUS_URI.") from err


def insert_embeddings(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str],
                      labels: Sequence[str] | str, embeddings: np.ndarray, model_name: str, *,
                      metadata: Sequence[Mapping[str, Any]] | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                      progress: bool = True, flush: bool = True, checked: bool = False) -> int:
    """Insert one row per image, `batch_size` rows per call, then flush; returns how many (notebook 03).

    Creates the collection if needed. Rows are added as given: `indexing.index_images` skips images already stored.
    `metadata` gives each image's photo fields (see `photo_fields`); without it they are empty.
    checked=True: the caller has just run `create_collection` (indexing does, once per run), so its check is
    skipped; on Milvus Lite that check's query reads every stored row, seconds per round at 30,000 rows.
    """
    embeddings, labels = _checked_columns(image_paths, labels, embeddings, model_name)
    metadata = [{}] * len(image_paths) if metadata is None else list(metadata)
    if len(metadata) != len(image_paths):
        raise ValueError(f"Got metadata for {len(metadata)} images, but {len(image_paths)} image paths.")
    with_location = any(m.get("location") for m in metadata)
    if not checked:
        create_collection(client, collection_name, embeddings.shape[1], model_name, location=with_location)
    location = with_location or has_location(client, collection_name)
    rows = [{VECTOR_FIELD: vector, "path": path_key(path), "label": label, "model_name": model_name,
             **photo_fields(meta, location)}
            for vector, path, label, meta in zip(embeddings, image_paths, labels, metadata, strict=True)]
    with tqdm(total=len(rows), unit="img", desc="Inserting", disable=not progress) as bar:
        for start in range(0, len(rows), batch_size):
            client.insert(collection_name, rows[start:start + batch_size])  # each call: all rows or none
            bar.update(len(rows[start:start + batch_size]))
    if flush:
        flush_inserts(client, collection_name)
    return len(rows)


def photo_fields(metadata: Mapping[str, Any], location: bool = False) -> dict[str, Any]:
    """A photo's metadata as stored fields, with empty values (0, "", []) for what is unknown (notebook 06).

    `metadata` may hold taken_at (a datetime, local time as the camera wrote it), camera, width, height,
    folder, tags, albums and, only for a collection with location fields, location as (latitude, longitude).
    """
    taken = metadata.get("taken_at")
    row = {"camera": _clip(str(metadata.get("camera") or ""), MAX_LENGTHS["camera"]),
           "folder": _printable(str(metadata.get("folder") or "")),
           "taken_at": calendar.timegm(taken.timetuple()) if taken else 0, "year": taken.year if taken else 0,
           "width": int(metadata.get("width") or 0), "height": int(metadata.get("height") or 0),
           "tags": _words(metadata.get("tags") or (), filters.normalize_tag),
           "albums": _words(metadata.get("albums") or (), filters.normalize_album)}
    row.update({text: filters.words_text(row[words]) for words, text in filters.WORD_TEXT_FIELDS.items()})
    _check_lengths({"folder": [row["folder"]]})
    if location:
        row["latitude"], row["longitude"] = map(float, metadata.get("location") or (NO_LOCATION, NO_LOCATION))
    return row


def _words(words: Iterable[str], normalize: Callable[[str], str]) -> list[str]:
    """Distinct non-empty words, in order, at most filters.MAX_WORDS, each cut to filters.MAX_WORD_LENGTH bytes."""
    kept = dict.fromkeys(_clip(normalize(w), filters.MAX_WORD_LENGTH) for w in words if normalize(w))
    return list(kept)[:filters.MAX_WORDS]


def _printable(text: str) -> str:
    """Text as UTF-8 can store it: bytes of a name that is not UTF-8 written as \\xe9 (a folder named in Latin-1)."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _clip(text: str, max_bytes: int) -> str:
    """Text cut to at most `max_bytes` UTF-8 bytes, never in the middle of a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def _checked_columns(image_paths: Sequence[Path | str], labels: Sequence[str] | str, embeddings: np.ndarray,
                     model_name: str) -> tuple[np.ndarray, list[str]]:
    """The embeddings as float32 and one label per image; ValueError for shapes or texts that do not fit."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = _expand_labels(labels, len(image_paths))
    if embeddings.ndim != 2 or len(embeddings) != len(image_paths):
        raise ValueError(f"embeddings must be one row per image: got shape {embeddings.shape} "
                         f"for {len(image_paths)} image paths.")
    _check_lengths({"path": [path_key(p) for p in image_paths], "label": labels, "model_name": [model_name]})
    return embeddings, labels


def flush_inserts(client: MilvusClient, collection_name: str) -> None:
    """On Milvus Lite, flush, and wait while it indexes the new rows, so the next search is fast (notebook 03).

    Milvus Lite seals the rows at the flush, then builds their HNSW index in a background thread; until that is
    done a search compares the query with every unindexed row (0.5-5 s at 30,000 rows against 40 ms). Waiting
    here moves that time into indexing, where you expect it. A server indexes on its own schedule.
    """
    if database.is_lite(client):
        client.flush(collection_name)
        _wait_for_lite_index(client, collection_name)


def _wait_for_lite_index(client: MilvusClient, collection_name: str) -> None:
    """Wait for the background index build of a Milvus Lite database this process serves (not of `make run`'s).

    Milvus Lite has no public call for it: this uses its server manager. With a version that changed those
    internals it returns at once, and the first searches are slower for a while, never wrong.
    """
    path = database._LITE_PATHS.get(client)
    if path is None:
        return
    try:
        from milvus_lite.exceptions import MilvusLiteError
        from milvus_lite.server_manager import server_manager_instance

        lite_database = server_manager_instance._servers[str(path)][1]
        lite_database.get_collection(collection_name)._wait_for_bg()
    except (ImportError, AttributeError, LookupError, TypeError):  # other milvus-lite internals
        return
    except MilvusLiteError:  # the collection is gone meanwhile: nothing to wait for
        return


def find_new_images(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str]) -> list[Path]:
    """The images whose path is not stored yet, each once, in order (absolute paths) (notebook 03)."""
    database.ensure_open(client)
    keys = list(dict.fromkeys(path_key(p) for p in image_paths))
    stored: set[str] = set()
    if client.has_collection(collection_name):
        _ensure_loaded(client, collection_name)
        for start in range(0, len(keys), QUERY_CHUNK):
            quoted = ", ".join(filters.quote(key) for key in keys[start:start + QUERY_CHUNK])
            rows = client.query(collection_name, filter=f"path in [{quoted}]", output_fields=["path"],
                                consistency_level=_EXACT_CONSISTENCY)
            stored.update(row["path"] for row in rows)
    return [data.text_to_path(key) for key in keys if key not in stored]


def count_images(client: MilvusClient, collection_name: str) -> int:
    """How many images the collection holds; 0 when it does not exist yet (notebook 03)."""
    database.ensure_open(client)
    if not client.has_collection(collection_name):
        return 0
    _ensure_loaded(client, collection_name)
    rows = client.query(collection_name, filter="", output_fields=["count(*)"],
                        consistency_level=_EXACT_CONSISTENCY)
    return int(rows[0]["count(*)"])


def get_rows(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str],
             fields: Sequence[str] = ("taken_at", "year", "camera", "width", "height", "folder", "tags", "albums"),
             ) -> dict[str, dict[str, Any]]:
    """The stored `fields` of these images, by path (absolute); images not stored are left out (notebook 06)."""
    return {path: max(rows, key=lambda row: row["id"])
            for path, rows in _rows_by_path(client, collection_name, image_paths, ["id", *fields]).items()}


def get_vectors(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str]) -> np.ndarray:
    """The stored vectors of these images, one row per path, in order; StoreError if one is not stored (nb 06)."""
    rows = get_rows(client, collection_name, image_paths, [VECTOR_FIELD])
    missing = [p for p in image_paths if path_key(p) not in rows]
    if missing:
        raise database.StoreError(f"{len(missing)} image(s) are not stored in {collection_name!r}, e.g. {missing[0]}: "
                                  "index them first (indexing.index_images).")
    return np.array([rows[path_key(p)][VECTOR_FIELD] for p in image_paths], dtype=np.float32).reshape(
        len(image_paths), -1)


def _rows_by_path(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str],
                  fields: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every stored row of these paths (a path has two rows only while an album update is unfinished)."""
    database.ensure_open(client)
    _ensure_loaded(client, collection_name)
    keys = list(dict.fromkeys(path_key(p) for p in image_paths))
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(keys), QUERY_CHUNK):
        quoted = ", ".join(filters.quote(key) for key in keys[start:start + QUERY_CHUNK])
        for row in client.query(collection_name, filter=f"path in [{quoted}]", output_fields=["path", *fields],
                                consistency_level=_EXACT_CONSISTENCY):
            found.setdefault(row["path"], []).append(dict(row))
    return found


def query_photos(client: MilvusClient, collection_name: str, filter: str, limit: int = 100) -> list[Hit]:
    """Stored photos that match a filter, without a query photo (search by words), newest first (notebook 06).

    There is no query vector, so there is no similarity: each Hit's score is NaN. When more photos match than
    `limit`, a LimitReachedWarning says how many. Milvus returns at most QUERY_LIMIT rows per query, so with
    more matches the newest are found among the first QUERY_LIMIT (the warning says so too).
    """
    database.ensure_open(client)
    _ensure_loaded(client, collection_name)
    fast = _fast_filter(client, collection_name, filter)
    with database.captured_logs("pymilvus.decorators"):
        try:
            rows, complete = _newest_matches(client, collection_name, fast, limit)
            exact = complete or len(rows) >= QUERY_LIMIT  # else `total` is a lower bound: older ones not fetched
            total = len(rows) if len(rows) < QUERY_LIMIT else _count_matching(client, collection_name, fast)
        except MilvusException as err:
            raise database.StoreError(f"Milvus could not run this query (filter={filter!r}): {err.message}") from err
    if not rows:
        _check_has_tags(client, collection_name, filter)
    rows = sorted(rows, key=lambda row: (-row["taken_at"], row["path"]))[:limit]
    if total > len(rows):
        warnings.warn(LimitReachedWarning(_cut_message(len(rows), total, filter, limit, exact)), stacklevel=2)
    return [Hit(row["path"], row["label"], float("nan")) for row in rows]


def _newest_matches(client: MilvusClient, collection_name: str, filter: str,
                    limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Rows that match, newest years first until there are `limit`: (the rows, True when they are all that match).

    Milvus cannot sort a query, so query_photos sorts what comes back; but Milvus Lite builds every returned row in
    Python (about 50 us each): all 3,500 photos tagged `dog` of 30,000 took 0.2-0.5 s, more than the filter. So
    on Milvus Lite it asks for the newest year first (the newest year found last time), then 1, 2 and 4 years
    more, then all older ones, and stops once it has `limit` rows: every row not fetched is older than those.
    """
    output_fields = ["path", "label", "taken_at", "year"]
    if not database.is_lite(client) or "year" not in _describe_fields(client, collection_name):
        rows = client.query(collection_name, filter=filter, output_fields=output_fields, limit=QUERY_LIMIT,
                            consistency_level=_SEARCH_CONSISTENCY)
        return rows, True
    key = (database.address(client), collection_name)
    newest = _NEWEST_YEAR.get(key, datetime.date.today().year)
    rows: list[dict[str, Any]] = []
    upper = lower = None
    for lower in [*(newest - step for step in _YEAR_STEPS), None]:
        window = filters.combine_filters(None if lower is None else f"year >= {lower}",
                                         None if upper is None else f"year < {upper}", filter)
        rows += client.query(collection_name, filter=window, output_fields=output_fields,
                             limit=QUERY_LIMIT - len(rows), consistency_level=_SEARCH_CONSISTENCY)
        if len(rows) >= min(limit, QUERY_LIMIT):
            break
        upper = lower
    if rows:
        _NEWEST_YEAR[key] = max(row["year"] for row in rows)
    return rows, lower is None


def _count_matching(client: MilvusClient, collection_name: str, filter: str) -> int:
    """How many stored rows match a filter."""
    rows = client.query(collection_name, filter=filter, output_fields=["count(*)"],
                        consistency_level=_SEARCH_CONSISTENCY)
    return int(rows[0]["count(*)"])


def _cut_message(returned: int, total: int, filter: str, limit: int, exact: bool = True) -> str:
    """What a LimitReachedWarning says: how many photos matched, how many came back, and how to see more."""
    text = (f"These are the newest {returned:,} of {'the' if exact else 'at least'} {total:,} photos that match "
            f"{filter!r} (limit={limit}): pass a larger limit to see more")
    if total > QUERY_LIMIT:
        text += (f"; Milvus returns at most {QUERY_LIMIT:,} rows per query, so they are the newest of the first "
                 f"{QUERY_LIMIT:,}: narrow the filter (a year, a folder) to see them all")
    return text + "."


def update_albums(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str],
                  change: Callable[[list[str]], list[str]]) -> int:
    """Give these photos the albums `change(albums)` returns; returns how many rows changed (notebook 06).

    Milvus 2.3 cannot upsert into a collection with automatic ids (Milvus Lite can), so an update is a copy of
    each row (vector included) with its new albums, inserted first, then a delete of the old row, on every
    Milvus. Inserting first means a run stopped in between leaves a photo twice, never lost; the next update
    keeps the newest copy.
    """
    fields = [name for name in _describe_fields(client, collection_name) if name != "id"]
    stored = _rows_by_path(client, collection_name, image_paths, ["id", *fields])
    missing = [p for p in image_paths if path_key(p) not in stored]
    if missing:
        raise database.StoreError(f"{len(missing)} photo(s) are not stored in {collection_name!r}, e.g. {missing[0]}: "
                                  "index them first.")
    new_rows, old_ids = [], []
    for rows in stored.values():
        newest = max(rows, key=lambda row: row["id"])
        albums = change(list(newest["albums"]))
        if len(rows) > 1 or albums != list(newest["albums"]):
            new_rows.append({**{name: newest[name] for name in fields}, "albums": albums})
            if filters.WORD_TEXT_FIELDS["albums"] in fields:  # not in a collection made by older helpers
                new_rows[-1][filters.WORD_TEXT_FIELDS["albums"]] = filters.words_text(albums)
            old_ids += [row["id"] for row in rows]
    for start in range(0, len(new_rows), DEFAULT_BATCH_SIZE):
        client.insert(collection_name, new_rows[start:start + DEFAULT_BATCH_SIZE])
    for start in range(0, len(old_ids), QUERY_CHUNK):
        client.delete(collection_name, ids=old_ids[start:start + QUERY_CHUNK])
    if new_rows:
        flush_inserts(client, collection_name)
    if old_ids and not database.is_lite(client):  # a 2.3 server returns no timestamp for a delete, so a Session
        client.query(collection_name, filter=f"id in [{old_ids[-1]}]", output_fields=["id"],  # read could miss it:
                     consistency_level=_EXACT_CONSISTENCY)  # a Strong read waits until the server has applied it
    return len(new_rows)


def search_similar(client: MilvusClient, collection_name: str, query_embeddings: np.ndarray, top_k: int = 10,
                   filter: str | None = None, *, model_name: str | None = None) -> list[Hit] | list[list[Hit]]:
    """The `top_k` most similar stored images, best first: a list of Hit per query (notebook 03).

    One query vector (1-D) gives list[Hit]; several (2-D) give one list per query.
    `filter` is a Milvus expression on the stored fields, for example `label == "Afghan_hound"`.
    `model_name`, the model that made the query vectors (say it for words: notebook 04), is checked against
    the model that made the stored vectors (SchemaMismatchError when they differ).
    """
    database.ensure_open(client)
    queries = np.asarray(query_embeddings, dtype=np.float32)
    if model_name is not None:
        _check_query_model(client, collection_name, model_name)
    _check_query_dim(client, collection_name, queries.shape[-1])
    _ensure_loaded(client, collection_name)
    ef = max(FILTERED_SEARCH_EF if filter else SEARCH_EF, top_k)
    with database.captured_logs("pymilvus.decorators"):
        try:
            results = client.search(collection_name, data=list(np.atleast_2d(queries)), limit=top_k,
                                    filter=_fast_filter(client, collection_name, filter) or "",
                                    output_fields=["path", "label"],
                                    search_params={"metric_type": METRIC_TYPE, "params": {"ef": ef}},
                                    consistency_level=_SEARCH_CONSISTENCY)
        except MilvusException as err:
            raise database.StoreError(f"Milvus could not run this search (filter={filter!r}): {err.message}\n"
                                      'A filter looks like label == "Afghan_hound" or label in ["beagle", "pug"].'
                                      ) from None
    hits = [[Hit(h["entity"]["path"], h["entity"]["label"], float(h["distance"])) for h in row] for row in results]
    if filter and not any(hits):
        _check_has_tags(client, collection_name, filter)
    return hits[0] if queries.ndim == 1 else hits


def _fast_filter(client: MilvusClient, collection_name: str, filter: str | None) -> str | None:
    """The filter as Milvus Lite runs it fast: tag and album tests on their text fields (filters.text_filter).

    On a server, or for a collection made before those fields existed, the filter as it is (the same rows).
    """
    if not filter or not database.is_lite(client):
        return filter
    rewritten = filters.text_filter(filter)
    if rewritten == filter or set(filters.WORD_TEXT_FIELDS.values()) <= set(_describe_fields(client, collection_name)):
        return rewritten
    if collection_name not in _SLOW_WORDS_WARNED:
        _SLOW_WORDS_WARNED.add(collection_name)
        warnings.warn(f"Collection {collection_name!r} was made by older helpers, without the tags_text and "
                      "albums_text fields: on Milvus Lite its tag and album filters take seconds for a big library "
                      "(the results are right). Index it again with recreate=True to get them.", stacklevel=3)
    return filter


def _check_has_tags(client: MilvusClient, collection_name: str, filter: str) -> None:
    """After a search by tag found nothing: NoTagsError when the collection has photos but none has tags."""
    if not filters.tests_field(filter, "tags"):
        return
    has_text = filters.WORD_TEXT_FIELDS["tags"] in _describe_fields(client, collection_name)
    tagged = f'{filters.WORD_TEXT_FIELDS["tags"]} != ""' if has_text else "array_length(tags) > 0"
    if client.query(collection_name, filter=tagged, output_fields=["id"], limit=1,
                    consistency_level=_SEARCH_CONSISTENCY) or not count_images(client, collection_name):
        return
    raise NoTagsError(
        f"Collection {collection_name!r} holds no tags: its photos were stored without them, so a search by tag "
        "finds nothing. Tags come from the model's ImageNet classifier, in the same pass as the vectors: index with "
        "collection.index_library (tags by default with resnet50 or efficientnet_lite0) or "
        "collection.index_images(..., with_tags=True), with recreate=True or into another COLLECTION_NAME (photos "
        "already stored are not tagged afterwards). A CLIP model has no classifier: it searches by any words "
        "itself (vectors.embed_text, notebook 04).")


def _check_query_dim(client: MilvusClient, collection_name: str, dim: int) -> None:
    """Raise SchemaMismatchError when the query vectors do not have the stored dimension."""
    vector_field = _describe_fields(client, collection_name).get(VECTOR_FIELD)
    stored_dim = int(vector_field["params"]["dim"]) if vector_field else None
    if stored_dim != dim:
        raise SchemaMismatchError(
            f"The query vectors have {dim} dimensions but collection {collection_name!r} holds {stored_dim}-d "
            "vectors: embed the query with the model that filled the collection (MODEL_NAME), or re-index "
            "with recreate=True.")


def _check_query_model(client: MilvusClient, collection_name: str, model_name: str) -> None:
    """Raise SchemaMismatchError when the stored vectors come from another model than the query's."""
    _describe_fields(client, collection_name)  # StoreError for a collection that does not exist
    _ensure_loaded(client, collection_name)
    rows = client.query(collection_name, filter="", output_fields=["model_name"], limit=1,
                        consistency_level=_SEARCH_CONSISTENCY)  # one row tells: a collection holds one model
    stored_model = rows[0]["model_name"] if rows else model_name  # an empty collection fits any model
    if stored_model != model_name:
        raise SchemaMismatchError(
            f"Collection {collection_name!r} holds vectors made by {stored_model}, but the query was embedded "
            f"with {model_name}: vectors of two models cannot be compared. Embed the query with {stored_model}, "
            f"or index the photos with {model_name} (MODEL_NAME={model_name}, then indexing.index_images with "
            "recreate=True or another COLLECTION_NAME).")


def _ensure_loaded(client: MilvusClient, collection_name: str) -> None:
    """Load the collection into memory if it is not (a reopened Milvus Lite collection starts released).

    StoreError, with advice, when there is no such collection.
    """
    with database.captured_logs("pymilvus.decorators"):
        try:
            state = client.get_load_state(collection_name)["state"]
        except MilvusException:  # a server may refuse to tell for a collection it does not have
            if client.has_collection(collection_name):
                raise
            state = "NotExist"
    state = getattr(state, "name", str(state))
    if state == "NotExist":
        names = ", ".join(repr(name) for name in client.list_collections()) or "none"
        raise database.StoreError(
            f"There is no collection {collection_name!r} in {database.address(client) or 'this database'}: index "
            "photos into it first (collection.index_images or index_library, or the index_folder command line), "
            f"or check the name (COLLECTION_NAME). The collections there: {names}.")
    if state != "Loaded":
        client.load_collection(collection_name)


def path_key(path: Path | str) -> str:
    """The stored form of an image path: absolute and normalised, so re-runs recognise it (notebook 03).

    A name that is not valid UTF-8 is stored escaped (`data.path_to_text`); a stored path is its own key.
    """
    return data.path_to_text(os.path.abspath(os.path.expanduser(data.text_to_path(path))))


def _expand_labels(labels: Sequence[str] | str, n: int) -> list[str]:
    """One label per image: a single string is used for every image."""
    labels = [labels] * n if isinstance(labels, str) else [str(label) for label in labels]
    if len(labels) != n:
        raise ValueError(f"Got {len(labels)} labels for {n} images: give one label per image (or one string).")
    return labels


def _check_lengths(columns: dict[str, list[str]]) -> None:
    """Raise ValueError for a path, label or model name longer than its field allows."""
    for name, values in columns.items():
        too_long = [v for v in values if len(v.encode("utf-8")) > MAX_LENGTHS[name]]
        if too_long:
            raise ValueError(f"{name} {too_long[0][:80]!r}... is longer than the {MAX_LENGTHS[name]} bytes "
                             "the collection stores: shorten it (move the images to a shorter folder).")
