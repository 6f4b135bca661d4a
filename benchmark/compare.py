"""``python -m benchmark compare RUN_DIR...``: is selector A better than selector B, beyond noise?

Per-sample metric values are read back from the predictions files (so a comparison needs no
selector), paired across models on the same candidate sets, and compared with
:mod:`benchmark.stats`: mean difference, 95 % bootstrap interval, sign-flip p-value, and
Holm-adjusted p-values over the family of comparisons printed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.io import read_jsonl
from benchmark.metrics import (
    POOL_RANKING_METRICS,
    RANKING_METRICS,
    RankRange,
    emotion_hit,
    rank_metrics,
    row_values,
    sample_metrics,
    task3_hits,
)
from benchmark.results import RunResults, load_results
from benchmark.stats import (
    ALPHA,
    DEFAULT_BOOTSTRAP,
    DEFAULT_PERMUTATIONS,
    comparison_rng,
    holm,
    holm_undecided,
    paired_comparison,
    paired_p,
)

COMPARABLE_METRICS = (*RANKING_METRICS, "recall@10", "recall@20", "emotion_acc")  # the last two: full pool
# not_worse_than_best: a first draw of sign flips, and a larger one where its error could flip a decision
MARK_PERMUTATIONS, MARK_REFINED = 2000, 20000


@dataclass(frozen=True)
class Comparison:
    split: str
    metric: str
    a: str
    b: str
    diff: float
    ci95: tuple[float, float]
    p: float
    p_holm: float

    def to_json(self) -> dict:
        row = asdict(self)
        row["ci95"] = list(self.ci95)
        return row


def per_sample_values(path: Path, metric: str) -> dict[str, float] | None:
    """sample id → the metric's per-sample value, or ``None`` when the file cannot give it."""
    values = {}
    for _, row in read_jsonl(path):
        value = row_values(row).get(metric)
        if value is None:
            return None
        values[row["sample_id"]] = value
    return values


@dataclass
class _Table:
    """Every model's per-sample values of one (split, metric): ``[seeds, samples]`` arrays."""

    sample_ids: list[str]
    values: dict[str, np.ndarray]


def collect(runs: Sequence[tuple[Path, RunResults]], split: str, metric: str) -> _Table | None:
    fingerprints = {r.candidates[split].fingerprint for _, r in runs if split in r.candidates}
    if len(fingerprints) > 1:
        raise BenchmarkError(
            f"split {split!r} was scored on different candidate sets in these runs; compare runs of one manifest"
        )
    by_model: dict[str, list[dict[str, float]]] = {}
    for run_dir, results in runs:
        for model, entry in results.models.items():
            for seed_paths in _prediction_paths(run_dir, entry, split):
                values = per_sample_values(seed_paths, metric)
                if values is not None:
                    by_model.setdefault(model, []).append(values)
    return paired_table(by_model)


def paired_table(by_model: dict[str, list[dict[str, float]]]) -> _Table | None:
    """``model → one {sample id: value} per seed`` as arrays over the samples all of them define;
    ``None`` with fewer than two models or no sample in common."""
    if len(by_model) < 2:
        return None
    ids = sorted(set.intersection(*(set(v) for seeds in by_model.values() for v in seeds)))
    if not ids:
        return None
    return _Table(ids, {m: np.array([[v[i] for i in ids] for v in seeds]) for m, seeds in by_model.items()})


def seed_columns(run_dir: Path, entry, split: str, metrics: Sequence[str]) -> dict[str, list[dict[str, float]]]:
    """metric → one ``{sample id: value}`` per training seed of a model's finished split (see
    :func:`file_values`); a metric is left out when some seed's file does not define it. Raises
    ``OSError`` or ``DataError`` when a file is missing or damaged."""
    columns: dict[str, list[dict[str, float]]] = {m: [] for m in metrics}
    for path in _prediction_paths(run_dir, entry, split):
        values = file_values(path)
        for metric in metrics:
            columns[metric].append(values.get(metric, {}))
    return {m: seeds for m, seeds in columns.items() if seeds and all(seeds)}


# (the row's vector, the index whose rank counts, the per-sample function of benchmark.metrics)
_RANKED = (
    (
        "scores",
        lambda r: None if r.get("gold") is None or "gold_rank" in r else r["candidates"].index(r["gold"]),
        sample_metrics,
    ),
    ("emotion_logits", lambda r: r.get("emotion"), lambda v, i: {"emotion_acc": emotion_hit(v, i)}),
    ("task3_logits", lambda r: r.get("emotion"), task3_hits),
)


def file_values(path: Path) -> dict[str, dict[str, float]]:
    """metric → ``{sample id: value}`` over the rows of a predictions file that define it: what
    :func:`benchmark.metrics.row_values` gives row by row (no ranking metric for a blind row, no
    emotion metric without a label), with the gold's rank ranges computed a file at a time.

    Remembered per file version (inode, size, change times), since one leaderboard asks for
    the same files several times (the Markdown table, the report's tables, forest and slices);
    the caller must not change what it gets."""
    stat = Path(path).stat()
    return _file_values(str(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@lru_cache(maxsize=128)
def _file_values(path: str, *version: int) -> dict[str, dict[str, float]]:
    rows = [row for _, row in read_jsonl(Path(path))]
    columns: dict[str, dict[str, float]] = {}
    for key, target, per_sample in _RANKED:
        picked = [(r["sample_id"], r[key], t) for r in rows if r.get(key) is not None and (t := target(r)) is not None]
        if not picked:
            continue
        ids, vectors, targets = zip(*picked)
        width = max(map(len, vectors))
        if any(len(v) != width for v in vectors):  # padded with -inf: never above the gold, never tied
            vectors = [list(v) + [-np.inf] * (width - len(v)) for v in vectors]
        matrix = np.asarray(vectors, dtype=np.float64)
        own = matrix[np.arange(len(ids)), targets][:, None]
        ranges = zip((1 + (matrix > own).sum(axis=1)).tolist(), (matrix >= own).sum(axis=1).tolist())
        values = [_at_rank(per_sample, low, high) for low, high in ranges]
        for metric in values[0]:
            columns[metric] = dict(zip(ids, (v[metric] for v in values)))
    pool = [(r["sample_id"], tuple(r["gold_rank"])) for r in rows if r.get("gold_rank") is not None]
    for sample_id, (low, high) in pool:  # full-pool rows keep the gold's rank range itself
        for metric, value in _pool_at_rank(low, high).items():
            columns.setdefault(metric, {})[sample_id] = value
    return columns


@lru_cache(maxsize=4096)
def _pool_at_rank(low: int, high: int) -> dict[str, float]:
    return rank_metrics(RankRange(low, high), POOL_RANKING_METRICS)


@lru_cache(maxsize=4096)
def _at_rank(per_sample, low: int, high: int) -> dict[str, float]:
    """``per_sample``'s values when the gold's rank range is ``[low, high]``, computed by
    ``benchmark.metrics`` itself on the shortest vector with that range: the gold first, ``low − 1``
    values above it and ``high − low`` tied with it."""
    return per_sample([0.0] + [1.0] * (low - 1) + [0.0] * (high - low), 0)


def _prediction_paths(run_dir: Path, entry, split: str) -> list[Path]:
    """One predictions file per training seed of a finished split (one for a single-seed run)."""
    seeds = getattr(entry, "seeds", None) or {}
    per_seed = [
        run_dir / s.splits[split].predictions for s in seeds.values() if split in s.splits and s.splits[split].complete
    ]
    if per_seed:
        return per_seed
    result = entry.splits.get(split)
    return [run_dir / result.predictions] if result is not None and result.complete else []


def compare(
    run_dirs: Sequence[Path],
    splits: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    baseline: str | None = None,
    seed: int = 0,
    resamples: int = DEFAULT_BOOTSTRAP,
    permutations: int = DEFAULT_PERMUTATIONS,
) -> list[Comparison]:
    """Every pair of models (or every model against ``baseline``) on every split and metric."""
    runs = [(Path(d), load_results(d)) for d in run_dirs]
    wanted_splits = list(splits) if splits else sorted({s for _, r in runs for s in r.candidates})
    wanted_metrics = list(metrics) if metrics else list(COMPARABLE_METRICS)
    unknown = [m for m in wanted_metrics if m not in COMPARABLE_METRICS]
    if unknown:
        raise BenchmarkError(f"--metric {unknown[0]!r}: choose one of {', '.join(COMPARABLE_METRICS)}")
    raw: list[tuple[str, str, str, str, object]] = []
    for split, metric in itertools.product(wanted_splits, wanted_metrics):
        table = collect(runs, split, metric)
        if table is None:
            continue
        models = sorted(table.values)
        if baseline is not None and baseline not in table.values:
            raise BenchmarkError(
                f"--baseline {baseline!r} has no finished {split!r} predictions here; models: {', '.join(models)}"
            )
        pairs = (
            [(m, baseline) for m in models if m != baseline] if baseline else list(itertools.combinations(models, 2))
        )
        for a, b in pairs:
            rng = comparison_rng(seed, split, metric, a, b)
            raw.append(
                (split, metric, a, b, paired_comparison(table.values[a], table.values[b], rng, resamples, permutations))
            )
    adjusted = holm([r[4].p for r in raw])
    return [Comparison(s, m, a, b, r.diff, r.ci95, r.p, q) for (s, m, a, b, r), q in zip(raw, adjusted)]


def not_worse_than_best(
    table: _Table, seed: int, *labels: str, permutations: int = MARK_PERMUTATIONS, refined: int = MARK_REFINED
) -> set[str]:
    """The best model by mean, and every model whose Holm-adjusted p against it is ≥ 0.05.

    Only p-values are drawn (sign flips, no bootstrap interval): ``permutations`` of them for
    every comparison, then ``refined`` for those whose decision the Monte-Carlo error of the first
    estimate could still flip (:func:`benchmark.stats.holm_undecided`), so that a mark does not
    hinge on the luck of the draw near 0.05. ``labels`` (e.g. split and metric) key the RNGs.
    """
    means = {m: float(v.mean()) for m, v in table.values.items()}
    best = max(means, key=means.get)
    others = [m for m in means if m != best]
    rngs = [comparison_rng(seed, *labels, best, m) for m in others]
    ps = [paired_p(table.values[best], table.values[m], rng, permutations) for m, rng in zip(others, rngs)]
    if refined > permutations:
        for i in holm_undecided(ps, permutations):
            ps[i] = paired_p(table.values[best], table.values[others[i]], rngs[i], refined)
    return {best, *(m for m, q in zip(others, holm(ps)) if q >= ALPHA)}


def format_comparisons(rows: Sequence[Comparison]) -> str:
    """A Markdown table of the comparisons, in percentage points."""
    from tabulate import tabulate

    body = [
        [
            r.split,
            r.metric,
            r.a,
            r.b,
            f"{100 * r.diff:+.2f}",
            f"[{100 * r.ci95[0]:+.2f}, {100 * r.ci95[1]:+.2f}]",
            f"{r.p:.4f}",
            f"{r.p_holm:.4f}" + (" *" if r.p_holm < ALPHA else ""),
        ]
        for r in rows
    ]
    headers = ["split", "metric", "A", "B", "A − B", "95% CI", "p", "p (Holm)"]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
