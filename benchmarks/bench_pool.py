"""Full-pool retrieval at scale: a synthetic pool of random unit feature vectors against many queries.

    python benchmarks/bench_pool.py                         # 50,000 stickers × 7,000 queries
    python benchmarks/bench_pool.py --pool 5000 --queries 1000 --json out.json

What a dual encoder costs per query batch under ``--candidates all``: one matrix product against
the cached sticker matrix, then what the harness does with each row (the top 100 by one partial
sort, and the gold's tie-exact rank range: two comparisons over the pool, no full sort). The
seconds of the two parts are reported apart, with the metrics of the run (random vectors, so
recall@1 ≈ 1/pool) as a check that the rows are usable.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.metrics import POOL_METRICS, MetricAccumulator, row_values
from benchmark.pool import pool_fields
from benchmark.types import CandidateSet


def run(pool: int, queries: int, dim: int, batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    stickers = torch.nn.functional.normalize(
        torch.from_numpy(rng.standard_normal((pool, dim), dtype=np.float32)), dim=-1
    )
    texts = torch.nn.functional.normalize(
        torch.from_numpy(rng.standard_normal((queries, dim), dtype=np.float32)), dim=-1
    )
    ids = tuple(f"s{i:06d}" for i in range(pool))
    golds = rng.integers(0, pool, size=queries)
    acc = MetricAccumulator(metrics=POOL_METRICS)
    matmul = rows = 0.0
    with torch.inference_mode():
        for start in range(0, queries, batch):
            began = time.perf_counter()
            scores = (texts[start : start + batch] @ stickers.T).double().numpy()
            matmul += time.perf_counter() - began
            began = time.perf_counter()
            for i, row_scores in enumerate(scores):
                fields = pool_fields(row_scores, CandidateSet(str(start + i), ids, ids[golds[start + i]]))
                acc.add_values(row_values({**fields, "emotion": None}))
            rows += time.perf_counter() - began
    return {
        "pool": pool,
        "queries": queries,
        "dim": dim,
        "matmul_seconds": round(matmul, 3),
        "row_seconds": round(rows, 3),
        "ms_per_query": round(1000 * (matmul + rows) / queries, 4),
        "recall@1": acc.result()["recall@1"],
        "chance": 1 / pool,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=7_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--json", type=Path, help="also write the result as JSON")
    args = parser.parse_args()
    result = run(args.pool, args.queries, args.dim, args.batch)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
