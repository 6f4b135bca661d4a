"""A run directory a researcher can trust: no mixed settings on resume, no lost or deleted work,
one run at a time, and one-line failures that keep what finished. Driven as a user would, through
the command line in subprocesses."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "plugins"


def _env(extra=None):
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(PLUGINS)])
    return env


def cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        capture_output=True,
        text=True,
        env=_env(env),
        cwd=ROOT,
        timeout=timeout,
    )


def run_args(data_dir, out, models, *extra):
    return [
        "run",
        "--dataset",
        "mod",
        "--data-dir",
        str(data_dir),
        "--output",
        str(out),
        "--no-progress",
        "--models",
        models,
        "--include-package",
        "hostile_selectors",
        *([] if "--candidates" in extra else ["--candidates", "sampled"]),  # mod's default is official
        *extra,
    ]


def error_line(proc):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def results(out):
    return json.loads((out / "results.json").read_text())


def rows(out, model, split):
    return [json.loads(x) for x in (out / "predictions" / model / f"{split}.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- resume never mixes identities


def test_resume_after_an_option_change_refuses_and_names_what_changed(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*run_args(mini_mod_dir, out, "knob", "--option", "flip=0")).returncode == 0
    before = (out / "results.json").read_text()
    line = error_line(cli(*run_args(mini_mod_dir, out, "knob", "--option", "flip=1")))
    assert "knob/" in line and "flip" in line and "'0' → '1'" in line
    assert "--overwrite" in line and "--rescore-changed" in line and "--output" in line
    assert (out / "results.json").read_text() == before


def test_a_killed_split_is_not_continued_under_another_setting(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    args = run_args(mini_mod_dir, out, "knob", "--option", "flip=0", "--batch-size", "4")
    assert cli(*args, env={"KNOB_CRASH_AT": "8"}).returncode == 2
    assert results(out)["models"]["knob"]["splits"]["validation"]["status"] == "partial"
    first_rows = rows(out, "knob", "validation")
    assert len(first_rows) == 8
    line = error_line(cli(*run_args(mini_mod_dir, out, "knob", "--option", "flip=1")))
    assert "knob/validation" in line and "flip" in line
    assert rows(out, "knob", "validation") == first_rows
    assert cli(*args).returncode == 0  # the same setting continues the partial file
    res = results(out)["models"]["knob"]["splits"]["validation"]
    assert res["status"] == "complete" and rows(out, "knob", "validation")[:8] == first_rows
    assert len({r["sample_id"] for r in rows(out, "knob", "validation")}) == res["n"] == 20


def test_rescore_changed_rescores_exactly_the_changed_pairs(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*run_args(mini_mod_dir, out, "random,knob", "--option", "flip=0")).returncode == 0
    random_rows = (out / "predictions" / "random" / "test_easy.jsonl").read_text()
    proc = cli(*run_args(mini_mod_dir, out, "random,knob", "--option", "flip=1", "--rescore-changed"))
    assert proc.returncode == 0, proc.stderr
    res = results(out)
    for split in ("validation", "test_easy"):
        identity = res["models"]["knob"]["splits"][split]["identity"]
        assert identity["options"]["flip"] == "1" and identity["config"] == {"flip": "1"}
        assert len(rows(out, "knob", split)) == res["models"]["knob"]["splits"][split]["n"]
    # random's options changed too (every --option is part of every identity), so it was re-scored,
    # to the very same rows: its scores do not depend on the option
    assert (out / "predictions" / "random" / "test_easy.jsonl").read_text() == random_rows


def test_identity_records_what_produced_each_split(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*run_args(mini_mod_dir, out, "random,popularity", "--epochs", "3")).returncode == 0
    res = results(out)
    assert res["schema_version"] == 2
    pop = res["models"]["popularity"]["splits"]["test_easy"]["identity"]
    assert set(pop) == {
        "selector",
        "preset",
        "config",
        "options",
        "code",
        "checkpoint",
        "train_seed",
        "train_overrides",
        "candidates",
    }
    assert pop["checkpoint"]["sha256"] == res["models"]["popularity"]["checkpoint"]["sha256"]
    assert pop["train_seed"] == 0 and pop["train_overrides"]["epochs"] == 3
    assert pop["candidates"] == res["candidates"]["test_easy"]["fingerprint"]
    rnd = res["models"]["random"]["splits"]["test_easy"]["identity"]
    assert rnd["checkpoint"] is None and rnd["train_seed"] is None and len(rnd["code"]) == 64


def test_an_old_schema_results_file_gets_a_clear_message(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*run_args(mini_mod_dir, out, "random")).returncode == 0
    raw = results(out)
    raw["schema_version"] = 1
    (out / "results.json").write_text(json.dumps(raw))
    assert "schema version 1" in error_line(cli("leaderboard", str(out)))
    assert "schema version 1" in error_line(cli(*run_args(mini_mod_dir, out, "random")))
    assert cli(*run_args(mini_mod_dir, out, "random", "--overwrite")).returncode == 0


# ---------------------------------------------------------------- --overwrite deletes only run directories


def test_overwrite_refuses_a_directory_that_is_not_a_run(mini_mod_dir, tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("precious")
    line = error_line(cli(*run_args(mini_mod_dir, thesis, "random", "--overwrite")))
    assert "refuses to delete" in line and str(thesis) in line
    assert (thesis / "chapter1.tex").read_text() == "precious"
    assert sorted(p.name for p in thesis.iterdir()) == ["chapter1.tex"]


def test_overwrite_with_a_bad_argument_keeps_the_old_run(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*run_args(mini_mod_dir, out, "random")).returncode == 0
    before = (out / "results.json").read_text()
    assert "no split 'test_hrad'" in error_line(
        cli(*run_args(mini_mod_dir, out, "random", "--overwrite", "--splits", "test_hrad"))
    )
    assert "unknown selector" in error_line(cli(*run_args(mini_mod_dir, out, "nope", "--overwrite")))
    assert (out / "results.json").read_text() == before
    assert cli(*run_args(mini_mod_dir, out, "popularity", "--overwrite")).returncode == 0
    assert set(results(out)["models"]) == {"popularity"}


# ---------------------------------------------------------------- one run per directory


def test_a_second_run_into_a_busy_directory_exits_at_once_without_writing(mini_mod_dir, tmp_path):
    out, release = tmp_path / "run", tmp_path / "release"
    args = run_args(mini_mod_dir, out, "knob", "--batch-size", "2")
    first = subprocess.Popen(
        [sys.executable, "-m", "benchmark", *args],
        env=_env({"KNOB_HOLD_UNTIL": str(release)}),  # the first run waits inside score() until released
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not (out / "predictions" / "knob" / "validation.jsonl").exists():
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.1)
        before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
        second = cli(*args)
        line = error_line(second)
        assert str(out) in line and f"pid {first.pid}" in line
        assert first.poll() is None  # the second run did not disturb the first
        assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()} == before
    finally:
        release.touch()
        stdout, stderr = first.communicate(timeout=240)
    assert first.returncode == 0, stderr
    res = results(out)
    for split, entry in res["models"]["knob"]["splits"].items():
        ids = [r["sample_id"] for r in rows(out, "knob", split)]
        assert len(ids) == len(set(ids)) == entry["n"]


# ---------------------------------------------------------------- contracts checked when built


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--batch-size", "-1"], r"--batch-size: must be at least 1, got -1"),
        (["--batch-size", "0"], r"--batch-size: must be at least 1, got 0"),
        (["--num-candidates", "1"], r"--num-candidates: must be at least 2"),
        (["--lr", "-3"], r"--lr: must be in \(0"),
    ],
)
def test_numeric_flags_are_range_checked(mini_mod_dir, tmp_path, args, pattern):
    import re

    proc = cli(*run_args(mini_mod_dir, tmp_path / "run", "random", *args))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(pattern, proc.stderr), proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "models, extra, pattern",
    [
        (
            "mod-gpt,random",
            ["--checkpoint", "mod_gpt=/tmp"],
            r"'mod_gpt' is not one of --models .*did you mean 'mod-gpt'",
        ),
        ("random@paper", [], r"selector 'random' has no presets"),
        ("clip@huge", [], r"clip.*unknown preset 'huge'.*tiny or paper"),
        ("misnamed", [], r"registered as 'misnamed' reports meta.name 'another-name'"),
        ("half-trainable", [], r"'half-trainable' implements fit, save but not load"),
        ("random,random", [], r"names random twice"),
    ],
)
def test_selector_contracts_are_checked_before_any_work(mini_mod_dir, tmp_path, models, extra, pattern):
    import re

    line = error_line(cli(*run_args(mini_mod_dir, tmp_path / "run", models, *extra)))
    assert re.search(pattern, line), line
    assert not (tmp_path / "run").exists()


def test_fit_sees_only_the_training_splits(mini_mod_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    assert (
        cli(*run_args(mini_mod_dir, tmp_path / "run", "peeking"), env={"STICKERBENCH_CACHE": str(cache)}).returncode
        == 0
    )
    (seen,) = [p.read_text() for p in (cache / "checkpoints").rglob("seen.txt")]
    assert seen == "train,validation\nroot=None\n"


# ---------------------------------------------------------------- failures: one line, finished work kept


@pytest.mark.parametrize(
    "option, pattern",
    [
        ("fail_in=build", r"selector 'knob': its factory failed while building it: KeyError"),
        ("fail_in=prepare", r"selector 'knob' failed in prepare: RuntimeError: prepare exploded"),
        (
            "fail_at=4",
            r"selector 'knob' failed in score on split 'validation', batch starting at sample validation/\S+: ValueError",
        ),
    ],
)
def test_a_crashing_plugin_is_one_line_and_earlier_results_stay(mini_mod_dir, tmp_path, option, pattern):
    import re

    out = tmp_path / "run"
    proc = cli(*run_args(mini_mod_dir, out, "random,knob", "--option", option, "--batch-size", "4"))
    line = error_line(proc)
    assert re.search(pattern, line), line
    if option == "fail_in=build":
        assert not out.exists()  # built before anything is written
        return
    res = results(out)
    assert all(s["status"] == "complete" for s in res["models"]["random"]["splits"].values())
    board = (out / "leaderboard.md").read_text()
    assert "| random" in board and "| knob" not in board
    assert "| random" in proc.stdout


@pytest.mark.parametrize(
    "model, pattern",
    [
        ("ragged", r"selector 'ragged' returned scores .* that do not form a \[B, N\] array"),
        ("stringy", r"selector 'stringy' returned scores .* of dtype <U\d+; they must be numbers"),
    ],
)
def test_malformed_scores_are_refused(mini_mod_dir, tmp_path, model, pattern):
    import re

    line = error_line(cli(*run_args(mini_mod_dir, tmp_path / "run", model)))
    assert re.search(pattern, line), line


def test_leaderboard_on_a_malformed_results_file_or_unwritable_output(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*run_args(mini_mod_dir, out, "random")).returncode == 0
    good = results(out)
    bad = json.loads(json.dumps(good))
    bad["models"]["random"]["splits"]["test_easy"]["metrics"] = [1, 2]
    (out / "results.json").write_text(json.dumps(bad))
    line = error_line(cli("leaderboard", str(out)))
    assert "models.random.splits.test_easy.metrics" in line and "results.json" in line
    (out / "results.json").write_text(json.dumps(good))
    line = error_line(cli("leaderboard", str(out), "-o", "/proc/no/such/dir/board.md"))
    assert "/proc/no/such/dir" in line


def test_a_damaged_builtin_checkpoint_is_one_line(mini_mod_dir, tmp_path):
    ckpt = tmp_path / "pop"
    ckpt.mkdir()
    (ckpt / "popularity.json").write_text(json.dumps({"counts": ["not", "a", "map"]}))
    line = error_line(
        cli(*run_args(mini_mod_dir, tmp_path / "run", "popularity", "--checkpoint", f"popularity={ckpt}"))
    )
    assert "popularity.json" in line and "damaged" in line


def test_a_selectors_prints_stay_out_of_the_leaderboard(mini_mod_dir, tmp_path):
    proc = cli(*run_args(mini_mod_dir, tmp_path / "run", "knob", "--option", "print=1"))
    assert proc.returncode == 0, proc.stderr
    assert "NOISE FROM A SELECTOR" not in proc.stdout and "NOISE FROM A SELECTOR" in proc.stderr
    assert proc.stdout.lstrip().startswith("# stickerbench leaderboard")


def test_sigterm_keeps_finished_results_and_says_how_to_resume(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    pid_file = tmp_path / "pid"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmark", *run_args(mini_mod_dir, out, "random,pid-writer", "--batch-size", "1")],
        env=_env({"PID_FILE": str(pid_file)}),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not pid_file.exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "terminated (SIGTERM): finished results are kept; re-run the same command to resume" in stderr
    res = results(out)
    assert all(s["status"] == "complete" for s in res["models"]["random"]["splits"].values())
    assert "| random" in (out / "leaderboard.md").read_text()
    resumed = cli(*run_args(mini_mod_dir, out, "random,pid-writer"))
    assert resumed.returncode == 0, resumed.stderr
    for split, entry in results(out)["models"]["pid-writer"]["splits"].items():
        ids = [r["sample_id"] for r in rows(out, "pid-writer", split)]
        assert entry["status"] == "complete" and len(ids) == len(set(ids)) == entry["n"]


def test_train_command_creates_its_output_directory(mini_mod_dir, tmp_path):
    target = tmp_path / "new" / "popularity"
    proc = cli(
        "train", "--model", "popularity", "--dataset", "mod", "--data-dir", str(mini_mod_dir), "--output", str(target)
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "popularity.json").is_file()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    line = error_line(
        cli(
            "train",
            "--model",
            "popularity",
            "--dataset",
            "mod",
            "--data-dir",
            str(mini_mod_dir),
            "--output",
            str(other),
        )
    )
    assert "not a checkpoint directory" in line and (other / "todo.txt").read_text() == "keep me"


# ---------------------------------------------------------------- rescore and the Python API


def test_rescore_recomputes_metrics_from_the_predictions_alone(mini_mod_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*run_args(mini_mod_dir, out, "random,knob")).returncode == 0
    good = results(out)
    tampered = json.loads(json.dumps(good))
    tampered["models"]["knob"]["splits"]["test_easy"]["metrics"]["mrr"] = 0.999
    (out / "results.json").write_text(json.dumps(tampered))
    proc = cli("rescore", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "knob/test_easy" in proc.stdout and "random" not in proc.stdout
    assert results(out)["models"] == good["models"]
    assert "rescored" in cli("rescore", str(out)).stdout
    assert "no results.json" in error_line(cli("rescore", str(tmp_path / "nothing")))
    assert not (tmp_path / "nothing").exists()


def test_python_api_accepts_names_and_selector_objects(mini_mod_dir, tmp_path):
    import benchmark
    from benchmark.datasets.mod import load_mod
    from benchmark.selector import SelectorContext

    sys.path.insert(0, str(PLUGINS))
    try:
        import hostile_selectors
    finally:
        sys.path.remove(str(PLUGINS))
    dataset = load_mod(mini_mod_dir)
    knob = hostile_selectors.Knob(SelectorContext(options={"flip": "1"}))
    out = tmp_path / "api"
    res = benchmark.evaluate(["random", knob], dataset=dataset, splits=["test_easy"], output=out, progress=False)
    assert set(res.models) == {"random", "knob"}
    assert res.models["knob"].splits["test_easy"].complete and res.models["knob"].checkpoint is None
    loaded = benchmark.load_results(out)
    assert loaded.to_json()["models"] == res.to_json()["models"]
    assert loaded.models["random"].splits["test_easy"].metrics == res.models["random"].splits["test_easy"].metrics
