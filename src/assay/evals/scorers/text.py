"""Exact match and token F1 over short text answers, with SQuAD's normalisation.

SQuAD (``evaluate-v2.0.py``) normalises an answer by lower-casing, removing ASCII punctuation,
removing the articles *a*, *an*, *the*, and collapsing whitespace, in that order.
:func:`normalize_text` does the same, each step switchable; with every step off it only strips
the ends. Articles are matched in any case, and removing them also collapses whitespace (the
gap an article leaves would otherwise make equal answers differ).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE | re.IGNORECASE)

Reference = str | Sequence[str]


def normalize_text(
    text: object,
    *,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    ignore_articles: bool = False,
    normalize_whitespace: bool = False,
) -> str:
    """Normalise ``text`` for comparison; all options on = SQuAD's ``normalize_answer``."""
    s = "" if text is None else str(text)
    if ignore_case:
        s = s.lower()
    if ignore_punctuation:
        s = "".join(ch for ch in s if ch not in _PUNCT)
    if ignore_articles:
        s = _ARTICLES.sub(" ", s)
    if normalize_whitespace or ignore_articles:
        s = " ".join(s.split())
    return s.strip()


def squad_normalize(text: object) -> str:
    return normalize_text(
        text,
        ignore_case=True,
        ignore_punctuation=True,
        ignore_articles=True,
        normalize_whitespace=True,
    )


def _references(reference: object) -> list[str]:
    if isinstance(reference, str) or reference is None:
        return [reference or ""]
    if isinstance(reference, Sequence):
        return [str(r) for r in reference] or [""]
    return [str(reference)]


def exact_match(
    prediction: object,
    reference: object,
    *,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    ignore_articles: bool = False,
    normalize_whitespace: bool = False,
) -> float:
    """1.0 when the normalised prediction equals a normalised reference (any of a list)."""
    opts = {
        "ignore_case": ignore_case,
        "ignore_punctuation": ignore_punctuation,
        "ignore_articles": ignore_articles,
        "normalize_whitespace": normalize_whitespace,
    }
    pred = normalize_text(prediction, **opts)
    return float(any(pred == normalize_text(r, **opts) for r in _references(reference)))


def token_f1(prediction: object, reference: object) -> float:
    """SQuAD token F1: overlap of normalised whitespace tokens; the best over a reference list.

    As in SQuAD v2.0, when either side normalises to no tokens the score is 1.0 if both do and
    0.0 otherwise.
    """
    pred_toks = squad_normalize(prediction).split()
    return max(_f1(pred_toks, squad_normalize(r).split()) for r in _references(reference))


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


__all__ = ["exact_match", "normalize_text", "squad_normalize", "token_f1"]
