"""Lexical support: how much of a question the evidence covers, and whether a passage backs a
sentence.

Words are compared the way the collection's BM25 index sees them (stop words dropped, stemmed by
the same FTS5 tokenizer), and weighted by their inverse document frequency in the collection, so
that the rare word that makes a question specific ("GPUs", "dropout") counts for more than
"model" or "trained". Numbers are compared separately and exactly (``20,093`` = ``20093``):
a sentence that states a figure its passage does not hold is not supported, whatever else it
shares with it.

* :func:`coverage`: the IDF-weighted share of the question's words found in a piece of evidence.
  An on-topic question whose answer is absent usually misses exactly its specific word, which
  a cosine floor does not see.
* :func:`backs`: whether the cited passages hold the figures and most of the words of a
  sentence of an answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.rag.bm25 import TOKENIZER, query_words
from assay.rag.claims import sentences

if TYPE_CHECKING:
    from assay.rag.collection import Collection

Idf = Callable[[str], float]

MIN_BACKED = 0.6
"""Share of a sentence's content words its cited passages must hold (figures must all be there)."""
MIN_WORDS = 2
"""Content words a sentence needs to be checked at all: a fragment such as "2-3 RATING" shares
its one word with almost any passage."""
WINDOW = 2
"""Sentences per evidence window: PDF text often breaks one statement over two sentences."""

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_HEADING = re.compile(r"^#+\s+")  # a Markdown heading mark, not part of a quote


def terms(text: str) -> list[str]:
    """The stemmed content words of ``text``, in order, repeats dropped."""
    words = query_words(text, max_terms=100_000)
    return list(dict.fromkeys(tok for w in words for tok in TOKENIZER.word_tokens(w)))


def numbers(text: str) -> set[str]:
    """The figures in ``text``, thousands separators dropped (``20,093`` -> ``20093``)."""
    out = set()
    for m in _NUMBER.finditer(text):
        value = m.group(0)
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", value):
            value = value.replace(",", "")
        out.add(value.rstrip(".,"))
    return out


def collection_idf(collection: Collection) -> Idf:
    """IDF of a (stemmed) term in ``collection``'s BM25 index; a term it lacks gets the most."""
    info = collection._require(counts=False)
    bm25 = collection._search_index(info).bm25
    seg = bm25.segment

    def idf(term: str) -> float:
        i = bm25.term_ids.get(term)
        df = 0 if i is None else int(seg.indptr[i + 1] - seg.indptr[i])
        return bm25.idf(df)

    return idf


def coverage(question_terms: Sequence[str], evidence: str, idf: Idf) -> float:
    """IDF-weighted share of ``question_terms`` that occur in ``evidence`` (0 to 1)."""
    if not question_terms:
        return 0.0
    have = set(terms(evidence))
    total = sum(idf(t) for t in question_terms)
    found = sum(idf(t) for t in question_terms if t in have)
    return found / total if total > 0 else 0.0


@dataclass(frozen=True)
class Window:
    """A run of up to :data:`WINDOW` sentences of source ``n``, with its question coverage."""

    n: int
    text: str
    score: float


def windows(text: str, size: int = WINDOW) -> list[str]:
    """Overlapping runs of ``size`` consecutive sentences of ``text`` (one run if shorter)."""
    parts = [" ".join(_HEADING.sub("", s).split()) for s in sentences(text)]
    if len(parts) <= size:
        return [" ".join(parts)] if parts else []
    return [" ".join(parts[i : i + size]) for i in range(len(parts) - size + 1)]


def best_windows(
    question: str, passages: Sequence[tuple[int, str]], idf: Idf, size: int = WINDOW
) -> list[Window]:
    """Every window of every ``(n, text)`` passage scored by :func:`coverage`, best first (ties:
    the earlier passage, i.e. the better retrieved one)."""
    q = terms(question)
    scored = [
        Window(n, w, coverage(q, w, idf)) for n, text in passages for w in windows(text, size)
    ]
    return sorted(scored, key=lambda w: -w.score)


def evidence_support(question: str, passages: Sequence[str], idf: Idf) -> float:
    """How well the best window of ``passages`` covers ``question`` (0 with no passages): the
    score ``assay ask`` gates on with ``min_support``."""
    ranked = best_windows(question, list(enumerate(passages, 1)), idf)
    return ranked[0].score if ranked else 0.0


def backs(sentence: str, passages: Sequence[str], min_share: float = MIN_BACKED) -> bool:
    """Whether ``sentence`` has at least :data:`MIN_WORDS` content words and ``passages``
    together hold every figure of it and at least ``min_share`` of its content words."""
    joined = " ".join(passages)
    if not numbers(sentence) <= numbers(joined):
        return False
    words = terms(sentence)
    if len(words) < MIN_WORDS:
        return False
    have = set(terms(joined))
    return sum(w in have for w in words) / len(words) >= min_share


__all__ = [
    "MIN_BACKED",
    "MIN_WORDS",
    "WINDOW",
    "Window",
    "backs",
    "best_windows",
    "collection_idf",
    "coverage",
    "evidence_support",
    "numbers",
    "terms",
    "windows",
]
