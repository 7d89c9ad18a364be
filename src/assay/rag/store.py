"""The persisted index, inside the workspace database.

SQLite holds everything that must change atomically: collections (with their embedder and chunking
config), documents (with their extracted text, so anchors always resolve), chunks, an FTS5 table
over chunk text, and an embedding cache keyed by (model, sha256 of the chunk text). Replacing a
document is one transaction.

Each collection's ``generation`` changes in every transaction that changes its chunks: a
transaction that only adds chunks adds 1; one that removes any starts a new *removal epoch* (the
bits above the low 32). The search index files (:mod:`assay.rag.index`) are derived from these
tables and record the generation they reflect, so they are extended by appending after adds and
pruned (or rebuilt) after removals; deleting them loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from assay.rag.chunking import Chunk, ChunkingConfig
from assay.rag.document import ParsedDocument
from assay.rag.figures import Figure
from assay.rag.index import DenseMatrix, forget, remove_files
from assay.workspace import Workspace, run_script

APPENDED = "generation + 1"
REMOVED = "((generation >> 32) + 1) << 32"  # a new removal epoch, appends counted from 0


def migrate_086_rag_figures(db: sqlite3.Connection) -> None:
    # A document's figures: the image (by sha256, bytes in <workspace>/images/), where it is,
    # its caption, and the description a vision model wrote (indexed as a chunk) if any.
    run_script(
        db,
        """
        CREATE TABLE rag_figures (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            page INTEGER NOT NULL,
            kind TEXT NOT NULL,
            label TEXT,
            caption TEXT,
            sha256 TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            box TEXT NOT NULL,
            description TEXT
        );
        CREATE INDEX rag_figures_document ON rag_figures(document_id)
        """,
    )


def migrate_010_rag_store(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE rag_collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            embedder TEXT NOT NULL,
            embedder_spec TEXT,
            dim INTEGER NOT NULL,
            chunking TEXT NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE TABLE rag_documents (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            kind TEXT NOT NULL,
            title TEXT,
            authors TEXT NOT NULL DEFAULT '[]',
            doi TEXT,
            n_pages INTEGER NOT NULL DEFAULT 0,
            pages TEXT NOT NULL DEFAULT '[]',
            headings TEXT NOT NULL DEFAULT '[]',
            text TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            quality TEXT NOT NULL DEFAULT '{}',
            added TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            UNIQUE (collection_id, path)
        );
        CREATE INDEX rag_documents_sha ON rag_documents(collection_id, sha256);
        CREATE TABLE rag_chunks (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL,
            document_id INTEGER NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            start_char INTEGER NOT NULL,
            end_char INTEGER NOT NULL,
            page_start INTEGER,
            page_end INTEGER,
            section TEXT,
            n_tokens INTEGER NOT NULL,
            text_hash TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX rag_chunks_document ON rag_chunks(document_id, seq);
        CREATE INDEX rag_chunks_collection ON rag_chunks(collection_id, id);
        CREATE VIRTUAL TABLE rag_fts USING fts5(
            text, tags, content='', tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TABLE rag_embeddings (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, text_hash)
        ) WITHOUT ROWID
        """,
    )
    # Trigger bodies contain ';', so they cannot go through run_script.
    db.execute(
        """CREATE TRIGGER rag_chunks_fts_insert AFTER INSERT ON rag_chunks BEGIN
            INSERT INTO rag_fts(rowid, text, tags)
            VALUES (new.id, new.text, 'c' || new.collection_id || ' d' || new.document_id);
        END"""
    )
    db.execute(
        """CREATE TRIGGER rag_chunks_fts_delete AFTER DELETE ON rag_chunks BEGIN
            INSERT INTO rag_fts(rag_fts, rowid, text, tags)
            VALUES ('delete', old.id, old.text, 'c' || old.collection_id || ' d' || old.document_id);
        END"""
    )


def migrate_084_collection_store(db: sqlite3.Connection) -> None:
    # Where a collection's chunks are also held and searched: NULL for the workspace alone, or a
    # database server's address (chroma://HOST:PORT[/NAME], see assay.rag.chroma).
    db.execute("ALTER TABLE rag_collections ADD COLUMN store TEXT")


@dataclass
class CollectionInfo:
    id: int
    name: str
    embedder: str
    embedder_spec: str | None
    dim: int
    chunking: ChunkingConfig
    generation: int
    created: str
    n_documents: int = 0
    n_chunks: int = 0
    store: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "store": self.store or "workspace",
            "embedder": self.embedder,
            "dim": self.dim,
            "chunking": self.chunking.model_dump(),
            "documents": self.n_documents,
            "chunks": self.n_chunks,
            "created": self.created,
        }


@dataclass
class DocumentInfo:
    id: int
    collection_id: int
    path: str
    name: str
    sha256: str
    size: int
    kind: str
    title: str | None
    authors: list[str]
    doi: str | None
    n_pages: int
    added: str
    n_chunks: int = 0
    quality: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "kind": self.kind,
            "title": self.title,
            "authors": self.authors,
            "doi": self.doi,
            "pages": self.n_pages,
            "chunks": self.n_chunks,
            "size": self.size,
            "sha256": self.sha256,
            "added": self.added,
            "quality": self.quality,
            "meta": self.meta,
        }


_DOC_COLUMNS = (
    "d.id, d.collection_id, d.path, d.name, d.sha256, d.size, d.kind, d.title, d.authors, d.doi, "
    "d.n_pages, d.added, d.quality, d.meta, "
    "(SELECT count(*) FROM rag_chunks c WHERE c.document_id = d.id) AS n_chunks"
)


def _doc(row: sqlite3.Row) -> DocumentInfo:
    return DocumentInfo(
        id=row["id"],
        collection_id=row["collection_id"],
        path=row["path"],
        name=row["name"],
        sha256=row["sha256"],
        size=row["size"],
        kind=row["kind"],
        title=row["title"],
        authors=json.loads(row["authors"]),
        doi=row["doi"],
        n_pages=row["n_pages"],
        added=row["added"],
        n_chunks=row["n_chunks"],
        quality=json.loads(row["quality"]),
        meta=json.loads(row["meta"]),
    )


@dataclass
class PreparedDocument:
    """A parsed, chunked document ready to be written: everything but the database ids."""

    path: str
    name: str
    sha256: str
    size: int
    doc: ParsedDocument
    chunks: list[Chunk]
    hashes: list[str]
    quality: dict[str, Any]
    replaces: int | None = None
    figures: list[Figure] = field(default_factory=list)


@dataclass(frozen=True)
class FigureRow:
    """A stored figure (its image is in the workspace's images folder, by sha256)."""

    document: str
    document_id: int
    page: int
    kind: str
    label: str | None
    caption: str | None
    sha256: str
    width: int
    height: int
    description: str | None

    @property
    def where(self) -> str:
        return f"figure on page {self.page}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "where": self.where}


class IndexRow(NamedTuple):
    """What the search index keeps of a chunk."""

    id: int
    doc: int
    page_start: int
    page_end: int
    hash: bytes
    text: str
    vector: bytes | None


class RagStore:
    """Data access for collections, documents, chunks and embeddings in one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.ws.migrate()

    @property
    def db(self) -> sqlite3.Connection:
        return self.ws.db

    # -- collections ---------------------------------------------------------------------------
    def _collection(self, row: sqlite3.Row) -> CollectionInfo:
        return CollectionInfo(
            id=row["id"],
            name=row["name"],
            embedder=row["embedder"],
            embedder_spec=row["embedder_spec"],
            dim=row["dim"],
            chunking=ChunkingConfig.model_validate_json(row["chunking"]),
            generation=row["generation"],
            created=row["created"],
            n_documents=row["n_documents"],
            n_chunks=row["n_chunks"],
            store=row["store"],
        )

    _COLLECTION_SQL = (
        "SELECT c.*, "
        "(SELECT count(*) FROM rag_documents d WHERE d.collection_id = c.id) AS n_documents, "
        "(SELECT count(*) FROM rag_chunks k WHERE k.collection_id = c.id) AS n_chunks "
        "FROM rag_collections c"
    )

    def collection(self, name: str, counts: bool = True) -> CollectionInfo | None:
        """The collection's record; ``counts=False`` skips counting documents and chunks (cheap)."""
        sql = (
            self._COLLECTION_SQL
            if counts
            else "SELECT c.*, -1 AS n_documents, -1 AS n_chunks FROM rag_collections c"
        )
        row = self.db.execute(f"{sql} WHERE c.name = ?", (name,)).fetchone()
        return self._collection(row) if row else None

    def has_chunks(self, collection_id: int) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM rag_chunks WHERE collection_id = ? LIMIT 1", (collection_id,)
            ).fetchone()
            is not None
        )

    def collections(self) -> list[CollectionInfo]:
        rows = self.db.execute(f"{self._COLLECTION_SQL} ORDER BY c.name").fetchall()
        return [self._collection(r) for r in rows]

    def create_collection(
        self,
        name: str,
        embedder: str,
        embedder_spec: str | None,
        dim: int,
        chunking: ChunkingConfig,
        store: str | None = None,
    ) -> CollectionInfo:
        with self.ws.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO rag_collections(name, embedder, embedder_spec, dim, chunking, "
                "store) VALUES (?, ?, ?, ?, ?, ?)",
                (name, embedder, embedder_spec, dim, chunking.model_dump_json(), store),
            )
        info = self.collection(name)
        assert info is not None
        return info

    def generation(self, collection_id: int) -> int:
        row = self.db.execute(
            "SELECT generation FROM rag_collections WHERE id = ?", (collection_id,)
        ).fetchone()
        return int(row[0]) if row else -1

    def drop_collection(self, collection_id: int) -> None:
        with self.ws.transaction() as db:
            db.execute("DELETE FROM rag_chunks WHERE collection_id = ?", (collection_id,))
            db.execute("DELETE FROM rag_documents WHERE collection_id = ?", (collection_id,))
            db.execute("DELETE FROM rag_collections WHERE id = ?", (collection_id,))
        forget(self, collection_id)
        remove_files(self.ws.root, collection_id)

    # -- documents -------------------------------------------------------------------------------
    def documents(self, collection_id: int) -> list[DocumentInfo]:
        rows = self.db.execute(
            f"SELECT {_DOC_COLUMNS} FROM rag_documents d WHERE d.collection_id = ? ORDER BY d.id",
            (collection_id,),
        ).fetchall()
        return [_doc(r) for r in rows]

    def document_by(self, collection_id: int, column: str, value: Any) -> list[DocumentInfo]:
        assert column in ("id", "path", "name", "sha256")
        rows = self.db.execute(
            f"SELECT {_DOC_COLUMNS} FROM rag_documents d WHERE d.collection_id = ? "
            f"AND d.{column} = ? ORDER BY d.id",
            (collection_id, value),
        ).fetchall()
        return [_doc(r) for r in rows]

    def document_text(self, document_id: int) -> tuple[str, list[tuple[int, int]], list[Any]]:
        row = self.db.execute(
            "SELECT text, pages, headings FROM rag_documents WHERE id = ?", (document_id,)
        ).fetchone()
        if row is None:
            return "", [], []
        return (
            row["text"],
            [tuple(p) for p in json.loads(row["pages"])],
            json.loads(row["headings"]),
        )

    def chunks_of(self, document_id: int) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT id, seq, start_char, end_char, page_start, page_end, section, n_tokens, text "
            "FROM rag_chunks WHERE document_id = ? ORDER BY seq",
            (document_id,),
        ).fetchall()

    def write_documents(
        self,
        collection_id: int,
        docs: Sequence[PreparedDocument],
        model: str,
        vectors: dict[str, np.ndarray],
    ) -> list[int]:
        """Insert (or replace) documents, their chunks and new vectors in ONE transaction."""
        ids: list[int] = []
        removes = any(prepared.replaces is not None for prepared in docs)
        with self.ws.transaction() as db:
            for prepared in docs:
                if prepared.replaces is not None:
                    self._delete_document(db, prepared.replaces)
                doc = prepared.doc
                cur = db.execute(
                    "INSERT INTO rag_documents(collection_id, path, name, sha256, size, kind, title, "
                    "authors, doi, n_pages, pages, headings, text, meta, quality) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        collection_id,
                        prepared.path,
                        prepared.name,
                        prepared.sha256,
                        prepared.size,
                        doc.kind,
                        doc.title,
                        json.dumps(doc.authors),
                        doc.doi,
                        doc.n_pages,
                        json.dumps(doc.pages),
                        json.dumps([[h.start, h.title] for h in doc.headings]),
                        doc.text,
                        json.dumps(doc.meta, default=str),
                        json.dumps(prepared.quality),
                    ),
                )
                doc_id = int(cur.lastrowid or 0)
                ids.append(doc_id)
                db.executemany(
                    "INSERT INTO rag_chunks(collection_id, document_id, seq, start_char, end_char, "
                    "page_start, page_end, section, n_tokens, text_hash, text) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            collection_id,
                            doc_id,
                            c.seq,
                            c.start,
                            c.end,
                            c.page_start,
                            c.page_end,
                            c.section,
                            c.n_tokens,
                            h,
                            c.text,
                        )
                        for c, h in zip(prepared.chunks, prepared.hashes, strict=True)
                    ],
                )
                self._write_figures(db, doc_id, prepared.figures)
            db.executemany(
                "INSERT OR IGNORE INTO rag_embeddings(model, text_hash, vector) VALUES (?, ?, ?)",
                [(model, h, v.astype(np.float32).tobytes()) for h, v in vectors.items()],
            )
            db.execute(
                f"UPDATE rag_collections SET generation = {REMOVED if removes else APPENDED} "
                "WHERE id = ?",
                (collection_id,),
            )
        return ids

    def _write_figures(
        self, db: sqlite3.Connection, document_id: int, figures: Sequence[Figure]
    ) -> None:
        from assay.models.image_store import save_image

        db.executemany(
            "INSERT INTO rag_figures(document_id, seq, page, kind, label, caption, sha256, width, "
            "height, box, description) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    document_id,
                    seq,
                    f.page,
                    f.kind,
                    f.label,
                    f.caption,
                    save_image(self.ws, f.image),  # content-addressed: a rollback leaves no harm
                    f.image.width,
                    f.image.height,
                    json.dumps([round(v, 1) for v in f.box]),
                    f.description,
                )
                for seq, f in enumerate(figures, start=1)
            ],
        )

    def figures(self, collection_id: int, document_id: int | None = None) -> list[FigureRow]:
        """The figures kept for a collection (or one of its documents), document and page order."""
        sql = (
            "SELECT f.*, d.name AS document FROM rag_figures f JOIN rag_documents d "
            "ON d.id = f.document_id WHERE d.collection_id = ?"
        )
        args: list[Any] = [collection_id]
        if document_id is not None:
            sql += " AND d.id = ?"
            args.append(document_id)
        rows = self.ws.db.execute(sql + " ORDER BY d.name, f.seq", args).fetchall()
        return [
            FigureRow(
                document=r["document"],
                document_id=r["document_id"],
                page=r["page"],
                kind=r["kind"],
                label=r["label"],
                caption=r["caption"],
                sha256=r["sha256"],
                width=r["width"],
                height=r["height"],
                description=r["description"],
            )
            for r in rows
        ]

    def _delete_document(self, db: sqlite3.Connection, document_id: int) -> None:
        db.execute("DELETE FROM rag_figures WHERE document_id = ?", (document_id,))
        db.execute("DELETE FROM rag_chunks WHERE document_id = ?", (document_id,))
        db.execute("DELETE FROM rag_documents WHERE id = ?", (document_id,))

    def remove_document(self, collection_id: int, document_id: int) -> None:
        with self.ws.transaction() as db:
            self._delete_document(db, document_id)
            db.execute(
                f"UPDATE rag_collections SET generation = {REMOVED} WHERE id = ?", (collection_id,)
            )

    # -- embedding cache -------------------------------------------------------------------------
    def cached_hashes(self, model: str, hashes: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(hashes))
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT text_hash FROM rag_embeddings WHERE model = ? AND text_hash IN ({marks})",
                (model, *part),
            ).fetchall()
            found.update(r[0] for r in rows)
        return found

    # -- rows for the search index ----------------------------------------------------------------
    def count_chunks(self, collection_id: int, up_to_id: int) -> int:
        return int(
            self.db.execute(
                "SELECT count(*) FROM rag_chunks WHERE collection_id = ? AND id <= ?",
                (collection_id, up_to_id),
            ).fetchone()[0]
        )

    def chunk_keys(self, collection_id: int, up_to_id: int) -> list[sqlite3.Row]:
        """``(id, document, page_start, page_end, text hash)`` of the collection's chunks up to an
        id, in id order: enough to tell whether a row of the search index is still current."""
        return self.db.execute(
            "SELECT id, document_id, coalesce(page_start, -1), coalesce(page_end, -1), "
            "CAST(text_hash AS BLOB) FROM rag_chunks WHERE collection_id = ? AND id <= ? "
            "ORDER BY id",
            (collection_id, up_to_id),
        ).fetchall()

    def index_rows(
        self, collection: CollectionInfo, after_id: int, batch: int
    ) -> Iterator[list[IndexRow]]:
        """The collection's chunks with ids above ``after_id``, in id order, ``batch`` at a time,
        with their vectors for the collection's embedder."""
        while True:
            rows = self.db.execute(
                "SELECT c.id, c.document_id, coalesce(c.page_start, -1), coalesce(c.page_end, -1), "
                "CAST(c.text_hash AS BLOB), c.text, e.vector FROM rag_chunks c "
                "LEFT JOIN rag_embeddings e "
                "ON e.model = ? AND e.text_hash = c.text_hash "
                "WHERE c.collection_id = ? AND c.id > ? ORDER BY c.id LIMIT ?",
                (collection.embedder, collection.id, after_id, batch),
            ).fetchall()
            if not rows:
                return
            yield [IndexRow(*r) for r in rows]
            after_id = rows[-1][0]


__all__ = [
    "CollectionInfo",
    "DenseMatrix",
    "DocumentInfo",
    "IndexRow",
    "PreparedDocument",
    "RagStore",
]
