"""Additive per-item statistics of the corpus metrics, and the corpus value from their sums.

Each function returns ``(stats, finish)``: ``stats`` has one row per item, and
``finish(stats[rows].sum(0))`` equals the scorer's corpus value on those rows (see
:mod:`assay.stats.corpus`). A bootstrap uses this to recompute the metric on every
resample cheaply. BLEU and chrF use sacrebleu's own statistics and score-from-statistics code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from assay.errors import UserError
from assay.evals.scorers import overlap
from assay.evals.scorers.perplexity import as_loglikelihood
from assay.stats.corpus import Finish, loop_finish

MACRO_METRICS = ("macro_f1", "macro_precision", "macro_recall")


def classification_stats(
    predictions: Sequence[str],
    references: Sequence[str],
    labels: Sequence[str] | None,
    metric: str,
) -> tuple[np.ndarray, Finish]:
    """Per label: true positives, predictions, gold items (3 x labels columns).

    As in :func:`~assay.evals.scorers.classification.classification_report`, the classes are
    ``labels`` when given, else the gold labels present (in each resample: a class drawn no
    gold item of drops out of the average); a prediction that is no class counts for none.
    """
    if metric not in MACRO_METRICS:
        raise UserError(f"no corpus statistics for '{metric}'; known: {', '.join(MACRO_METRICS)}")
    labs = list(labels) if labels is not None else sorted(set(references))
    index = {lab: i for i, lab in enumerate(labs)}
    unknown = sorted(set(references) - set(index))
    if unknown:
        raise UserError(f"references hold labels not in the label list: {unknown}")
    n_labels = len(labs)
    stats = np.zeros((len(references), 3 * n_labels))
    for row, (pred, gold) in enumerate(zip(predictions, references, strict=True)):
        g = index[gold]
        stats[row, 2 * n_labels + g] = 1.0
        p = index.get(pred)
        if p is not None:
            stats[row, n_labels + p] = 1.0
            if p == g:
                stats[row, g] = 1.0
    fixed = labels is not None

    def finish(sums: np.ndarray) -> np.ndarray:
        sums = np.atleast_2d(sums)
        tp = sums[:, :n_labels]
        predicted = sums[:, n_labels : 2 * n_labels]
        gold = sums[:, 2 * n_labels :]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(predicted > 0, tp / predicted, 0.0)
            recall = np.where(gold > 0, tp / gold, 0.0)
            both = precision + recall
            f1 = np.where(both > 0, 2 * precision * recall / both, 0.0)
        value = {"macro_f1": f1, "macro_precision": precision, "macro_recall": recall}[metric]
        classes = np.ones_like(gold, dtype=bool) if fixed else gold > 0
        return np.asarray((value * classes).sum(axis=1) / classes.sum(axis=1))

    return stats, finish


def _sacrebleu_corpus(
    scorer: Any, predictions: Sequence[Any], references: Sequence[Any]
) -> tuple[np.ndarray, Finish]:
    """sacrebleu's own per-sentence statistics, and its corpus score from summed ones."""
    stats = scorer._extract_corpus_statistics(
        [str(p) for p in predictions], overlap._streams(references)
    )
    return np.asarray(stats, dtype=np.float64), loop_finish(
        lambda row: scorer._compute_score_from_stats(np.rint(row).astype(int).tolist()).score
    )


def bleu_stats(
    predictions: Sequence[Any], references: Sequence[Any], **options: Any
) -> tuple[np.ndarray, Finish]:
    """n-gram matches and totals per order, hypothesis and reference lengths (sacrebleu)."""
    from sacrebleu.metrics import BLEU

    return _sacrebleu_corpus(BLEU(**options), predictions, references)


def chrf_stats(
    predictions: Sequence[Any], references: Sequence[Any], **options: Any
) -> tuple[np.ndarray, Finish]:
    """Character (and word) n-gram statistics per order (sacrebleu)."""
    from sacrebleu.metrics import CHRF

    return _sacrebleu_corpus(CHRF(**options), predictions, references)


def perplexity_stats(predictions: Sequence[Any]) -> tuple[np.ndarray, Finish]:
    """Log-likelihood and token count per item; perplexity = exp(-sum lp / sum tokens)."""
    stats = np.array([as_loglikelihood(p) for p in predictions], dtype=np.float64).reshape(-1, 2)

    def finish(sums: np.ndarray) -> np.ndarray:
        sums = np.atleast_2d(sums)
        return np.asarray(np.exp(-sums[:, 0] / sums[:, 1]))

    return stats, finish


__all__ = ["bleu_stats", "chrf_stats", "classification_stats", "perplexity_stats"]
