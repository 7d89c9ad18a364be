"""Extractive answers: the evidence that best covers the question, quoted with its source.

Nothing is generated, so the answer cannot say more than its passages: it is the run of
sentences (see :func:`assay.rag.support.best_windows`) that covers most of the question's
words, weighted by how rare they are, quoted word for word and cited to its source (document
and page), plus a second quote from another source when that one covers the question almost as
well. Used for ``assay ask --extractive`` and whenever a generated answer breaks the citation
contract (:mod:`assay.rag.contract`).
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.rag.contract import CitedSentence
from assay.rag.support import Idf, Window, best_windows

MAX_QUOTES = 2
SECOND_QUOTE_RATIO = 0.9
"""A second quote is added only if it covers the question at least this well, relative to the
first, and comes from another source."""
MAX_QUOTE_CHARS = 400


def quote(window: Window) -> CitedSentence:
    text = window.text
    if len(text) > MAX_QUOTE_CHARS:
        text = text[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + " ..."
    return CitedSentence(f"\u201c{text}\u201d", [window.n], backed=True)


def pick(ranked: Sequence[Window], max_quotes: int = MAX_QUOTES) -> list[Window]:
    """The best window, and up to ``max_quotes - 1`` more from other sources that cover the
    question nearly as well."""
    if not ranked:
        return []
    chosen = [ranked[0]]
    for w in ranked[1:]:
        if len(chosen) >= max_quotes or w.score < SECOND_QUOTE_RATIO * ranked[0].score:
            break
        if all(w.n != c.n for c in chosen):
            chosen.append(w)
    return chosen


def extract(question: str, passages: Sequence[tuple[int, str]], idf: Idf) -> list[CitedSentence]:
    """Quotes answering ``question`` from the numbered ``passages`` (empty if none has text)."""
    return [quote(w) for w in pick(best_windows(question, passages, idf))]


__all__ = ["MAX_QUOTES", "extract", "pick", "quote"]
