"""Scoring precision: ``--autocast off|bf16|fp16``.

Why an option and not a default: half-precision scoring is 2-4x faster on a recent GPU, but it
moves scores by a few 1e-3 and can reorder near-ties, so a table made under autocast is not the
table made in fp32. The mode is part of every result's identity (``results.json``), and a run
directory never mixes the two.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from benchmark.errors import BenchmarkError

AUTOCAST_MODES = ("off", "bf16", "fp16")  # torch is imported when used: the command line reads these


def check_autocast(mode: str, device: str) -> None:
    """Refuse a mode the device cannot run, before any work (``RunConfig.validate`` checks the name)."""
    import torch

    if mode == "bf16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise BenchmarkError("--autocast bf16: this GPU has no bfloat16 support; use --autocast fp16")


def autocast(device: str, mode: str) -> AbstractContextManager:
    """``torch.autocast`` on ``device``'s type in ``mode``, or nothing for ``off``."""
    if mode == "off":
        return nullcontext()
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]
    return torch.autocast(torch.device(device).type, dtype=dtype)
