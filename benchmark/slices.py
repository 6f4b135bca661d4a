"""Where selectors fail: each sample's slice labels, and metrics per slice value.

Averages hide the failures the CKS paper is about (picking a sticker whose emotion contradicts
the dialogue because a word co-occurred with it in training). Every sample is labelled with:

* ``gold_emotion`` — the gold emotion's name (absent when the split has no labels);
* ``gold_seen`` — ``seen`` when the gold sticker is a gold somewhere in ``train``, else ``unseen``;
* ``context_turns`` — ``1-2``, ``3-4`` or ``5+`` turns of context;
* ``bias`` — ``aligned``, ``conflicting`` or ``none`` by the words mined from ``train``
  (:mod:`benchmark.bias_words`).

Labels depend only on the dataset, so every selector's slice numbers are over the same samples.
A dataset without a ``train`` split gets neither ``gold_seen`` nor ``bias`` (there is nothing
to have seen, nor to mine).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmark.bias_words import BiasWord, bias_label, cached_bias_words
from benchmark.metrics import MetricAccumulator, row_metrics, row_values
from benchmark.types import Dataset, Sample

SLICES = ("gold_emotion", "gold_seen", "context_turns", "bias")


def _turns_bucket(turns: int) -> str:
    return "1-2" if turns <= 2 else "3-4" if turns <= 4 else "5+"


class SliceLabeller:
    """Labels samples of a dataset; built once per run (the train golds and mined words are shared)."""

    def __init__(self, dataset: Dataset, mined: Sequence[BiasWord]):
        self.emotion_names = dataset.emotion_names
        self.has_train = "train" in dataset.splits
        self.train_golds = {s.gold for s in dataset.splits.get("train", ())}
        self.mined = list(mined)

    def labels(self, sample: Sample) -> dict[str, str]:
        labels = {"context_turns": _turns_bucket(len(sample.context))}
        if self.has_train:
            labels["bias"] = bias_label(sample, self.emotion_names, self.mined)
            if sample.gold is not None:
                labels["gold_seen"] = "seen" if sample.gold in self.train_golds else "unseen"
        if sample.emotion is not None:
            labels["gold_emotion"] = self.emotion_names[sample.emotion]
        return labels


def slice_labeller(dataset: Dataset, cache_dir: Path | None = None) -> SliceLabeller:
    """The labeller of a run: bias words mined from ``train`` (cached in ``cache_dir``)."""
    mined = cached_bias_words(dataset, cache_dir) if "train" in dataset.splits else []
    return SliceLabeller(dataset, mined)


def slice_metrics(rows: Iterable[dict | tuple[dict, dict]]) -> dict[str, dict[str, dict]]:
    """``slice → value → {n, metrics}`` from predictions rows that carry ``"slices"``; a row may
    come with its ``row_values`` already computed, as ``(row, values)``."""
    accumulators: dict[tuple[str, str], MetricAccumulator] = {}
    for item in rows:
        row, values = item if isinstance(item, tuple) else (item, None)
        if row.get("gold") is None:
            continue
        values = row_values(row) if values is None else values
        for name, value in (row.get("slices") or {}).items():
            accumulators.setdefault((name, value), MetricAccumulator(metrics=row_metrics(row))).add_values(values)
    out: dict[str, dict[str, dict]] = {}
    for (name, value), acc in sorted(accumulators.items()):
        out.setdefault(name, {})[value] = {"n": acc.n, "metrics": acc.result()}
    return out
