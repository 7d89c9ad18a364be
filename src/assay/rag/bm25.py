"""In-memory BM25 over a collection's chunks, scored exactly as SQLite FTS5's ``bm25()``.

Tokens come from FTS5 itself (an in-memory table with the store's tokenizer, read back through
``fts5vocab``), so terms, stemming and Unicode handling are FTS5's, with no tokenizer of our own to
drift. The index is a term → postings (row, term frequency) structure in numpy arrays, built in
*segments* (one per batch of appended rows) and merged into one array set when loaded. A query
slices the postings of its few terms and sums

    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avgdl))

with FTS5's constants and idf, ``log((N - n + 0.5) / (n + 0.5))`` floored at 1e-6, over the
collection's own rows (FTS5 counted every collection in the workspace and the tag column's tokens).
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6
TOKENIZE = "porter unicode61 remove_diacritics 2"  # the store's FTS5 tokenizer (rag_fts)

_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_words(text: str, max_terms: int = 32) -> list[str]:
    """The content words of a query (stop words dropped unless nothing else is left), deduplicated:
    each is one FTS5 phrase of the ``OR`` query the store used to run."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]
    if not words:
        words = [w for w in _WORD.findall(text.lower()) if w]
    return list(dict.fromkeys(words))[:max_terms]


class Fts5Tokenizer:
    """FTS5's tokenizer, used through an in-memory SQLite table (one connection per thread)."""

    def __init__(self, tokenize: str = TOKENIZE) -> None:
        self.tokenize = tokenize
        self._local = threading.local()
        self._word_cache: dict[str, tuple[str, ...]] = {}

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize={self.tokenize!r})")
            db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
            self._local.db = db
        return db

    def postings(self, texts: Sequence[str]) -> Segment:
        """A segment over ``texts`` (rows numbered from 0 in order)."""
        db = self._db()
        db.execute("BEGIN")
        try:
            db.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", enumerate(texts))
            # One row per term with its documents, one entry per occurrence, in document order:
            # the term's postings with repeats. Aggregating in SQLite keeps Python out of the loop.
            rows = db.execute("SELECT term, group_concat(doc, ' ') FROM v GROUP BY term").fetchall()
        finally:
            db.execute("ROLLBACK")  # the table is scratch space
        n = len(texts)
        terms = [r[0] for r in rows]
        occurrences = np.array(" ".join(r[1] for r in rows).split(), dtype=np.int32)
        per_term = np.array([r[1].count(" ") + 1 for r in rows], dtype=np.int64)
        lengths = np.bincount(occurrences, minlength=n).astype(np.int32)
        # Collapse repeats: a posting starts where the term or the row changes.
        term_of = np.repeat(np.arange(len(terms), dtype=np.int64), per_term)
        key = term_of * max(n, 1) + occurrences
        if len(key) and bool(np.any(key[1:] < key[:-1])):  # fts5vocab lists by term, then row
            order = np.argsort(key, kind="stable")
            key, term_of, occurrences = key[order], term_of[order], occurrences[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
        tf = np.diff(np.r_[starts, len(key)]).astype(np.int64)
        post_terms = term_of[starts]
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(post_terms, minlength=len(terms)), out=indptr[1:])
        return Segment(
            terms=terms,
            indptr=indptr,
            rows=occurrences[starts].astype(np.int32),
            tf=np.minimum(tf, np.iinfo(np.uint16).max).astype(np.uint16),
            lengths=lengths,
        )

    def word_tokens(self, word: str) -> tuple[str, ...]:
        """The tokens FTS5 makes of one query word (a phrase; almost always one token)."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        db = self._db()
        db.execute("BEGIN")
        try:
            db.execute("INSERT INTO t(rowid, text) VALUES (1, ?)", (word,))
            rows = db.execute("SELECT term, offset FROM v").fetchall()
        finally:
            db.execute("ROLLBACK")
        tokens = tuple(term for term, _ in sorted(rows, key=lambda r: r[1]))
        if len(self._word_cache) > 100_000:
            self._word_cache.clear()
        self._word_cache[word] = tokens
        return tokens

    def query_terms(self, text: str) -> list[str]:
        """One term per phrase of the query, repeats kept: FTS5 scores each phrase separately, so
        two words with one stem ("treatment", "treatments") count twice there and here. A word
        FTS5 splits into several tokens (characters newer than its Unicode tables) contributes each
        token on its own rather than as an exact phrase."""
        return [tok for word in query_words(text) for tok in self.word_tokens(word)]


TOKENIZER = Fts5Tokenizer()


@dataclass
class Segment:
    """Postings of consecutive rows: ``rows[indptr[i]:indptr[i + 1]]`` hold ``terms[i]`` with
    frequencies ``tf``; ``lengths`` are the rows' token counts. ``rows`` count from ``offset``."""

    terms: list[str]
    indptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray
    offset: int = 0

    @property
    def n_rows(self) -> int:
        return len(self.lengths)

    def take(self, keep: np.ndarray) -> Segment:
        """The segment without the rows where ``keep`` is False (rows renumbered; terms left with
        no postings dropped)."""
        new_row = np.cumsum(keep, dtype=np.int64) - 1
        entry = keep[self.rows]
        sizes = np.diff(self.indptr)
        term_of = np.repeat(np.arange(len(self.terms), dtype=np.int64), sizes)
        counts = np.bincount(term_of[entry], minlength=len(self.terms))
        live = counts > 0
        indptr = np.zeros(int(live.sum()) + 1, dtype=np.int64)
        np.cumsum(counts[live], out=indptr[1:])
        return Segment(
            terms=[t for t, alive in zip(self.terms, live.tolist(), strict=True) if alive],
            indptr=indptr,
            rows=new_row[self.rows[entry]].astype(np.int32),
            tf=self.tf[entry],
            lengths=self.lengths[keep],
            offset=self.offset,
        )

    def save(self, path: Path) -> None:
        from assay.rag.files import atomic_write

        vocab = np.frombuffer("\n".join(self.terms).encode("utf-8"), dtype=np.uint8)
        atomic_write(
            path,
            lambda f: np.savez(
                f,
                vocab=vocab,
                indptr=self.indptr,
                rows=self.rows,
                tf=self.tf,
                lengths=self.lengths,
                offset=np.int64(self.offset),
            ),
        )

    @classmethod
    def load(cls, path: Path) -> Segment:
        with np.load(path) as z:
            text = z["vocab"].tobytes().decode("utf-8")
            return cls(
                terms=text.split("\n") if text else [],
                indptr=z["indptr"],
                rows=z["rows"],
                tf=z["tf"],
                lengths=z["lengths"],
                offset=int(z["offset"]),
            )


def merge(segments: Sequence[Segment]) -> Segment:
    """One segment over the rows of ``segments`` (consecutive, in order); postings stay sorted by
    row within each term."""
    vocab: dict[str, int] = {}
    global_ids = [
        np.fromiter((vocab.setdefault(t, len(vocab)) for t in s.terms), np.int64, len(s.terms))
        for s in segments
    ]
    counts = np.zeros(len(vocab), dtype=np.int64)
    for s, gid in zip(segments, global_ids, strict=True):
        counts[gid] += np.diff(s.indptr)
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    rows = np.empty(int(indptr[-1]), dtype=np.int32)
    tf = np.empty(int(indptr[-1]), dtype=np.uint16)
    cursor = indptr[:-1].copy()
    offset = segments[0].offset if segments else 0
    for s, gid in zip(segments, global_ids, strict=True):
        sizes = np.diff(s.indptr)
        within = np.arange(len(s.rows), dtype=np.int64) - np.repeat(s.indptr[:-1], sizes)
        dest = np.repeat(cursor[gid], sizes) + within
        rows[dest] = s.rows + (s.offset - offset)
        tf[dest] = s.tf
        cursor[gid] += sizes
    lengths = np.concatenate([s.lengths for s in segments]) if segments else np.zeros(0, np.int32)
    return Segment(list(vocab), indptr, rows, tf, lengths, offset)


class Bm25Index:
    """A merged segment ready to score queries."""

    def __init__(self, segment: Segment, tokenizer: Fts5Tokenizer = TOKENIZER) -> None:
        self.segment = segment
        self.tokenizer = tokenizer
        self.term_ids = {t: i for i, t in enumerate(segment.terms)}
        n = segment.n_rows
        self.n_rows = n
        avgdl = float(segment.lengths.sum()) / n if n else 1.0
        # The length part of the tf saturation, per row, computed once.
        self.norm = K1 * (1 - B + B * segment.lengths.astype(np.float64) / max(avgdl, 1e-9))

    def idf(self, df: int) -> float:
        idf = math.log((self.n_rows - df + 0.5) / (df + 0.5))
        return idf if idf > 0 else IDF_FLOOR

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 of every row (0 where no query term occurs), or None if no term is indexed."""
        seg = self.segment
        rows, parts = [], []
        for term in self.tokenizer.query_terms(query):
            i = self.term_ids.get(term)
            if i is None:
                continue
            lo, hi = int(seg.indptr[i]), int(seg.indptr[i + 1])
            r = seg.rows[lo:hi]
            tf = seg.tf[lo:hi].astype(np.float64)
            rows.append(r)
            parts.append(self.idf(hi - lo) * (tf * (K1 + 1.0)) / (tf + self.norm[r]))
        if not rows:
            return None
        return np.bincount(np.concatenate(rows), np.concatenate(parts), minlength=self.n_rows)

    def top(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` best ``(row, score)`` among rows with a query term (and in ``mask``); ties in
        row order."""
        scores = self.scores(query)
        if scores is None or k <= 0:
            return []
        hit = scores > 0
        if mask is not None:
            hit &= mask
        candidates = np.flatnonzero(hit)
        if len(candidates) > k:
            keep = np.argpartition(-scores[candidates], k - 1)[:k]
            # the k-th score may be tied with rows argpartition left out: keep all of them
            kth = scores[candidates[keep]].min()
            candidates = candidates[scores[candidates] >= kth]
        order = np.argsort(-scores[candidates], kind="stable")[:k]
        return [(int(candidates[i]), float(scores[candidates[i]])) for i in order]


__all__ = [
    "IDF_FLOOR",
    "K1",
    "STOPWORDS",
    "TOKENIZE",
    "TOKENIZER",
    "B",
    "Bm25Index",
    "Fts5Tokenizer",
    "Segment",
    "merge",
    "query_words",
]
