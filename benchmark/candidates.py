"""Candidate sets: the same stickers for every selector, reproducible by anyone.

A sampled set is the gold and N - 1 negatives, drawn in one of two ways (``NEGATIVES``):

* ``matched`` (the default): negatives follow how often each sticker is a gold in the split
  being built, the sample's own gold excluded, so that a scorer which never reads the dialogue
  sits at chance; :mod:`benchmark.negatives` says how, and what happens when a split has too
  few distinct golds (the rest of a set is filled uniformly from stickers that are never a gold);
* ``uniform``: negatives drawn uniformly from the pool, as before ``matched`` existed. Never-used
  stickers are then easy to rule out, and the context-blind ``popularity`` is above chance.

A set depends only on (seed, sample id, gold, sticker pool, N, negatives) and, for ``matched``,
the split's gold counts: each sample has its own RNG, so reordering a split, or sharding it
(each shard handed the whole split's ``gold_counts``), never changes a sample's set; uniform sets
also survive subsetting. The gold's position is drawn uniformly. The fingerprint is the sha256 of
the manifest file (uniform and official sets) or of the line ``negatives: matched`` followed by
the file, so that sets drawn another way never share a fingerprint; results and leaderboards
carry it so that numbers from different sets are never compared.

A *blind* split (released test files with empty answers; ``Sample.gold is None``) has only its
official sets: a sampled set is drawn around the gold, and drawing it around anything else would
make up an answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchmarkError, DataError
from benchmark.io import atomic_write_text, read_jsonl
from benchmark.negatives import MatchedDesign
from benchmark.pool import ALL, load_pool_manifest, pool_fingerprint, pool_manifest_text, pool_sets
from benchmark.types import CandidateSet, Dataset, Sample

log = logging.getLogger("stickerbench")

STRATEGIES = ("sampled", "official", "all")
NEGATIVES = ("matched", "uniform")
OFFICIAL_KEY = "official_candidates"


@dataclass(frozen=True)
class CandidateManifest:
    """The candidate sets of one split and the facts that identify them."""

    split: str
    sets: tuple[CandidateSet, ...]
    strategy: str
    seed: int
    num_candidates: int
    fingerprint: str
    negatives: str | None = None  # how a sampled set's negatives were drawn; None for official sets

    def by_sample(self) -> dict[str, CandidateSet]:
        return {c.sample_id: c for c in self.sets}


def _sample_rng(seed: int, sample_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"stickerbench-candidates:{seed}:{sample_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def sampled_candidates(
    samples: Sequence[Sample],
    pool: Sequence[str],
    num_candidates: int = 10,
    seed: int = 0,
    negatives: str = "matched",
    gold_counts: Mapping[str, int] | None = None,
) -> list[CandidateSet]:
    """Gold + ``num_candidates - 1`` negatives from ``pool``, gold shuffled in.

    ``negatives``: ``matched`` (in step with each sticker's count as a gold in ``gold_counts``,
    by default those of ``samples``; see the module docstring) or ``uniform``.
    """
    if num_candidates < 2:
        raise DataError(f"--num-candidates must be at least 2, got {num_candidates}")
    if negatives not in NEGATIVES:
        raise DataError(f"--negatives {negatives!r}: choose one of {', '.join(NEGATIVES)}")
    ordered_pool = sorted(set(pool))
    design = None
    if negatives == "matched":
        counts = Counter(s.gold for s in samples) if gold_counts is None else gold_counts
        design = MatchedDesign(counts, ordered_pool, num_candidates)
    sets = []
    for sample in samples:
        if sample.gold is None:
            raise DataError(
                f"sample {sample.sample_id}: a blind item (no gold sticker) cannot get a sampled set, "
                "which is drawn around the gold; use --candidates official"
            )
        negatives_pool = [s for s in ordered_pool if s != sample.gold]
        if len(negatives_pool) < num_candidates - 1:
            raise DataError(
                f"sample {sample.sample_id}: only {len(negatives_pool)} other stickers exist, "
                f"too few for {num_candidates} candidates; lower --num-candidates"
            )
        rng = _sample_rng(seed, sample.sample_id)
        if design is None:
            picks = rng.choice(len(negatives_pool), size=num_candidates - 1, replace=False)
            candidates = [negatives_pool[i] for i in picks]
        else:
            if gold_counts is not None and gold_counts.get(sample.gold, 0) <= 0:
                raise DataError(f"sample {sample.sample_id}: gold_counts does not count its gold {sample.gold!r}")
            drawn = design.negatives(sample.gold, num_candidates - 1, rng)
            candidates = [drawn[i] for i in rng.permutation(len(drawn))]
        candidates.insert(int(rng.integers(0, num_candidates)), sample.gold)
        sets.append(CandidateSet(sample.sample_id, tuple(candidates), sample.gold))
    return sets


def _refuse_blind(samples: Sequence[Sample], split: str) -> None:
    blind = next((s for s in samples if s.gold is None), None)
    if blind is not None:
        raise DataError(
            f"split {split!r}, sample {blind.sample_id}: the split is blind (its items have no gold sticker), "
            "so sampled candidates cannot be drawn around a gold; use --candidates official"
        )


def official_candidates(samples: Sequence[Sample], split: str) -> list[CandidateSet]:
    """The dataset's own candidate sets (MOD task 2), used as they are; a blind sample's set has
    gold ``None``."""
    sets = []
    for sample in samples:
        official = sample.meta.get(OFFICIAL_KEY)
        if official is None:
            raise DataError(
                f"split {split!r}, sample {sample.sample_id}: no official candidate set "
                "(only MOD task-2 files have them); use --candidates sampled for this split"
            )
        if sample.gold is not None and sample.gold not in official:
            raise DataError(
                f"split {split!r}, sample {sample.sample_id}: the gold sticker {sample.gold!r} is "
                f"not in its official candidate set {list(official)}; fix the task-2 file or use "
                "--candidates sampled"
            )
        if len(set(official)) != len(official):
            raise DataError(
                f"split {split!r}, sample {sample.sample_id}: the official candidate set "
                f"{list(official)} repeats a sticker; fix the task-2 file"
            )
        sets.append(CandidateSet(sample.sample_id, tuple(official), sample.gold))
    return sets


def manifest_text(sets: Sequence[CandidateSet]) -> str:
    return "".join(
        json.dumps(
            {"sample_id": c.sample_id, "candidates": list(c.candidates), "gold": c.gold},
            separators=(",", ":"),
        )
        + "\n"
        for c in sets
    )


def fingerprint_of(text: str, negatives: str | None) -> str:
    """The sha256 of the manifest text, preceded by ``negatives: matched`` for matched sets
    (uniform and official sets keep the plain file hash they always had)."""
    header = "" if negatives in (None, "uniform") else f"negatives: {negatives}\n"
    return hashlib.sha256((header + text).encode()).hexdigest()


def build_manifest(
    split: str,
    samples: Sequence[Sample],
    pool: Sequence[str],
    strategy: str = "sampled",
    num_candidates: int = 10,
    seed: int = 0,
    negatives: str = "matched",
) -> CandidateManifest:
    """One split's manifest; ``negatives`` applies to sampled sets only (official sets are used
    as they are, and their manifest's ``negatives`` is None)."""
    if strategy == "sampled":
        _refuse_blind(samples, split)
        sets = sampled_candidates(samples, pool, num_candidates, seed, negatives)
        drawn: str | None = negatives
    elif strategy == "official":
        sets = official_candidates(samples, split)
        drawn = None
    elif strategy == ALL:
        sets, drawn = pool_sets(samples, pool), None
    else:
        raise DataError(f"unknown candidate strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    sizes = {len(c.candidates) for c in sets}
    text = _text(sets, strategy)
    return CandidateManifest(
        split=split,
        sets=tuple(sets),
        strategy=strategy,
        seed=seed,
        num_candidates=max(sizes) if sizes else num_candidates,
        fingerprint=pool_fingerprint(text) if strategy == ALL else fingerprint_of(text, drawn),
        negatives=drawn,
    )


def _text(sets: Sequence[CandidateSet], strategy: str) -> str:
    return pool_manifest_text(sets) if strategy == ALL else manifest_text(sets)


def write_manifest(manifest: CandidateManifest, directory: Path) -> Path:
    path = directory / f"{manifest.split}.jsonl"
    atomic_write_text(path, _text(manifest.sets, manifest.strategy))
    return path


def load_manifest(path: Path) -> list[CandidateSet]:
    """Read a manifest written by anyone (e.g. shared with a paper) back into candidate sets.

    ``"gold": null`` is a blind sample's row (``str(None)`` would make it sticker ``"None"``). A
    full-pool manifest (first line ``{"pool": [...]}``) gives every sample the whole pool.
    """
    first = next(iter(read_jsonl(path)), None)
    if first is not None and "pool" in first[1]:
        return load_pool_manifest(path)
    sets = []
    for lineno, row in read_jsonl(path):
        try:
            gold = None if row["gold"] is None else str(row["gold"])
            sets.append(CandidateSet(str(row["sample_id"]), tuple(map(str, row["candidates"])), gold))
        except (KeyError, TypeError) as exc:
            raise DataError(f"{path}:{lineno}: a manifest row needs sample_id, candidates, gold ({exc})") from None
        if gold is not None and gold not in sets[-1].candidates:
            raise DataError(f"{path}:{lineno}: gold {sets[-1].gold!r} is not among the candidates")
    return sets


def evaluation_splits(
    dataset: Dataset, requested: list[str] | None, strategy: str = "sampled", defaulted: bool = False
) -> list[str]:
    """Default: every split but ``train``; with official candidates, the splits that have them
    (validation too, when the dataset ships its task-2 file). ``defaulted``: official sets were
    not asked for but are the dataset's default, which the error says."""
    if requested:
        for split in requested:
            dataset.split(split)
        return list(requested)
    splits = [s for s in dataset.splits if s != "train"]
    blind = [s for s in splits if s in dataset.info.get("blind_splits", ())]
    if strategy != "official" and blind:
        log.warning(
            "skipping blind split(s) %s: without answers they can only be scored on official candidate sets "
            "(--candidates official)",
            ", ".join(blind),
        )
        splits = [s for s in splits if s not in blind]
    if strategy == "official":
        splits = [s for s in splits if dataset.splits[s] and OFFICIAL_KEY in dataset.splits[s][0].meta]
        if not splits:
            why = f" (the default on --dataset {dataset.name})" if defaulted else ""
            raise BenchmarkError(
                f"dataset {dataset.name!r} has no split with official candidate sets (task-2 files) for "
                f"--candidates official{why}; add the task-2 files or pass --candidates sampled"
            )
    return splits
