"""``python -m benchmark rescore RUN_DIR``: every metric recomputed from the predictions files alone.

The predictions rows hold every candidate's score, so the numbers in ``results.json`` can be
checked (or recomputed after a metric's definition changed) without running any selector.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import DataError
from benchmark.io import read_jsonl
from benchmark.prediction_scores import numbers_of_rows
from benchmark.results import RunResults, SplitResult, load_results
from benchmark.rundir import RunLock
from benchmark.seeds import aggregate_seeds


def rescore(run_dir: Path) -> tuple[RunResults, list[str]]:
    """Rewrite every finished pair's metrics from its predictions; return the pairs whose numbers moved.

    With several training seeds each seed is rescored, then its aggregate recomputed from them.
    """
    run_dir = Path(run_dir)
    load_results(run_dir)  # a clear error for a directory that is no run, before locking it
    with RunLock(run_dir):
        results = load_results(run_dir)
        changed = []
        for model, entry in results.models.items():
            holders = (
                [(model, entry)] if not entry.seeds else [(f"{model}[seed {s}]", r) for s, r in entry.seeds.items()]
            )
            for label, holder in holders:
                for split, result in holder.splits.items():
                    if result.complete and _rescore_pair(run_dir, label, split, result):
                        changed.append(f"{label}/{split}")
            for split, result in list(entry.splits.items()) if entry.seeds else []:
                done = {s: r.splits[split] for s, r in entry.seeds.items() if split in r.splits}
                if result.complete and all(r.complete for r in done.values()):
                    entry.splits[split] = aggregate_seeds(run_dir, model, split, done, results.seed)
        results.save(run_dir)
    return results, changed


def _rescore_pair(run_dir: Path, label: str, split: str, result: SplitResult) -> bool:
    """Recompute ``result`` from its predictions file; whether any number moved."""
    path = run_dir / result.predictions
    if not path.is_file():
        raise DataError(f"{path}: the predictions of {label}/{split} are missing; re-run the command to score it")
    rows = [row for _, row in read_jsonl(path)]
    if len(rows) != result.n:
        raise DataError(f"{path}: {len(rows)} rows, but results.json says {label}/{split} has {result.n} samples")
    metrics, stderr, slices = numbers_of_rows(rows, with_slices=result.slices is not None)
    moved = metrics != result.metrics or stderr != result.stderr or slices != result.slices
    result.metrics, result.stderr, result.slices = metrics, stderr, slices
    return moved
