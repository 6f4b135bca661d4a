"""What a ``--jobs`` worker process runs: it rebuilds one selector from the run's
:class:`RunConfig`, then trains it, or prepares it and scores shards of its splits.

A worker loads the run's dataset once and keeps the last selector it prepared, so that the
next shard of the same selector costs it nothing but the scoring. It ignores Ctrl-C (the run
terminates it) and leaves on SIGTERM through Python, releasing its semaphores.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from benchmark.evaluator import RankingFields, evaluate_split
from benchmark.planning import PlannedSelector, obtain, phase, plan_selectors, train_plan
from benchmark.prediction_scores import SplitScores
from benchmark.run_config import RunConfig
from benchmark.selector import Selector
from benchmark.slices import SliceLabeller
from benchmark.types import CandidateSet, Dataset, Sample

PlanKey = tuple[str, int | None]  # (selector key, seed slot)


@dataclass(frozen=True)
class Shard:
    """What a process scores: some samples of a split (a worker looks them up by id in its own
    copy of the dataset), their candidates, and the predictions file they go to."""

    split: str
    sample_ids: tuple[str, ...]
    sets: tuple[CandidateSet, ...]
    path: Path
    desc: str  # the progress line's name

    @classmethod
    def of(cls, split: str, samples: Sequence[Sample], sets: Sequence[CandidateSet], path: Path, desc: str) -> "Shard":
        return cls(split, tuple(s.sample_id for s in samples), tuple(sets), path, desc)

    def samples(self, dataset: Dataset) -> list[Sample]:
        wanted = set(self.sample_ids)
        return [s for s in dataset.split(self.split) if s.sample_id in wanted]


@dataclass(frozen=True)
class Prepared:
    """What the run records of a selector a worker prepared (it never holds that selector itself)."""

    meta: dict
    prepare_seconds: float


def score_samples(
    selector: Selector,
    name: str,
    cfg: RunConfig,
    dataset: Dataset,
    labeller: SliceLabeller,
    shard: Shard,
    ranking: RankingFields | None = None,
    summary: bool = True,
) -> SplitScores | None:
    """``evaluate_split`` as the run calls it, in its own process and in a worker alike;
    ``summary=False`` for a shard, whose numbers come from the merged file."""
    return evaluate_split(
        selector,
        shard.samples(dataset),
        shard.sets,
        shard.path,
        batch_size=cfg.batch_size,
        num_emotions=dataset.num_emotions,
        desc=shard.desc,
        progress=cfg.progress,
        selector_name=name,
        split=shard.split,
        slice_labels=labeller.labels,
        ranking=ranking,
        summary=summary,
    )


def init_worker(threads: int) -> None:
    """Plain progress lines (they interleave readably where two redrawn bars would not), and the
    process's share of the cores for torch and the tokenizers' thread pool."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ["STICKERBENCH_PROGRESS"] = "lines"
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def start_worker() -> None:
    """Import what every neural adapter needs first, while the run is busy elsewhere."""
    import transformers  # noqa: F401


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(1)


def train_in_worker(cfg: RunConfig, key: PlanKey, device: str) -> float | None:
    """Train one plan; the seconds it took (``None``: its checkpoint was there after all)."""
    plan, one = _plan(cfg, key, device)
    return train_plan(plan, _dataset(cfg), one, device)


def prepare_in_worker(cfg: RunConfig, key: PlanKey, device: str) -> Prepared:
    """Load ``key``'s selector from its checkpoint and prepare it, unless it is the one kept."""
    if key not in _kept:
        _kept.clear()  # one at a time: the run hands out one selector's shards after the other
        plan, one = _plan(cfg, key, device)
        dataset = _dataset(cfg)
        selector, _ = obtain(plan, dataset, one, device)
        started = time.perf_counter()  # the run's prepare_seconds: prepare alone, not the loading
        with phase(plan.label, "prepare"):
            selector.prepare(dataset.stickers)
        _kept[key] = (selector, Prepared(selector.meta.to_dict(), time.perf_counter() - started))
    return _kept[key][1]


def score_in_worker(cfg: RunConfig, key: PlanKey, device: str, shards: Sequence[Shard]) -> tuple[Prepared, list[float]]:
    """Score ``shards`` with ``key``'s selector: whole splits (written to their predictions files,
    which the run then reads as it reads a resumed one) or pieces of one. Returns the selector's
    record and each shard's scoring seconds."""
    prepared = prepare_in_worker(cfg, key, device)
    seconds = []
    for shard in shards:
        started = time.perf_counter()
        score_samples(_kept[key][0], key[0], cfg, _dataset(cfg), _labeller(cfg), shard, summary=False)
        seconds.append(time.perf_counter() - started)
    return prepared, seconds


_kept: dict[PlanKey, tuple[Selector, Prepared]] = {}


def _plan(cfg: RunConfig, key: PlanKey, device: str) -> tuple[PlannedSelector, RunConfig]:
    """Rebuild the one selector of ``key`` (building the run's others would import every adapter)."""
    from benchmark.registry import include_package, parse_model_spec

    for module in cfg.include_packages:
        include_package(module)
    entry = next(m for m in cfg.models if parse_model_spec(m, cfg.default_preset()).key == key[0])
    one = replace(cfg, models=[entry])
    plan = next(p for p in plan_selectors(one, _dataset(cfg), device) if (p.spec.key, p.seed_slot) == key)
    return plan, one


@functools.cache
def _dataset_of(*loader_args) -> Dataset:
    from benchmark.datasets import load_dataset

    name, data_dir, files, language, annotated_only = loader_args
    return load_dataset(name, data_dir, dict(files), language=language, annotated_only=annotated_only)


@functools.cache
def _labeller_of(*loader_args) -> SliceLabeller:
    from benchmark.datasets import cache_root
    from benchmark.slices import slice_labeller

    return slice_labeller(_dataset_of(*loader_args), cache_root())  # its bias words: cached by the run


def _loader_args(cfg: RunConfig) -> tuple:
    return cfg.dataset, cfg.data_dir, tuple(sorted(cfg.data_files.items())), cfg.language, cfg.annotated_only


def _dataset(cfg: RunConfig) -> Dataset:
    return _dataset_of(*_loader_args(cfg))


def _labeller(cfg: RunConfig) -> SliceLabeller:
    return _labeller_of(*_loader_args(cfg))
