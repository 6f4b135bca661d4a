"""Scores a selector on fixed candidate sets, validating every batch it returns.

The evaluator, not the selector, is responsible for trustworthy numbers: it checks each
``ScoreBatch`` (shape, finiteness, emotion width) and refuses a bad one with a message naming
the selector and sample, streams predictions to disk as it goes, and resumes a killed run from
the rows already written.

Two emotion protocols are measured, because published numbers use the easier one:

* ``emotion_acc`` reads ``ScoreBatch.emotion_logits``: the emotion the selector predicts
  together with its own pick among the candidates;
* MOD's task 3 (``task3_acc@1/@5``) gives the selector the sticker that was sent: a selector
  with an emotion head may implement ``classify_emotion(queries) -> [B, E]``, where each query's
  ``candidates`` holds exactly that one sticker (``Sample.meta["sent_sticker"]``, else the gold).
  It is called on every sample that has a sent sticker, blind ones included (their logits are
  what a task-3 submission is made of), and validated like scores.

A blind sample (``gold is None``) is scored and written like any other, with ``gold: null``;
its metrics are ``None``, never invented.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from benchmark.batching import batch_unit, query_batches
from benchmark.errors import BenchmarkError, SelectorError
from benchmark.io import JsonlAppender, atomic_write_text, read_jsonl
from benchmark.metrics import MetricAccumulator
from benchmark.prediction_scores import SplitScores, scores_of_file
from benchmark.progress import progress_bar
from benchmark.selector import Selector
from benchmark.types import CandidateSet, Query, Sample, ScoreBatch, query_for

EmotionHead = Callable[[Sequence[Query]], object]
RankingFields = Callable[[Sample, CandidateSet, np.ndarray], dict]  # a row's ranking part, when not per candidate


class ScoredBatch(NamedTuple):
    """One validated batch: its samples and sets, scores ``[B, N]``, emotion logits ``[B, E]``
    (or ``None``) and, per sample, the task-3 logits ``[E]`` (``None`` where not computed)."""

    samples: list[Sample]
    sets: list[CandidateSet]
    scores: np.ndarray
    logits: np.ndarray | None
    task3: list[np.ndarray | None]


def sent_sticker(sample: Sample) -> str | None:
    """The sticker that was sent: the task-3 file's (present in blind splits too), else the gold."""
    return sample.meta.get("sent_sticker") or sample.gold


def emotion_head(selector: Selector) -> EmotionHead | None:
    """The selector's ``classify_emotion``, or ``None`` when it has none (or sets it to ``None``)."""
    head = getattr(selector, "classify_emotion", None)
    return head if callable(head) else None


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
        logits = validate_emotion_logits(selector_name, "emotion logits", queries, batch.emotion_logits, num_emotions)
    return scores, logits


def validate_emotion_logits(
    selector_name: str, what: str, queries: Sequence[Query], values: object, num_emotions: int | None
) -> np.ndarray:
    """``values`` as a finite float64 ``[B, E]`` array, or a :class:`SelectorError` saying what is wrong."""
    logits = _numeric_array(selector_name, what, values, queries)
    width = num_emotions if num_emotions is not None else (logits.shape[1] if logits.ndim == 2 else "E")
    if logits.ndim != 2 or logits.shape[0] != len(queries) or logits.shape[1] != width:
        known = f"the dataset has {num_emotions} emotions, so " if num_emotions is not None else ""
        raise SelectorError(
            f"selector {selector_name!r} returned {what} of shape {logits.shape}; {known}"
            f"[{len(queries)}, {width}] is expected (first sample {queries[0].sample_id})"
        )
    if not np.isfinite(logits).all():
        row = int(np.argwhere(~np.isfinite(logits))[0][0])
        raise SelectorError(
            f"selector {selector_name!r} returned a non-finite value in its {what} for sample "
            f"{queries[row].sample_id}; fix the selector (logits must be finite floats)"
        )
    return logits


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
    batch_size: int | None = None,
    num_emotions: int | None = None,
    desc: str | None = None,
    progress: bool = True,
    selector_name: str | None = None,
    split: str | None = None,
    task3: bool = False,
) -> Iterator[ScoredBatch]:
    """Yield validated batches (see :class:`ScoredBatch`), sized in the selector's
    ``batch_unit`` (:mod:`benchmark.batching`; ``None``: that unit's default).

    With ``task3``, a selector's ``classify_emotion`` is called too, on the batch's samples
    that have a sent sticker (never when the dataset has no emotions). A selector raising inside
    ``score`` or ``classify_emotion`` becomes one :class:`SelectorError` naming it, the method,
    the split and the batch's first sample.
    """
    name = selector_name or selector.meta.name
    on_split = f" on split {split!r}" if split else ""
    head = emotion_head(selector) if task3 and num_emotions != 0 else None
    if len(samples) != len(candidate_sets):
        raise SelectorError("internal: samples and candidate sets differ in length")

    def call(method: str, fn, queries: list[Query]):
        try:
            return fn(queries)
        except BenchmarkError:
            raise
        except Exception as exc:
            raise SelectorError(
                f"selector {name!r} failed in {method}{on_split}, batch starting at sample "
                f"{queries[0].sample_id}: {type(exc).__name__}: {exc} (--debug shows the traceback)"
            ) from exc

    with progress_bar(total=len(samples), desc=desc, unit="sample", disable=not progress, leave=False) as bar:
        for rows in query_batches([len(c.candidates) for c in candidate_sets], batch_size, batch_unit(selector)):
            batch_samples = [samples[i] for i in rows]
            batch_sets = [candidate_sets[i] for i in rows]
            queries = [query_for(s, c) for s, c in zip(batch_samples, batch_sets)]
            scores, logits = validate_batch(name, queries, call("score", selector.score, queries), num_emotions)
            task3 = (
                [None] * len(batch_samples) if head is None else _task3(name, head, call, batch_samples, num_emotions)
            )
            yield ScoredBatch(batch_samples, batch_sets, scores, logits, task3)
            bar.update(len(batch_samples))


def _task3(
    name: str, head: EmotionHead, call: Callable, samples: list[Sample], num_emotions: int | None
) -> list[np.ndarray | None]:
    """Each sample's validated ``classify_emotion`` logits, ``None`` where no sticker was sent."""
    out: list[np.ndarray | None] = [None] * len(samples)
    sent = [(i, sent_sticker(s)) for i, s in enumerate(samples)]
    sent = [(i, sticker) for i, sticker in sent if sticker is not None]
    if not sent:
        return out
    queries = [Query(samples[i].sample_id, samples[i].context, samples[i].speaker, (sticker,)) for i, sticker in sent]
    raw = call("classify_emotion", head, queries)
    if raw is None:
        raise SelectorError(
            f"selector {name!r} returned None from classify_emotion (first sample {queries[0].sample_id}); "
            "return [B, E] logits, or set classify_emotion = None"
        )
    logits = validate_emotion_logits(name, "classify_emotion logits", queries, raw, num_emotions)
    for row, (i, _) in enumerate(sent):
        out[i] = logits[row]
    return out


def _gold_index(cands: CandidateSet) -> int | None:
    return None if cands.gold is None else cands.gold_index


def quick_metrics(
    selector: Selector,
    samples: Sequence[Sample],
    candidate_sets: Sequence[CandidateSet],
    batch_size: int | None = None,
    num_emotions: int | None = None,
    progress: bool = False,
) -> dict[str, float | None]:
    """Metrics without writing anything: used for early stopping during training (no task 3)."""
    acc = MetricAccumulator()
    for batch in scored_batches(selector, samples, candidate_sets, batch_size, num_emotions, progress=progress):
        for i, (sample, cands) in enumerate(zip(batch.samples, batch.sets)):
            logits = None if batch.logits is None else batch.logits[i]
            acc.add(batch.scores[i], _gold_index(cands), logits, sample.emotion)
    return acc.result()


def _floats(values: np.ndarray | None) -> list[float] | None:
    return None if values is None else [float(x) for x in values]


def prediction_row(
    sample: Sample,
    cands: CandidateSet,
    scores: np.ndarray,
    logits: np.ndarray | None,
    task3_logits: np.ndarray | None = None,
    slices: dict[str, str] | None = None,
    ranking: RankingFields | None = None,
) -> dict:
    """One line of ``predictions/<model>/<split>.jsonl``: enough to recompute every metric and to
    write a DSTC10 submission (``index``: the item's position in its task-2 file, when it has one;
    ``slices``: the sample's slice labels, see :mod:`benchmark.slices`). ``ranking`` replaces the
    per-candidate ``candidates``/``scores`` by other fields (a full-pool row, :mod:`benchmark.pool`)."""
    if ranking is None:
        order = np.argsort(-scores, kind="stable")
        ranked = {
            "candidates": list(cands.candidates),
            "gold": cands.gold,
            "scores": [float(s) for s in scores],
            "predicted": cands.candidates[int(order[0])],
        }
    else:
        ranked = {"gold": sample.gold, **ranking(sample, cands, scores)}
        ranked["predicted"] = ranked["top_ids"][0]
    row = {
        "sample_id": sample.sample_id,
        "index": sample.meta.get("index"),
        **ranked,
        "emotion": sample.emotion,
        "emotion_logits": _floats(logits),
        "emotion_predicted": None if logits is None else int(np.argmax(logits)),
        "sent_sticker": sent_sticker(sample) if task3_logits is not None else None,
        "task3_logits": _floats(task3_logits),
    }
    if slices is not None:
        row["slices"] = slices
    return row


def _rows_already_written(path: Path, expected: dict[str, CandidateSet]) -> list[dict]:
    """Rows of a previous, possibly killed, run that still match the current candidate sets."""
    if not path.exists():
        return []
    rows, seen = [], set()
    for lineno, row in read_jsonl(path, tolerate_torn_tail=True):
        cands = expected.get(row.get("sample_id"))
        scored_on = row.get("shortlist", row.get("candidates"))  # a full-pool row has neither
        if (
            cands is None
            or (scored_on is not None or "gold_rank" not in row)
            and tuple(scored_on or ()) != cands.candidates
        ):
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


def evaluate_split(
    selector: Selector,
    samples: Sequence[Sample],
    candidate_sets: Sequence[CandidateSet],
    predictions_path: Path,
    batch_size: int | None = None,
    num_emotions: int | None = None,
    desc: str | None = None,
    progress: bool = True,
    selector_name: str | None = None,
    split: str | None = None,
    slice_labels: Callable[[Sample], dict[str, str]] | None = None,
    ranking: RankingFields | None = None,
    summary: bool = True,
) -> SplitScores | None:
    """Score every sample not yet in ``predictions_path``, append its row, and return metrics
    (``summary=False``: nothing, for a shard whose numbers come from the merged file).

    The metrics are computed from the file, after checking that it holds exactly one row per
    sample: a split is never reported finished with rows missing or doubled. With
    ``slice_labels``, each row carries its sample's labels and the per-slice metrics are
    computed from the rows too.
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
            for batch in scored_batches(
                selector,
                [s for s, _ in todo],
                [c for _, c in todo],
                batch_size,
                num_emotions,
                desc,
                progress,
                selector_name,
                split,
                task3=True,
            ):
                for i, (sample, cands) in enumerate(zip(batch.samples, batch.sets)):
                    logits = None if batch.logits is None else batch.logits[i]
                    labels = None if slice_labels is None else slice_labels(sample)
                    out.write(prediction_row(sample, cands, batch.scores[i], logits, batch.task3[i], labels, ranking))
    elif not predictions_path.exists():
        atomic_write_text(predictions_path, "")
    if not summary:
        return None
    return scores_of_file(predictions_path, samples, time.perf_counter() - started, slice_labels is not None)


def _dump(row: dict) -> str:
    return json.dumps(row, separators=(",", ":")) + "\n"
