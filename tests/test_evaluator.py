"""The evaluator validates every batch, streams predictions, and resumes a killed run."""

import json

import numpy as np
import pytest

from benchmark.candidates import sampled_candidates
from benchmark.errors import SelectorError
from benchmark.evaluator import evaluate_split, quick_metrics
from benchmark.metrics import compute_metrics
from benchmark.prediction_scores import metrics_from_predictions
from benchmark.selector import SelectorMeta
from benchmark.types import ScoreBatch


class CountingSelector:
    """Scores a candidate by its id's parity with the gold-free query; counts queries scored."""

    def __init__(self, scores_fn, emotions=None):
        self.meta = SelectorMeta(name="counting")
        self.scores_fn = scores_fn
        self.emotions = emotions
        self.scored = []

    def prepare(self, stickers):
        pass

    def score(self, queries):
        self.scored += [q.sample_id for q in queries]
        logits = None if self.emotions is None else np.ones((len(queries), self.emotions))
        return ScoreBatch(np.array([[self.scores_fn(q, c) for c in q.candidates] for q in queries]), logits)


def _setup(dataset, split="validation", n=6):
    samples = dataset.split(split)
    return samples, sampled_candidates(samples, list(dataset.stickers), n, seed=0)


def test_constant_selector_is_exactly_chance(mini_dataset):
    samples, sets = _setup(mini_dataset)
    m = quick_metrics(CountingSelector(lambda q, c: 0.0), samples, sets, batch_size=7)
    assert m["recall@1"] == pytest.approx(1 / 6, abs=1e-12)
    assert m["mrr"] == pytest.approx(sum(1 / r for r in range(1, 7)) / 6, abs=1e-12)


def test_query_never_reveals_the_gold(mini_dataset):
    samples, sets = _setup(mini_dataset)
    seen = []
    quick_metrics(CountingSelector(lambda q, c: seen.append(q) or 0.0), samples, sets)
    assert all(not hasattr(q, "gold") and not hasattr(q, "emotion") for q in seen)


@pytest.mark.parametrize(
    "scores_fn, message",
    [
        (lambda q, c: float("nan"), r"non-finite score \(nan\) for sample validation/"),
        (lambda q, c: float("inf"), r"non-finite score"),
    ],
)
def test_bad_scores_are_refused_naming_selector_and_sample(mini_dataset, scores_fn, message):
    samples, sets = _setup(mini_dataset)
    with pytest.raises(SelectorError, match=r"selector 'counting' returned a " + message):
        quick_metrics(CountingSelector(scores_fn), samples, sets)


def test_wrong_shape_and_emotion_width_are_refused(mini_dataset):
    samples, sets = _setup(mini_dataset)

    class Short(CountingSelector):
        def score(self, queries):
            return ScoreBatch(np.zeros((len(queries), 2)))

    with pytest.raises(SelectorError, match=r"scores of shape \(\d+, 2\)"):
        quick_metrics(Short(None), samples, sets)
    with pytest.raises(SelectorError, match=r"4 emotions"):
        quick_metrics(CountingSelector(lambda q, c: 0.0, emotions=3), samples, sets, num_emotions=4)


def test_predictions_stream_and_resume_after_a_kill(mini_dataset, tmp_path):
    samples, sets = _setup(mini_dataset, "test_easy")
    fn = lambda q, c: float(int(c) % 5) + 0.01 * len(q.context)  # noqa: E731
    full_path = tmp_path / "full.jsonl"
    full = evaluate_split(CountingSelector(fn), samples, sets, full_path, batch_size=4)
    lines = full_path.read_text().splitlines(keepends=True)
    assert len(lines) == len(samples)

    # A run killed mid-write: 5 rows finished, a sixth torn.
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    resumed_selector = CountingSelector(fn)
    resumed = evaluate_split(resumed_selector, samples, sets, partial, batch_size=4)
    assert resumed_selector.scored == [s.sample_id for s in samples[5:]]
    assert resumed.metrics == full.metrics
    assert [json.loads(x)["sample_id"] for x in partial.read_text().splitlines()] == [s.sample_id for s in samples]


def test_metrics_recompute_from_predictions_alone(mini_dataset, tmp_path):
    samples, sets = _setup(mini_dataset, "test_easy")
    rng = np.random.default_rng(0)
    table = {(s.sample_id, c): float(rng.integers(0, 3)) for s, cs in zip(samples, sets) for c in cs.candidates}
    path = tmp_path / "p.jsonl"
    result = evaluate_split(CountingSelector(lambda q, c: table[(q.sample_id, c)], emotions=4), samples, sets, path)
    independent = compute_metrics(
        ([table[(s.sample_id, c)] for c in cs.candidates], cs.gold_index, [1, 1, 1, 1], s.emotion)
        for s, cs in zip(samples, sets)
    )
    assert metrics_from_predictions(path) == result.metrics == pytest.approx(independent)
    assert result.metrics["emotion_acc"] == pytest.approx(0.25)
