"""Bold in the leaderboard means "best, or not significantly worse than the best".

A run directory is written by hand, predictions files included: ``best`` is right on 150 of 200
samples, ``twin`` is the very same selector, ``close`` misses two more samples than ``best`` (a
difference no test can tell from noise), ``worse`` is right on 60, and ``seeded`` was trained
under three seeds (one predictions file each).
"""

import itertools
import json
import shutil

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.compare import file_values
from benchmark.metrics import ALL_METRICS, row_values
from benchmark.results import CandidateInfo, Identity, ModelResult, RunResults, SeedResult, SplitResult
from benchmark.stats import comparison_rng, holm_undecided, sign_flip_p
from stickerbench.leaderboard.render import render_runs
from stickerbench.leaderboard.report import render_report

SAMPLES = 200
FINGERPRINT = "f" * 64


def _row(i: int, hit: bool) -> dict:
    scores = [1.0, 0.0, 0.0, 0.0] if hit else [0.0, 1.0, 0.0, 0.0]
    candidates = ["s0", "s1", "s2", "s3"]
    return {"sample_id": f"q{i:03d}", "index": i, "candidates": candidates, "gold": "s0", "scores": scores,
            "predicted": candidates[int(np.argmax(scores))], "emotion": None, "emotion_logits": None,
            "emotion_predicted": None, "sent_sticker": None, "task3_logits": None}  # fmt: skip


def _split(run_dir, name: str, hits: list[bool], **extra) -> SplitResult:
    path = f"predictions/{name}/test.jsonl"
    rows = [_row(i, hit) for i, hit in enumerate(hits)]
    (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    values = [row_values(r) for r in rows]
    metrics = {m: (float(np.mean([v[m] for v in values])) if m in values[0] else None) for m in ALL_METRICS}
    stderr = {
        m: (float(np.std([v[m] for v in values], ddof=1) / np.sqrt(len(values))) if m in values[0] else None)
        for m in ALL_METRICS
    }
    identity = Identity(name, "tiny", {}, {}, None, None, None, None, FINGERPRINT)
    return SplitResult(identity, path, "complete", metrics, stderr, len(rows), 0.1, **extra)


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    best = [i % 4 != 0 for i in range(SAMPLES)]
    close = [hit and i not in (1, 2) for i, hit in enumerate(best)]
    models = {
        name: ModelResult(splits={"test": _split(out, name, hits)})
        for name, hits in [("best", best), ("twin", best), ("close", close), ("worse", [i % 10 < 3 for i in range(SAMPLES)])]
    }  # fmt: skip
    seeds = {s: SeedResult(splits={"test": _split(out, f"seeded/seed{s}", [i % 10 < 2 + s for i in range(SAMPLES)])})
             for s in range(3)}  # fmt: skip
    per_seed = [seeds[s].splits["test"].metrics for s in range(3)]
    mean = {m: (None if per_seed[0][m] is None else float(np.mean([p[m] for p in per_seed]))) for m in ALL_METRICS}
    sd = {m: (None if per_seed[0][m] is None else float(np.std([p[m] for p in per_seed], ddof=1))) for m in ALL_METRICS}
    aggregate = _split(out, "seeded", [i % 10 < 3 for i in range(SAMPLES)], num_seeds=3, seed_std=sd)
    aggregate.metrics = mean
    models["seeded"] = ModelResult(splits={"test": aggregate}, seeds=seeds)
    candidates = {"test": CandidateInfo(FINGERPRINT, 4, 0, "sampled", "candidates/test.jsonl")}
    RunResults({"name": "synthetic", "fingerprint": "d" * 16}, 0, candidates, models).save(out)
    return out


def _bold_models(board: str, column: int) -> set[str]:
    """The models whose cell in the ``column``-th metric column is bold."""
    rows = [line.split("|")[1:-1] for line in board.splitlines() if line.startswith("| ") and "Model" not in line]
    return {cells[0].strip() for cells in rows if cells[column].strip().startswith("**")}


def _board(run_dir, capsys, *flags) -> str:
    assert main(["leaderboard", str(run_dir), *flags]) == 0
    return capsys.readouterr().out


def test_bold_marks_the_best_and_every_value_not_significantly_worse(run_dir, capsys):
    board = _board(run_dir, capsys)
    assert _bold_models(board, 1) == {"best", "twin", "close"}  # R4@1: worse and seeded are clearly behind
    assert _bold_models(board, 4) == {"best", "twin", "close"}  # MRR
    assert "not significantly worse than it" in board and "Holm-adjusted over the column, p ≥ 0.05" in board
    assert "Highest value only" not in board
    assert _board(run_dir, capsys) == board  # the test is seeded by the run: the same marks every time


def test_no_significance_bolds_the_maximum_only(run_dir, capsys):
    board = _board(run_dir, capsys, "--no-significance")
    assert _bold_models(board, 1) == {"best", "twin"}  # tied at the maximum
    assert "Bold: the highest value of each column." in board and "significantly" not in board


def test_stderr_shows_the_seed_sd_of_a_selector_trained_under_several_seeds(run_dir, capsys):
    board = _board(run_dir, capsys, "--stderr")
    results = RunResults.load(run_dir)
    seeded = results.models["seeded"].splits["test"]
    single = results.models["worse"].splits["test"]
    line = next(row for row in board.splitlines() if row.startswith("| seeded"))
    assert f"{100 * seeded.metrics['recall@1']:.2f} ± {100 * seeded.seed_std['recall@1']:.2f}" in line
    line = next(row for row in board.splitlines() if row.startswith("| worse"))
    assert f"{100 * single.metrics['recall@1']:.2f} ± {100 * single.stderr['recall@1']:.2f}" in line
    assert "standard deviation of the metric over training seeds for seeded (3 seeds)" in board
    assert "standard error of the mean over the split's samples for the others" in board


def test_missing_predictions_fall_back_to_the_maximum_and_say_why(run_dir, capsys):
    shutil.rmtree(run_dir / "predictions" / "close")
    board = _board(run_dir, capsys)
    assert _bold_models(board, 1) == {"best", "twin"}
    assert "R4@1, R4@3, R4@5, MRR, MAP@5: close (predictions missing or unreadable)" in board
    shutil.rmtree(run_dir / "predictions")
    board = _board(run_dir, capsys)
    assert _bold_models(board, 1) == {"best", "twin"}
    assert "Bold: the highest value of each column: the significance test needs every model's per-sample" in board
    bare = render_runs([RunResults.load(run_dir)])  # no run directory: no predictions to read
    assert _bold_models(bare, 1) == {"best", "twin"} and "no run directory given" in bare


def test_a_column_without_per_sample_values_falls_back_alone(run_dir, capsys):
    results = RunResults.load(run_dir)
    for model, value in (("best", 0.4), ("worse", 0.6)):  # numbers the predictions rows cannot give
        results.models[model].splits["test"].metrics["emotion_acc"] = value
    results.save(run_dir)
    board = _board(run_dir, capsys)
    assert _bold_models(board, 1) == {"best", "twin", "close"} and _bold_models(board, 6) == {"worse"}
    assert "Holm-adjusted over the column, p ≥ 0.05). Highest value only where some model's per-sample values" in board
    assert "— Acc (own pick): best (its predictions do not define this metric), worse (its predictions" in board


def test_the_html_report_shows_the_same_marks(run_dir):
    html = render_report([run_dir], cases_per_split=0)
    table = html.split("<table>")[1].split("</table>")[0]
    first = {m for m in ("best", "twin", "close", "worse", "seeded") if f"<tr><td>{m}</td><td><strong>" in table}
    assert first == {"best", "twin", "close"}  # R@1, the report's first column
    assert "not significantly worse than it" in html
    plain = render_report([run_dir], cases_per_split=0, significance=False)
    assert "<td>close</td><td><strong>" not in plain and "<td>best</td><td><strong>" in plain


def test_per_sample_values_read_a_file_at_a_time_are_those_of_row_values(tmp_path):
    rng = np.random.default_rng(5)
    rows = []
    for i in range(300):
        width = int(rng.integers(2, 12))
        candidates = [f"s{c}" for c in range(width)]
        labelled = i % 5 != 0
        rows.append({
            "sample_id": f"q{i}", "candidates": candidates,
            "gold": None if i % 7 == 0 else candidates[int(rng.integers(width))],
            "scores": rng.integers(0, 3, width).tolist(),  # many ties
            "emotion": int(rng.integers(4)) if labelled else None,
            "emotion_logits": rng.integers(0, 2, 4).tolist() if i % 3 else None,
            "task3_logits": rng.normal(0, 1, 4).tolist() if i % 2 else None,
        })  # fmt: skip
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected: dict[str, dict[str, float]] = {}
    for row in rows:
        for metric, value in row_values(row).items():
            expected.setdefault(metric, {})[row["sample_id"]] = value
    assert file_values(path) == expected and set(expected) == set(ALL_METRICS)


def test_sign_flips_match_the_exact_distribution_and_ignore_zeros():
    d = np.array([0.5, 1.0, -0.25, 1.0, 0.75, 2.0, -1.0, 0.5, 1.5, 0.25, 1.0])
    sums = np.array([abs(np.dot(signs, d)) for signs in itertools.product((-1.0, 1.0), repeat=d.size)])
    exact = float(np.mean(sums >= abs(d.sum()) - 1e-12))
    estimate = sign_flip_p(np.concatenate([d, np.zeros(50)]), comparison_rng(0, "exact"), permutations=20000)
    assert abs(estimate - exact) < 4 * np.sqrt(exact * (1 - exact) / 20000) + 1e-3
    assert sign_flip_p(np.zeros(10), comparison_rng(0, "zero"), 100) == 1.0


def test_only_p_values_near_a_holm_decision_are_drawn_again():
    assert holm_undecided([0.0005, 0.6, 0.9], permutations=2000) == []
    # 0.024 × 2 is just under 0.05: its Monte-Carlo error could flip it, and it ranks first
    assert holm_undecided([0.024, 0.6], permutations=2000) == [0]
    assert 1 in holm_undecided([0.0005, 0.02, 0.5], permutations=2000)
