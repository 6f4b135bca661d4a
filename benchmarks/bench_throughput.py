"""Evaluation throughput per selector: per-sticker caching vs a naive per-candidate loop.

    python benchmarks/bench_throughput.py                       # every selector in SELECTORS
    python benchmarks/bench_throughput.py --models clip --queries 128 --json out.json

Both paths score the same queries (a dataset split's first ``--queries`` samples, ``--candidates``
sampled candidates each) with the same weights:

* **cached** — what the harness does: ``prepare(all stickers)`` once (every sticker encoded once,
  no disk cache so that the encoding is timed too), then ``score`` in batches of ``--batch-size``;
* **naive** — what a per-candidate loop does: for every query, ``prepare`` a store holding only
  that query's candidates and the stickers its dialogue sent (so each image is encoded again for
  every query it appears in) and ``score`` that one query. The frozen-encoder selectors (MOD-GPT,
  MMBERT, FROMAGe) keep their features across ``prepare`` calls; the loop empties that table
  first, so they encode too.

The ratio ``cached / naive`` (queries per second) is what caching buys. Tiny presets are trained
for one step only (throughput does not depend on the weights); selectors are built as
``bench_scale.py`` builds them (``--ocr``, sticker features never read from disk).

To add a selector, add its registered name to ``SELECTORS`` (one line).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_scale import build, fit_view, forget_stickers, query_store, score_in_batches

SELECTORS = [
    "clip",
    "vilt",
    "blip2",
    "mod-gpt",
    "mmbert",
    "fromage",
]


def _cached(selector, stickers, queries, batch_size: int | None) -> tuple[float, np.ndarray]:
    forget_stickers(selector)  # the warm-up's features too: the timed prepare encodes every sticker
    started = time.perf_counter()
    selector.prepare(stickers)
    scores = score_in_batches(selector, queries, batch_size)
    return time.perf_counter() - started, scores


def _naive(selector, stickers, queries) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    scores = []
    for q in queries:
        forget_stickers(selector)
        selector.prepare(query_store(stickers, q))
        scores.append(selector.score([q]).scores)
    return time.perf_counter() - started, np.concatenate(scores)


def measure(name: str, dataset, fitting, queries, batch_size: int | None, cache_dir: Path, ocr: str) -> dict:
    selector = build(name, fitting, cache_dir, ocr)
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
    p.add_argument(
        "--batch-size",
        type=int,
        help="scoring batch in each selector's unit, as for run (default: run's, 32 queries or 256 pairs)",
    )
    p.add_argument("--ocr", default="rapidocr", choices=["none", "rapidocr"], help="MMBERT's OCR (default rapidocr)")
    p.add_argument("--fit-samples", type=int, help="training samples the one-step fit sees (default: all)")
    p.add_argument("--cache-dir", type=Path, help="keep the selectors' caches here (default: a fresh temporary one)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)

    dataset = load_dataset(args.dataset)
    samples = dataset.split(args.split)[: args.queries]
    sets = sampled_candidates(samples, list(dataset.stickers), args.candidates, seed=0)
    queries = [query_for(s, c) for s, c in zip(samples, sets)]
    fitting = fit_view(dataset, args.fit_samples) if args.fit_samples else dataset
    rows = []
    with tempfile.TemporaryDirectory() as work:
        cache_dir = args.cache_dir or Path(work)
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            rows.append(measure(name, dataset, fitting, queries, args.batch_size, cache_dir, args.ocr))
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
