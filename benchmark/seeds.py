"""Several training seeds of one selector, reduced to the numbers a table shows.

On the tiny presets one retraining moves R@1 by several points, so a single seed says little
about a selector. With ``--train-seeds`` every seed is scored on the *same* candidate sets, and
a split's aggregate is:

* ``metrics`` — the mean over seeds of each seed's metric (equivalently, the mean over samples
  of the seed-averaged per-sample values);
* ``seed_std`` — the sample standard deviation over seeds (ddof 1): how much retraining moves
  the number;
* ``ci95`` — a 95 % percentile interval from a two-level bootstrap (seeds resampled, then
  samples), so it covers both retraining and the finite test set
  (:func:`benchmark.stats.bootstrap_ci`);
* ``stderr`` — the standard error over samples of the seed-averaged per-sample values;
* ``slices`` — each slice value's metrics averaged over seeds.

Seeds are assumed exchangeable: three seeds give a rough interval, not a precise one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmark.io import read_jsonl
from benchmark.metrics import ALL_METRICS, row_values
from benchmark.results import COMPLETE, SplitResult
from benchmark.stats import DEFAULT_BOOTSTRAP, bootstrap_ci, comparison_rng


def predictions_file(model: str, split: str, seed: int | None = None) -> str:
    """Where a pair's predictions live, relative to the run directory: ``predictions/<model>/<split>.jsonl``,
    or ``predictions/<model>/seed-<seed>/<split>.jsonl`` for one of several training seeds."""
    folder = f"predictions/{model}" if seed is None else f"predictions/{model}/seed-{seed}"
    return f"{folder}/{split}.jsonl"


def _per_sample(path: Path, metrics: tuple[str, ...]) -> tuple[list[str], dict[str, list[float | None]]]:
    ids, values = [], {m: [] for m in metrics}
    for _, row in read_jsonl(path):
        ids.append(row["sample_id"])
        got = row_values(row)
        for metric in metrics:
            values[metric].append(got.get(metric))
    return ids, values


def _mean(values: Sequence[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _std(values: Sequence[float | None]) -> float | None:
    if len(values) < 2 or any(v is None for v in values):
        return None
    return float(np.std(values, ddof=1))


def _average_slices(per_seed: list[dict | None]) -> dict | None:
    if any(s is None for s in per_seed):
        return None
    out: dict[str, dict[str, dict]] = {}
    for name, by_value in per_seed[0].items():
        for value, first in by_value.items():
            cells = [s.get(name, {}).get(value, {}).get("metrics", {}) for s in per_seed]
            out.setdefault(name, {})[value] = {
                "n": first["n"],
                "metrics": {m: _mean([c.get(m) for c in cells]) for m in first["metrics"]},
            }
    return out


def aggregate_seeds(run_dir: Path, model: str, split: str, seeds: dict[int, SplitResult], run_seed: int) -> SplitResult:
    """The aggregate of ``seeds`` (seed → its complete result of ``split``), read from their files."""
    order = sorted(seeds)
    names = tuple(seeds[order[0]].metrics or ALL_METRICS)
    tables = [_per_sample(Path(run_dir) / seeds[s].predictions, names) for s in order]
    ids = tables[0][0]
    if any(t[0] != ids for t in tables):  # every seed answers the same samples, in the same order
        position = [{sid: i for i, sid in enumerate(t[0])} for t in tables]
        tables = [(ids, {m: [v[m][pos[sid]] for sid in ids] for m in v}) for (_, v), pos in zip(tables, position)]
    per_seed_metrics = [seeds[s].metrics or {} for s in order]
    metrics = {m: _mean([pm.get(m) for pm in per_seed_metrics]) for m in names}
    seed_std = {m: _std([pm.get(m) for pm in per_seed_metrics]) for m in names}
    stderr: dict[str, float | None] = {}
    ci95: dict[str, list[float] | None] = {}
    for metric in names:
        columns = [t[1][metric] for t in tables]
        if not ids or any(v is None for column in columns for v in column):
            stderr[metric], ci95[metric] = None, None
            continue
        values = np.array(columns, dtype=np.float64)  # [seeds, samples]
        averaged = values.mean(axis=0)
        stderr[metric] = float(averaged.std(ddof=1) / np.sqrt(averaged.size)) if averaged.size > 1 else None
        rng = comparison_rng(run_seed, "seed-aggregate", model, split, metric)
        low, high = bootstrap_ci(values, np.zeros((1, values.shape[1])), rng, DEFAULT_BOOTSTRAP // 4)
        ci95[metric] = [low, high]
    first = seeds[order[0]]
    return SplitResult(
        identity=replace(first.identity, checkpoint=None, train_seed=None),
        predictions=first.predictions,
        status=COMPLETE,
        metrics=metrics,
        stderr=stderr,
        n=first.n,
        seconds=sum(seeds[s].seconds or 0.0 for s in order),
        slices=_average_slices([seeds[s].slices for s in order]),
        num_seeds=len(order),
        seed_std=seed_std,
        ci95=ci95,
    )
