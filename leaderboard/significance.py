"""Which leaderboard cells are bold, and the sentence under the table that says why.

Bold marks, in each column, the best value *and every value not significantly worse than it*:
the best model by mean is compared with each other model of the column by a paired sign-flip
test over the split's samples (seeds averaged sample by sample), the p-values are Holm-adjusted
over the column, and a model is bold while its adjusted p is ≥ 0.05
(:func:`benchmark.compare.not_worse_than_best`). A difference the data cannot tell from noise
is thereby never presented as a win. The test needs per-sample values, read back from the
predictions files of the run directories; a column where some model has none (no run directory
given, predictions deleted, a metric its rows do not define) bolds the maximum only, and the note
names the column and the model. The Markdown leaderboard and the HTML report both use this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.compare import not_worse_than_best, paired_table, seed_columns
from benchmark.errors import DataError
from benchmark.results import ModelResult, SplitResult

SIGNIFICANCE_NOTE = (
    "Bold: in each column the best value and every value not significantly worse than it (paired sign-flip "
    "test against the best over the split's samples, Holm-adjusted over the column, p ≥ 0.05)."
)
MAX_NOTE = "Bold: the highest value of each column."


@dataclass(frozen=True)
class Source:
    """Where one row of a table comes from: the run directory (``None``: not known), the model's
    entry in ``results.json`` and its finished split."""

    run_dir: Path | None
    entry: ModelResult
    result: SplitResult


@dataclass
class Marks:
    """The bold cells of one table (column → models) and what the note under it must say."""

    bold: dict[str, set[str]] = field(default_factory=dict)
    significance: bool = True
    tested: list[str] = field(default_factory=list)
    untested: dict[str, dict[str, str]] = field(default_factory=dict)  # column → model → why no test

    def is_bold(self, metric: str, model: str) -> bool:
        return model in self.bold.get(metric, ())

    def note(self, labels: Mapping[str, str]) -> str:
        """One or two sentences: what bold means here, and where the test could not be run."""
        if not any(self.bold.values()):
            return ""
        if not self.significance or not (self.tested or self.untested):
            return MAX_NOTE
        groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for metric, why in self.untested.items():
            groups.setdefault(tuple(sorted(why.items())), []).append(labels.get(metric, metric))
        exceptions = "; ".join(
            f"{', '.join(columns)}: {', '.join(f'{model} ({why})' for model, why in reasons)}"
            for reasons, columns in groups.items()
        )
        if not self.tested:
            return (
                f"{MAX_NOTE[:-1]}: the significance test needs every model's per-sample values, and some are "
                f"missing — {exceptions}."
            )
        if not exceptions:
            return SIGNIFICANCE_NOTE
        return (
            f"{SIGNIFICANCE_NOTE} Highest value only where some model's per-sample values are missing — {exceptions}."
        )


def max_bold(values: Mapping[str, Mapping[str, float | None]], metrics: Sequence[str]) -> dict[str, set[str]]:
    """column → the models at its maximum; nothing is bold in a table of one row."""
    if len(values) < 2:
        return {metric: set() for metric in metrics}
    bold = {}
    for metric in metrics:
        column = {model: v[metric] for model, v in values.items() if v.get(metric) is not None}
        top = max(column.values(), default=None)
        bold[metric] = {model for model, value in column.items() if value == top}
    return bold


def marks(
    sources: Mapping[str, Source], split: str, metrics: Sequence[str], seed: int, significance: bool = True
) -> Marks:
    """The bold cells of one split's table; ``seed`` (the run's) keys the randomisation test."""
    values = {model: src.result.metrics or {} for model, src in sources.items()}
    result = Marks(bold=max_bold(values, metrics), significance=significance)
    if not significance or len(sources) < 2:
        return result
    loaded: dict[str, dict[str, list[dict[str, float]]] | str] = {}
    for metric in metrics:
        column = [model for model, v in values.items() if v.get(metric) is not None]
        if len(column) < 2:
            continue
        per_model, why = {}, {}
        for model in column:
            if model not in loaded:
                loaded[model] = _load(sources[model], split, metrics)
            got = loaded[model]
            if isinstance(got, str):
                why[model] = got
            elif metric not in got:
                why[model] = "its predictions do not define this metric"
            else:
                per_model[model] = got[metric]
        table = None if why else paired_table(per_model)
        if table is None:
            result.untested[metric] = why or dict.fromkeys(column, "no sample in common")
            continue
        result.bold[metric] |= not_worse_than_best(table, seed, split, metric)
        result.tested.append(metric)
    return result


def _load(source: Source, split: str, metrics: Sequence[str]) -> dict[str, list[dict[str, float]]] | str:
    """The model's per-sample values of every metric, or why there are none."""
    if source.run_dir is None:
        return "no run directory given"
    try:
        return seed_columns(source.run_dir, source.entry, split, metrics)
    except (OSError, DataError, KeyError, TypeError, ValueError):
        return "predictions missing or unreadable"
