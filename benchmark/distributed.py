"""Where a process stands in a ``torchrun`` launch, and the collectives the trainer and the
in-batch contrastive losses need. Every helper is the identity (or a no-op) on one process, so
callers never branch on whether they run distributed.

* :func:`dist_info` reads ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; :func:`init_distributed` joins the
  process group (``gloo`` on CPU, ``nccl`` on CUDA) and picks this rank's device.
* :func:`gather_with_grad` concatenates a tensor from every rank, keeping gradients, so an
  in-batch contrastive loss sees every rank's negatives.
* :func:`all_reduce_sum` and :func:`broadcast` carry the trainer's logged losses and validation
  metric between ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class DistInfo:
    world: int
    rank: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """This process's place in a ``torchrun`` launch (world 1 when not distributed)."""
    return DistInfo(
        world=int(os.environ.get("WORLD_SIZE", "1")),
        rank=int(os.environ.get("RANK", "0")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init_distributed(device: str) -> tuple[DistInfo, str]:
    """Join the process group when launched distributed; return the device this rank uses."""
    info = dist_info()
    if info.world > 1:
        import torch.distributed as dist

        cuda = device.startswith("cuda")
        if cuda:
            device = f"cuda:{info.local_rank}"
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
    return info, device


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0 that tolerates ragged shards and sends gradients back to their rank.

    Backward sums the gathered gradient over ranks (all_reduce works on every backend, gloo has no
    reduce_scatter) and keeps this rank's rows.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        world, rank = dist.get_world_size(), dist.get_rank()
        sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
        dist.all_gather(sizes, torch.tensor([x.shape[0]], dtype=torch.long, device=x.device))
        sizes = [int(s.item()) for s in sizes]
        padded = x.new_zeros((max(sizes), *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        ctx.start, ctx.stop = sum(sizes[:rank]), sum(sizes[: rank + 1])
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.start : ctx.stop]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dim 0, keeping gradients (identity on one process).

    With it, an in-batch contrastive loss computed on every rank equals the single-process loss
    over the global batch, and DDP's gradient averaging gives exactly its gradient (also when the
    last batch splits unevenly: the trainer's micro-batch weights sum to the world size).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def all_reduce_sum(values: dict[str, float], info: DistInfo, device: str) -> dict[str, float]:
    """Each key summed over the ranks (the same dict on one process)."""
    if info.world == 1:
        return values
    import torch.distributed as dist

    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def broadcast(value: Any, info: DistInfo) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if info.world == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
