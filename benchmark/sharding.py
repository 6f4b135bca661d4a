"""Evaluation sharded over the ranks of a ``torchrun`` (or SLURM ``srun`` with torchrun's
variables) launch: each rank scores its own samples on its own device, rank 0 keeps the books.

A sample's shard is fixed by its id alone (sha256 of the id modulo the world size), so the shards
of a split never depend on its order. Each rank appends to its own file,
``predictions/<model>/<split>.shard<r>-of-<w>.jsonl`` — a killed run resumes every shard where it
stopped, with the same number of ranks — and rank 0 merges them, in the split's order, into the
usual ``<split>.jsonl`` once every rank has finished, refusing a merge with a sample missing or
doubled. Only rank 0 locks the run directory and writes ``results.json``, manifests and tables;
the other ranks receive its decisions (or its error) by broadcast, so that a refusal on rank 0
stops every rank with the same one-line message instead of leaving them waiting.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from benchmark.distributed import DistInfo, broadcast
from benchmark.errors import BenchmarkError, DataError
from benchmark.io import atomic_write_text, read_jsonl

T = TypeVar("T")


def shard_of(sample_id: str, world: int) -> int:
    return int.from_bytes(hashlib.sha256(sample_id.encode()).digest()[:8], "little") % world


def shard_path(predictions: Path, rank: int, world: int) -> Path:
    return predictions.with_name(f"{predictions.stem}.shard{rank}-of-{world}.jsonl")


def shard_files(predictions: Path) -> list[Path]:
    """Every shard file of ``predictions``, whatever the number of shards it was cut into."""
    return sorted(predictions.parent.glob(f"{glob.escape(predictions.stem)}.shard*-of-*.jsonl"))


def on_main(info: DistInfo, work: Callable[[], T]) -> T:
    """``work()`` on rank 0, its result on every rank; its error raised on every rank."""
    if info.world == 1:
        return work()
    outcome: tuple[str, object]
    if info.is_main:
        try:
            outcome = ("ok", work())
        except BenchmarkError as exc:
            outcome = ("error", str(exc))
            broadcast(outcome, info)
            raise
    else:
        outcome = ("pending", None)
    outcome = broadcast(outcome, info)
    if outcome[0] == "error":
        raise BenchmarkError(f"{outcome[1]} (reported by rank 0)")
    return outcome[1]


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        import torch.distributed as dist

        dist.barrier()


def merge_shards(predictions: Path, world: int, sample_ids: Sequence[str]) -> None:
    """Write the shards' rows into ``predictions`` in ``sample_ids`` order, then delete the shards."""
    rows: dict[str, str] = {}
    shards = [shard_path(predictions, rank, world) for rank in range(world)]
    for shard in shards:
        for lineno, row in read_jsonl(shard):
            if row["sample_id"] in rows:
                raise DataError(f"{shard}:{lineno}: sample {row['sample_id']} was scored by two shards")
            rows[row["sample_id"]] = json.dumps(row, separators=(",", ":")) + "\n"
    missing = [s for s in sample_ids if s not in rows]
    if missing or len(rows) != len(sample_ids):
        raise DataError(
            f"{predictions}: the shards hold {len(rows)} rows for {len(sample_ids)} samples "
            f"({len(missing)} missing, e.g. {missing[:1]}); re-run the same command to finish them"
        )
    atomic_write_text(predictions, "".join(rows[s] for s in sample_ids))
    for shard in shard_files(predictions):  # with those of an earlier run cut into another number of shards
        shard.unlink(missing_ok=True)


def leave(info: DistInfo) -> None:
    """Leave the process group before the interpreter exits (gloo's threads otherwise abort the
    process at exit: "terminate called without an active exception")."""
    if info.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
