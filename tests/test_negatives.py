"""Matched negatives: draws that follow the split's gold frequency, a context-blind scorer at
chance, uniform sets exactly as before, and the strategy carried into fingerprints and results."""

import itertools
import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from benchmark.candidates import build_manifest, fingerprint_of, manifest_text, sampled_candidates
from benchmark.errors import BenchmarkError, DataError
from benchmark.metrics import sample_metrics
from benchmark.negatives import MatchedDesign, _inclusion, solve_weights
from benchmark.results import CandidateInfo, _Reader
from benchmark.run_config import RunConfig
from benchmark.selector import TrainConfig
from benchmark.types import Dataset, Sample, Utterance
from stickerbench.adapters.popularity import PopularitySelector

ROOT = Path(__file__).resolve().parents[1]


def _split(golds, prefix="d"):
    return [Sample(f"{prefix}{k}", (Utterance("A", f"hi {k}"),), "B", g) for k, g in enumerate(golds)]


def _zipf_golds(n, stickers, seed):
    """``n`` golds over the first ``stickers`` of a 60-sticker pool, skewed (the rest never gold)."""
    rng = random.Random(seed)
    weights = [1 / (i + 8) for i in range(stickers)]  # the commonest under 7% of the golds
    return [f"s{i:02d}" for i in rng.choices(range(stickers), weights=weights, k=n)]


POOL = [f"s{i:02d}" for i in range(60)]


def test_uniform_sets_and_fingerprints_are_those_of_the_code_before_negatives():
    # Computed with the harness before --negatives existed, on this very split.
    pool = [f"s{i:02d}" for i in range(30)]
    golds = ["s00", "s00", "s00", "s01", "s01", "s02", "s03", "s05", "s08", "s13", "s21", "s00"]
    samples = _split(golds)
    small = build_manifest("test", samples, pool, "sampled", 5, 3, negatives="uniform")
    assert small.fingerprint == "91f62cb42466c0a590f3ad355d22bec5f7f7338dd73b89d970a6105ad9bae9b5"
    assert [c.candidates for c in small.sets[:2]] == [
        ("s00", "s03", "s13", "s24", "s02"),
        ("s08", "s29", "s22", "s04", "s00"),
    ]
    ten = build_manifest("test", samples, pool, "sampled", 10, 0, negatives="uniform")
    assert ten.fingerprint == "55dcfdba137630d40ae7b095c4ba59c3860b81502a294e977d6134612a881110"
    assert small.negatives == "uniform"
    matched = build_manifest("test", samples, pool, "sampled", 5, 3)
    assert matched.negatives == "matched" and matched.fingerprint != small.fingerprint


def test_the_strategy_is_hashed_even_when_the_sets_coincide():
    text = manifest_text(build_manifest("t", _split(["s01", "s02"]), POOL, "sampled", 3).sets)
    assert fingerprint_of(text, "matched") != fingerprint_of(text, "uniform") == fingerprint_of(text, None)


def test_official_sets_have_no_negatives_strategy():
    samples = [Sample("t/0", (), "a", "0", meta={"official_candidates": ("3", "0", "9")})]
    assert build_manifest("t", samples, [], "official", negatives="uniform").negatives is None


def test_matched_sets_exclude_the_gold_repeat_nothing_and_draw_only_golds_of_the_split():
    golds = _zipf_golds(800, 40, seed=1)
    used = set(golds)
    for c in sampled_candidates(_split(golds), POOL, 10, seed=0):
        assert len(c.candidates) == len(set(c.candidates)) == 10
        assert c.candidates.count(c.gold) == 1
        assert set(c.candidates) <= used  # 40 distinct golds: no never-gold sticker is needed


def test_weights_give_the_asked_inclusion_probabilities():
    targets = np.array([0.9, 0.7, 0.5, 0.4, 0.3, 0.2])
    weights = solve_weights(targets)
    exact = np.zeros(6)
    for subset in itertools.combinations(range(6), 3):
        exact[list(subset)] += np.prod(weights[list(subset)])
    total = sum(np.prod(weights[list(s)]) for s in itertools.combinations(range(6), 3))
    np.testing.assert_allclose(exact / total, targets, atol=1e-9)
    np.testing.assert_allclose(_inclusion(weights, 3), targets, atol=1e-9)


COUNTS = {"a": 6, "b": 5, "c": 4, "d": 4, "e": 3, "f": 3, "g": 2, "h": 2, "i": 1}  # 30 golds; N * p < 1


def _exact_negatives(design, gold):
    """P(negatives | gold) of the design, by enumerating every set."""
    others = [s for s in design.stickers if s != gold]
    w = dict(zip(design.stickers, design.weights))
    mass = {frozenset(c): math.prod(w[s] for s in c) for c in itertools.combinations(others, design.places - 1)}
    total = sum(mass.values())
    return {c: m / total for c, m in mass.items()}


def test_given_the_set_the_gold_is_uniform_so_any_context_blind_scorer_is_at_chance():
    design = MatchedDesign(COUNTS, list(COUNTS) + ["never"], 4)
    assert design.certain == () and design.places == 4
    n = sum(COUNTS.values())
    joint = Counter()
    for gold, count in COUNTS.items():
        for negatives, p in _exact_negatives(design, gold).items():
            joint[(negatives | {gold}, gold)] += count / n * p
    by_set = Counter()
    for (s, _), p in joint.items():
        by_set[s] += p
    for (s, _), p in joint.items():
        assert p == pytest.approx(by_set[s] / 4, abs=1e-9)  # P(gold = g | S) = 1/N


def test_the_sampler_draws_the_designs_sets():
    design = MatchedDesign(COUNTS, list(COUNTS), 4)
    exact = _exact_negatives(design, "c")
    draws = 6000
    seen = Counter(
        frozenset(design.negatives("c", 3, np.random.default_rng([7, k]))) for k in range(draws)
    )  # fixed seeds: the test is deterministic
    assert set(seen) <= set(exact)
    chi2 = sum((seen[c] - draws * p) ** 2 / (draws * p) for c, p in exact.items())
    dof = len(exact) - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof), chi2


def test_each_sticker_is_a_negative_n_minus_1_times_as_often_as_it_is_a_gold():
    golds = _zipf_golds(3000, 40, seed=2)
    gold_counts = Counter(golds)
    negatives = Counter()
    for c in sampled_candidates(_split(golds), POOL, 5, seed=0):
        negatives.update(s for s in c.candidates if s != c.gold)
    assert set(negatives) <= set(gold_counts)
    expected = {s: 4 * k for s, k in gold_counts.items()}
    # Each count is a sum of independent draws with variance at most its mean: chi2 has mean <= dof.
    chi2 = sum((negatives[s] - e) ** 2 / e for s, e in expected.items())
    dof = len(expected) - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof), chi2


def _mean_r1(sets, score):
    values = [sample_metrics([score(s) for s in c.candidates], c.gold_index)["recall@1"] for c in sets]
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(len(values)))


def test_popularity_sits_at_chance_on_matched_sets_and_above_it_on_uniform_ones():
    """``popularity`` (fit on a train split of the same distribution) and the test split's own gold
    counts, the best any context-blind scorer can know, both expect exactly 1/N on matched sets."""
    train = _split(_zipf_golds(3000, 45, seed=3), prefix="train")
    test = _split(_zipf_golds(3000, 45, seed=4), prefix="test")
    data = Dataset(name="zipf", splits={"train": train, "test": test}, stickers=None, emotion_names=())
    popularity = PopularitySelector()
    popularity.fit(data, TrainConfig())
    own = Counter(s.gold for s in test)
    matched = sampled_candidates(test, POOL, 10, seed=0)
    for score in (lambda s: popularity.counts.get(s, 0), own.__getitem__):
        mean, se = _mean_r1(matched, score)
        assert abs(mean - 0.1) < 4 * se, (mean, se)  # se is about 0.5 points here
    mean, se = _mean_r1(sampled_candidates(test, POOL, 10, seed=0, negatives="uniform"), popularity.counts.get)
    assert mean > 0.1 + 10 * se, (mean, se)


def test_matched_sets_survive_reordering_and_sharding_with_the_splits_gold_counts():
    samples = _split(_zipf_golds(300, 30, seed=5))
    full = {c.sample_id: c for c in sampled_candidates(samples, POOL, 10, seed=1)}
    assert all(full[c.sample_id] == c for c in sampled_candidates(samples[::-1], POOL[::-1], 10, seed=1))
    counts = Counter(s.gold for s in samples)
    shard = sampled_candidates(samples[100:150], POOL, 10, seed=1, gold_counts=counts)
    assert all(full[c.sample_id] == c for c in shard)
    with pytest.raises(DataError, match="does not count its gold"):
        sampled_candidates(samples[:1], POOL, 10, gold_counts={"zz": 1})


def test_a_sticker_gold_in_over_1_in_n_samples_is_in_every_set():
    golds = ["s00"] * 30 + _zipf_golds(70, 40, seed=6)  # s00 is the gold of over 30% of the split
    sets = sampled_candidates(_split(golds), POOL, 10, seed=0)
    assert all("s00" in c.candidates for c in sets)


def test_too_few_distinct_golds_puts_every_gold_in_every_set_and_fills_from_the_others():
    golds = ["s01", "s02", "s03", "s01"]
    for c in sampled_candidates(_split(golds), POOL, 10, seed=0):
        assert {"s01", "s02", "s03"} <= set(c.candidates) and len(set(c.candidates)) == 10


def test_run_config_validates_negatives_and_names_uniform_output_directories():
    with pytest.raises(BenchmarkError, match="--negatives 'bogus'"):
        RunConfig(models=[], negatives="bogus").validate()
    assert str(RunConfig(models=[], negatives="uniform").output_dir()) == "runs/mojichat-sampled10-uniform-seed0"
    assert str(RunConfig(models=[]).output_dir()) == "runs/mojichat-sampled10-seed0"


def test_results_written_before_negatives_existed_read_as_uniform():
    old = {"fingerprint": "f", "num_candidates": 10, "seed": 0, "strategy": "sampled", "manifest": "m"}
    assert CandidateInfo.from_json(old, _Reader("r"), "c").negatives == "uniform"
    official = {**old, "strategy": "official"}
    assert CandidateInfo.from_json(official, _Reader("r"), "c").negatives is None
    assert CandidateInfo.from_json({**old, "negatives": "matched"}, _Reader("r"), "c").negatives == "matched"


def _run(data_dir, out, models, *extra):
    args = ["run", "--dataset", "mod", "--data-dir", str(data_dir), "--candidates", "sampled", "--output", str(out)]
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args, "--no-progress", "--models", models, *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=300,
    )


def test_cli_negatives_reach_results_and_leaderboard_and_a_resume_with_others_is_refused(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    proc = _run(mini_mod_dir, out, "random,popularity", "--negatives", "uniform")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert {c["negatives"] for c in results["candidates"].values()} == {"uniform"}
    assert "(sampled, uniform negatives, seed 0)" in (out / "leaderboard.md").read_text()
    again = _run(mini_mod_dir, out, "random,popularity")  # default: matched
    assert again.returncode != 0 and "--negatives uniform → matched" in again.stderr, again.stderr
    matched = tmp_path / "matched"
    assert _run(mini_mod_dir, matched, "random").returncode == 0
    assert {c["negatives"] for c in json.loads((matched / "results.json").read_text())["candidates"].values()} == {
        "matched"
    }
