"""Markdown leaderboards from ``results.json`` files.

One table per split; a table only ever holds numbers scored on one candidate manifest
(same fingerprint), because recall on 10 random candidates and on 11 official ones are not
the same quantity. The paper's reported numbers can be shown beside, clearly labelled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from tabulate import tabulate

from benchmark.errors import BenchmarkError
from benchmark.results import RunResults

COLUMNS = ("recall@1", "recall@3", "recall@5", "mrr", "map@5", "emotion_acc")


def _headers(n: int) -> list[str]:
    return ["Model", f"R{n}@1", f"R{n}@3", f"R{n}@5", "MRR", "MAP@5", "Acc"]


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


def collect_splits(runs: Sequence[RunResults]) -> dict[str, dict[str, Any]]:
    """split → {fingerprint, num_candidates, strategy, seed, rows: {model: (metrics, stderr)}}; refuses mixed fingerprints.

    Only finished (``complete``) pairs are rows: a killed run's partial split is not a number.
    """
    splits: dict[str, dict[str, Any]] = {}
    for results in runs:
        for split, cand in results.candidates.items():
            table = splits.setdefault(split, {**cand.to_json(), "rows": {}})
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
        rows = [(model, metrics, se if stderr else None) for model, (metrics, se) in table["rows"].items()]
        parts += [f"## {split}", "", _table(rows, table["num_candidates"]), ""]
        parts.append(
            f"N = {table['num_candidates']} candidates ({table['strategy']}, seed {table['seed']}), "
            f"candidate fingerprint `{table['fingerprint'][:16]}`. Numbers in percent; ties count as "
            "expected values; – = no emotion head or no labels."
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
