"""Scoring what a model says: perplexity of texts, and the log-probability of each token of a
continuation after a context, with the alternatives the model preferred.

    >>> import assay
    >>> assay.score("default", ["The cat sat on the mat."]).perplexity      # doctest: +SKIP
    >>> assay.score_continuation("default", "The capital of France is", " Paris")  # doctest: +SKIP

Perplexity uses the model's rolling log-likelihood (lm-evaluation-harness's
``loglikelihood_rolling``: texts longer than the context are scored in disjoint windows, every
token once); per-token scores come from the model scoring the whole ``context + continuation``
token by token. Two models scored on the same texts compare paired, text by text
(:func:`compare_perplexity`).
"""

from __future__ import annotations

from assay.scoring.continuation import (
    Alternative,
    ContinuationScore,
    ScoredToken,
    score_continuation,
)
from assay.scoring.inputs import read_texts
from assay.scoring.perplexity import Perplexity, TextPerplexity, compare_perplexity, score

__all__ = [
    "Alternative",
    "ContinuationScore",
    "Perplexity",
    "ScoredToken",
    "TextPerplexity",
    "compare_perplexity",
    "read_texts",
    "score",
    "score_continuation",
]
