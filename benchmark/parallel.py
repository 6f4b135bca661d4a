"""``--jobs N``: train up to N selectors at once, each in a process of its own, and score beside them.

Why: a tiny preset's training step is too small to keep two cores busy (measured on a 2-core
machine: two torch threads make a step 1.0-1.3x faster than one, not 2x), so a run that trains
seven selectors one after the other leaves a core idle for most of its training time. On a
CPU, ``--jobs`` trains the run's missing checkpoints in worker processes (each with
``cores // N`` torch threads) while the run scores, in its usual order, those already trained.

Scoring uses the cores too, once fewer trainings than N are running: one scoring worker per
core but the run's own (at most N - 1) rebuilds a trained selector from its checkpoint and
either takes a whole selector, one split at a time, while the run goes on with the next one
(the run takes back the splits it has not started once it has nothing else to do), or takes
pieces of a split the run is scoring (:meth:`WorkerPool.score_in_shards`). A split scored in
pieces is cut by sample id into ``2 x`` as many shard files as processes, as under ``torchrun``
(:mod:`benchmark.sharding`), and merged into the usual predictions file; a killed run resumes
each shard file with the same ``--jobs`` on the same machine.

What it does not change: which checkpoint a plan gets (its key: selector config and code,
training data, overrides, seed) and how it is trained. What it may change is the last bits of
the weights: with another number of threads, float sums are added in another order, as on a
machine with another number of cores, and training carries that along. Scores differ from a
single process's by float rounding only (other batches). A failing worker fails the run with
its selector's one-line error, Ctrl-C or SIGTERM terminates every worker, and a training
interrupted mid-way resumes from its last epoch next time, as a single process's would.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.evaluator import RankingFields
from benchmark.planning import PlannedSelector, phase
from benchmark.run_config import RunConfig
from benchmark.sharding import shard_of, shard_path
from benchmark.types import CandidateSet, Sample
from benchmark.workers import (
    PlanKey,
    Shard,
    init_worker,
    prepare_in_worker,
    score_in_worker,
    start_worker,
    train_in_worker,
)

log = logging.getLogger("stickerbench")

_DIED = (
    "{what}: a --jobs worker process died before it finished (killed, out of memory, or started from a "
    "script it cannot re-import, such as standard input); run it from a file or pass --jobs 1"
)
PIECES_PER_PROCESS = 2  # a split is cut finer than the processes, so that none waits long for another
WORTH_PREPARING = 1.0  # seconds: a piece this long is worth a worker's loading the selector for it


def resolve_jobs(jobs: int | str, device: str) -> int:
    """``auto`` on a CPU: one job per core and one more (at most 8), so that a worker waiting for
    a cache another one is filling (OCR, the tiny CLIP) leaves no core idle; one on a GPU. A
    number is taken as given."""
    if jobs == "auto":
        return min((os.cpu_count() or 1) + 1, 8) if device == "cpu" else 1
    return int(jobs)


def scoring_processes(option: int | str, jobs: int) -> int:
    """Processes that score, the run's own included: ``--jobs N`` as given, ``auto`` one per core."""
    return min(jobs, os.cpu_count() or 1) if option == "auto" else jobs


@dataclass
class _Scorer:
    """One scoring worker, its tasks, and the selector the last one leaves it holding."""

    pool: ProcessPoolExecutor
    tasks: list[Future] = field(default_factory=list)
    key: PlanKey | None = None

    def idle(self) -> bool:
        return all(task.done() for task in self.tasks)  # a task taken back (cancelled) is done

    def give(self, key: PlanKey, task: Callable, *args) -> Future:
        self.tasks = [t for t in self.tasks if not t.done()]
        try:
            self.tasks.append(self.pool.submit(task, *args))
        except BrokenProcessPool:
            raise BenchmarkError(_DIED.format(what="a --jobs scoring worker")) from None
        self.key = key
        return self.tasks[-1]


class WorkerPool:
    """The ``--jobs`` workers of a run: ``jobs`` that train the plans whose checkpoint is missing
    (longest first), and scoring workers that take trained selectors' work beside the run.

    :meth:`wait` blocks until one plan's checkpoint is there, so a selector trained early is
    scored while the later ones still train. While any worker works, the run's own process uses
    one torch thread (it shares the cores with them), and its own count otherwise and while it
    trains a selector itself. With one job, or neither two checkpoints to train nor a selector
    with a checkpoint to score, nothing is started and the run works as it always did.
    """

    def __init__(self, cfg: RunConfig, plans: Sequence[PlannedSelector], device: str, jobs: int, processes: int):
        from benchmark.registry import parse_model_spec

        named = {parse_model_spec(m, cfg.default_preset()).key for m in cfg.models}  # plans a worker can rebuild
        plans = [p for p in plans if jobs > 1 and p.spec.key in named]
        todo = [
            p for p in plans if p.checkpoint is not None and not p.explicit_checkpoint and not p.checkpoint.exists()
        ]
        todo.sort(key=lambda p: -float(getattr(p.selector, "train_cost", 1.0)))  # the longest first
        self._todo = todo if len(todo) > 1 and not cfg.no_train else []
        self._jobs = min(jobs, len(self._todo))
        self._scorable = {(p.spec.key, p.seed_slot) for p in plans if p.checkpoint is not None}
        self._processes = processes if self._scorable else 1
        self._cfg, self._device = cfg, device
        self._trainers: ProcessPoolExecutor | None = None
        self._scorers: list[_Scorer] = []
        self._pending: dict[PlanKey, Future] = {}
        self._own_threads: int | None = None

    def __enter__(self) -> "WorkerPool":
        import torch

        self._own_threads = torch.get_num_threads()
        cores = os.cpu_count() or 1
        for _ in range(self._processes - 1):  # started first: their imports overlap the run's first selectors
            scorer = _Scorer(_processes(1, max(1, cores // self._processes)))
            scorer.give(None, start_worker)
            self._scorers.append(scorer)
        if self._jobs > 1:
            threads = max(1, cores // self._jobs)
            log.warning(
                "training %d checkpoints, %d at a time (%d torch threads each)", len(self._todo), self._jobs, threads
            )
            self._trainers = _processes(self._jobs, threads)
            for p in self._todo:
                key = (p.spec.key, p.seed_slot)
                self._pending[key] = self._trainers.submit(train_in_worker, self._cfg, key, self._device)
        self.share_cores()
        return self

    def wait(self, plan: PlannedSelector) -> float | None:
        """Seconds a worker spent training ``plan``; ``None`` when no worker trains it."""
        result = self._pending.pop((plan.spec.key, plan.seed_slot), None)
        if result is None:
            return None
        with phase(plan.label, "fit"):
            return self.result(result, plan)

    @contextlib.contextmanager
    def own_threads(self) -> Iterator[None]:
        """The run's own thread count while it trains a selector itself, whatever the workers do:
        the thread count shapes the weights' last bits, which must not depend on timing."""
        import torch

        threads = torch.get_num_threads()
        if self._own_threads is not None:
            torch.set_num_threads(self._own_threads)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def share_cores(self) -> None:
        """One torch thread for the run while a worker works, its own count otherwise."""
        if self._own_threads is None:
            return
        import torch

        busy = any(not f.done() for f in self._pending.values()) or any(not s.idle() for s in self._scorers)
        torch.set_num_threads(1 if busy else self._own_threads)

    def can_hand_off(self, plan: PlannedSelector) -> bool:
        """Whether a scoring worker is idle to take the whole of ``plan``, trained by now."""
        training = self._pending.get(self._key(plan))
        trained = plan.checkpoint is not None and plan.checkpoint.exists() and (training is None or training.done())
        return trained and self._idle_scorer(plan) is not None

    def hand_off(self, plan: PlannedSelector, shards: Sequence[Shard]) -> list[Future]:
        """Give ``shards`` (whole splits of ``plan``) to the idle worker :meth:`can_hand_off` found.

        The worker gets one at a time, the next when it has finished the last, so that the run
        can take back any it has not started (``Future.cancel`` on what this returns) and score
        them itself, beside the worker, once it has nothing else to do."""
        scorer = self._idle_scorer(plan)
        assert scorer is not None, "hand_off without can_hand_off"
        handed = [Future() for _ in shards]
        scorer.key, scorer.tasks = self._key(plan), list(handed)
        args = self._task(plan)
        threading.Thread(target=_feed, args=(scorer.pool, args, shards, handed), daemon=True).start()
        return handed

    def prefetch(self, plan: PlannedSelector) -> None:
        """Have an idle scoring worker load and prepare ``plan`` while the run does the same, so
        that it can take pieces of the plan's splits from the first one on."""
        scorer = self._idle_scorer(plan)
        if scorer is not None and scorer.key != self._key(plan):
            scorer.give(self._key(plan), prepare_in_worker, *self._task(plan))

    def pieces(self, plan: PlannedSelector, ranking: RankingFields | None, path: Path, took: float | None) -> int:
        """How many shard files a split of ``plan`` (its predictions file ``path``) is scored in.

        More than one only when a scoring worker can take some: one holds the selector (it takes
        pieces once it is idle), or one is idle and the plan's previous split (``took`` seconds)
        shows that loading the selector pays. Rows already on
        disk keep their layout, so that a resumed split goes on where it stopped. Never for a
        selector a worker cannot rebuild, nor for a reranker (its candidates come from the
        first stage's file)."""
        count = PIECES_PER_PROCESS * self._processes
        if ranking is not None or not self._scorers or self._key(plan) not in self._scorable:
            return 1
        if any(shard_path(path, rank, count).exists() for rank in range(count)):
            return count
        if (path.exists() and path.stat().st_size) or not self._cores_free(plan):
            return 1
        key, worth = self._key(plan), took is not None and took >= WORTH_PREPARING * count
        return count if any(s.key == key or (s.idle() and worth) for s in self._scorers) else 1

    def score_in_shards(
        self,
        plan: PlannedSelector,
        split: str,
        samples: Sequence[Sample],
        sets: Sequence[CandidateSet],
        path: Path,
        count: int,
        score_here: Callable[[Shard], object],
    ) -> None:
        """Score ``samples`` in ``count`` shard files beside ``path`` (what :meth:`pieces` said):
        the run scores pieces from the first on, and before each one hands the last pieces left
        to idle scoring workers, those that hold the selector, or any once a piece has proved
        worth loading it."""
        parts: list[list[int]] = [[] for _ in range(count)]
        for i, sample in enumerate(samples):
            parts[shard_of(sample.sample_id, count)].append(i)
        left = collections.deque(
            Shard.of(
                split,
                [samples[i] for i in part],
                [sets[i] for i in part],
                shard_path(path, rank, count),
                f"{plan.label} · {split} [shard {rank + 1}/{count}]",
            )
            for rank, part in enumerate(parts)
        )
        sent, piece_seconds, key = [], 0.0, self._key(plan)
        while left:
            for scorer in self._scorers:
                worth = scorer.key == key or piece_seconds >= WORTH_PREPARING
                if len(left) > 1 and worth and scorer.idle() and self._cores_free(plan):
                    sent.append(scorer.give(key, score_in_worker, *self._task(plan), [left.pop()]))
            self.share_cores()
            started = time.perf_counter()
            score_here(left.popleft())
            piece_seconds = time.perf_counter() - started
        for future in sent:
            self.result(future, plan)

    def result(self, future: Future, plan: PlannedSelector):
        """A worker's return value, or its error; a worker that died is one line naming ``plan``."""
        try:
            return future.result()
        except BrokenProcessPool:
            raise BenchmarkError(_DIED.format(what=plan.label)) from None

    def _cores_free(self, plan: PlannedSelector) -> bool:
        """Whether a worker may score ``plan``: one can rebuild it, and training leaves a job free."""
        training = sum(not f.done() for f in self._pending.values())
        return self._key(plan) in self._scorable and not (self._jobs and training >= self._jobs)

    def _idle_scorer(self, plan: PlannedSelector) -> _Scorer | None:
        """An idle scoring worker for ``plan``, preferably one holding it."""
        if not self._cores_free(plan):
            return None
        idle = [s for s in self._scorers if s.idle()]
        return next((s for s in idle if s.key == self._key(plan)), idle[0] if idle else None)

    def _task(self, plan: PlannedSelector) -> tuple:
        return self._cfg, self._key(plan), self._device

    @staticmethod
    def _key(plan: PlannedSelector) -> PlanKey:
        return plan.spec.key, plan.seed_slot

    def __exit__(self, kind, error, traceback) -> None:
        pools = [pool for pool in [*(s.pool for s in self._scorers), self._trainers] if pool is not None]
        if kind is not None:  # a failure or an interrupt: no worker works on unattended
            for future in self._pending.values():
                future.cancel()
            processes = [p for pool in pools for p in list(getattr(pool, "_processes", {}).values())]
            for process in processes:
                process.terminate()
            for process in processes:  # SIGTERM ends a task, not always the worker: what is left is killed
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)  # every worker told first, then all awaited
        for pool in pools:
            pool.shutdown(wait=True)
        self._trainers, self._scorers = None, []  # the traceback keeps this frame: release the semaphores
        if self._own_threads is not None:
            import torch

            torch.set_num_threads(self._own_threads)


def _feed(pool: ProcessPoolExecutor, args: tuple, shards: Sequence[Shard], handed: list[Future]) -> None:
    """Give a worker ``shards`` one after the other, skipping those the run took back; whatever
    goes wrong (a dead worker) fails every split not finished, so that nobody waits for ever."""
    for i, shard in enumerate(shards):
        if not handed[i].set_running_or_notify_cancel():
            continue  # taken back by the run
        try:
            handed[i].set_result(pool.submit(score_in_worker, *args, [shard]).result())
        except BaseException as exc:  # noqa: BLE001 (handed to the run, which raises it)
            handed[i].set_exception(exc)
            for rest in handed[i + 1 :]:
                if rest.set_running_or_notify_cancel():
                    rest.set_exception(exc)
            return


def _processes(count: int, threads: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        count,
        mp_context=multiprocessing.get_context("spawn"),  # fork would copy a process running torch threads
        initializer=init_worker,
        initargs=(threads,),
    )
