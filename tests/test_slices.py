"""Slices in results.json: every predictions row carries its labels, and each slice's numbers are
those of its rows, recomputed here without the harness's metric code."""

import json
from collections import defaultdict

import numpy as np
import pytest

from benchmark.datasets.mod import load_mod
from benchmark.slices import SLICES, slice_labeller


def _recall_at_1(scores, gold_index):
    """P(gold is ranked first) with ties broken uniformly at random."""
    scores = np.asarray(scores)
    best = scores.max()
    return float(scores[gold_index] == best) / int((scores == best).sum())


def test_slices_are_in_results_and_recomputable_from_the_rows(mini_mod_dir, tmp_path):
    from test_train_seeds import rows, run

    out = tmp_path / "run"
    proc = run(mini_mod_dir, out, models="seeded,random")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((out / "results.json").read_text())
    for model in ("seeded", "random"):
        split = res["models"][model]["splits"]["test_easy"]
        predictions = rows(out / split["predictions"])
        assert all(set(r["slices"]) <= set(SLICES) for r in predictions)
        assert {"gold_emotion", "gold_seen", "context_turns", "bias"} <= set(predictions[0]["slices"])
        groups = defaultdict(list)
        for r in predictions:
            for name, value in r["slices"].items():
                groups[(name, value)].append(_recall_at_1(r["scores"], r["candidates"].index(r["gold"])))
        flat = {(name, value): cell for name, values in split["slices"].items() for value, cell in values.items()}
        assert set(flat) == set(groups)
        for key, values in groups.items():
            assert flat[key]["n"] == len(values)
            assert flat[key]["metrics"]["recall@1"] == pytest.approx(np.mean(values), abs=1e-12)
        # each slice partitions the split
        for name in ("gold_seen", "context_turns", "bias"):
            assert sum(c["n"] for c in split["slices"][name].values()) == split["n"]


def test_labels_follow_the_dataset(mini_mod_dir, tmp_path):
    dataset = load_mod(mini_mod_dir)
    labeller = slice_labeller(dataset, tmp_path)
    train_golds = {s.gold for s in dataset.split("train")}
    for sample in dataset.split("test_easy"):
        labels = labeller.labels(sample)
        assert labels["gold_seen"] == ("seen" if sample.gold in train_golds else "unseen")
        turns = len(sample.context)
        assert labels["context_turns"] == ("1-2" if turns <= 2 else "3-4" if turns <= 4 else "5+")
        assert labels["gold_emotion"] == dataset.emotion_names[sample.emotion]
    assert list((tmp_path / "bias_words").glob("*.json"))  # the mined words are cached
