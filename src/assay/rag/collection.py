"""``Collection``: the Python API over one named collection of documents in a workspace.

>>> from assay.rag import Collection
>>> papers = Collection(name="papers")
>>> papers.add(["paper.pdf", "notes/"])
>>> for hit in papers.search("two-column reading order", k=5, mode="hybrid"):
...     print(hit.anchor, hit.score)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.rag.chroma import ChromaStore, parse_store, server_name
from assay.rag.chunking import ChunkingConfig
from assay.rag.embed import Embedder, canonical_name, load_embedder, single_thread
from assay.rag.errors import CollectionError, EmbedderMismatchError
from assay.rag.index import DenseMatrix, IndexFiles, SearchIndex, load_index
from assay.rag.ingest import FigureOptions, FileResult, IngestReport, expand_paths, ingest
from assay.rag.readers import DEFAULT_MAX_MB, supported_suffixes
from assay.rag.search import (
    MODES,
    RRF_K,
    RRF_WEIGHTS,
    SearchFilter,
    SearchHit,
    bm25_search,
    dense_mask,
    dense_search,
    hydrate,
    mmr_select,
    reciprocal_rank_fusion,
)
from assay.rag.store import CollectionInfo, DocumentInfo, FigureRow, RagStore
from assay.rag.textfix import default_vocabulary
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.models.images import Image

DEFAULT_COLLECTION = "default"


class Collection:
    """A named set of documents, chunked and indexed with one embedder.

    ``embedder`` may be an :class:`Embedder`, a spec (``default``, ``st:PATH``) or ``None``: the
    collection's recorded embedder when it exists, else the default. ``chunking`` applies when the
    collection is created; adding to an existing collection with a different one is refused.
    ``store`` (``chroma://HOST:PORT[/NAME]``) puts a new collection's chunks in a Chroma server
    too, which then answers its dense searches (:mod:`assay.rag.chroma`); the address is recorded,
    so later handles find it.
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        name: str = DEFAULT_COLLECTION,
        *,
        embedder: Embedder | str | None = None,
        chunking: ChunkingConfig | None = None,
        store: str | None = None,
    ) -> None:
        if not name or not name.strip() or "/" in name:
            raise CollectionError(f"invalid collection name {name!r}")
        self._store = str(parse_store(store)) if store else None
        self.workspace = workspace or Workspace.find()
        self.name = name
        self.store = RagStore(self.workspace)
        self._embedder = embedder
        self._chunking = chunking
        self._index: SearchIndex | None = None
        self._remote: ChromaStore | None = None

    # -- state -----------------------------------------------------------------------------------
    @property
    def info(self) -> CollectionInfo | None:
        return self.store.collection(self.name)

    @property
    def exists(self) -> bool:
        return self.info is not None

    def _require(self, counts: bool = True) -> CollectionInfo:
        info = self.store.collection(self.name, counts=counts)
        if info is None:
            known = ", ".join(c.name for c in self.store.collections()) or "none yet"
            raise CollectionError(
                f"no collection named '{self.name}' (collections: {known})",
                hint=f"add documents first: assay docs add PATH -c {self.name}",
            )
        return info

    def remote(self, info: CollectionInfo | None = None) -> ChromaStore | None:
        """The server holding the collection's chunks, or None when the workspace alone does."""
        info = info or self.info
        if info is None or not info.store:
            return None
        if self._remote is None or str(self._remote.url) != info.store:
            self._remote = ChromaStore(
                info.store, self.name, server_name(str(self.workspace.root), self.name)
            )
        return self._remote

    def sync_store(self) -> tuple[int, int]:
        """Copy the collection into its server (again): ``(chunks added, chunks deleted)``."""
        info = self._require(counts=False)
        remote = self.remote(info)
        if remote is None:
            raise CollectionError(f"collection '{self.name}' is kept in the workspace only")
        remote.create(info.embedder, info.dim)
        return remote.sync(self.store, info)

    def embedder(self) -> Embedder:
        """The embedder this handle uses (loaded on first call)."""
        if isinstance(self._embedder, str) or self._embedder is None:
            spec = self._embedder
            if spec is None:
                info = self.info
                spec = (info.embedder_spec or info.embedder) if info else None
            self._embedder = load_embedder(spec)
        return self._embedder

    def _check_embedder(self, info: CollectionInfo) -> Embedder:
        if isinstance(self._embedder, str) and canonical_name(self._embedder) != info.embedder:
            raise EmbedderMismatchError(self.name, info.embedder, canonical_name(self._embedder))
        embedder = self.embedder()
        if embedder.name != info.embedder:
            raise EmbedderMismatchError(self.name, info.embedder, embedder.name)
        return embedder

    def _ensure(self) -> CollectionInfo:
        info = self.info
        if info is not None:
            if self._store is not None and self._store != info.store:
                raise CollectionError(
                    f"collection '{self.name}' is kept in {info.store or 'the workspace'}; "
                    f"asked for {self._store}",
                    hint="use a new collection name for another store",
                )
            if self._chunking is not None and self._chunking != info.chunking:
                raise CollectionError(
                    f"collection '{self.name}' is chunked with {info.chunking.model_dump()}; "
                    f"asked for {self._chunking.model_dump()}",
                    hint="use a new collection for a different chunking",
                )
            return info
        remote = None
        if self._store is not None:
            remote = ChromaStore(
                self._store, self.name, server_name(str(self.workspace.root), self.name)
            )
            remote.ping()  # named in seconds, before the embedder loads
        embedder = self.embedder()
        chunking = self._chunking or ChunkingConfig()
        if chunking.max_tokens > embedder.max_tokens:
            raise CollectionError(
                f"max_tokens {chunking.max_tokens} is more than {embedder.name} reads "
                f"({embedder.max_tokens} tokens)"
            )
        spec = (
            None
            if embedder.name == canonical_name(None)
            else str(getattr(embedder, "spec", None) or getattr(embedder, "path", ""))
        )
        if remote is not None:
            # the server is made ready before anything is recorded, so a dead one leaves nothing
            remote.create(embedder.name, embedder.dim)
        return self.store.create_collection(
            self.name, embedder.name, spec or None, embedder.dim, chunking, self._store
        )

    # -- documents -------------------------------------------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path] | str | Path,
        *,
        progress: bool = False,
        max_size_mb: float = DEFAULT_MAX_MB,
        batch_size: int = 32,
        on_result: Callable[[FileResult], None] | None = None,
        figures: bool = True,
        describe_figures: Model | str | None = None,
    ) -> IngestReport:
        """Add files, folders or globs. Unchanged files are skipped; changed ones replaced.

        ``figures``: keep the figures of PDFs (see :meth:`figures`). ``describe_figures``: a
        model that accepts images (or its address) writes a description of each figure,
        indexed as a chunk cited as "figure on page N"."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        paths = list(paths)
        describer = self._describer(describe_figures) if figures else None
        created = self.info is None
        if created:
            self._refuse_empty(paths)
        info = self._ensure()
        try:
            embedder = self._check_embedder(info)
            remote = self.remote(info)
            if remote is not None:
                remote.ping()  # a dead server is named before any parsing or embedding
            report = ingest(
                self.store,
                info,
                embedder,
                paths,
                max_size_mb=max_size_mb,
                progress=progress,
                batch_size=batch_size,
                vocabulary=default_vocabulary(),
                on_result=on_result,
                figures=FigureOptions(extract=figures, describe=describer),
            )
        finally:
            if created and not self.store.documents(info.id):
                self._drop_unused(info)
        if report.count("added") or report.count("replaced"):
            IndexFiles(self.store, info).sync()  # update the index files now, not at first search
        if remote is not None:
            remote.sync(self.store, info)  # also finishes a copy an earlier run did not
        return report

    def _drop_unused(self, info: CollectionInfo) -> None:
        """A collection made for files of which none could be added is not left behind empty."""
        remote = self.remote(info)
        if remote is not None:
            # Best effort: the reason nothing was added (perhaps this very server) matters more.
            with contextlib.suppress(Exception):
                remote.drop()
        self.store.drop_collection(info.id)
        self._index = None

    def _describer(self, model: Model | str | None) -> Model | None:
        """The model that describes figures, checked before any file is read."""
        if model is None:
            return None
        from assay.errors import UnsupportedOperationError
        from assay.models.facade import Model

        loaded = model if isinstance(model, Model) else Model.load(model, workspace=self.workspace)
        if not loaded.capabilities.images:
            raise UnsupportedOperationError(
                f"cannot describe figures with {loaded.address}, a text-only model: it lacks "
                "the 'images' capability",
                hint="describe figures with a vision-language model",
            )
        return loaded

    def figures(self, document: str | int | None = None) -> list[FigureRow]:
        """The figures kept with the collection's documents (or one document's, by name or
        id): page, caption, image sha256 (read it with ``image(row)``), description."""
        info = self._require()
        doc_id = None if document is None else self.document(document).id
        return self.store.figures(info.id, doc_id)

    def figure_image(self, figure: FigureRow) -> Image:
        """A stored figure's image."""
        from assay.models.image_store import stored_image

        return stored_image(self.workspace, figure.sha256)

    def _refuse_empty(self, paths: list[str | Path]) -> None:
        """A new collection is made only when there is something to put in it."""
        files, problems = expand_paths(paths)
        if files:
            return
        why = "; ".join(p.message for p in problems[:3]) + (" ..." if len(problems) > 3 else "")
        raise CollectionError(
            f"nothing to add, so collection '{self.name}' was not created"
            + (f": {why}" if why else ": no supported file in " + ", ".join(map(str, paths))),
            hint=f"supported types: {', '.join(supported_suffixes())}",
        )

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents(self._require().id)

    def document(self, ref: str | int) -> DocumentInfo:
        """A document by id, path, or file name (which must be unambiguous)."""
        info = self._require()
        ref_s = str(ref)
        found: list[DocumentInfo] = []
        if ref_s.isdigit():
            found = self.store.document_by(info.id, "id", int(ref_s))
        if not found:
            found = self.store.document_by(info.id, "path", str(Path(ref_s).expanduser().resolve()))
        if not found:
            found = self.store.document_by(info.id, "name", Path(ref_s).name)
        if not found:
            raise CollectionError(
                f"no document '{ref}' in collection '{self.name}'",
                hint=f"see: assay docs list -c {self.name}",
            )
        if len(found) > 1:
            ids = ", ".join(str(d.id) for d in found)
            raise CollectionError(
                f"'{ref}' matches {len(found)} documents (ids {ids})", hint="pass the id or path"
            )
        return found[0]

    def document_text(self, ref: str | int) -> str:
        return self.store.document_text(self.document(ref).id)[0]

    def chunks(self, ref: str | int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.chunks_of(self.document(ref).id)]

    def remove(self, ref: str | int) -> DocumentInfo:
        doc = self.document(ref)
        remote = self.remote()
        if remote is not None:
            remote.ping()
        self.store.remove_document(doc.collection_id, doc.id)
        self._index = None
        if remote is not None:
            remote.sync(self.store, self._require(counts=False))
        return doc

    def drop(self) -> None:
        """Delete the collection and everything in it (cached embeddings stay), in its server too."""
        info = self._require()
        remote = self.remote(info)
        if remote is not None:
            remote.drop()
        self.store.drop_collection(info.id)
        self._index = None

    # -- search ------------------------------------------------------------------------------------
    def _search_index(self, info: CollectionInfo) -> SearchIndex:
        """The loaded index for the collection's current generation (one query to check it)."""
        gen = self.store.generation(info.id)
        if self._index is None or self._index.generation != gen:
            self._index = load_index(self.store, info, gen)
        return self._index

    def _dense(self, info: CollectionInfo) -> DenseMatrix:
        return self._search_index(info).dense

    def resolve_filter(
        self,
        documents: Sequence[str | int] | None = None,
        pages: tuple[int, int] | None = None,
        section: str | None = None,
    ) -> SearchFilter:
        ids = tuple(self.document(d).id for d in documents) if documents else None
        return SearchFilter(documents=ids, pages=pages, section=section)

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        *,
        filters: SearchFilter | None = None,
        mmr: float | None = None,
        fetch_k: int | None = None,
        rrf_k: int = RRF_K,
        weights: dict[str, float] | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best chunks for ``query``.

        ``mode``: ``dense`` (embedding cosine), ``bm25`` (lexical), ``hybrid`` (reciprocal rank fusion
        of both) or ``mmr`` (hybrid candidates re-ranked for diversity). ``mmr=λ`` re-ranks any mode
        (λ=1: pure relevance, 0: pure novelty). ``filters`` restricts documents, pages or section.
        """
        if mode not in MODES:
            raise CollectionError(f"unknown search mode '{mode}' (modes: {', '.join(MODES)})")
        if not query or not query.strip():
            raise CollectionError("the query is empty")
        info = self._require(counts=False)
        if not self.store.has_chunks(info.id):
            raise CollectionError(
                f"collection '{self.name}' is empty",
                hint=f"add documents first: assay docs add PATH -c {self.name}",
            )
        if mode == "mmr":
            mode, mmr = "hybrid", 0.5 if mmr is None else mmr
        filt = filters or SearchFilter()
        needs_vectors = mode != "bm25" or mmr is not None
        embedder = self._check_embedder(info) if needs_vectors else None
        remote = self.remote(info) if mode != "bm25" else None
        if remote is not None and not remote.in_sync(self.store, info):
            remote.sync(self.store, info)  # a run killed between the workspace and the server
        pool = max(fetch_k or 0, k * 4 if mmr is not None else k, 40 if mode == "hybrid" else k)

        with single_thread():
            return self._search(
                info, query, k, mode, filt, mmr, pool, embedder, rrf_k, weights, remote
            )

    def _search(
        self,
        info: CollectionInfo,
        query: str,
        k: int,
        mode: str,
        filt: SearchFilter,
        mmr: float | None,
        pool: int,
        embedder: Embedder | None,
        rrf_k: int,
        weights: dict[str, float] | None,
        remote: ChromaStore | None = None,
    ) -> list[SearchHit]:
        db = self.store.db
        index = self._search_index(info)
        matrix = index.dense
        mask = dense_mask(db, info.id, matrix, filt)
        qvec = embedder.encode_query(query) if embedder is not None else None
        scored: list[tuple[int, float]]
        if mode == "bm25":
            scored = bm25_search(index.bm25, matrix.ids, query, pool, mask)
        else:
            assert qvec is not None
            if remote is None:
                dense = dense_search(matrix, qvec, pool, mask)
            else:  # the server ranks; a section filter goes as the ids that pass it
                allowed = matrix.ids[mask].tolist() if filt.section and mask is not None else None
                dense = remote.dense(qvec, pool, filt, allowed)
            if mode == "dense":
                scored = dense
            else:
                lexical = bm25_search(index.bm25, matrix.ids, query, pool, mask)
                scored = reciprocal_rank_fusion(
                    {"dense": [c for c, _ in dense], "bm25": [c for c, _ in lexical]},
                    weights or RRF_WEIGHTS,
                    rrf_k,
                )[:pool]
        if mmr is not None and scored:
            if qvec is None:
                qvec = self._check_embedder(info).encode_query(query)
            rows = matrix.rows_for([c for c, _ in scored])
            order = mmr_select(qvec, np.asarray(matrix.vectors[rows]), k, float(mmr))
            scored = [scored[i] for i in order]
        return hydrate(db, scored[:k])

    def timed_search(
        self, query: str, k: int = 5, mode: str = "hybrid", **kw: Any
    ) -> tuple[list[SearchHit], float]:
        t = time.perf_counter()
        hits = self.search(query, k, mode, **kw)
        return hits, time.perf_counter() - t

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, workspace={str(self.workspace.root)!r})"


def collections(workspace: Workspace | None = None) -> list[CollectionInfo]:
    return RagStore(workspace or Workspace.find()).collections()


__all__ = ["DEFAULT_COLLECTION", "Collection", "collections"]
