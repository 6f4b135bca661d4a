"""``--jobs N`` scoring: a worker that scores whole splits or pieces of one gives the rows the run
would have written itself, and a run scored beside workers gives the results of one process."""

import json

import numpy as np
import pytest
from test_train_seeds import rows, run

from benchmark.candidates import build_manifest
from benchmark.datasets import cache_root, load_dataset
from benchmark.parallel import WorkerPool
from benchmark.planning import obtain, plan_selectors
from benchmark.run_config import RunConfig
from benchmark.selector import TrainConfig
from benchmark.sharding import merge_shards, shard_files, shard_of, shard_path
from benchmark.slices import slice_labeller
from benchmark.workers import Shard, score_samples

MODELS = "clip,mod-gpt,blip2,seeded,random"


def _assert_same_rows(path, expected_path):
    got, expected = rows(path), rows(expected_path)
    assert [r["sample_id"] for r in got] == [r["sample_id"] for r in expected]  # every sample once, in order
    for mine, theirs in zip(got, expected):
        assert mine["candidates"] == theirs["candidates"] and mine["gold"] == theirs["gold"]
        np.testing.assert_allclose(
            mine["scores"], theirs["scores"], rtol=1e-4, atol=1e-5
        )  # float rounding: other batches, threads
        assert (mine.get("emotion_logits") is None) == (theirs.get("emotion_logits") is None)


def test_a_run_scored_beside_workers_writes_what_one_process_writes(mini_mod_dir, tmp_path):
    env = {"STICKERBENCH_CACHE": str(tmp_path / "cache")}
    common = ("--preset", "tiny", "--max-steps", "2", "--splits", "validation,test_easy")
    trained = run(mini_mod_dir, tmp_path / "train", *common, models=MODELS, env=env)
    assert trained.returncode == 0, trained.stderr
    outs = {}
    for jobs in ("1", "3"):  # the checkpoints are there: only scoring is left, in 1 or 3 processes
        outs[jobs] = tmp_path / f"jobs{jobs}"
        proc = run(mini_mod_dir, outs[jobs], *common, "--jobs", jobs, models=MODELS, env=env)
        assert proc.returncode == 0, proc.stderr
    one, three = (json.loads((outs[j] / "results.json").read_text()) for j in ("1", "3"))
    assert list(three["models"]) == MODELS.split(",")  # the run's order, whoever finished first
    for model in MODELS.split(","):
        for split in ("validation", "test_easy"):
            ours, theirs = three["models"][model]["splits"][split], one["models"][model]["splits"][split]
            assert ours["status"] == "complete" and ours["n"] == theirs["n"]
            assert ours["identity"] == theirs["identity"]
            _assert_same_rows(outs["3"] / ours["predictions"], outs["1"] / theirs["predictions"])
            for metric, value in theirs["metrics"].items():
                assert ours["metrics"][metric] == pytest.approx(value, abs=1e-9), (model, split, metric)
        assert three["models"][model]["meta"] == one["models"][model]["meta"]
    assert not list((outs["3"] / "predictions").rglob("*.shard*"))  # merged, nothing left behind


@pytest.fixture
def trained_clip(mini_mod_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STICKERBENCH_CACHE", str(tmp_path / "cache"))  # the workers inherit it
    cfg = RunConfig(
        models=["clip"],
        dataset="mod",
        data_dir=mini_mod_dir,
        candidates="sampled",
        preset="tiny",
        splits=["test_easy"],
        train=TrainConfig(max_steps=2),
        progress=False,
        jobs=2,
    )
    dataset = load_dataset("mod", mini_mod_dir)
    (plan,) = plan_selectors(cfg, dataset, "cpu")
    selector, _ = obtain(plan, dataset, cfg, "cpu")  # trained here, into the cache the workers read
    selector.prepare(dataset.stickers)
    samples = dataset.split("test_easy")
    manifest = build_manifest("test_easy", samples, list(dataset.stickers), "sampled", 10, 0, negatives="matched")
    labeller = slice_labeller(dataset, cache_root())  # its bias words cached before a worker asks
    sets = list(manifest.sets)
    here = tmp_path / "here.jsonl"  # the rows the run writes itself, for the workers' to match
    score_samples(selector, "clip", cfg, dataset, labeller, Shard.of("test_easy", samples, sets, here, "clip"))
    return cfg, dataset, plan, selector, samples, sets, labeller, here


def _when_idle(pool, plan, seconds=300):
    import time

    deadline = time.monotonic() + seconds
    while not pool.can_hand_off(plan):
        assert time.monotonic() < deadline, "the scoring worker never became idle"
        time.sleep(0.05)


def test_a_worker_scores_whole_splits_and_pieces_as_the_run_does(trained_clip, tmp_path):
    cfg, dataset, plan, selector, samples, sets, labeller, here = trained_clip
    with WorkerPool(cfg, [plan], "cpu", jobs=2, processes=2) as pool:
        _when_idle(pool, plan)
        whole = tmp_path / "whole.jsonl"
        (task,) = pool.hand_off(plan, [Shard.of("test_easy", samples, sets, whole, "clip")])
        prepared, seconds = pool.result(task, plan)
        assert prepared.meta == selector.meta.to_dict() and len(seconds) == 1 and seconds[0] > 0
        _assert_same_rows(whole, here)

        pieces, by_run = tmp_path / "pieces.jsonl", []

        def score_here(shard):
            by_run.append(shard.path.name)
            score_samples(selector, "clip", cfg, dataset, labeller, shard, summary=False)

        pool.score_in_shards(plan, "test_easy", samples, sets, pieces, 4, score_here)
    files = shard_files(pieces)
    assert len(files) == 4 and 0 < len(by_run) < 4  # two pieces per process; the worker holding clip took some
    merge_shards(pieces, 4, [s.sample_id for s in samples])
    _assert_same_rows(pieces, here)
    assert not shard_files(pieces)


def test_a_split_is_cut_into_pieces_only_when_a_worker_can_take_some_and_rows_keep_their_layout(trained_clip, tmp_path):
    cfg, dataset, plan, selector, samples, sets, labeller, _ = trained_clip
    path = tmp_path / "split.jsonl"
    with WorkerPool(cfg, [plan], "cpu", jobs=2, processes=2) as pool:
        _when_idle(pool, plan)  # idle, but holding no selector yet
        assert pool.pieces(plan, None, path, took=None) == 1  # loading clip for an unknown cost: not yet
        assert pool.pieces(plan, None, path, took=0.5) == 1  # a split that quick is not worth it
        assert pool.pieces(plan, None, path, took=60.0) == 4  # one that slow is
        assert pool.pieces(plan, {"first_stage": "x"}, path, took=60.0) == 1  # a reranker's never is
        path.write_text('{"sample_id": "a"}\n')
        assert pool.pieces(plan, None, path, took=60.0) == 1  # a started file goes on as it is
        path.unlink()
        shard_path(path, 2, 4).write_text("")
        assert pool.pieces(plan, None, path, took=None) == 4  # so do started pieces
    stale = shard_path(path, 0, 3)  # from a run cut into another number of pieces
    stale.write_text("")
    for rank in range(4):
        mine = [i for i, s in enumerate(samples) if shard_of(s.sample_id, 4) == rank]
        shard = Shard.of(
            "test_easy", [samples[i] for i in mine], [sets[i] for i in mine], shard_path(path, rank, 4), ""
        )
        score_samples(selector, "clip", cfg, dataset, labeller, shard, summary=False)
    merge_shards(path, 4, [s.sample_id for s in samples])
    assert [r["sample_id"] for r in rows(path)] == [s.sample_id for s in samples]
    assert not shard_files(path) and not stale.exists()


def test_splits_handed_to_a_worker_and_not_started_can_be_taken_back(trained_clip, tmp_path):
    cfg, dataset, plan, selector, samples, sets, labeller, here = trained_clip
    with WorkerPool(cfg, [plan], "cpu", jobs=2, processes=2) as pool:
        _when_idle(pool, plan)
        paths = [tmp_path / f"split{i}.jsonl" for i in range(4)]
        tasks = pool.hand_off(plan, [Shard.of("test_easy", samples, sets, p, "clip") for p in paths])
        assert not pool.can_hand_off(plan)  # busy with them
        assert not tasks[0].cancel() and all(t.cancel() for t in tasks[2:])  # one at a time: the rest wait
        for task, path in zip(tasks, paths):
            if task.cancelled():
                assert not path.exists()
            else:
                pool.result(task, plan)
                _assert_same_rows(path, here)
        _when_idle(pool, plan)
