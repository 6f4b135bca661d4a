"""``popularity``: how often each sticker was the gold in the training split.

A context-blind baseline: any selector that does not beat it has learnt which stickers are
common, not which one fits the dialogue. Unseen stickers score 0, and ties are left as ties
(the metrics count them as expected values).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_json, read_json
from benchmark.selector import SelectorContext, SelectorMeta, TrainConfig
from benchmark.types import Dataset, Query, ScoreBatch, StickerStore


class PopularitySelector:
    description = "how often each sticker was the gold in the training split: the context-blind floor"

    def __init__(self, counts: dict[str, int] | None = None, train_split: str = "train"):
        self.counts = dict(counts or {})
        self.train_split = train_split
        self.meta = SelectorMeta(
            name="popularity",
            preset="default",
            description=self.description,
            config={"train_split": train_split},
        )

    def fit(self, data: Dataset, cfg: TrainConfig) -> None:
        self.counts = dict(Counter(s.gold for s in data.split(self.train_split)))

    def save(self, path: Path) -> None:
        atomic_write_json(Path(path) / "popularity.json", {"counts": self.counts, "train_split": self.train_split})

    @classmethod
    def load(cls, path: Path, ctx: SelectorContext) -> "PopularitySelector":
        file = Path(path) / "popularity.json"
        if not file.is_file():
            raise BenchmarkError(f"{path}: not a popularity checkpoint (no popularity.json)")
        state = read_json(file)
        counts = state.get("counts") if isinstance(state, dict) else None
        if (
            not isinstance(counts, dict)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values())
            or not isinstance(state.get("train_split"), str)
        ):
            raise BenchmarkError(
                f'{file}: expected {{"counts": {{sticker id: integer}}, "train_split": name}}; '
                "the checkpoint is damaged, delete it and train again"
            )
        return cls(counts={str(k): v for k, v in counts.items()}, train_split=state["train_split"])

    def prepare(self, stickers: StickerStore) -> None:
        """Nothing to precompute."""

    def score(self, queries: Sequence[Query]) -> ScoreBatch:
        return ScoreBatch(np.array([[float(self.counts.get(c, 0)) for c in q.candidates] for q in queries]))


def build(ctx: SelectorContext) -> PopularitySelector:
    return PopularitySelector()
