"""``--jobs N``: missing checkpoints trained in parallel processes give the results of one process."""

import json

import numpy as np
from test_run_directory import error_line
from test_train_seeds import rows, run


def _scores(out, model):
    res = json.loads((out / "results.json").read_text())
    entry = res["models"][model]
    holders = [entry] if not entry.get("seeds") else [entry["seeds"][s] for s in sorted(entry["seeds"])]
    return [np.array([r["scores"] for r in rows(out / h["splits"]["test_easy"]["predictions"])]) for h in holders], [
        h["train_seconds"] for h in holders
    ]


def test_checkpoints_trained_by_workers_score_as_those_trained_in_the_run(mini_mod_dir, tmp_path):
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        env = {"STICKERBENCH_CACHE": str(tmp_path / f"cache{jobs}")}  # each run trains its own checkpoints
        proc = run(
            mini_mod_dir,
            out,
            "--preset",
            "tiny",
            "--max-steps",
            "2",
            "--splits",
            "test_easy",
            "--jobs",
            jobs,
            models="clip,mod-gpt,seeded",
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        assert ("2 at a time" in proc.stderr) == (jobs == "2"), proc.stderr
        outs[jobs] = out
    for model in ("clip", "mod-gpt", "seeded"):
        (one,), (seconds_one,) = _scores(outs["1"], model)
        (two,), (seconds_two,) = _scores(outs["2"], model)
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)
        assert seconds_one > 0 and seconds_two > 0  # the worker's training time is recorded


def test_every_training_seed_can_be_a_job_and_a_failing_one_names_itself(mini_mod_dir, tmp_path):
    out = tmp_path / "seeds"
    proc = run(mini_mod_dir, out, "--train-seeds", "0,1,2", "--jobs", "auto", "--splits", "test_easy")
    assert proc.returncode == 0, proc.stderr
    per_seed, seconds = _scores(out, "seeded")
    assert len(per_seed) == 3 and all(s is not None for s in seconds)
    assert len({a.tobytes() for a in per_seed}) == 3  # three checkpoints, one per seed
    failing = run(
        mini_mod_dir,
        tmp_path / "failing",
        "--train-seeds",
        "3,4",
        "--jobs",
        "2",
        env={"SEEDED_FAIL_SEED": "4"},
    )
    line = error_line(failing)
    assert "seeded[seed 4]" in line and "fit" in line and "training seed 4 crashed" in line


def test_jobs_must_be_a_positive_number_or_auto(mini_mod_dir, tmp_path):
    proc = run(mini_mod_dir, tmp_path / "x", "--jobs", "0")
    assert proc.returncode == 2 and "argument --jobs: must be at least 1, got 0" in proc.stderr
