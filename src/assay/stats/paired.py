"""Comparing two runs on the same samples: paired tests, paired intervals, multiple comparisons,
and how small a difference a comparison of this size can detect.

Why paired: two models answer the same questions, so their per-sample scores are correlated; an
unpaired test ignores that and is both too conservative and answers the wrong question.

- ``paired_bootstrap``: resample sample indices jointly for both runs; the difference
  d = metric(a) - metric(b) gets a BCa or percentile interval, and the two-sided p-value comes from
  the resampled differences centred on the observed one (the null distribution is d* - d):
  p = (1 + #{|d* - d| ≥ |d|}) / (B + 1).
- ``mcnemar_exact``: for binary outcomes only the discordant pairs carry information. With b10 =
  #(A right, B wrong) and b01 = #(A wrong, B right), under H0 b10 ~ Binomial(b10 + b01, 1/2) and
  p = min(1, 2 · P(X ≤ min(b10, b01))). The difference in accuracy (b10 - b01)/n gets Newcombe's
  hybrid score interval for paired proportions (Newcombe 1998, method 10: Wilson intervals for
  each accuracy combined with the continuity-corrected correlation φ).
- ``holm``: Holm's step-down adjustment, p̃_(i) = max_{j≤i} min(1, (m - j + 1) p_(j)); it controls
  the family-wise error rate under any dependence between the tests.
- ``minimum_detectable_effect``: normal approximation, two-sided level alpha, power 1 - β, with
  z_a = Φ⁻¹(1 - alpha/2), z_b = Φ⁻¹(power):
    * continuous paired differences with standard deviation σ_d: δ = (z_a + z_b) σ_d / √n;
    * paired binary outcomes with discordance rate ψ = (b10 + b01)/n (Connor 1987): the test
      statistic has variance ψ under H0 and ψ - δ² under H1, so δ solves
      δ√n = z_a √ψ + z_b √(ψ - δ²), i.e.
      δ = √ψ · (z_a √n + z_b √(n - z_a² + z_b²)) / (n + z_b²)   (capped at ψ).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from assay.errors import UserError
from assay.stats._dist import binomial_half_lower_tail, normal_ppf
from assay.stats._validate import as_binary, check_confidence, check_probability
from assay.stats.estimate import Estimate
from assay.stats.intervals import (
    DEFAULT_RESAMPLES,
    BootstrapMethod,
    Metric,
    acceleration,
    as_columns,
    bootstrap_ci,
    check_method,
    check_resamples,
    full_statistic,
    interval_from_resamples,
    jackknife_statistics,
    make_rng,
    mean,
    mean_ci,
    resample_statistics,
    wilson_bounds,
    wilson_ci,
)

DEFAULT_MIN_SHARED = 10


def format_p(p: float) -> str:
    return "p<0.0001" if p < 1e-4 else f"p={p:.4f}" if p < 0.01 else f"p={p:.3f}"


# --------------------------------------------------------------------------------------------
# Paired bootstrap


@dataclass(frozen=True)
class PairedBootstrap:
    """metric(a) - metric(b) over the same samples, with its interval and two-sided p-value."""

    difference: Estimate
    p_value: float
    a: float
    b: float
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"A - B = {self.difference.format(signed=True)}, {format_p(self.p_value)}"


def paired_bootstrap(
    a: Any,
    b: Any,
    metric: Metric = mean,
    *,
    extra: Sequence[Any] = (),
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    method: BootstrapMethod = "bca",
    seed: int | np.random.Generator | None = 0,
    vectorized: bool | None = None,
) -> PairedBootstrap:
    """Paired bootstrap of metric(a) - metric(b), where row i of ``a`` and ``b`` is the same sample.

    ``a`` and ``b`` are per-sample values of the two runs (scores, or predictions); ``extra`` are
    columns shared by both runs and resampled with the same indices, passed to the metric after
    the run's column: ``metric(a[idx], *[c[idx] for c in extra])`` (e.g. gold labels for
    macro-F1). ``vectorized`` has the meaning of ``bootstrap_ci``. The p-value and the interval
    come from the same resamples but are different constructions, so right at the 5% boundary
    one can exclude 0 while the other does not; the smallest p-value is 1/(B + 1).
    """
    check_confidence(confidence)
    check_method(method)
    n_resamples = check_resamples(n_resamples)
    cols = as_columns([a, b, *extra])
    vec = (metric is mean) if vectorized is None else vectorized

    def difference(x: Any, y: Any, *rest: Any) -> Any:
        return np.asarray(metric(x, *rest), dtype=np.float64) - np.asarray(
            metric(y, *rest), dtype=np.float64
        )

    rng = make_rng(seed)
    a_value = full_statistic(metric, [cols[0], *cols[2:]], vec)
    b_value = full_statistic(metric, [cols[1], *cols[2:]], vec)
    d_hat = a_value - b_value
    if not math.isfinite(d_hat):
        raise UserError("the metric is NaN or infinite on the full data")
    thetas = resample_statistics(difference, cols, n_resamples, rng, vec)
    accel = 0.0
    if method == "bca":
        accel = acceleration(jackknife_statistics(difference, cols, rng, vec))
    low, high = interval_from_resamples(d_hat, thetas, confidence, method, accel)
    # Ties count as at least as extreme (conservative); tol keeps rounding from breaking a tie.
    tol = 1e-12 * max(1.0, abs(d_hat))
    if d_hat == 0:
        extreme = n_resamples
    else:
        extreme = int(np.count_nonzero(np.abs(thetas - d_hat) >= abs(d_hat) - tol))
    p_value = (1.0 + extreme) / (n_resamples + 1.0)
    est = Estimate(
        d_hat,
        low,
        high,
        float(thetas.std(ddof=1)),
        cols[0].shape[0],
        f"bootstrap-{method}",
        confidence,
    )
    return PairedBootstrap(est, min(1.0, p_value), a_value, b_value, n_resamples)


# --------------------------------------------------------------------------------------------
# McNemar


def mcnemar_p_value(b10: int, b01: int) -> float:
    """Exact two-sided McNemar p-value from the two discordant counts."""
    if b10 < 0 or b01 < 0:
        raise UserError(f"discordant counts must be non-negative, got {b10} and {b01}")
    m = int(b10) + int(b01)
    if m == 0:
        return 1.0
    return min(1.0, 2.0 * binomial_half_lower_tail(min(int(b10), int(b01)), m))


def newcombe_paired_ci(
    both: int, a_only: int, b_only: int, neither: int, *, confidence: float = 0.95
) -> Estimate:
    """acc(A) - acc(B) from a paired 2x2 table, with Newcombe's hybrid score interval (method 10).

    ``a_only`` = A right and B wrong (b10), ``b_only`` = A wrong and B right (b01). The reported
    ``se`` is the Wald standard error √((b10 + b01)/n - d²) / √n.
    """
    check_confidence(confidence)
    counts = (both, a_only, b_only, neither)
    if any(int(c) != c or c < 0 for c in counts):
        raise UserError(f"table counts must be non-negative whole numbers, got {counts}")
    n = both + a_only + b_only + neither
    if n == 0:
        raise UserError("the paired table is empty")
    right_a, right_b = both + a_only, both + b_only
    p1, p2 = right_a / n, right_b / n
    d = p1 - p2
    l1, u1 = wilson_bounds(right_a, n, confidence)
    l2, u2 = wilson_bounds(right_b, n, confidence)
    margins = right_a * (n - right_a) * right_b * (n - right_b)
    phi = 0.0
    if margins > 0:
        cross = both * neither - a_only * b_only
        if cross > n / 2:
            cross_cc = cross - n / 2
        elif cross >= 0:
            cross_cc = 0.0
        else:
            cross_cc = cross
        phi = cross_cc / math.sqrt(margins)
    down = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    up = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    discordant = (a_only + b_only) / n
    se = math.sqrt(max(0.0, discordant - d * d) / n)
    return Estimate(d, max(-1.0, d - down), min(1.0, d + up), se, n, "newcombe", confidence)


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test of two runs' binary outcomes on the same samples."""

    n: int
    b10: int
    """A right, B wrong."""
    b01: int
    """A wrong, B right."""
    p_value: float
    difference: Estimate
    """accuracy(A) - accuracy(B) with Newcombe's interval for paired proportions."""
    accuracy_a: float
    accuracy_b: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"A - B = {self.difference.format(signed=True)}, {format_p(self.p_value)} "
            f"(exact McNemar; A-only right {self.b10}, B-only right {self.b01})"
        )


def mcnemar_exact(a_correct: Any, b_correct: Any, *, confidence: float = 0.95) -> McNemar:
    """Exact McNemar test on paired binary outcomes (row i of both = the same sample)."""
    a = as_binary(a_correct, "a_correct")
    b = as_binary(b_correct, "b_correct")
    if a.size != b.size:
        raise UserError(f"a_correct and b_correct must be paired: lengths {a.size} and {b.size}")
    both = int(np.count_nonzero(a & b))
    b10 = int(np.count_nonzero(a & ~b))
    b01 = int(np.count_nonzero(~a & b))
    neither = a.size - both - b10 - b01
    diff = newcombe_paired_ci(both, b10, b01, neither, confidence=confidence)
    return McNemar(
        n=int(a.size),
        b10=b10,
        b01=b01,
        p_value=mcnemar_p_value(b10, b01),
        difference=diff,
        accuracy_a=float(a.mean()),
        accuracy_b=float(b.mean()),
    )


# --------------------------------------------------------------------------------------------
# Multiple comparisons


@dataclass(frozen=True)
class Holm:
    adjusted: tuple[float, ...]
    reject: tuple[bool, ...]
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def holm(p_values: Sequence[float] | np.ndarray, *, alpha: float = 0.05) -> Holm:
    """Holm-adjusted p-values (same order as given, monotone, capped at 1) and reject flags."""
    check_probability(alpha, "alpha")
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if p.size == 0:
        return Holm((), (), alpha)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise UserError("p-values must be numbers between 0 and 1")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return Holm(tuple(float(x) for x in adjusted), tuple(bool(x <= alpha) for x in adjusted), alpha)


# --------------------------------------------------------------------------------------------
# Minimum detectable effect


def minimum_detectable_effect(
    n: int,
    *,
    discordance: float | None = None,
    sd_diff: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """The smallest true difference a two-sided paired test on ``n`` samples detects with ``power``.

    Give exactly one of ``discordance`` (share of samples where two binary-scored runs disagree;
    the result is a difference in accuracy) or ``sd_diff`` (standard deviation of the per-sample
    differences of a continuous score; the result is a difference in mean score). Formulas are in
    the module docstring.
    """
    if (discordance is None) == (sd_diff is None):
        raise UserError("give exactly one of discordance= (binary outcomes) or sd_diff= (scores)")
    if int(n) != n or n < 2:
        raise UserError(f"n must be a whole number of at least 2, got {n}")
    check_probability(alpha, "alpha")
    check_probability(power, "power")
    z_a = normal_ppf(1.0 - alpha / 2.0)
    z_b = normal_ppf(power)
    if sd_diff is not None:
        if not math.isfinite(sd_diff) or sd_diff < 0:
            raise UserError(f"sd_diff must be a non-negative number, got {sd_diff}")
        return (z_a + z_b) * float(sd_diff) / math.sqrt(n)
    assert discordance is not None
    if not 0.0 < discordance <= 1.0:
        raise UserError(f"discordance must be in (0, 1], got {discordance}")
    inner = n - z_a * z_a + z_b * z_b
    if inner < 0:
        raise UserError(f"n={n} is too small for this normal approximation")
    delta = math.sqrt(discordance) * (z_a * math.sqrt(n) + z_b * math.sqrt(inner)) / (n + z_b * z_b)
    return min(delta, float(discordance))


# --------------------------------------------------------------------------------------------
# Convenience: align two runs by sample id and compare


Samples = Mapping[Any, Any] | Iterable[tuple[Any, Any]]


def _as_mapping(samples: Samples, name: str) -> dict[Hashable, float]:
    items = list(samples.items()) if isinstance(samples, Mapping) else list(samples)
    out: dict[Hashable, float] = {}
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            raise UserError(
                f"{name} must map sample id -> value, or be (id, value) pairs"
            ) from None
        if key in out:
            raise UserError(f"{name} has sample id {key!r} more than once")
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise UserError(f"{name}[{key!r}] is not a number: {value!r}") from None
        if not math.isfinite(out[key]):
            raise UserError(f"{name}[{key!r}] is {value!r}; scores must be finite")
    return out


@dataclass(frozen=True)
class Comparison:
    """Run A against run B on the samples they share."""

    a: Estimate
    b: Estimate
    difference: Estimate
    """metric(A) - metric(B) on the shared samples."""
    p_value: float
    test: str
    """``"mcnemar-exact"``, ``"paired-bootstrap"`` (per-sample scores) or
    ``"paired-bootstrap-corpus"`` (the corpus metric recomputed on each resample)."""
    n_shared: int
    n_only_a: int
    n_only_b: int
    mde: float | None
    """Minimum detectable effect at ``alpha`` and ``power`` (None where the data cannot say)."""
    alpha: float = 0.05
    power: float = 0.8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"A - B: {self.difference.format(signed=True)}, {format_p(self.p_value)} ({self.test})",
            f"  A: {self.a}",
            f"  B: {self.b}",
            f"  shared samples: {self.n_shared} (only in A: {self.n_only_a}, only in B: {self.n_only_b})",
        ]
        if self.mde is not None:
            lines.append(
                f"  minimum detectable effect: {self.mde:.3g} "
                f"(alpha={self.alpha:g}, power={self.power:g})"
            )
        return "\n".join(lines)


def _require_shared(n_shared: int, n_a: int, n_b: int, min_shared: int) -> None:
    if n_shared < min_shared:
        raise UserError(
            f"only {n_shared} sample(s) are shared between the two runs "
            f"(A has {n_a}, B has {n_b}); a paired comparison needs at least {min_shared}",
            hint="compare runs of the same task over the same samples",
        )


def compare(
    samples_a: Samples,
    samples_b: Samples,
    *,
    metric: Metric = mean,
    test: Literal["auto", "mcnemar", "bootstrap"] = "auto",
    min_shared: int = DEFAULT_MIN_SHARED,
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | np.random.Generator | None = 0,
) -> Comparison:
    """Align two runs' per-sample scores by sample id and compare them, paired.

    ``samples_a``/``samples_b`` map sample id -> per-sample score (bool or number), or are
    ``(id, score)`` pairs (a repeated id is an error, not silently collapsed). Only ids present in
    both runs are compared; fewer than ``min_shared`` shared ids is a UserError. ``test="auto"``
    uses the exact McNemar test when every score is 0/1 and the metric is the mean (accuracy),
    otherwise the paired bootstrap.
    """
    check_confidence(confidence)
    a_map = _as_mapping(samples_a, "samples_a")
    b_map = _as_mapping(samples_b, "samples_b")
    shared = [k for k in a_map if k in b_map]
    n_shared = len(shared)
    _require_shared(n_shared, len(a_map), len(b_map), min_shared)
    a = np.array([a_map[k] for k in shared])
    b = np.array([b_map[k] for k in shared])
    binary = bool(np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all())
    if test == "auto":
        test = "mcnemar" if binary and metric is mean else "bootstrap"
    if test == "mcnemar":
        if not binary or metric is not mean:
            raise UserError("the McNemar test needs binary (0/1) scores and the mean (accuracy)")
        result = mcnemar_exact(a, b, confidence=confidence)
        discordance = (result.b10 + result.b01) / n_shared
        mde = (
            minimum_detectable_effect(n_shared, discordance=discordance, alpha=alpha, power=power)
            if discordance > 0
            else None
        )
        return Comparison(
            a=wilson_ci(int(a.sum()), n_shared, confidence=confidence),
            b=wilson_ci(int(b.sum()), n_shared, confidence=confidence),
            difference=result.difference,
            p_value=result.p_value,
            test="mcnemar-exact",
            n_shared=n_shared,
            n_only_a=len(a_map) - n_shared,
            n_only_b=len(b_map) - n_shared,
            mde=mde,
            alpha=alpha,
            power=power,
        )
    if test != "bootstrap":
        raise UserError(f"unknown test {test!r}; use 'auto', 'mcnemar' or 'bootstrap'")
    rng = make_rng(seed)
    boot = paired_bootstrap(a, b, metric, n_resamples=n_resamples, confidence=confidence, seed=rng)
    if metric is mean:
        if binary:
            est_a = wilson_ci(int(a.sum()), n_shared, confidence=confidence)
            est_b = wilson_ci(int(b.sum()), n_shared, confidence=confidence)
        else:
            est_a = mean_ci(a, confidence=confidence)
            est_b = mean_ci(b, confidence=confidence)
        diffs = a - b
        sd = float(np.std(diffs, ddof=1))
        # A constant difference has no spread; rounding leaves ~1e-18 that must not pass for one.
        constant = sd <= 1e-12 * max(1.0, float(np.abs(diffs).max()))
        mde = (
            None
            if constant
            else minimum_detectable_effect(n_shared, sd_diff=sd, alpha=alpha, power=power)
        )
    else:
        est_a = bootstrap_ci(metric, a, n_resamples=n_resamples, confidence=confidence, seed=rng)
        est_b = bootstrap_ci(metric, b, n_resamples=n_resamples, confidence=confidence, seed=rng)
        mde = None
    return Comparison(
        a=est_a,
        b=est_b,
        difference=boot.difference,
        p_value=boot.p_value,
        test="paired-bootstrap",
        n_shared=n_shared,
        n_only_a=len(a_map) - n_shared,
        n_only_b=len(b_map) - n_shared,
        mde=mde,
        alpha=alpha,
        power=power,
    )


def compare_corpus(
    metric: Metric,
    n_shared: int,
    *,
    vectorized: bool,
    n_only_a: int = 0,
    n_only_b: int = 0,
    min_shared: int = DEFAULT_MIN_SHARED,
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | np.random.Generator | None = 0,
) -> Comparison:
    """Compare two runs on a corpus metric (BLEU, chrF, macro-F1, ...), paired.

    ``metric`` takes indices into the two runs' shared samples laid end to end: ``0..n-1`` are
    run A's samples and ``n..2n-1`` run B's, in the same sample order (with ``vectorized``, a
    ``(k, m)`` array of them; see :func:`assay.stats.corpus.summed_statistic`). Every
    bootstrap resample draws the same sample indices for both runs and recomputes the corpus
    metric on each, so the difference is the corpus metric's, not a mean of per-sample scores.
    The MDE is the normal approximation (z_a + z_b) times the bootstrap standard error of the
    difference.
    """
    check_confidence(confidence)
    _require_shared(n_shared, n_shared + n_only_a, n_shared + n_only_b, min_shared)
    rng = make_rng(seed)
    rows_a = np.arange(n_shared)
    rows_b = rows_a + n_shared
    options: dict[str, Any] = {
        "n_resamples": n_resamples,
        "confidence": confidence,
        "vectorized": vectorized,
    }
    boot = paired_bootstrap(rows_a, rows_b, metric, seed=rng, **options)
    est_a = bootstrap_ci(metric, rows_a, seed=rng, **options)
    est_b = bootstrap_ci(metric, rows_b, seed=rng, **options)
    se = boot.difference.se
    mde = (normal_ppf(1.0 - alpha / 2.0) + normal_ppf(power)) * se if se else None
    return Comparison(
        a=est_a,
        b=est_b,
        difference=boot.difference,
        p_value=boot.p_value,
        test="paired-bootstrap-corpus",
        n_shared=n_shared,
        n_only_a=n_only_a,
        n_only_b=n_only_b,
        mde=mde,
        alpha=alpha,
        power=power,
    )


__all__ = [
    "Comparison",
    "Holm",
    "McNemar",
    "PairedBootstrap",
    "compare",
    "compare_corpus",
    "holm",
    "mcnemar_exact",
    "mcnemar_p_value",
    "minimum_detectable_effect",
    "newcombe_paired_ci",
    "paired_bootstrap",
]
