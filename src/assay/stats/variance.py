"""How much of the spread in per-item scores is due to the prompt's wording and how much to the
items: a two-way random-effects decomposition without replication.

Scores ``x[p, i]`` of P prompts on the same I items. With row (prompt) means, column (item)
means and the grand mean m, the mean squares

    MS_prompt = I Σ_p (x̄_p - m)² / (P - 1)
    MS_item   = P Σ_i (x̄_i - m)² / (I - 1)
    MS_resid  = Σ (x - x̄_p - x̄_i + m)² / ((P - 1)(I - 1))

estimate the variance components σ²_prompt = (MS_prompt - MS_resid) / I,
σ²_item = (MS_item - MS_resid) / P and σ²_resid = MS_resid (negative estimates set to 0), whose
shares of their sum are reported. The resid part is the prompt × item interaction (an item
that one wording gets right and another wrong) together with noise.

Intervals are percentile bootstrap intervals over items (the prompts are the ones the user
chose, held fixed); they say how precisely these items pin the shares down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.errors import UserError
from assay.stats.estimate import Estimate
from assay.stats.intervals import make_rng

RESAMPLES = 1000


@dataclass(frozen=True)
class VarianceComponents:
    prompt: Estimate
    """Share of the variance due to the prompt (between-prompt differences in the mean)."""
    item: Estimate
    """Share due to the items (some items are hard for every wording)."""
    residual: Estimate
    """Share left: prompt × item interaction and noise."""
    prompt_sd: Estimate
    """σ_prompt: the typical shift of the metric from one wording to another."""
    n_prompts: int
    n_items: int
    total: float = 0.0
    """The sum of the three components: 0 when every prompt scored every item alike."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt.to_dict(),
            "item": self.item.to_dict(),
            "residual": self.residual.to_dict(),
            "prompt_sd": self.prompt_sd.to_dict(),
            "n_prompts": self.n_prompts,
            "n_items": self.n_items,
            "total": self.total,
        }


def _components(x: np.ndarray) -> np.ndarray:
    """[σ²_prompt, σ²_item, σ²_resid] for each matrix of a stack shaped (..., P, I)."""
    p, i = x.shape[-2], x.shape[-1]
    m = x.mean(axis=(-2, -1), keepdims=True)
    rows = x.mean(axis=-1, keepdims=True)
    cols = x.mean(axis=-2, keepdims=True)
    ms_p = i * ((rows - m) ** 2).sum(axis=(-2, -1)) / (p - 1)
    ms_i = p * ((cols - m) ** 2).sum(axis=(-2, -1)) / (i - 1)
    ms_e = ((x - rows - cols + m) ** 2).sum(axis=(-2, -1)) / ((p - 1) * (i - 1))
    ms_e = np.where(ms_e < 1e-12, 0.0, ms_e)  # rounding noise of an exact zero
    var_p = np.maximum(0.0, (ms_p - ms_e) / i)
    var_i = np.maximum(0.0, (ms_i - ms_e) / p)
    return np.stack([var_p, var_i, ms_e], axis=-1)


def _shares(var: np.ndarray) -> np.ndarray:
    total = var.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, var / np.where(total > 0, total, 1.0), 0.0)


def variance_components(
    scores: Any,
    *,
    confidence: float = 0.95,
    n_resamples: int = RESAMPLES,
    seed: int | np.random.Generator | None = 0,
) -> VarianceComponents:
    """Decompose ``scores`` (prompts × items, the same items for every prompt)."""
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2:
        raise UserError("scores must be a prompts × items matrix")
    n_p, n_i = x.shape
    if n_p < 2 or n_i < 2:
        raise UserError(
            f"a variance decomposition needs at least 2 prompts and 2 items, got {n_p} and {n_i}"
        )
    if not np.isfinite(x).all():
        raise UserError("scores must be finite")
    point = _components(x)
    rng = make_rng(seed)
    picks = rng.integers(0, n_i, size=(n_resamples, n_i))
    boot = _components(x[:, picks].transpose(1, 0, 2))  # (B, P, I) -> components per resample
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    point_shares, boot_shares = _shares(point), _shares(boot)

    def est(value: float, samples: np.ndarray) -> Estimate:
        low, high = np.quantile(samples, [lo_q, hi_q])
        return Estimate(
            value,
            min(low, value),
            max(high, value),
            float(samples.std(ddof=1)),
            n_i,
            "bootstrap-percentile",
            confidence,
        )

    return VarianceComponents(
        prompt=est(point_shares[0], boot_shares[:, 0]),
        item=est(point_shares[1], boot_shares[:, 1]),
        residual=est(point_shares[2], boot_shares[:, 2]),
        prompt_sd=est(float(np.sqrt(point[0])), np.sqrt(boot[:, 0])),
        n_prompts=n_p,
        n_items=n_i,
        total=float(point.sum()),
    )


__all__ = ["VarianceComponents", "variance_components"]
