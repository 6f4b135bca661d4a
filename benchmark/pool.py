"""Full-pool retrieval (``--candidates all``) and retrieve-then-rerank (``--shortlist MODEL:K``).

With ``--candidates all`` every sticker of the dataset is a candidate of every sample. The
manifest holds the pool once (its first line, ``{"pool": [...]}``) and then one
``{"sample_id", "gold"}`` line per sample; its fingerprint is the sha256 of the line
``candidates: all`` followed by that text, so it covers the pool. A predictions row keeps what
recomputes every metric without |pool| scores: the gold's rank range ``gold_rank`` (``[low,
high]``: ties count as expected values, so a constant scorer gets exactly ``1/|pool|``), its
score, and the top :data:`TOP_KEPT` ids and scores.

A shortlist reranks: selector B scores only the first stage A's top K (taken from A's rows, in
A's order, ties in A's stable order), and the stickers outside the shortlist keep A's order
below it. B's row then records the shortlist, B's K scores and the gold's rank range in that
combined ranking. Since every sticker of the shortlist is ranked above every other one, B's
recall@K is exactly 1 when A put the gold in its top K and 0 otherwise, which is A's recall@K
whenever no tie of A's scores straddles the K-th place (a tie there is broken by A's row order;
results count such samples as ``boundary_ties``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchmarkError, DataError
from benchmark.io import read_jsonl
from benchmark.metrics import RankRange
from benchmark.types import CandidateSet, Sample

ALL = "all"
TOP_KEPT = 100  # ids and scores a full-pool row keeps; the largest K a shortlist can take


def pool_sets(samples: Sequence[Sample], pool: Sequence[str]) -> list[CandidateSet]:
    """Every sticker for every sample: one shared tuple (a 7k-sample split holds no 7k copies)."""
    shared = tuple(sorted(set(pool)))
    return [CandidateSet(s.sample_id, shared, s.gold) for s in samples]


def pool_manifest_text(sets: Sequence[CandidateSet]) -> str:
    head = json.dumps({"pool": list(sets[0].candidates) if sets else []}, separators=(",", ":")) + "\n"
    return head + "".join(
        json.dumps({"sample_id": c.sample_id, "gold": c.gold}, separators=(",", ":")) + "\n" for c in sets
    )


def pool_fingerprint(text: str) -> str:
    return hashlib.sha256(("candidates: all\n" + text).encode()).hexdigest()


def load_pool_manifest(path: Path) -> list[CandidateSet]:
    rows = iter(read_jsonl(path))
    try:
        _, head = next(rows)
        pool = tuple(map(str, head["pool"]))
        return [CandidateSet(str(r["sample_id"]), pool, None if r["gold"] is None else str(r["gold"])) for _, r in rows]
    except (StopIteration, KeyError, TypeError) as exc:
        raise DataError(f"{path}: a full-pool manifest is a pool line, then sample_id/gold lines ({exc})") from None


def _top(scores: np.ndarray, ids: Sequence[str], k: int) -> tuple[list[str], list[float]]:
    """The ``k`` best in descending score, ties in candidate order (one partial sort, not a full one)."""
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    # order the kept ones by (-score, index); the boundary tie is resolved by index as a stable sort would
    threshold = scores[part].min()
    inside = np.flatnonzero(scores > threshold)
    tied = np.flatnonzero(scores == threshold)[: k - inside.size]
    keep = np.concatenate([inside, tied])
    order = keep[np.lexsort((keep, -scores[keep]))]
    return [ids[i] for i in order], [float(scores[i]) for i in order]


def pool_fields(scores: np.ndarray, cands: CandidateSet) -> dict:
    """The ranking part of a full-pool row (see the module docstring)."""
    top_ids, top_scores = _top(scores, cands.candidates, TOP_KEPT)
    fields = {"pool": len(cands.candidates), "top_ids": top_ids, "top_scores": top_scores}
    if cands.gold is None:
        return {**fields, "gold_rank": None, "gold_score": None}
    gold = cands.gold_index
    r = RankRange.of(scores, gold)
    return {**fields, "gold_rank": [r.low, r.high], "gold_score": float(scores[gold])}


@dataclass(frozen=True)
class Shortlist:
    """``--shortlist MODEL:K``: rerank the top ``k`` of ``first_stage``."""

    first_stage: str
    k: int

    @classmethod
    def parse(cls, text: str) -> "Shortlist":
        model, _, k = text.rpartition(":")
        if not model or not k.isdigit() or not 1 <= int(k) <= TOP_KEPT:
            raise BenchmarkError(f"--shortlist {text!r}: write MODEL:K with K from 1 to {TOP_KEPT}, e.g. clip:20")
        return cls(model, int(k))

    def name(self, model: str) -> str:
        """The reranked row's name in results and leaderboards."""
        return f"{model}@{self.first_stage}:{self.k}"


def shortlist_sets(first_rows: Mapping[str, dict], samples: Sequence[Sample], k: int) -> list[CandidateSet]:
    """Each sample's shortlist, from the first stage's rows; ``gold`` is set only when it made it."""
    sets = []
    for sample in samples:
        row = first_rows.get(sample.sample_id)
        if row is None or "top_ids" not in row:
            raise DataError(
                f"sample {sample.sample_id}: the first stage has no full-pool row for it; score the first stage "
                "with --candidates all first"
            )
        short = tuple(row["top_ids"][:k])
        sets.append(CandidateSet(sample.sample_id, short, sample.gold if sample.gold in short else None))
    return sets


def reranked_fields(first: dict, cands: CandidateSet, scores: np.ndarray, gold: str | None) -> dict:
    """The ranking part of a reranked row: the shortlist, the reranker's scores and the gold's rank
    range in the combined ranking (shortlist by the reranker, then the first stage's order)."""
    k = len(cands.candidates)
    order = np.argsort(-scores, kind="stable")
    top_ids = [cands.candidates[i] for i in order] + list(first["top_ids"][k:])
    top_scores = [float(scores[i]) for i in order] + list(first["top_scores"][k:])
    fields = {
        "pool": first["pool"],
        "shortlist": list(cands.candidates),
        "scores": [float(s) for s in scores],
        "top_ids": top_ids,
        "top_scores": top_scores,  # the reranker's scores for the shortlist, the first stage's below it
        "gold_score": None,
    }
    if gold is None:
        return {**fields, "gold_rank": None}
    if gold in cands.candidates:
        r = RankRange.of(scores, cands.candidates.index(gold))
        return {**fields, "gold_rank": [r.low, r.high], "gold_score": float(scores[cands.candidates.index(gold)])}
    low, high = first["gold_rank"]
    short_scores = np.asarray(first["top_scores"][:k])
    above, at_least = int((short_scores > first["gold_score"]).sum()), int((short_scores >= first["gold_score"]).sum())
    return {**fields, "gold_rank": [k + low - above, k + high - at_least]}


def boundary_tie(first: dict, k: int) -> bool:
    """Whether the first stage's gold was tied across the K-th place (its shortlist then took the
    tied stickers in row order, so recall@K is 0 or 1 where the first stage's is fractional)."""
    rank = first.get("gold_rank")
    return rank is not None and rank[0] <= k < rank[1]
