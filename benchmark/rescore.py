"""``python -m benchmark rescore RUN_DIR``: every metric recomputed from the predictions files alone.

The predictions rows hold every candidate's score, so the numbers in ``results.json`` can be
checked (or recomputed after a metric's definition changed) without running any selector.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import DataError
from benchmark.evaluator import accumulate_predictions
from benchmark.io import read_jsonl
from benchmark.results import RunResults, load_results
from benchmark.rundir import RunLock


def rescore(run_dir: Path) -> tuple[RunResults, list[str]]:
    """Rewrite every finished pair's metrics from its predictions; return the pairs whose numbers moved."""
    run_dir = Path(run_dir)
    load_results(run_dir)  # a clear error for a directory that is no run, before locking it
    with RunLock(run_dir):
        results = load_results(run_dir)
        changed = []
        for model, entry in results.models.items():
            for split, result in entry.splits.items():
                if not result.complete:
                    continue
                path = run_dir / result.predictions
                if not path.is_file():
                    raise DataError(
                        f"{path}: the predictions of {model}/{split} are missing; re-run the command to score it"
                    )
                rows = sum(1 for _ in read_jsonl(path))
                if rows != result.n:
                    raise DataError(
                        f"{path}: {rows} rows, but results.json says {model}/{split} has {result.n} samples"
                    )
                acc = accumulate_predictions(path)
                metrics, stderr = acc.result(), acc.stderr()
                if metrics != result.metrics or stderr != result.stderr:
                    changed.append(f"{model}/{split}")
                result.metrics, result.stderr = metrics, stderr
        results.save(run_dir)
    return results, changed
