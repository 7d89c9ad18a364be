"""Agreement between raters (LLM judges, human annotators), each statistic with a bootstrap
interval over items.

Ratings are a table with one row per item and one column per rater. A value is a number or a
label; ``None`` or NaN marks a missing rating (a failed verdict, an item a rater skipped).

Formulas (k categories; for two raters o_ij is the share of items rated i by A and j by B):

- ``percent_agreement``: per item with at least two ratings, the share of agreeing rater pairs
  Σ_c n_c(n_c - 1) / (m(m - 1)); averaged over those items. For two raters this is the share of
  items on which they agree.
- ``cohen_kappa`` (Cohen 1960, weighted: Cohen 1968), two raters, items both rated:
  κ_w = 1 - Σ w_ij o_ij / Σ w_ij e_ij with e_ij = o_i· o_·j (chance agreement from the margins)
  and disagreement weights w_ij = [i ≠ j] (unweighted, which gives (p_o - p_e)/(1 - p_e)),
  |x_i - x_j| (linear) or (x_i - x_j)² (quadratic), where x are the category values (numbers)
  or their positions in ``categories`` (ordered labels).
- ``fleiss_kappa`` (Fleiss 1971), any number m ≥ 2 of raters, nominal, items rated by all:
  P_i = (Σ_c n_ic² - m) / (m(m - 1)), P̄ = mean P_i, p_c = Σ_i n_ic / (N m), P̄_e = Σ_c p_c²,
  κ = (P̄ - P̄_e) / (1 - P̄_e).
- ``krippendorff_alpha`` (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"):
  from the coincidence matrix o_ck = Σ_u n_uc n_uk / (m_u - 1) (with n_uc(n_uc - 1) on the
  diagonal) over units with m_u ≥ 2 values, n_c = Σ_k o_ck, n = Σ_c n_c,
  α = 1 - (n - 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck, with δ² nominal [c ≠ k], ordinal
  (Σ_{g=c..k} n_g - (n_c + n_k)/2)², interval (c - k)², ratio ((c - k)/(c + k))². Missing values
  are simply absent from their unit, so alpha uses every rating there is.

A statistic is undefined when there is no variation to agree about (everyone used one category:
p_e = 1 or D_e = 0); it is then NaN. Inside the bootstrap such a resample can only happen when
all the resampled ratings agree, and it counts as perfect agreement (1.0) so that intervals stay
defined; the point estimate itself is never patched.

Intervals (:func:`agreement`) resample items with :func:`assay.stats.bootstrap_ci` (BCa,
seeded), each statistic over the items it can use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from assay.errors import UserError
from assay.stats import DEFAULT_RESAMPLES, Estimate, bootstrap_ci

Level = Literal["nominal", "ordinal", "interval", "ratio"]
Weights = Literal["linear", "quadratic"] | None

LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


# --------------------------------------------------------------------------------------------
# Coding ratings as category indices


@dataclass(frozen=True)
class Coded:
    """Ratings as category indices (-1 = missing) and each category's numeric value."""

    codes: np.ndarray
    """Shape (items, raters), int, -1 where the rating is missing."""
    values: np.ndarray
    """Shape (k,), the value of each category: the number itself, or the label's position."""
    categories: tuple[Any, ...]


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float | np.floating) and math.isnan(x))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def code_ratings(
    ratings: Any, categories: Sequence[Any] | None = None, *, ordered: bool = False
) -> Coded:
    """Turn a table of ratings into category indices.

    Numbers are their own categories, in numeric order. Labels are ordered as in ``categories``
    when given; without it they are sorted, which is only meaningful for nominal statistics, so
    ``ordered=True`` (ordinal, interval, ratio, weighted kappa) then requires ``categories``.
    """
    rows = [list(r) for r in ratings]
    if not rows:
        raise UserError("no ratings: the table has no items")
    width = {len(r) for r in rows}
    if len(width) != 1:
        raise UserError(
            f"every item needs one rating per rater (None when missing); row lengths {sorted(width)}"
        )
    present = [x for r in rows for x in r if not _missing(x)]
    if categories is not None:
        cats = list(categories)
        if len(set(map(_key, cats))) != len(cats):
            raise UserError("categories must be distinct")
    elif all(_is_number(x) for x in present):
        cats = sorted({float(x) for x in present})
    else:
        if ordered:
            raise UserError(
                "ordered statistics (ordinal/interval/ratio, weighted kappa) on labels need "
                "`categories` in order, worst to best"
            )
        cats = sorted({str(x) for x in present})
    index = {_key(c): i for i, c in enumerate(cats)}
    codes = np.full((len(rows), len(rows[0])), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            if _missing(x):
                continue
            pos = index.get(_key(x))
            if pos is None:
                raise UserError(
                    f"rating {x!r} (item {i}, rater {j}) is not one of the categories {list(cats)}"
                )
            codes[i, j] = pos
    if all(_is_number(c) for c in cats):
        values = np.array([float(c) for c in cats], dtype=np.float64)
    else:
        values = np.arange(len(cats), dtype=np.float64)
    return Coded(codes, values, tuple(cats))


def _key(x: Any) -> Any:
    return float(x) if _is_number(x) else str(x)


def _counts(codes: np.ndarray, k: int) -> np.ndarray:
    """(items, k): how many raters put each item in each category."""
    onehot = codes[:, :, None] == np.arange(k)[None, None, :]
    return onehot.sum(axis=1).astype(np.float64)


# --------------------------------------------------------------------------------------------
# The statistics on coded ratings (these are what the bootstrap resamples)


def _percent(codes: np.ndarray, k: int) -> float:
    n = _counts(codes, k)
    m = n.sum(axis=1)
    use = m >= 2
    if not use.any():
        return math.nan
    pairs = m[use] * (m[use] - 1)
    agree = (n[use] * (n[use] - 1)).sum(axis=1)
    return float(np.mean(agree / pairs))


def _weights(values: np.ndarray, weights: Weights) -> np.ndarray:
    diff = values[:, None] - values[None, :]
    if weights is None:
        return (diff != 0).astype(np.float64)
    if weights == "linear":
        return np.abs(diff)
    if weights == "quadratic":
        return diff**2
    raise UserError(f"unknown kappa weights {weights!r}; use None, 'linear' or 'quadratic'")


def _cohen(codes: np.ndarray, values: np.ndarray, weights: Weights) -> float:
    both = (codes[:, 0] >= 0) & (codes[:, 1] >= 0)
    a, b = codes[both, 0], codes[both, 1]
    if a.size == 0:
        return math.nan
    k = values.size
    observed = np.zeros((k, k), dtype=np.float64)
    np.add.at(observed, (a, b), 1.0)
    observed /= a.size
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    w = _weights(values, weights)
    denom = float((w * expected).sum())
    if denom <= 0.0:
        return math.nan
    return 1.0 - float((w * observed).sum()) / denom


def _fleiss(codes: np.ndarray, k: int) -> float:
    complete = (codes >= 0).all(axis=1)
    codes = codes[complete]
    items, m = codes.shape
    if items == 0 or m < 2:
        return math.nan
    n = _counts(codes, k)
    p_i = ((n**2).sum(axis=1) - m) / (m * (m - 1))
    p_bar = float(p_i.mean())
    p_c = n.sum(axis=0) / (items * m)
    p_e = float((p_c**2).sum())
    if p_e >= 1.0:
        return math.nan
    return (p_bar - p_e) / (1.0 - p_e)


def _delta2(level: str, values: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    if level == "nominal":
        return 1.0 - np.eye(values.size)
    if level == "ordinal":
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(values.size), np.arange(values.size))
        hi = np.maximum.outer(np.arange(values.size), np.arange(values.size))
        # Σ_{g=lo..hi} n_g - (n_lo + n_hi)/2
        between = cum[hi] - cum[lo] + n_c[lo] - (n_c[lo] + n_c[hi]) / 2.0
        return between**2
    if level == "interval":
        return np.subtract.outer(values, values) ** 2
    if level == "ratio":
        total = np.add.outer(values, values)
        diff = np.subtract.outer(values, values)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(total == 0, 0.0, (diff / np.where(total == 0, 1.0, total)) ** 2)
        return out
    raise UserError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")


def _alpha(codes: np.ndarray, values: np.ndarray, level: str) -> float:
    k = values.size
    n = _counts(codes, k)
    m = n.sum(axis=1)
    use = m >= 2
    n, m = n[use], m[use]
    if n.shape[0] == 0:
        return math.nan
    scaled = n / (m - 1.0)[:, None]
    coincidence = scaled.T @ n - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    total = float(n_c.sum())
    if total <= 1.0:
        return math.nan
    d2 = _delta2(level, values, n_c)
    d_observed = float((coincidence * d2).sum())
    d_expected = float((np.outer(n_c, n_c) * d2).sum()) / (total - 1.0)
    if d_expected <= 0.0:
        return math.nan
    return 1.0 - d_observed / d_expected


# --------------------------------------------------------------------------------------------
# Public point estimates


def percent_agreement(ratings: Any) -> float:
    """Mean share of agreeing rater pairs over items with at least two ratings (exact match)."""
    coded = code_ratings(ratings)
    return _percent(coded.codes, coded.values.size)


def cohen_kappa(
    rater_a: Sequence[Any],
    rater_b: Sequence[Any],
    *,
    weights: Weights = None,
    categories: Sequence[Any] | None = None,
) -> float:
    """Cohen's kappa of two raters over the items both rated; ``weights`` for ordinal scales."""
    if len(rater_a) != len(rater_b):
        raise UserError(f"{len(rater_a)} ratings from rater A but {len(rater_b)} from rater B")
    coded = code_ratings(
        list(zip(rater_a, rater_b, strict=True)), categories, ordered=weights is not None
    )
    return _cohen(coded.codes, coded.values, weights)


def fleiss_kappa(ratings: Any, *, categories: Sequence[Any] | None = None) -> float:
    """Fleiss' kappa (nominal) over the items every rater rated."""
    coded = code_ratings(ratings, categories)
    return _fleiss(coded.codes, coded.values.size)


def krippendorff_alpha(
    ratings: Any, *, level: Level = "nominal", categories: Sequence[Any] | None = None
) -> float:
    """Krippendorff's alpha at the given level of measurement; missing ratings allowed."""
    _check_level(level)
    coded = code_ratings(ratings, categories, ordered=level != "nominal")
    return _alpha(coded.codes, coded.values, level)


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise UserError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")


# --------------------------------------------------------------------------------------------
# With intervals


@dataclass(frozen=True)
class AgreementReport:
    """Agreement among raters over the same items, each statistic with a bootstrap interval.

    ``cohen_kappa`` is there for exactly two raters; ``pairwise_kappa`` holds Cohen's kappa
    (same weights) for every pair of raters, as point values, to find the odd one out.
    """

    raters: tuple[str, ...]
    n_items: int
    level: str
    weights: str | None
    percent: Estimate
    krippendorff_alpha: Estimate
    fleiss_kappa: Estimate
    cohen_kappa: Estimate | None = None
    pairwise_kappa: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "raters": list(self.raters),
            "n_items": self.n_items,
            "level": self.level,
            "weights": self.weights,
            "percent": self.percent.to_dict(),
            "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
            "fleiss_kappa": self.fleiss_kappa.to_dict(),
            "cohen_kappa": None if self.cohen_kappa is None else self.cohen_kappa.to_dict(),
            "pairwise_kappa": dict(self.pairwise_kappa),
        }

    def __str__(self) -> str:
        rows = [
            ("percent agreement", self.percent),
            (f"Krippendorff's alpha ({self.level})", self.krippendorff_alpha),
            ("Fleiss' kappa (nominal)", self.fleiss_kappa),
        ]
        if self.cohen_kappa is not None:
            weights = f" ({self.weights} weights)" if self.weights else ""
            rows.append((f"Cohen's kappa{weights}", self.cohen_kappa))
        width = max(len(name) for name, _ in rows)
        head = f"agreement of {len(self.raters)} raters on {self.n_items} items"
        return "\n".join([head, *(f"  {name:<{width}}  {est}" for name, est in rows)])


def _undefined(n: int, method: str, confidence: float) -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, None, n, method, confidence)


def _with_ci(
    statistic: Callable[[np.ndarray], float],
    codes: np.ndarray,
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Estimate:
    """The statistic on ``codes`` with a bootstrap interval over its rows (items)."""
    n = codes.shape[0]
    value = statistic(codes) if n else math.nan
    if not math.isfinite(value):
        return _undefined(n, "undefined", confidence)
    if n < 2:
        return Estimate(value, math.nan, math.nan, None, n, "none (fewer than 2 items)", confidence)

    def resampled(rows: np.ndarray) -> float:
        v = statistic(rows)
        return 1.0 if math.isnan(v) else v

    return bootstrap_ci(resampled, codes, n_resamples=n_resamples, confidence=confidence, seed=seed)


def agreement(
    ratings: Any,
    *,
    raters: Sequence[str] | None = None,
    level: Level = "ordinal",
    weights: Weights = None,
    categories: Sequence[Any] | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> AgreementReport:
    """Percent agreement, Krippendorff's alpha (at ``level``), Fleiss' kappa and, for two raters,
    Cohen's kappa (with ``weights``), each with a bootstrap interval over items.

    Each statistic uses the items it can: alpha and percent agreement every item with at least
    two ratings, Fleiss' kappa the items every rater rated, Cohen's kappa the items both rated.
    """
    _check_level(level)
    coded = code_ratings(ratings, categories, ordered=level != "nominal" or weights is not None)
    codes, values = coded.codes, coded.values
    n_raters = codes.shape[1]
    if n_raters < 2:
        raise UserError(f"agreement needs at least 2 raters, got {n_raters}")
    names = tuple(raters) if raters is not None else tuple(f"rater{i + 1}" for i in range(n_raters))
    if len(names) != n_raters:
        raise UserError(f"{len(names)} rater names for {n_raters} columns of ratings")
    k = values.size
    rated = (codes >= 0).sum(axis=1)
    pairable = codes[rated >= 2]
    complete = codes[rated == n_raters]
    opts: dict[str, Any] = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}

    cohen = None
    pairwise: dict[str, float] = {}
    for i in range(n_raters):
        for j in range(i + 1, n_raters):
            pair = codes[:, [i, j]]
            pair = pair[(pair >= 0).all(axis=1)]
            pairwise[f"{names[i]} | {names[j]}"] = (
                _cohen(pair, values, weights) if pair.size else math.nan
            )
            if n_raters == 2:
                cohen = _with_ci(lambda c: _cohen(c, values, weights), pair, **opts)
    return AgreementReport(
        raters=names,
        n_items=codes.shape[0],
        level=level,
        weights=weights,
        percent=_with_ci(lambda c: _percent(c, k), pairable, **opts),
        krippendorff_alpha=_with_ci(lambda c: _alpha(c, values, level), pairable, **opts),
        fleiss_kappa=_with_ci(lambda c: _fleiss(c, k), complete, **opts),
        cohen_kappa=cohen,
        pairwise_kappa=pairwise,
    )


__all__ = [
    "LEVELS",
    "AgreementReport",
    "Coded",
    "Level",
    "Weights",
    "agreement",
    "code_ratings",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "percent_agreement",
]
