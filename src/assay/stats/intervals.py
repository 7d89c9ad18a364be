"""Confidence intervals for one metric: analytic (t / normal for means, Wilson for proportions) and
the bootstrap (percentile and BCa) for any metric computed from per-sample values.

Formulas (z = the normal quantile at 1 - (1 - confidence)/2, e.g. 1.95996):

- mean, ``method="t"``: mean ± t_{n-1} · s/√n, with s the sample standard deviation (ddof=1);
  ``method="normal"`` uses z instead of t.
- proportion, Wilson score interval: centre (p̂ + z²/2n)/(1 + z²/n), half-width
  z/(1 + z²/n) · √(p̂(1-p̂)/n + z²/4n²). The reported ``se`` is the usual √(p̂(1-p̂)/n).
- bootstrap: B resamples of the rows with replacement (a seeded ``numpy.random.Generator``);
  percentile = the (1-c)/2 and (1+c)/2 quantiles of the resampled statistics; BCa (Efron 1987)
  adjusts those levels by the bias-correction z0 = Φ⁻¹(share of resamples below the estimate, ties
  counted half) and the acceleration a = Σu³ / (6 (Σu²)^{3/2}) from jackknife influence values u.
  For n above ``JACKKNIFE_MAX`` the jackknife leaves out one of ``JACKKNIFE_MAX`` random groups at a
  time instead of one row; a is a ratio of cumulants, so grouping leaves it unchanged to first
  order and keeps large runs fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from assay.errors import UserError
from assay.stats._dist import normal_cdf, normal_ppf, t_ppf, z_critical
from assay.stats._validate import as_binary, as_values, check_confidence
from assay.stats.estimate import Estimate

BootstrapMethod = Literal["bca", "percentile"]
Metric = Callable[..., Any]

DEFAULT_RESAMPLES = 2000
JACKKNIFE_MAX = 1000
_CHUNK_ELEMENTS = 2_000_000  # indices per vectorised batch (16 MB of int64)


def mean(values: np.ndarray) -> Any:
    """The mean along the last axis: a metric that works on one sample or a batch of resamples.

    ``bootstrap_ci`` and ``paired_bootstrap`` recognise it and evaluate all resamples at once.
    """
    return np.mean(values, axis=-1)


def mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    method: Literal["t", "normal"] = "t",
) -> Estimate:
    """The mean with a t (default) or normal-approximation interval; needs at least 2 values."""
    check_confidence(confidence)
    x = as_values(values, "values", min_n=2)
    n = x.size
    m = float(x.mean())
    se = float(x.std(ddof=1)) / math.sqrt(n)
    if method == "t":
        crit = t_ppf(0.5 + confidence / 2.0, float(n - 1))
    elif method == "normal":
        crit = z_critical(confidence)
    else:
        raise UserError(f"unknown method {method!r} for mean_ci; use 't' or 'normal'")
    return Estimate(m, m - crit * se, m + crit * se, se, n, method, confidence)


def wilson_bounds(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``n`` (no input checks)."""
    z = z_critical(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def wilson_ci(successes: int, n: int, *, confidence: float = 0.95) -> Estimate:
    """A proportion with its Wilson score interval (good coverage even near 0 and 1)."""
    check_confidence(confidence)
    if int(n) != n or n < 1:
        raise UserError(f"n must be a positive whole number, got {n}")
    if int(successes) != successes or not 0 <= successes <= n:
        raise UserError(f"successes must be a whole number between 0 and n={n}, got {successes}")
    p = successes / n
    low, high = wilson_bounds(successes, n, confidence)
    se = math.sqrt(p * (1.0 - p) / n)
    return Estimate(p, low, high, se, int(n), "wilson", confidence)


def proportion_ci(outcomes: Sequence[Any] | np.ndarray, *, confidence: float = 0.95) -> Estimate:
    """Accuracy (share of True / 1) over binary outcomes, with its Wilson interval."""
    x = as_binary(outcomes, "outcomes")
    return wilson_ci(int(x.sum()), int(x.size), confidence=confidence)


# --------------------------------------------------------------------------------------------
# Bootstrap


def as_columns(columns: Sequence[Any]) -> list[np.ndarray]:
    """Columns of equal length (rows along axis 0) to be resampled together."""
    if not columns:
        raise UserError("the bootstrap needs at least one column of per-sample values")
    arrays = [np.asarray(c) for c in columns]
    for a in arrays:
        if a.ndim == 0:
            raise UserError("bootstrap columns must be sequences of per-sample values, not scalars")
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) != 1:
        raise UserError(f"bootstrap columns must have the same length, got {sorted(lengths)}")
    n = lengths.pop()
    if n < 2:
        raise UserError(f"the bootstrap needs at least 2 samples, got {n}")
    return arrays


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _evaluate(
    statistic: Metric, columns: list[np.ndarray], rows: np.ndarray, vectorized: bool
) -> np.ndarray:
    """The statistic for each row of indices in ``rows`` (shape (k, m)) -> shape (k,)."""
    if vectorized:
        out = np.asarray(statistic(*[c[rows] for c in columns]), dtype=np.float64)
        if out.shape != (rows.shape[0],):
            raise UserError(
                f"a vectorized metric must return one value per resample: expected shape "
                f"({rows.shape[0]},), got {out.shape}"
            )
        return out
    return np.array([float(statistic(*[c[r] for c in columns])) for r in rows], dtype=np.float64)


def full_statistic(statistic: Metric, columns: list[np.ndarray], vectorized: bool) -> float:
    """The statistic on the data as observed (a batch of one for a vectorized metric)."""
    if vectorized:
        rows = np.arange(columns[0].shape[0])[None, :]
        return float(_evaluate(statistic, columns, rows, True)[0])
    return float(statistic(*columns))


def resample_statistics(
    statistic: Metric,
    columns: list[np.ndarray],
    n_resamples: int,
    rng: np.random.Generator,
    vectorized: bool,
) -> np.ndarray:
    n = columns[0].shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // n)
    parts = []
    done = 0
    while done < n_resamples:
        k = min(chunk, n_resamples - done)
        rows = rng.integers(0, n, size=(k, n))
        parts.append(_evaluate(statistic, columns, rows, vectorized))
        done += k
    thetas = np.concatenate(parts)
    bad = int(np.count_nonzero(~np.isfinite(thetas)))
    if bad:
        raise UserError(
            f"the metric returned NaN or inf on {bad} of {n_resamples} bootstrap resamples",
            hint="make the metric defined on every resample (e.g. F1 with zero_division handled)",
        )
    return thetas


def jackknife_statistics(
    statistic: Metric, columns: list[np.ndarray], rng: np.random.Generator, vectorized: bool
) -> np.ndarray:
    """Leave-one-out values of the statistic (leave-one-group-out above ``JACKKNIFE_MAX`` rows)."""
    n = columns[0].shape[0]
    if n <= JACKKNIFE_MAX:
        keep = ~np.eye(n, dtype=bool)
        rows = np.broadcast_to(np.arange(n), (n, n))[keep].reshape(n, n - 1)
        return _evaluate(statistic, columns, rows, vectorized)
    groups = np.array_split(rng.permutation(n), JACKKNIFE_MAX)
    out = np.empty(len(groups), dtype=np.float64)
    mask = np.ones(n, dtype=bool)
    for g, group in enumerate(groups):
        mask[group] = False
        rows = np.flatnonzero(mask)[None, :]
        out[g] = _evaluate(statistic, columns, rows, vectorized)[0]
        mask[group] = True
    return out


def acceleration(jackknife: np.ndarray) -> float:
    u = jackknife.mean() - jackknife
    denom = float((u**2).sum())
    if denom <= 0 or not np.isfinite(denom):
        return 0.0
    return float((u**3).sum() / (6.0 * denom**1.5))


def interval_from_resamples(
    theta_hat: float,
    thetas: np.ndarray,
    confidence: float,
    method: BootstrapMethod,
    accel: float = 0.0,
) -> tuple[float, float]:
    lower_level = (1.0 - confidence) / 2.0
    levels = np.array([lower_level, 1.0 - lower_level])
    if float(thetas.max() - thetas.min()) == 0.0:
        return float(thetas[0]), float(thetas[0])
    if method == "bca":
        b = thetas.size
        below = (
            np.count_nonzero(thetas < theta_hat) + 0.5 * np.count_nonzero(thetas == theta_hat)
        ) / b
        z0 = normal_ppf(min(max(below, 0.5 / b), 1.0 - 0.5 / b))
        adjusted = []
        for level in levels:
            z = normal_ppf(float(level))
            denom = 1.0 - accel * (z0 + z)
            if denom <= 0:  # extreme acceleration: fall back to the plain level
                adjusted.append(float(level))
            else:
                adjusted.append(normal_cdf(z0 + (z0 + z) / denom))
        levels = np.clip(np.array(adjusted), 0.0, 1.0)
    elif method != "percentile":
        raise UserError(f"unknown bootstrap method {method!r}; use 'bca' or 'percentile'")
    low, high = np.quantile(thetas, levels)
    return float(low), float(high)


def check_method(method: str) -> None:
    if method not in ("bca", "percentile"):
        raise UserError(f"unknown bootstrap method {method!r}; use 'bca' or 'percentile'")


def check_resamples(n_resamples: int) -> int:
    if int(n_resamples) != n_resamples or n_resamples < 100:
        raise UserError(f"n_resamples must be a whole number of at least 100, got {n_resamples}")
    return int(n_resamples)


def bootstrap_ci(
    metric: Metric,
    *columns: Any,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    method: BootstrapMethod = "bca",
    seed: int | np.random.Generator | None = 0,
    vectorized: bool | None = None,
) -> Estimate:
    """Any metric over per-sample values, with a bootstrap confidence interval.

    ``columns`` are per-sample arrays of the same length (e.g. predictions and gold labels); each
    resample draws row indices with replacement and calls ``metric(*[col[idx] for col in
    columns])``. With ``vectorized=True`` the metric instead receives every column indexed by a
    2-D array of indices (shape ``(resamples, n, ...)``) and must return one value per resample
    (reduce over axis 1, i.e. ``axis=-1`` for 1-D columns); this is much faster for large B.
    ``vectorized=None`` means True for ``stats.mean`` and False otherwise.

        >>> bootstrap_ci(mean, scores)                                  # doctest: +SKIP
        >>> bootstrap_ci(macro_f1, predictions, gold, method="percentile")   # doctest: +SKIP

    The same ``seed`` (default 0) gives the same interval; pass a ``numpy.random.Generator`` to
    draw from your own stream.
    """
    check_confidence(confidence)
    check_method(method)
    n_resamples = check_resamples(n_resamples)
    cols = as_columns(columns)
    vec = (metric is mean) if vectorized is None else vectorized
    rng = make_rng(seed)
    theta_hat = full_statistic(metric, cols, vec)
    if not math.isfinite(theta_hat):
        raise UserError("the metric is NaN or infinite on the full data")
    thetas = resample_statistics(metric, cols, n_resamples, rng, vec)
    accel = 0.0
    if method == "bca":
        accel = acceleration(jackknife_statistics(metric, cols, rng, vec))
    low, high = interval_from_resamples(theta_hat, thetas, confidence, method, accel)
    se = float(thetas.std(ddof=1))
    return Estimate(theta_hat, low, high, se, cols[0].shape[0], f"bootstrap-{method}", confidence)
