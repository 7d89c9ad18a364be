"""Perplexity over a corpus: ``exp(total negative log-likelihood / total tokens)``.

This is the token-weighted aggregate (lm-evaluation-harness's ``word_perplexity`` pattern with
tokens as the unit), not the mean of per-item perplexities, which over-weights short items.
An item's log-likelihood comes as a ``RollingLoglikelihood`` (``logprob``, ``n_tokens``), a dict
with those keys, or a ``(logprob, n_tokens)`` pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from assay.errors import UserError


def as_loglikelihood(prediction: Any) -> tuple[float, int]:
    if isinstance(prediction, dict):
        lp, n = prediction.get("logprob"), prediction.get("n_tokens")
    elif hasattr(prediction, "logprob") and hasattr(prediction, "n_tokens"):
        lp, n = prediction.logprob, prediction.n_tokens
    elif (
        isinstance(prediction, Sequence)
        and not isinstance(prediction, str)
        and len(prediction) == 2
    ):
        lp, n = prediction
    else:
        raise UserError(
            f"perplexity needs (logprob, n_tokens) for each item, got {prediction!r:.80}"
        )
    if lp is None or n is None or int(n) < 0:
        raise UserError(
            f"perplexity needs a log-probability and a token count, got {prediction!r:.80}"
        )
    return float(lp), int(n)


def item_perplexity(prediction: Any) -> float:
    lp, n = as_loglikelihood(prediction)
    if n == 0:
        raise UserError("an item with 0 tokens has no perplexity")
    return math.exp(-lp / n)


def perplexity(predictions: Sequence[Any]) -> float:
    """``exp(-sum(logprob) / sum(n_tokens))`` over all items."""
    pairs = [as_loglikelihood(p) for p in predictions]
    total_tokens = sum(n for _, n in pairs)
    if total_tokens == 0:
        raise UserError("perplexity over no tokens is undefined")
    return math.exp(-sum(lp for lp, _ in pairs) / total_tokens)


__all__ = ["as_loglikelihood", "item_perplexity", "perplexity"]
