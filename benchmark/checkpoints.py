"""Checkpoint directories: the one format every trainable selector saves and loads.

A checkpoint is a directory::

    model.safetensors   the learnt weights (see below); never a pickle
    config.json         selector name, preset, selector config, hyperparameters, dataset
                        fingerprint, seed, library versions, and the adapter's own ``extra``
    train_log.jsonl     the trainer's log (losses, learning rate, validation metrics), if any
    backbone/           optional: what the adapter needs to rebuild the architecture without
                        the network (for ``tiny`` presets: the HF model config and the tokenizer
                        trained offline); written by the adapter via ``save_checkpoint(files=…)``

Which weights: ``model.safetensors`` holds every tensor needed on top of the backbone the config
names. ``tiny`` presets are random-init, so that is the whole module; ``paper`` presets reload the
pretrained backbone (hub id or directory) and the file holds only the parameters training changed
(for BLIP-2 that is ``itm_head`` alone, a few KB instead of 4 GB). :func:`module_weights` makes
that choice for every adapter.

Every file is written to a temporary sibling and moved into place (``os.replace``), and the
directory itself is assembled under a temporary name and renamed, so a killed process never
leaves a half checkpoint that looks complete. Loading checks the selector name and preset and
raises :class:`~benchmark.errors.BenchmarkError` naming what is wrong and what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_bytes, atomic_write_json, staging_dir

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAIN_LOG = "train_log.jsonl"
FORMAT_VERSION = 1


@dataclass
class CheckpointInfo:
    """What ``config.json`` records about a checkpoint."""

    selector: str
    preset: str
    config: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    dataset_fingerprint: str | None = None
    seed: int | None = None
    weights: str = "full"  # "full" (whole module) or "trainable" (changed parameters only)
    extra: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION


def library_versions() -> dict[str, Any]:
    from benchmark.provenance import library_versions as libs

    return {"python": sys.version.split()[0], **libs()}


def module_weights(module: torch.nn.Module, trainable_only: bool) -> dict[str, torch.Tensor]:
    """CPU copies of the module's state (or of its trainable parameters only).

    Copies break storage sharing (tied weights), which safetensors refuses to save.
    """
    if trainable_only:
        items = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    else:
        items = list(module.state_dict().items())
    return {n: t.detach().to("cpu").contiguous().clone() for n, t in items}


def save_weights(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    atomic_write_bytes(Path(path), save(tensors, metadata={"format": "pt"}))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: weights file missing; the checkpoint is incomplete, train it again") from None
    except (OSError, SafetensorError) as exc:
        raise BenchmarkError(f"{path}: cannot read the weights ({exc}); the file is damaged, train it again") from None


def apply_weights(module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Path, complete: bool) -> None:
    """Load ``tensors`` into ``module``; every saved name must exist, and all of them if ``complete``."""
    own = module.state_dict()
    unknown = sorted(set(tensors) - set(own))
    missing = sorted(set(own) - set(tensors)) if complete else []
    if unknown or missing:
        raise BenchmarkError(
            f"{where}: weights do not fit the model (unknown: {unknown[:3]}, missing: {missing[:3]}); "
            "the checkpoint was made with another architecture or config"
        )
    for name, tensor in tensors.items():
        if tuple(own[name].shape) != tuple(tensor.shape):
            raise BenchmarkError(
                f"{where}: {name} has shape {tuple(tensor.shape)} in the checkpoint but "
                f"{tuple(own[name].shape)} in the model; it was made with another config"
            )
    module.load_state_dict(tensors, strict=complete)


def save_checkpoint(
    path: Path,
    info: CheckpointInfo,
    weights: dict[str, torch.Tensor],
    train_log: Path | None = None,
    files: dict[str, Path] | None = None,
) -> Path:
    """Write a checkpoint directory at ``path`` atomically (replacing an existing one).

    ``files`` maps names inside the checkpoint to files or directories to copy in (``backbone``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(path.parent, f".{path.name}.")
    try:
        save_weights(staging / WEIGHTS, weights)
        info.versions = info.versions or library_versions()
        atomic_write_json(staging / CONFIG, asdict(info))
        if train_log is not None and Path(train_log).exists():
            shutil.copyfile(train_log, staging / TRAIN_LOG)
        for name, source in (files or {}).items():
            if Path(source).is_dir():
                shutil.copytree(source, staging / name)
            else:
                shutil.copyfile(source, staging / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_dir(staging, path)
    return path


def replace_dir(staging: Path, path: Path) -> None:
    """Move a fully written ``staging`` directory to ``path``, replacing what was there.

    The old directory is first renamed aside, so at every instant ``path`` is either the old
    complete directory, absent, or the new complete one; readers treat absent as "none yet".
    """
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old.{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(staging, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_info(path: Path, selector: str | None = None, preset: str | None = None) -> CheckpointInfo:
    """Read and check ``config.json``; a mismatch is a clear :class:`BenchmarkError`."""
    path = Path(path)
    if not path.is_dir():
        raise BenchmarkError(f"{path}: not a checkpoint directory (expected {CONFIG} and {WEIGHTS} inside)")
    config = path / CONFIG
    if not config.exists():
        raise BenchmarkError(f"{path}: no {CONFIG}; this is not a stickerbench checkpoint or it is incomplete")
    try:
        raw = json.loads(config.read_text(encoding="utf-8"))
        info = CheckpointInfo(**raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise BenchmarkError(f"{config}: unreadable checkpoint config ({exc}); train the selector again") from None
    if info.format_version != FORMAT_VERSION:
        raise BenchmarkError(f"{config}: checkpoint format {info.format_version}, this version reads {FORMAT_VERSION}")
    if selector is not None and info.selector != selector:
        raise BenchmarkError(
            f"{path} is a checkpoint of selector {info.selector!r}, not {selector!r}; "
            f"pass it as --checkpoint {info.selector}=PATH"
        )
    if preset is not None and info.preset != preset:
        raise BenchmarkError(
            f"{path} is a {info.preset!r} checkpoint of {info.selector!r}, but preset {preset!r} was "
            f"asked for; use {info.selector}@{info.preset} or a checkpoint of the right preset"
        )
    if not (path / WEIGHTS).exists():
        raise BenchmarkError(f"{path}: no {WEIGHTS}; the checkpoint is incomplete, train it again")
    return info
