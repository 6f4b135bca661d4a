"""Evaluation throughput per selector: per-sticker caching vs a naive per-candidate loop.

    python benchmarks/bench_throughput.py                       # every selector in SELECTORS
    python benchmarks/bench_throughput.py --models clip --queries 128 --json out.json

Both paths score the same queries (a dataset split's first ``--queries`` samples, ``--candidates``
sampled candidates each) with the same weights:

* **cached** — what the harness does: ``prepare(all stickers)`` once (every sticker encoded once,
  no disk cache so that the encoding is timed too), then ``score`` in batches of ``--batch-size``;
* **naive** — what a per-candidate loop does: for every query, ``prepare`` a store holding only
  that query's candidates (so each candidate image is encoded again for every query it appears
  in) and ``score`` that one query.

The ratio ``cached / naive`` (queries per second) is what caching buys. Tiny presets are trained
for one step only (throughput does not depend on the weights). Selectors whose ``prepare`` keeps
its own disk cache that this script cannot switch off get a *conservative* ratio (the naive
loop then hits that cache).

To add a selector, add its registered name to ``SELECTORS`` (one line).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SELECTORS = [
    "clip",
    "vilt",
    "blip2",
    "mod-gpt",
    "mmbert",
    "fromage",
]


def _build(name: str, dataset, cache_dir: Path):
    from benchmark.registry import build_selector
    from benchmark.selector import SelectorContext, TrainConfig, is_trainable

    ctx = SelectorContext(
        preset="tiny", num_emotions=dataset.num_emotions, emotion_names=dataset.emotion_names, cache_dir=cache_dir
    )
    selector = build_selector(name, ctx)
    if is_trainable(selector):
        selector.fit(dataset, TrainConfig(epochs=1, max_steps=1, patience=None, validation_split=None, amp=False))
    if hasattr(selector, "use_disk_cache"):
        selector.use_disk_cache = False
    return selector


def _cached(selector, stickers, queries, batch_size: int) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    selector.prepare(stickers)
    scores = [selector.score(queries[i : i + batch_size]).scores for i in range(0, len(queries), batch_size)]
    return time.perf_counter() - started, np.concatenate(scores)


def _naive(selector, stickers, queries) -> tuple[float, np.ndarray]:
    from benchmark.types import StickerStore

    started = time.perf_counter()
    scores = []
    for q in queries:
        selector.prepare(StickerStore([stickers[c] for c in dict.fromkeys(q.candidates)]))
        scores.append(selector.score([q]).scores)
    return time.perf_counter() - started, np.concatenate(scores)


def measure(name: str, dataset, queries, batch_size: int, cache_dir: Path) -> dict:
    selector = _build(name, dataset, cache_dir)
    _cached(selector, dataset.stickers, queries[:2], batch_size)  # warm-up (lazy imports, allocator)
    cached_s, cached_scores = _cached(selector, dataset.stickers, queries, batch_size)
    naive_s, naive_scores = _naive(selector, dataset.stickers, queries)
    return {
        "selector": name,
        "queries": len(queries),
        "candidates": len(queries[0].candidates),
        "stickers": len(dataset.stickers),
        "cached_qps": len(queries) / cached_s,
        "naive_qps": len(queries) / naive_s,
        "speedup": naive_s / cached_s,
        "max_score_difference": float(np.abs(cached_scores - naive_scores).max()),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    import tempfile

    from tabulate import tabulate

    from benchmark.candidates import sampled_candidates
    from benchmark.datasets import load_dataset
    from benchmark.types import query_for

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(SELECTORS))
    p.add_argument("--dataset", default="mojichat")
    p.add_argument("--split", default="test_easy")
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--candidates", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)

    dataset = load_dataset(args.dataset)
    samples = dataset.split(args.split)[: args.queries]
    sets = sampled_candidates(samples, list(dataset.stickers), args.candidates, seed=0)
    queries = [query_for(s, c) for s, c in zip(samples, sets)]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            rows.append(measure(name, dataset, queries, args.batch_size, Path(cache)))
    print(
        tabulate(
            [
                {k: (round(v, 2) if isinstance(v, float) and k != "max_score_difference" else v) for k, v in r.items()}
                for r in rows
            ],
            headers="keys",
            tablefmt="github",
        )
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
