"""A run's metrics, every one with a 95% confidence interval.

Means of 0/1 scores get the Wilson interval; other means the t interval; corpus-level metrics
(BLEU, chrF, macro-F1, perplexity) a seeded BCa bootstrap over samples. Extraction failures are
counted on their own line, never folded silently into accuracy.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from assay.stats import Estimate, bootstrap_ci, calibration, mean_ci, proportion_ci
from assay.stats.corpus import summed_statistic
from assay.stats.intervals import Metric

CORPUS_RESAMPLES = 1000


def estimate(scorer: Any, samples: Sequence[dict[str, Any]], seed: int = 0) -> Estimate:
    name = scorer.name
    values = [float(s["scores"][name]) for s in samples]
    if scorer.is_mean:
        if all(v in (0.0, 1.0) for v in values):
            return proportion_ci(values)
        if len(values) < 2:
            return Estimate(values[0], values[0], values[0], 0.0, 1, "single", 0.95)
        return mean_ci(values)
    metric, vectorized = corpus_metric(scorer, samples)
    if len(samples) < 2:
        v = float(metric(np.arange(len(samples))[None, :])[0]) if vectorized else metric([0])
        return Estimate(v, v, v, 0.0, len(samples), "single", 0.95)
    return bootstrap_ci(
        metric,
        np.arange(len(samples)),
        n_resamples=CORPUS_RESAMPLES,
        seed=seed,
        vectorized=vectorized,
    )


def corpus_metric(scorer: Any, samples: Sequence[dict[str, Any]]) -> tuple[Metric, bool]:
    """The scorer's corpus value as a bootstrap metric over indices into ``samples``, and whether
    it is vectorised: from summed per-item statistics when the scorer has them, else one
    ``aggregate`` call per resample. Either way each resample gets the corpus value recomputed,
    never a mean of per-sample scores."""
    preds = [s["prediction"] for s in samples]
    refs = [s["target"] for s in samples]
    rows = [{**s, "choices": s.get("choices")} for s in samples]
    summed = scorer.corpus_stats(preds, refs, rows)
    if summed is not None:
        return summed_statistic(*summed), True

    def corpus(idx: np.ndarray) -> float:
        picked = [int(i) for i in idx]
        return float(
            scorer.aggregate(
                [preds[i] for i in picked], [refs[i] for i in picked], [rows[i] for i in picked]
            )
        )

    return corpus, False


def compute_metrics(
    task: Any, samples: Sequence[dict[str, Any]], scorers: Sequence[Any]
) -> dict[str, Any]:
    if not samples:
        return {"n": 0, "metrics": {}}
    out: dict[str, Any] = {
        "n": len(samples),
        "extraction_failures": sum(1 for s in samples if not s.get("extraction_ok", True)),
        "metrics": {sc.name: estimate(sc, samples, task.seed).to_dict() for sc in scorers},
    }
    if task.category:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in samples:
            groups[str(s.get("category", "?"))].append(s)
        out["by_category"] = {
            cat: {sc.name: estimate(sc, rows, task.seed).to_dict() for sc in scorers if sc.is_mean}
            for cat, rows in sorted(groups.items())
        }
    confident = [s for s in samples if s.get("confidence") is not None]
    if confident and scorers:
        first = scorers[0].name
        cal = calibration(
            [s["confidence"] for s in confident], [s["scores"][first] for s in confident]
        )
        out["calibration"] = {
            "metric": first,
            "ece": cal.ece,
            "mce": cal.mce,
            "bins": [dataclasses.asdict(b) for b in cal.bins],
        }
    tokens = [s.get("completion_tokens") for s in samples if s.get("completion_tokens") is not None]
    if tokens:
        out["tokens"] = {
            "prompt": sum(int(s.get("prompt_tokens", 0)) for s in samples),
            "completion": sum(int(t) for t in tokens if t is not None),
        }
    return out


__all__ = ["compute_metrics", "corpus_metric", "estimate"]
