"""A run's metrics, every one with a 95% confidence interval.

Means of 0/1 scores get the Wilson interval; other means the t interval; corpus-level metrics
(BLEU, chrF, macro-F1, perplexity) a seeded BCa bootstrap over samples. Extraction failures are
counted on their own line, never folded silently into accuracy.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.evals.record import SampleRecord
from assay.stats import Estimate, bootstrap_ci, calibration, mean_ci, proportion_ci
from assay.stats.corpus import summed_statistic
from assay.stats.intervals import Metric

CORPUS_RESAMPLES = 1000


Samples = Sequence[SampleRecord] | Sequence[Mapping[str, Any]]


def estimate(scorer: Any, samples: Samples, seed: int = 0) -> Estimate:
    records = _records(samples)
    name = scorer.name
    values = [float(s.scores[name]) for s in records]
    if scorer.is_mean:
        if all(v in (0.0, 1.0) for v in values):
            return proportion_ci(values)
        if len(values) < 2:
            return Estimate(values[0], values[0], values[0], 0.0, 1, "single", 0.95)
        return mean_ci(values)
    if scorer.counted_only:
        records = _counted(scorer, records)
        if not records:  # e.g. no item of the condition it counts
            nan = float("nan")
            return Estimate(nan, nan, nan, nan, 0, "undefined", 0.95)
    metric, vectorized = corpus_metric(scorer, records)
    if scorer.counted_only and vectorized and scorer.scale == (0.0, 1.0):
        # A share of the counted items (BBQ's accuracy in one condition) is a proportion: the
        # Wilson interval, as for any accuracy, not a bootstrap that collapses at 0 and 1.
        counted = [float(s.scores[name]) for s in records]
        whole = float(metric(np.arange(len(records))[None, :])[0])
        if all(v in (0.0, 1.0) for v in counted) and whole == sum(counted) / len(counted):
            return proportion_ci(counted)
    if len(records) < 2:
        v = float(metric(np.arange(len(records))[None, :])[0]) if vectorized else metric([0])
        return Estimate(v, v, v, 0.0, len(records), "single", 0.95)
    return bootstrap_ci(
        metric,
        np.arange(len(records)),
        n_resamples=CORPUS_RESAMPLES,
        seed=seed,
        vectorized=vectorized,
    )


def corpus_metric(scorer: Any, samples: Samples) -> tuple[Metric, bool]:
    """The scorer's corpus value as a bootstrap metric over indices into ``samples``, and whether
    it is vectorised: from summed per-item statistics when the scorer has them, else one
    ``aggregate`` call per resample. Either way each resample gets the corpus value recomputed,
    never a mean of per-sample scores."""
    records = _records(samples)
    preds = [s.prediction for s in records]
    refs = [s.target for s in records]
    rows = [{**s.as_dict(), "choices": s.get("choices")} for s in records]
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


def compute_metrics(task: Any, samples: Samples, scorers: Sequence[Any]) -> dict[str, Any]:
    records = _records(samples)
    if not records:
        return {"n": 0, "metrics": {}}
    out: dict[str, Any] = {
        "n": len(records),
        "extraction_failures": sum(1 for s in records if not s.extraction_ok),
        "metrics": {sc.name: estimate(sc, records, task.seed).to_dict() for sc in scorers},
    }
    if task.category:
        groups: dict[str, list[SampleRecord]] = defaultdict(list)
        for s in records:
            groups[str(s.get("category", "?"))].append(s)
        out["by_category"] = {
            cat: {
                sc.name: estimate(sc, rows, task.seed).to_dict()
                for sc in scorers
                if sc.is_mean or sc.per_category
            }
            for cat, rows in sorted(groups.items())
        }
    confident = [s for s in records if s.confidence is not None]
    if confident and scorers:
        first = scorers[0].name
        cal = calibration(
            [float(s.confidence or 0.0) for s in confident], [s.scores[first] for s in confident]
        )
        out["calibration"] = {
            "metric": first,
            "ece": cal.ece,
            "mce": cal.mce,
            "bins": [dataclasses.asdict(b) for b in cal.bins],
        }
    tokens = [s.completion_tokens for s in records if s.completion_tokens is not None]
    if tokens:
        out["tokens"] = {
            "prompt": sum(int(s.prompt_tokens or 0) for s in records),
            "completion": sum(tokens),
        }
    return out


def _counted(scorer: Any, records: list[SampleRecord]) -> list[SampleRecord]:
    """The items whose statistics are not all zero: those the metric counts."""
    rows = [{**s.as_dict(), "choices": s.get("choices")} for s in records]
    summed = scorer.corpus_stats([s.prediction for s in records], [s.target for s in records], rows)
    if summed is None:
        return records
    table = np.asarray(summed[0])
    return [s for s, row in zip(records, table, strict=True) if row.any()]


def _records(samples: Samples) -> list[SampleRecord]:
    return [SampleRecord.of(s) for s in samples]


__all__ = ["compute_metrics", "corpus_metric", "estimate"]
