"""How a scoring batch is sized: ``--batch-size`` counts queries or (query, candidate) pairs.

Why two units: a dual encoder scores a query against every candidate with one product, so its
memory grows with the number of queries; a cross-encoder runs one forward pass per pair, so a
batch of 32 queries is 320 passes over 10 candidates and 6,560 over a 205-sticker pool. A
selector says which bounds it with a ``batch_unit`` attribute (``queries`` when absent).
"""

from __future__ import annotations

from benchmark.errors import BenchmarkError

BATCH_UNITS = ("queries", "pairs")
DEFAULT_BATCH = {"queries": 32, "pairs": 256}


def batch_unit(selector: object) -> str:
    """``selector.batch_unit`` (``queries`` when it declares none)."""
    unit = getattr(selector, "batch_unit", "queries")
    if unit not in BATCH_UNITS:
        name = getattr(getattr(selector, "meta", None), "name", type(selector).__name__)
        raise BenchmarkError(f"selector {name!r}: batch_unit {unit!r} is not one of {', '.join(BATCH_UNITS)}")
    return unit


def query_batches(sizes: list[int], batch_size: int | None, unit: str) -> list[range]:
    """Consecutive index ranges over queries with ``sizes[i]`` candidates each.

    ``queries``: ``batch_size`` queries per batch. ``pairs``: as many whole queries as keep the
    batch within ``batch_size`` pairs; a query is never split, so one with more candidates than
    that is a batch of its own (the selector chunks it, see ``TorchSelector.pair_batch``).
    """
    size = batch_size or DEFAULT_BATCH[unit]
    if unit == "queries":
        return [range(s, min(s + size, len(sizes))) for s in range(0, len(sizes), size)]
    batches, start, pairs = [], 0, 0
    for i, n in enumerate(sizes):
        if i > start and pairs + n > size:
            batches.append(range(start, i))
            start, pairs = i, 0
        pairs += n
    if start < len(sizes):
        batches.append(range(start, len(sizes)))
    return batches
