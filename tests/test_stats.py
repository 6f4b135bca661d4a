"""The paired statistics behind ``compare``: exact where they can be, calibrated where they cannot."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchmark.stats import bootstrap_ci, comparison_rng, holm, paired_comparison, sign_flip_p


def test_identical_selectors_differ_by_zero_with_p_one():
    a = np.random.default_rng(0).random(300)
    result = paired_comparison(a, a.copy(), np.random.default_rng(1), resamples=200, permutations=2000)
    assert result.diff == 0.0 and result.p == 1.0 and result.ci95 == (0.0, 0.0)


def test_a_clearly_better_selector_has_p_below_a_thousandth():
    rng = np.random.default_rng(0)
    b = rng.binomial(1, 0.3, 800).astype(float)
    a = np.maximum(b, rng.binomial(1, 0.3, 800))  # a is right wherever b is, and more often
    result = paired_comparison(a, b, np.random.default_rng(1), resamples=500, permutations=10000)
    assert result.diff > 0.15 and result.p < 0.001 and result.ci95[0] > 0


def test_p_values_agree_with_scipys_paired_permutation_test():
    rng = np.random.default_rng(3)
    b = rng.random(120)
    a = b + rng.normal(0.03, 0.2, 120)
    ours = sign_flip_p(a - b, np.random.default_rng(4), permutations=20000)
    theirs = scipy_stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=20000,
        alternative="two-sided",
        random_state=5,
    ).pvalue
    # two Monte-Carlo estimates of one p-value: their difference has sd sqrt(2 p (1 - p) / 20000)
    assert abs(ours - theirs) < 4 * np.sqrt(2 * theirs * (1 - theirs) / 20000) + 1e-3


def test_confidence_intervals_cover_the_true_difference():
    rng = np.random.default_rng(7)
    covered, repetitions, n = 0, 300, 150
    for r in range(repetitions):
        base = rng.random(n)  # per-sample difficulty, shared by both selectors: the pairing
        b = (rng.random(n) < base).astype(float)
        a = (rng.random(n) < np.clip(base + 0.1, 0, 1)).astype(float)
        true_diff = float(np.mean(np.clip(base + 0.1, 0, 1) - base))
        low, high = bootstrap_ci(a, b, comparison_rng(r, "ci"), resamples=400)
        covered += low <= true_diff <= high
    assert 0.90 <= covered / repetitions <= 0.99


def test_p_is_uniform_under_the_null_and_never_anticonservative():
    rng = np.random.default_rng(8)
    continuous, binary = [], []
    for r in range(300):
        base = rng.random(150)
        continuous.append(sign_flip_p(rng.normal(base, 1.0) - rng.normal(base, 1.0), comparison_rng(r, "c"), 400))
        hits = (rng.random((2, 150)) < base).astype(float)  # per-sample metrics are discrete, e.g. recall@1
        binary.append(sign_flip_p(hits[0] - hits[1], comparison_rng(r, "b"), 400))
    assert scipy_stats.kstest(continuous, "uniform").pvalue > 0.001
    assert 0.02 <= np.mean(np.array(continuous) < 0.05) <= 0.09
    # with ties in the differences the test is conservative: P(p < α) stays at or below α
    assert np.mean(np.array(binary) < 0.05) <= 0.08


def test_several_seeds_widen_the_interval():
    rng = np.random.default_rng(11)
    b = rng.random(400)
    single = paired_comparison(b + 0.05, b, np.random.default_rng(0), resamples=500, permutations=100)
    seeds = np.stack([b + 0.05 + shift for shift in (-0.04, 0.0, 0.04)])  # retraining moves the mean
    multi = paired_comparison(seeds, b, np.random.default_rng(0), resamples=500, permutations=100)
    assert multi.diff == pytest.approx(single.diff, abs=1e-12)
    assert multi.ci95[1] - multi.ci95[0] > 3 * (single.ci95[1] - single.ci95[0])


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 2 × 0.5 is capped at 1, and the sequence is monotone
    assert holm([]) == []


def test_same_seed_same_numbers():
    a, b = np.random.default_rng(0).random((2, 100))
    one = paired_comparison(a, b, comparison_rng(3, "x"), resamples=100, permutations=500)
    two = paired_comparison(a, b, comparison_rng(3, "x"), resamples=100, permutations=500)
    assert one == two
