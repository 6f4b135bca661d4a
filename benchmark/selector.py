"""The contract between the harness and every sticker selector.

Like lm-evaluation-harness's ``LM``, a selector implements very little: ``prepare`` (see each
sticker once and cache whatever depends only on it) and ``score`` (rank candidates for a batch
of queries). Trainable selectors add ``fit``/``save``/``load``. The harness does everything
else: candidate sets, batching, validation, metrics, results.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from benchmark.types import Dataset, Query, ScoreBatch, StickerStore


@dataclass(frozen=True)
class SelectorMeta:
    """Who a selector is: reported in ``results.json`` next to its numbers.

    ``config`` holds everything that changes its scores (preset, backbone ids, sizes); it is
    part of the key of cached checkpoints, so two configs never share one. ``presets`` names
    the presets the selector can be built with (empty: it has none, and ``NAME@PRESET`` is an
    error).
    """

    name: str
    preset: str = "default"
    presets: tuple[str, ...] = ()
    supports_emotion: bool = False
    description: str = ""
    reference: str = ""
    license: str | None = None
    num_parameters: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (tuples become lists), so a saved and a fresh entry compare equal."""
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass(frozen=True)
class SelectorContext:
    """What the harness tells a selector factory about the run it is built for."""

    preset: str = "tiny"
    num_emotions: int = 0
    emotion_names: tuple[str, ...] = ()
    seed: int = 0
    device: str = "cpu"
    cache_dir: Path = Path(".cache/stickerbench")
    options: dict[str, Any] = field(default_factory=dict)
    autocast: str = "off"  # score under torch.autocast: off, bf16 or fp16 (benchmark.precision)
    batch_size: int | None = None  # the run's --batch-size, in the selector's batch_unit; None: default


@dataclass
class TrainConfig:
    """Optimisation settings shared by every trainable selector.

    ``None`` fields fall back to the selector's own recipe (its paper's settings); the CLI's
    ``train`` flags fill in the rest. ``validation`` is set by the harness: ``f(selector)``
    returns the validation MRR early stopping watches (``None`` when there is no validation split).
    """

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup_ratio: float | None = None  # None: the recipe's (its paper's), else 0.06
    grad_clip: float | None = None  # None: the recipe's, else 1.0; 0 turns clipping off
    grad_accum: int = 1
    patience: int | None = 2
    max_steps: int | None = None
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    validation_split: str | None = "validation"
    log_every: int = 20
    resume_dir: Path | None = None
    validation: Callable[[Any], float] | None = field(default=None, compare=False, repr=False)


@runtime_checkable
class Selector(Protocol):
    """Ranks candidate stickers for dialogues."""

    meta: SelectorMeta

    def prepare(self, stickers: StickerStore) -> None:
        """Called once per dataset before scoring: compute per-sticker features here."""

    def score(self, queries: Sequence[Query]) -> ScoreBatch:
        """Scores ``[len(queries), N]`` for the queries' candidates, higher is better.

        A selector may declare ``batch_unit = "pairs"`` (a cross-encoder: one forward pass per
        query and candidate): the harness then sizes each call by (query, candidate) pairs,
        not by queries (:mod:`benchmark.batching`)."""


@runtime_checkable
class TrainableSelector(Selector, Protocol):
    """A selector with parameters learnt from a dataset's training split."""

    def fit(self, data: Dataset, cfg: TrainConfig) -> None: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path, ctx: SelectorContext) -> "TrainableSelector": ...


TRAINABLE_METHODS = ("fit", "save", "load")


def is_trainable(selector: Selector) -> bool:
    return all(callable(getattr(selector, m, None)) for m in TRAINABLE_METHODS)


def trainable_contract_problem(selector: Selector) -> str | None:
    """Why a selector that implements part of :class:`TrainableSelector` breaks it, or ``None``.

    A selector with ``fit`` but no ``load`` would otherwise be treated as untrained, silently.
    """
    present = [m for m in TRAINABLE_METHODS if callable(getattr(selector, m, None))]
    if not present:
        return None
    missing = [m for m in TRAINABLE_METHODS if m not in present]
    if missing:
        return f"implements {', '.join(present)} but not {', '.join(missing)} (a trainable selector needs fit, save and a classmethod load)"
    if not isinstance(inspect.getattr_static(type(selector), "load", None), classmethod):
        return "defines load, but not as a @classmethod load(cls, path, ctx)"
    return None
