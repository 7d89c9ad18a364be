"""Ranking metrics for retrieval (and anything else that ranks): recall@k, MRR, nDCG@k.

``ranked`` is a sequence of ids, best first (duplicates after the first occurrence are ignored);
``relevant`` is a set of ids, or a mapping id → graded relevance (> 0) for nDCG.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

Relevant = Mapping[Any, float] | Iterable[Hashable]


def _dedupe(ranked: Sequence[Hashable]) -> list[Hashable]:
    return list(dict.fromkeys(ranked))


def _gains(relevant: Relevant) -> dict[Any, float]:
    if isinstance(relevant, Mapping):
        return {k: float(v) for k, v in relevant.items() if v > 0}
    if isinstance(relevant, (str, bytes)):
        return {relevant: 1.0}
    return dict.fromkeys(relevant, 1.0)


def recall_at_k(ranked: Sequence[Hashable], relevant: Relevant, k: int) -> float:
    """Share of the relevant ids found in the first ``k``; with one relevant id, hit@k."""
    gains = _gains(relevant)
    if not gains:
        return 0.0
    top = _dedupe(ranked)[:k]
    return sum(1 for r in top if r in gains) / len(gains)


def precision_at_k(ranked: Sequence[Hashable], relevant: Relevant, k: int) -> float:
    gains = _gains(relevant)
    if k <= 0:
        return 0.0
    return sum(1 for r in _dedupe(ranked)[:k] if r in gains) / k


def reciprocal_rank(ranked: Sequence[Hashable], relevant: Relevant) -> float:
    """1 / rank of the first relevant id (ranks from 1), 0 if none is ranked."""
    gains = _gains(relevant)
    for i, r in enumerate(_dedupe(ranked), start=1):
        if r in gains:
            return 1.0 / i
    return 0.0


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Relevant, k: int) -> float:
    """Normalised discounted cumulative gain: ``sum (2^g - 1) / log2(rank + 1)`` over the ideal."""
    gains = _gains(relevant)
    if not gains or k <= 0:
        return 0.0
    dcg = sum(
        (2 ** gains[r] - 1) / math.log2(i + 1)
        for i, r in enumerate(_dedupe(ranked)[:k], start=1)
        if r in gains
    )
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def mean_reciprocal_rank(
    rankings: Sequence[Sequence[Hashable]], relevants: Sequence[Relevant]
) -> float:
    if len(rankings) != len(relevants):
        raise ValueError("rankings and relevants differ in length")
    if not rankings:
        return 0.0
    return sum(reciprocal_rank(r, g) for r, g in zip(rankings, relevants, strict=True)) / len(
        rankings
    )


def evaluate_rankings(
    rankings: Sequence[Sequence[Hashable]],
    relevants: Sequence[Relevant],
    ks: Sequence[int] = (1, 5, 10),
    ndcg_k: int = 10,
) -> dict[str, float]:
    """Mean recall@k for each k, MRR and nDCG@``ndcg_k`` over queries."""
    if len(rankings) != len(relevants):
        raise ValueError("rankings and relevants differ in length")
    n = len(rankings) or 1
    pairs = list(zip(rankings, relevants, strict=True))
    out = {f"recall@{k}": sum(recall_at_k(r, g, k) for r, g in pairs) / n for k in ks}
    out["mrr"] = sum(reciprocal_rank(r, g) for r, g in pairs) / n
    out[f"ndcg@{ndcg_k}"] = sum(ndcg_at_k(r, g, ndcg_k) for r, g in pairs) / n
    return out


__all__ = [
    "evaluate_rankings",
    "mean_reciprocal_rank",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
]
