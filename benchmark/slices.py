"""Where selectors fail: each sample's slice labels, and metrics per slice value.

Averages hide the failures the CKS paper is about (picking a sticker whose emotion contradicts
the dialogue because a word co-occurred with it in training). Every sample is labelled with:

* ``gold_emotion`` — the gold emotion's name (absent when the split has no labels);
* ``gold_seen`` — ``seen`` when the gold sticker is a gold somewhere in ``train``, else ``unseen``;
* ``context_turns`` — ``1-2``, ``3-4`` or ``5+`` turns of context;
* ``bias`` — ``aligned``, ``conflicting`` or ``none`` by the words mined from ``train``
  (:mod:`benchmark.bias_words`).

Labels depend only on the dataset, so every selector's slice numbers are over the same samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from benchmark.bias_words import BiasWord, bias_label
from benchmark.metrics import MetricAccumulator
from benchmark.types import Dataset, Sample

SLICES = ("gold_emotion", "gold_seen", "context_turns", "bias")


def _turns_bucket(turns: int) -> str:
    return "1-2" if turns <= 2 else "3-4" if turns <= 4 else "5+"


class SliceLabeller:
    """Labels samples of a dataset; built once per run (the train golds and mined words are shared)."""

    def __init__(self, dataset: Dataset, mined: Sequence[BiasWord]):
        self.emotion_names = dataset.emotion_names
        self.train_golds = {s.gold for s in dataset.splits.get("train", ())}
        self.mined = list(mined)

    def labels(self, sample: Sample) -> dict[str, str]:
        labels = {
            "gold_seen": "seen" if sample.gold in self.train_golds else "unseen",
            "context_turns": _turns_bucket(len(sample.context)),
            "bias": bias_label(sample, self.emotion_names, self.mined),
        }
        if sample.emotion is not None:
            labels["gold_emotion"] = self.emotion_names[sample.emotion]
        if sample.gold is None:
            del labels["gold_seen"]
        return labels


def slice_metrics(rows: Iterable[dict]) -> dict[str, dict[str, dict]]:
    """``slice → value → {n, metrics}`` from predictions rows that carry ``"slices"``."""
    accumulators: dict[tuple[str, str], MetricAccumulator] = {}
    for row in rows:
        if row.get("gold") is None:
            continue
        gold_index = row["candidates"].index(row["gold"])
        for name, value in (row.get("slices") or {}).items():
            acc = accumulators.setdefault((name, value), MetricAccumulator())
            acc.add(row["scores"], gold_index, row.get("emotion_logits"), row.get("emotion"))
    out: dict[str, dict[str, dict]] = {}
    for (name, value), acc in sorted(accumulators.items()):
        out.setdefault(name, {})[value] = {"n": acc.n, "metrics": acc.result()}
    return out
