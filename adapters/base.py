"""Glue shared by every torch selector, so that each ``adapters/<name>.py`` stays thin.

A subclass of :class:`TorchSelector` declares its identity (class attributes ``name``,
``description``, ``reference``, ``license``, ``paper_backbone``, ``supports_emotion``) and
implements five hooks:

``tiny_backbone(data) -> Path``
    Build the random-init small model of the *same* architecture class (its tokenizer from
    :func:`benchmark.tiny_tokenizer.train_tiny_tokenizer` on the training split) and
    ``save_pretrained`` it (model, tokenizer, processors) into :meth:`new_backbone_dir`; return it.
``load_backbone(source)``
    ``from_pretrained(source)`` — a hub id or a local directory — set ``self.model`` (the
    ``nn.Module`` that is trained and checkpointed) and whatever else scoring needs; freeze here
    what the recipe never trains. Both presets go through this one function: ``paper`` with the
    hub id (or ``--option <name>_model=PATH``), ``tiny`` with the directory written above.
``recipe(data) -> benchmark.trainer.Recipe``
    What to learn (loss, negatives, parameter groups, defaults).
``encode(stickers)``
    Per-sticker work for ``prepare``: use :func:`benchmark.features.encode_stickers` with
    ``self.feature_cache_dir`` (``None`` while training, since the weights move).
``score_queries(queries) -> ScoreBatch``
    Runs under ``torch.inference_mode()`` with the model in eval mode.

The base class supplies the rest: lazy model building (a ``paper`` backbone is loaded on first
use, never twice when a checkpoint follows), device placement, seeding, ``fit`` (the shared
trainer, with early stopping on the validation MRR callable the harness passes in
``TrainConfig.validation``), ``save``/``load`` through
:mod:`benchmark.checkpoints`, and ``meta.num_parameters``.

Checkpoint layout (see :mod:`benchmark.checkpoints`): ``model.safetensors`` holds the trainable
parameters; ``backbone/`` holds the ``save_pretrained`` starting point for ``tiny`` presets only
(random init cannot be re-downloaded); ``paper`` checkpoints name their backbone in
``config.json`` and reload it with ``from_pretrained``.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.batching import DEFAULT_BATCH
from benchmark.checkpoints import (
    WEIGHTS,
    CheckpointInfo,
    apply_weights,
    load_weights,
    module_weights,
    read_info,
    save_checkpoint,
)
from benchmark.distributed import dist_info
from benchmark.errors import SelectorError
from benchmark.precision import autocast
from benchmark.selector import SelectorContext, SelectorMeta, TrainConfig
from benchmark.trainer import Recipe, resolve_config, seed_everything, train
from benchmark.types import Dataset, Query, ScoreBatch, StickerStore
from stickerbench.adapters.text_ids import TextIds


class TorchSelector(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    license: ClassVar[str | None] = None
    paper_backbone: ClassVar[str]
    supports_emotion: ClassVar[bool] = False
    early_stopping: ClassVar[bool] = True  # False: the harness's validation callable is ignored (zero-shot)
    batch_unit: ClassVar[str] = "queries"  # "pairs" for a cross-encoder (benchmark.batching)
    # Rough seconds to train the tiny preset on MojiChat on a 2-core CPU (measured, shared caches
    # included): it only orders --jobs workers, longest first (benchmark.parallel).
    train_cost: ClassVar[float] = 1.0

    def __init__(self, ctx: SelectorContext):
        if ctx.preset not in ("tiny", "paper"):
            raise SelectorError(f"{self.name}: unknown preset {ctx.preset!r}; choose tiny or paper")
        self.ctx = ctx
        self.device = ctx.device
        self.model: torch.nn.Module | None = None
        self.backbone_source: str | None = None
        self._backbone_tmp: tempfile.TemporaryDirectory | None = None
        self._training = False
        self.use_disk_cache = True  # benchmarks turn it off to measure encoding itself
        self._prepared_for: int | None = None
        self._fit_info: dict[str, Any] = {}
        self._text_ids: TextIds | None = None
        self.meta = SelectorMeta(
            name=self.name,
            preset=ctx.preset,
            presets=("tiny", "paper"),
            supports_emotion=self.supports_emotion,
            description=self.description,
            reference=self.reference,
            license=self.license,
            config={
                "preset": ctx.preset,
                "backbone": self.paper_source() if ctx.preset == "paper" else "tiny",
                **self.config(),
            },
        )

    def _tokenize(self, text: str) -> list[int]:
        """``text``'s ids by ``self.tokenizer``, without special tokens, remembered (:class:`TextIds`)."""
        if self._text_ids is None or not self._text_ids.serves(self.tokenizer):
            self._text_ids = TextIds(self.tokenizer)
        return self._text_ids(text)

    # ------------------------------------------------------------------ subclass hooks

    def config(self) -> dict[str, Any]:
        """Everything besides preset and backbone that changes scores (keys cached checkpoints)."""
        return {}

    @abstractmethod
    def tiny_backbone(self, data: Dataset) -> Path:
        """Build the random-init small backbone, ``save_pretrained`` it, and return its directory."""

    @abstractmethod
    def load_backbone(self, source: str | Path) -> None:
        """``from_pretrained(source)`` (hub id or directory); set ``self.model`` and freeze what never trains."""

    @abstractmethod
    def recipe(self, data: Dataset) -> Recipe:
        """What the shared trainer learns: loss, negatives, parameter groups, defaults."""

    @abstractmethod
    def encode(self, stickers: StickerStore) -> None:
        """Per-sticker work for ``prepare``, through :func:`benchmark.features.encode_stickers`."""

    @abstractmethod
    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        """Scores (and emotion logits) for a batch; runs under ``torch.inference_mode()`` in eval mode."""

    # ------------------------------------------------------------------ building

    def paper_source(self) -> str:
        """``--option <name>_model=PATH`` (a local copy) or the hub id."""
        return str(self.ctx.options.get(f"{self.name.replace('-', '_')}_model") or self.paper_backbone)

    def new_backbone_dir(self) -> Path:
        """A temporary directory for a ``tiny`` backbone; it lives as long as the selector."""
        self._backbone_tmp = tempfile.TemporaryDirectory(prefix=f"stickerbench-{self.name}-")
        return Path(self._backbone_tmp.name)

    def _build(self, source: str | Path) -> None:
        seed_everything(self.ctx.seed)
        with quiet_transformers(self.ctx.preset == "tiny"):
            self.load_backbone(source)
        self.backbone_source = str(source)
        self.model.to(self.device)
        self.model.eval()
        total = sum(p.numel() for p in self.model.parameters())
        self.meta = replace(self.meta, num_parameters=total)

    def ensure_model(self, data: Dataset | None = None) -> torch.nn.Module:
        if self.model is None:
            if self.ctx.preset == "paper":
                self._build(self.paper_source())
            elif data is None:
                raise SelectorError(
                    f"{self.name}@tiny is a random-init model: train it first (python -m benchmark "
                    f"train --model {self.name}) or pass --checkpoint {self.name}=PATH"
                )
            else:
                seed_everything(self.ctx.seed)
                with quiet_transformers():
                    backbone = self.tiny_backbone(data)
                self._build(backbone)
        return self.model

    @property
    def feature_cache_dir(self) -> Path | None:
        """Where ``encode`` caches per-sticker features; ``None`` while training (weights move)."""
        return None if self._training else self.frozen_feature_dir()

    def frozen_feature_dir(self, kind: str | None = None) -> Path | None:
        """Where the features of an encoder that training never moves are cached (so while training
        too): ``<cache>/features/<kind or name>``, with ``-bf16``/``-fp16`` for features encoded under
        autocast; ``None`` when ``use_disk_cache`` is off."""
        if not self.use_disk_cache:
            return None
        mode, kind = self.scoring_autocast, kind or self.name
        return Path(self.ctx.cache_dir) / "features" / (kind if mode == "off" else f"{kind}-{mode}")

    @property
    def scoring_autocast(self) -> str:
        """The run's ``--autocast``, except while training: early stopping then scores in fp32, so
        that a checkpoint does not depend on the precision of the run that trained it."""
        return "off" if self._training else self.ctx.autocast

    @property
    def pair_batch(self) -> int:
        """(query, candidate) pairs per forward pass of a cross-encoder: ``--batch-size`` or 256."""
        return self.ctx.batch_size or DEFAULT_BATCH["pairs"]

    def tiny_dir(self) -> Path | None:
        """The ``tiny`` backbone directory this selector was built from (saved into checkpoints)."""
        if self.ctx.preset != "tiny" or self.backbone_source is None:
            return None
        return Path(self.backbone_source)

    # ------------------------------------------------------------------ Selector

    def prepare(self, stickers: StickerStore) -> None:
        self.ensure_model()
        self.model.eval()
        with autocast(self.device, self.scoring_autocast):
            self.encode(stickers)
        self._prepared_for = id(stickers)

    def score(self, queries: Sequence[Query]) -> ScoreBatch:
        if self._prepared_for is None:
            raise SelectorError(f"{self.name}: call prepare(stickers) before score(queries)")
        self.model.eval()
        with torch.inference_mode(), autocast(self.device, self.scoring_autocast):
            return self.score_queries(queries)

    # ------------------------------------------------------------------ TrainableSelector

    def fit(self, data: Dataset, cfg: TrainConfig) -> None:
        resume_backbone = None if cfg.resume_dir is None else Path(cfg.resume_dir) / "backbone"
        if (
            self.model is None
            and self.ctx.preset == "tiny"
            and resume_backbone is not None
            and resume_backbone.is_dir()
        ):
            self._build(resume_backbone)  # continue from the very same random init
        self.ensure_model(data)
        tiny = self.tiny_dir()
        if tiny is not None and resume_backbone is not None and not resume_backbone.is_dir() and dist_info().is_main:
            import shutil

            shutil.copytree(tiny, resume_backbone)  # every rank built the same seeded init; one copy
        recipe = self.recipe(data)
        validate = (lambda: cfg.validation(self)) if cfg.validation is not None and self.early_stopping else None
        self._training = True
        try:
            result = train(recipe, data, cfg, validate=validate, desc=f"{self.name}: training")
        finally:
            self._training = False
            self._prepared_for = None  # features were computed with moving weights
        self._fit_info = {
            "hyperparameters": resolve_config(cfg, recipe.defaults).to_dict(),
            "dataset_fingerprint": data.fingerprint,
            "seed": cfg.seed,
            "train_log": result.log_path,
            "result": {
                "steps": result.steps,
                "epochs": result.epochs,
                "best_validation_mrr": result.best_metric,
                "best_epoch": result.best_epoch,
                "seconds": result.seconds,
            },
        }

    def save(self, path: Path) -> None:
        self.ensure_model()
        info = CheckpointInfo(
            selector=self.name,
            preset=self.ctx.preset,
            config=dict(self.meta.config),
            hyperparameters=self._fit_info.get("hyperparameters", {}),
            dataset_fingerprint=self._fit_info.get("dataset_fingerprint"),
            seed=self._fit_info.get("seed", self.ctx.seed),
            weights="trainable",
            extra={
                "backbone": "backbone/" if self.tiny_dir() else self.backbone_source,
                "training": self._fit_info.get("result"),
            },
        )
        tiny = self.tiny_dir()
        save_checkpoint(
            path,
            info,
            module_weights(self.model, trainable_only=True),
            train_log=self._fit_info.get("train_log"),
            files={"backbone": tiny} if tiny is not None else None,
        )

    @classmethod
    def load(cls, path: Path, ctx: SelectorContext) -> "TorchSelector":
        path = Path(path)
        read_info(path, selector=cls.name, preset=ctx.preset)
        selector = cls(ctx)
        backbone = path / "backbone"
        if ctx.preset == "tiny" and not backbone.is_dir():
            raise SelectorError(f"{path}: a tiny checkpoint needs its backbone/ directory; train it again")
        selector._build(backbone if ctx.preset == "tiny" else selector.paper_source())
        apply_weights(selector.model, load_weights(path / WEIGHTS), path, complete=False)
        selector.model.to(selector.device)
        return selector


@contextmanager
def quiet_transformers(enabled: bool = True):
    """Hide transformers' save/load progress bars: noise for a few-MB tiny model, useful for a hub download."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled and was:
            hf_logging.enable_progress_bar()


def sent_sticker_emotions(selector: TorchSelector, queries: Sequence[Query], missing: str) -> np.ndarray:
    """MOD task 3 through a selector's own scoring path: each query holds one candidate, the sent
    sticker, and the emotion head's logits on it are the answer; ``missing`` says why there may be none."""
    if any(len(q.candidates) != 1 for q in queries):
        raise SelectorError(f"{selector.name}: classify_emotion takes queries holding one candidate, the sent sticker")
    logits = selector.score(queries).emotion_logits
    if logits is None:
        raise SelectorError(f"{selector.name}: no emotion head ({missing})")
    return logits


def as_float64(values: torch.Tensor) -> np.ndarray:
    """A score tensor as float64 numpy, from any dtype autocast leaves it in (numpy has no bfloat16)."""
    return values.detach().float().cpu().numpy().astype(np.float64)


def candidate_rows(queries: Sequence[Query], rows: Mapping[str, int]) -> torch.Tensor:
    """Row indices of each query's candidates, ``[B, N]``; ``[N]`` when every query has the same
    candidates (a full pool), so that a dual encoder scores them with one matrix product."""
    first = queries[0].candidates
    if all(q.candidates is first or q.candidates == first for q in queries):
        return torch.tensor([rows[c] for c in first])
    return torch.tensor([[rows[c] for c in q.candidates] for q in queries])


def dialogue_text(query_context, max_turns: int | None = None) -> str:
    """The context's turns joined oldest to newest (tokenizers truncate from the left)."""
    turns = [u.text for u in query_context if u.text]
    if max_turns is not None:
        turns = turns[-max_turns:]
    return " ".join(turns)


def last_utterance(query_context) -> str:
    """The text of the last turn that has text (the one sent together with the sticker)."""
    for u in reversed(query_context):
        if u.text:
            return u.text
    return ""


def training_golds(data: Dataset) -> list[str]:
    """Stickers that are a gold somewhere in ``train``: the pool matching negatives come from.

    Drawing negatives from every sticker would teach a matcher that stickers held out of training
    are always wrong, and push unseen golds (``test_hard``) to the bottom.
    """
    return sorted({s.gold for s in data.split("train")})


def gold_and_negative_batches(data: Dataset, split: str, batch_size: int, rng, pool: Sequence[str], negatives: int):
    """Shuffled batches of ``(dialogue text, [gold, negative, ...])`` for cross-encoder matching losses."""
    samples = data.split(split)
    order = rng.permutation(len(samples))
    k = min(negatives, len(pool) - 1)
    for start in range(0, len(order), batch_size):
        batch = []
        for i in order[start : start + batch_size]:
            s = samples[i]
            others = [p for p in pool if p != s.gold]
            batch.append(
                (
                    dialogue_text(s.context),
                    [s.gold, *(others[j] for j in rng.choice(len(others), size=k, replace=False))],
                )
            )
        yield batch
