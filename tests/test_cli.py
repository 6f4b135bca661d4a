"""The command line as a user drives it: runs, plugins, resumption and one-line errors."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = textwrap.dedent(
    '''
    import numpy as np
    from benchmark import ScoreBatch, SelectorMeta, register_selector

    class LengthSelector:
        """Prefers stickers whose id is close to the length of the last utterance."""
        def __init__(self, bad=False):
            self.meta = SelectorMeta(name="bad-plugin" if bad else "length-plugin")
            self.bad = bad
        def prepare(self, stickers):
            self.known = set(stickers)
        def score(self, queries):
            s = np.array([[-abs(int(c) - len(q.context[-1].text)) for c in q.candidates] for q in queries], float)
            if self.bad:
                s[0, 0] = float("nan")
            return ScoreBatch(s)

    @register_selector("length-plugin")
    def build(ctx):
        return LengthSelector()

    @register_selector("bad-plugin")
    def build_bad(ctx):
        return LengthSelector(bad=True)
    '''
)


def cli(*args, env_extra=None, cwd=None):
    env = {**os.environ, **(env_extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env_extra and env_extra.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=300,
    )


@pytest.fixture
def plugin_dir(tmp_path):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "my_selectors.py").write_text(PLUGIN)
    return d


def _run_args(data_dir, out, *extra):
    """``--dataset mod`` defaults to official sets; these tests exercise sampled ones unless they say otherwise."""
    sets = [] if "--candidates" in extra else ["--candidates", "sampled"]
    return [
        "run",
        "--dataset",
        "mod",
        "--data-dir",
        str(data_dir),
        "--output",
        str(out),
        "--no-progress",
        *sets,
        *extra,
    ]


def test_run_writes_manifests_predictions_results_and_leaderboard(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    proc = cli(*_run_args(mini_mod_dir, out, "--models", "random,popularity", "--num-candidates", "5"))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["candidates"]) == {"validation", "test_easy"}
    for split, cand in results["candidates"].items():
        assert cand["num_candidates"] == 5 and cand["strategy"] == "sampled" and cand["seed"] == 0
        rows = (out / "candidates" / f"{split}.jsonl").read_text().splitlines()
        assert json.loads(rows[0]).keys() == {"sample_id", "candidates", "gold"}
    for model in ("random", "popularity"):
        entry = results["models"][model]
        for split, res in entry["splits"].items():
            assert set(res) >= {"metrics", "stderr", "n", "seconds"}
            assert (
                set(res["metrics"])
                == set(res["stderr"])
                == {"recall@1", "recall@3", "recall@5", "mrr", "map@5", "emotion_acc", "task3_acc@1", "task3_acc@5"}
            )
            assert res["metrics"]["emotion_acc"] is None and res["metrics"]["task3_acc@1"] is None
            assert len((out / "predictions" / model / f"{split}.jsonl").read_text().splitlines()) == res["n"]
    assert results["models"]["popularity"]["checkpoint"]["sha256"]
    board = (out / "leaderboard.md").read_text()
    assert "| R5@1" in board and "## test_easy" in board and cand["fingerprint"][:16] in board
    assert results["harness"]["libraries"]["numpy"]
    assert results["dataset"]["fingerprint"]


def test_same_command_twice_gives_identical_fingerprints_and_numbers(mini_mod_dir, tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert cli(*_run_args(mini_mod_dir, out, "--models", "random,popularity")).returncode == 0
    a, b = (json.loads((o / "results.json").read_text()) for o in outs)
    assert a["candidates"] == b["candidates"]
    assert a["dataset"]["fingerprint"] == b["dataset"]["fingerprint"]
    for model in ("random", "popularity"):
        for split in a["models"][model]["splits"]:
            assert a["models"][model]["splits"][split]["metrics"] == b["models"][model]["splits"][split]["metrics"]


def test_official_candidates_are_used_when_asked(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    proc = cli(*_run_args(mini_mod_dir, out, "--models", "random", "--candidates", "official"))
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads((out / "results.json").read_text())["candidates"]) == ["test_easy"]
    task2 = json.loads((mini_mod_dir / "test_easy_task2.json").read_text())
    rows = [json.loads(x) for x in (out / "candidates" / "test_easy.jsonl").read_text().splitlines()]
    assert [r["candidates"] for r in rows] == [[str(int(c)) for c in item["candidate"]["set"]] for item in task2]
    assert "| R6@1" in (out / "leaderboard.md").read_text()


def test_plugin_through_include_package(mini_mod_dir, tmp_path, plugin_dir):
    out = tmp_path / "run"
    args = _run_args(mini_mod_dir, out, "--models", "length-plugin", "--include-package", "my_selectors")
    proc = cli(*args, env_extra={"PYTHONPATH": str(plugin_dir)})
    assert proc.returncode == 0, proc.stderr
    assert "length-plugin" in json.loads((out / "results.json").read_text())["models"]
    listing = cli("list", "--include-package", "my_selectors", env_extra={"PYTHONPATH": str(plugin_dir)})
    assert any(line.split("\t")[0] == "length-plugin" for line in listing.stdout.splitlines())


def test_plugin_through_entry_point(mini_mod_dir, tmp_path, plugin_dir):
    dist = plugin_dir / "my_selectors-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-selectors\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[stickerbench.selectors]\nlength-plugin = my_selectors:build\n")
    out = tmp_path / "run"
    proc = cli(*_run_args(mini_mod_dir, out, "--models", "length-plugin"), env_extra={"PYTHONPATH": str(plugin_dir)})
    assert proc.returncode == 0, proc.stderr
    assert "length-plugin" in json.loads((out / "results.json").read_text())["models"]


def _assert_one_line_error(proc, pattern):
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    import re

    assert re.search(pattern, lines[0]), lines[0]


def test_nan_scores_from_a_plugin_are_refused(mini_mod_dir, tmp_path, plugin_dir):
    args = _run_args(mini_mod_dir, tmp_path / "run", "--models", "bad-plugin", "--include-package", "my_selectors")
    proc = cli(*args, env_extra={"PYTHONPATH": str(plugin_dir)})
    _assert_one_line_error(proc, r"selector 'bad-plugin' returned a non-finite score \(nan\) for sample")


def test_malformed_json_is_refused(mini_mod_dir, tmp_path):
    (mini_mod_dir / "validation.json").write_text("{ not json")
    proc = cli(*_run_args(mini_mod_dir, tmp_path / "run", "--models", "random"))
    _assert_one_line_error(proc, r"validation\.json: malformed JSON at line 1")


def test_image_outside_dataset_is_refused(mini_mod_dir, tmp_path):
    id2img = json.loads((mini_mod_dir / "id2img.json").read_text())
    id2img["1"] = "../../outside.png"
    (mini_mod_dir / "id2img.json").write_text(json.dumps(id2img))
    proc = cli(*_run_args(mini_mod_dir, tmp_path / "run", "--models", "random"))
    _assert_one_line_error(proc, r"points outside the dataset directory")


def test_gold_missing_from_official_set_is_refused(mini_mod_dir, tmp_path):
    items = json.loads((mini_mod_dir / "test_easy_task2.json").read_text())
    gold, cands = items[2]["answer"]["img_id"], items[2]["candidate"]["set"]
    outsider = next(f"{s:03d}" for s in range(100) if f"{s:03d}" not in cands)  # keeps the set's size
    items[2]["candidate"]["set"] = [outsider if c == gold else c for c in cands]
    (mini_mod_dir / "test_easy_task2.json").write_text(json.dumps(items))
    proc = cli(
        *_run_args(
            mini_mod_dir, tmp_path / "run", "--models", "random", "--candidates", "official", "--splits", "test_easy"
        )
    )
    _assert_one_line_error(proc, r"sample test_easy/2: the gold sticker .* is not in its official candidate set")


def test_unknown_selector_suggests_a_name(mini_mod_dir, tmp_path):
    proc = cli(*_run_args(mini_mod_dir, tmp_path / "run", "--models", "popularty"))
    _assert_one_line_error(proc, r"unknown selector 'popularty'; did you mean 'popularity'")


def test_leaderboard_refuses_runs_on_different_candidate_sets(mini_mod_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(*_run_args(mini_mod_dir, a, "--models", "random")).returncode == 0
    assert cli(*_run_args(mini_mod_dir, b, "--models", "popularity", "--seed", "1")).returncode == 0
    _assert_one_line_error(cli("leaderboard", str(a), str(b)), r"different candidate sets")
    c = tmp_path / "c"
    assert cli(*_run_args(mini_mod_dir, c, "--models", "popularity")).returncode == 0
    merged = cli("leaderboard", str(a), str(c), "-o", str(tmp_path / "board.md"), "--reference")
    assert merged.returncode == 0, merged.stderr
    text = (tmp_path / "board.md").read_text()
    assert "| random" in text and "| popularity" in text
    assert " ± " not in text
    with_errors = cli("leaderboard", str(a), "--stderr")
    assert with_errors.returncode == 0, with_errors.stderr
    se = json.loads((a / "results.json").read_text())["models"]["random"]["splits"]["test_easy"]["stderr"]["mrr"]
    assert f" ± {100 * se:.2f}" in with_errors.stdout and "standard error" in with_errors.stdout


def test_list_prints_one_selector_a_line_name_first():
    proc = cli("list")
    names = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert {"random", "popularity", "cks", "cks-no-ocr", "mmbert"} <= set(names)


@pytest.mark.parametrize("command", ["run", "list", "leaderboard", "train", "data", "knowledge"])
def test_every_command_has_help(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout


def test_rerun_resumes_keeps_finished_pairs_and_refuses_other_candidates(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*_run_args(mini_mod_dir, out, "--models", "random")).returncode == 0
    first = (out / "predictions" / "random" / "test_easy.jsonl").stat().st_mtime_ns
    proc = cli(*_run_args(mini_mod_dir, out, "--models", "random,popularity"))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"random", "popularity"}
    assert (out / "predictions" / "random" / "test_easy.jsonl").stat().st_mtime_ns == first
    _assert_one_line_error(
        cli(*_run_args(mini_mod_dir, out, "--models", "random", "--seed", "5")), r"other candidate sets"
    )
    assert cli(*_run_args(mini_mod_dir, out, "--models", "random", "--seed", "5", "--overwrite")).returncode == 0


def test_trained_checkpoints_are_cached_and_reused(mini_mod_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(*_run_args(mini_mod_dir, a, "--models", "popularity")).returncode == 0
    assert cli(*_run_args(mini_mod_dir, b, "--models", "popularity")).returncode == 0
    ra, rb = (json.loads((o / "results.json").read_text())["models"]["popularity"] for o in (a, b))
    assert ra["train_seconds"] is not None and rb["train_seconds"] is None
    assert ra["checkpoint"] == rb["checkpoint"]
    proc = cli(*_run_args(mini_mod_dir, tmp_path / "c", "--models", "popularity", "--no-train", "--seed", "3"))
    _assert_one_line_error(proc, r"popularity: no checkpoint .* --no-train")
    explicit = cli(
        *_run_args(
            mini_mod_dir,
            tmp_path / "d",
            "--models",
            "popularity",
            "--no-train",
            "--seed",
            "3",
            "--checkpoint",
            f"popularity={ra['checkpoint']['path']}",
        )
    )
    assert explicit.returncode == 0, explicit.stderr


def test_training_overrides_key_the_cached_checkpoint(mini_mod_dir, tmp_path):
    a = cli(*_run_args(mini_mod_dir, tmp_path / "a", "--models", "popularity"))
    b = cli(*_run_args(mini_mod_dir, tmp_path / "b", "--models", "popularity", "--epochs", "7"))
    assert a.returncode == b.returncode == 0
    ra, rb = (json.loads((tmp_path / o / "results.json").read_text())["models"]["popularity"] for o in "ab")
    assert ra["checkpoint"]["path"] != rb["checkpoint"]["path"]
    assert rb["train_seconds"] is not None
