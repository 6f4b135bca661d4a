"""``--jobs N``: train up to N selectors at once, each in a process of its own.

Why: a tiny preset's training step is too small to keep two cores busy (measured on a 2-core
machine: two torch threads make a step 1.0-1.3x faster than one, not 2x), so a run that trains
seven selectors one after the other leaves a core idle for most of its training time. On a
CPU, ``--jobs`` trains the run's missing checkpoints in worker processes (each with
``cores // N`` torch threads) while the run scores, in its usual order, those already trained.

What it does not change: which checkpoint a plan gets (its key: selector config and code,
training data, overrides, seed) and how it is trained. What it may change is the last bits of
the weights: with another number of threads, float sums are added in another order, as on a
machine with another number of cores, and training carries that along. A worker rebuilds
the run's dataset and plans from the :class:`RunConfig` (both deterministic); a failing worker
fails the run with its selector's one-line error, Ctrl-C or SIGTERM terminates every worker,
and a training interrupted mid-way resumes from its last epoch next time, as a single process's
would.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from benchmark.errors import BenchmarkError
from benchmark.planning import PlannedSelector, phase, plan_selectors, train_plan
from benchmark.run_config import RunConfig

log = logging.getLogger("stickerbench")

PlanKey = tuple[str, int | None]  # (selector key, seed slot)


def resolve_jobs(jobs: int | str, device: str) -> int:
    """``auto`` on a CPU: one job per core and one more (at most 8), so that a worker waiting for
    a cache another one is filling (OCR, the tiny CLIP) leaves no core idle; one on a GPU. A
    number is taken as given."""
    if jobs == "auto":
        return min((os.cpu_count() or 1) + 1, 8) if device == "cpu" else 1
    return int(jobs)


def _worker_init(threads: int) -> None:
    """A worker ignores Ctrl-C (the run terminates it), leaves on SIGTERM, and prints plain
    progress lines, which interleave readably where two redrawn bars would not."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ["STICKERBENCH_PROGRESS"] = "lines"
    os.environ["RAYON_NUM_THREADS"] = str(threads)  # the tokenizers' thread pool, started later
    torch.set_num_threads(threads)


def _exit_on_sigterm(signum, frame) -> None:
    """The run's SIGTERM to its workers: exit through Python, so their semaphores are released."""
    raise SystemExit(1)


def _train_in_worker(cfg: RunConfig, key: PlanKey, device: str) -> float | None:
    """Rebuild the one selector of ``key`` (building the run's others would import every adapter)
    and train it; a worker keeps its dataset and imports for the next plan it is given."""
    from benchmark.registry import include_package, parse_model_spec

    for module in cfg.include_packages:
        include_package(module)
    entry = next(m for m in cfg.models if parse_model_spec(m, cfg.default_preset()).key == key[0])
    one = replace(cfg, models=[entry])
    dataset = _dataset(cfg)
    plan = next(p for p in plan_selectors(one, dataset, device) if (p.spec.key, p.seed_slot) == key)
    return train_plan(plan, dataset, one, device)


@functools.cache
def _dataset_of(name: str, data_dir, files: tuple, language: str, annotated_only: bool):
    from benchmark.datasets import load_dataset

    return load_dataset(name, data_dir, dict(files), language=language, annotated_only=annotated_only)


def _dataset(cfg: RunConfig):
    """The run's dataset, loaded once per worker."""
    return _dataset_of(
        cfg.dataset, cfg.data_dir, tuple(sorted(cfg.data_files.items())), cfg.language, cfg.annotated_only
    )


class TrainingPool:
    """The plans whose checkpoint is missing, trained ``jobs`` at a time in worker processes.

    The run scores in its usual order meanwhile: :meth:`wait` blocks until one plan's checkpoint
    is there, so a selector trained early is scored while the later ones still train. While
    workers run, the run's own process uses one torch thread (it shares the cores with them);
    it gets its threads back once every worker is done. With one job, or fewer than two
    checkpoints to train, nothing is started and the run trains as it always did.
    """

    def __init__(self, cfg: RunConfig, plans: Sequence[PlannedSelector], device: str, jobs: int):
        todo = [
            p for p in plans if p.checkpoint is not None and not p.explicit_checkpoint and not p.checkpoint.exists()
        ]
        todo.sort(key=lambda p: -float(getattr(p.selector, "train_cost", 1.0)))  # the longest first
        self._todo = todo if jobs > 1 and len(todo) > 1 and not cfg.no_train else []
        self._jobs = min(jobs, len(self._todo))
        self._cfg, self._device = cfg, device
        self._pool = None
        self._pending: dict[PlanKey, Future] = {}
        self._threads: int | None = None

    def __enter__(self) -> "TrainingPool":
        if not self._todo:
            return self
        import torch

        threads = max(1, (os.cpu_count() or 1) // self._jobs)
        log.warning(
            "training %d checkpoints, %d at a time (%d torch threads each)", len(self._todo), self._jobs, threads
        )
        self._pool = ProcessPoolExecutor(
            self._jobs,
            mp_context=multiprocessing.get_context("spawn"),  # fork would copy a process running torch threads
            initializer=_worker_init,
            initargs=(threads,),
        )
        for p in self._todo:
            key = (p.spec.key, p.seed_slot)
            self._pending[key] = self._pool.submit(_train_in_worker, self._cfg, key, self._device)
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def wait(self, plan: PlannedSelector) -> float | None:
        """Seconds a worker spent training ``plan``; ``None`` when no worker trains it."""
        result = self._pending.pop((plan.spec.key, plan.seed_slot), None)
        if result is None:
            return None
        with phase(plan.label, "fit"):
            try:
                seconds = result.result()
            except BrokenProcessPool:
                raise BenchmarkError(
                    f"{plan.label}: a --jobs worker process died before it finished (killed, out of memory, or "
                    "started from a script it cannot re-import, such as standard input); run it from a file or "
                    "pass --jobs 1"
                ) from None
        if not self._pending:
            self._restore_threads()
        return seconds

    def _restore_threads(self) -> None:
        if self._threads is not None:
            import torch

            torch.set_num_threads(self._threads)
            self._threads = None

    def __exit__(self, kind, error, traceback) -> None:
        if self._pool is None:
            return
        if kind is not None:  # a failure or an interrupt: no worker trains on unattended
            for future in self._pending.values():
                future.cancel()
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None  # the traceback keeps this frame: release the pool's semaphores before exit
        self._restore_threads()
