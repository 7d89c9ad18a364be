"""Corpus metrics in the bootstrap: recompute the metric on every resample, fast.

Corpus BLEU, chrF, macro-F1 and perplexity are not means of per-sample scores: each is a
function of statistics *summed* over the samples (n-gram matches and totals, per-label true
positives / predictions / gold counts, log-likelihoods and token counts). A resample's value is
therefore ``finish(counts @ stats)``, where ``counts[i]`` is how often sample i was drawn. This
module turns such a pair ``(stats, finish)`` into a vectorised bootstrap metric over sample
indices, so a paired bootstrap recomputes the corpus metric on each of thousands of resamples
without calling the scorer thousands of times (and never averages per-sample values).

For two runs, stack their statistics (A's rows, then B's, in the same sample order) and pass
``arange(n)`` and ``arange(n) + n`` as the two columns: ``paired_bootstrap`` draws the same row
indices for both, so each resample keeps the pairing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from assay.errors import UserError

Finish = Callable[[np.ndarray], np.ndarray]
"""Summed statistics, shape ``(k, s)`` -> one metric value per row, shape ``(k,)``."""


def summed_statistic(stats: Any, finish: Finish) -> Callable[[np.ndarray], np.ndarray]:
    """A vectorised metric over sample indices: ``finish`` of the indexed rows' summed stats.

    ``stats`` is ``(n, s)``: one row of additive statistics per sample. The returned function
    takes indices of shape ``(k, m)`` (k resamples of m draws, as ``bootstrap_ci`` and
    ``paired_bootstrap`` pass them with ``vectorized=True``) and returns ``k`` values.
    """
    table = np.asarray(stats, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        raise UserError(
            f"corpus statistics must be a non-empty (samples, stats) table, got {table.shape}"
        )
    n = table.shape[0]

    def metric(indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim == 1:
            idx = idx[None, :]
        k = idx.shape[0]
        # How often each sample was drawn in each resample: one bincount over offset indices.
        flat = (np.arange(k, dtype=np.int64)[:, None] * n + idx).ravel()
        counts = np.bincount(flat, minlength=k * n).reshape(k, n).astype(np.float64)
        return np.asarray(finish(counts @ table), dtype=np.float64).reshape(k)

    return metric


def loop_finish(one: Callable[[np.ndarray], float]) -> Finish:
    """A ``Finish`` from a function of one row of summed statistics (e.g. a library's
    score-from-statistics call)."""

    def finish(sums: np.ndarray) -> np.ndarray:
        return np.array([float(one(row)) for row in np.atleast_2d(sums)], dtype=np.float64)

    return finish


__all__ = ["Finish", "loop_finish", "summed_statistic"]
