"""Candidate sets: reproducible per sample, gold shuffled uniformly, official sets checked."""

from collections import Counter

import pytest

from benchmark.candidates import build_manifest, load_manifest, official_candidates, sampled_candidates, write_manifest
from benchmark.errors import DataError
from benchmark.types import Sample, Utterance


def _samples(n, gold=lambda i: str(i % 7)):
    return [Sample(f"s{i}", (Utterance("a", "hi"),), "a", gold(i)) for i in range(n)]


POOL = [str(i) for i in range(20)]


def test_sets_contain_gold_once_and_are_distinct():
    for c in sampled_candidates(_samples(50), POOL, num_candidates=10, seed=3):
        assert len(c.candidates) == 10
        assert len(set(c.candidates)) == 10
        assert c.candidates.count(c.gold) == 1


def test_per_sample_seeding_survives_subsetting_and_reordering():
    # Uniform sets survive any subset; matched ones depend on the split's gold counts too
    # (tests/test_negatives.py checks that they survive reordering and sharding).
    samples = _samples(40)
    full = {c.sample_id: c for c in sampled_candidates(samples, POOL, 10, seed=1, negatives="uniform")}
    subset = sampled_candidates(list(reversed(samples[5:25])), list(reversed(POOL)), 10, seed=1, negatives="uniform")
    for c in subset:
        assert c == full[c.sample_id]
    other_seed = {c.sample_id: c for c in sampled_candidates(samples, POOL, 10, seed=2, negatives="uniform")}
    assert sum(other_seed[k] != full[k] for k in full) > 30


def test_gold_position_is_uniform():
    sets = sampled_candidates(_samples(5000), POOL, num_candidates=10, seed=0)
    positions = Counter(c.gold_index for c in sets)
    assert set(positions) == set(range(10))
    # Each position expects 500; a fixed position (the public-code bug) would give 5000 at one.
    assert all(420 < v < 580 for v in positions.values()), positions


def test_manifest_fingerprint_is_stable_and_roundtrips(tmp_path):
    samples = _samples(30)
    a = build_manifest("test", samples, POOL, "sampled", 10, seed=0)
    b = build_manifest("test", samples, POOL, "sampled", 10, seed=0)
    c = build_manifest("test", samples, POOL, "sampled", 10, seed=1)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    path = write_manifest(a, tmp_path)
    assert path.name == "test.jsonl"
    assert tuple(load_manifest(path)) == a.sets
    import hashlib

    # A matched manifest's fingerprint is the file's sha256 after a line naming the strategy.
    assert hashlib.sha256(b"negatives: matched\n" + path.read_bytes()).hexdigest() == a.fingerprint
    u = build_manifest("test", samples, POOL, "sampled", 10, seed=0, negatives="uniform")
    assert hashlib.sha256(write_manifest(u, tmp_path).read_bytes()).hexdigest() == u.fingerprint


def test_official_gold_missing_is_an_error_naming_the_sample():
    samples = [Sample("test_easy/7", (), "a", "5", meta={"official_candidates": ("1", "2", "3")})]
    with pytest.raises(DataError, match=r"test_easy/7.*gold sticker '5' is not in its official candidate set"):
        official_candidates(samples, "test_easy")


def test_official_sets_used_as_is():
    samples = [Sample("t/0", (), "a", "0", meta={"official_candidates": ("3", "0", "9")})]
    assert official_candidates(samples, "t")[0].candidates == ("3", "0", "9")


def test_too_few_stickers_is_an_error():
    with pytest.raises(DataError, match="lower --num-candidates"):
        sampled_candidates(_samples(1), ["0", "1", "2"], num_candidates=10)
