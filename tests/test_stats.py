"""Unit tests of the statistics layer against known values (no scipy needed; where scipy is
installed a few extra tests cross-check against it)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assay import stats
from assay.errors import MissingExtraError, UserError
from assay.stats._dist import binomial_half_lower_tail, t_ppf

# --------------------------------------------------------------------------------------------
# Estimate


def test_estimate_str_and_json_round_trip() -> None:
    est = stats.Estimate(np.float64(0.634), 0.5912, 0.6757, 0.0215, np.int64(500), "wilson")  # type: ignore[arg-type]
    assert str(est) == "0.634 [0.591, 0.676] (n=500, wilson)"
    data = json.loads(json.dumps(est.to_dict()))
    assert stats.Estimate.from_dict(data) == est
    assert type(est.value) is float and type(est.n) is int


def test_estimate_format_signed_small_and_other_levels() -> None:
    assert stats.Estimate(0.034, 0.012, 0.056, None, 9, "newcombe").format(signed=True) == (
        "+0.034 [0.012, 0.056] (n=9, newcombe)"
    )
    assert "0.0012" in str(stats.Estimate(0.0012, 0.0005, 0.0031, None, 3, "t"))
    assert str(stats.Estimate(0.5, 0.4, 0.6, 0.05, 10, "t", 0.9)).endswith("(n=10, t, 90%)")


# --------------------------------------------------------------------------------------------
# Distributions


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [(0.975, 1, 12.7062047), (0.975, 9, 2.2621572), (0.975, 30, 2.0422725), (0.995, 5, 4.0321430)],
)
def test_t_quantiles_match_tables(p: float, df: int, expected: float) -> None:
    assert t_ppf(p, df) == pytest.approx(expected, abs=1e-6)
    assert t_ppf(1 - p, df) == pytest.approx(-expected, abs=1e-6)


def test_binomial_tail_matches_exact_sum() -> None:
    for k, m in [(2, 11), (6, 22), (40, 100)]:
        exact = sum(math.comb(m, i) for i in range(k + 1)) / 2**m
        assert binomial_half_lower_tail(k, m) == pytest.approx(exact, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Means and proportions


def test_mean_ci_t_known_value() -> None:
    est = stats.mean_ci(range(1, 11))
    # mean 5.5, s = 3.02765, se = 0.957427, t_{0.975, 9} = 2.262157
    assert est.value == 5.5
    assert est.se == pytest.approx(0.9574271, abs=1e-6)
    assert (est.ci_low, est.ci_high) == pytest.approx((3.334149, 7.665851), abs=1e-5)
    assert est.method == "t" and est.n == 10


def test_mean_ci_normal_is_narrower_than_t() -> None:
    t = stats.mean_ci([1.0, 2.0, 4.0, 8.0])
    z = stats.mean_ci([1.0, 2.0, 4.0, 8.0], method="normal")
    assert z.half_width < t.half_width
    assert z.half_width == pytest.approx(1.959964 * z.se, rel=1e-6)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:857, Table II, Wilson score method.
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_known_values(k: int, n: int, low: float, high: float) -> None:
    est = stats.wilson_ci(k, n)
    assert (est.ci_low, est.ci_high) == pytest.approx((low, high), abs=6e-5)
    assert est.value == k / n
    assert est.se == pytest.approx(math.sqrt(k / n * (1 - k / n) / n))


def test_proportion_ci_from_outcomes() -> None:
    outcomes = [True] * 317 + [False] * 183
    assert stats.proportion_ci(outcomes) == stats.wilson_ci(317, 500)
    assert str(stats.proportion_ci(np.array(outcomes, dtype=int))).startswith(
        "0.634 [0.591, 0.675]"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: stats.mean_ci([]),
        lambda: stats.mean_ci([1.0]),
        lambda: stats.mean_ci([1.0, float("nan")]),
        lambda: stats.mean_ci([[1.0, 2.0]]),  # type: ignore[list-item]
        lambda: stats.mean_ci([1.0, 2.0], confidence=95),
        lambda: stats.wilson_ci(5, 0),
        lambda: stats.wilson_ci(6, 5),
        lambda: stats.proportion_ci([0, 1, 2]),
        lambda: stats.bootstrap_ci(stats.mean, [1.0, 2.0, 3.0], n_resamples=10),
        lambda: stats.bootstrap_ci(stats.mean, [1.0, 2.0], [1.0]),
        lambda: stats.bootstrap_ci(stats.mean, [1.0, 2.0, 3.0], method="bogus"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_a_user_error(call: Callable[[], object]) -> None:
    with pytest.raises(UserError):
        call()


# --------------------------------------------------------------------------------------------
# Bootstrap


def _data() -> np.ndarray:
    return np.random.default_rng(3).normal(0.5, 0.2, size=400)


def test_bootstrap_is_seeded_and_reproducible() -> None:
    x = _data()
    one = stats.bootstrap_ci(stats.mean, x, seed=5)
    assert stats.bootstrap_ci(stats.mean, x, seed=5) == one
    assert stats.bootstrap_ci(stats.mean, x, seed=6) != one
    assert one.method == "bootstrap-bca" and one.n == 400


def test_vectorized_and_looped_metrics_agree_exactly() -> None:
    x = _data()
    fast = stats.bootstrap_ci(stats.mean, x, n_resamples=500, seed=1)
    slow = stats.bootstrap_ci(lambda v: float(np.mean(v)), x, n_resamples=500, seed=1)
    assert (slow.value, slow.ci_low, slow.ci_high) == pytest.approx(
        (fast.value, fast.ci_low, fast.ci_high), rel=1e-12
    )


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_of_mean_is_close_to_the_t_interval(method: str) -> None:
    x = _data()
    t = stats.mean_ci(x)
    boot = stats.bootstrap_ci(stats.mean, x, n_resamples=4000, method=method)  # type: ignore[arg-type]
    assert boot.value == pytest.approx(t.value)
    assert boot.ci_low == pytest.approx(t.ci_low, abs=0.15 * t.half_width)
    assert boot.ci_high == pytest.approx(t.ci_high, abs=0.15 * t.half_width)
    assert boot.se == pytest.approx(t.se, rel=0.1)


def test_bootstrap_metric_over_several_columns() -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, size=200)
    pred = np.where(rng.uniform(size=200) < 0.7, gold, rng.integers(0, 3, size=200))

    def macro_f1(p: np.ndarray, g: np.ndarray) -> float:
        scores = []
        for c in range(3):
            tp = np.sum((p == c) & (g == c))
            denom = np.sum(p == c) + np.sum(g == c)
            scores.append(2 * tp / denom if denom else 0.0)
        return float(np.mean(scores))

    est = stats.bootstrap_ci(macro_f1, pred, gold, n_resamples=300)
    assert est.ci_low < macro_f1(pred, gold) < est.ci_high
    assert 0.5 < est.value < 0.95


def test_bootstrap_degenerate_data_gives_a_point_interval() -> None:
    est = stats.bootstrap_ci(stats.mean, np.ones(50))
    assert (est.value, est.ci_low, est.ci_high, est.se) == (1.0, 1.0, 1.0, 0.0)


def test_bootstrap_metric_returning_nan_is_a_user_error() -> None:
    def ratio(x: np.ndarray) -> float:
        return float(np.mean(x) / np.mean(x)) if np.mean(x) > 0.3 else float("nan")

    with pytest.raises(UserError, match="NaN"):
        stats.bootstrap_ci(ratio, np.r_[np.zeros(8), np.ones(4)], n_resamples=200)


def test_bootstrap_large_n_uses_grouped_jackknife() -> None:
    x = np.random.default_rng(4).exponential(size=20_000)
    est = stats.bootstrap_ci(stats.mean, x, n_resamples=500)
    t = stats.mean_ci(x)
    assert est.ci_low == pytest.approx(t.ci_low, abs=0.2 * t.half_width)
    assert est.ci_high == pytest.approx(t.ci_high, abs=0.2 * t.half_width)


def test_vectorized_metric_with_wrong_shape_is_a_user_error() -> None:
    with pytest.raises(UserError, match="one value per resample"):
        stats.bootstrap_ci(lambda v: np.mean(v), _data(), vectorized=True)


# --------------------------------------------------------------------------------------------
# Paired comparisons


# Cavo et al. (2012) via Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency
# Tables" (2017), ch. 8: both 59, first only 6, second only 16, neither 80.
CAVO = (59, 6, 16, 80)


def _paired_arrays(
    both: int, a_only: int, b_only: int, neither: int
) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, dtype=bool)
    return a, b


def test_mcnemar_exact_on_textbook_table() -> None:
    result = stats.mcnemar_exact(*_paired_arrays(*CAVO))
    assert (result.n, result.b10, result.b01) == (161, 6, 16)
    # 2 * P(X <= 6), X ~ Bin(22, 1/2) = 2 * 110056 / 2**22
    assert result.p_value == pytest.approx(220112 / 2**22, rel=1e-12)
    assert result.p_value == pytest.approx(0.0525, abs=1e-4)
    assert result.difference.value == pytest.approx(-10 / 161)
    # Newcombe square-and-add (hybrid score) interval as published: -0.1186 to -0.0046
    assert (result.difference.ci_low, result.difference.ci_high) == pytest.approx(
        (-0.1186, -0.0046), abs=6e-5
    )
    assert result.difference.method == "newcombe"
    assert result.accuracy_a == pytest.approx(65 / 161)
    assert "A-only right 6" in str(result)


def test_mcnemar_small_table_and_symmetric_cases() -> None:
    assert stats.mcnemar_p_value(2, 9) == pytest.approx(134 / 2048, rel=1e-12)
    assert stats.mcnemar_p_value(9, 2) == stats.mcnemar_p_value(2, 9)
    assert stats.mcnemar_p_value(7, 7) == 1.0
    assert stats.mcnemar_p_value(0, 0) == 1.0
    same = stats.mcnemar_exact([1, 0, 1, 1], [1, 0, 1, 1])
    assert same.p_value == 1.0 and same.difference.value == 0.0


def test_mcnemar_bad_input() -> None:
    with pytest.raises(UserError, match="paired"):
        stats.mcnemar_exact([1, 0, 1], [1, 0])
    with pytest.raises(UserError, match="binary"):
        stats.mcnemar_exact([1, 0, 0.5], [1, 0, 1])


def test_paired_bootstrap_identical_runs_and_clear_difference() -> None:
    x = _data()
    same = stats.paired_bootstrap(x, x.copy())
    assert same.difference.value == 0.0 and same.p_value == 1.0
    shifted = stats.paired_bootstrap(x + 0.05, x, n_resamples=1000)
    assert shifted.difference.value == pytest.approx(0.05)
    assert shifted.p_value == pytest.approx(1 / 1001)
    noisy = stats.paired_bootstrap(x + np.random.default_rng(1).normal(0.05, 0.1, x.size), x)
    assert noisy.p_value < 0.05
    assert noisy.difference.ci_low > 0
    assert str(noisy).startswith("A - B = +0.0")


def test_paired_bootstrap_with_shared_gold_column() -> None:
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 2, size=300)
    pred_a = np.where(rng.uniform(size=300) < 0.9, gold, 1 - gold)
    pred_b = np.where(rng.uniform(size=300) < 0.6, gold, 1 - gold)

    def accuracy(pred: np.ndarray, g: np.ndarray) -> float:
        return float(np.mean(pred == g))

    result = stats.paired_bootstrap(pred_a, pred_b, accuracy, extra=(gold,), n_resamples=500)
    assert result.a == accuracy(pred_a, gold) and result.b == accuracy(pred_b, gold)
    assert result.difference.ci_low > 0.15
    assert result.p_value < 0.01


def test_holm_known_vector() -> None:
    result = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, max(0.04*1, 0.06)=0.06
    assert result.adjusted == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert result.reject == (True, False, False, True)


def test_holm_caps_at_one_and_is_monotone() -> None:
    p = [0.9, 0.5, 0.02, 0.7, 0.001]
    adjusted = stats.holm(p).adjusted
    assert max(adjusted) == 1.0
    order = np.argsort(p)
    assert np.all(np.diff(np.asarray(adjusted)[order]) >= 0)
    assert all(a >= q for a, q in zip(adjusted, p, strict=True))
    assert stats.holm([]).adjusted == ()
    with pytest.raises(UserError):
        stats.holm([0.5, 1.5])


def test_minimum_detectable_effect_formulas() -> None:
    z_a, z_b = 1.959963984540054, 0.8416212335729143
    assert stats.minimum_detectable_effect(100, sd_diff=1.0) == pytest.approx((z_a + z_b) / 10)
    n, psi = 500, 0.2
    delta = stats.minimum_detectable_effect(n, discordance=psi)
    # It solves Connor's equation  delta*sqrt(n) = z_a*sqrt(psi) + z_b*sqrt(psi - delta^2)
    assert delta * math.sqrt(n) == pytest.approx(
        z_a * math.sqrt(psi) + z_b * math.sqrt(psi - delta**2), rel=1e-9
    )
    # and is close to the simple (z_a + z_b) * sqrt(psi / n)
    assert delta == pytest.approx((z_a + z_b) * math.sqrt(psi / n), rel=0.02)
    assert stats.minimum_detectable_effect(20, discordance=0.05) <= 0.05  # capped at psi
    stricter = stats.minimum_detectable_effect(n, discordance=psi, alpha=0.01, power=0.9)
    assert stricter > delta


def test_minimum_detectable_effect_bad_input() -> None:
    with pytest.raises(UserError, match="exactly one"):
        stats.minimum_detectable_effect(100)
    with pytest.raises(UserError, match="exactly one"):
        stats.minimum_detectable_effect(100, discordance=0.1, sd_diff=1.0)
    with pytest.raises(UserError):
        stats.minimum_detectable_effect(100, discordance=1.5)
    with pytest.raises(UserError):
        stats.minimum_detectable_effect(100, sd_diff=1.0, power=1.0)


# --------------------------------------------------------------------------------------------
# compare


def test_compare_binary_aligns_by_id_and_uses_mcnemar() -> None:
    a, b = _paired_arrays(*CAVO)
    runs_a = {f"q{i}": bool(v) for i, v in enumerate(a)}
    runs_b = {f"q{i}": bool(v) for i, v in enumerate(b)}
    runs_a["only-a"] = True
    runs_b.update({"only-b1": False, "only-b2": True})
    result = stats.compare(runs_a, list(runs_b.items()))
    assert (result.n_shared, result.n_only_a, result.n_only_b) == (161, 1, 2)
    assert result.test == "mcnemar-exact"
    assert result.p_value == pytest.approx(220112 / 2**22)
    assert result.a == stats.wilson_ci(65, 161)
    assert result.mde is not None and result.mde > 0
    text = str(result)
    assert "shared samples: 161" in text and "mcnemar-exact" in text
    json.dumps(result.to_dict())


def test_compare_continuous_uses_paired_bootstrap() -> None:
    x = _data()
    runs_a = {i: float(v) + 0.02 for i, v in enumerate(x)}
    runs_b = {i: float(v) for i, v in reversed(list(enumerate(x)))}  # order must not matter
    result = stats.compare(runs_a, runs_b, n_resamples=500)
    assert result.test == "paired-bootstrap"
    assert result.difference.value == pytest.approx(0.02)
    assert result.a.method == "t"
    assert result.mde is None  # every difference is exactly 0.02: sd of differences is 0


def test_compare_refuses_too_few_shared_samples() -> None:
    a = {i: 1.0 for i in range(50)}
    b = {i: 1.0 for i in range(45, 100)}
    with pytest.raises(UserError, match=r"only 5 sample\(s\) are shared.*at least 10"):
        stats.compare(a, b)


def test_compare_rejects_duplicate_ids_and_non_numbers() -> None:
    with pytest.raises(UserError, match="more than once"):
        stats.compare([("x", 1.0), ("x", 0.0)], {"x": 1.0})
    with pytest.raises(UserError, match="not a number"):
        stats.compare({"x": "yes"}, {"x": 1.0})
    with pytest.raises(UserError, match="McNemar"):
        stats.compare({i: 0.5 for i in range(20)}, {i: 1.0 for i in range(20)}, test="mcnemar")


# --------------------------------------------------------------------------------------------
# Calibration


def test_calibration_table_by_hand() -> None:
    conf = [0.05, 0.3, 0.3, 0.95, 0.91, 1.0]
    right = [0, 1, 0, 1, 1, 0]
    cal = stats.calibration(conf, right, n_bins=10)
    counts = [b.count for b in cal.bins]
    # 0.3 belongs to (0.2, 0.3], 1.0 to (0.9, 1.0]
    assert counts == [1, 0, 2, 0, 0, 0, 0, 0, 0, 3]
    assert cal.bins[2].mean_confidence == pytest.approx(0.3) and cal.bins[2].accuracy == 0.5
    assert cal.bins[1].accuracy is None and cal.bins[1].gap is None
    top = cal.bins[9]
    assert top.mean_confidence == pytest.approx(2.86 / 3) and top.accuracy == pytest.approx(2 / 3)
    expected_ece = (1 * 0.05 + 2 * 0.2 + 3 * abs(2.86 / 3 - 2 / 3)) / 6
    assert cal.ece == pytest.approx(expected_ece)
    assert cal.mce == pytest.approx(abs(2.86 / 3 - 2 / 3))
    assert stats.expected_calibration_error(conf, right) == pytest.approx(expected_ece)
    assert "ECE" in cal.table()
    json.dumps(cal.to_dict())


def test_batched_ece_matches_one_at_a_time() -> None:
    rng = np.random.default_rng(8)
    conf = rng.uniform(size=(5, 300))
    right = rng.uniform(size=(5, 300)) < conf
    batched = stats.expected_calibration_error(conf, right)
    single = [stats.expected_calibration_error(c, r) for c, r in zip(conf, right, strict=True)]
    assert batched == pytest.approx(single)
    est = stats.bootstrap_ci(
        stats.expected_calibration_error, conf[0], right[0], n_resamples=200, vectorized=True
    )
    assert est.value == pytest.approx(single[0])


def test_calibration_bad_input() -> None:
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        stats.calibration([0.2, 1.2], [0, 1])
    with pytest.raises(UserError, match="same length"):
        stats.calibration([0.2, 0.4], [0])
    with pytest.raises(UserError, match="n_bins"):
        stats.calibration([0.2], [1], n_bins=0)


# --------------------------------------------------------------------------------------------
# Plots and import hygiene


def test_importing_stats_and_plots_loads_neither_matplotlib_nor_scipy() -> None:
    code = (
        "import sys, assay.stats, assay.evals.plots\n"
        "bad = [m for m in ('matplotlib', 'scipy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reliability_diagram_and_bar_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from assay.evals import plots

    rng = np.random.default_rng(9)
    conf = rng.uniform(0.4, 1.0, size=500)
    cal = stats.calibration(conf, rng.uniform(size=500) < conf - 0.1)
    fig = plots.reliability_diagram(cal, tmp_path / "figs" / "reliability.png", title="x")
    assert (tmp_path / "figs" / "reliability.png").stat().st_size > 1000
    assert len(fig.axes) == 2
    plots.reliability_diagram(cal.bins, tmp_path / "bins-only.pdf")
    assert (tmp_path / "bins-only.pdf").exists()

    estimates = [stats.wilson_ci(30, 50), stats.wilson_ci(60, 100), stats.wilson_ci(10, 40)]
    fig = plots.bar_with_ci(["a", "b", "c"], estimates, tmp_path / "bars.png", ylabel="Accuracy")
    assert (tmp_path / "bars.png").stat().st_size > 1000
    assert "95% CI" in fig.axes[0].get_ylabel()
    with pytest.raises(UserError, match="2 labels but 3"):
        plots.bar_with_ci(["a", "b"], estimates)


def test_plots_draw_on_given_axes() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from assay.evals import plots

    fig = Figure()
    ax = fig.add_subplot()
    cal = stats.calibration([0.2, 0.6, 0.9], [0, 1, 1])
    assert plots.reliability_diagram(cal, ax=ax) is fig
    assert ax.get_xlabel() == "Confidence"


def test_plots_without_matplotlib_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.evals import plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(MissingExtraError, match="matplotlib"):
        plots.bar_with_ci(["a"], [stats.wilson_ci(1, 2)])


# --------------------------------------------------------------------------------------------
# Cross-checks against scipy, where it is installed


def test_cross_check_with_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for p, df in [(0.975, 3), (0.9, 17.5), (0.999, 2), (0.6, 400)]:
        assert t_ppf(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9)
    for b10, b01 in [(86, 150), (3, 12), (480, 520)]:
        expected = scipy_stats.binomtest(b10, b10 + b01, 0.5).pvalue
        assert stats.mcnemar_p_value(b10, b01) == pytest.approx(expected, rel=1e-8)
    x = _data()
    ours = stats.bootstrap_ci(stats.mean, x, n_resamples=5000, method="bca")
    theirs = scipy_stats.bootstrap(
        (x,), np.mean, n_resamples=5000, method="BCa", rng=np.random.default_rng(0)
    ).confidence_interval
    assert ours.ci_low == pytest.approx(theirs.low, abs=0.003)
    assert ours.ci_high == pytest.approx(theirs.high, abs=0.003)
