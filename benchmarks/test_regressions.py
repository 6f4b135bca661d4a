"""Regression benchmarks (pytest-benchmark) on MojiChat at MOD's size: ``make bench``.

    make bench                                  # run them (a few minutes on 2 cores; the data is built on first use)
    make bench ARGS="--benchmark-autosave"      # ... and save the run under .benchmarks/
    make bench ARGS="--benchmark-compare"       # ... and compare it with the last saved run
    make bench ARGS="--benchmark-compare --benchmark-compare-fail=median:15%"   # fail on a regression

What is timed, each on the data or shape a MOD-sized run meets:

* the MOD-layout loader reading the whole dataset (307 stickers, ~152k training samples);
* candidate-manifest building for ``test_hard`` (7,000 items): matched and uniform sampled sets,
  and the official 11-sticker sets;
* the metrics of 100k samples (11 candidates, 12 emotions, both emotion protocols);
* the per-sticker cache's throughput: the tiny CLIP selector scoring 320 queries from its prepared
  sticker features, and ``prepare`` encoding all 307 stickers.

pyproject's ``testpaths`` is ``tests/``, so ``pytest`` and ``make test`` never collect this file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

QUERIES = 320
METRIC_SAMPLES = 100_000


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One torch thread: timings then measure the work, not how a busy machine schedules threads."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mod_root() -> Path:
    """MojiChat at MOD's size, from the cache (built there on first use, about a minute)."""
    from benchmark.datasets import cache_root
    from benchmark.datasets.mojichat import ensure_mojichat

    return ensure_mojichat(cache_root() / "datasets", size="mod")


@pytest.fixture(scope="session")
def mod_data(mod_root):
    from benchmark.datasets.mod import load_mod

    return load_mod(mod_root, name="mojichat-mod")


def test_loader(benchmark, mod_root):
    from benchmark.datasets.mod import load_mod

    dataset = benchmark.pedantic(load_mod, args=(mod_root,), kwargs={"name": "mojichat-mod"}, rounds=2)
    assert len(dataset.stickers) >= 300 and len(dataset.split("train")) >= 150_000
    benchmark.extra_info["samples"] = sum(len(s) for s in dataset.splits.values())


@pytest.mark.parametrize(
    ("strategy", "negatives"), [("sampled", "matched"), ("sampled", "uniform"), ("official", None)]
)
def test_candidate_manifest(benchmark, mod_data, strategy, negatives):
    from benchmark.candidates import build_manifest

    samples = mod_data.split("test_hard")
    pool = list(mod_data.stickers)
    options = {"negatives": negatives} if negatives else {}
    manifest = benchmark.pedantic(
        build_manifest, args=("test_hard", samples, pool, strategy, 10, 0), kwargs=options, rounds=3
    )
    assert len(manifest.sets) == len(samples)
    benchmark.extra_info["samples"] = len(samples)


def test_metrics_100k(benchmark):
    from benchmark.metrics import MetricAccumulator

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(METRIC_SAMPLES, 11)).round(1)  # rounded: ties occur, as they do in real rows
    gold = rng.integers(0, 11, METRIC_SAMPLES)
    logits = rng.normal(size=(METRIC_SAMPLES, 12))
    emotions = rng.integers(0, 12, METRIC_SAMPLES)

    def compute():
        acc = MetricAccumulator()
        for i in range(METRIC_SAMPLES):
            acc.add(scores[i], int(gold[i]), logits[i], int(emotions[i]), logits[i])
        return acc.result()

    metrics = benchmark.pedantic(compute, rounds=3)
    assert abs(metrics["recall@1"] - 1 / 11) < 0.01
    benchmark.extra_info["samples"] = METRIC_SAMPLES


@pytest.fixture(scope="session")
def clip_selector(mod_data):
    """The tiny CLIP selector fitted for one step (weights do not change the cost), sticker cache off disk."""
    from bench_scale import build, fit_view

    with tempfile.TemporaryDirectory() as cache:
        yield build("clip", fit_view(mod_data, 1000), Path(cache), ocr="none")


@pytest.fixture(scope="session")
def queries(mod_data):
    from benchmark.candidates import official_candidates
    from benchmark.types import query_for

    samples = mod_data.split("test_hard")[:QUERIES]
    return [query_for(s, c) for s, c in zip(samples, official_candidates(samples, "test_hard"))]


def test_sticker_cache_scoring(benchmark, clip_selector, mod_data, queries):
    clip_selector.prepare(mod_data.stickers)

    def score_all():
        return [clip_selector.score(queries[i : i + 32]).scores for i in range(0, len(queries), 32)]

    scores = benchmark.pedantic(score_all, rounds=5, warmup_rounds=1)
    assert np.concatenate(scores).shape == (QUERIES, 11)
    benchmark.extra_info["queries"] = QUERIES


def test_sticker_cache_prepare(benchmark, clip_selector, mod_data):
    benchmark.pedantic(clip_selector.prepare, args=(mod_data.stickers,), rounds=3, warmup_rounds=1)
    benchmark.extra_info["stickers"] = len(mod_data.stickers)
