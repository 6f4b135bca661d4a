"""Selectors of a run, built and checked before any work, then loaded or trained when their turn comes.

Building is cheap (weights load lazily), so every ``--models`` entry is built up front: a typo,
a broken factory or a contract violation stops the run before anything is written. Each planned
selector knows where its checkpoint lives, which is part of what identifies its results.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from benchmark.checkpoint_cache import (
    cached_checkpoint_dir,
    checkpoint_key,
    selector_code_hash,
    train_into,
    training_overrides,
)
from benchmark.datasets import cache_root
from benchmark.distributed import dist_info
from benchmark.errors import BenchmarkError, SelectorError
from benchmark.pool import Shortlist
from benchmark.registry import ModelSpec, build_selector, parse_model_spec
from benchmark.results import Identity
from benchmark.run_config import RunConfig
from benchmark.selector import Selector, SelectorContext, SelectorMeta, is_trainable
from benchmark.sharding import barrier, on_main
from benchmark.types import Dataset

log = logging.getLogger("stickerbench")


@contextmanager
def phase(model: str, what: str, split: str | None = None) -> Iterator[None]:
    """Turn a selector's own exception into one line naming the selector, phase and split."""
    try:
        yield
    except BenchmarkError:
        raise
    except Exception as exc:
        where = f" on split {split!r}" if split else ""
        raise SelectorError(
            f"selector {model!r} failed in {what}{where}: {type(exc).__name__}: {exc} (--debug shows the traceback)"
        ) from exc


@dataclass
class PlannedSelector:
    """A built selector and what its results will be identified by."""

    spec: ModelSpec
    selector: Selector
    ctx: SelectorContext
    checkpoint: Path | None  # explicit or cached location; None for selectors that do not train
    explicit_checkpoint: bool = False
    train_seed: int | None = None  # the seed it is (or was) trained with; None when not trained here
    seed_slot: int | None = None  # with several --train-seeds: this plan's seed, the key of its results
    shortlist: Shortlist | None = None  # set on a reranker: it scores the first stage's top K only

    @property
    def label(self) -> str:
        """The selector's name in messages: ``cks`` or, for one of several seeds, ``cks[seed 1]``."""
        return self.spec.key if self.seed_slot is None else f"{self.spec.key}[seed {self.seed_slot}]"

    def identity(
        self, candidates: str, run: RunConfig, checkpoint_sha: str | None, first_stage_sha: str | None = None
    ) -> Identity:
        """``first_stage_sha``: a reranker's first-stage predictions file, when it exists."""
        trainable = self.checkpoint is not None
        shortlist = None
        if self.shortlist is not None:
            shortlist = {"first_stage": self.shortlist.first_stage, "k": self.shortlist.k}
            shortlist["predictions_sha256"] = first_stage_sha
        return Identity(
            selector=self.spec.name,
            preset=self.spec.preset,
            config=dict(self.selector.meta.config),
            options=dict(run.options),
            code=selector_code_hash(self.selector),
            checkpoint={"path": str(self.checkpoint), "sha256": checkpoint_sha} if trainable else None,
            train_seed=self.train_seed,
            train_overrides=training_overrides(run.train) if trainable and not self.explicit_checkpoint else None,
            candidates=candidates,
            shortlist=shortlist,
            autocast=None if run.autocast == "off" else run.autocast,
        )


def _check_checkpoint_names(cfg: RunConfig, specs: list[ModelSpec]) -> None:
    known = {s.key for s in specs} | {s.name for s in specs}
    for name in cfg.checkpoints:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise BenchmarkError(
                f"--checkpoint {name}=…: {name!r} is not one of --models ({', '.join(s.key for s in specs)}){hint}"
            )
        if not Path(cfg.checkpoints[name]).exists():
            raise BenchmarkError(f"--checkpoint {name}={cfg.checkpoints[name]}: no such file or directory")


def _given(selector: Selector) -> ModelSpec:
    """The spec of a selector object handed to the Python API: scored as it is, never trained."""
    meta = getattr(selector, "meta", None)
    if not isinstance(selector, Selector) or not isinstance(meta, SelectorMeta):
        raise SelectorError(
            f"{type(selector).__name__} is not a Selector: it needs meta (a SelectorMeta), prepare and score"
        )
    return ModelSpec(key=meta.name, name=meta.name, preset=meta.preset, preset_explicit=False)


def plan_selectors(
    cfg: RunConfig, dataset: Dataset, device: str, given: Sequence[Selector] = ()
) -> list[PlannedSelector]:
    """Build every selector (cheap: weights load lazily) and check its contract, before any work.

    ``given`` selector objects (from :func:`benchmark.evaluate`) are used as they are: prepared
    and scored, never trained or loaded, and named by ``meta.name``.
    """
    specs = [parse_model_spec(m, cfg.default_preset()) for m in cfg.models]
    objects = {id(obj): _given(obj) for obj in given}
    if not specs and not objects:
        raise SelectorError("no selectors given; pass --models NAME[,NAME...] (see `python -m benchmark list`)")
    keys = [s.key for s in specs] + [s.key for s in objects.values()]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise BenchmarkError(f"--models names {', '.join(duplicates)} twice; list each selector once")
    _check_checkpoint_names(cfg, specs)
    training = dataset.training_view()

    def context(preset: str, seed: int = cfg.seed) -> SelectorContext:
        from benchmark.ocr import ocr_language  # the OCR language follows the dataset

        return SelectorContext(
            preset=preset,
            num_emotions=dataset.num_emotions,
            emotion_names=dataset.emotion_names,
            seed=seed,
            device=device,
            cache_dir=cache_root(),
            options={"ocr_lang": ocr_language(dataset.name), **cfg.options},
            autocast=cfg.autocast,
            batch_size=cfg.batch_size,
        )

    planned = [PlannedSelector(objects[id(obj)], obj, context(obj.meta.preset), None) for obj in given]
    for spec in specs:
        ctx = context(spec.preset)
        selector = build_selector(spec.name, ctx, spec.preset_explicit)
        explicit = cfg.checkpoints.get(spec.key) or cfg.checkpoints.get(spec.name)
        if not is_trainable(selector):
            if explicit is not None:
                raise BenchmarkError(f"--checkpoint {spec.key}=…: selector {spec.name!r} has nothing to train or load")
            planned.append(PlannedSelector(spec, selector, ctx, None))
        elif explicit is not None:
            planned.append(PlannedSelector(spec, selector, ctx, Path(explicit), explicit_checkpoint=True))
        else:
            seeds = cfg.train_seed_list()
            for seed in seeds:
                if seed != ctx.seed:  # a trainable selector sees its training seed, e.g. for its init
                    ctx = context(spec.preset, seed)
                    selector = build_selector(spec.name, ctx, spec.preset_explicit)
                key = checkpoint_key(selector, training, seed, cfg.train)
                where = cached_checkpoint_dir(cache_root(), spec.name, spec.preset, key)
                slot = seed if len(seeds) > 1 else None
                planned.append(PlannedSelector(spec, selector, ctx, where, train_seed=seed, seed_slot=slot))
    return planned


def train_plan(plan: PlannedSelector, dataset: Dataset, cfg: RunConfig, device: str) -> float | None:
    """Train ``plan`` into its cached checkpoint when that is missing; the seconds it took, or ``None``.

    Under torchrun rank 0 alone looks for the checkpoint and every rank follows its answer: a rank
    that looked for itself could find the checkpoint rank 0 has just written, skip the training
    and its barrier, and leave rank 0 waiting in it for ever.
    """
    if plan.checkpoint is None or on_main(dist_info(), plan.checkpoint.exists):
        return None
    if cfg.no_train:
        raise BenchmarkError(
            f"{plan.label}: no checkpoint (looked for {plan.checkpoint}) and --no-train was given; pass "
            f"--checkpoint {plan.spec.name}=PATH or drop --no-train"
        )
    with phase(plan.label, "fit"):
        seconds = train_into(
            plan.selector,
            dataset.training_view(),
            replace(cfg.train, seed=plan.train_seed, device=device),
            plan.checkpoint,
        )
    barrier(dist_info())  # under torchrun rank 0 writes the checkpoint the others load next
    return seconds


def obtain(plan: PlannedSelector, dataset: Dataset, cfg: RunConfig, device: str) -> tuple[Selector, float | None]:
    """The selector ready to prepare: loaded from its checkpoint, or trained into the cache first."""
    if plan.checkpoint is None:
        return plan.selector, None
    seconds = train_plan(plan, dataset, cfg, device)
    if seconds is None:
        log.info("%s: using checkpoint %s", plan.label, plan.checkpoint)
    with phase(plan.label, "load"):
        return type(plan.selector).load(plan.checkpoint, plan.ctx), seconds
