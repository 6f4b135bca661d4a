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
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(PLUGINS)]), "OMP_NUM_THREADS": "1"}


def _run(launcher, data_dir, out, *extra):
    args = [
        "run", "--dataset", "mod", "--data-dir", str(data_dir), "--candidates", "sampled", "--output", str(out),
        "--no-progress", "--models", "seeded,random,popularity", "--include-package", "seeded_selectors", *extra,
    ]  # fmt: skip
    return subprocess.run(
        [*launcher, "-m", "benchmark", *args], capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=600
    )


def _rows(path):
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: r["sample_id"])


@pytest.mark.parametrize("extra", [(), ("--candidates", "all")], ids=["sampled", "full-pool"])
def test_two_ranks_give_the_single_process_results(mini_mod_dir, tmp_path, extra):
    sharded = _run([*TORCHRUN, str(_free_port())], mini_mod_dir, tmp_path / "sharded", *extra)
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


_RANKS_LOOK_AT_DIFFERENT_TIMES = """
import json, sys, time
from pathlib import Path
import seeded_selectors  # noqa: F401  (registers "seeded")
from benchmark.datasets.mod import load_mod
from benchmark.distributed import init_distributed
from benchmark.planning import plan_selectors, train_plan
from benchmark.run_config import RunConfig
from benchmark.sharding import leave

info, device = init_distributed("cpu")
dataset = load_mod(sys.argv[1])
cfg = RunConfig(models=["seeded"], dataset="mod", data_dir=sys.argv[1])
(plan,) = plan_selectors(cfg, dataset, device)
if info.rank == 1:
    time.sleep(3)  # rank 0 has trained and written the checkpoint by the time this rank gets here
seconds = train_plan(plan, dataset, cfg, device)
# a file per rank: both ranks' prints share torchrun's stdout and can interleave on one line
Path(sys.argv[2], f"rank{info.rank}.json").write_text(json.dumps({"rank": info.rank, "trained": seconds is not None}))
leave(info)
"""


def test_a_slow_rank_trains_with_the_others_when_rank_0_has_written_the_checkpoint(mini_mod_dir, tmp_path):
    """Every rank follows rank 0's answer to "is the checkpoint there?", asked once before training:
    a rank that looked for itself after rank 0 had written it skipped the training and its
    barrier, and the run hung (seen on a cold cache with a selector that trains in milliseconds)."""
    script = tmp_path / "train_plan_on_two_ranks.py"
    script.write_text(_RANKS_LOOK_AT_DIFFERENT_TIMES)
    done = subprocess.run(
        [*TORCHRUN, str(_free_port()), str(script), str(mini_mod_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    said = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert said == [{"rank": 0, "trained": True}, {"rank": 1, "trained": True}]
