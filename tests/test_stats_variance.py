"""The prompt-vs-item variance decomposition, checked by simulation against known components."""

from __future__ import annotations

import numpy as np
import pytest

from assay.errors import UserError
from assay.stats.variance import variance_components

PROMPTS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 0.0])
"""The prompts are the ones chosen (fixed effects): their spread is the sample variance."""


def simulate(rng: np.random.Generator, scale: float, sd_item: float, sd_noise: float) -> np.ndarray:
    items = rng.normal(0, sd_item, size=(1, 300))
    return scale * PROMPTS[:, None] + items + rng.normal(0, sd_noise, size=(6, 300))


def test_recovers_known_shares_and_the_intervals_cover_them() -> None:
    rng = np.random.default_rng(1)
    truth = np.array([PROMPTS.var(ddof=1), 1.0, 0.25])  # prompt, item, noise variances
    shares = truth / truth.sum()
    covered = np.zeros(2)
    runs = 40
    for _ in range(runs):
        v = variance_components(simulate(rng, 1.0, 1.0, 0.5), n_resamples=300, seed=rng)
        assert v.prompt.value + v.item.value + v.residual.value == pytest.approx(1.0)
        assert v.item.value == pytest.approx(shares[1], abs=0.15)
        covered += [
            v.prompt.ci_low <= shares[0] <= v.prompt.ci_high,
            v.item.ci_low <= shares[1] <= v.item.ci_high,
        ]
    # 95% intervals: at least 34 of 40 cover the truth (a binomial 95% lower bound)
    assert (covered >= 34).all(), covered


def test_no_prompt_effect_gives_a_small_prompt_share() -> None:
    rng = np.random.default_rng(2)
    v = variance_components(simulate(rng, 0.0, 1.0, 0.5), n_resamples=300, seed=0)
    assert v.prompt.value < 0.02 and v.item.value > 0.7


def test_identical_prompts_have_no_spread() -> None:
    x = np.tile(np.array([[0.0, 1.0, 1.0, 0.0]]), (3, 1))
    v = variance_components(x, n_resamples=50)
    assert v.prompt.value == 0 and v.residual.value == 0 and v.item.value == 1.0
    assert variance_components(np.zeros((2, 3)), n_resamples=10).total == 0


@pytest.mark.parametrize("bad", [np.zeros((1, 5)), np.zeros((3, 1)), np.zeros(4)])
def test_refuses_too_small(bad: np.ndarray) -> None:
    with pytest.raises(UserError):
        variance_components(bad)
