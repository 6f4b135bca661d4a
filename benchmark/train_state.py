"""What a killed training run resumes from, and its log: ``resume_dir/state`` and ``train_log.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.checkpoints import apply_weights, load_weights, module_weights, replace_dir, save_weights
from benchmark.io import staging_dir


class TrainState:
    """``resume_dir/state``: what resuming needs, replaced atomically after every epoch."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    @property
    def state(self) -> Path | None:
        return None if self.root is None else self.root / "state"

    def exists(self) -> bool:
        return self.state is not None and (self.state / "trainer_state.json").exists()

    def save(self, module: nn.Module, optimizer, scheduler, scaler, meta: dict[str, Any]) -> None:
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        staging = staging_dir(self.root, ".state.")
        save_weights(staging / "model.safetensors", module_weights(module, trainable_only=True))
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": None if scaler is None else scaler.state_dict(),
            },
            staging / "optimizer.pt",
        )
        (staging / "trainer_state.json").write_text(json.dumps(meta))
        replace_dir(staging, self.state)

    def load(self, module: nn.Module, optimizer, scheduler, scaler) -> dict[str, Any]:
        state = self.state
        apply_weights(module, load_weights(state / "model.safetensors"), state, complete=False)
        bundle = torch.load(state / "optimizer.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(bundle["optimizer"])
        scheduler.load_state_dict(bundle["scheduler"])
        if scaler is not None and bundle["scaler"] is not None:
            scaler.load_state_dict(bundle["scaler"])
        return json.loads((state / "trainer_state.json").read_text())

    def save_best(self, weights: dict[str, torch.Tensor]) -> None:
        if self.root is not None:
            save_weights(self.root / "best.safetensors", weights)

    def load_best(self) -> dict[str, torch.Tensor] | None:
        path = None if self.root is None else self.root / "best.safetensors"
        return load_weights(path) if path is not None and path.exists() else None


class TrainLog:
    """``train_log.jsonl``: one JSON line per logged step or epoch, written by rank 0 only."""

    def __init__(self, path: Path | None, enabled: bool):
        self.path = path
        self.enabled = enabled and path is not None

    def write(self, row: dict[str, Any]) -> None:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
