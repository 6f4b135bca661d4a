"""Evaluation sharded over two ``torchrun`` ranks (gloo, CPU) gives the single-process results:
every sample scored exactly once, the same rows, the same metrics."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "plugins"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(launcher, data_dir, out, *extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(PLUGINS)]), "OMP_NUM_THREADS": "1"}
    args = [
        "run", "--dataset", "mod", "--data-dir", str(data_dir), "--candidates", "sampled", "--output", str(out),
        "--no-progress", "--models", "seeded,random,popularity", "--include-package", "seeded_selectors", *extra,
    ]  # fmt: skip
    return subprocess.run(
        [*launcher, "-m", "benchmark", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )


def _rows(path):
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: r["sample_id"])


@pytest.mark.parametrize("extra", [(), ("--candidates", "all")], ids=["sampled", "full-pool"])
def test_two_ranks_give_the_single_process_results(mini_mod_dir, tmp_path, extra):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port"]
    sharded = _run([*torchrun, str(_free_port())], mini_mod_dir, tmp_path / "sharded", *extra)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    single = _run([sys.executable], mini_mod_dir, tmp_path / "single", *extra)
    assert single.returncode == 0, single.stderr[-3000:]
    a = json.loads((tmp_path / "sharded" / "results.json").read_text())
    b = json.loads((tmp_path / "single" / "results.json").read_text())
    for model in ("seeded", "random", "popularity"):
        for split, result in b["models"][model]["splits"].items():
            other = a["models"][model]["splits"][split]
            assert other["n"] == result["n"]
            for metric, value in result["metrics"].items():
                assert other["metrics"][metric] == pytest.approx(value, abs=1e-12), (model, split, metric)
            assert other["slices"] == result["slices"]
            rows_a = _rows(tmp_path / "sharded" / other["predictions"])
            rows_b = _rows(tmp_path / "single" / result["predictions"])
            assert [r["sample_id"] for r in rows_a] == [r["sample_id"] for r in rows_b]  # none missing or doubled
            assert rows_a == rows_b
    assert not list((tmp_path / "sharded").rglob("*.shard*"))  # merged, shards removed
