"""Checkpoint directories: round trip, trainable-only weights, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from benchmark.checkpoints import (
    CONFIG,
    TRAIN_LOG,
    WEIGHTS,
    CheckpointInfo,
    apply_weights,
    load_weights,
    module_weights,
    read_info,
    save_checkpoint,
)
from benchmark.errors import BenchmarkError


def _model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    m[0].requires_grad_(False)
    return m


def test_round_trip_of_trainable_weights(tmp_path):
    model = _model()
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss": 0.5}\n')
    backbone = tmp_path / "bb"
    backbone.mkdir()
    (backbone / "config.json").write_text("{}")
    info = CheckpointInfo(
        "clip", "tiny", config={"d": 4}, hyperparameters={"lr": 1e-3}, dataset_fingerprint="abc", seed=3
    )
    ckpt = save_checkpoint(
        tmp_path / "ckpt", info, module_weights(model, trainable_only=True), log, {"backbone": backbone}
    )
    assert sorted(p.name for p in ckpt.iterdir()) == sorted([WEIGHTS, CONFIG, TRAIN_LOG, "backbone"])
    saved = json.loads((ckpt / CONFIG).read_text())
    assert saved["dataset_fingerprint"] == "abc" and saved["seed"] == 3 and "torch" in saved["versions"]
    weights = load_weights(ckpt / WEIGHTS)
    assert set(weights) == {"1.weight", "1.bias"}  # the frozen layer comes from the backbone

    other = _model()
    with torch.no_grad():
        other[1].weight.zero_()
    apply_weights(other, weights, ckpt, complete=False)
    torch.testing.assert_close(other[1].weight, model[1].weight)
    assert read_info(ckpt, "clip", "tiny").hyperparameters == {"lr": 1e-3}

    # Saving again over an existing checkpoint replaces it whole.
    save_checkpoint(ckpt, CheckpointInfo("clip", "tiny"), module_weights(model, trainable_only=False))
    assert not (ckpt / "backbone").exists() and set(load_weights(ckpt / WEIGHTS)) == set(model.state_dict())


def test_mismatches_are_clear_errors(tmp_path):
    model = _model()
    ckpt = save_checkpoint(tmp_path / "c", CheckpointInfo("vilt", "tiny"), module_weights(model, True))
    with pytest.raises(BenchmarkError, match="checkpoint of selector 'vilt', not 'clip'"):
        read_info(ckpt, "clip", "tiny")
    with pytest.raises(BenchmarkError, match="'tiny' checkpoint .* preset 'paper'"):
        read_info(ckpt, "vilt", "paper")
    with pytest.raises(BenchmarkError, match="not a checkpoint directory"):
        read_info(tmp_path / "nowhere", "vilt", "tiny")
    wrong = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5))
    with pytest.raises(BenchmarkError, match="shape"):
        apply_weights(wrong, load_weights(ckpt / WEIGHTS), ckpt, complete=False)
    with pytest.raises(BenchmarkError, match="missing"):
        apply_weights(model, load_weights(ckpt / WEIGHTS), ckpt, complete=True)
    (ckpt / WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(BenchmarkError, match="damaged"):
        load_weights(ckpt / WEIGHTS)
    (ckpt / WEIGHTS).unlink()
    with pytest.raises(BenchmarkError, match="incomplete"):
        read_info(ckpt, "vilt", "tiny")


def test_tied_weights_are_saved(tmp_path):
    emb = nn.Embedding(5, 3)
    head = nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    model = nn.ModuleDict({"emb": emb, "head": head})
    save_checkpoint(tmp_path / "t", CheckpointInfo("x", "tiny"), module_weights(model, trainable_only=False))
    assert set(load_weights(tmp_path / "t" / WEIGHTS)) == {"emb.weight", "head.weight"}


def test_the_cached_checkpoint_key_follows_the_code_the_selector_imports(tmp_path, monkeypatch):
    """A cached checkpoint is reused only by the code that trained it: an edited recipe retrains,
    an edit elsewhere does not."""
    import importlib

    from benchmark.checkpoint_cache import checkpoint_key
    from benchmark.selector import TrainConfig
    from benchmark.source_hash import source_fingerprint
    from benchmark.types import Dataset, StickerStore

    source = tmp_path / "edited_plugin.py"
    helper = tmp_path / "plugin_helper.py"
    unrelated = tmp_path / "unrelated_plugin.py"
    helper.write_text("LR = 1e-3\n")
    unrelated.write_text("X = 1\n")
    source.write_text(
        "from benchmark import SelectorMeta\nimport plugin_helper\n\nclass S:\n    meta = SelectorMeta(name='edited')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    selector = importlib.import_module("edited_plugin").S()
    data = Dataset(name="d", splits={"train": []}, stickers=StickerStore([]), emotion_names=())
    key = lambda: checkpoint_key(selector, data, 0, TrainConfig())  # noqa: E731
    source_fingerprint.cache_clear()
    before = key()
    assert key() == before
    unrelated.write_text("X = 2\n")  # not imported by the selector: its checkpoint stays valid
    source_fingerprint.cache_clear()
    assert key() == before
    helper.write_text("LR = 5e-4\n")  # imported by the selector's module
    source_fingerprint.cache_clear()
    after_helper = key()
    assert after_helper != before
    source.write_text(source.read_text() + "# a comment\n")
    source_fingerprint.cache_clear()
    assert key() not in (before, after_helper)
