"""What judging yields: a verdict or a failure per item, the counts of a call, one judge's result, and
the error raised where a verdict was required."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from assay.errors import BackendError
from assay.evals.agreement import AgreementReport


class JudgeError(BackendError):
    """A judge could not produce a valid verdict where one was required (``on_failure: error``)."""


class Verdict(BaseModel):
    """A valid verdict. ``score`` is on the judge's scale, ``value`` the same normalised to 0..1.

    With ``samples > 1``, ``score`` is the aggregate, ``sample_scores`` the valid samples' scores,
    ``agreement`` the share of them equal to the aggregate, and ``reasoning`` the reasoning of
    the first sample that gave the aggregate score (else of the first valid sample).
    """

    ok: Literal[True] = True
    score: int | float | str
    value: float
    reasoning: str
    raw: str
    """The judge's reply the reasoning came from."""
    attempts: int = 1
    """Model calls spent on this item (samples and re-asks)."""
    sample_scores: list[int | str] = Field(default_factory=list)
    n_failed_samples: int = 0
    agreement: float | None = None


class Failed(BaseModel):
    """No valid verdict for this item after every re-ask: the error and the last reply."""

    ok: Literal[False] = False
    error: str
    raw: str = ""
    attempts: int = 0
    score: None = None
    value: None = None


Outcome = Verdict | Failed


@dataclass
class JudgeStats:
    """Counts for one call, or (on ``Judge.stats``) for every call of a judge."""

    n_items: int = 0
    n_verdicts: int = 0
    n_failed: int = 0
    n_reasked: int = 0
    """Replies that could not be used and were asked again."""
    n_generations: int = 0
    """Replies generated (samples and re-asks; cache hits included)."""

    def add(self, other: JudgeStats) -> None:
        self.n_items += other.n_items
        self.n_verdicts += other.n_verdicts
        self.n_failed += other.n_failed
        self.n_reasked += other.n_reasked
        self.n_generations += other.n_generations

    @property
    def failure_rate(self) -> float:
        return self.n_failed / self.n_items if self.n_items else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "n_verdicts": self.n_verdicts,
            "n_failed": self.n_failed,
            "n_reasked": self.n_reasked,
            "n_generations": self.n_generations,
        }


@dataclass(frozen=True)
class JudgeResult:
    """One judge's verdicts on a list of items, with counts and (``samples > 1``) self-agreement."""

    judge: str
    verdicts: list[Outcome]
    stats: JudgeStats
    self_agreement: AgreementReport | None = None
    """Agreement among the k samples as if they were k raters (needs 2+ items)."""

    @property
    def n_failed(self) -> int:
        return self.stats.n_failed

    def values(self, failed: float | None = 0.0) -> list[float | None]:
        """Normalised values, ``failed`` in place of failed verdicts."""
        return [v.value if isinstance(v, Verdict) else failed for v in self.verdicts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "verdicts": [v.model_dump() for v in self.verdicts],
            "stats": self.stats.to_dict(),
            "self_agreement": None
            if self.self_agreement is None
            else self.self_agreement.to_dict(),
        }
