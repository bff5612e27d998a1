"""Index photos incrementally: embed and store only the ones Milvus does not hold yet (introduced in notebook 03).

`index_images` asks Milvus which of the paths are stored, then embeds and inserts the others in rounds (a
round is inserted while the next one is embedded; on a GPU, from a second process: `insert_process`). Each
insert call is all-or-nothing, so a run stopped anywhere (a crash, a closed laptop, even in the middle of an
insert) and started again ends with every image stored once.
Each row also gets the photo's metadata (date taken, camera, size, folder) and, with `with_tags=True`, its
tags (words from the model's classifier, computed in the same pass as the vectors). `index_library` does the
same for a scanned folder of your own photos and accounts for every file (notebook 06).

One run at a time per collection: with `make run` every notebook (and a terminal) can reach the same database,
and two runs that both see a photo as new would both store it. A run holds a lock file in the data folder
(`locks/`), which the system drops when the process ends, even killed; a second run meanwhile stops at once
with `IndexingBusyError`, saying who is indexing. It guards the processes of one machine and one data folder,
not several machines sharing a server.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from pymilvus import MilvusClient
from tqdm.auto import tqdm

from helpers import config
from helpers.collection import database, insert_process, store
from helpers.photos import data, folder, photo_info
from helpers.vectors import embeddings, models, tags

INDEX_ROUNDS = 20  # about 20 rounds (each inserted while the next is embedded): a stop loses one or two
MIN_ROUND_SIZE = 100  # images per round, at least
LOCK_FOLDER = "locks"  # in the data folder: one lock file per database and collection
INSERT_PROCESS: bool | None = None  # None: store from a second process when a GPU runs the model; True/False: force


class IndexingBusyError(database.StoreError):
    """Another notebook or terminal is indexing this collection right now."""


def index_images(client: MilvusClient, collection_name: str, image_paths: Sequence[Path | str],
                 labels: Sequence[str] | str, model_name: str | None = None, *, recreate: bool = False,
                 batch_size: int | None = None, progress: bool = True, root: Path | str | None = None,
                 with_tags: bool = False, location: bool = False, **embed_kwargs) -> int:
    """Embed and insert only the images not stored yet; safe to stop and re-run; returns how many were added (nb 03).

    Works in rounds of `batch_size` images (embed, then insert); by default about 1/20 of the new images, at
    least 100. Each row's `folder` is relative to `root` (default: the folder all the images share).
    with_tags=True stores each photo's tags (`tags.photo_tags`); location=True its GPS position (private: opt-in).
    Extra keyword arguments go to `embeddings.embed_images` (for example `backend`).
    """
    labels = [labels] * len(image_paths) if isinstance(labels, str) else list(labels)
    if len(labels) != len(image_paths):
        raise ValueError(f"Got {len(labels)} labels for {len(image_paths)} images: give one label per image "
                         "(or one string for all).")
    label_of = dict(zip(map(store.path_key, image_paths), labels, strict=True))
    run = _IndexRun(client, collection_name, model_name or config.load_settings().model_name,
                    root=Path(root) if root else _shared_folder(list(label_of)), with_tags=with_tags,
                    location=location, embed_kwargs=embed_kwargs)
    added, skipped = run.index(label_of, recreate, batch_size, progress)
    if skipped:
        warnings.warn(f"{len(skipped)} image(s) could not be read and were not indexed, for example "
                      f"{skipped[0][0]}: {skipped[0][1]}", stacklevel=2)
    return added


@dataclass(frozen=True)
class LibraryIndex:
    """What `index_library` did: photos added now, photos stored in all, and the scan with every file's fate."""

    added: int
    stored: int
    scan: folder.LibraryScan  # photos that could not be read or embedded are moved to skipped, with the reason
    seconds: float


def index_library(client: MilvusClient, collection_name: str, scan: folder.LibraryScan,
                  model_name: str | None = None, *, with_tags: bool | None = None, location: bool = False,
                  recreate: bool = False, batch_size: int | None = None, progress: bool = True,
                  **embed_kwargs) -> LibraryIndex:
    """Index the photos of a scanned folder with their metadata and tags; safe to stop and re-run (notebook 06).

    with_tags=None stores tags when the model has an ImageNet classifier (`tags.has_classifier`; a CLIP model
    has none and searches by words itself). Photos that cannot be read are moved to the scan's skipped files,
    with the reason, so that
    `folder.write_skipped_report(result.scan)` lists every file that was not indexed. The vectors live in
    Milvus, so the embedding cache is not used (pass use_cache=True to fill it): tags need the features it
    does not keep, and rewriting a cache of 30,000 vectors every round would only cost time.
    """
    started = time.monotonic()
    embed_kwargs.setdefault("use_cache", False)
    model_name = model_name or config.load_settings().model_name
    with_tags = tags.has_classifier(model_name) if with_tags is None else with_tags
    run = _IndexRun(client, collection_name, model_name, root=scan.root, with_tags=with_tags,
                    location=location, embed_kwargs=embed_kwargs)
    label_of = {store.path_key(path): "" for path in scan.image_paths}  # your own photos have no class label
    added, skipped = run.index(label_of, recreate, batch_size, progress)
    by_key = {store.path_key(path): path for path in scan.image_paths}
    scan = folder.mark_skipped(scan, [(by_key[store.path_key(path)], reason) for path, reason in skipped])
    return LibraryIndex(added, store.count_images(client, collection_name), scan, time.monotonic() - started)


@dataclass
class _IndexRun:
    """One indexing run's settings; `index` embeds, reads and inserts the new photos round by round."""

    client: MilvusClient
    collection_name: str
    model_name: str
    root: Path
    with_tags: bool
    location: bool
    embed_kwargs: dict

    def index(self, label_of: dict[str, str], recreate: bool, batch_size: int | None,
              progress: bool) -> tuple[int, list[tuple[Path, str]]]:
        """Embed and insert the photos not stored yet: (how many were added, the skipped (path, reason))."""
        with _one_run_at_a_time(self.client, self.collection_name):
            return self._index(label_of, recreate, batch_size, progress)

    def _index(self, label_of: dict[str, str], recreate: bool, batch_size: int | None,
               progress: bool) -> tuple[int, list[tuple[Path, str]]]:
        """`index`, once this run holds the collection's lock."""
        store.create_collection(self.client, self.collection_name, models.embedding_dim(self.model_name),
                                self.model_name, recreate, location=self.location)
        todo = store.find_new_images(self.client, self.collection_name, list(label_of))
        round_size = batch_size or max(MIN_ROUND_SIZE, -(-len(todo) // INDEX_ROUNDS))
        batches = embeddings.embed_in_batches(todo, self.model_name, progress=False, keep_features=self.with_tags,
                                              describe=functools.partial(photo_info.read_photo, root=self.root,
                                                                         include_location=self.location),
                                              **self.embed_kwargs)
        with self._storage(bool(todo)) as storage:
            with tqdm(total=len(todo), unit="img", desc=f"Indexing ({self.model_name})",
                      disable=not progress or not todo) as bar, \
                    _Inserter(functools.partial(self._insert_round, storage), bar) as inserter:
                for photos in _rounds(batches, todo, round_size):
                    inserter.submit(photos, label_of)
            if inserter.added:
                storage.flush()
        return inserter.added, inserter.skipped

    def _storage(self, any_new: bool) -> contextlib.AbstractContextManager[_StoreHere | insert_process.InsertProcess]:
        """Where the rounds are stored: in this process, or from a second one while a GPU runs the pipeline."""
        if any_new and _insert_elsewhere(self.client, self.embed_kwargs.get("backend")):
            return insert_process.InsertProcess(self.client, self.collection_name)
        return contextlib.nullcontext(_StoreHere(self.client, self.collection_name))

    def _insert_round(self, storage: _StoreHere | insert_process.InsertProcess, photos: _Round,
                      label_of: dict[str, str]) -> tuple[int, list[tuple[Path, str]]]:
        """Tag one round and insert it with its metadata (read with the photos): (rows added, the skipped)."""
        if not photos.paths:
            return 0, photos.skipped
        photo_tags = tags.photo_tags(np.stack(photos.features), self.model_name) if self.with_tags else None
        metadata = [{"taken_at": photo.taken_at, "camera": photo.camera, "width": photo.width,
                     "height": photo.height, "folder": photo.folder, "location": photo.location,
                     "tags": photo_tags[i] if photo_tags else ()} for i, photo in enumerate(photos.infos)]
        keys = [store.path_key(path) for path in photos.paths]
        added = storage.insert(keys, [label_of[k] for k in keys], np.stack(photos.vectors), self.model_name, metadata)
        return added, photos.skipped


def _insert_elsewhere(client: MilvusClient, backend: str | None) -> bool:
    """True where rounds are best stored from a second process: INSERT_PROCESS, else when a GPU runs the model.

    On a CPU the model and the decoding leave the interpreter lock free most of the time, and a second
    process would only take a core from them; a client not made by `connect` cannot be opened again elsewhere.
    """
    if database.opened_as(client) is None:
        return False
    if INSERT_PROCESS is not None:
        return INSERT_PROCESS
    return models.resolve_backend(backend) == "torch" and models.pick_device().type != "cpu"


@dataclass
class _StoreHere:
    """Stores the rounds in this process (what `insert_process.InsertProcess` does from another)."""

    client: MilvusClient
    collection_name: str

    def insert(self, keys: list[str], labels: list[str], vectors: np.ndarray, model_name: str,
               metadata: list[dict]) -> int:
        """`store.insert_embeddings` without its flush or its check of the collection (done once per run)."""
        return store.insert_embeddings(self.client, self.collection_name, keys, labels, vectors, model_name,
                                       metadata=metadata, progress=False, flush=False, checked=True)

    def flush(self) -> None:
        """`store.flush_inserts`: on Milvus Lite, seal the rows and wait for their index."""
        store.flush_inserts(self.client, self.collection_name)


@dataclass
class _Round:
    """One round's photos as they come out of the pipeline: path, vector, features and metadata, or the reason."""

    paths: list[Path] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    features: list[np.ndarray | None] = field(default_factory=list)
    infos: list[photo_info.PhotoInfo] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths) + len(self.skipped)


def _rounds(batches: Iterator[embeddings.EmbeddedBatch], todo: list[Path], round_size: int) -> Iterator[_Round]:
    """The pipeline's batches cut into rounds of round_size files, in the order of `todo`."""
    current = _Round()
    for batch in batches:
        features = batch.features if batch.features is not None else [None] * len(batch.positions)
        infos = batch.descriptions if batch.descriptions is not None else [None] * len(batch.positions)
        done = [(p, (vector, feature, info)) for p, vector, feature, info in
                zip(batch.positions, batch.embeddings, features, infos, strict=True)]
        for position, outcome in sorted(done + list(batch.skipped), key=lambda item: item[0]):
            if isinstance(outcome, str):
                current.skipped.append((todo[position], outcome))
            else:
                current.paths.append(todo[position])
                for column, value in zip((current.vectors, current.features, current.infos), outcome):
                    column.append(value)
            if len(current) == round_size:
                yield current
                current = _Round()
    if len(current):
        yield current


class _Inserter:
    """Inserts each round in a background thread while the next round is embedded: one at a time, in order.

    Each insert is all-or-nothing, so a run stopped anywhere still resumes with every photo stored once; a run
    stopped with Ctrl-C lets the insert under way finish first (a second or so). The progress bar counts a round
    once it is stored, so what it shows when you stop is what stays.
    """

    def __init__(self, insert_round: Callable[..., tuple[int, list[tuple[Path, str]]]], bar: tqdm):
        self.insert_round, self.bar, self.pending = insert_round, bar, None
        self.added, self.skipped = 0, []
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="insert")

    def submit(self, photos: _Round, *args: object) -> None:
        """Insert a round once the previous one is stored (an error of that one is raised here)."""
        self.wait()
        self.pending = (len(photos), self.pool.submit(self.insert_round, photos, *args))

    def wait(self) -> None:
        """Wait for the round being inserted and count it."""
        if self.pending is not None:
            (files, pending), self.pending = self.pending, None
            added, skipped = pending.result()
            self.added, self.skipped = self.added + added, self.skipped + skipped
            self.bar.update(files)

    def __enter__(self) -> _Inserter:
        return self

    def __exit__(self, exc_type: type | None, *_: object) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)  # stopped: the insert under way ends (all of it or none of it)


@contextlib.contextmanager
def _one_run_at_a_time(client: MilvusClient, collection_name: str) -> Iterator[None]:
    """Hold the collection's indexing lock for the block, or raise IndexingBusyError naming the run that holds it."""
    address = database.address(client)
    key = hashlib.sha256(f"{address}\n{collection_name}".encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_-]", "_", collection_name)[:60]
    path = config.load_settings().data_dir / LOCK_FOLDER / f"index-{name}-{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as lock_file:
        if not _try_lock(lock_file):
            raise IndexingBusyError(
                f"{_holder(lock_file)} is indexing the collection {collection_name!r} right now, and two runs at "
                "once would store some photos twice. Let it finish (or stop it), then run this again: it adds "
                f"only the photos still missing. (Lock file: {path})")
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"process {os.getpid()} ({os.path.basename(sys.argv[0]) or 'python'}), "
                        f"started at {time.strftime('%H:%M:%S')}")
        lock_file.flush()
        try:
            yield
        finally:
            lock_file.truncate(0)  # then closing the file drops the lock


def _try_lock(lock_file: TextIO) -> bool:
    """Take the lock without waiting: True if taken; also True where the file system has no locks (not guarded)."""
    try:
        if sys.platform == "win32":
            import msvcrt

            lock_file.seek(0)
            msvcrt.locking(lock_file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        return err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK)
    return True


def _holder(lock_file: TextIO, wait: float = 1.0) -> str:
    """Who holds a lock, as its holder wrote it; one that has only just taken it gets `wait` seconds to write."""
    deadline = time.monotonic() + wait
    while True:
        try:
            lock_file.seek(0)
            text = lock_file.read().strip()
        except OSError:  # Windows: the locked byte cannot be read
            return "another process"
        if text or time.monotonic() >= deadline:
            return text or "another process"
        time.sleep(0.05)


def _shared_folder(paths: list[str]) -> Path:
    """The deepest folder that holds every path (for the sample photos: the split, so `folder` is the class)."""
    folders = [os.path.dirname(data.text_to_path(p)) for p in paths]  # a stored path of an odd name, too
    return Path(os.path.commonpath(folders)) if folders else Path("/")
