"""Ranking metrics: hand-computed values."""

from __future__ import annotations

import math

import pytest

from assay.rag.metrics import (
    evaluate_rankings,
    mean_reciprocal_rank,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)


def test_recall_at_k_single_and_multiple_relevant() -> None:
    assert recall_at_k(["a", "b", "c"], {"b"}, 1) == 0.0
    assert recall_at_k(["a", "b", "c"], {"b"}, 2) == 1.0
    assert recall_at_k(["a", "b", "c", "d"], {"a", "d", "z"}, 4) == pytest.approx(2 / 3)
    assert recall_at_k([], {"a"}, 5) == 0.0
    assert recall_at_k(["a"], set(), 5) == 0.0
    assert recall_at_k(["x", "y"], "y", 2) == 1.0  # a bare id counts as one relevant id


def test_duplicates_in_a_ranking_count_once() -> None:
    assert recall_at_k(["a", "a", "b"], {"b"}, 2) == 1.0
    assert reciprocal_rank(["a", "a", "b"], {"b"}) == 0.5


def test_precision_and_reciprocal_rank() -> None:
    assert precision_at_k(["a", "b", "c", "d"], {"a", "c"}, 4) == 0.5
    assert reciprocal_rank(["x", "y", "z"], {"z"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], {"z"}) == 0.0
    assert mean_reciprocal_rank([["a"], ["b", "a"]], [{"a"}, {"a"}]) == pytest.approx(0.75)


def test_ndcg_binary_and_graded() -> None:
    assert ndcg_at_k(["a", "b"], {"a"}, 10) == 1.0
    assert ndcg_at_k(["b", "a"], {"a"}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], {"a"}, 1) == 0.0
    # graded: ideal order is c (3) then a (1)
    graded = {"a": 1, "c": 3}
    dcg = (2**1 - 1) / math.log2(2) + (2**3 - 1) / math.log2(3)
    idcg = (2**3 - 1) / math.log2(2) + (2**1 - 1) / math.log2(3)
    assert ndcg_at_k(["a", "c"], graded, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["c", "a"], graded, 10) == pytest.approx(1.0)


def test_evaluate_rankings_averages() -> None:
    out = evaluate_rankings([["a", "b"], ["b", "a"]], [{"a"}, {"a"}], ks=(1, 2))
    assert out["recall@1"] == 0.5
    assert out["recall@2"] == 1.0
    assert out["mrr"] == pytest.approx(0.75)
    assert out["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    with pytest.raises(ValueError):
        evaluate_rankings([["a"]], [])
