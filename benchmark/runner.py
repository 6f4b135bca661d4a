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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.candidates import CandidateManifest, build_manifest, evaluation_splits, write_manifest
from benchmark.datasets import cache_root, load_dataset
from benchmark.distributed import init_distributed
from benchmark.parallel import WorkerPool, resolve_jobs, scoring_processes
from benchmark.planning import PlannedSelector, plan_selectors
from benchmark.pool import Shortlist
from benchmark.precision import check_autocast
from benchmark.provenance import directory_sha256, harness_info
from benchmark.registry import include_package
from benchmark.rerank import arrange_plans, first_stage_sha
from benchmark.results import (
    CandidateInfo,
    RunResults,
)
from benchmark.resume import ResumeConflicts, check_same_candidates
from benchmark.run_config import RunConfig, resolve_device
from benchmark.rundir import RunLock, check_overwritable, clear_run_directory
from benchmark.scoring import Handed, RunState, score_plan, unfinished_splits
from benchmark.selector import Selector
from benchmark.sharding import barrier, leave, on_main
from benchmark.slices import slice_labeller
from benchmark.types import Dataset

log = logging.getLogger("stickerbench")


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


@dataclass
class _PlanQueue:
    """The plans left to score. The run scores them from the front; whenever it looks (before each
    plan and after each split), a finished hand-off goes into ``results.json`` and an idle
    ``--jobs`` worker is given a whole plan from the back, so that no worker waits for the run to
    finish a long selector before it gets more work."""

    plans: list[PlannedSelector]
    state: RunState
    handed: list[Handed] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.whole = not any(p.shortlist for p in self.plans)  # a reranker reads its first stage's file

    def score(self) -> None:
        while self.plans:
            self._balance(keep=1)
            score_plan(self.plans.pop(0), self.state, between_splits=functools.partial(self._balance, keep=0))
        for rest in self.handed:  # what a worker has not started the run takes back (Handed.finish)
            rest.finish()

    def _balance(self, keep: int) -> None:
        """Finish the done hand-offs; hand each idle worker a plan from the back, but the first ``keep``."""
        pool = self.state.pool
        for done in [h for h in self.handed if h.done()]:
            self.handed.remove(done)
            done.finish()
        while self.whole and (back := self._back(keep)) is not None:
            given = score_plan(self.plans.pop(back), self.state, hand_off=True)
            self.handed += [given] if given is not None else []
        pool.share_cores()

    def _back(self, keep: int) -> int | None:
        pool = self.state.pool
        return next((i for i in reversed(range(keep, len(self.plans))) if pool.can_hand_off(self.plans[i])), None)


def run(
    cfg: RunConfig,
    write_leaderboard: Callable[[Path, RunResults, Dataset], None] | None = None,
    dataset: Dataset | None = None,
    selectors: Sequence[Selector] = (),
) -> RunResults:
    """Execute a run; results go to ``OUT/results.json`` as they finish, and are returned.

    ``write_leaderboard(out, results, dataset)`` is called at the end, also after a failure or an
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
        recorded = list(results.models)
        plans = arrange_plans(plans, Shortlist.parse(cfg.shortlist) if cfg.shortlist else None, results, splits)
        plans = sorted(plans, key=lambda p: order.index(p.spec.key))
        try:
            labeller = slice_labeller(dataset, cache_root())
            # --jobs workers rebuild the dataset from cfg, so a dataset object handed in trains here
            parallel = info.world == 1 and given_dataset is None
            unfinished = [p for p in plans if parallel and unfinished_splits(p, results, splits)]
            jobs = resolve_jobs(cfg.jobs, device)
            with WorkerPool(cfg, unfinished, device, jobs, scoring_processes(cfg.jobs, jobs)) as pool:
                state = RunState(results, dataset, manifests, splits, cfg, device, out, labeller, info, pool)
                _PlanQueue(list(plans), state).score()
            barrier(info)  # every rank is done before any leaves the group
        finally:
            if info.is_main:  # the recorded order, then the new selectors in the run's order, whoever finished first
                rank = {key: i for i, key in enumerate(dict.fromkeys([*recorded, *order]))}
                results.models = dict(sorted(results.models.items(), key=lambda kv: rank.get(kv[0], len(rank))))
                results.save(out)
            if (
                info.is_main
                and write_leaderboard is not None
                and any(results.complete_splits(m) for m in results.models)
            ):
                write_leaderboard(out, results, dataset)
            leave(info)
    return results
