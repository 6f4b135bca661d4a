"""``random``: the chance floor. Scores are uniform noise seeded by (seed, sample, candidate),
so they do not depend on batching or on the order candidates arrive in."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from benchmark.selector import SelectorContext, SelectorMeta
from benchmark.types import Query, ScoreBatch, StickerStore


class RandomSelector:
    description = "uniform random scores, seeded per (sample, candidate): the chance floor"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.meta = SelectorMeta(
            name="random",
            preset="default",
            description=self.description,
            config={"seed": seed},
        )

    def prepare(self, stickers: StickerStore) -> None:
        """Nothing depends on the stickers."""

    def _uniform(self, sample_id: str, sticker_id: str) -> float:
        digest = hashlib.sha256(f"{self.seed}\0{sample_id}\0{sticker_id}".encode()).digest()
        return int.from_bytes(digest[:8], "little") / 2**64

    def score(self, queries: Sequence[Query]) -> ScoreBatch:
        return ScoreBatch(np.array([[self._uniform(q.sample_id, c) for c in q.candidates] for q in queries]))


def build(ctx: SelectorContext) -> RandomSelector:
    return RandomSelector(seed=ctx.seed)
