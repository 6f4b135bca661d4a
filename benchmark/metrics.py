"""Ranking and emotion metrics with ties counted as expected values.

Public sticker-selection code broke ties towards index 0, where the gold always sat, so a
constant scorer looked perfect. Here the gold's rank under ties is a uniform random variable:
with ``a = 1 + #(s > s_gold)`` and ``b = #(s >= s_gold)``, every rank in ``[a, b]`` is equally
likely, and each metric is the expectation over that choice. A constant scorer therefore gets
exactly recall@1 = 1/N and MRR = H_N / N; a constant emotion head gets task3_acc@k = min(k, E)/E.

Definitions (per sample, then averaged over the samples that have what the metric needs):

* ``recall@k`` = P(rank <= k)
* ``mrr``      = E[1 / rank]
* ``map@5``    = E[1 / rank · 1(rank <= 5)]  (DSTC10's "MAP": MRR truncated at 5)
* ``emotion_acc`` = P(the gold emotion is the top-1 logit of ``ScoreBatch.emotion_logits``),
  ties split evenly: the emotion predicted together with the selector's *own* pick (the harder
  protocol: a wrong pick usually means a wrong emotion);
* ``task3_acc@k`` = P(the gold emotion is among the top-k logits of ``classify_emotion``), ties
  split evenly: MOD's task 3, where the model is given the sticker that was sent.

A sample without a gold sticker (a blind split) adds nothing to the ranking metrics, and one
without an emotion label nothing to the emotion metrics: a metric no sample can define is
``None``, never a number made up from nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

RANKING_METRICS = ("recall@1", "recall@3", "recall@5", "mrr", "map@5")
POOL_RANKING_METRICS = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "map@5")  # --candidates all
TASK3_METRICS = ("task3_acc@1", "task3_acc@5")
EMOTION_METRICS = ("emotion_acc", *TASK3_METRICS)
ALL_METRICS = (*RANKING_METRICS, *EMOTION_METRICS)
POOL_METRICS = (*POOL_RANKING_METRICS, *EMOTION_METRICS)


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
    return rank_metrics(RankRange.of(scores, gold_index))


def rank_metrics(r: RankRange, names: Sequence[str] = RANKING_METRICS) -> dict[str, float]:
    """``names`` (``recall@k``, ``mrr``, ``map@5``) of a gold whose rank is uniform on ``r``."""
    values = {}
    for name in names:
        if name.startswith("recall@"):
            values[name] = r.recall_at(int(name.removeprefix("recall@")))
        else:
            values[name] = r.reciprocal_rank(cutoff=5 if name == "map@5" else None)
    return values


def emotion_hit(logits: Sequence[float] | np.ndarray, gold_emotion: int) -> float:
    """P(top-1 emotion == gold) under uniform tie-breaking."""
    return RankRange.of(logits, gold_emotion).recall_at(1)


def task3_hits(logits: Sequence[float] | np.ndarray, gold_emotion: int) -> dict[str, float]:
    """``task3_acc@1`` and ``task3_acc@5`` of one sample: P(gold among the top k), ties split."""
    r = RankRange.of(logits, gold_emotion)
    return {"task3_acc@1": r.recall_at(1), "task3_acc@5": r.recall_at(5)}


def sample_values(
    scores: Sequence[float] | np.ndarray,
    gold_index: int | None,
    emotion_logits: Sequence[float] | np.ndarray | None = None,
    gold_emotion: int | None = None,
    task3_logits: Sequence[float] | np.ndarray | None = None,
    rank: RankRange | None = None,
) -> dict[str, float]:
    """Every metric one sample defines (none of the ranking ones for a blind item, no emotion
    metric without labels or without the logits it needs). With ``rank`` (a full-pool row, which
    keeps the gold's rank range instead of every score) the full-pool ranking metrics."""
    if rank is not None:
        values = rank_metrics(rank, POOL_RANKING_METRICS)
    else:
        values = {} if gold_index is None else sample_metrics(scores, gold_index)
    if gold_emotion is not None and emotion_logits is not None:
        values["emotion_acc"] = emotion_hit(emotion_logits, gold_emotion)
    if gold_emotion is not None and task3_logits is not None:
        values.update(task3_hits(task3_logits, gold_emotion))
    return values


def row_metrics(row: dict) -> tuple[str, ...]:
    """The metrics a predictions row belongs to: :data:`POOL_METRICS` for a full-pool row."""
    return POOL_METRICS if "gold_rank" in row else ALL_METRICS


def row_values(row: dict) -> dict[str, float]:
    """Every metric's value for one predictions row (see :func:`sample_values`); a full-pool row
    carries ``gold_rank`` (``[low, high]``, null when blind) instead of a score per candidate."""
    emotion = (row.get("emotion_logits"), row.get("emotion"), row.get("task3_logits"))
    if "gold_rank" in row:
        rank = None if row["gold_rank"] is None else RankRange(*row["gold_rank"])
        values = sample_values((), None, *emotion, rank=rank)
        return values if rank is not None else {k: v for k, v in values.items() if k in EMOTION_METRICS}
    gold = row.get("gold")
    gold_index = None if gold is None else row["candidates"].index(gold)
    return sample_values(row["scores"], gold_index, *emotion)


@dataclass
class _Mean:
    """Running count, mean and sum of squared deviations of one metric's per-sample values.

    Welford's update, not sums of squares: a metric that is the same for every sample (a
    constant head's 1/E) gets a standard error of exactly 0, not the rounding noise of
    ``Σx² − (Σx)²/n``.
    """

    n: int = 0
    mean_: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean_
        self.mean_ += delta / self.n
        self.m2 += delta * (value - self.mean_)

    def mean(self) -> float | None:
        return self.mean_ if self.n else None

    def stderr(self) -> float | None:
        if self.n < 2:
            return None
        return float(np.sqrt(max(0.0, self.m2) / (self.n - 1) / self.n))


@dataclass
class MetricAccumulator:
    """Running sums, so metrics can be computed while predictions stream to disk.

    ``n`` counts every sample added, scored or blind; each metric keeps its own count of the
    samples that define it.
    """

    n: int = 0
    metrics: tuple[str, ...] = ALL_METRICS
    means: dict[str, _Mean] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.means = self.means or {k: _Mean() for k in self.metrics}

    def add(
        self,
        scores: Sequence[float] | np.ndarray,
        gold_index: int | None,
        emotion_logits: Sequence[float] | np.ndarray | None = None,
        gold_emotion: int | None = None,
        task3_logits: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """One sample; ``gold_index=None`` is a blind item (scored, but no ranking metric)."""
        self.add_values(sample_values(scores, gold_index, emotion_logits, gold_emotion, task3_logits))

    def add_values(self, values: dict[str, float]) -> None:
        """One sample's per-metric values (as :func:`sample_values` returns them)."""
        self.n += 1
        for key, value in values.items():
            self.means[key].add(value)

    def result(self) -> dict[str, float | None]:
        """Metric name → mean; ``None`` where no sample defines it (blind split, no emotion head,
        no labels, no ``classify_emotion``)."""
        return {k: self.means[k].mean() for k in self.metrics}

    def stderr(self) -> dict[str, float | None]:
        """Metric name → standard error of its mean over samples (sample std / √n).

        Each metric is a mean of per-sample values, so this is the usual error bar of a sample
        mean: ±1.96·stderr is an approximate 95 % interval for the split's population. ``None``
        with fewer than two samples.
        """
        return {k: self.means[k].stderr() for k in self.metrics}


def compute_metrics(
    rows: Iterable[tuple[Sequence[float], int | None, Sequence[float] | None, int | None]],
) -> dict[str, float | None]:
    """Metrics over ``(scores, gold_index, emotion_logits, gold_emotion)`` rows."""
    acc = MetricAccumulator()
    for scores, gold_index, logits, emotion in rows:
        acc.add(scores, gold_index, logits, emotion)
    return acc.result()
