"""Metrics: hand-computed cases, the chance floor, and an independent brute-force check."""

import itertools
import math

import numpy as np
import pytest

from benchmark.metrics import MetricAccumulator, RankRange, compute_metrics, emotion_hit, sample_metrics


def brute_force(scores, gold_index):
    """Average over every tie-breaking order: sort by (-score, position in a permutation)."""
    n = len(scores)
    totals = {"recall@1": 0.0, "recall@3": 0.0, "recall@5": 0.0, "mrr": 0.0, "map@5": 0.0}
    perms = list(itertools.permutations(range(n)))
    for perm in perms:
        tiebreak = {idx: pos for pos, idx in enumerate(perm)}
        order = sorted(range(n), key=lambda i: (-scores[i], tiebreak[i]))
        rank = order.index(gold_index) + 1
        totals["recall@1"] += rank <= 1
        totals["recall@3"] += rank <= 3
        totals["recall@5"] += rank <= 5
        totals["mrr"] += 1 / rank
        totals["map@5"] += 1 / rank if rank <= 5 else 0.0
    return {k: v / len(perms) for k, v in totals.items()}


def test_hand_computed_cases():
    # Gold strictly best.
    assert sample_metrics([0.9, 0.1, 0.2], 0) == pytest.approx(
        {"recall@1": 1, "recall@3": 1, "recall@5": 1, "mrr": 1, "map@5": 1}
    )
    # Gold third of six, no ties.
    m = sample_metrics([5, 4, 3, 2, 1, 0], 2)
    assert m == pytest.approx({"recall@1": 0, "recall@3": 1, "recall@5": 1, "mrr": 1 / 3, "map@5": 1 / 3})
    # Gold tied with one other at the top: rank 1 or 2 with equal probability.
    m = sample_metrics([1.0, 1.0, 0.0], 1)
    assert m["recall@1"] == pytest.approx(0.5)
    assert m["mrr"] == pytest.approx((1 + 1 / 2) / 2)
    # Gold sixth of seven: outside map@5's cutoff, inside MRR.
    m = sample_metrics([7, 6, 5, 4, 3, 1, 2], 5)
    assert m["map@5"] == 0.0
    assert m["mrr"] == pytest.approx(1 / 7)
    # Ties straddling the cutoff: ranks 4..7 equally likely.
    m = sample_metrics([9, 9, 9, 5, 5, 5, 5, 0], 4)
    assert m["recall@5"] == pytest.approx(2 / 4)
    assert m["map@5"] == pytest.approx((1 / 4 + 1 / 5) / 4)


@pytest.mark.parametrize("n", [2, 5, 10, 11])
def test_constant_scorer_gets_exactly_chance(n):
    result = compute_metrics(([0.0] * n, g % n, None, None) for g in range(3 * n))
    harmonic = sum(1 / r for r in range(1, n + 1))
    assert result["recall@1"] == pytest.approx(1 / n, abs=1e-15)
    assert result["mrr"] == pytest.approx(harmonic / n, abs=1e-15)
    assert result["recall@5"] == pytest.approx(min(5, n) / n)
    assert result["emotion_acc"] is None


def test_matches_brute_force_on_random_scores_with_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(150):
        n = int(rng.integers(2, 8))
        scores = rng.integers(0, 3, size=n).astype(float)  # 3 distinct values -> many ties
        gold = int(rng.integers(0, n))
        expected = brute_force(list(scores), gold)
        assert sample_metrics(scores, gold) == pytest.approx(expected, abs=1e-12)


def test_emotion_accuracy_counts_ties_fractionally():
    assert emotion_hit([0.1, 2.0, 0.3], 1) == 1.0
    assert emotion_hit([0.1, 2.0, 0.3], 0) == 0.0
    assert emotion_hit([1.0, 1.0, 1.0, 0.0], 2) == pytest.approx(1 / 3)
    result = compute_metrics([([1, 0], 0, [3, 1], 0), ([1, 0], 0, [1, 3], 0), ([1, 0], 0, None, None)])
    assert result["emotion_acc"] == pytest.approx(0.5)


def test_rank_range():
    r = RankRange.of([3, 5, 3, 1], 0)
    assert (r.low, r.high, r.count) == (2, 3, 2)
    assert math.isclose(r.reciprocal_rank(), (1 / 2 + 1 / 3) / 2)


def test_standard_errors_match_numpy_on_per_sample_values():
    rng = np.random.default_rng(3)
    rows = [
        (rng.integers(0, 3, size=6).astype(float), int(rng.integers(6)), rng.normal(size=4), int(rng.integers(4)))
        for _ in range(40)
    ]
    acc = MetricAccumulator()
    for scores, gold, logits, emotion in rows:
        acc.add(scores, gold, logits, emotion)
    se = acc.stderr()
    for key in ("recall@1", "recall@3", "mrr", "map@5"):
        values = np.array([brute_force(list(s), g)[key] for s, g, _, _ in rows])
        assert se[key] == pytest.approx(values.std(ddof=1) / math.sqrt(len(values)), rel=1e-9)
    hits = np.array([float(np.argmax(lg) == e) for _, _, lg, e in rows])
    assert se["emotion_acc"] == pytest.approx(hits.std(ddof=1) / math.sqrt(len(hits)), rel=1e-9)


def test_standard_error_is_zero_for_identical_samples_and_undefined_for_one():
    acc = MetricAccumulator()
    acc.add([2.0, 1.0], 0)
    assert acc.stderr()["mrr"] is None and acc.stderr()["emotion_acc"] is None
    acc.add([2.0, 1.0], 0)
    assert acc.stderr()["recall@1"] == 0.0
