"""Markdown leaderboards from ``results.json`` files.

One table per split; a table only ever holds numbers scored on one candidate manifest
(same fingerprint), because recall on 10 random candidates and on 11 official ones are not
the same quantity. The paper's reported numbers can be shown beside, clearly labelled.

Two emotion columns, because they measure different things: "Acc (own pick)" is the emotion
predicted together with the selector's own top candidate (``emotion_acc``); "T3 Acc@1/@5" is MOD's
task 3, the emotion given the sticker that was sent (``task3_acc@k``), the protocol of the
published baselines. A blind split (a test release without answers) has no numbers at all: its
table says "blind" in every cell and points to ``export``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from tabulate import tabulate

from benchmark.errors import BenchmarkError
from benchmark.results import RunResults

COLUMNS = ("recall@1", "recall@3", "recall@5", "mrr", "map@5", "emotion_acc", "task3_acc@1", "task3_acc@5")
BLIND = "blind"
BLIND_NOTE = (
    "`{split}` is blind: the release has no answers, so no metric can be computed; every item was still "
    "ranked and its scores written to `predictions/<model>/{split}.jsonl`. Write the DSTC10 submission files "
    "with `python -m benchmark export RUN_DIR --format dstc10 --model NAME --out DIR` and score them with the "
    "organisers' script."
)


def _headers(n: int) -> list[str]:
    return ["Model", f"R{n}@1", f"R{n}@3", f"R{n}@5", "MRR", "MAP@5", "Acc (own pick)", "T3 Acc@1", "T3 Acc@5"]


def _fmt(value: float | None, best: bool, stderr: float | None = None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:.2f}"
    text = f"**{text}**" if best else text
    return text if stderr is None else f"{text} ± {100 * stderr:.2f}"


Row = tuple[str, dict[str, float | None], dict[str, float | None] | None]


def _table(rows: Sequence[Row], n: int) -> str:
    """``rows``: (model, metrics, standard errors or None to print none)."""
    best = {}
    for col in COLUMNS:
        values = [m.get(col) for _, m, _ in rows if m.get(col) is not None]
        best[col] = max(values) if values else None
    body = [
        [name]
        + [
            _fmt(m.get(col), m.get(col) is not None and m.get(col) == best[col] and len(rows) > 1, (se or {}).get(col))
            for col in COLUMNS
        ]
        for name, m, se in rows
    ]
    return tabulate(body, headers=_headers(n), tablefmt="github", disable_numparse=True)


def _blind_table(models: Sequence[str], n: int) -> str:
    body = [[model] + [BLIND] * len(COLUMNS) for model in models]
    return tabulate(body, headers=_headers(n), tablefmt="github", disable_numparse=True)


def collect_splits(runs: Sequence[RunResults]) -> dict[str, dict[str, Any]]:
    """split → {fingerprint, num_candidates, strategy, seed, blind, rows: {model: (metrics, stderr)}};
    refuses mixed fingerprints.

    Only finished (``complete``) pairs are rows: a killed run's partial split is not a number. A
    split is ``blind`` when a run's dataset says so (``dataset.blind_splits``).
    """
    splits: dict[str, dict[str, Any]] = {}
    for results in runs:
        blind = set(results.dataset.get("blind_splits") or ())
        for split, cand in results.candidates.items():
            table = splits.setdefault(split, {**cand.to_json(), "rows": {}, "blind": False})
            table["blind"] = table["blind"] or split in blind
            if table["fingerprint"] != cand.fingerprint:
                raise BenchmarkError(
                    f"cannot put these runs in one table: split {split!r} was scored on different "
                    f"candidate sets (fingerprints {table['fingerprint'][:12]} and {cand.fingerprint[:12]}); "
                    "re-run them with the same dataset, --candidates, --num-candidates and --seed"
                )
        for model in results.models:
            for split, res in results.complete_splits(model).items():
                if split in splits:
                    splits[split]["rows"][model] = (res.metrics, res.stderr)
    return splits


def reported_numbers() -> dict[str, Any]:
    return json.loads(resources.files("stickerbench.leaderboard").joinpath("reported.json").read_text())


def render_runs(runs: Sequence[RunResults], reference: bool = False, stderr: bool = False) -> str:
    """Markdown tables; ``stderr`` appends ``± standard error`` to every number that has one."""
    splits = collect_splits(runs)
    datasets = sorted({str(r.dataset.get("name", "?")) for r in runs})
    parts = [f"# stickerbench leaderboard — {', '.join(datasets)}", ""]
    reported = reported_numbers() if reference else None
    for split, table in splits.items():
        if not table["rows"]:
            continue
        where = (
            f"N = {table['num_candidates']} candidates ({table['strategy']}, seed {table['seed']}), "
            f"candidate fingerprint `{table['fingerprint'][:16]}`."
        )
        if table["blind"]:
            parts += [f"## {split}", "", _blind_table(list(table["rows"]), table["num_candidates"]), ""]
            parts += [f"{where} " + BLIND_NOTE.format(split=split), ""]
        else:
            rows = [(model, metrics, se if stderr else None) for model, (metrics, se) in table["rows"].items()]
            parts += [f"## {split}", "", _table(rows, table["num_candidates"]), ""]
            parts.append(
                f"{where} Numbers in percent; ties count as expected values. Acc (own pick): the emotion "
                "predicted with the selector's own top candidate; T3 Acc@k: MOD task 3, the emotion given the "
                "sent sticker (`classify_emotion`); – = no emotion head, no `classify_emotion` or no labels."
                + (" ± is the standard error of the mean over the split's samples." if stderr else "")
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
                _table(rows, reported["num_candidates"]),
                "",
                reported["note"],
                "",
            ]
    return "\n".join(parts).rstrip() + "\n"
