"""Paired tests, Holm and the bootstrap interval against hand-checked cases and simulations."""

import numpy as np
import pytest

from bench.stats import bootstrap_interval, holm, paired_comparison


def test_holm_matches_the_textbook_example():
    # p = .01, .04, .03, .005 with m = 4: sorted .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> monotone .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def test_paired_comparison_finds_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    reference = rng.binomial(1, 0.05, 5000).astype(float)
    better = np.where(rng.random(5000) < 0.03, 1.0, reference)
    found = paired_comparison(better, reference)
    assert found.p_value < 1e-6 and found.ci_low > 0
    same = paired_comparison(reference, reference)
    assert same.p_value == 1.0 and same.ci_low == same.ci_high == 0.0


def test_null_p_values_are_calibrated_and_the_interval_covers():
    """Under the null (two systems that differ only by noise), about 5% of tests reject at 0.05 and the
    95% interval covers the true difference (0) about 95% of the time."""
    rng = np.random.default_rng(1)
    rejections = covered = 0
    trials = 200
    for _ in range(trials):
        a = rng.binomial(1, 0.1, 2000).astype(float)
        b = rng.binomial(1, 0.1, 2000).astype(float)
        result = paired_comparison(a, b, samples=400)
        rejections += result.p_value < 0.05
        covered += result.ci_low <= 0 <= result.ci_high
    assert 0.01 <= rejections / trials <= 0.10 and covered / trials >= 0.88


def test_a_hand_computed_case():
    """Four users: system [1, 0, .5, 1], reference [0, 0, 0, 1]. Differences d = [1, 0, .5, 0]: mean .375,
    sample sd sqrt(.6875 / 3) = .47871, t = .375 / (.47871 / 2) = 1.56670 with 3 degrees of freedom; the
    two-sided p from the closed-form t(3) CDF, 1/2 + (x / (1 + x^2) + atan x) / pi with x = t / sqrt 3, is
    .21517. Relative difference .375 / .25 = 1.5."""
    found = paired_comparison(np.array([1.0, 0.0, 0.5, 1.0]), np.array([0.0, 0.0, 0.0, 1.0]))
    assert found.mean_difference == pytest.approx(0.375)
    assert found.relative == pytest.approx(1.5)
    assert found.p_value == pytest.approx(0.21517, abs=1e-5)
    assert 0.0 <= found.ci_low <= 0.375 <= found.ci_high <= 1.0


def test_bootstrap_is_seeded_and_lengths_must_match():
    rng = np.random.default_rng(2)
    a, b = rng.random(300), rng.random(300)
    assert bootstrap_interval(a - b, seed=3) == bootstrap_interval(a - b, seed=3)
    with pytest.raises(ValueError, match="equal-length"):
        paired_comparison(a, b[:10])


@pytest.mark.parametrize("n", [2, 7, 300, 5000])
def test_bootstrap_by_counts_is_the_mean_over_resampled_users(n):
    """The interval draws users once per (n, seed) as counts; it must be the textbook percentile interval
    of means over the same resampled users (the draws a board's intervals have always used)."""
    diff = np.random.default_rng(n).normal(size=n)
    rng, chunk = np.random.default_rng(5), max(1, 2_000_000 // n)
    means = np.concatenate([diff[rng.integers(0, n, size=(min(chunk, 300 - s), n))].mean(axis=1)
                            for s in range(0, 300, chunk)])
    expected = np.quantile(means, [0.025, 0.975])
    assert bootstrap_interval(diff, seed=5, samples=300) == pytest.approx(tuple(expected), abs=1e-12)
    shifted = bootstrap_interval(diff + 1.0, seed=5, samples=300)  # the same draws for another vector
    assert shifted == pytest.approx(tuple(expected + 1.0), abs=1e-12)
