"""One plan's scoring: its splits in this process (in pieces beside ``--jobs`` workers, or each
rank its shard under ``torchrun``), or handed to a worker and finished from the files it writes.

Every split gets its :class:`~benchmark.results.Identity` in ``results.json`` before its first
predictions row, and its numbers are always computed from the finished predictions file, so a
split scored here, in pieces, by a worker or resumed after a crash is reported the same way.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from benchmark.candidates import CandidateManifest
from benchmark.distributed import DistInfo
from benchmark.evaluator import RankingFields
from benchmark.parallel import WorkerPool
from benchmark.planning import PlannedSelector, obtain, phase
from benchmark.prediction_scores import SplitScores, scores_of_file
from benchmark.provenance import directory_sha256
from benchmark.rerank import first_stage_sha, split_inputs
from benchmark.results import COMPLETE, ModelResult, RunResults, SeedResult, SplitResult
from benchmark.resume import ResumeConflicts
from benchmark.run_config import RunConfig
from benchmark.seeds import aggregate_seeds, predictions_file
from benchmark.selector import Selector
from benchmark.sharding import barrier, merge_shards, on_main, shard_files, shard_of, shard_path
from benchmark.slices import SliceLabeller
from benchmark.types import Dataset
from benchmark.workers import Shard, score_samples

log = logging.getLogger("stickerbench")


@dataclass
class RunState:
    """What every plan of one run is scored with."""

    results: RunResults
    dataset: Dataset
    manifests: dict[str, CandidateManifest]
    splits: list[str]
    cfg: RunConfig
    device: str
    out: Path
    labeller: SliceLabeller
    info: DistInfo
    pool: WorkerPool | None = None


def score_plan(
    plan: PlannedSelector,
    run: RunState,
    hand_off: bool = False,
    between_splits: Callable[[], None] | None = None,
) -> "Handed | None":
    """Score one plan: a selector, or one training seed of it (its results under ``seeds.<seed>``).

    Under torchrun every rank runs this on its shard of each split; rank 0 alone decides what to
    (re)score, merges the shards and writes ``results.json`` (:mod:`benchmark.sharding`). With
    ``hand_off`` (``--jobs``, a scoring worker idle), the worker is given the plan's splits and
    this returns the :class:`Handed` plan, to be finished once it is done. ``between_splits`` is
    called after each split this process scores.
    """
    results, cfg, out, info, pool = run.results, run.cfg, run.out, run.info, run.pool
    key, seed = plan.spec.key, plan.seed_slot
    entry = results.models.setdefault(key, ModelResult())
    if not unfinished_splits(plan, results, run.splits):
        log.info("%s: every split already evaluated in %s", plan.label, out)
        _aggregate(entry, key, run.splits, results, out, cfg.train_seed_list(), info)
        return None
    trained_seconds = None if pool is None else pool.wait(plan)  # by a --jobs worker
    selector, train_seconds = None, None
    if not hand_off:
        selector, train_seconds = _obtain(plan, run)
    train_seconds = trained_seconds if train_seconds is None else train_seconds
    sha = None if plan.checkpoint is None else directory_sha256(plan.checkpoint)

    def resolve() -> dict[str, ModelResult]:
        conflicts = ResumeConflicts(out)
        for split in run.splits:  # the weights are known only now: a retrained checkpoint may differ
            first = first_stage_sha(plan, results, split, out)
            identity = plan.identity(run.manifests[split].fingerprint, cfg, sha, first)
            conflicts.check(results, key, split, identity, ignore_sha=False, seed=seed)
        conflicts.resolve(results, cfg.rescore_changed)
        return results.models

    results.models = on_main(info, resolve)
    entry = results.models.setdefault(key, ModelResult())
    holder = entry if seed is None else entry.seeds.setdefault(seed, SeedResult())
    holder.checkpoint = None if plan.checkpoint is None else {"path": str(plan.checkpoint), "sha256": sha}
    if train_seconds is not None or holder.train_seconds is None:
        holder.train_seconds = train_seconds
    jobs = []
    for split in unfinished_splits(plan, results, run.splits):
        manifest = run.manifests[split]
        pred_path = out / predictions_file(key, split, seed)
        identity = plan.identity(manifest.fingerprint, cfg, sha, first_stage_sha(plan, results, split, out))
        result = SplitResult(identity, str(pred_path.relative_to(out)))
        samples = run.dataset.split(split)
        inputs = split_inputs(plan, results, manifest, samples, out)
        jobs.append(_SplitJob(split, result, pred_path, samples, *inputs, holder, entry if seed is not None else None))
    if hand_off:
        for job in jobs:
            job.record(run)
        shards = [Shard.of(j.split, j.samples, j.sets, j.path, f"{plan.label} · {j.split}") for j in jobs]
        return Handed(plan, run, entry, holder, jobs, pool.hand_off(plan, shards))
    _prepare(selector, plan, run, entry, holder)
    _score_jobs(selector, plan, run, jobs, between_splits)
    _aggregate(entry, key, run.splits, results, out, cfg.train_seed_list(), info)
    return None


@dataclass
class _SplitJob:
    """One split of a plan to score, and where its result goes."""

    split: str
    result: SplitResult
    path: Path  # its predictions file
    samples: list
    sets: list
    ranking: RankingFields | None
    stages: dict | None
    holder: ModelResult | SeedResult  # where ``result`` goes
    seeds_of: ModelResult | None  # with several training seeds, the model whose aggregate it makes stale

    def record(self, run: "RunState") -> None:
        """Put the split's identity on disk before its first predictions row."""
        self.holder.splits[self.split] = self.result
        if self.seeds_of is not None:
            self.seeds_of.splits.pop(self.split, None)
        if run.info.is_main:
            run.results.save(run.out)


def _obtain(plan: PlannedSelector, run: RunState) -> tuple[Selector, float | None]:
    """The plan's selector, loaded (an idle worker loads it meanwhile, to take pieces of its splits)
    or trained here, with the run's own thread count whatever the workers do."""
    pool, ready = run.pool, plan.checkpoint is not None and plan.checkpoint.exists()
    if pool is None:
        return obtain(plan, run.dataset, run.cfg, run.device)
    if ready and plan.shortlist is None:
        pool.prefetch(plan)
    with contextlib.nullcontext() if ready else pool.own_threads():
        return obtain(plan, run.dataset, run.cfg, run.device)


def _prepare(selector: Selector, plan: PlannedSelector, run: RunState, entry: ModelResult, holder) -> None:
    started = time.perf_counter()
    with phase(plan.label, "prepare"):
        selector.prepare(run.dataset.stickers)
    entry.meta = selector.meta.to_dict()
    holder.prepare_seconds = time.perf_counter() - started


def _score_jobs(
    selector: Selector,
    plan: PlannedSelector,
    run: RunState,
    jobs: list[_SplitJob],
    between_splits: Callable[[], None] | None = None,
) -> None:
    info, pool, key, took = run.info, run.pool, plan.spec.key, None  # took: the previous split's seconds
    for job in jobs:
        if job.holder.splits.get(job.split) is not job.result:  # (a split taken back is recorded already)
            job.record(run)
        score_here = functools.partial(
            score_samples, selector, key, run.cfg, run.dataset, run.labeller, ranking=job.ranking
        )
        desc, samples, sets = f"{plan.label} · {job.split}", job.samples, job.sets
        started = time.perf_counter()
        if info.world > 1:
            mine = [i for i, s in enumerate(samples) if shard_of(s.sample_id, info.world) == info.rank]
            path = shard_path(job.path, info.rank, info.world)
            own = Shard.of(job.split, [samples[i] for i in mine], [sets[i] for i in mine], path, desc)
            score_here(own, summary=False)
            barrier(info)
            scored = on_main(info, functools.partial(_merge, job.path, samples, started, info.world))
        elif (pieces := 1 if pool is None else pool.pieces(plan, job.ranking, job.path, took)) > 1:
            pool.score_in_shards(
                plan, job.split, samples, sets, job.path, pieces, functools.partial(score_here, summary=False)
            )
            scored = _merge(job.path, samples, started, pieces)
        else:
            scored = score_here(Shard.of(job.split, samples, sets, job.path, desc))
        took = scored.seconds
        _finish_split(job, scored, run)
        if between_splits is not None:
            between_splits()


@dataclass(eq=False)
class Handed:
    """A plan whose splits a worker was given, one at a time (:meth:`WorkerPool.hand_off`)."""

    plan: PlannedSelector
    run: RunState
    entry: ModelResult
    holder: ModelResult | SeedResult
    jobs: list[_SplitJob]
    futures: list[Future]

    def done(self) -> bool:
        return all(f.done() for f in self.futures)

    def finish(self) -> None:
        """The splits the worker has not started are taken back and scored here now (in pieces
        the worker joins once it is free); the others are read from the files it wrote."""
        plan, run = self.plan, self.run
        taken_back = [job for job, future in zip(self.jobs, self.futures) if future.cancel()]
        if taken_back:
            selector, _ = obtain(plan, run.dataset, run.cfg, run.device)
            _prepare(selector, plan, run, self.entry, self.holder)
            _score_jobs(selector, plan, run, taken_back)
        for job, future in zip(self.jobs, self.futures):
            if future.cancelled():
                continue
            prepared, (seconds,) = run.pool.result(future, plan)
            if not taken_back:
                self.entry.meta, self.holder.prepare_seconds = prepared.meta, prepared.prepare_seconds
            _finish_split(job, scores_of_file(job.path, job.samples, seconds, with_slices=True), run)
        _aggregate(self.entry, plan.spec.key, run.splits, run.results, run.out, run.cfg.train_seed_list(), run.info)


def _finish_split(job: _SplitJob, scored: SplitScores, run: RunState) -> None:
    result = job.result
    result.status = COMPLETE
    result.metrics, result.stderr = scored.metrics, scored.stderr
    result.n, result.seconds, result.slices = scored.n, scored.seconds, scored.slices
    if job.stages is not None:
        job.stages["rerank"]["seconds"] = scored.seconds
    result.stages = job.stages
    if run.info.is_main:
        run.results.save(run.out)
        for stale in shard_files(job.path):  # pieces of an earlier, interrupted run cut another way
            stale.unlink(missing_ok=True)


def unfinished_splits(plan: PlannedSelector, results: RunResults, splits: list[str]) -> list[str]:
    """The splits ``plan`` has not finished in ``results``."""
    entry = results.models.get(plan.spec.key)
    holder = entry if entry is None or plan.seed_slot is None else entry.seeds.get(plan.seed_slot)
    return [s for s in splits if holder is None or not (s in holder.splits and holder.splits[s].complete)]


def _merge(path: Path, samples: list, started: float, world: int) -> SplitScores:
    """Rank 0 (or the run), once every shard is scored: the split's file and its numbers."""
    merge_shards(path, world, [s.sample_id for s in samples])
    return scores_of_file(path, samples, time.perf_counter() - started, with_slices=True)


def _aggregate(
    entry: ModelResult, key: str, splits: list[str], results: RunResults, out: Path, seeds: list[int], info: DistInfo
) -> None:
    """With several training seeds: each split whose every one of ``seeds`` is complete gets its
    aggregate (a run killed between seeds leaves none, rather than one over the seeds so far)."""
    if not entry.seeds:
        return

    def aggregate() -> dict[str, SplitResult]:
        for split in splits:
            done = {
                s: r.splits[split] for s, r in entry.seeds.items() if split in r.splits and r.splits[split].complete
            }
            if sorted(done) == sorted(seeds):
                entry.splits[split] = aggregate_seeds(out, key, split, done, results.seed)
        results.save(out)
        return entry.splits

    entry.splits = on_main(info, aggregate)
