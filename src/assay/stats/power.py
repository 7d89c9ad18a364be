"""How many items an evaluation needs: the inverse of ``minimum_detectable_effect``.

Normal approximations, two-sided level alpha, power 1 - β, z_a = Φ⁻¹(1 - alpha/2),
z_b = Φ⁻¹(power), δ the smallest difference worth detecting:

- ``paired`` accuracy (two models or prompts on the same items, exact McNemar test), with
  discordance ψ = share of items where the two disagree = 1 - paired agreement. Connor's (1987)
  normal approximation n₀ = (z_a √ψ + z_b √(ψ - δ²))² / δ² is optimistic for the exact test
  (about 0.77 power where 0.8 is asked), so n is the smallest n ≥ n₀ whose exact power reaches
  the target: power(n) = Σ_m Bin(m; n, ψ) · P(exact McNemar rejects | m discordant pairs), the
  discordant pairs splitting with probability (ψ ± δ)/2ψ (when n₀ expects over 1,500
  discordant pairs, n₀ itself: the two agree to within a few per cent there). Needs ψ ≥ δ: two runs that disagree
  on a share ψ of the items cannot differ by more than ψ.
- ``independent`` accuracy (two runs on different items; Fleiss, two-proportion z-test), per run:
  n = (z_a √(2 p̄ q̄) + z_b √(p₁q₁ + p₂q₂))² / δ², p₁ = baseline, p₂ = p₁ + δ, p̄ = (p₁ + p₂)/2.
- ``mean`` difference of a continuous score on the same items (paired t, normal approximation),
  with σ_d the standard deviation of the per-item differences: n = ((z_a + z_b) σ_d / δ)².
- ``margin``: one accuracy estimated to within ± m (half-width of a normal interval at the given
  confidence): n = z² p q / m².

Each n is rounded up. ``tests/test_stats_power.py`` checks by simulation that the planned n
reaches the power asked for with the tests assay runs (exact McNemar for paired accuracy).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from assay.errors import UserError
from assay.stats._dist import normal_ppf
from assay.stats._validate import check_probability

Design = Literal["paired", "independent", "mean", "margin"]

EXACT_UP_TO = 1500
"""Expected discordant pairs up to which the paired plan is checked against the exact test."""


@dataclass(frozen=True)
class SamplePlan:
    """The number of items a design needs, with everything it assumed."""

    n: int
    design: Design
    effect: float
    alpha: float
    power: float | None
    baseline: float | None = None
    discordance: float | None = None
    sd_diff: float | None = None

    @property
    def total_items(self) -> int:
        """Items to label in all: independent designs need ``n`` for each of the two runs."""
        return 2 * self.n if self.design == "independent" else self.n

    def explain(self) -> str:
        if self.design == "margin":
            return (
                f"{self.n} items estimate an accuracy near {self.baseline:g} to within "
                f"±{self.effect:g} with {1 - self.alpha:.0%} confidence."
            )
        if self.design == "paired":
            what = (
                f"two runs on the same items (paired; they disagree on {self.discordance:.0%} "
                "of items; exact McNemar test)"
            )
        elif self.design == "independent":
            what = f"two runs on different items, {self.n} each (two-proportion z-test)"
        else:
            what = f"two runs on the same items (paired; sd of differences {self.sd_diff:g})"
        base = f" from {self.baseline:g}" if self.baseline is not None else ""
        return (
            f"{self.total_items} items detect a difference of {self.effect:g}{base} with "
            f"{self.power:.0%} power at alpha={self.alpha:g}: {what}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_items": self.total_items}


def _z(alpha: float, power: float | None) -> tuple[float, float]:
    check_probability(alpha, "alpha")
    z_b = 0.0
    if power is not None:
        check_probability(power, "power")
        z_b = normal_ppf(power)
    return normal_ppf(1.0 - alpha / 2.0), z_b


def _positive(value: float, name: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{name} must be a positive number, got {value}")
    return float(value)


def _ceil(x: float) -> int:
    return max(2, math.ceil(x - 1e-9))


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])


def _binomial_pmf(lf: np.ndarray, m: int, p: float) -> np.ndarray:
    k = np.arange(m + 1)
    return np.exp(lf[m] - lf[k] - lf[m - k] + k * math.log(p) + (m - k) * math.log1p(-p))


def _rejection(m_max: int, q: float, alpha: float, lf: np.ndarray) -> np.ndarray:
    """P(the exact McNemar test rejects | m discordant pairs), m = 0..m_max, when each
    discordant pair is won by the worse run with probability q."""
    reject = np.zeros(m_max + 1)
    for m in range(1, m_max + 1):
        null_cdf = np.cumsum(_binomial_pmf(lf, m, 0.5))
        k = int(np.searchsorted(2 * null_cdf, alpha, side="left")) - 1  # last k: 2F(k) < alpha
        if k < 0:
            continue
        if q <= 0.0:
            reject[m] = 1.0
            continue
        alt = _binomial_pmf(lf, m, q)
        reject[m] = alt[: k + 1].sum() + alt[m - k :].sum()
    return reject


def _power_from(reject: np.ndarray, lf: np.ndarray, n: int, psi: float) -> float:
    return float(_binomial_pmf(lf, n, psi) @ reject[: n + 1])


def mcnemar_power(n: int, discordance: float, effect: float, *, alpha: float = 0.05) -> float:
    """Exact power of the two-sided exact McNemar test (reject when p < alpha) on ``n`` items."""
    lf = _log_factorials(n)
    q = (discordance - effect) / (2 * discordance)
    return _power_from(_rejection(n, q, alpha, lf), lf, n, discordance)


def paired_accuracy_items(
    effect: float, discordance: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Items for a paired comparison of two accuracies (exact McNemar), Connor's formula."""
    delta = _positive(effect, "effect")
    psi = discordance
    if not 0.0 < psi <= 1.0:
        raise UserError(f"discordance must be in (0, 1], got {psi}")
    if psi < delta:
        raise UserError(
            f"runs that disagree on {psi:.0%} of items cannot differ by {delta:g}",
            hint="lower --effect or --paired-agreement (discordance = 1 - agreement)",
        )
    z_a, z_b = _z(alpha, power)
    n = _ceil((z_a * math.sqrt(psi) + z_b * math.sqrt(psi - delta * delta)) ** 2 / delta**2)
    if n * psi > EXACT_UP_TO:  # many discordant pairs: the exact test is as good as normal
        return n
    # The rejection probabilities do not depend on n: compute them once, past where n will stop.
    # Discordant pairs beyond ~n·ψ + 10 sd carry no weight, so only those are computed.
    top = 2 * n
    lf = _log_factorials(top)
    m_max = min(top, math.ceil(top * psi + 10 * math.sqrt(top * psi * (1 - psi)) + 10))
    reject = np.concatenate(
        [_rejection(m_max, (psi - delta) / (2 * psi), alpha, lf), np.ones(top - m_max)]
    )
    while n < top and _power_from(reject, lf, n, psi) < power:
        n += 1  # power climbs in a saw-tooth: the first n that reaches it
    return n


def independent_accuracy_items(
    baseline: float, effect: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Items per run for two accuracies measured on different items (Fleiss)."""
    p1 = baseline
    check_probability(p1, "baseline")
    delta = _positive(effect, "effect")
    p2 = p1 + delta
    if p2 >= 1.0:
        p2 = p1 - delta
    if not 0.0 < p2 < 1.0:
        raise UserError(f"baseline {p1:g} ± effect {delta:g} leaves the range (0, 1)")
    z_a, z_b = _z(alpha, power)
    pbar = (p1 + p2) / 2.0
    top = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return _ceil(top**2 / delta**2)


def mean_difference_items(
    effect: float, sd_diff: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Items for a paired difference in a continuous score (normal approximation)."""
    delta = _positive(effect, "effect")
    sd = _positive(sd_diff, "sd_diff")
    z_a, z_b = _z(alpha, power)
    return _ceil(((z_a + z_b) * sd / delta) ** 2)


def margin_items(baseline: float, margin: float, *, confidence: float = 0.95) -> int:
    """Items to estimate one accuracy near ``baseline`` to within ± ``margin``."""
    check_probability(baseline, "baseline")
    m = _positive(margin, "margin")
    z, _ = _z(1.0 - confidence, None)
    return _ceil(z * z * baseline * (1 - baseline) / (m * m))


def plan_sample_size(
    *,
    effect: float,
    baseline: float | None = None,
    paired_agreement: float | None = None,
    sd_diff: float | None = None,
    margin: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
) -> SamplePlan:
    """Choose the design from what is given and plan it (see the module docstring).

    ``paired_agreement`` (share of items two runs score alike) → paired accuracy; ``sd_diff`` →
    paired mean difference; ``margin=True`` → one accuracy to within ± ``effect``; otherwise two
    accuracies on different items, which needs ``baseline``.
    """
    given = sum(x for x in (paired_agreement is not None, sd_diff is not None, margin))
    if given > 1:
        raise UserError("give at most one of paired agreement, sd_diff or margin")
    if margin:
        if baseline is None:
            raise UserError("a margin needs the expected accuracy (--baseline)")
        n = margin_items(baseline, effect, confidence=1.0 - alpha)
        return SamplePlan(n, "margin", effect, alpha, None, baseline=baseline)
    if sd_diff is not None:
        n = mean_difference_items(effect, sd_diff, alpha=alpha, power=power)
        return SamplePlan(n, "mean", effect, alpha, power, baseline=baseline, sd_diff=sd_diff)
    if paired_agreement is not None:
        check_probability(paired_agreement, "paired agreement")
        psi = 1.0 - paired_agreement
        n = paired_accuracy_items(effect, psi, alpha=alpha, power=power)
        return SamplePlan(n, "paired", effect, alpha, power, baseline=baseline, discordance=psi)
    if baseline is None:
        raise UserError(
            "give --baseline (expected accuracy) for runs on different items",
            hint="or --paired-agreement for two runs on the same items",
        )
    n = independent_accuracy_items(baseline, effect, alpha=alpha, power=power)
    return SamplePlan(n, "independent", effect, alpha, power, baseline=baseline)


__all__ = [
    "SamplePlan",
    "independent_accuracy_items",
    "margin_items",
    "mcnemar_power",
    "mean_difference_items",
    "paired_accuracy_items",
    "plan_sample_size",
]
