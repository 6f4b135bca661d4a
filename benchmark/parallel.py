"""``--jobs N``: train up to N selectors at once, each in a process of its own.

Why: a tiny preset's training step is too small to keep two cores busy, so a run that trains
seven selectors one after the other leaves cores idle for most of its training time. On a
CPU, ``--jobs`` trains the run's missing checkpoints in parallel worker processes (each with
``cores // N`` torch threads) before scoring starts; the run then loads them as usual.

What it does not change: a checkpoint depends only on its key (selector config and code,
training data, overrides, seed), never on the process that trained it, and each worker trains
exactly as the run would have. Scoring stays in the run's process, in order. A worker rebuilds
the run's dataset and plans from the :class:`RunConfig` (both deterministic); a failing worker
fails the run with its selector's one-line error, Ctrl-C or SIGTERM terminates every worker,
and a training interrupted mid-way resumes from its last epoch next time, as a single process's
would.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence

from benchmark.planning import PlannedSelector, phase, plan_selectors, train_plan
from benchmark.run_config import RunConfig

log = logging.getLogger("stickerbench")

PlanKey = tuple[str, int | None]  # (selector key, seed slot)


def resolve_jobs(jobs: int | str, device: str) -> int:
    """``auto``: one job per core on a CPU (at most 8), one on a GPU; a number is taken as given."""
    if jobs == "auto":
        return min(os.cpu_count() or 1, 8) if device == "cpu" else 1
    return int(jobs)


def _worker_init(threads: int) -> None:
    """A worker ignores Ctrl-C (the run terminates it), leaves on SIGTERM, and prints plain
    progress lines, which interleave readably where two redrawn bars would not."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ["STICKERBENCH_PROGRESS"] = "lines"
    torch.set_num_threads(threads)


def _exit_on_sigterm(signum, frame) -> None:
    """Pool.terminate's SIGTERM: exit through Python, so the worker's semaphores are released."""
    raise SystemExit(1)


def _train_in_worker(cfg: RunConfig, key: PlanKey, device: str) -> float | None:
    from benchmark.datasets import load_dataset
    from benchmark.registry import include_package

    for module in cfg.include_packages:
        include_package(module)
    dataset = load_dataset(
        cfg.dataset, cfg.data_dir, cfg.data_files, language=cfg.language, annotated_only=cfg.annotated_only
    )
    plan = next(p for p in plan_selectors(cfg, dataset, device) if (p.spec.key, p.seed_slot) == key)
    return train_plan(plan, dataset, cfg, device)


def train_ahead(cfg: RunConfig, plans: Sequence[PlannedSelector], device: str, jobs: int) -> dict[PlanKey, float]:
    """Train the plans whose checkpoint is missing, ``jobs`` at a time; seconds per plan trained.

    Nothing happens with one job, or fewer than two checkpoints to train (the run trains those
    itself, as always).
    """
    todo = [p for p in plans if p.checkpoint is not None and not p.explicit_checkpoint and not p.checkpoint.exists()]
    if jobs <= 1 or len(todo) < 2 or cfg.no_train:
        return {}
    jobs = min(jobs, len(todo))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    log.warning("training %d checkpoints, %d at a time (%d torch threads each)", len(todo), jobs, threads)
    context = multiprocessing.get_context("spawn")  # fork would copy a process that has started torch threads
    pool = context.Pool(jobs, initializer=_worker_init, initargs=(threads,), maxtasksperchild=1)
    try:
        pending = {
            (p.spec.key, p.seed_slot): pool.apply_async(_train_in_worker, (cfg, (p.spec.key, p.seed_slot), device))
            for p in todo
        }
        seconds: dict[PlanKey, float] = {}
        for plan in todo:
            key = (plan.spec.key, plan.seed_slot)
            with phase(plan.label, "fit"):
                result = pending[key].get()
            if result is not None:
                seconds[key] = result
        pool.close()
        return seconds
    except BaseException:
        pool.terminate()  # a failure or an interrupt: no worker trains on unattended
        raise
    finally:
        pool.join()
        del pool  # the traceback keeps this frame: release the pool's semaphores before exit
