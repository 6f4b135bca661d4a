"""Trained checkpoints, cached under ``$STICKERBENCH_CACHE/checkpoints`` and reused across runs.

A cached checkpoint is keyed by everything its weights depend on — the selector's name, preset,
config and code, the training overrides, the *training* data (the fingerprint of the
train/validation view that ``fit`` sees, so adding a test file retrains nothing) and the seed —
so a change to any of them trains afresh instead of reusing weights the current code would not
produce. Training writes into ``<key>.work`` (resumable), saves into ``<key>.staging`` and moves
it into place, so a killed run never leaves a half checkpoint that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from benchmark.selector import Selector, TrainConfig
from benchmark.source_hash import source_fingerprint
from benchmark.types import Dataset
from benchmark.validation import PROTOCOL as VALIDATION_PROTOCOL
from benchmark.validation import validation_mrr

CHECKPOINT_MARKER = ".stickerbench-checkpoint"  # lets `train --output` replace only its own directories
TRAINING_KNOBS = (
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_ratio",
    "grad_clip",
    "grad_accum",
    "patience",
    "max_steps",
    "validation_split",
)


def training_overrides(train: TrainConfig) -> dict[str, object]:
    return {k: getattr(train, k) for k in TRAINING_KNOBS}


def selector_code_hash(selector: Selector) -> str:
    return source_fingerprint(type(selector).__module__)


def checkpoint_key(selector: Selector, training_data: Dataset, seed: int, train: TrainConfig) -> str:
    """What a cached trained checkpoint depends on: selector config and code, overrides, data, seed."""
    payload = json.dumps(
        {
            "name": selector.meta.name,
            "preset": selector.meta.preset,
            "config": selector.meta.config,
            "code": selector_code_hash(selector),
            "validation": VALIDATION_PROTOCOL,  # early stopping's sets and metric
            "train": training_overrides(train),
            "dataset": training_data.fingerprint,
            "seed": seed,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cached_checkpoint_dir(cache_root: Path, name: str, preset: str, key: str) -> Path:
    return Path(cache_root) / "checkpoints" / f"{name}-{preset}-{key}"


def train_into(selector: Selector, training_data: Dataset, train: TrainConfig, target: Path) -> float:
    """Fit ``selector`` on the training view and save it at ``target`` atomically; return the seconds.

    ``target`` is replaced whole: callers check first that it is absent or a checkpoint.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.with_name(target.name + ".work")
    validation = validation_mrr(training_data, train.validation_split, train.seed)
    started = time.perf_counter()
    selector.fit(training_data, replace(train, resume_dir=work, validation=validation))
    seconds = time.perf_counter() - started
    if int(os.environ.get("RANK", "0")) != 0:
        return seconds  # under torchrun every rank trains; rank 0 alone writes
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    selector.save(staging)
    (staging / CHECKPOINT_MARKER).write_text("written by stickerbench train\n")
    from benchmark.checkpoints import replace_dir

    replace_dir(staging, target)
    shutil.rmtree(work, ignore_errors=True)
    return seconds
