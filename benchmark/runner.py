"""``run``: validate → dataset → candidate manifests → (train) → prepare → score → results.

A run directory is the unit of resumption: re-running the same command into the same OUT keeps
finished (model, split) pairs and continues a partial predictions file — but only when the pair's
:class:`~benchmark.results.Identity` (selector config and options, code, checkpoint, training
seed and overrides, candidate fingerprint) is the current command's. A pair made under another
identity is never mixed with new rows: the run refuses before doing any work, and
``--rescore-changed`` re-scores exactly those pairs. Everything the command says is validated
before the directory is touched, and the directory is locked for the whole run.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmark.candidates import (
    OFFICIAL_KEY,
    CandidateManifest,
    build_manifest,
    write_manifest,
)
from benchmark.datasets import cache_root, load_dataset
from benchmark.distributed import DistInfo, init_distributed
from benchmark.errors import BenchmarkError
from benchmark.evaluator import evaluate_split
from benchmark.parallel import TrainingPool, resolve_jobs
from benchmark.planning import PlannedSelector, obtain, phase, plan_selectors
from benchmark.pool import Shortlist
from benchmark.precision import check_autocast
from benchmark.prediction_scores import SplitScores, scores_of_file
from benchmark.provenance import directory_sha256, harness_info
from benchmark.registry import include_package
from benchmark.rerank import arrange_plans, first_stage_sha, split_inputs
from benchmark.results import (
    COMPLETE,
    CandidateInfo,
    ModelResult,
    RunResults,
    SeedResult,
    SplitResult,
)
from benchmark.resume import ResumeConflicts, check_same_candidates
from benchmark.run_config import RunConfig, resolve_device
from benchmark.rundir import RunLock, check_overwritable, clear_run_directory
from benchmark.seeds import aggregate_seeds, predictions_file
from benchmark.selector import Selector
from benchmark.sharding import barrier, leave, merge_shards, on_main, shard_of, shard_path
from benchmark.slices import SliceLabeller, slice_labeller
from benchmark.types import Dataset

log = logging.getLogger("stickerbench")


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


def _dataset_entry(dataset: Dataset) -> dict:
    """``results.json``'s ``dataset``: what was read, enough to export submissions later (absolute
    file paths, since a run directory may be read from another working directory)."""
    files = {role: str(Path(path).resolve()) for role, path in dataset.info.get("files", {}).items()}
    return {
        "name": dataset.name,
        "fingerprint": dataset.fingerprint,
        "root": str(dataset.root) if dataset.root else None,
        "emotion_names": list(dataset.emotion_names),
        "splits": {s: len(v) for s, v in dataset.splits.items()},
        "files": files,
        "blind_splits": sorted(dataset.info.get("blind_splits", ())),
    }


def _start_results(
    previous: RunResults | None, cfg: RunConfig, dataset: Dataset, manifests: dict[str, CandidateManifest], out: Path
) -> RunResults:
    results = previous or RunResults(dataset={}, seed=cfg.seed)
    results.harness["command"] = harness_info()["command"]
    results.seed = cfg.seed
    results.dataset = _dataset_entry(dataset)
    for split, manifest in manifests.items():
        write_manifest(manifest, out / "candidates")
        results.candidates[split] = CandidateInfo(
            fingerprint=manifest.fingerprint,
            num_candidates=manifest.num_candidates,
            seed=manifest.seed,
            strategy=manifest.strategy,
            manifest=f"candidates/{split}.jsonl",
            negatives=manifest.negatives,
        )
    return results


def run(
    cfg: RunConfig,
    write_leaderboard: Callable[[Path, RunResults], None] | None = None,
    dataset: Dataset | None = None,
    selectors: Sequence[Selector] = (),
) -> RunResults:
    """Execute a run; results go to ``OUT/results.json`` as they finish, and are returned.

    ``write_leaderboard(out, results)`` is called at the end, also after a failure or an
    interrupt, so that the pairs finished so far are always rendered. ``dataset`` replaces the
    one ``cfg`` names; ``selectors`` are scored as they are, beside the ones ``cfg.models`` names.
    """
    cfg.validate()
    given_dataset = dataset
    for module in cfg.include_packages:
        include_package(module)
    out = cfg.output_dir()
    if cfg.overwrite:
        check_overwritable(out)
    if dataset is None:
        # The one place a run reads its dataset: every loader option of RunConfig goes through here.
        dataset = load_dataset(
            cfg.dataset, cfg.data_dir, cfg.data_files, language=cfg.language, annotated_only=cfg.annotated_only
        )
    strategy = cfg.candidate_strategy()
    splits = evaluation_splits(dataset, cfg.splits, strategy, defaulted=cfg.candidates is None)
    manifests = {
        split: build_manifest(
            split,
            dataset.split(split),
            list(dataset.stickers),
            strategy,
            cfg.num_candidates,
            cfg.seed,
            negatives=cfg.negatives,
        )
        for split in splits
    }
    info, device = init_distributed(resolve_device(cfg.device))  # on one process: (world 1, the device)
    check_autocast(cfg.autocast, device)
    plans = plan_selectors(cfg, dataset, device, selectors)
    with contextlib.ExitStack() as held:
        if info.is_main:
            held.enter_context(RunLock(out))

        def open_directory() -> tuple[RunResults, list[PlannedSelector]]:
            if cfg.overwrite:
                clear_run_directory(out)
            previous = RunResults.load(out)
            if previous is not None:
                check_same_candidates(previous, dataset, manifests, out)
            arranged = arrange_plans(plans, Shortlist.parse(cfg.shortlist) if cfg.shortlist else None, previous, splits)
            conflicts = ResumeConflicts(out)
            recorded = previous or RunResults(dataset={}, seed=cfg.seed)
            for key in dict.fromkeys(plan.spec.key for plan in arranged):
                slots = [p.seed_slot for p in arranged if p.spec.key == key and p.seed_slot is not None]
                conflicts.check_seeds(recorded, key, slots)
            for plan in arranged:
                ready = plan.checkpoint is not None and plan.checkpoint.exists()
                sha = directory_sha256(plan.checkpoint) if ready else None
                for split in splits:
                    first = first_stage_sha(plan, recorded, split, out)
                    identity = plan.identity(manifests[split].fingerprint, cfg, sha, first)
                    conflicts.check(
                        recorded, plan.spec.key, split, identity, ignore_sha=sha is None, seed=plan.seed_slot
                    )
            started = _start_results(previous, cfg, dataset, manifests, out)
            conflicts.resolve(started, cfg.rescore_changed)
            started.save(out)
            return started, [p.spec.key for p in arranged]

        results, order = on_main(info, open_directory)
        plans = arrange_plans(plans, Shortlist.parse(cfg.shortlist) if cfg.shortlist else None, results, splits)
        plans = sorted(plans, key=lambda p: order.index(p.spec.key))
        try:
            labeller = slice_labeller(dataset, cache_root())
            # --jobs workers rebuild the dataset from cfg, so a dataset object handed in trains here
            parallel = info.world == 1 and given_dataset is None
            unfinished = [p for p in plans if parallel and _todo(p, results, splits)]
            with TrainingPool(cfg, unfinished, device, resolve_jobs(cfg.jobs, device)) as pool:
                for plan in plans:
                    seconds = pool.wait(plan)
                    _run_selector(plan, results, dataset, manifests, splits, cfg, device, out, labeller, info, seconds)
            barrier(info)  # every rank is done before any leaves the group
        finally:
            if (
                info.is_main
                and write_leaderboard is not None
                and any(results.complete_splits(m) for m in results.models)
            ):
                write_leaderboard(out, results)
            leave(info)
    return results


def _run_selector(
    plan: PlannedSelector,
    results: RunResults,
    dataset: Dataset,
    manifests: dict[str, CandidateManifest],
    splits: list[str],
    cfg: RunConfig,
    device: str,
    out: Path,
    labeller: SliceLabeller,
    info: DistInfo,
    trained_seconds: float | None = None,
) -> None:
    """Score one plan: a selector, or one training seed of it (its results under ``seeds.<seed>``).

    Under torchrun every rank runs this on its shard of each split; rank 0 alone decides what to
    (re)score, merges the shards and writes ``results.json`` (:mod:`benchmark.sharding`).
    """
    key, seed = plan.spec.key, plan.seed_slot
    entry = results.models.setdefault(key, ModelResult())
    if not _todo(plan, results, splits):
        log.info("%s: every split already evaluated in %s", plan.label, out)
        _aggregate(entry, key, splits, results, out, cfg.train_seed_list(), info)
        return
    selector, train_seconds = obtain(plan, dataset, cfg, device)
    train_seconds = trained_seconds if train_seconds is None else train_seconds  # trained by a --jobs worker
    sha = None if plan.checkpoint is None else directory_sha256(plan.checkpoint)

    def resolve() -> dict[str, ModelResult]:
        conflicts = ResumeConflicts(out)
        for split in splits:  # the weights are known only now: a retrained checkpoint may differ
            identity = plan.identity(manifests[split].fingerprint, cfg, sha, first_stage_sha(plan, results, split, out))
            conflicts.check(results, key, split, identity, ignore_sha=False, seed=seed)
        conflicts.resolve(results, cfg.rescore_changed)
        return results.models

    results.models = on_main(info, resolve)
    entry = results.models.setdefault(key, ModelResult())
    holder = entry if seed is None else entry.seeds.setdefault(seed, SeedResult())
    todo = _todo(plan, results, splits)
    started = time.perf_counter()
    with phase(plan.label, "prepare"):
        selector.prepare(dataset.stickers)
    entry.meta = selector.meta.to_dict()
    holder.checkpoint = None if plan.checkpoint is None else {"path": str(plan.checkpoint), "sha256": sha}
    holder.prepare_seconds = time.perf_counter() - started
    if train_seconds is not None or holder.train_seconds is None:
        holder.train_seconds = train_seconds
    for split in todo:
        manifest = manifests[split]
        pred_path = out / predictions_file(key, split, seed)
        identity = plan.identity(manifest.fingerprint, cfg, sha, first_stage_sha(plan, results, split, out))
        split_result = SplitResult(identity, str(pred_path.relative_to(out)))
        holder.splits[split] = split_result
        if seed is not None:
            entry.splits.pop(split, None)  # a seed's new rows make the aggregate stale
        if info.is_main:
            results.save(out)  # the identity is on disk before the first predictions row
        samples = dataset.split(split)
        sets, ranking, stages = split_inputs(plan, results, manifest, samples, out)
        mine = [i for i, s in enumerate(samples) if info.world == 1 or shard_of(s.sample_id, info.world) == info.rank]
        scored = evaluate_split(
            selector,
            [samples[i] for i in mine],
            [sets[i] for i in mine],
            pred_path if info.world == 1 else shard_path(pred_path, info.rank, info.world),
            batch_size=cfg.batch_size,
            num_emotions=dataset.num_emotions,
            desc=f"{plan.label} · {split}",
            progress=cfg.progress,
            selector_name=key,
            split=split,
            slice_labels=labeller.labels,
            ranking=ranking,
        )
        if info.world > 1:
            barrier(info)

            scored = on_main(info, functools.partial(_merge, pred_path, samples, scored.seconds, info.world))
        split_result.status = COMPLETE
        split_result.metrics, split_result.stderr = scored.metrics, scored.stderr
        split_result.n, split_result.seconds, split_result.slices = scored.n, scored.seconds, scored.slices
        if stages is not None:
            stages["rerank"]["seconds"] = scored.seconds
        split_result.stages = stages
        if info.is_main:
            results.save(out)
    _aggregate(entry, key, splits, results, out, cfg.train_seed_list(), info)


def _todo(plan: PlannedSelector, results: RunResults, splits: list[str]) -> list[str]:
    """The splits ``plan`` has not finished in ``results``."""
    entry = results.models.get(plan.spec.key)
    holder = entry if entry is None or plan.seed_slot is None else entry.seeds.get(plan.seed_slot)
    return [s for s in splits if holder is None or not (s in holder.splits and holder.splits[s].complete)]


def _merge(path: Path, samples: list, seconds: float, world: int) -> SplitScores:
    """Rank 0, once every rank has scored its shard: the split's file and its numbers."""
    merge_shards(path, world, [s.sample_id for s in samples])
    return scores_of_file(path, samples, seconds, with_slices=True)


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
