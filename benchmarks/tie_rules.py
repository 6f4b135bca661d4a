"""How much a tie rule moves the numbers: one predictions file re-ranked under each public convention.

    python -m benchmark run --models popularity --candidates official --output runs/ties
    python benchmarks/tie_rules.py runs/ties/predictions/popularity/test_hard.jsonl

stickerbench counts ties as expected values (:mod:`benchmark.metrics`); public scorers break them
by position: the DSTC10 baselines with a stable sort (ties follow the file order of the candidate
set, ascending id in the MOD release), SRS/PBR with the gold always first. Every candidate's score
is in the predictions row, so each rule can be applied afterwards; this prints R@1, MRR and MAP@5
under each, and how tie-heavy the file is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmark.metrics import sample_metrics


def _by_rule(scores: list[float], candidates: list[str], gold: int, rule: str) -> tuple[float, float, float]:
    keys = {
        "file order": lambda i: i,
        "ascending id": lambda i: (int(candidates[i]) if candidates[i].isdigit() else 0, candidates[i]),
        "gold first": lambda i: (i != gold, i),
    }[rule]
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], keys(i)))
    rank = order.index(gold) + 1
    return float(rank == 1), 1 / rank, 1 / rank if rank <= 5 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, nargs="+", help="predictions/<model>/<split>.jsonl files")
    args = parser.parse_args()
    rules = ("file order", "ascending id", "gold first")
    for path in args.predictions:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("gold") is not None]  # a blind split has nothing to rank against
        if not rows:
            print(f"{path}: no annotated rows")
            continue
        values: dict[str, list[tuple[float, float, float]]] = {"expected value": [], **{r: [] for r in rules}}
        tied = 0
        for row in rows:
            scores, cands = row["scores"], row["candidates"]
            gold = cands.index(row["gold"])
            m = sample_metrics(scores, gold)
            values["expected value"].append((m["recall@1"], m["mrr"], m["map@5"]))
            for rule in rules:
                values[rule].append(_by_rule(scores, cands, gold, rule))
            tied += sum(s == scores[gold] for s in scores) > 1
        print(f"{path}: {len(rows)} items, the gold tied with another candidate in {100 * tied / len(rows):.1f}%")
        for rule, vals in values.items():
            r1, mrr, map5 = 100 * np.mean(vals, axis=0)
            print(f"  {rule:15s} R@1 {r1:6.2f}  MRR {mrr:6.2f}  MAP@5 {map5:6.2f}")


if __name__ == "__main__":
    main()
