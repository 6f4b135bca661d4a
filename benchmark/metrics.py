"""Ranking and emotion metrics with ties counted as expected values.

Public sticker-selection code broke ties towards index 0, where the gold always sat, so a
constant scorer looked perfect. Here the gold's rank under ties is a uniform random variable:
with ``a = 1 + #(s > s_gold)`` and ``b = #(s >= s_gold)``, every rank in ``[a, b]`` is equally
likely, and each metric is the expectation over that choice. A constant scorer therefore gets
exactly recall@1 = 1/N and MRR = H_N / N.

Definitions (per sample, then averaged over samples):

* ``recall@k`` = P(rank <= k)
* ``mrr``      = E[1 / rank]
* ``map@5``    = E[1 / rank · 1(rank <= 5)]  (DSTC10's "MAP": MRR truncated at 5)
* ``emotion_acc`` = P(the gold emotion is the top-1 logit), ties split evenly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

RANKING_METRICS = ("recall@1", "recall@3", "recall@5", "mrr", "map@5")
ALL_METRICS = (*RANKING_METRICS, "emotion_acc")


@dataclass(frozen=True)
class RankRange:
    """The gold's rank under uniform random tie-breaking is uniform on ``[low, high]``."""

    low: int
    high: int

    @classmethod
    def of(cls, scores: Sequence[float] | np.ndarray, gold_index: int) -> "RankRange":
        s = np.asarray(scores, dtype=np.float64)
        gold = s[gold_index]
        return cls(low=1 + int(np.sum(s > gold)), high=int(np.sum(s >= gold)))

    @property
    def count(self) -> int:
        return self.high - self.low + 1

    def recall_at(self, k: int) -> float:
        return max(0, min(self.high, k) - self.low + 1) / self.count

    def reciprocal_rank(self, cutoff: int | None = None) -> float:
        top = self.high if cutoff is None else min(self.high, cutoff)
        if top < self.low:
            return 0.0
        return float(np.sum(1.0 / np.arange(self.low, top + 1))) / self.count


def sample_metrics(scores: Sequence[float] | np.ndarray, gold_index: int) -> dict[str, float]:
    """The ranking metrics of one sample."""
    r = RankRange.of(scores, gold_index)
    return {
        "recall@1": r.recall_at(1),
        "recall@3": r.recall_at(3),
        "recall@5": r.recall_at(5),
        "mrr": r.reciprocal_rank(),
        "map@5": r.reciprocal_rank(cutoff=5),
    }


def emotion_hit(logits: Sequence[float] | np.ndarray, gold_emotion: int) -> float:
    """P(top-1 emotion == gold) under uniform tie-breaking."""
    return RankRange.of(logits, gold_emotion).recall_at(1)


@dataclass
class MetricAccumulator:
    """Running sums, so metrics can be computed while predictions stream to disk."""

    n: int = 0
    sums: dict[str, float] | None = None
    squares: dict[str, float] | None = None
    emotion_n: int = 0
    emotion_hits: float = 0.0
    emotion_squares: float = 0.0

    def add(
        self,
        scores: Sequence[float] | np.ndarray,
        gold_index: int,
        emotion_logits: Sequence[float] | np.ndarray | None = None,
        gold_emotion: int | None = None,
    ) -> None:
        if self.sums is None:
            self.sums = dict.fromkeys(RANKING_METRICS, 0.0)
            self.squares = dict.fromkeys(RANKING_METRICS, 0.0)
        for key, value in sample_metrics(scores, gold_index).items():
            self.sums[key] += value
            self.squares[key] += value * value
        self.n += 1
        if emotion_logits is not None and gold_emotion is not None:
            hit = emotion_hit(emotion_logits, gold_emotion)
            self.emotion_hits += hit
            self.emotion_squares += hit * hit
            self.emotion_n += 1

    def result(self) -> dict[str, float | None]:
        """Metric name → mean; ``emotion_acc`` is ``None`` when no sample had logits and a label."""
        out: dict[str, float | None] = {
            k: (self.sums[k] / self.n if self.sums and self.n else None) for k in RANKING_METRICS
        }
        out["emotion_acc"] = self.emotion_hits / self.emotion_n if self.emotion_n else None
        return out

    def stderr(self) -> dict[str, float | None]:
        """Metric name → standard error of its mean over samples (sample std / √n).

        Each metric is a mean of per-sample values, so this is the usual error bar of a sample
        mean: ±1.96·stderr is an approximate 95 % interval for the split's population. ``None``
        with fewer than two samples.
        """
        out: dict[str, float | None] = {
            k: (_stderr(self.sums[k], self.squares[k], self.n) if self.sums else None) for k in RANKING_METRICS
        }
        out["emotion_acc"] = _stderr(self.emotion_hits, self.emotion_squares, self.emotion_n)
        return out


def _stderr(total: float, squares: float, n: int) -> float | None:
    if n < 2:
        return None
    variance = max(0.0, (squares - total * total / n) / (n - 1))
    return float(np.sqrt(variance / n))


def compute_metrics(
    rows: Iterable[tuple[Sequence[float], int, Sequence[float] | None, int | None]],
) -> dict[str, float | None]:
    """Metrics over ``(scores, gold_index, emotion_logits, gold_emotion)`` rows."""
    acc = MetricAccumulator()
    for scores, gold_index, logits, emotion in rows:
        acc.add(scores, gold_index, logits, emotion)
    return acc.result()
