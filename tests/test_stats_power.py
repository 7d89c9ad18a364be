"""Sample-size plans reach the power they promise, checked by simulating the tests assay runs."""

from __future__ import annotations

import numpy as np
import pytest

from assay.errors import UserError
from assay.stats import mcnemar_p_value, minimum_detectable_effect
from assay.stats.power import (
    independent_accuracy_items,
    margin_items,
    mcnemar_power,
    mean_difference_items,
    paired_accuracy_items,
    plan_sample_size,
)
from cli_util import run_assay

REPS = 3000


def simulated_mcnemar_power(n: int, psi: float, delta: float, rng: np.random.Generator) -> float:
    won, lost = (psi + delta) / 2, (psi - delta) / 2
    counts = rng.multinomial(n, [lost, won, 1 - psi], size=REPS)
    return float(np.mean([mcnemar_p_value(int(a), int(b)) < 0.05 for a, b, _ in counts]))


@pytest.mark.parametrize(("psi", "delta"), [(0.2, 0.05), (0.3, 0.1), (0.1, 0.05)])
def test_paired_plan_reaches_the_power_with_the_exact_mcnemar_test(
    psi: float, delta: float
) -> None:
    rng = np.random.default_rng(0)
    n = paired_accuracy_items(delta, psi)
    assert mcnemar_power(n, psi, delta) >= 0.8
    # 3 standard errors of the simulation below 0.8; Connor's approximate n gives about 0.77.
    assert 0.78 <= simulated_mcnemar_power(n, psi, delta, rng) <= 0.83
    # Not oversized either: three quarters of the items fall clearly short.
    assert simulated_mcnemar_power(int(0.75 * n), psi, delta, rng) < 0.76


def test_exact_power_agrees_with_simulation() -> None:
    rng = np.random.default_rng(1)
    for n, psi, delta in [(100, 0.3, 0.1), (300, 0.15, 0.05), (50, 0.5, 0.2)]:
        exact = mcnemar_power(n, psi, delta)
        assert simulated_mcnemar_power(n, psi, delta, rng) == pytest.approx(exact, abs=0.03)


def test_paired_plan_inverts_the_minimum_detectable_effect() -> None:
    n = paired_accuracy_items(0.05, 0.2)
    assert minimum_detectable_effect(n, discordance=0.2) <= 0.05
    assert minimum_detectable_effect(int(n * 0.8), discordance=0.2) > 0.05


@pytest.mark.parametrize(("p1", "delta"), [(0.62, 0.05), (0.3, 0.1), (0.9, 0.05)])
def test_independent_plan_reaches_the_power_of_a_two_proportion_test(
    p1: float, delta: float
) -> None:
    rng = np.random.default_rng(2)
    n = independent_accuracy_items(p1, delta)
    p2 = p1 + delta if p1 + delta < 1 else p1 - delta
    a = rng.binomial(n, p1, 8000) / n
    b = rng.binomial(n, p2, 8000) / n
    pooled = (a + b) / 2
    z = np.abs(a - b) / np.sqrt(2 * pooled * (1 - pooled) / n)
    assert float(np.mean(z > 1.959964)) == pytest.approx(0.8, abs=0.02)


def test_mean_difference_plan_reaches_the_power_of_a_paired_test() -> None:
    rng = np.random.default_rng(3)
    n = mean_difference_items(0.02, 0.15)
    diffs = rng.normal(0.02, 0.15, size=(4000, n))
    t = diffs.mean(axis=1) / (diffs.std(axis=1, ddof=1) / np.sqrt(n))
    assert float(np.mean(np.abs(t) > 1.96)) == pytest.approx(0.8, abs=0.025)


def test_margin_plan_covers_the_estimate() -> None:
    rng = np.random.default_rng(4)
    n = margin_items(0.7, 0.03)
    estimates = rng.binomial(n, 0.7, 10000) / n
    assert float(np.mean(np.abs(estimates - 0.7) <= 0.03)) == pytest.approx(0.95, abs=0.01)


def test_design_follows_what_is_given() -> None:
    assert plan_sample_size(effect=0.05, baseline=0.6, paired_agreement=0.8).design == "paired"
    assert plan_sample_size(effect=0.05, baseline=0.6).design == "independent"
    assert plan_sample_size(effect=0.05, sd_diff=0.2).design == "mean"
    plan = plan_sample_size(effect=0.05, baseline=0.6)
    assert plan.total_items == 2 * plan.n and "each" in plan.explain()
    with pytest.raises(UserError, match="cannot differ"):
        plan_sample_size(effect=0.3, paired_agreement=0.8)
    with pytest.raises(UserError, match="--baseline"):
        plan_sample_size(effect=0.05)


def test_cli_plan_and_its_errors() -> None:
    code, out, err = run_assay(
        ["plan", "--baseline", "0.62", "--effect", "0.05", "--paired-agreement", "0.8"]
    )
    assert code == 0, err
    n = paired_accuracy_items(0.05, 0.2)
    assert out.startswith(f"{n} items detect a difference of 0.05") and "McNemar" in out
    code, out, _ = run_assay(["plan", "--baseline", "0.62", "--effect", "0.05", "--json"])
    assert code == 0 and '"design": "independent"' in out
    for args, message in [
        (["plan", "--effect", "0.05"], "give --baseline"),
        (["plan", "--effect", "0.3", "--paired-agreement", "0.8"], "cannot differ by 0.3"),
        (["plan", "--effect", "0.05", "--paired-agreement", "1.2"], "between 0 and 1"),
        (["plan", "--metric", "score", "--effect", "0.05"], "needs --sd-diff"),
    ]:
        code, _, err = run_assay(args)
        assert code != 0 and message in err and "Traceback" not in err
