"""A collection's search index: dense vectors and BM25 postings in files derived from SQLite.

SQLite is the source of truth; these files are a cache that can always be rebuilt from it. One
folder per collection (``rag/collection-<id>/`` in the workspace) holds, for one *build*:

* ``vectors-<build>.f32``: float32 rows of unit vectors, memory-mapped by every reader;
* ``rows-<build>.bin``: per row the chunk id, document id and pages (used by filters);
* ``bm25-<build>-<n>.npz``: BM25 postings segments (see :mod:`assay.rag.bm25`);
* ``index.json``: the manifest naming the files and the collection ``generation`` they reflect,
  replaced atomically as the last step of every update.

The collection's generation (``store.py``) counts appends in its low 32 bits and removals in its
high bits. When the database is ahead of the manifest by appends only, the new chunks (ids above the
manifest's ``max_id``) are appended: bytes at the end of the two row files (after cutting off
whatever an interrupted update left past the manifest's row count) and one new BM25 segment; past
``MAX_SEGMENTS`` the segments are merged into one. After a removal, or when the files do not agree
with the database (wrong collection, embedder, row count), the index is rebuilt under a new build
name and the old files deleted. An exclusive file lock serialises updates between processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.rag.bm25 import TOKENIZER, Bm25Index, Segment, merge
from assay.rag.files import atomic_write, locked

if TYPE_CHECKING:
    from assay.rag.store import CollectionInfo, IndexRow, RagStore

FORMAT = 1
MANIFEST = "index.json"
MAX_SEGMENTS = 8
FETCH_ROWS = 20_000  # rows read from SQLite per step of a build (bounds memory)
# Per row: what filters read, and the chunk's text hash (to recognise unchanged rows after removals).
ROW = np.dtype(
    [("id", "<i8"), ("doc", "<i8"), ("page_start", "<i4"), ("page_end", "<i4"), ("hash", "S32")]
)


def removal_epoch(generation: int) -> int:
    return generation >> 32


@dataclass
class DenseMatrix:
    """Rows of a collection's vectors (memory-mapped) with the chunk metadata used to filter them."""

    generation: int
    ids: np.ndarray
    doc_ids: np.ndarray
    page_start: np.ndarray
    page_end: np.ndarray
    vectors: np.ndarray

    def rows_for(self, chunk_ids: Any) -> np.ndarray:
        pos = np.searchsorted(self.ids, np.asarray(chunk_ids, dtype=np.int64))
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        return pos


@dataclass
class SearchIndex:
    """Everything a search reads, for one generation of one collection."""

    generation: int
    dense: DenseMatrix
    bm25: Bm25Index


@dataclass
class Manifest:
    collection: str
    created: str
    embedder: str
    dim: int
    generation: int
    rows: int
    max_id: int
    build: str
    segments: list[str]
    next_segment: int = 0
    format: int = FORMAT

    @property
    def vectors(self) -> str:
        return f"vectors-{self.build}.f32"

    @property
    def row_file(self) -> str:
        return f"rows-{self.build}.bin"

    def describes(self, info: CollectionInfo) -> bool:
        """Whether these files are (some generation of) this collection's index."""
        return (
            self.format == FORMAT
            and self.collection == info.name
            and self.created == info.created
            and self.embedder == info.embedder
            and self.dim == info.dim
        )


def _read_manifest(folder: Path) -> Manifest | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
        return Manifest(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_manifest(folder: Path, manifest: Manifest) -> None:
    text = json.dumps(manifest.__dict__, indent=1).encode("utf-8")
    atomic_write(folder / MANIFEST, lambda f: f.write(text))


class IndexFiles:
    """Keeps one collection's index files in step with the database, and loads them."""

    def __init__(self, store: RagStore, info: CollectionInfo) -> None:
        self.store = store
        self.info = info
        self.folder = store.ws.dir("rag", f"collection-{info.id}")

    # -- reading ---------------------------------------------------------------------------------
    def load(self) -> SearchIndex:
        """The index for the database's current generation, updated first if it lags."""
        with locked(self.folder / ".lock"):
            manifest = self._sync()
            return self._open(manifest)

    def _open(self, m: Manifest) -> SearchIndex:
        rows = np.fromfile(self.folder / m.row_file, dtype=ROW, count=m.rows)
        vectors: np.ndarray
        if m.rows:
            # Copy-on-write mapping: read-only in effect, but writable to numpy/torch (no warnings).
            vectors = np.memmap(
                self.folder / m.vectors, dtype=np.float32, mode="c", shape=(m.rows, m.dim)
            )
        else:
            vectors = np.zeros((0, m.dim), dtype=np.float32)
        segments = [Segment.load(self.folder / name) for name in m.segments]
        merged = segments[0] if len(segments) == 1 else merge(segments)
        dense = DenseMatrix(
            generation=m.generation,
            ids=np.ascontiguousarray(rows["id"]),
            doc_ids=np.ascontiguousarray(rows["doc"]),
            page_start=np.ascontiguousarray(rows["page_start"]),
            page_end=np.ascontiguousarray(rows["page_end"]),
            vectors=vectors,
        )
        return SearchIndex(m.generation, dense, Bm25Index(merged, TOKENIZER))

    # -- updating --------------------------------------------------------------------------------
    def sync(self) -> Manifest:
        """Bring the files up to the database's generation (append or rebuild); the manifest."""
        with locked(self.folder / ".lock"):
            return self._sync()

    def rebuild(self) -> Manifest:
        """Write a complete new index from the database, under a new build name."""
        with locked(self.folder / ".lock"):
            return self._sync(force_rebuild=True)

    def _sync(self, force_rebuild: bool = False) -> Manifest:
        old = _read_manifest(self.folder)
        with self._snapshot() as generation:  # the generation and the rows read agree
            if old is not None and not force_rebuild and self._current(old, generation):
                return old
            if old is not None and not force_rebuild and self._appendable(old, generation):
                m = old
            elif old is not None and not force_rebuild and self._usable(old):
                m = self._pruned(old) or self._empty_manifest()
            else:
                m = self._empty_manifest()
            segments = self._write_rows(m, self.store.index_rows(self.info, m.max_id, FETCH_ROWS))
            m.generation = generation
        if segments:
            new = merge(segments)
            m.rows = new.offset + new.n_rows
            m.max_id = int(self._last_id(m))
            name = f"bm25-{m.build}-{m.next_segment}.npz"
            new.save(self.folder / name)
            m.segments.append(name)
            m.next_segment += 1
        elif not m.segments:  # an empty collection still gets its (empty) segment
            name = f"bm25-{m.build}-{m.next_segment}.npz"
            TOKENIZER.postings([]).save(self.folder / name)
            m.segments.append(name)
            m.next_segment += 1
        if len(m.segments) > MAX_SEGMENTS:
            merged = merge([Segment.load(self.folder / s) for s in m.segments])
            name = f"bm25-{m.build}-{m.next_segment}.npz"
            merged.save(self.folder / name)
            m.segments, m.next_segment = [name], m.next_segment + 1
        _write_manifest(self.folder, m)
        self._remove_unlisted(m)
        return m

    def _empty_manifest(self) -> Manifest:
        return Manifest(
            collection=self.info.name,
            created=self.info.created,
            embedder=self.info.embedder,
            dim=self.info.dim,
            generation=0,
            rows=0,
            max_id=0,
            build=uuid.uuid4().hex[:12],
            segments=[],
        )

    def _last_id(self, m: Manifest) -> int:
        last = np.fromfile(
            self.folder / m.row_file, dtype=ROW, count=1, offset=(m.rows - 1) * ROW.itemsize
        )
        return int(last["id"][0])

    def _pruned(self, old: Manifest) -> Manifest | None:
        """After removals: a new build holding the old rows still in the database unchanged (same
        id, document, pages and text), or None when they are not a prefix of the collection's rows
        by id. Rows added since are appended afterwards like any others."""
        old_rows = np.fromfile(self.folder / old.row_file, dtype=ROW, count=old.rows)
        current = np.array(
            [tuple(r) for r in self.store.chunk_keys(self.info.id, up_to_id=old.max_id)], ROW
        )
        keep = np.isin(old_rows["id"], current["id"])
        matched = np.flatnonzero(keep)
        pos = np.searchsorted(current["id"], old_rows["id"][matched])
        keep[matched[current[pos] != old_rows[matched]]] = False
        kept_ids = old_rows["id"][keep]
        max_kept = int(kept_ids[-1]) if len(kept_ids) else 0
        if int(np.count_nonzero(current["id"] <= max_kept)) != len(kept_ids):
            return None  # a row below the kept ones is unknown to the files: start over
        m = self._empty_manifest()
        vectors = np.memmap(
            self.folder / old.vectors, dtype=np.float32, mode="r", shape=(old.rows, old.dim)
        )
        with (
            _open_at(self.folder / m.vectors, 0) as vec_file,
            _open_at(self.folder / m.row_file, 0) as row_file,
        ):
            for lo in range(0, old.rows, FETCH_ROWS):
                part = keep[lo : lo + FETCH_ROWS]
                vec_file.write(np.ascontiguousarray(vectors[lo : lo + FETCH_ROWS][part]).tobytes())
            row_file.write(old_rows[keep].tobytes())
            for f in (vec_file, row_file):
                f.flush()
                os.fsync(f.fileno())
        del vectors
        segment = merge([Segment.load(self.folder / s) for s in old.segments]).take(keep)
        name = f"bm25-{m.build}-0.npz"
        segment.save(self.folder / name)
        m.rows, m.max_id, m.segments, m.next_segment = len(kept_ids), max_kept, [name], 1
        return m

    def _usable(self, m: Manifest) -> bool:
        return m.describes(self.info) and self._files_ok(m)

    def _current(self, m: Manifest, generation: int) -> bool:
        return m.describes(self.info) and m.generation == generation and self._files_ok(m)

    def _files_ok(self, m: Manifest) -> bool:
        vec, rows = self.folder / m.vectors, self.folder / m.row_file
        return (
            vec.is_file()
            and rows.is_file()
            and vec.stat().st_size >= m.rows * m.dim * 4
            and rows.stat().st_size >= m.rows * ROW.itemsize
            and all((self.folder / s).is_file() for s in m.segments)
        )

    def _appendable(self, m: Manifest, generation: int) -> bool:
        return (
            m.describes(self.info)
            and removal_epoch(m.generation) == removal_epoch(generation)
            and m.generation <= generation
            and self._files_ok(m)
            # belt and braces: the rows the files hold are still exactly the ones in the database
            and self.store.count_chunks(self.info.id, up_to_id=m.max_id) == m.rows
        )

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[int]:
        """A read transaction; yields the collection's generation in it."""
        db = self.store.db
        db.execute("BEGIN")
        try:
            yield self.store.generation(self.info.id)
        finally:
            db.execute("COMMIT")

    def _write_rows(self, m: Manifest, batches: Iterator[list[IndexRow]]) -> list[Segment]:
        """Append the rows of ``batches`` to the row and vector files (cut back to ``m.rows``
        first: bytes an interrupted update left are dropped) and tokenise them into segments."""
        segments: list[Segment] = []
        n = m.rows
        with (
            _open_at(self.folder / m.vectors, m.rows * m.dim * 4) as vec_file,
            _open_at(self.folder / m.row_file, m.rows * ROW.itemsize) as row_file,
        ):
            for batch in batches:
                rows = np.array(
                    [(r.id, r.doc, r.page_start, r.page_end, r.hash) for r in batch], ROW
                )
                vectors = np.zeros((len(batch), m.dim), dtype=np.float32)
                for i, r in enumerate(batch):
                    if r.vector is not None:  # (every chunk has one; zeros would never match)
                        vectors[i] = np.frombuffer(r.vector, dtype=np.float32)
                row_file.write(rows.tobytes())
                vec_file.write(vectors.tobytes())
                segment = TOKENIZER.postings([r.text for r in batch])
                segment.offset = n
                segments.append(segment)
                n += len(batch)
            for f in (vec_file, row_file):
                f.flush()
                os.fsync(f.fileno())
        return segments

    def _remove_unlisted(self, m: Manifest) -> None:
        """Delete files of other builds, segments the manifest no longer lists, and temporary
        files of interrupted updates (every write here happens under the lock, so none is live)."""
        keep = {MANIFEST, ".lock", m.vectors, m.row_file, *m.segments}
        for f in self.folder.iterdir():
            if f.name in keep:
                continue
            # (a file still mapped by another process cannot be deleted on some platforms)
            with contextlib.suppress(OSError):
                f.unlink()


@contextlib.contextmanager
def _open_at(path: Path, size: int) -> Iterator[Any]:
    """``path`` opened for appending at byte ``size`` (anything past it is cut off)."""
    with path.open("r+b" if path.exists() else "w+b") as f:
        f.truncate(size)
        f.seek(size)
        yield f


# -- one loaded index per collection per process ---------------------------------------------------
_LOADED: dict[tuple[str, int], SearchIndex] = {}
_LOADED_LOCK = threading.Lock()


def load_index(store: RagStore, info: CollectionInfo, generation: int | None = None) -> SearchIndex:
    """The collection's index for its current generation, shared by every handle in the process."""
    key = (str(store.ws.root), info.id)
    if generation is None:
        generation = store.generation(info.id)
    with _LOADED_LOCK:
        cached = _LOADED.get(key)
        if cached is not None and cached.generation == generation:
            return cached
        index = IndexFiles(store, info).load()
        _LOADED[key] = index
        return index


def forget(store: RagStore, collection_id: int) -> None:
    with _LOADED_LOCK:
        _LOADED.pop((str(store.ws.root), collection_id), None)


def remove_files(root: Path, collection_id: int) -> None:
    folder = root / "rag" / f"collection-{collection_id}"
    if folder.is_dir():
        for f in folder.iterdir():
            with contextlib.suppress(OSError):
                f.unlink()


__all__ = [
    "DenseMatrix",
    "IndexFiles",
    "Manifest",
    "SearchIndex",
    "forget",
    "load_index",
    "removal_epoch",
    "remove_files",
]
