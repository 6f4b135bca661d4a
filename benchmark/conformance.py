"""A conformance kit for selector authors: run it in your own tests before publishing.

    from benchmark.conformance import check_selector
    def test_my_selector(tmp_path):
        check_selector(lambda ctx: MySelector(...), tmp_path)

It builds a small MOD-layout dataset (or uses the one you pass), then checks what the harness
relies on: valid metadata, the whole trainable contract when any of it is there (``fit`` gets
the training view, as in a run), ``prepare`` then ``score`` returning ``[B, N]`` finite scores,
emotion logits of the dataset's width when ``supports_emotion``, scores that do not depend on
batch composition and follow the candidates when they are permuted, and determinism.
Each failure raises ``AssertionError`` with a message saying which property broke.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.candidates import sampled_candidates
from benchmark.evaluator import validate_batch
from benchmark.selector import (
    Selector,
    SelectorContext,
    SelectorMeta,
    TrainConfig,
    is_trainable,
    trainable_contract_problem,
)
from benchmark.types import Dataset, Query, query_for


@dataclass(frozen=True)
class ConformanceReport:
    name: str
    checked_queries: int
    trained: bool


def _queries(dataset: Dataset, split: str, n: int, count: int) -> list[Query]:
    samples = dataset.split(split)[:count]
    sets = sampled_candidates(samples, list(dataset.stickers), n, seed=0)
    return [query_for(s, c) for s, c in zip(samples, sets)]


def check_selector(
    factory: Callable[[SelectorContext], Selector],
    workdir: Path,
    dataset: Dataset | None = None,
    preset: str = "tiny",
    atol: float = 1e-4,
    train: TrainConfig | None = None,
) -> ConformanceReport:
    """Build, (fit,) prepare and score a selector on small data, asserting the contract."""
    if dataset is None:
        from benchmark.datasets.mod import load_mod
        from benchmark.datasets.synthetic import write_tiny_mod

        dataset = load_mod(write_tiny_mod(Path(workdir) / "tiny_mod"))
    ctx = SelectorContext(
        preset=preset,
        num_emotions=dataset.num_emotions,
        emotion_names=dataset.emotion_names,
        cache_dir=Path(workdir) / "cache",
    )
    selector = factory(ctx)
    assert isinstance(selector, Selector), f"{type(selector).__name__} lacks meta, prepare or score"
    assert isinstance(selector.meta, SelectorMeta), "selector.meta must be a SelectorMeta"
    name = selector.meta.name
    problem = trainable_contract_problem(selector)
    assert problem is None, f"{name} {problem}"
    trained = is_trainable(selector)
    if trained:
        selector.fit(dataset.training_view(), train or TrainConfig(epochs=1, max_steps=2, patience=None))
        ckpt = Path(workdir) / "checkpoint"
        ckpt.mkdir(parents=True, exist_ok=True)
        selector.save(ckpt)
    selector.prepare(dataset.stickers)
    split = "test_easy" if "test_easy" in dataset.splits else next(iter(dataset.splits))
    queries = _queries(dataset, split, n=5, count=6)
    emotions = dataset.num_emotions if selector.meta.supports_emotion else None
    full, logits = validate_batch(name, queries, selector.score(queries), dataset.num_emotions)
    assert (logits is not None) == selector.meta.supports_emotion, (
        f"{name}: meta.supports_emotion={selector.meta.supports_emotion} but emotion_logits is "
        f"{'missing' if logits is None else 'present'}"
    )
    singles = np.concatenate([validate_batch(name, [q], selector.score([q]), emotions)[0] for q in queries])
    assert np.allclose(full, singles, atol=atol), f"{name}: scores change with batch composition"
    permuted = [Query(q.sample_id, q.context, q.speaker, tuple(reversed(q.candidates))) for q in queries]
    rev, _ = validate_batch(name, permuted, selector.score(permuted), emotions)
    assert np.allclose(full, rev[:, ::-1], atol=atol), f"{name}: scores do not follow candidates when reordered"
    again, _ = validate_batch(name, queries, selector.score(queries), emotions)
    assert np.allclose(full, again, atol=atol), f"{name}: scoring the same queries twice differs"
    if trained:
        reloaded = type(selector).load(ckpt, ctx)
        reloaded.prepare(dataset.stickers)
        re_scores, _ = validate_batch(name, queries, reloaded.score(queries), emotions)
        assert np.allclose(full, re_scores, atol=atol), f"{name}: a saved and reloaded checkpoint scores differently"
    return ConformanceReport(name=name, checked_queries=len(queries), trained=trained)
