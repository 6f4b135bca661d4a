"""GPU-ready scoring, checked on CPU: ``--autocast`` recorded and never mixed, cross-encoder batches
sized in (query, candidate) pairs, and sticker pixels prepared ahead of the encoder."""

import json

import numpy as np
import pytest
import torch
from test_run_directory import error_line
from test_train_seeds import rows, run

from benchmark.batching import query_batches
from benchmark.evaluator import scored_batches
from benchmark.features import encode_stickers, pixel_batches
from benchmark.registry import build_selector
from benchmark.selector import SelectorContext, SelectorMeta, TrainConfig
from benchmark.types import CandidateSet, ScoreBatch, query_for


@pytest.mark.parametrize("seed", range(5))
def test_pair_batches_cover_every_query_once_within_the_budget(seed):
    rng = np.random.default_rng(seed)
    sizes = [int(x) for x in rng.integers(1, 40, size=60)]
    budget = 50
    batches = query_batches(sizes, budget, "pairs")
    assert [i for b in batches for i in b] == list(range(len(sizes)))
    for b in batches:
        assert len(b) == 1 or sum(sizes[i] for i in b) <= budget
        if b.stop < len(sizes):  # greedy: the next query would not have fitted
            assert sum(sizes[i] for i in b) + sizes[b.stop] > budget
    assert query_batches([300, 2, 2], 256, "pairs") == [range(0, 1), range(1, 3)]  # an oversized query alone
    assert query_batches([10] * 70, None, "queries") == [range(0, 32), range(32, 64), range(64, 70)]


class _PairCounter:
    """A cross-encoder stand-in that records how many pairs each ``score`` call gets."""

    meta = SelectorMeta(name="pair-counter")
    batch_unit = "pairs"

    def __init__(self):
        self.calls: list[int] = []

    def prepare(self, stickers):
        pass

    def score(self, queries):
        self.calls.append(sum(len(q.candidates) for q in queries))
        return ScoreBatch(scores=np.array([[float(len(c)) for c in q.candidates] for q in queries]))


def test_the_harness_sizes_a_cross_encoders_batches_in_pairs(mini_dataset):
    samples = mini_dataset.split("test_easy")[:20]
    stickers = tuple(sorted(mini_dataset.stickers)[:5])
    sets = [CandidateSet(s.sample_id, stickers, stickers[0]) for s in samples]
    selector = _PairCounter()
    batches = list(scored_batches(selector, samples, sets, batch_size=12, progress=False))
    n = len(samples)
    assert n >= 6
    assert selector.calls == [10] * (n // 2) + [5] * (n % 2)  # two whole queries of 5 candidates fit in 12 pairs
    assert [s.sample_id for b in batches for s in b.samples] == [s.sample_id for s in samples]
    selector.batch_unit = "queries"
    selector.calls.clear()
    list(scored_batches(selector, samples, sets, batch_size=12, progress=False))
    assert selector.calls == [5 * len(range(i, min(i + 12, n))) for i in range(0, n, 12)]  # 12 queries a call


def _trained(name, data, tmp_path, batch_size=None):
    ctx = SelectorContext(
        preset="tiny",
        num_emotions=data.num_emotions,
        emotion_names=data.emotion_names,
        cache_dir=tmp_path / "cache",
        options={"ocr": "none"},
        batch_size=batch_size,
    )
    selector = build_selector(name, ctx)
    selector.fit(data, TrainConfig(epochs=1, max_steps=1, batch_size=8, validation_split=None))
    selector.save(tmp_path / name)
    return selector, ctx


@pytest.mark.parametrize("name", ["vilt", "blip2", "mmbert", "cks"])
def test_a_cross_encoder_chunks_a_query_larger_than_its_pair_budget_without_changing_scores(
    name, mini_dataset, tmp_path
):
    selector, ctx = _trained(name, mini_dataset, tmp_path)
    assert selector.batch_unit == "pairs"
    pool = tuple(sorted(mini_dataset.stickers))
    samples = mini_dataset.split("test_easy")[:3]
    queries = [query_for(s, CandidateSet(s.sample_id, pool, s.gold)) for s in samples]
    small = type(selector).load(tmp_path / name, SelectorContext(**{**ctx.__dict__, "batch_size": 3}))
    assert small.pair_batch == 3 and len(pool) > 3
    outputs = []
    for sel in (selector, small):
        sel.prepare(mini_dataset.stickers)
        outputs.append([sel.score([q]) for q in queries])
    for whole, chunked in zip(*outputs):
        np.testing.assert_allclose(chunked.scores, whole.scores, rtol=1e-4, atol=1e-4)
        if whole.emotion_logits is not None:  # the emotion of the overall best candidate, not a chunk's
            np.testing.assert_allclose(chunked.emotion_logits, whole.emotion_logits, rtol=1e-4, atol=1e-4)


AUTOCAST_MODELS = "clip,vilt,blip2,mod-gpt,mmbert,cks"  # FROMAGe@tiny needs sticker texts, which mini MOD lacks


def test_autocast_is_recorded_and_a_run_directory_never_mixes_precisions(mini_mod_dir, tmp_path):
    dirs = {"fp32": tmp_path / "fp32", "bf16": tmp_path / "bf16"}
    args = ("--preset", "tiny", "--max-steps", "2", "--splits", "test_easy")
    assert run(mini_mod_dir, dirs["fp32"], *args, models=AUTOCAST_MODELS).returncode == 0
    proc = run(mini_mod_dir, dirs["bf16"], *args, "--autocast", "bf16", models=AUTOCAST_MODELS)
    assert proc.returncode == 0, proc.stderr
    res = {k: json.loads((d / "results.json").read_text()) for k, d in dirs.items()}
    for name in AUTOCAST_MODELS.split(","):
        split = {k: r["models"][name]["splits"]["test_easy"] for k, r in res.items()}
        assert split["bf16"]["identity"]["autocast"] == "bf16"
        assert "autocast" not in split["fp32"]["identity"]  # fp32 results read as they always did
        scores = {k: np.array([r["scores"] for r in rows(dirs[k] / split[k]["predictions"])]) for k in dirs}
        assert not np.array_equal(scores["fp32"], scores["bf16"]), name  # it did run in bf16
        spread = scores["fp32"].max() - scores["fp32"].min()
        if spread > 1e-2:  # (two training steps leave MMBERT's scores flat: bf16 noise is all there is)
            assert np.abs(scores["fp32"] - scores["bf16"]).max() < 0.05 * spread, name
    again = run(mini_mod_dir, dirs["bf16"], *args, models="clip")  # the same directory, now in fp32
    line = error_line(again)
    assert "autocast" in line and "--rescore-changed" in line


def test_pixels_prepared_ahead_give_the_features_of_plain_encoding(mini_dataset):
    stickers = mini_dataset.stickers
    ids = sorted(stickers)[:11]

    def pixels(images):
        return torch.stack(
            [torch.from_numpy(np.asarray(im.convert("L").resize((8, 8)), dtype=np.float32)) for im in images]
        )

    def embed(batch):
        if not isinstance(batch, torch.Tensor):
            batch = pixels(batch)
        return batch.flatten(1) / 255.0

    plain = encode_stickers(stickers, ids, embed, None, "fp", batch_size=4, progress=False)
    ahead = encode_stickers(stickers, ids, embed, None, "fp", batch_size=4, progress=False, preprocess=pixels)
    assert set(plain) == set(ahead) == set(ids)
    for sid in ids:
        torch.testing.assert_close(ahead[sid], plain[sid])


def test_a_failing_preprocess_surfaces_in_the_caller():
    def load(chunk):
        return chunk

    def preprocess(items):
        if "bad" in items:
            raise ValueError("cannot decode bad")
        return torch.zeros(len(items))

    out = pixel_batches(load, [["a"], ["bad"]], preprocess, "cpu")
    assert next(out).shape == (1,)
    with pytest.raises(ValueError, match="cannot decode bad"):
        next(out)


def test_batch_size_and_autocast_are_documented_options():
    from test_run_directory import cli

    out = cli("run", "--help").stdout
    assert "--autocast {off,bf16,fp16}" in out and "pairs" in out
