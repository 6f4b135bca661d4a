"""``--train-seeds``: one checkpoint and one set of predictions per training seed, all on the same
candidate sets, and an aggregate a table can show. Driven through the command line."""

import json
from pathlib import Path

import numpy as np
import pytest
from test_run_directory import cli  # the same subprocess helper, with the test plugins on the path

from benchmark.metrics import row_values


def run(data_dir, out, *extra, models="seeded,random", env=None):
    return cli(
        "run",
        "--dataset",
        "mod",
        "--data-dir",
        str(data_dir),
        "--candidates",
        "sampled",
        "--output",
        str(out),
        "--no-progress",
        "--models",
        models,
        "--include-package",
        "seeded_selectors",
        *extra,
        env=env,
    )


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def three_seed_run(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    proc = run(mini_mod_dir, out, "--train-seeds", "0,1,2")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads((out / "results.json").read_text())


def test_every_seed_is_trained_and_scored_on_the_same_candidate_sets(three_seed_run):
    out, res = three_seed_run
    seeded = res["models"]["seeded"]
    assert sorted(seeded["seeds"]) == ["0", "1", "2"]
    checkpoints = {seeded["seeds"][s]["checkpoint"]["path"] for s in "012"}
    assert len(checkpoints) == 3  # one cached checkpoint per seed
    files = {s: out / seeded["seeds"][s]["splits"]["test_easy"]["predictions"] for s in "012"}
    assert len(set(files.values())) == 3
    per_seed = {s: rows(f) for s, f in files.items()}
    assert {tuple(tuple(r["candidates"]) for r in v) for v in per_seed.values()} == {
        tuple(tuple(r["candidates"]) for r in per_seed["0"])
    }
    assert len({json.dumps([r["scores"] for r in v]) for v in per_seed.values()}) == 3  # seeds differ
    for s in "012":
        assert seeded["seeds"][s]["splits"]["test_easy"]["identity"]["train_seed"] == int(s)
        assert seeded["seeds"][s]["train_seconds"] is not None
        weights = json.loads((Path(seeded["seeds"][s]["checkpoint"]["path"]) / "weights.json").read_text())
        assert weights["__ctx_seed__"] == int(s)  # the selector saw its training seed
    # a selector with nothing to train is scored once, in today's layout
    assert "seeds" not in res["models"]["random"]
    assert "num_seeds" not in res["models"]["random"]["splits"]["test_easy"]


def test_the_aggregate_is_the_mean_over_seeds_with_their_sd_and_an_interval(three_seed_run):
    out, res = three_seed_run
    seeded = res["models"]["seeded"]
    agg = seeded["splits"]["test_easy"]
    assert agg["status"] == "complete" and agg["num_seeds"] == 3
    for metric in ("recall@1", "mrr", "map@5"):
        values = [seeded["seeds"][s]["splits"]["test_easy"]["metrics"][metric] for s in "012"]
        assert agg["metrics"][metric] == pytest.approx(np.mean(values), abs=1e-12)
        assert agg["seed_std"][metric] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
        low, high = agg["ci95"][metric]
        assert low <= agg["metrics"][metric] <= high
        # recomputed from the three predictions files alone
        per_file = [
            np.mean(
                [row_values(r)[metric] for r in rows(out / seeded["seeds"][s]["splits"]["test_easy"]["predictions"])]
            )
            for s in "012"
        ]
        assert agg["metrics"][metric] == pytest.approx(np.mean(per_file), abs=1e-12)
    assert agg["n"] == seeded["seeds"]["0"]["splits"]["test_easy"]["n"]


def test_a_single_seed_keeps_the_usual_layout(mini_mod_dir, tmp_path):
    out = tmp_path / "one"
    assert run(mini_mod_dir, out, "--train-seeds", "4").returncode == 0
    res = json.loads((out / "results.json").read_text())
    seeded = res["models"]["seeded"]
    assert "seeds" not in seeded and "num_seeds" not in seeded["splits"]["test_easy"]
    assert seeded["splits"]["test_easy"]["identity"]["train_seed"] == 4
    assert seeded["splits"]["test_easy"]["predictions"] == "predictions/seeded/test_easy.jsonl"


def test_resume_keeps_seeds_and_another_seed_list_is_refused(mini_mod_dir, three_seed_run):
    out, before = three_seed_run
    again = run(mini_mod_dir, out, "--train-seeds", "0,1,2")
    assert again.returncode == 0, again.stderr
    after = json.loads((out / "results.json").read_text())
    assert after["models"]["seeded"]["splits"] == before["models"]["seeded"]["splits"]
    fewer = run(mini_mod_dir, out, "--train-seeds", "0,1")
    assert fewer.returncode != 0
    assert "training seeds 0, 1, 2 → seeds 0, 1" in fewer.stderr, fewer.stderr
    changed = run(mini_mod_dir, out, "--train-seeds", "0,1", "--rescore-changed")
    assert changed.returncode == 0, changed.stderr
    res = json.loads((out / "results.json").read_text())
    assert sorted(res["models"]["seeded"]["seeds"]) == ["0", "1"]
    assert res["models"]["seeded"]["splits"]["test_easy"]["num_seeds"] == 2
    assert not (out / "predictions" / "seeded" / "seed-2").exists()


def test_compare_and_rescore_read_every_seed(three_seed_run, tmp_path):
    out, res = three_seed_run
    proc = cli("compare", str(out), "--metric", "mrr", "--json", str(tmp_path / "cmp.json"))
    assert proc.returncode == 0, proc.stderr
    (row,) = [r for r in json.loads((tmp_path / "cmp.json").read_text()) if r["split"] == "test_easy"]
    a, b = row["a"], row["b"]
    expected = (
        res["models"][a]["splits"]["test_easy"]["metrics"]["mrr"]
        - res["models"][b]["splits"]["test_easy"]["metrics"]["mrr"]
    )
    assert row["diff"] == pytest.approx(expected, abs=1e-12)  # seeds averaged per sample
    proc = cli("rescore", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "already what the predictions give" in proc.stdout
    assert json.loads((out / "results.json").read_text())["models"] == res["models"]


def test_train_seeds_must_be_distinct_non_negative_integers(mini_mod_dir, tmp_path):
    for bad in ("0,0", "1,x", "-1"):
        proc = run(mini_mod_dir, tmp_path / "bad", "--train-seeds", bad)
        assert proc.returncode == 2 and "--train-seeds" in proc.stderr, (bad, proc.stderr)


def test_a_run_killed_between_seeds_resumes_without_an_aggregate_of_the_seeds_so_far(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    crashed = run(mini_mod_dir, out, "--train-seeds", "0,1,2", env={"SEEDED_FAIL_SEED": "1"})
    assert crashed.returncode != 0 and "training seed 1 crashed" in crashed.stderr
    res = json.loads((out / "results.json").read_text())
    assert sorted(res["models"]["seeded"]["seeds"]) == ["0"]
    assert "test_easy" not in res["models"]["seeded"]["splits"]  # no aggregate over seed 0 alone
    seed0 = out / res["models"]["seeded"]["seeds"]["0"]["splits"]["test_easy"]["predictions"]
    before = seed0.read_bytes(), seed0.stat().st_mtime_ns
    resumed = run(mini_mod_dir, out, "--train-seeds", "0,1,2")
    assert resumed.returncode == 0, resumed.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["models"]["seeded"]["splits"]["test_easy"]["num_seeds"] == 3
    assert (seed0.read_bytes(), seed0.stat().st_mtime_ns) == before  # seed 0 was kept, not re-scored


def test_a_config_tuple_is_the_same_identity_as_the_list_it_is_read_back_as():
    """A resume compares the recorded identity (JSON) with the current one (Python): MMBERT's
    betas ``(0.9, 0.98)`` come back as a list, which must not count as a change."""
    from benchmark.results import Identity

    def identity(betas):
        return Identity("mmbert", "tiny", {"betas": betas}, {}, "code", None, 0, {}, "fp")

    assert identity((0.9, 0.98)).differences(identity([0.9, 0.98])) == []
    assert identity((0.9, 0.98)).differences(identity([0.9, 0.99])) != []
