"""The one trainer every trainable selector uses: an adapter describes *what* to learn, this
module decides *how* (optimiser, schedule, precision, distribution, checkpoints, stopping).

An adapter hands :func:`train` a **recipe** (see :class:`Recipe`)::

    class MyRecipe:
        module = model                      # what is optimised (and checkpointed on resume)
        defaults = RecipeDefaults(epochs=10, batch_size=64, lr=5e-5, weight_decay=0.2)
        find_unused_parameters = False      # optional: True if some trainable params skip a step

        def param_groups(self, cfg):        # optional (default: one group of every parameter
            return [{"params": [...], "lr": ...}]  # with requires_grad); per-group lr/betas allowed

        def batches(self, data, split, batch_size, rng, epoch):
            ...yield lists of `batch_size` training examples (any Python objects); draw
            negatives here with `rng` (seeded per epoch, identical on every rank)

        def loss(self, examples):           # collate + forward; must return {"loss": scalar, ...}
            ...

    result = train(recipe, data, cfg, validate=lambda: quick_metrics(...)["mrr"])

What the trainer does with it:

* **AdamW** (decoupled weight decay) on ``param_groups`` (``lr``/``weight_decay``/``betas``/``eps``
  filled in where a group has none), or **Adam** with L2 weight decay (the decay added to the
  gradient) when the recipe's ``optimizer`` is ``"adam"``, as papers that say "Adam with weight
  decay" ran it; linear **warmup** over ``warmup_ratio`` of the steps then **cosine** decay to 0
  (``schedule="constant"``: warmup, then a constant rate), **gradient clipping** (``grad_clip``,
  by global norm; 0 = none), **gradient accumulation** (``grad_accum`` micro-batches per
  optimiser step), **AMP** (bf16, or fp16 with a grad scaler) only on CUDA.
* Every setting comes from ``TrainConfig`` when it is set there, else from the recipe's
  ``RecipeDefaults`` (its paper's recipe), else from the shared defaults (warmup 6 %, clip 1.0).
* ``batch_size`` is the *global* batch of one optimiser step. Each global batch is split into
  ``grad_accum`` micro-batches and each of those across the ranks; every micro-loss is weighted by
  its share of the global batch, so per-example mean losses give exactly the gradient of the
  global mean, however the batch is split. In-batch contrastive losses should call
  :func:`benchmark.distributed.gather_with_grad` to see every rank's negatives.
* **DDP** when launched with ``torchrun`` (``WORLD_SIZE > 1``): ``gloo`` on CPU, ``nccl`` on CUDA;
  the loss runs inside the ``DistributedDataParallel`` wrapper's forward so gradients are
  all-reduced as usual. Only rank 0 writes files and shows the progress bar. The rank helpers
  live in :mod:`benchmark.distributed`.
* **Seeded**: python, numpy and torch are seeded from ``cfg.seed`` (torch with ``+ rank`` for
  dropout), and ``batches`` gets ``numpy.random.default_rng([seed, epoch])``.
* **Early stopping**: after every epoch ``validate()`` (validation ``mrr``, higher is better) is
  called; the best epoch's trainable weights are kept and restored at the end; training stops
  after ``patience`` epochs without improvement.
* **Resumable**: after every epoch the state (trainable weights, optimiser, scheduler, scaler,
  epoch, best metric) is written atomically to ``cfg.resume_dir/state``; a new call with the same
  ``resume_dir`` continues after the last finished epoch. Resume restores trainable parameters
  only, so the recipe's module must be rebuilt identically (adapters seed before building).
* **Logging**: ``train_log.jsonl`` in ``resume_dir`` (one line per ``log_every`` steps with every
  entry of ``loss(...)``, one per epoch with the validation metric).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from benchmark.checkpoints import apply_weights, module_weights
from benchmark.distributed import DistInfo, all_reduce_sum, broadcast, init_distributed
from benchmark.progress import progress_bar
from benchmark.selector import TrainConfig
from benchmark.train_state import TrainLog, TrainState
from benchmark.types import Dataset

WARMUP_RATIO = 0.06  # the shared defaults, for recipes whose paper does not say
GRAD_CLIP = 1.0
OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class RecipeDefaults:
    """A recipe's own settings (its paper's, scaled to its preset); ``TrainConfig`` overrides.

    ``None`` in ``warmup_ratio``/``grad_clip``: the shared defaults; ``betas``/``eps``: torch's.
    A recipe that follows public code sets what that code set (MMBERT: no warmup, no clipping).
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    schedule: str = "cosine"
    warmup_ratio: float | None = None
    grad_clip: float | None = None
    betas: tuple[float, float] | None = None
    eps: float | None = None

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")


@dataclass(frozen=True)
class ResolvedConfig:
    """``TrainConfig`` with every ``None`` replaced by the recipe's default: what actually ran."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_ratio: float
    grad_clip: float
    grad_accum: int
    optimizer: str
    schedule: str
    betas: tuple[float, float] | None
    eps: float | None
    patience: int | None
    max_steps: int | None
    seed: int
    device: str
    amp: bool
    log_every: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recipe(Protocol):
    module: nn.Module
    defaults: RecipeDefaults

    # optional: ``param_groups(self, cfg: ResolvedConfig) -> list[dict]`` (default: every trainable parameter)

    def batches(
        self, data: Dataset, split: str, batch_size: int, rng: np.random.Generator, epoch: int
    ) -> Iterable[list[Any]]: ...

    def loss(self, examples: list[Any]) -> dict[str, torch.Tensor]: ...


@dataclass
class TrainResult:
    steps: int
    epochs: int
    best_metric: float | None
    best_epoch: int | None
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    log_path: Path | None = None


def _first(*values):
    return next(v for v in values if v is not None)


def resolve_config(cfg: TrainConfig, defaults: RecipeDefaults) -> ResolvedConfig:
    return ResolvedConfig(
        epochs=_first(cfg.epochs, defaults.epochs),
        batch_size=_first(cfg.batch_size, defaults.batch_size),
        lr=_first(cfg.lr, defaults.lr),
        weight_decay=_first(cfg.weight_decay, defaults.weight_decay),
        warmup_ratio=_first(cfg.warmup_ratio, defaults.warmup_ratio, WARMUP_RATIO),
        grad_clip=_first(cfg.grad_clip, defaults.grad_clip, GRAD_CLIP),
        grad_accum=max(1, cfg.grad_accum),
        optimizer=defaults.optimizer,
        schedule=defaults.schedule,
        betas=defaults.betas,
        eps=defaults.eps,
        patience=cfg.patience,
        max_steps=cfg.max_steps,
        seed=cfg.seed,
        device=cfg.device,
        amp=cfg.amp,
        log_every=max(1, cfg.log_every),
    )


# --------------------------------------------------------------------------- pieces


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warmup_cosine(total_steps: int, warmup_ratio: float, schedule: str = "cosine") -> Callable[[int], float]:
    """Learning-rate factor: linear warmup to 1, then cosine decay to 0 at ``total_steps``
    (``schedule="constant"``: 1 after the warmup)."""
    warmup = int(round(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def make_optimizer(groups: list[dict[str, Any]], run: ResolvedConfig) -> torch.optim.Optimizer:
    """AdamW (decoupled decay: θ ← θ − lr·wd·θ beside the Adam step) or Adam (L2: wd·θ is added
    to the gradient before the moments, so it is rescaled by them); see the module docstring."""
    for g in groups:
        g.setdefault("lr", run.lr)
        g.setdefault("weight_decay", run.weight_decay)
        if run.betas is not None:
            g.setdefault("betas", tuple(run.betas))
        if run.eps is not None:
            g.setdefault("eps", run.eps)
    kind = torch.optim.Adam if run.optimizer == "adam" else torch.optim.AdamW
    return kind(groups, lr=run.lr, weight_decay=run.weight_decay)


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    """``parts`` contiguous, near-equal slices (sizes differ by at most one)."""
    bounds = np.linspace(0, len(items), parts + 1).round().astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _autocast(device: str, enabled: bool):
    if not (enabled and device.startswith("cuda")):
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


class _LossModule(nn.Module):
    """Runs ``recipe.loss`` as ``forward`` so DDP's hooks see it (DDP syncs on forward/backward)."""

    def __init__(self, recipe: Recipe):
        super().__init__()
        self.inner = recipe.module
        self.recipe = recipe

    def forward(self, examples: list[Any]) -> dict[str, torch.Tensor]:
        return self.recipe.loss(examples)


# --------------------------------------------------------------------------- the loop


def train(
    recipe: Recipe,
    data: Dataset,
    cfg: TrainConfig,
    validate: Callable[[], float] | None = None,
    split: str = "train",
    progress: bool = True,
    desc: str = "training",
) -> TrainResult:
    """Optimise ``recipe.module`` on ``data.split(split)``; see the module docstring. ``desc``
    labels the progress bar."""
    run = resolve_config(cfg, recipe.defaults)
    info, device = init_distributed(run.device)
    seed_everything(run.seed + info.rank)
    module = recipe.module.to(device)
    wrapped: nn.Module = _LossModule(recipe)
    if info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(
            wrapped,
            device_ids=[int(device.split(":")[1])] if device.startswith("cuda") else None,
            find_unused_parameters=getattr(recipe, "find_unused_parameters", False),
        )
    if hasattr(recipe, "param_groups"):
        groups = recipe.param_groups(run)
    else:
        groups = [{"params": [p for p in recipe.module.parameters() if p.requires_grad]}]
    optimizer = make_optimizer(groups, run)
    trainable = [p for g in groups for p in g["params"]]

    def epoch_batches(epoch: int) -> list[list[Any]]:
        rng = np.random.default_rng([run.seed, epoch])
        return [list(b) for b in recipe.batches(data, split, run.batch_size, rng, epoch)]

    steps_per_epoch = len(epoch_batches(0))
    total = run.epochs * steps_per_epoch
    if run.max_steps is not None:
        total = min(total, run.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(max(1, total), run.warmup_ratio, run.schedule)
    )
    autocast, scaler = _autocast(device, run.amp)
    store = TrainState(cfg.resume_dir)
    log_path = None if cfg.resume_dir is None else Path(cfg.resume_dir) / "train_log.jsonl"
    log = TrainLog(log_path, info.is_main)

    meta: dict[str, Any] = {
        "epoch": -1,
        "step": 0,
        "best": None,
        "best_epoch": None,
        "bad": 0,
        "done": False,
        "losses": [],
    }
    if store.exists():
        meta = store.load(module, optimizer, scheduler, scaler)
    best_weights = store.load_best()
    started = time.perf_counter()
    bar = progress_bar(
        total=total, initial=meta["step"], desc=desc, unit="step", disable=not (progress and info.is_main), leave=False
    )
    epoch = meta["epoch"] + 1
    while not meta["done"] and epoch < run.epochs and meta["step"] < total:
        module.train()
        for examples in epoch_batches(epoch):
            if meta["step"] >= total:
                break
            logged = _step(wrapped, examples, run, info, device, autocast, scaler, optimizer, scheduler, trainable)
            if logged is None:
                continue
            meta["step"] += 1
            meta["losses"].append(logged["loss"])
            bar.update(1)
            bar.set_postfix(loss=f"{logged['loss']:.4f}")
            if meta["step"] % run.log_every == 0 or meta["step"] == total:
                log.write({"step": meta["step"], "epoch": epoch, "lr": scheduler.get_last_lr()[0], **logged})
        meta["epoch"] = epoch
        if validate is not None:
            module.eval()
            metric = broadcast(float(validate()) if info.is_main else None, info)
            improved = meta["best"] is None or metric > meta["best"]
            log.write({"epoch": epoch, "step": meta["step"], "validation_mrr": metric, "improved": improved})
            if improved:
                meta.update(best=metric, best_epoch=epoch, bad=0)
                best_weights = module_weights(module, trainable_only=True)
                if info.is_main:
                    store.save_best(best_weights)
            else:
                meta["bad"] += 1
                if run.patience is not None and meta["bad"] > run.patience:
                    meta["done"] = True
        if info.is_main:
            store.save(module, optimizer, scheduler, scaler, meta)
        epoch += 1
    bar.close()
    if best_weights is not None:
        apply_weights(module, {k: v.to(device) for k, v in best_weights.items()}, Path("best weights"), complete=False)
    module.eval()
    return TrainResult(
        steps=meta["step"],
        epochs=meta["epoch"] + 1,
        best_metric=meta["best"],
        best_epoch=meta["best_epoch"],
        losses=list(meta["losses"]),
        seconds=time.perf_counter() - started,
        log_path=log_path,
    )


def _step(
    wrapped, examples, run: ResolvedConfig, info: DistInfo, device, autocast, scaler, optimizer, scheduler, trainable
):
    """One optimiser step over a global batch; returns the logged (global-mean) losses."""
    micro_count = min(run.grad_accum, len(examples) // info.world)
    if micro_count == 0:
        return None  # too small to give every rank an example: skip (only a ragged last batch)
    total_n = len(examples)
    sums: dict[str, float] = {}
    micros = _split(examples, micro_count)
    for i, micro in enumerate(micros):
        local = _split(micro, info.world)[info.rank]
        weight = len(local) * info.world / total_n
        sync = nullcontext() if (info.world == 1 or i == len(micros) - 1) else wrapped.no_sync()
        with sync:
            with autocast:
                out = wrapped(local)
            loss = out["loss"] * weight
            (scaler.scale(loss) if scaler is not None else loss).backward()
        share = len(local) / total_n
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * share
    if scaler is not None:
        scaler.unscale_(optimizer)
    if run.grad_clip and run.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(trainable, run.grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    scheduler.step()
    return all_reduce_sum(sums, info, device)
