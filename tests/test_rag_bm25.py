"""The in-memory BM25 index: scores equal to SQLite FTS5's bm25() and to a brute-force reference,
and segments merged equal to one build."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter

import numpy as np
import pytest

from assay.rag.bm25 import (
    IDF_FLOOR,
    K1,
    TOKENIZE,
    TOKENIZER,
    B,
    Bm25Index,
    Segment,
    merge,
    query_words,
)

CORPUS = [
    "The treatment of type 2 diabetes with metformin and insulin.",
    "Insulin resistance is common in obese patients; treatments vary.",
    "Metformin lowers glucose. Metformin is cheap. Metformin is old.",
    "Dogs and cats at the veterinary clinic: vaccination schedules.",
    "Café crème and brûlée: a recipe, not a treatment.",
    "Randomised trials of insulin pumps in children with diabetes mellitus.",
    "Glucose monitoring in gestational diabetes improves outcomes for mothers and babies.",
    "A cohort of 2,000 patients followed for ten years after bariatric surgery.",
    "Surgery versus medication for obesity: weight loss and diabetes remission.",
    "The cats were treated with insulin for feline diabetes.",
    "Nothing here matches anything medical at all, only words.",
    "Diabetes diabetes diabetes: a very repetitive abstract about diabetes.",
]
QUERIES = [
    "Does metformin treatment help type 2 diabetes?",
    "insulin for cats",
    "What are the outcomes of surgery for obesity?",
    "crème brûlée",
    "gestational glucose monitoring of mothers",
    "the of and",  # only stop words: they are searched for
    "zebra",  # no indexed term
]


def fts5_scores(texts: list[str], query: str) -> dict[int, float]:
    """What the store's FTS5 table ranked with: -bm25() of an OR query of the query's words."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE f USING fts5(text, tokenize={TOKENIZE!r})")
    db.executemany("INSERT INTO f(rowid, text) VALUES (?, ?)", enumerate(texts))
    words = query_words(query)
    if not words:
        return {}
    match = " OR ".join(f'"{w}"' for w in words)
    rows = db.execute("SELECT rowid, -bm25(f) FROM f WHERE f MATCH ?", (match,)).fetchall()
    return {int(r): float(s) for r, s in rows}


def reference_scores(texts: list[str], query: str) -> dict[int, float]:
    """Textbook BM25 (FTS5's constants and idf floor) over each text's FTS5 tokens, row by row."""
    docs = [Counter(tokens_of(t)) for t in texts]
    avgdl = sum(sum(d.values()) for d in docs) / len(docs)
    terms = TOKENIZER.query_terms(query)
    out: dict[int, float] = {}
    for row, doc in enumerate(docs):
        length = sum(doc.values())
        score, hit = 0.0, False
        for term in terms:
            tf = doc.get(term, 0)
            if not tf:
                continue
            hit = True
            df = sum(1 for d in docs if term in d)
            idf = math.log((len(docs) - df + 0.5) / (df + 0.5))
            idf = idf if idf > 0 else IDF_FLOOR
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avgdl))
        if hit:
            out[row] = score
    return out


def tokens_of(text: str) -> list[str]:
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE f USING fts5(text, tokenize={TOKENIZE!r})")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, instance)")
    db.execute("INSERT INTO f(rowid, text) VALUES (1, ?)", (text,))
    return [t for t, _ in sorted(db.execute("SELECT term, offset FROM v"), key=lambda r: r[1])]


def postings(seg: Segment) -> dict[str, list[tuple[int, int]]]:
    """term -> [(row, tf)] in stored order."""
    out = {}
    for i, term in enumerate(seg.terms):
        lo, hi = int(seg.indptr[i]), int(seg.indptr[i + 1])
        out[term] = list(zip(seg.rows[lo:hi].tolist(), seg.tf[lo:hi].tolist(), strict=True))
    return out


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_fts5_and_a_brute_force_reference(query: str) -> None:
    index = Bm25Index(TOKENIZER.postings(CORPUS))
    got = {row: score for row, score in index.top(query, len(CORPUS))}
    for expected in (fts5_scores(CORPUS, query), reference_scores(CORPUS, query)):
        assert set(got) == set(expected)
        for row, score in expected.items():
            assert got[row] == pytest.approx(score, rel=1e-12, abs=1e-12)
    ranked = [row for row, _ in index.top(query, 3)]
    by_reference = sorted(reference_scores(CORPUS, query).items(), key=lambda kv: (-kv[1], kv[0]))
    assert ranked == [row for row, _ in by_reference[:3]]


def test_repeated_stems_count_once_per_query_word_as_in_fts5() -> None:
    assert TOKENIZER.query_terms("treatment treatments Treating") == [
        "treatment",
        "treatment",
        "treat",
    ]


def test_filter_mask_and_ties() -> None:
    texts = ["apple pie", "apple tart", "pear pie", "apple crumble"]
    index = Bm25Index(TOKENIZER.postings(texts))
    assert [r for r, _ in index.top("apple", 3)] == [0, 1, 3]  # equal scores: row order
    mask = np.array([False, True, True, True])
    assert [r for r, _ in index.top("apple", 5, mask)] == [1, 3]
    assert index.top("apple", 0) == [] and index.top("kiwi", 3) == []


def test_merged_segments_equal_one_build() -> None:
    whole = TOKENIZER.postings(CORPUS)
    parts = []
    for lo, hi in ((0, 5), (5, 6), (6, len(CORPUS))):
        part = TOKENIZER.postings(CORPUS[lo:hi])
        part.offset = lo
        parts.append(part)
    merged = merge(parts)

    assert postings(merged) == postings(whole)
    assert merged.lengths.tolist() == whole.lengths.tolist()
    for q in QUERIES:
        assert Bm25Index(merged).top(q, 5) == Bm25Index(whole).top(q, 5)
