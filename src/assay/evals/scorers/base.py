"""A :class:`Scorer`: one item's ``(prediction, reference, sample)`` to a float, and the corpus value.

``sample`` is the dataset row (for fields such as ``choices``). Most metrics are the mean of the
item floats. For the ones that are not (BLEU, chrF, macro-F1, perplexity), ``aggregate`` computes
the corpus value from all items, and the per-item floats are a by-product (sentence BLEU,
correctness, item perplexity). Anything that resamples items (a bootstrap) should call
``aggregate`` on each resample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import UserError

if TYPE_CHECKING:
    import numpy as np

    from assay.stats.corpus import Finish

Sample = Mapping[str, Any]
ScoreFn = Callable[[Any, Any, Sample], float]
BatchFn = Callable[[Sequence[Any], Sequence[Any], Sequence[Sample]], list[float]]
CorpusFn = Callable[[Sequence[Any], Sequence[Any], Sequence[Sample]], float]
StatsFn = Callable[[Sequence[Any], Sequence[Any], Sequence[Sample]], "tuple[np.ndarray, Finish]"]


@dataclass(frozen=True)
class Scorer:
    name: str
    fn: ScoreFn
    """One item: ``(prediction, reference, sample) -> float``."""
    options: Mapping[str, Any] = field(default_factory=dict)
    corpus_fn: CorpusFn | None = None
    """The corpus value when it is not the mean of the item scores."""
    stats_fn: StatsFn | None = None
    """For a ``corpus_fn`` that is a function of summed per-item statistics: those statistics and
    that function (see :mod:`assay.stats.corpus`), so a bootstrap recomputes the corpus
    value on every resample without calling ``corpus_fn`` thousands of times."""
    batch_fn: BatchFn | None = None
    """Scores many items at once (e.g. one embedding batch); else ``fn`` item by item."""
    higher_is_better: bool = True
    scale: tuple[float, float] | None = (0.0, 1.0)
    """The range of the values; ``None`` when unbounded."""
    description: str = ""
    keeps: tuple[str, ...] = ()
    """Row fields the corpus value reads, kept on each sample record (``corpus_fn`` and
    ``stats_fn`` see the records, not the dataset rows)."""
    per_category: bool = False
    """Report a corpus-level value per category too (means always are)."""
    counted_only: bool = False
    """The metric counts only items whose ``stats_fn`` row is not all zero (BBQ: one context
    condition); its interval resamples those, so their number stays fixed as the design fixes
    it, and its n is theirs."""

    def __call__(self, prediction: Any, reference: Any, sample: Sample | None = None) -> float:
        return _as_float(self.fn(prediction, reference, sample or {}), self.name)

    def score_many(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any],
        samples: Sequence[Sample] | None = None,
    ) -> list[float]:
        samples = _samples(predictions, references, samples)
        if self.batch_fn is not None:
            return [
                _as_float(v, self.name) for v in self.batch_fn(predictions, references, samples)
            ]
        return [
            _as_float(self.fn(p, r, s), self.name)
            for p, r, s in zip(predictions, references, samples, strict=True)
        ]

    def aggregate(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any],
        samples: Sequence[Sample] | None = None,
        scores: Sequence[float] | None = None,
    ) -> float:
        """The corpus value: ``corpus_fn`` when set, else the mean of the item scores."""
        samples = _samples(predictions, references, samples)
        if not predictions:
            raise UserError(f"scorer '{self.name}': no items to aggregate")
        if self.corpus_fn is not None:
            return float(self.corpus_fn(predictions, references, samples))
        values = (
            list(scores)
            if scores is not None
            else self.score_many(predictions, references, samples)
        )
        return math.fsum(values) / len(values)

    def corpus_stats(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any],
        samples: Sequence[Sample] | None = None,
    ) -> tuple[np.ndarray, Finish] | None:
        """Additive per-item statistics and the corpus value from their sums; ``None`` when the
        corpus value is not of that form (then a bootstrap calls :meth:`aggregate`)."""
        if self.stats_fn is None:
            return None
        return self.stats_fn(predictions, references, _samples(predictions, references, samples))

    @property
    def is_mean(self) -> bool:
        """True when the corpus value is the mean of the item scores."""
        return self.corpus_fn is None

    def spec(self) -> dict[str, Any]:
        """Name and options, for a run record."""
        return {"name": self.name, "options": dict(self.options)}


def _samples(
    predictions: Sequence[Any], references: Sequence[Any], samples: Sequence[Sample] | None
) -> Sequence[Sample]:
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} predictions for {len(references)} references")
    if samples is None:
        return [{}] * len(predictions)
    if len(samples) != len(predictions):
        raise UserError(f"{len(samples)} samples for {len(predictions)} predictions")
    return samples


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(
            f"scorer '{name}' returned {type(value).__name__} {value!r:.60}, not a number"
        ) from None


__all__ = ["BatchFn", "CorpusFn", "Sample", "ScoreFn", "Scorer", "StatsFn"]
