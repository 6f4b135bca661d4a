"""A finished split's numbers, read back from its predictions file.

Why from the file and not from the scores in memory: the file is what a run leaves behind and
what ``rescore`` reads, so the numbers in ``results.json`` are always the ones its rows give.
Each row's ``row_values`` is computed once and serves the metrics and every slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import SelectorError
from benchmark.io import read_jsonl
from benchmark.metrics import MetricAccumulator, row_metrics, row_values
from benchmark.slices import slice_metrics
from benchmark.types import Sample


@dataclass(frozen=True)
class SplitScores:
    metrics: dict[str, float | None]
    stderr: dict[str, float | None]
    n: int
    seconds: float
    slices: dict[str, dict[str, dict]] | None = None  # slice → value → {n, metrics}, with slice_labels


def _check_one_row_per_sample(path: Path, rows: Sequence[dict], sample_ids: Sequence[str]) -> None:
    written = [row.get("sample_id") for row in rows]
    if sorted(written) != sorted(sample_ids):
        missing = sorted(set(sample_ids) - set(written))
        extra = len(written) - len(set(written))
        raise SelectorError(
            f"{path}: holds {len(written)} rows for {len(sample_ids)} samples ({len(missing)} missing, "
            f"{extra} doubled); it was written by something else than this run — pass --overwrite"
        )


def scores_of_file(path: Path, samples: Sequence[Sample], seconds: float, with_slices: bool) -> SplitScores:
    """A finished split's numbers, from its predictions file once it holds one row per sample."""
    rows = [row for _, row in read_jsonl(path)]
    _check_one_row_per_sample(path, rows, [s.sample_id for s in samples])
    metrics, stderr, slices = numbers_of_rows(rows, with_slices)
    return SplitScores(metrics=metrics, stderr=stderr, n=len(samples), seconds=seconds, slices=slices)


def numbers_of_rows(rows: Sequence[dict], with_slices: bool) -> tuple[dict, dict, dict | None]:
    """The metrics, their standard errors and (``with_slices``) the per-slice metrics of some rows."""
    values = [row_values(row) for row in rows]  # once a row: the metrics and every slice read them
    acc = accumulate_rows(rows, values)
    return acc.result(), acc.stderr(), slice_metrics(zip(rows, values)) if with_slices else None


def accumulate_predictions(path: Path) -> MetricAccumulator:
    """Every row of a predictions file, accumulated: metrics and their standard errors.

    Rows written before task 3 existed have no ``task3_logits``: their task-3 metrics are ``None``.
    """
    rows = [row for _, row in read_jsonl(path)]
    return accumulate_rows(rows, [row_values(row) for row in rows])


def accumulate_rows(rows: Sequence[dict], values: Sequence[dict]) -> MetricAccumulator:
    """Rows and their ``row_values``, accumulated (the metric set is the first row's)."""
    acc = MetricAccumulator(metrics=row_metrics(rows[0])) if rows else MetricAccumulator()
    for v in values:
        acc.add_values(v)
    return acc


def metrics_from_predictions(path: Path) -> dict[str, float | None]:
    """Recompute every metric from a predictions file alone."""
    return accumulate_predictions(path).result()
