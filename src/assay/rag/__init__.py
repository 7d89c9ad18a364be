"""Retrieval: documents → chunks with page/section anchors → embeddings + BM25 in the workspace.

    >>> from assay.rag import Collection
    >>> papers = Collection(name="papers")
    >>> papers.add(["paper.pdf"])
    >>> hits = papers.search("what does the benchmark measure?", k=5, mode="hybrid")

Names are imported on first use, so ``import assay.rag`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Collection": "assay.rag.collection",
    "collections": "assay.rag.collection",
    "ChunkingConfig": "assay.rag.chunking",
    "Chunk": "assay.rag.chunking",
    "SearchFilter": "assay.rag.search",
    "SearchHit": "assay.rag.search",
    "ParsedDocument": "assay.rag.document",
    "read_document": "assay.rag.readers",
    "Embedder": "assay.rag.embed",
    "load_embedder": "assay.rag.embed",
    "DocumentError": "assay.rag.errors",
    "CollectionError": "assay.rag.errors",
    "EmbedderMismatchError": "assay.rag.errors",
    "ask": "assay.rag.answer",
    "Answer": "assay.rag.answer",
}

__all__ = [
    "Answer",
    "Chunk",
    "ChunkingConfig",
    "Collection",
    "CollectionError",
    "DocumentError",
    "Embedder",
    "EmbedderMismatchError",
    "ParsedDocument",
    "SearchFilter",
    "SearchHit",
    "ask",
    "collections",
    "load_embedder",
    "read_document",
]

if TYPE_CHECKING:
    from assay.rag.answer import Answer, ask
    from assay.rag.chunking import Chunk, ChunkingConfig
    from assay.rag.collection import Collection, collections
    from assay.rag.document import ParsedDocument
    from assay.rag.embed import Embedder, load_embedder
    from assay.rag.errors import CollectionError, DocumentError, EmbedderMismatchError
    from assay.rag.readers import read_document
    from assay.rag.search import SearchFilter, SearchHit


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
