"""``compare`` end to end: identical selectors differ by exactly zero, a better one clearly wins."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from benchmark.api import evaluate
from benchmark.compare import compare
from benchmark.datasets.mod import load_mod
from stickerbench.adapters.random_selector import RandomSelector

ROOT = Path(__file__).resolve().parents[1]


def _twin(name):
    selector = RandomSelector(seed=0)
    selector.meta = replace(selector.meta, name=name)
    return selector


def test_compare_identical_and_better_selectors(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    dataset = load_mod(mini_mod_dir)
    evaluate(["popularity", _twin("random-a"), _twin("random-b")], dataset=dataset, output=out, progress=False,
             num_candidates=6)  # fmt: skip
    rows = compare([out], splits=["validation"], metrics=["recall@1", "mrr"], resamples=200, permutations=2000)
    by_pair = {(r.metric, r.a, r.b): r for r in rows}
    same = by_pair[("mrr", "random-a", "random-b")]
    assert same.diff == 0.0 and same.p == 1.0 and same.p_holm == 1.0 and same.ci95 == (0.0, 0.0)
    assert len(rows) == 6 and all(r.p_holm >= r.p for r in rows)
    again = compare([out], splits=["validation"], metrics=["recall@1", "mrr"], resamples=200, permutations=2000)
    assert again == rows  # deterministic for a given seed
    json_file = tmp_path / "cmp.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmark", "compare", str(out), "--baseline", "random-a", "--metric", "mrr",
         "--json", str(json_file), "--bootstrap", "200", "--permutations", "1000"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Holm" in proc.stdout and "| random-b" in proc.stdout
    loaded = json.loads(json_file.read_text())
    assert {tuple(sorted(r)) for r in loaded} == {("a", "b", "ci95", "diff", "metric", "p", "p_holm", "split")}
    assert {r["b"] for r in loaded} == {"random-a"}
