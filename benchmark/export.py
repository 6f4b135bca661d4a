"""``python -m benchmark export RUN_DIR --format dstc10 --model NAME --out DIR``: DSTC10 Track 1 submissions.

MOD's test release is blind, so its numbers come from the organisers' scorer: participants return
the task-2 file with ``answer.img_id`` replaced by the candidate ids *ranked* best first, and the
task-3 file with ``answer.emotion_id`` replaced by the top-5 emotion ids. This writes those files
from a finished run alone — the predictions rows hold every candidate's score and the task-3
logits — for every test split (``test_*``) of the run:

* **task 2**: the input file's items, unchanged but for ``answer.img_id``, in the file's own id
  spelling (the raw strings of the item's ``candidate.set``, e.g. ``"013"``, not the normalised
  ``"13"``). Equal scores keep the order of the input set (a stable sort; the release sorts each
  set by ascending id), so the file is deterministic, but a tie is then broken by position,
  exactly what the harness's own metrics refuse to do — one more reason a selector should not tie;
* **task 3** (only for a model whose rows carry ``task3_logits``, i.e. that implements
  ``classify_emotion``): the task-3 input file's items, unchanged but for ``answer.emotion_id`` =
  the five emotion ids of highest logit (the dataset's ids: an emotion's index in
  ``emotion_names``), ties towards the lower id. Task-3 items are matched to task-2 items by their
  history (who said what, in order), as the loader joins them.

Each output file is named like its input file (``e_test_hard_task2.json``). The input files are the
ones recorded in ``results.json`` (``dataset.files``); the export refuses an input that changed or
vanished since the run rather than pair scores with the wrong items.
"""

from __future__ import annotations

import copy
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.datasets.mod_files import normalize_sticker_id
from benchmark.errors import BenchmarkError, DataError
from benchmark.io import atomic_write_json, read_json, read_jsonl
from benchmark.results import RunResults, load_results

FORMATS = ("dstc10",)
TOP_EMOTIONS = 5


def _history_key(history: Any) -> tuple:
    """Who said what, in order: the same for a task-2 item and its task-3 item."""
    return tuple((str(t.get("speaker_id")), str(t.get("txt") or "")) for t in history if isinstance(t, dict))


def _input(results: RunResults, role: str, what: str) -> Path | None:
    files = results.dataset.get("files") or {}
    if not files:
        raise BenchmarkError(
            "results.json records no input files (the run predates export); re-run the same `run` command "
            "into this directory (finished pairs are kept) to record them"
        )
    if role not in files:
        return None
    path = Path(files[role])
    if not path.is_file():
        raise BenchmarkError(f"the {what} input file {path} no longer exists; put it back where the run read it")
    return path


def _items(path: Path) -> list[Any]:
    items = read_json(path)
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a list of items, as in the MOD release")
    return items


def _rows(run_dir: Path, results: RunResults, model: str, split: str) -> list[dict]:
    result = results.models[model].splits.get(split)
    if result is None or not result.complete:
        state = "not scored" if result is None else f"status {result.status}"
        raise BenchmarkError(
            f"model {model!r} has not finished split {split!r} ({state}); re-run the run command to finish it"
        )
    strategy = results.candidates[split].strategy
    if strategy != "official":
        raise BenchmarkError(
            f"split {split!r} was scored on {strategy} candidates; a DSTC10 submission ranks the official "
            "sets: run with --candidates official"
        )
    path = run_dir / result.predictions
    if not path.is_file():
        raise BenchmarkError(f"{path}: the predictions of {model}/{split} are missing; re-run the run command")
    return [row for _, row in read_jsonl(path)]


def _task2(path: Path, rows: list[dict], split: str) -> tuple[list[Any], dict[tuple, deque]]:
    """The submission's items, and task-2 history key → the rows of those items (in file order)."""
    items = _items(path)
    if len(items) != len(rows):
        raise BenchmarkError(
            f"{path} has {len(items)} items but the run scored {len(rows)} for {split!r}: the file changed "
            "since the run; re-run it, or restore the file"
        )
    out: list[Any] = [None] * len(items)
    by_history: dict[tuple, deque] = defaultdict(deque)
    for position, row in enumerate(rows):
        index = row.get("index")
        index = position if index is None else index
        item = items[index] if isinstance(index, int) and 0 <= index < len(items) else None
        raw = item.get("candidate", {}).get("set") if isinstance(item, dict) else None
        if item is None or out[index] is not None or not isinstance(raw, list):
            raise BenchmarkError(
                f"{path}: item {index} cannot be the run's row {row['sample_id']} (missing, taken twice or without "
                "a candidate set); the file changed since the run: re-run it, or restore the file"
            )
        if [normalize_sticker_id(c) for c in raw] != row["candidates"]:
            raise BenchmarkError(
                f"{path}, item {index}: its candidate set is not the one the run scored ({row['sample_id']}); "
                "the file changed since the run: re-run it, or restore the file"
            )
        order = np.argsort(-np.asarray(row["scores"], dtype=np.float64), kind="stable")
        answer = item.get("answer") if isinstance(item.get("answer"), dict) else {}
        out[index] = {**copy.deepcopy(item), "answer": {**answer, "img_id": [raw[int(i)] for i in order]}}
        by_history[_history_key(item.get("history", []))].append(row)
    return out, by_history


def _task3(path: Path, by_history: dict[tuple, deque], emotions: int) -> list[Any]:
    items = _items(path)
    out = []
    for n, item in enumerate(items):
        queue = by_history.get(_history_key(item.get("history", []) if isinstance(item, dict) else []))
        if not queue:
            raise BenchmarkError(
                f"{path}, item {n}: no task-2 item has its history; the task-2 and task-3 files do not belong "
                "together, or changed since the run"
            )
        logits = queue.popleft().get("task3_logits")
        if logits is None or len(logits) != emotions:
            raise BenchmarkError(f"{path}, item {n}: its task-2 row has no task-3 logits of {emotions} emotions")
        top = np.argsort(-np.asarray(logits, dtype=np.float64), kind="stable")[:TOP_EMOTIONS]
        answer = item.get("answer") if isinstance(item.get("answer"), dict) else {}
        out.append({**copy.deepcopy(item), "answer": {**answer, "emotion_id": [int(i) for i in top]}})
    return out


def export_dstc10(
    run_dir: Path, model: str, out_dir: Path, say: Callable[[str], None] = lambda line: None
) -> list[Path]:
    """Write the task-2 (and task-3) submission files of every test split; return their paths.

    ``say`` receives one line per file written or task skipped.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    results = load_results(run_dir)
    if model not in results.models:
        known = ", ".join(results.models) or "none"
        raise BenchmarkError(f"--model {model!r}: not a model of {run_dir} (it has: {known})")
    splits = [s for s in results.candidates if s.startswith("test_")]
    if not splits:
        raise BenchmarkError(f"{run_dir}: the run has no test split (test_*) to export; run it with the test files")
    emotions = len(results.dataset.get("emotion_names") or [])
    files: list[tuple[Path | None, list[Any], str]] = []  # every file is built and checked before one is written
    for split in splits:
        task2 = _input(results, f"{split}.task2", f"{split} task-2")
        if task2 is None:
            raise BenchmarkError(f"results.json records no task-2 file for {split!r}; re-run with --data-file")
        rows = _rows(run_dir, results, model, split)
        items, by_history = _task2(task2, rows, split)
        files.append((task2, items, f"{split}: wrote {{}} ({len(items)} items, task 2, {model})"))
        task3 = _input(results, f"{split}.task3", f"{split} task-3")
        if task3 is None:
            files.append((None, [], f"{split}: task 3 skipped: the run read no task-3 file for this split"))
        elif not any(r.get("task3_logits") for r in rows):
            files.append((None, [], f"{split}: task 3 skipped: {model} has no task-3 logits (no classify_emotion)"))
        else:
            t3 = _task3(task3, by_history, emotions)
            files.append((task3, t3, f"{split}: wrote {{}} ({len(t3)} items, task 3, top-{TOP_EMOTIONS} emotion ids)"))
    for source, _, _ in files:
        if source is not None and (out_dir / source.name).resolve() == source.resolve():
            raise BenchmarkError(f"--out {out_dir}: {source.name} there is the input file itself; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source, items, line in files:
        if source is None:
            say(line)
            continue
        written.append(out_dir / source.name)
        atomic_write_json(written[-1], items)
        say(line.format(written[-1]))
    return written
