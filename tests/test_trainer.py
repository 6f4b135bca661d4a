"""The shared trainer: schedule, accumulation, resume, early stopping, and DDP equivalence."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from benchmark.distributed import gather_with_grad
from benchmark.selector import TrainConfig
from benchmark.trainer import RecipeDefaults, train, warmup_cosine
from benchmark.types import Dataset, Sample, StickerStore


def _data(n: int = 48) -> Dataset:
    samples = [Sample(f"s{i}", (), "1", "a") for i in range(n)]
    return Dataset("toy", {"train": samples}, StickerStore([]), ())


class ToyRecipe:
    """Linear regression on fixed random features: a per-example mean loss."""

    defaults = RecipeDefaults(epochs=2, batch_size=8, lr=0.05, weight_decay=0.0)

    def __init__(self, contrastive: bool = False):
        torch.manual_seed(0)
        self.module = nn.Linear(4, 3)
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(48, 4, generator=g)
        self.y = torch.randn(48, 3, generator=g)
        self.contrastive = contrastive

    def param_groups(self, cfg):
        return [{"params": list(self.module.parameters())}]

    def batches(self, data, split, batch_size, rng, epoch):
        order = rng.permutation(len(data.split(split)))
        for start in range(0, len(order), batch_size):
            yield [int(i) for i in order[start : start + batch_size]]

    def loss(self, examples):
        idx = torch.tensor(examples)
        pred = self.module(self.x[idx])
        if self.contrastive:
            a, b = gather_with_grad(pred), gather_with_grad(self.y[idx])
            logits = a @ b.t()
            target = torch.arange(len(a))
            loss = nn.functional.cross_entropy(logits, target)
            return {"loss": loss, "ce": loss.detach()}
        mse = ((pred - self.y[idx]) ** 2).mean()
        return {"loss": mse, "mse": mse.detach()}


def test_warmup_then_cosine():
    f = warmup_cosine(100, 0.1)
    assert f(0) < f(5) < f(9) <= 1.0
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5, abs=0.02)
    assert f(100) == pytest.approx(0.0, abs=1e-9)


def test_loss_decreases_and_log_is_written(tmp_path):
    recipe = ToyRecipe()
    result = train(recipe, _data(), TrainConfig(epochs=4, resume_dir=tmp_path, log_every=1, amp=False), progress=False)
    assert result.steps == 4 * 6
    assert np.mean(result.losses[-6:]) < np.mean(result.losses[:6])
    rows = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert len(rows) == result.steps and {"step", "epoch", "lr", "loss", "mse"} <= set(rows[0])


class NoGroupsRecipe:
    """A recipe that leaves the optimiser's parameter groups to the trainer."""

    defaults = ToyRecipe.defaults

    def __init__(self):
        self.inner = ToyRecipe()
        self.module = self.inner.module

    def batches(self, data, split, batch_size, rng, epoch):
        return self.inner.batches(data, split, batch_size, rng, epoch)

    def loss(self, examples):
        return self.inner.loss(examples)


def test_without_param_groups_every_trainable_parameter_is_optimised_and_frozen_ones_stay():
    recipe = NoGroupsRecipe()
    recipe.module.bias.requires_grad_(False)
    bias, weight = recipe.module.bias.detach().clone(), recipe.module.weight.detach().clone()
    train(recipe, _data(), TrainConfig(epochs=1, amp=False), progress=False)
    assert torch.equal(recipe.module.bias, bias)
    assert not torch.equal(recipe.module.weight, weight)


def test_gradient_accumulation_matches_the_full_batch():
    full = train(ToyRecipe(), _data(), TrainConfig(epochs=1, amp=False), progress=False)
    accum = train(ToyRecipe(), _data(), TrainConfig(epochs=1, grad_accum=4, amp=False), progress=False)
    np.testing.assert_allclose(full.losses, accum.losses, rtol=1e-5)


def test_max_steps_stops_and_a_second_call_finishes_the_epochs(tmp_path):
    first = train(
        ToyRecipe(), _data(), TrainConfig(epochs=3, max_steps=12, resume_dir=tmp_path, amp=False), progress=False
    )
    assert first.steps == 12 and first.epochs == 2
    resumed = train(ToyRecipe(), _data(), TrainConfig(epochs=3, resume_dir=tmp_path, amp=False), progress=False)
    assert resumed.steps == 18 and resumed.epochs == 3
    assert resumed.losses[:12] == first.losses


def test_resume_matches_an_uninterrupted_run(tmp_path):
    straight = train(ToyRecipe(), _data(), TrainConfig(epochs=3, amp=False), progress=False)
    recipe = ToyRecipe()
    calls = {"n": 0}

    def crash_after_first_epoch():
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return 0.0

    with pytest.raises(KeyboardInterrupt):
        train(
            recipe,
            _data(),
            TrainConfig(epochs=3, resume_dir=tmp_path, patience=None, amp=False),
            validate=crash_after_first_epoch,
            progress=False,
        )
    resumed = train(ToyRecipe(), _data(), TrainConfig(epochs=3, resume_dir=tmp_path, amp=False), progress=False)
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-5)


def test_early_stopping_restores_the_best_epoch():
    recipe = ToyRecipe()
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])
    snapshots = []

    def validate():
        snapshots.append(recipe.module.weight.detach().clone())
        return next(scores)

    result = train(recipe, _data(), TrainConfig(epochs=6, patience=1, amp=False), validate=validate, progress=False)
    assert result.best_epoch == 1 and result.best_metric == 0.9
    assert result.epochs == 4  # epochs 2 and 3 did not improve; patience 1 stops after the second
    torch.testing.assert_close(recipe.module.weight.detach(), snapshots[1])


# ----------------------------------------------------------------------------- DDP (gloo, CPU)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, contrastive: bool, out: str) -> None:
    import os

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    try:
        result = train(ToyRecipe(contrastive), _data(), TrainConfig(epochs=2, batch_size=9, amp=False), progress=False)
        if rank == 0:
            torch.save({"losses": torch.tensor(result.losses, dtype=torch.float64)}, out)
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()  # no rank tears its connections down while the other still uses them
            dist.destroy_process_group()


@pytest.mark.parametrize("contrastive", [False, True])
def test_two_gloo_processes_follow_the_single_process_loss_curve(tmp_path, contrastive):
    # Global batch 9 over 2 ranks: shards of 5 and 4, and a last batch of 3 (2 and 1).
    single = train(ToyRecipe(contrastive), _data(), TrainConfig(epochs=2, batch_size=9, amp=False), progress=False)
    out = str(tmp_path / "ddp.pt")
    mp.spawn(_ddp_worker, args=(2, _free_port(), contrastive, out), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)["losses"].numpy()
    assert len(ddp) == len(single.losses) == 12  # 6 steps per epoch
    np.testing.assert_allclose(ddp, single.losses, rtol=1e-4, atol=1e-6)
