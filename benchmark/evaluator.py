"""Scores a selector on fixed candidate sets, validating every batch it returns.

The evaluator, not the selector, is responsible for trustworthy numbers: it checks each
``ScoreBatch`` (shape, finiteness, emotion width) and refuses a bad one with a message naming
the selector and sample, streams predictions to disk as it goes, and resumes a killed run from
the rows already written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchmarkError, SelectorError
from benchmark.io import JsonlAppender, atomic_write_text, read_jsonl
from benchmark.metrics import MetricAccumulator
from benchmark.progress import progress_bar
from benchmark.selector import Selector
from benchmark.types import CandidateSet, Query, Sample, ScoreBatch, query_for


@dataclass(frozen=True)
class SplitScores:
    metrics: dict[str, float | None]
    stderr: dict[str, float | None]
    n: int
    seconds: float


def validate_batch(
    selector_name: str, queries: Sequence[Query], batch: ScoreBatch, num_emotions: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the batch as float64 arrays, or raise :class:`SelectorError` saying what is wrong."""
    if not isinstance(batch, ScoreBatch):
        raise SelectorError(f"selector {selector_name!r} returned {type(batch).__name__}, not a ScoreBatch")
    scores = _numeric_array(selector_name, "scores", batch.scores, queries)
    widths = {len(q.candidates) for q in queries}
    if scores.ndim != 2 or scores.shape[0] != len(queries) or {scores.shape[1]} != widths:
        raise SelectorError(
            f"selector {selector_name!r} returned scores of shape {scores.shape} for "
            f"{len(queries)} queries of {sorted(widths)} candidates (first sample "
            f"{queries[0].sample_id}); expected [{len(queries)}, N]"
        )
    bad = ~np.isfinite(scores)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise SelectorError(
            f"selector {selector_name!r} returned a non-finite score ({scores[bad][0]}) for sample "
            f"{queries[row].sample_id}; fix the selector (scores must be finite floats)"
        )
    logits = None
    if batch.emotion_logits is not None:
        logits = _numeric_array(selector_name, "emotion logits", batch.emotion_logits, queries)
        if num_emotions is not None and logits.shape != (len(queries), num_emotions):
            raise SelectorError(
                f"selector {selector_name!r} returned emotion logits of shape {logits.shape}; the "
                f"dataset has {num_emotions} emotions, so [{len(queries)}, {num_emotions}] is expected"
            )
        if not np.isfinite(logits).all():
            row = int(np.argwhere(~np.isfinite(logits))[0][0])
            raise SelectorError(
                f"selector {selector_name!r} returned a non-finite emotion logit for sample {queries[row].sample_id}"
            )
    return scores, logits


def _to_numpy(x: object) -> object:
    detach = getattr(x, "detach", None)
    return detach().float().cpu().numpy() if detach is not None else x


def _numeric_array(selector_name: str, what: str, values: object, queries: Sequence[Query]) -> np.ndarray:
    """``values`` as float64, refusing what numpy would silently misread (strings, ragged rows, objects)."""
    where = f"selector {selector_name!r} returned {what} for the batch starting at sample {queries[0].sample_id}"
    try:
        array = np.asarray(_to_numpy(values))
    except ValueError as exc:
        raise SelectorError(
            f"{where} that do not form a [B, N] array ({exc}); return one row of N numbers per query"
        ) from None
    if array.dtype.kind not in "iuf":
        raise SelectorError(
            f"{where} of dtype {array.dtype}; they must be numbers (int or float), not {array.dtype.name}"
        )
    return array.astype(np.float64)


def scored_batches(
    selector: Selector,
    samples: Sequence[Sample],
    candidate_sets: Sequence[CandidateSet],
    batch_size: int = 32,
    num_emotions: int | None = None,
    desc: str | None = None,
    progress: bool = True,
    selector_name: str | None = None,
    split: str | None = None,
) -> Iterator[tuple[list[Sample], list[CandidateSet], np.ndarray, np.ndarray | None]]:
    """Yield validated ``(samples, candidate sets, scores, emotion logits)`` batch by batch.

    A selector raising inside ``score`` becomes one :class:`SelectorError` naming it, the split
    and the batch's first sample.
    """
    name = selector_name or selector.meta.name
    on_split = f" on split {split!r}" if split else ""
    if len(samples) != len(candidate_sets):
        raise SelectorError("internal: samples and candidate sets differ in length")
    with progress_bar(total=len(samples), desc=desc, unit="sample", disable=not progress, leave=False) as bar:
        for start in range(0, len(samples), batch_size):
            batch_samples = list(samples[start : start + batch_size])
            batch_sets = list(candidate_sets[start : start + batch_size])
            queries = [query_for(s, c) for s, c in zip(batch_samples, batch_sets)]
            try:
                batch = selector.score(queries)
            except BenchmarkError:
                raise
            except Exception as exc:
                raise SelectorError(
                    f"selector {name!r} failed in score{on_split}, batch starting at sample "
                    f"{queries[0].sample_id}: {type(exc).__name__}: {exc} (--debug shows the traceback)"
                ) from exc
            scores, logits = validate_batch(name, queries, batch, num_emotions)
            yield batch_samples, batch_sets, scores, logits
            bar.update(len(batch_samples))


def quick_metrics(
    selector: Selector,
    samples: Sequence[Sample],
    candidate_sets: Sequence[CandidateSet],
    batch_size: int = 32,
    num_emotions: int | None = None,
    progress: bool = False,
) -> dict[str, float | None]:
    """Metrics without writing anything: used for early stopping during training."""
    acc = MetricAccumulator()
    for batch_samples, batch_sets, scores, logits in scored_batches(
        selector, samples, candidate_sets, batch_size, num_emotions, progress=progress
    ):
        for i, (sample, cands) in enumerate(zip(batch_samples, batch_sets)):
            acc.add(scores[i], cands.gold_index, None if logits is None else logits[i], sample.emotion)
    return acc.result()


def prediction_row(sample: Sample, cands: CandidateSet, scores: np.ndarray, logits: np.ndarray | None) -> dict:
    """One line of ``predictions/<model>/<split>.jsonl``: enough to recompute every metric."""
    order = np.argsort(-scores, kind="stable")
    return {
        "sample_id": sample.sample_id,
        "candidates": list(cands.candidates),
        "gold": cands.gold,
        "scores": [float(s) for s in scores],
        "predicted": cands.candidates[int(order[0])],
        "emotion": sample.emotion,
        "emotion_logits": None if logits is None else [float(x) for x in logits],
        "emotion_predicted": None if logits is None else int(np.argmax(logits)),
    }


def _rows_already_written(path: Path, expected: dict[str, CandidateSet]) -> list[dict]:
    """Rows of a previous, possibly killed, run that still match the current candidate sets."""
    if not path.exists():
        return []
    rows, seen = [], set()
    for lineno, row in read_jsonl(path, tolerate_torn_tail=True):
        cands = expected.get(row.get("sample_id"))
        if cands is None or tuple(row.get("candidates", ())) != cands.candidates:
            raise SelectorError(
                f"{path}:{lineno}: existing predictions were made on other candidate sets; "
                "use a new --output directory or pass --overwrite"
            )
        if row["sample_id"] in seen:
            raise SelectorError(
                f"{path}:{lineno}: sample {row['sample_id']} appears twice; pass --overwrite to score afresh"
            )
        seen.add(row["sample_id"])
        rows.append(row)
    return rows


def _check_one_row_per_sample(path: Path, sample_ids: Sequence[str]) -> None:
    written = [row.get("sample_id") for _, row in read_jsonl(path)]
    if sorted(written) != sorted(sample_ids):
        missing = sorted(set(sample_ids) - set(written))
        extra = len(written) - len(set(written))
        raise SelectorError(
            f"{path}: holds {len(written)} rows for {len(sample_ids)} samples ({len(missing)} missing, "
            f"{extra} doubled); it was written by something else than this run — pass --overwrite"
        )


def evaluate_split(
    selector: Selector,
    samples: Sequence[Sample],
    candidate_sets: Sequence[CandidateSet],
    predictions_path: Path,
    batch_size: int = 32,
    num_emotions: int | None = None,
    desc: str | None = None,
    progress: bool = True,
    selector_name: str | None = None,
    split: str | None = None,
) -> SplitScores:
    """Score every sample not yet in ``predictions_path``, append its row, and return metrics.

    The metrics are computed from the file, after checking that it holds exactly one row per
    sample: a split is never reported finished with rows missing or doubled.
    """
    by_id = {c.sample_id: c for c in candidate_sets}
    done_rows = _rows_already_written(predictions_path, by_id)
    if done_rows and predictions_path.exists():
        # Rewrite without a torn last line before appending to it.
        atomic_write_text(predictions_path, "".join(_dump(r) for r in done_rows))
    done = {r["sample_id"] for r in done_rows}
    todo = [(s, by_id[s.sample_id]) for s in samples if s.sample_id not in done]
    started = time.perf_counter()
    if todo:
        with JsonlAppender(predictions_path) as out:
            for batch_samples, batch_sets, scores, logits in scored_batches(
                selector,
                [s for s, _ in todo],
                [c for _, c in todo],
                batch_size,
                num_emotions,
                desc,
                progress,
                selector_name,
                split,
            ):
                for i, (sample, cands) in enumerate(zip(batch_samples, batch_sets)):
                    out.write(prediction_row(sample, cands, scores[i], None if logits is None else logits[i]))
    elif not predictions_path.exists():
        atomic_write_text(predictions_path, "")
    seconds = time.perf_counter() - started
    _check_one_row_per_sample(predictions_path, [s.sample_id for s in samples])
    acc = accumulate_predictions(predictions_path)
    return SplitScores(metrics=acc.result(), stderr=acc.stderr(), n=len(samples), seconds=seconds)


def _dump(row: dict) -> str:
    return json.dumps(row, separators=(",", ":")) + "\n"


def accumulate_predictions(path: Path) -> MetricAccumulator:
    """Every row of a predictions file, accumulated: metrics and their standard errors."""
    acc = MetricAccumulator()
    for _, row in read_jsonl(path):
        gold_index = row["candidates"].index(row["gold"])
        acc.add(row["scores"], gold_index, row.get("emotion_logits"), row.get("emotion"))
    return acc


def metrics_from_predictions(path: Path) -> dict[str, float | None]:
    """Recompute every metric from a predictions file alone."""
    return accumulate_predictions(path).result()
