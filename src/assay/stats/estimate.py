"""``Estimate``: a number with its confidence interval, the one result type every statistic returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def _format_number(x: float, style: str) -> str:
    return format(x, style)


def _style_for(*xs: float) -> str:
    finite = [abs(x) for x in xs if math.isfinite(x)]
    largest = max(finite, default=0.0)
    if largest >= 1000 or 0 < largest < 0.01:
        return ".4g"
    return ".3f"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    ``se`` is the standard error where one is defined (analytic methods; the standard deviation of
    the resampled statistics for the bootstrap), else None. ``method`` names how the interval was
    made (``"t"``, ``"normal"``, ``"wilson"``, ``"bootstrap-bca"``, ``"bootstrap-percentile"``,
    ``"newcombe"``). Plain Python values only, so ``dataclasses.asdict`` / ``to_dict`` is JSON.

        >>> str(Estimate(0.634, 0.591, 0.676, 0.0215, 500, "wilson"))
        '0.634 [0.591, 0.676] (n=500, wilson)'
    """

    value: float
    ci_low: float
    ci_high: float
    se: float | None
    n: int
    method: str
    confidence: float = 0.95

    def __post_init__(self) -> None:
        # Coerce numpy scalars to plain Python numbers so the record serialises anywhere.
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "ci_low", float(self.ci_low))
        object.__setattr__(self, "ci_high", float(self.ci_high))
        object.__setattr__(self, "se", None if self.se is None else float(self.se))
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "method", str(self.method))
        object.__setattr__(self, "confidence", float(self.confidence))

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2.0

    def contains(self, x: float) -> bool:
        return self.ci_low <= x <= self.ci_high

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        return cls(**data)

    def format(self, signed: bool = False) -> str:
        style = _style_for(self.value, self.ci_low, self.ci_high)
        value_style = ("+" if signed else "") + style
        level = "" if math.isclose(self.confidence, 0.95) else f", {self.confidence:.0%}"
        return (
            f"{_format_number(self.value, value_style)} "
            f"[{_format_number(self.ci_low, style)}, {_format_number(self.ci_high, style)}] "
            f"(n={self.n}, {self.method}{level})"
        )

    def __str__(self) -> str:
        return self.format()
