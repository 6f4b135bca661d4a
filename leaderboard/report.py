"""``OUT/report.html``: the leaderboard with intervals, where selectors fail, and what they picked.

One self-contained file (no network, no script, no external font; thumbnails embedded as data
URIs) so that it can be mailed, archived beside a paper, or opened on a cluster's login node.
Everything from a dataset or a plugin (dialogue text, sticker, model, emotion names) is escaped
by jinja2's autoescaping, so a ``<script>`` in a dialogue shows as text and never runs.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from benchmark.bias_words import mine_bias_words
from benchmark.compare import file_values
from benchmark.io import read_jsonl
from benchmark.results import RunResults, load_results
from benchmark.slices import SLICES, SliceLabeller
from benchmark.stats import comparison_rng, paired_comparison
from benchmark.types import Dataset
from stickerbench.leaderboard import svg
from stickerbench.leaderboard.significance import Marks, Source, marks

CASES_PER_SPLIT = 12
ALL_FAIL_CASES = 3
THUMBNAIL = 72
COLUMNS = (("recall@1", "R@1"), ("recall@3", "R@3"), ("mrr", "MRR"), ("map@5", "MAP@5"), ("emotion_acc", "Acc"))


def _dataset_of(results: RunResults) -> Dataset | None:
    from benchmark.datasets import load_dataset

    root = results.dataset.get("root")
    if not root or not Path(root).is_dir():
        return None
    return load_dataset(str(results.dataset.get("name")), Path(root))


class _Thumbnails:
    """Each sticker encoded once as a small PNG data URI."""

    def __init__(self, dataset: Dataset | None):
        self.dataset = dataset
        self._cache: dict[str, str] = {}

    def __call__(self, sticker_id: str) -> str:
        if self.dataset is None or sticker_id not in self.dataset.stickers:
            return ""
        if sticker_id not in self._cache:
            image = self.dataset.stickers.image(sticker_id)
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
            self._cache[sticker_id] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        return self._cache[sticker_id]


def _rows(run_dir: Path, results: RunResults, split: str) -> dict[str, dict[str, dict]]:
    """model → sample id → predictions row, for every finished (model, split)."""
    rows = {}
    for model in results.models:
        done = results.complete_splits(model).get(split)
        if done is not None:
            rows[model] = {r["sample_id"]: r for _, r in read_jsonl(run_dir / done.predictions)}
    return rows


def _recall1(rows: dict[str, dict[str, dict]], sources: dict[str, Source]) -> dict[str, dict[str, float | None]]:
    """model → sample id → the row's R@1 (``None`` for a blind row), for the forest plot and every
    slice chart: the values :func:`~benchmark.compare.file_values` computed for the leaderboard's
    significance marks, when those read the same file (one seed)."""
    recall1 = {}
    for model, by_id in rows.items():
        source = sources[model]
        values = file_values(source.run_dir / source.result.predictions).get("recall@1", {})
        recall1[model] = {sid: values.get(sid) for sid in by_id}
    return recall1


def _shown(row: dict, gold: str | None, picks: Sequence[str], width: int = 10) -> list[str]:
    """The stickers a case shows: its candidates, or for a full-pool row the gold, every model's
    pick and the first model's next best, ``width`` in all."""
    if "candidates" in row:
        return list(row["candidates"])
    ordered = [s for s in (gold, *picks, *row["top_ids"]) if s is not None]
    return list(dict.fromkeys(ordered))[:width]


def _sources(runs: Sequence[tuple[Path, RunResults]], split: str) -> dict[str, Source]:
    """model → where its finished ``split`` comes from (a later run's model replaces an earlier one's)."""
    return {
        model: Source(run_dir, results.models[model], done)
        for run_dir, results in runs
        for model in results.models
        if (done := results.complete_splits(model).get(split)) is not None
    }


def _table(sources: dict[str, Source], bold: Marks) -> list[dict]:
    table = []
    for model, source in sources.items():
        done = source.result
        cells = []
        for key, _ in COLUMNS:
            value = (done.metrics or {}).get(key)
            se = (done.stderr or {}).get(key)
            text = "–" if value is None else f"{100 * value:.1f}" + ("" if se is None else f" ± {196 * se:.1f}")
            cells.append({"text": text, "bold": value is not None and bold.is_bold(key, model)})
        table.append({"model": model, "cells": cells, "n": done.n})
    return table


def _forest(recall1: dict[str, dict[str, float | None]], split: str, seed: int) -> str:
    values = {m: v for m, v in recall1.items() if v and None not in v.values()}
    if len(values) < 2:
        return ""
    ids = sorted(set.intersection(*(set(v) for v in values.values())))
    arrays = {m: np.array([v[i] for i in ids]) for m, v in values.items()}
    best = max(arrays, key=lambda m: arrays[m].mean())
    lines = []
    for model in sorted(arrays, key=lambda m: -arrays[m].mean()):
        if model == best:
            continue
        r = paired_comparison(arrays[model], arrays[best], comparison_rng(seed, split, model, best), 500, 2000)
        lines.append((model, 100 * r.diff, 100 * r.ci95[0], 100 * r.ci95[1]))
    return svg.forest(lines, f"R@1 difference to the best ({best}), points, 95% CI")


def _slice_charts(recall1: dict[str, dict[str, float | None]], labels: dict[str, dict[str, str]]) -> list[str]:
    charts = []
    for name in SLICES:
        groups = sorted({lab[name] for lab in labels.values() if name in lab})
        if len(groups) < 2:
            continue
        series = {}
        for model, by_id in recall1.items():
            series[model] = []
            for value in groups:
                hits = [h for sid, h in by_id.items() if h is not None and labels.get(sid, {}).get(name) == value]
                series[model].append(100 * float(np.mean(hits)) if hits else None)
        counts = Counter(lab[name] for lab in labels.values() if name in lab)
        charts.append(svg.grouped_bars([f"{g} ({counts[g]})" for g in groups], series, f"R@1 by {name} (n per value)"))
    return charts


def _confusions(rows: dict[str, dict[str, dict]], emotion_names: Sequence[str]) -> list[str]:
    charts = []
    for model, by_id in rows.items():
        pairs = [
            (r["emotion"], r["emotion_predicted"])
            for r in by_id.values()
            if r.get("emotion") is not None and r.get("emotion_predicted") is not None
        ]
        if not pairs:
            continue
        counts = [[0] * len(emotion_names) for _ in emotion_names]
        for gold, predicted in pairs:
            counts[gold][predicted] += 1
        charts.append(svg.heatmap(list(emotion_names), counts, f"{model}: emotion of its own pick (gold × predicted)"))
    return charts


def _cases(
    rows: dict[str, dict[str, dict]], dataset: Dataset | None, split: str, thumbs: _Thumbnails, count: int
) -> list[dict]:
    if not rows:
        return []
    ids = sorted(set.intersection(*(set(v) for v in rows.values())))
    picks = {sid: {m: rows[m][sid]["predicted"] for m in rows} for sid in ids}
    gold = {sid: next(iter(rows.values()))[sid].get("gold") for sid in ids}
    all_fail = [sid for sid in ids if gold[sid] is not None and gold[sid] not in picks[sid].values()]
    disagree = sorted(ids, key=lambda sid: (-len(set(picks[sid].values())), sid))
    chosen = all_fail[:ALL_FAIL_CASES]
    chosen += [sid for sid in disagree if sid not in chosen][: max(0, count - len(chosen))]
    samples = {s.sample_id: s for s in dataset.split(split)} if dataset is not None and split in dataset.splits else {}
    cases = []
    for sid in chosen:
        row = next(iter(rows.values()))[sid]
        sample = samples.get(sid)
        cases.append(
            {
                "sample_id": sid,
                "all_fail": sid in all_fail,
                "turns": [] if sample is None else [(u.speaker, u.text) for u in sample.context],
                "emotion": None if sample is None or sample.emotion is None else dataset.emotion_names[sample.emotion],
                "candidates": [
                    {
                        "id": c,
                        "src": thumbs(c),
                        "gold": c == gold[sid],
                        "picked_by": [m for m, p in picks[sid].items() if p == c],
                    }
                    for c in _shown(row, gold[sid], list(picks[sid].values()))
                ],
            }
        )
    return cases


def render_report(
    run_dirs: Sequence[Path],
    cases_per_split: int = CASES_PER_SPLIT,
    seed: int = 0,
    significance: bool = True,
    dataset: Dataset | None = None,
) -> str:
    """The HTML of the report over one or more run directories of the same dataset.

    ``seed`` seeds the forest plot's intervals; bold in the tables is decided as in the Markdown
    leaderboard (same test, the run's own seed), or by the maximum alone without ``significance``.
    ``dataset``: the runs' dataset when the caller has it loaded (the run that just finished);
    otherwise it is read again from the first run's recorded root, if that is still there.
    """
    from jinja2 import Environment

    runs = [(Path(d), load_results(d)) for d in run_dirs]
    first = runs[0][1]
    dataset = _dataset_of(first) if dataset is None else dataset
    labeller = (
        SliceLabeller(dataset, mine_bias_words(dataset)) if dataset is not None and "train" in dataset.splits else None
    )
    thumbs = _Thumbnails(dataset)
    splits = []
    for split, cand in first.candidates.items():
        rows: dict[str, dict[str, dict]] = {}
        for run_dir, results in runs:
            rows.update(_rows(run_dir, results, split))
        sources = _sources(runs, split)
        if not sources:
            continue
        bold = marks(sources, split, [key for key, _ in COLUMNS], first.seed, significance)
        labels = {s.sample_id: labeller.labels(s) for s in dataset.split(split)} if labeller else {}
        recall1 = _recall1(rows, sources)
        splits.append(
            {
                "name": split,
                "candidates": cand,
                "table": _table(sources, bold),
                "bold_note": bold.note(dict(COLUMNS)),
                "forest": _forest(recall1, split, seed),
                "slices": _slice_charts(recall1, labels),
                "confusions": _confusions(rows, dataset.emotion_names if dataset else ()),
                "cases": _cases(rows, dataset, split, thumbs, cases_per_split),
            }
        )
    template = resources.files("stickerbench.leaderboard").joinpath("report.html.j2").read_text(encoding="utf-8")
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        columns=[label for _, label in COLUMNS],
        splits=splits,
        runs=[{"dir": str(d), "harness": r.harness, "dataset": r.dataset, "seed": r.seed} for d, r in runs],
        dataset_missing=dataset is None,
    )
