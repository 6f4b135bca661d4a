"""Early stopping's signal, made by the harness and handed to ``fit`` in ``TrainConfig.validation``.

The selector being trained never builds its own validation candidates: the harness passes a
callable that scores the selector on a fixed subset of the validation split (the same sets every
epoch, drawn like the run's own) and returns its MRR. A zero-shot selector simply ignores it.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmark.candidates import sampled_candidates
from benchmark.evaluator import quick_metrics
from benchmark.selector import Selector
from benchmark.types import Dataset

VALIDATION_SAMPLES = 256  # early stopping needs a signal, not the full split
VALIDATION_CANDIDATES = 10
# Part of every cached checkpoint's key: bump it when the early-stopping signal changes (its
# samples, candidate sets or metric), so that checkpoints stopped on another signal are retrained.
PROTOCOL = "mrr/256 samples/10 candidates/matched negatives"


def validation_mrr(data: Dataset, split: str | None, seed: int) -> Callable[[Selector], float] | None:
    """``f(selector) -> validation MRR`` on up to 256 samples of ``split``, or ``None`` without one
    (or when it is blind: no answers, nothing to stop on)."""
    if split is None or not data.splits.get(split) or split in data.info.get("blind_splits", ()):
        return None
    samples = data.split(split)[:VALIDATION_SAMPLES]
    n = min(VALIDATION_CANDIDATES, len(data.stickers))
    sets = sampled_candidates(samples, list(data.stickers), n, seed=seed, negatives="matched")

    def validate(selector: Selector) -> float:
        selector.prepare(data.stickers)
        return float(quick_metrics(selector, samples, sets)["mrr"])

    return validate
