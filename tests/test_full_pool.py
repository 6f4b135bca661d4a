"""``--candidates all`` and ``--shortlist MODEL:K``: every sticker ranked, ties exact, and a
reranker that keeps its first stage's recall@K exactly."""

import json

import numpy as np
import pytest

from benchmark.candidates import build_manifest, load_manifest, write_manifest
from benchmark.datasets.mod import load_mod
from benchmark.metrics import RankRange
from benchmark.pool import TOP_KEPT, _top, reranked_fields
from benchmark.types import CandidateSet


def test_top_equals_a_stable_full_sort_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 6, size=int(rng.integers(1, 300))).astype(float)
        ids = [f"s{i}" for i in range(scores.size)]
        order = np.argsort(-scores, kind="stable")[:TOP_KEPT]
        top_ids, top_scores = _top(scores, ids, TOP_KEPT)
        assert top_ids == [ids[i] for i in order]
        assert top_scores == [float(scores[i]) for i in order]


def _brute_force_combined(first_scores, rerank_scores, shortlist_idx, gold):
    """Gold's rank range in: shortlist by the reranker (ties expected), then the rest by the first stage."""
    k = len(shortlist_idx)
    if gold in shortlist_idx:
        r = RankRange.of(rerank_scores, shortlist_idx.index(gold))
        return [r.low, r.high]
    rest = [i for i in range(len(first_scores)) if i not in shortlist_idx]
    r = RankRange.of(first_scores[rest], rest.index(gold))
    return [k + r.low, k + r.high]


def test_reranked_rank_ranges_match_a_brute_force_combined_ranking():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(2, 150))
        first_scores = rng.integers(0, 8, size=n).astype(float)
        ids = tuple(f"s{i}" for i in range(n))
        gold = int(rng.integers(0, n))
        r = RankRange.of(first_scores, gold)
        top_ids, top_scores = _top(first_scores, ids, TOP_KEPT)
        first = {
            "pool": n,
            "top_ids": top_ids,
            "top_scores": top_scores,
            "gold_rank": [r.low, r.high],
            "gold_score": float(first_scores[gold]),
        }
        k = int(rng.integers(1, min(n, 100) + 1))
        shortlist = tuple(top_ids[:k])
        rerank = rng.integers(0, 4, size=k).astype(float)
        got = reranked_fields(first, CandidateSet("x", shortlist, None), rerank, ids[gold])
        expected = _brute_force_combined(first_scores, rerank, [ids.index(s) for s in shortlist], gold)
        assert got["gold_rank"] == expected


def test_the_pool_manifest_holds_the_pool_once_and_round_trips(mini_mod_dir, tmp_path):
    dataset = load_mod(mini_mod_dir)
    samples = dataset.split("test_easy")
    manifest = build_manifest("test_easy", samples, list(dataset.stickers), "all")
    sampled = build_manifest("test_easy", samples, list(dataset.stickers), "sampled")
    assert manifest.num_candidates == len(dataset.stickers) and manifest.fingerprint != sampled.fingerprint
    assert len({id(c.candidates) for c in manifest.sets}) == 1  # one shared tuple
    path = write_manifest(manifest, tmp_path)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"pool": sorted(dataset.stickers)}
    assert all(set(json.loads(line)) == {"sample_id", "gold"} for line in lines[1:])
    assert load_manifest(path) == list(manifest.sets)


@pytest.fixture
def pool_run(mini_mod_dir, tmp_path):
    from test_train_seeds import run

    out = tmp_path / "pool"
    proc = run(mini_mod_dir, out, "--candidates", "all", models="constant,seeded,random")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads((out / "results.json").read_text())


def test_a_constant_scorer_gets_exactly_chance_on_the_full_pool(pool_run, mini_mod_dir):
    out, res = pool_run
    n = len(load_mod(mini_mod_dir).stickers)
    metrics = res["models"]["constant"]["splits"]["test_easy"]["metrics"]
    assert set(metrics) >= {"recall@1", "recall@5", "recall@10", "recall@20", "mrr", "map@5"}
    assert metrics["recall@1"] == pytest.approx(1 / n, abs=1e-12)
    assert metrics["recall@10"] == pytest.approx(min(10, n) / n, abs=1e-12)
    assert metrics["mrr"] == pytest.approx(sum(1 / r for r in range(1, n + 1)) / n, abs=1e-12)
    assert res["candidates"]["test_easy"]["strategy"] == "all"
    board = (out / "leaderboard.md").read_text()
    assert "R@10" in board and "R@20" in board and "Full pool" in board
    report = (out / "report.html").read_text()  # the report reads full-pool rows too
    assert "constant" in report and "Case studies" in report


def test_full_pool_rows_keep_the_top_and_the_gold_rank_not_every_score(pool_run, tmp_path):
    from test_train_seeds import cli, rows

    out, res = pool_run
    split = res["models"]["seeded"]["splits"]["test_easy"]
    for row in rows(out / split["predictions"]):
        assert "scores" not in row and "candidates" not in row
        assert len(row["top_ids"]) == min(TOP_KEPT, row["pool"]) and row["predicted"] == row["top_ids"][0]
        low, high = row["gold_rank"]
        assert 1 <= low <= high <= row["pool"]
    proc = cli("rescore", str(out))
    assert proc.returncode == 0 and "already what the predictions give" in proc.stdout, proc.stdout + proc.stderr


def test_a_shortlist_reranker_keeps_the_first_stages_recall_at_k_exactly(pool_run, mini_mod_dir):
    from test_train_seeds import rows, run

    out, res = pool_run
    proc = run(mini_mod_dir, out, "--candidates", "all", "--shortlist", "seeded:5", models="random")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((out / "results.json").read_text())
    reranked = res["models"]["random@seeded:5"]["splits"]["test_easy"]
    first = res["models"]["seeded"]["splits"]["test_easy"]
    assert reranked["stages"]["boundary_ties"] == 0  # seeded's scores are continuous
    assert reranked["metrics"]["recall@5"] == pytest.approx(first["metrics"]["recall@5"], abs=1e-12)
    assert reranked["identity"]["shortlist"]["first_stage"] == "seeded"
    assert reranked["stages"]["rerank"]["pairs_scored"] == 5 * reranked["n"]
    first_rows = {r["sample_id"]: r for r in rows(out / first["predictions"])}
    for row in rows(out / reranked["predictions"]):
        assert row["shortlist"] == first_rows[row["sample_id"]]["top_ids"][:5]
        assert set(row["top_ids"][5:]) == set(first_rows[row["sample_id"]]["top_ids"][5:])


def test_shortlist_errors_are_one_line(mini_mod_dir, tmp_path):
    from test_train_seeds import run

    proc = run(mini_mod_dir, tmp_path / "x", "--shortlist", "seeded:5", models="random")
    assert proc.returncode != 0 and "add --candidates all" in proc.stderr, proc.stderr
    proc = run(mini_mod_dir, tmp_path / "y", "--candidates", "all", "--shortlist", "clip:5", models="random")
    assert proc.returncode != 0 and "'clip' is neither in --models" in proc.stderr, proc.stderr
    proc = run(mini_mod_dir, tmp_path / "z", "--candidates", "all", "--shortlist", "seeded:500", models="random")
    assert proc.returncode != 0 and "K from 1 to 100" in proc.stderr, proc.stderr
