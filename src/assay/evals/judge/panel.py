"""Several judges on the same items, and how well they agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import ConfigError, UserError
from assay.evals.agreement import AgreementReport, Level, Weights, agreement
from assay.evals.judge.grading import Judge
from assay.evals.judge.items import _as_items
from assay.evals.judge.results import JudgeResult, Outcome, Verdict
from assay.models.facade import Model
from assay.stats import DEFAULT_RESAMPLES


@dataclass(frozen=True)
class PanelResult:
    """Several judges on the same items: their verdicts and how much they agree."""

    judges: tuple[str, ...]
    results: dict[str, JudgeResult]
    agreement: AgreementReport | None
    """None with fewer than two judges."""

    @property
    def verdicts(self) -> dict[str, list[Outcome]]:
        """Judge name -> one verdict per item."""
        return {name: self.results[name].verdicts for name in self.judges}

    def per_item(self) -> list[dict[str, Outcome]]:
        """Item by item: judge name -> verdict."""
        n = len(self.results[self.judges[0]].verdicts) if self.judges else 0
        return [{name: self.results[name].verdicts[i] for name in self.judges} for i in range(n)]

    def ratings(self) -> list[list[int | float | str | None]]:
        """Item by item, each judge's score (None for a failed verdict)."""
        return [[v.score for v in row.values()] for row in self.per_item()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "judges": list(self.judges),
            "results": {n: r.to_dict() for n, r in self.results.items()},
            "agreement": None if self.agreement is None else self.agreement.to_dict(),
        }


def judge_many(
    judges: Sequence[Judge],
    items: Sequence[Mapping[str, Any]],
    *,
    level: Level = "ordinal",
    weights: Weights = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PanelResult:
    """Run every judge on the same items, then measure inter-judge agreement.

    The judges must share one scale. Agreement is computed on scale positions (the score, or the
    label's index), failed verdicts being missing values: Krippendorff's alpha at ``level``
    (default ordinal) uses every item with two or more verdicts, Fleiss' kappa the items every
    judge rated, Cohen's kappa (exactly two judges, ``weights`` for ordinal scales) the items
    both rated. Judges addressed by the same model address share one loaded model.
    """
    judges = list(judges)
    if not judges:
        raise UserError("judge_many needs at least one judge")
    scales = {j.scale for j in judges}
    if len(scales) != 1:
        raise ConfigError(
            "judges on different scales cannot be compared: "
            + ", ".join(f"{j.name} {j.scale.spec()}" for j in judges),
            hint="give every judge the same scale",
        )
    batch = _as_items(items)
    names = _unique([j.name for j in judges])
    loaded: dict[str, Model] = {j.address: j._model for j in judges if j._model is not None}
    for j in judges:
        if j._model is None:
            if j.address not in loaded:
                loaded[j.address] = Model.load(j.address)
            j._model = loaded[j.address]
    results = {
        name: j.run(batch, n_resamples=n_resamples) for name, j in zip(names, judges, strict=True)
    }
    report = None
    if len(judges) >= 2 and len(batch) >= 1:
        scale = judges[0].scale
        table = [
            [
                None if not isinstance(v, Verdict) else scale.position(v.score)
                for v in (results[name].verdicts[i] for name in names)
            ]
            for i in range(len(batch))
        ]
        report = agreement(
            table,
            raters=names,
            level=level,
            weights=weights,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
        )
    return PanelResult(judges=tuple(names), results=results, agreement=report)


def _unique(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out
