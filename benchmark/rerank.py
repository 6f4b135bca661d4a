"""How a run with ``--candidates all`` (and ``--shortlist MODEL:K``) feeds each plan its candidates.

The first stage is scored on the full pool like any selector; every other selector of
``--models`` becomes a reranker named ``NAME@MODEL:K`` and scores only the shortlists read from
the first stage's predictions (its first training seed's, when it has several). A reranker's
identity records the first stage's predictions file (sha256), so a re-scored first stage never
silently keeps rerankings of the old one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmark.candidates import CandidateManifest
from benchmark.errors import BenchmarkError
from benchmark.evaluator import RankingFields
from benchmark.io import read_jsonl
from benchmark.planning import PlannedSelector
from benchmark.pool import ALL, Shortlist, boundary_tie, pool_fields, reranked_fields, shortlist_sets
from benchmark.results import RunResults
from benchmark.types import CandidateSet, Sample


def arrange_plans(
    plans: Sequence[PlannedSelector], shortlist: Shortlist | None, previous: RunResults | None, splits: list[str]
) -> list[PlannedSelector]:
    """The plans with every selector but the first stage turned into a reranker, first stage first."""
    if shortlist is None:
        return list(plans)
    first = [p for p in plans if p.spec.key == shortlist.first_stage]
    done = previous is not None and all(split in previous.complete_splits(shortlist.first_stage) for split in splits)
    if not first and not done:
        raise BenchmarkError(
            f"--shortlist {shortlist.first_stage}:{shortlist.k}: {shortlist.first_stage!r} is neither in --models "
            "nor finished on every split in this run directory; add it to --models"
        )
    rerankers = [
        replace(p, spec=replace(p.spec, key=shortlist.name(p.spec.key)), shortlist=shortlist)
        for p in plans
        if p.spec.key != shortlist.first_stage
    ]
    return first + rerankers


def _first_stage_file(results: RunResults, shortlist: Shortlist, split: str, out: Path) -> Path | None:
    result = results.complete_splits(shortlist.first_stage).get(split)
    return None if result is None else out / result.predictions


def first_stage_sha(plan: PlannedSelector, results: RunResults, split: str, out: Path) -> str | None:
    """sha256 of a reranker's first-stage predictions of ``split`` (``None`` when not a reranker or
    not scored yet)."""
    if plan.shortlist is None:
        return None
    path = _first_stage_file(results, plan.shortlist, split, out)
    return None if path is None or not path.exists() else hashlib.sha256(path.read_bytes()).hexdigest()


def split_inputs(
    plan: PlannedSelector,
    results: RunResults,
    manifest: CandidateManifest,
    samples: Sequence[Sample],
    out: Path,
) -> tuple[list[CandidateSet], RankingFields | None, dict | None]:
    """The candidate sets a plan scores on a split, how its rows rank, and a reranker's stages."""
    by_id = manifest.by_sample()
    if plan.shortlist is None:
        sets = [by_id[s.sample_id] for s in samples]
        if manifest.strategy != ALL:
            return sets, None, None
        return sets, lambda sample, cands, scores: pool_fields(scores, cands), None
    shortlist = plan.shortlist
    path = _first_stage_file(results, shortlist, manifest.split, out)
    if path is None:
        raise BenchmarkError(
            f"{plan.label}: the first stage {shortlist.first_stage!r} has no finished {manifest.split!r}"
        )
    first_rows = {row["sample_id"]: row for _, row in read_jsonl(path)}
    sets = shortlist_sets(first_rows, samples, shortlist.k)
    first = results.complete_splits(shortlist.first_stage)[manifest.split]
    stages = {
        "first_stage": {
            "model": shortlist.first_stage,
            "seconds": first.seconds,
            "pairs_scored": len(samples) * manifest.num_candidates,
        },
        "rerank": {"k": shortlist.k, "pairs_scored": sum(len(c.candidates) for c in sets)},
        "boundary_ties": sum(boundary_tie(first_rows[s.sample_id], shortlist.k) for s in samples),
    }

    def ranking(sample: Sample, cands: CandidateSet, scores) -> dict:
        return reranked_fields(first_rows[sample.sample_id], cands, scores, sample.gold)

    return sets, ranking, stages
