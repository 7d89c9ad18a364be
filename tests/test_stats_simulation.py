"""Simulation checks of the statistics layer: intervals cover, tests hold their level, power
formulas deliver the power they promise. Every simulation is seeded, so the figures (and the
test outcomes) are the same on every run.

Acceptance bands. A rate estimated from K independent simulated datasets has binomial standard
error √(r(1 - r)/K). We accept

- coverage of a nominal 95% interval in 0.95 ± max(0.02, 3·√(0.95·0.05/K)): 93-97% for K = 2000
  (3 SE = 1.5 points, so 2 points leaves room for the method's own small error), wider where fewer
  datasets are affordable (K = 500 bootstrap datasets: 92.1-97.9%);
- a false-positive rate at most alpha + 3·√(alpha(1-alpha)/K) for exact / conservative tests
  (McNemar, Holm), and within alpha ± 3·√(alpha(1-alpha)/K) for the bootstrap test;
- power within 0.80 ± max(0.03, 3·√(0.8·0.2/K)) where the formula is meant to be exact to first
  order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from assay import stats
from assay.stats.intervals import BootstrapMethod
from assay.stats.paired import mcnemar_p_value

NOMINAL = 0.95
ALPHA = 0.05


def coverage_band(k: int, nominal: float = NOMINAL) -> tuple[float, float]:
    half = max(0.02, 3 * math.sqrt(nominal * (1 - nominal) / k))
    return nominal - half, nominal + half


def rate_tolerance(k: int, rate: float = ALPHA) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / k)


def power_band(k: int, target: float = 0.8) -> tuple[float, float]:
    half = max(0.03, 3 * math.sqrt(target * (1 - target) / k))
    return target - half, target + half


def _report(name: str, value: float, band: tuple[float, float]) -> None:
    print(f"{name}: {value:.4f} (accepted {band[0]:.4f}-{band[1]:.4f})")


# --------------------------------------------------------------------------------------------
# Coverage of intervals


@pytest.mark.parametrize(("n", "p"), [(200, 0.3), (60, 0.85), (1000, 0.97)])
def test_wilson_interval_covers_95_percent(n: int, p: float) -> None:
    k = 2000
    rng = np.random.default_rng(100 + n)
    successes = rng.binomial(n, p, size=k)
    covered = sum(stats.wilson_ci(int(s), n).contains(p) for s in successes)
    rate = covered / k
    band = coverage_band(k)
    _report(f"wilson n={n} p={p}", rate, band)
    assert band[0] <= rate <= band[1]


@pytest.mark.parametrize("dist", ["normal-n30", "beta-n100"])
def test_t_interval_covers_95_percent(dist: str) -> None:
    k = 2000
    rng = np.random.default_rng(7)
    if dist == "normal-n30":
        data, truth = rng.normal(0.6, 0.2, size=(k, 30)), 0.6
    else:
        data, truth = rng.beta(2, 5, size=(k, 100)), 2 / 7
    rate = sum(stats.mean_ci(row).contains(truth) for row in data) / k
    band = coverage_band(k)
    _report(f"t interval {dist}", rate, band)
    assert band[0] <= rate <= band[1]


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_interval_for_mean_covers_95_percent(method: BootstrapMethod) -> None:
    k, n = 500, 100
    rng = np.random.default_rng(11)
    data = rng.gamma(2.0, 0.5, size=(k, n))  # skewed, mean 1.0
    boot_rng = np.random.default_rng(12)
    hits = 0
    for row in data:
        est = stats.bootstrap_ci(stats.mean, row, n_resamples=1000, method=method, seed=boot_rng)
        hits += est.contains(1.0)
    rate = hits / k
    band = coverage_band(k)
    _report(f"bootstrap {method} mean (gamma, n={n})", rate, band)
    assert band[0] <= rate <= band[1]


def _macro_f1_batched(pred: np.ndarray, gold: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Macro-F1 per row of 2-D (resamples, n) label arrays: a vectorized bootstrap metric."""
    rows = pred.shape[0]
    codes = (gold * n_classes + pred) + (n_classes * n_classes) * np.arange(rows)[:, None]
    cm = np.bincount(codes.ravel(), minlength=rows * n_classes * n_classes)
    cm = cm.reshape(rows, n_classes, n_classes).astype(np.float64)  # [row, gold, pred]
    tp = np.diagonal(cm, axis1=1, axis2=2)
    denom = cm.sum(axis=1) + cm.sum(axis=2)  # predicted + actual per class
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1.mean(axis=1)


def test_bootstrap_interval_for_macro_f1_covers_95_percent() -> None:
    # A 3-class classifier with a known joint distribution of (gold, pred); the population
    # macro-F1 follows from the joint probabilities.
    joint = np.array([[0.30, 0.04, 0.02], [0.05, 0.20, 0.05], [0.03, 0.06, 0.25]])
    tp = np.diag(joint)
    truth = float(np.mean(2 * tp / (joint.sum(axis=0) + joint.sum(axis=1))))
    k, n = 300, 300
    rng = np.random.default_rng(21)
    cells = rng.choice(9, size=(k, n), p=joint.ravel())
    gold_all, pred_all = cells // 3, cells % 3
    boot_rng = np.random.default_rng(22)
    hits = 0
    for gold, pred in zip(gold_all, pred_all, strict=True):
        est = stats.bootstrap_ci(
            _macro_f1_batched, pred, gold, n_resamples=1000, seed=boot_rng, vectorized=True
        )
        hits += est.contains(truth)
    rate = hits / k
    band = coverage_band(k)
    _report(f"bootstrap bca macro-F1 (n={n})", rate, band)
    assert band[0] <= rate <= band[1]


def test_newcombe_paired_interval_covers_95_percent() -> None:
    k, n = 2000, 300
    p10, p01 = 0.12, 0.06  # true accuracy difference 0.06
    rng = np.random.default_rng(31)
    counts = rng.multinomial(n, [0.55, p10, p01, 1 - 0.55 - p10 - p01], size=k)
    hits = sum(stats.newcombe_paired_ci(*map(int, row)).contains(p10 - p01) for row in counts)
    rate = hits / k
    band = coverage_band(k)
    _report("newcombe paired difference", rate, band)
    assert band[0] <= rate <= band[1]


# --------------------------------------------------------------------------------------------
# False positives under the null


def test_paired_bootstrap_false_positive_rate_is_alpha() -> None:
    # The bootstrap variance carries a factor (n-1)/n and normal rather than t tails, so at n=100
    # the expected rate is about 0.055, inside the band.
    k, n = 2000, 100
    rng = np.random.default_rng(41)
    shared = rng.normal(0.0, 1.0, size=(k, n))  # per-sample difficulty, shared by both runs
    a = shared + rng.normal(0.0, 0.5, size=(k, n))
    b = shared + rng.normal(0.0, 0.5, size=(k, n))
    boot_rng = np.random.default_rng(42)
    rejections = sum(
        stats.paired_bootstrap(
            a[i], b[i], n_resamples=1000, method="percentile", seed=boot_rng
        ).p_value
        <= ALPHA
        for i in range(k)
    )
    rate = rejections / k
    tol = rate_tolerance(k)
    _report("paired bootstrap false-positive rate", rate, (ALPHA - tol, ALPHA + tol))
    assert abs(rate - ALPHA) <= tol


def test_mcnemar_false_positive_rate_at_most_alpha() -> None:
    k, n = 2000, 200
    rng = np.random.default_rng(51)
    # Both runs 70% accurate, disagreeing on 16% of samples, no true difference.
    cells = rng.choice(4, size=(k, n), p=[0.62, 0.08, 0.08, 0.22])  # both, A only, B only, neither
    a_correct = (cells == 0) | (cells == 1)
    b_correct = (cells == 0) | (cells == 2)
    rejections = sum(
        stats.mcnemar_exact(a_correct[i], b_correct[i]).p_value <= ALPHA for i in range(k)
    )
    rate = rejections / k
    tol = rate_tolerance(k)
    _report("mcnemar exact false-positive rate", rate, (0.0, ALPHA + tol))
    assert rate <= ALPHA + tol


def _two_sided_normal_p(z: np.ndarray) -> np.ndarray:
    erfc = np.vectorize(math.erfc)
    return np.asarray(erfc(np.abs(z) / math.sqrt(2.0)), dtype=np.float64)


@pytest.mark.parametrize("dependence", ["independent", "correlated"])
def test_holm_controls_family_wise_error(dependence: str) -> None:
    k, m = 4000, 5
    rng = np.random.default_rng(61)
    if dependence == "independent":
        p = rng.uniform(size=(k, m))
    else:  # five null comparisons sharing a baseline: test statistics correlated at 0.5
        z = math.sqrt(0.5) * rng.normal(size=(k, 1)) + math.sqrt(0.5) * rng.normal(size=(k, m))
        p = _two_sided_normal_p(z)
    any_rejected = sum(any(stats.holm(row, alpha=ALPHA).reject) for row in p)
    fwer = any_rejected / k
    unadjusted = float(np.mean((p <= ALPHA).any(axis=1)))
    tol = rate_tolerance(k)
    _report(f"holm FWER ({dependence}); unadjusted {unadjusted:.4f}", fwer, (0.0, ALPHA + tol))
    assert fwer <= ALPHA + tol
    assert unadjusted > 0.12  # the correction is doing something


# --------------------------------------------------------------------------------------------
# Power at the minimum detectable effect


@pytest.mark.parametrize(("n", "discordance"), [(500, 0.2), (200, 0.35)])
def test_mde_gives_80_percent_power_for_paired_binary(n: int, discordance: float) -> None:
    k = 4000
    delta = stats.minimum_detectable_effect(n, discordance=discordance)
    p10, p01 = (discordance + delta) / 2, (discordance - delta) / 2
    rng = np.random.default_rng(71 + n)
    counts = rng.multinomial(n, [p10, p01, 1 - discordance], size=k)
    b10, b01 = counts[:, 0], counts[:, 1]
    m = np.maximum(b10 + b01, 1)
    z = (b10 - b01) / np.sqrt(m)
    z_power = float(np.mean(np.abs(z) > 1.959963984540054))
    exact_power = float(
        np.mean([mcnemar_p_value(int(x), int(y)) <= ALPHA for x, y in zip(b10, b01, strict=True)])
    )
    band = power_band(k)
    _report(f"MDE binary n={n} psi={discordance} delta={delta:.4f} z-test power", z_power, band)
    print(f"  exact McNemar power at the same effect: {exact_power:.4f}")
    assert band[0] <= z_power <= band[1]
    assert exact_power >= 0.72  # the exact test is a little conservative, not much


def test_mde_gives_80_percent_power_for_paired_continuous() -> None:
    k, n, sd = 4000, 100, 1.5
    delta = stats.minimum_detectable_effect(n, sd_diff=sd)
    rng = np.random.default_rng(81)
    diffs = rng.normal(delta, sd, size=(k, n))
    z = diffs.mean(axis=1) / (diffs.std(axis=1, ddof=1) / math.sqrt(n))
    power = float(np.mean(np.abs(z) > 1.959963984540054))
    band = power_band(k)
    _report(f"MDE continuous n={n} sd={sd} delta={delta:.4f} power", power, band)
    assert band[0] <= power <= band[1]


# --------------------------------------------------------------------------------------------
# Calibration


def test_ece_of_calibrated_predictions_is_near_zero() -> None:
    rng = np.random.default_rng(91)
    conf = rng.uniform(0.2, 1.0, size=20_000)
    correct = rng.uniform(size=conf.size) < conf
    cal = stats.calibration(conf, correct)
    print(f"ECE calibrated: {cal.ece:.4f}, MCE {cal.mce:.4f}")
    assert cal.ece < 0.02
    assert cal.mce < 0.05


def test_ece_of_overconfident_predictions_is_large() -> None:
    rng = np.random.default_rng(92)
    conf = rng.uniform(0.5, 1.0, size=20_000)
    correct = rng.uniform(size=conf.size) < (conf - 0.2)  # right 20 points less often than claimed
    cal = stats.calibration(conf, correct)
    print(f"ECE over-confident by 0.2: {cal.ece:.4f}, MCE {cal.mce:.4f}")
    assert 0.17 < cal.ece < 0.23
    assert all(b.gap is None or b.gap > 0.1 for b in cal.bins)
