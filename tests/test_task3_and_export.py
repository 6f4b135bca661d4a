"""MOD task 3 (emotion given the sent sticker), blind splits, and DSTC10 submission files."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import benchmark
from benchmark.datasets.synthetic import EMOTIONS, write_tiny_mod
from benchmark.errors import BenchmarkError, SelectorError
from benchmark.evaluator import evaluate_split
from benchmark.export import export_dstc10
from benchmark.metrics import ALL_METRICS, MetricAccumulator
from benchmark.prediction_scores import metrics_from_predictions
from benchmark.rescore import rescore
from benchmark.run_config import RunConfig
from benchmark.selector import SelectorMeta
from benchmark.types import CandidateSet, Dataset, Sample, ScoreBatch, Sticker, StickerStore, Utterance
from stickerbench.leaderboard.render import render_runs

ROOT = Path(__file__).resolve().parents[1]


class EmotionSelector:
    """Ties on purpose (score = id mod 3); its task-3 head names the sticker's emotion (id mod 4)."""

    def __init__(self, name="emo", head="sticker", width=None):
        self.meta = SelectorMeta(name=name, supports_emotion=True)
        self.head, self.width = head, width or len(EMOTIONS)
        self.task3_queries = []

    def prepare(self, stickers):
        pass

    def score(self, queries):
        scores = np.array([[int(c) % 3 for c in q.candidates] for q in queries], dtype=float)
        return ScoreBatch(scores, np.zeros((len(queries), self.width)))

    def classify_emotion(self, queries):
        self.task3_queries += list(queries)
        if self.head == "constant":
            return np.zeros((len(queries), self.width))
        if self.head == "nan":
            return np.full((len(queries), self.width), np.nan)
        if self.head == "strings":
            return [["a"] * self.width for _ in queries]
        if self.head == "none":
            return None
        logits = np.zeros((len(queries), self.width))
        for i, q in enumerate(queries):
            logits[i, int(q.candidates[0]) % self.width] = 1.0
        return logits


class PlainSelector(EmotionSelector):
    classify_emotion = None


# ---------------------------------------------------------------- metrics


@pytest.mark.parametrize("emotions", [2, 4, 5, 12, 48])
def test_a_constant_emotion_head_gets_exactly_chance(emotions):
    acc = MetricAccumulator()
    for gold in range(3 * emotions):
        acc.add([1.0, 0.0], 0, None, gold % emotions, np.zeros(emotions))
    m = acc.result()
    assert m["task3_acc@1"] == pytest.approx(1 / emotions, abs=1e-15)
    assert m["task3_acc@5"] == pytest.approx(min(5, emotions) / emotions, abs=1e-15)
    assert m["emotion_acc"] is None and acc.stderr()["task3_acc@1"] == 0.0


def test_task3_hits_and_standard_errors_match_numpy():
    rng = np.random.default_rng(1)
    acc, hits1, hits5 = MetricAccumulator(), [], []
    for _ in range(50):
        logits, gold = rng.normal(size=12), int(rng.integers(12))
        acc.add([0.0, 1.0], 1, None, gold, logits)
        order = list(np.argsort(-logits))
        hits1.append(float(order.index(gold) < 1))
        hits5.append(float(order.index(gold) < 5))
    for key, hits in (("task3_acc@1", hits1), ("task3_acc@5", hits5)):
        assert acc.result()[key] == pytest.approx(np.mean(hits))
        assert acc.stderr()[key] == pytest.approx(np.std(hits, ddof=1) / np.sqrt(len(hits)), rel=1e-9)


# ---------------------------------------------------------------- evaluator


def _sets(samples):
    return [CandidateSet(s.sample_id, tuple(s.meta["official_candidates"]), s.gold) for s in samples]


def test_classify_emotion_sees_only_the_sent_sticker_and_its_logits_are_stored(mini_dataset, tmp_path):
    samples = mini_dataset.split("test_easy")
    selector = EmotionSelector()
    path = tmp_path / "p.jsonl"
    scored = evaluate_split(selector, samples, _sets(samples), path, batch_size=5, num_emotions=len(EMOTIONS))
    assert [q.candidates for q in selector.task3_queries] == [(s.gold,) for s in samples]
    assert [q.sample_id for q in selector.task3_queries] == [s.sample_id for s in samples]
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert all(len(r["task3_logits"]) == len(EMOTIONS) and r["sent_sticker"] == r["gold"] for r in rows)
    # the synthetic sticker's emotion is its id mod 4, which the head names: task 3 is solved
    assert scored.metrics["task3_acc@1"] == pytest.approx(1.0) and scored.metrics["task3_acc@5"] == 1.0
    assert scored.metrics["emotion_acc"] == pytest.approx(1 / len(EMOTIONS))  # constant own-pick logits
    assert metrics_from_predictions(path) == scored.metrics


def test_a_constant_head_end_to_end_and_a_selector_without_one(mini_dataset, tmp_path):
    samples = mini_dataset.split("test_easy")
    const = evaluate_split(EmotionSelector(head="constant"), samples, _sets(samples), tmp_path / "c.jsonl")
    assert const.metrics["task3_acc@1"] == pytest.approx(1 / len(EMOTIONS), abs=1e-15)
    assert const.metrics["task3_acc@5"] == pytest.approx(1.0, abs=1e-15)  # 4 emotions: top 5 holds all
    plain = evaluate_split(PlainSelector(), samples, _sets(samples), tmp_path / "p.jsonl")
    assert plain.metrics["task3_acc@1"] is None and plain.stderr["task3_acc@5"] is None
    assert all(json.loads(x)["task3_logits"] is None for x in (tmp_path / "p.jsonl").read_text().splitlines())


@pytest.mark.parametrize(
    "head, width, message",
    [
        ("nan", 4, r"non-finite value in its classify_emotion logits for sample test_easy/"),
        ("strings", 4, r"classify_emotion logits .* of dtype <U1"),
        ("none", 4, r"returned None from classify_emotion"),
        ("sticker", 3, r"classify_emotion logits of shape \(\d+, 3\); the dataset has 4 emotions"),
    ],
)
def test_bad_task3_logits_are_refused_naming_selector_and_sample(mini_dataset, tmp_path, head, width, message):
    samples = mini_dataset.split("test_easy")

    class Wide(EmotionSelector):  # own-pick logits of the right width, so only task 3 is wrong
        def score(self, queries):
            return ScoreBatch(super().score(queries).scores, np.zeros((len(queries), 4)))

    with pytest.raises(SelectorError, match=r"selector 'emo' .*" + message):
        evaluate_split(Wide(head=head, width=width), samples, _sets(samples), tmp_path / "p.jsonl", num_emotions=4)


# ---------------------------------------------------------------- blind splits


def _blind_release(root: Path, items: int = 7) -> Dataset:
    """A blind test split written from scratch, as the organisers release one, and its Dataset."""
    (root / "meme_set").mkdir(parents=True)
    stickers = []
    for s in range(8):
        path = root / "meme_set" / f"{s}.png"
        Image.new("RGB", (16, 16), (30 * s, 0, 0)).save(path)
        stickers.append(Sticker(str(s), path))
    task2, task3, samples = [], [], []
    for n in range(items):
        sent = n % 8
        history = [{"speaker_id": "[speaker1]", "txt": f"hi {n}"}, {"speaker_id": "[speaker2]", "txt": f"so {n}"}]
        raw_set = [f"{(sent + k) % 8:03d}" for k in range(5)]
        task2.append(
            {
                "history": history,
                "candidate": {"speaker_id": "[speaker2]", "set": raw_set},
                "answer": {"speaker_id": "[speaker2]", "img_id": ""},
            }
        )
        task3.append(
            {
                "history": [history[0], {**history[1], "img_id": f"{sent:03d}"}],
                "answer": {"speaker_id": "[speaker2]", "emotion_id": ""},
            }
        )
        samples.append(
            Sample(
                f"test_blind/{n}",
                (Utterance("[speaker1]", f"hi {n}"), Utterance("[speaker2]", f"so {n}")),
                "[speaker2]",
                None,
                None,
                {"official_candidates": tuple(str(int(c)) for c in raw_set), "index": n, "sent_sticker": str(sent)},
            )
        )
    files = {"test_blind.task2": root / "e_test_blind_task2.json", "test_blind.task3": root / "e_test_blind_task3.json"}
    files["test_blind.task2"].write_text(json.dumps(task2))
    files["test_blind.task3"].write_text(json.dumps(task3))
    return Dataset(
        name="mod",
        splits={"test_blind": samples},
        stickers=StickerStore(stickers, root),
        emotion_names=tuple(EMOTIONS),
        root=root,
        info={"files": {k: str(v) for k, v in files.items()}, "blind_splits": ["test_blind"]},
    )


def test_a_blind_split_is_scored_written_and_reported_blind(tmp_path):
    dataset = _blind_release(tmp_path / "release")
    out = tmp_path / "run"
    results = benchmark.evaluate(
        ["random", EmotionSelector()], dataset=dataset, candidates="official", output=out, progress=False
    )
    for model in ("random", "emo"):
        split = results.models[model].splits["test_blind"]
        assert split.n == 7 and set(split.metrics) == set(ALL_METRICS)
        assert all(v is None for v in split.metrics.values()) and all(v is None for v in split.stderr.values())
        rows = [json.loads(x) for x in (out / split.predictions).read_text().splitlines()]
        assert len(rows) == 7 and all(r["gold"] is None and len(r["scores"]) == 5 for r in rows)
    rows = [json.loads(x) for x in (out / "predictions" / "emo" / "test_blind.jsonl").read_text().splitlines()]
    assert [r["sent_sticker"] for r in rows] == [str(n % 8) for n in range(7)] and all(r["task3_logits"] for r in rows)
    board = render_runs([results])
    table = board.split("## test_blind")[1]
    assert "| random " in table and "| emo " in table and "%" not in table
    assert table.count("blind") >= 2 * 8 and "no answers" in table and "python -m benchmark export" in table
    assert rescore(out)[1] == []  # null stays null when recomputed from the rows


def test_a_blind_split_exports_submissions_in_the_release_spelling(tmp_path):
    dataset = _blind_release(tmp_path / "release")
    out = tmp_path / "run"
    benchmark.evaluate([EmotionSelector()], dataset=dataset, candidates="official", output=out, progress=False)
    written = export_dstc10(out, "emo", tmp_path / "sub")
    assert [p.name for p in written] == ["e_test_blind_task2.json", "e_test_blind_task3.json"]
    task2 = json.loads(written[0].read_text())
    source = json.loads((tmp_path / "release" / "e_test_blind_task2.json").read_text())
    for item, given in zip(task2, source):
        ranked = item["answer"]["img_id"]
        assert sorted(ranked) == sorted(given["candidate"]["set"]) and all(len(c) == 3 for c in ranked)
        keys = [int(c) % 3 for c in ranked]  # the selector's scores: best first, ties in input order
        assert keys == sorted(keys, reverse=True)
        for score in set(keys):
            tied = [c for c in ranked if int(c) % 3 == score]
            assert tied == [c for c in given["candidate"]["set"] if c in tied]
    task3 = json.loads(written[1].read_text())
    assert [t["answer"]["emotion_id"][0] for t in task3] == [(n % 8) % 4 for n in range(7)]


# ---------------------------------------------------------------- export on an annotated run


@pytest.fixture
def official_run(tmp_path):
    data = write_tiny_mod(tmp_path / "mod")
    out = tmp_path / "run"
    benchmark.evaluate(
        ["random", EmotionSelector()], dataset="mod", data_dir=data, candidates="official", output=out, progress=False
    )
    return data, out


def test_export_writes_the_input_layout_with_ranked_sets_and_top5_emotions(official_run, tmp_path):
    data, out = official_run
    lines = []
    written = export_dstc10(out, "emo", tmp_path / "sub", say=lines.append)
    assert [p.name for p in written] == ["test_easy_task2.json", "test_easy_task3.json"] and len(lines) == 2
    for name, field in (("test_easy_task2.json", "img_id"), ("test_easy_task3.json", "emotion_id")):
        given = json.loads((data / name).read_text())
        made = json.loads((tmp_path / "sub" / name).read_text())
        assert len(made) == len(given)
        for a, b in zip(made, given):
            assert {k: v for k, v in a.items() if k != "answer"} == {k: v for k, v in b.items() if k != "answer"}
            assert {k: v for k, v in a["answer"].items() if k != field} == {
                k: v for k, v in b["answer"].items() if k != field
            }
            if field == "img_id":
                assert sorted(a["answer"]["img_id"]) == sorted(b["candidate"]["set"])  # raw "013" spellings
            else:
                top = a["answer"]["emotion_id"]
                assert len(top) == min(5, len(EMOTIONS)) == len(set(top))
                assert all(isinstance(e, int) and 0 <= e < len(EMOTIONS) for e in top)
                assert top[0] == b["answer"]["emotion_id"]  # this head solves the synthetic task 3
    assert json.loads((out / "results.json").read_text())["dataset"]["files"]["test_easy.task2"] == str(
        (data / "test_easy_task2.json").resolve()
    )


def test_export_skips_task3_without_classify_emotion_and_refuses_what_it_cannot_do(official_run, tmp_path):
    data, out = official_run
    lines = []
    assert [p.name for p in export_dstc10(out, "random", tmp_path / "sub", say=lines.append)] == [
        "test_easy_task2.json"
    ]
    assert any("task 3 skipped" in x and "classify_emotion" in x for x in lines)
    with pytest.raises(BenchmarkError, match=r"--model 'nope': not a model of .* \(it has: emo, random\)"):
        export_dstc10(out, "nope", tmp_path / "sub")
    with pytest.raises(BenchmarkError, match=r"input file itself"):
        export_dstc10(out, "emo", data)
    results = json.loads((out / "results.json").read_text())
    results["models"]["emo"]["splits"]["test_easy"]["status"] = "partial"
    (out / "results.json").write_text(json.dumps(results))
    with pytest.raises(BenchmarkError, match=r"'emo' has not finished split 'test_easy' \(status partial\)"):
        export_dstc10(out, "emo", tmp_path / "sub")
    (data / "test_easy_task2.json").rename(data / "moved.json")
    with pytest.raises(BenchmarkError, match=r"test_easy task-2 input file .* no longer exists"):
        export_dstc10(out, "random", tmp_path / "sub")


def test_rescore_recomputes_the_task3_metrics_from_the_rows(official_run):
    _, out = official_run
    path = out / "results.json"
    results = json.loads(path.read_text())
    split = results["models"]["emo"]["splits"]["test_easy"]
    assert split["metrics"]["task3_acc@1"] == pytest.approx(1.0) and split["stderr"]["task3_acc@5"] == 0.0
    truth = dict(split["metrics"])
    split["metrics"]["task3_acc@1"] = 0.5
    del split["metrics"]["task3_acc@5"]
    path.write_text(json.dumps(results))
    _, changed = rescore(out)
    assert changed == ["emo/test_easy"]
    assert json.loads(path.read_text())["models"]["emo"]["splits"]["test_easy"]["metrics"] == truth


def test_export_refuses_a_run_on_sampled_candidates(tmp_path):
    data = write_tiny_mod(tmp_path / "mod")
    out = tmp_path / "run"
    benchmark.evaluate(["random"], dataset="mod", data_dir=data, output=out, num_candidates=4, progress=False)
    with pytest.raises(BenchmarkError, match=r"scored on sampled candidates; .*--candidates official"):
        export_dstc10(out, "random", tmp_path / "sub")


# ---------------------------------------------------------------- defaults and the command line


def test_mod_defaults_to_official_sets_and_names_the_directory_after_them():
    assert RunConfig(models=[], dataset="mod", candidates=None).candidate_strategy() == "official"
    assert RunConfig(models=[], dataset="mojichat", candidates=None).candidate_strategy() == "sampled"
    assert RunConfig(models=[], dataset="mod").candidate_strategy() == "sampled"  # the API's default
    assert RunConfig(models=[], dataset="mod", candidates=None).output_dir() == Path("runs/mod-official-seed0")
    assert RunConfig(models=[], candidates=None, num_candidates=7).output_dir() == Path("runs/mojichat-sampled7-seed0")


def test_cli_run_on_mod_uses_official_sets_and_export_writes_the_files(tmp_path):
    data = write_tiny_mod(tmp_path / "mod")
    env = {"PYTHONPATH": str(ROOT), "STICKERBENCH_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "benchmark", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )

    proc = cli("run", "--dataset", "mod", "--data-dir", str(data), "--models", "random", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "runs" / "mod-official-seed0" / "results.json").read_text())
    assert {c["strategy"] for c in results["candidates"].values()} == {"official"}
    assert "T3 Acc@1" in proc.stdout and "Acc (own pick)" in proc.stdout
    proc = cli("export", "runs/mod-official-seed0", "--format", "dstc10", "--model", "random", "--out", "sub")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "task 3 skipped" in proc.stdout
    assert len(json.loads((tmp_path / "sub" / "test_easy_task2.json").read_text())) == 12
    proc = cli("export", "runs/mod-official-seed0", "--model", "clip", "--out", "sub")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --model 'clip': not a model of")
