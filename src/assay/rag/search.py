"""Retrieval over one collection: dense (exact dot product), BM25 (in-memory postings scored as
FTS5 does, :mod:`assay.rag.bm25`), hybrid (reciprocal rank fusion of the two) and MMR re-ranking for
diversity, with metadata filters."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from assay.rag.bm25 import STOPWORDS, Bm25Index
from assay.rag.index import DenseMatrix

Mode = Literal["dense", "bm25", "hybrid", "mmr"]
MODES: tuple[str, ...] = ("dense", "bm25", "hybrid", "mmr")

# Reciprocal rank fusion: score = sum_i w_i / (RRF_K + rank_i). 60 is the constant of Cormack et al.
# (2009). A grid over k and the dense weight on the PubMedQA questions outside the test split did not
# beat these defaults on the test split (benchmarks/retrieval_pubmedqa.py), so they stay.
RRF_K = 60
RRF_WEIGHTS = {"dense": 1.0, "bm25": 1.0}


@dataclass(frozen=True)
class SearchFilter:
    """Restrict a search. ``documents`` are document ids; ``pages`` an inclusive range (PDFs only);
    ``section`` a case-insensitive substring of the section heading."""

    documents: tuple[int, ...] | None = None
    pages: tuple[int, int] | None = None
    section: str | None = None

    @property
    def empty(self) -> bool:
        return self.documents is None and self.pages is None and not self.section


@dataclass
class SearchHit:
    """One retrieved chunk with what is needed to cite it."""

    chunk_id: int
    score: float
    rank: int
    text: str
    document_id: int
    document: str
    path: str
    title: str | None
    page_start: int | None
    page_end: int | None
    section: str | None
    start: int
    end: int
    seq: int

    @property
    def pages(self) -> str | None:
        if self.section and self.section.startswith("figure on page"):
            return self.section  # a figure's description: cited as the figure
        if self.page_start is None:
            return None
        if self.page_end in (None, self.page_start):
            return f"p. {self.page_start}"
        return f"pp. {self.page_start}-{self.page_end}"

    @property
    def anchor(self) -> str:
        """``name, p. 3`` for paged documents, ``name, §Section`` or ``name [start:end]`` otherwise."""
        if self.pages:
            return f"{self.document}, {self.pages}"
        if self.section:
            return f"{self.document}, §{self.section}"
        return f"{self.document} [{self.start}:{self.end}]"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["anchor"] = self.anchor
        return data


def _section_ids(db: sqlite3.Connection, collection_id: int, section: str) -> np.ndarray:
    rows = db.execute(
        "SELECT id FROM rag_chunks WHERE collection_id = ? AND section LIKE ? ESCAPE '\\'",
        (collection_id, "%" + section.replace("%", r"\%").replace("_", r"\_") + "%"),
    ).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def dense_mask(
    db: sqlite3.Connection, collection_id: int, matrix: DenseMatrix, filt: SearchFilter
) -> np.ndarray | None:
    """Which rows of the index pass the filter (None: all of them). Dense and BM25 share rows."""
    if filt.empty:
        return None
    mask = np.ones(len(matrix.ids), dtype=bool)
    if filt.documents is not None:
        mask &= np.isin(matrix.doc_ids, np.asarray(filt.documents, dtype=np.int64))
    if filt.pages is not None:
        lo, hi = filt.pages
        mask &= (matrix.page_start >= 0) & (matrix.page_end >= lo) & (matrix.page_start <= hi)
    if filt.section:
        mask &= np.isin(matrix.ids, _section_ids(db, collection_id, filt.section))
    return mask


def matvec(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``vectors @ query`` with torch when present (it honours :func:`single_thread`; numpy's BLAS
    keeps its own thread pool, which contends with torch's on a small machine)."""
    query = np.ascontiguousarray(query, dtype=np.float32)
    try:
        import torch
    except ImportError:
        return np.asarray(vectors @ query)
    with torch.inference_mode():
        out: np.ndarray = torch.mv(torch.from_numpy(vectors), torch.from_numpy(query)).numpy()
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with torch when present, for the same reason as :func:`matvec`."""
    try:
        import torch
    except ImportError:
        return np.asarray(a @ b)
    with torch.inference_mode():
        out: np.ndarray = torch.mm(
            torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(b))
        ).numpy()
    return out


def dense_search(
    matrix: DenseMatrix, query: np.ndarray, k: int, mask: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """Exact top-``k`` by dot product (cosine: vectors are unit length)."""
    n = len(matrix.ids)
    if n == 0 or k <= 0:
        return []
    scores = matvec(matrix.vectors, query)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
        k = min(k, int(mask.sum()))
        if k == 0:
            return []
    k = min(k, n)
    top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(matrix.ids[i]), float(scores[i])) for i in top]


def bm25_search(
    index: Bm25Index, ids: np.ndarray, query: str, k: int, mask: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """Top-``k`` chunks by BM25 (only chunks with a query term); ``ids`` maps rows to chunk ids."""
    return [(int(ids[row]), score) for row, score in index.top(query, k, mask)]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[int]],
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: ``sum_i w_i / (k + rank_i)`` with ranks from 1."""
    weights = weights or {}
    scores: dict[int, float] = {}
    for name, ids in rankings.items():
        w = weights.get(name, 1.0)
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def mmr_select(query: np.ndarray, vectors: np.ndarray, k: int, lambda_: float = 0.5) -> list[int]:
    """Maximal marginal relevance: indices into ``vectors`` balancing relevance and novelty."""
    n = len(vectors)
    if n == 0:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    relevance = matvec(vectors, query)
    sims = matmul(vectors, vectors.T)
    chosen: list[int] = []
    best_sim = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        penalty = np.where(np.isfinite(best_sim), best_sim, 0.0)
        score = lambda_ * relevance - (1 - lambda_) * penalty
        score = np.where(available, score, -np.inf)
        i = int(np.argmax(score))
        chosen.append(i)
        available[i] = False
        best_sim = np.maximum(best_sim, sims[i])
    return chosen


def hydrate(db: sqlite3.Connection, scored: Sequence[tuple[int, float]]) -> list[SearchHit]:
    if not scored:
        return []
    ids = [cid for cid, _ in scored]
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        "SELECT c.id, c.text, c.document_id, c.page_start, c.page_end, c.section, c.start_char, "
        "c.end_char, c.seq, d.name, d.path, d.title FROM rag_chunks c "
        f"JOIN rag_documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
        ids,
    ).fetchall()
    by_id = {r["id"]: r for r in rows}
    hits = []
    for rank, (cid, score) in enumerate(scored, start=1):
        r = by_id.get(cid)
        if r is None:
            continue
        hits.append(
            SearchHit(
                chunk_id=cid,
                score=score,
                rank=rank,
                text=r["text"],
                document_id=r["document_id"],
                document=r["name"],
                path=r["path"],
                title=r["title"],
                page_start=r["page_start"],
                page_end=r["page_end"],
                section=r["section"],
                start=r["start_char"],
                end=r["end_char"],
                seq=r["seq"],
            )
        )
    return hits


__all__ = [
    "MODES",
    "RRF_K",
    "RRF_WEIGHTS",
    "STOPWORDS",
    "Mode",
    "SearchFilter",
    "SearchHit",
    "bm25_search",
    "dense_mask",
    "dense_search",
    "hydrate",
    "matmul",
    "matvec",
    "mmr_select",
    "reciprocal_rank_fusion",
]
