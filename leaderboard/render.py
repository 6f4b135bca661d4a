"""Markdown leaderboards from ``results.json`` files.

One table per split; a table only ever holds numbers scored on one candidate manifest
(same fingerprint), because recall on 10 random candidates and on 11 official ones are not
the same quantity. The paper's reported numbers can be shown beside, clearly labelled.

Two emotion columns, because they measure different things: "Acc (own pick)" is the emotion
predicted together with the selector's own top candidate (``emotion_acc``); "T3 Acc@1/@5" is MOD's
task 3, the emotion given the sticker that was sent (``task3_acc@k``), the protocol of the
published baselines. A blind split (a test release without answers) has no numbers at all: its
table says "blind" in every cell and points to ``export``.

Bold marks, in each column, the best value and every value not significantly worse than it
(:mod:`stickerbench.leaderboard.significance`); ``significance=False`` bolds the maximum only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from tabulate import tabulate

from benchmark.errors import BenchmarkError
from benchmark.results import RunResults, SplitResult
from stickerbench.leaderboard.significance import MAX_NOTE, Source, marks, max_bold

COLUMNS = ("recall@1", "recall@3", "recall@5", "mrr", "map@5", "emotion_acc", "task3_acc@1", "task3_acc@5")
POOL_COLUMNS = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "map@5", "emotion_acc", "task3_acc@1")
LABELS = {"mrr": "MRR", "map@5": "MAP@5", "emotion_acc": "Acc (own pick)", "task3_acc@1": "T3 Acc@1"}
LABELS["task3_acc@5"] = "T3 Acc@5"
BLIND = "blind"
BLIND_NOTE = (
    "`{split}` is blind: the release has no answers, so no metric can be computed; every item was still "
    "ranked and its scores written to `predictions/<model>/{split}.jsonl`. Write the DSTC10 submission files "
    "with `python -m benchmark export RUN_DIR --format dstc10 --model NAME --out DIR` and score them with the "
    "organisers' script."
)


def columns_for(strategy: str) -> tuple[str, ...]:
    """The metrics a split's table shows: full-pool retrieval reports deeper recall."""
    return POOL_COLUMNS if strategy == "all" else COLUMNS


def _headers(n: int, columns: Sequence[str] = COLUMNS) -> list[str]:
    """``R10@1`` on N = 10 candidates; ``R@1`` over a full pool (N in the note)."""
    prefix = "R" if columns is POOL_COLUMNS else f"R{n}"
    return ["Model"] + [LABELS.get(c) or f"{prefix}@{c.removeprefix('recall@')}" for c in columns]


def _fmt(value: float | None, best: bool, spread: float | None = None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:.2f}"
    text = f"**{text}**" if best else text
    return text if spread is None else f"{text} ± {100 * spread:.2f}"


Row = tuple[str, dict[str, float | None], dict[str, float | None] | None]


def _table(rows: Sequence[Row], n: int, bold: Mapping[str, set[str]], columns: Sequence[str] = COLUMNS) -> str:
    """``rows``: (model, metrics, the ± of each or None to print none); ``bold``: column → models."""
    body = [
        [name] + [_fmt(m.get(col), name in bold.get(col, ()), (spread or {}).get(col)) for col in columns]
        for name, m, spread in rows
    ]
    return tabulate(body, headers=_headers(n, columns), tablefmt="github", disable_numparse=True)


def _seeded(result: SplitResult) -> bool:
    return (result.num_seeds or 0) > 1 and result.seed_std is not None


def _spread(result: SplitResult) -> dict[str, float | None] | None:
    """The sd over training seeds for a selector trained under several, else the standard error."""
    return result.seed_std if _seeded(result) else result.stderr


def _spread_note(sources: Mapping[str, Source]) -> str:
    seeded = [f"{m} ({s.result.num_seeds} seeds)" for m, s in sources.items() if _seeded(s.result)]
    if not seeded:
        return " ± is the standard error of the mean over the split's samples."
    if len(seeded) == len(sources):
        return f" ± is the standard deviation of the metric over training seeds: {', '.join(seeded)}."
    return (
        f" ± is the standard deviation of the metric over training seeds for {', '.join(seeded)}, and the "
        "standard error of the mean over the split's samples for the others."
    )


def _blind_table(models: Sequence[str], n: int, columns: Sequence[str] = COLUMNS) -> str:
    body = [[model] + [BLIND] * len(columns) for model in models]
    return tabulate(body, headers=_headers(n, columns), tablefmt="github", disable_numparse=True)


def _with_dirs(runs: Sequence[RunResults | tuple[Path, RunResults]]) -> list[tuple[Path | None, RunResults]]:
    pairs = [(None, r) if isinstance(r, RunResults) else r for r in runs]
    return [(None if run_dir is None else Path(run_dir), results) for run_dir, results in pairs]


def collect_splits(runs: Sequence[RunResults | tuple[Path, RunResults]]) -> dict[str, dict[str, Any]]:
    """split → {fingerprint, num_candidates, strategy, negatives, seed, blind, rows: {model: Source}};
    refuses mixed fingerprints. ``runs``: ``RunResults`` or ``(run directory, RunResults)``.

    Only finished (``complete``) pairs are rows: a killed run's partial split is not a number. A
    split is ``blind`` when a run's dataset says so (``dataset.blind_splits``).
    """
    splits: dict[str, dict[str, Any]] = {}
    for run_dir, results in _with_dirs(runs):
        blind = set(results.dataset.get("blind_splits") or ())
        for split, cand in results.candidates.items():
            table = splits.setdefault(split, {**cand.to_json(), "rows": {}, "blind": False})
            table["blind"] = table["blind"] or split in blind
            if table["fingerprint"] != cand.fingerprint:
                raise BenchmarkError(
                    f"cannot put these runs in one table: split {split!r} was scored on different "
                    f"candidate sets (fingerprints {table['fingerprint'][:12]} and {cand.fingerprint[:12]}); "
                    "re-run them with the same dataset, --candidates, --num-candidates, --negatives and --seed"
                )
        for model in results.models:
            for split, res in results.complete_splits(model).items():
                if split in splits:
                    splits[split]["rows"][model] = Source(run_dir, results.models[model], res)
    return splits


def _sets(table: dict[str, Any]) -> str:
    """``sampled, matched negatives`` or ``official``: how a split's candidate sets were made."""
    negatives = table.get("negatives")
    return f"{table['strategy']}, {negatives} negatives" if negatives else table["strategy"]


def reported_numbers() -> dict[str, Any]:
    return json.loads(resources.files("stickerbench.leaderboard").joinpath("reported.json").read_text())


def render_runs(
    runs: Sequence[RunResults | tuple[Path, RunResults]],
    reference: bool = False,
    stderr: bool = False,
    significance: bool = True,
) -> str:
    """Markdown tables of ``(run directory, RunResults)`` pairs (or of bare ``RunResults``, whose
    predictions cannot be found: bold then marks the maximum only, and the note says so).

    ``stderr`` appends ``± standard error`` to every number that has one (``± seed sd`` for a
    selector trained under several seeds); ``significance=False`` bolds the maximum of each column
    instead of every value not significantly worse than it.
    """
    pairs = _with_dirs(runs)
    splits = collect_splits(pairs)
    seed = pairs[0][1].seed if pairs else 0
    datasets = sorted({str(r.dataset.get("name", "?")) for _, r in pairs})
    parts = [f"# stickerbench leaderboard — {', '.join(datasets)}", ""]
    reported = reported_numbers() if reference else None
    for split, table in splits.items():
        if not table["rows"]:
            continue
        n = table["num_candidates"]
        columns = columns_for(table["strategy"])
        where = (
            f"N = {n} candidates ({_sets(table)}, seed {table['seed']}), "
            f"candidate fingerprint `{table['fingerprint'][:16]}`."
        )
        if table["strategy"] == "all":
            where = f"Full pool: every one of the {n} stickers ranked for every sample; fingerprint `{table['fingerprint'][:16]}`."
        if table["blind"]:
            parts += [f"## {split}", "", _blind_table(list(table["rows"]), n, columns), ""]
            parts += [f"{where} " + BLIND_NOTE.format(split=split), ""]
        else:
            sources: dict[str, Source] = table["rows"]
            rows = [
                (m, src.result.metrics or {}, _spread(src.result) if stderr else None) for m, src in sources.items()
            ]
            bold = marks(sources, split, columns, seed, significance)
            note = bold.note(dict(zip(columns, _headers(n, columns)[1:])))
            parts += [f"## {split}", "", _table(rows, n, bold.bold, columns), ""]
            parts.append(
                f"{where} Numbers in percent; ties count as expected values. Acc (own pick): the emotion "
                "predicted with the selector's own top candidate; T3 Acc@k: MOD task 3, the emotion given the "
                "sent sticker (`classify_emotion`); – = no emotion head, no `classify_emotion` or no labels."
                + (_spread_note(sources) if stderr else "")
                + (f" {note}" if note else "")
            )
            parts.append("")
        if reported and split in reported["splits"]:
            rows = [
                (f"{m} (reported)", {k: (v / 100 if v is not None else None) for k, v in vals.items()}, None)
                for m, vals in reported["splits"][split].items()
            ]
            parts += [
                f"### {split} — reported in the CKS paper (not comparable: other candidate sets)",
                "",
                _table(rows, reported["num_candidates"], max_bold({r[0]: r[1] for r in rows}, COLUMNS)),
                "",
                f"{reported['note']} {MAX_NOTE}",
                "",
            ]
    return "\n".join(parts).rstrip() + "\n"
