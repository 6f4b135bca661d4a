"""The project's metrics against an established implementation (ir_measures, trec_eval semantics).

On tie-free rankings with one relevant sticker per sample both must agree exactly: recall@k is
trec_eval's Success@k, MRR its RR, and MAP@5 (DSTC10's "MAP", MRR truncated at 5) its RR@5.
On ties they deliberately differ: trec_eval breaks a tie by document id (descending), while this project
counts every rank the tie allows as equally likely (so a constant scorer gets exactly chance).
"""

import ir_measures
import numpy as np
import pytest
from ir_measures import RR, Qrel, ScoredDoc, Success

from benchmark.metrics import compute_metrics


def _rankings(n_queries=300, n_candidates=11, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.permutation(np.arange(n_queries * n_candidates, dtype=float)).reshape(n_queries, n_candidates)
    golds = rng.integers(0, n_candidates, n_queries)
    return scores, golds


def _theirs(scores, golds, measures):
    qrels = [Qrel(f"q{i}", f"d{g}", 1) for i, g in enumerate(golds)]
    run = [ScoredDoc(f"q{i}", f"d{j}", float(s)) for i, row in enumerate(scores) for j, s in enumerate(row)]
    return ir_measures.calc_aggregate(measures, qrels, run)


@pytest.mark.parametrize("seed", [0, 1])
def test_tie_free_rankings_agree_with_trec_eval_semantics(seed):
    scores, golds = _rankings(seed=seed)
    ours = compute_metrics([(row, int(g), None, None) for row, g in zip(scores, golds)])
    theirs = _theirs(scores, golds, [Success @ 1, Success @ 3, Success @ 5, RR, RR @ 5])
    assert ours["recall@1"] == pytest.approx(theirs[Success @ 1], abs=1e-12)
    assert ours["recall@3"] == pytest.approx(theirs[Success @ 3], abs=1e-12)
    assert ours["recall@5"] == pytest.approx(theirs[Success @ 5], abs=1e-12)
    assert ours["mrr"] == pytest.approx(theirs[RR], abs=1e-12)
    assert ours["map@5"] == pytest.approx(theirs[RR @ 5], abs=1e-12)


def test_on_ties_expected_ranks_differ_from_a_tie_break_by_id():
    scores = np.zeros((200, 10))  # a constant scorer: every candidate ties
    golds = np.full(200, 9)  # and the gold is always the candidate trec_eval puts first (docno d9)
    ours = compute_metrics([(row, int(g), None, None) for row, g in zip(scores, golds)])
    theirs = _theirs(scores, golds, [Success @ 1])
    assert ours["recall@1"] == pytest.approx(0.1, abs=1e-12)  # exactly chance, wherever the gold sits
    assert theirs[Success @ 1] == 1.0  # trec_eval's tie order by docno decides instead
