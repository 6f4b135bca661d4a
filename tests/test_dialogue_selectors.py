"""MOD-GPT, MMBERT and FROMAGe selectors on a tiny MOD-layout dataset.

Each selector is trained for a few steps once per module. The tests check the dialogue → turns
conversion on a concrete dialogue, the contract (conformance kit), one CLIP pass per unique
sticker, the paper loading path (same code, tiny saved checkpoints, identical scores), MMBERT's
negatives, and that FROMAGe never learns from the dialogue task's labels.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.candidates import sampled_candidates
from benchmark.conformance import check_selector
from benchmark.datasets.mod import load_mod
from benchmark.datasets.synthetic import sticker_emotion, write_tiny_mod
from benchmark.selector import SelectorContext, TrainConfig
from benchmark.types import Query, Utterance, query_for
from stickerbench.adapters.turns import context_turns, history_and_response
from stickerbench.models.dialogue import Turn

NAMES = ["mod-gpt", "mmbert", "fromage"]
FAST = TrainConfig(epochs=1, max_steps=3, patience=None, batch_size=8, amp=False)


def _module(name: str):
    return importlib.import_module(f"stickerbench.adapters.{name.replace('-', '_')}")


def _ctx(data, cache: Path, preset: str = "tiny", **options) -> SelectorContext:
    return SelectorContext(
        preset=preset,
        num_emotions=data.num_emotions,
        emotion_names=data.emotion_names,
        cache_dir=cache,
        options={"ocr": "none", **options},
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The tiny MOD layout plus sticker descriptions (what FROMAGe's tiny preset learns from)."""
    root = write_tiny_mod(tmp_path_factory.mktemp("mod") / "mod")
    stickers = json.loads((root / "id2img.json").read_text())
    meta = {sid: {"emotion": sticker_emotion(int(sid)), "character": "blob"} for sid in stickers}
    (root / "sticker_meta.json").write_text(json.dumps(meta))
    return load_mod(root)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # shared: the tiny CLIP is built once


@pytest.fixture(scope="module")
def trained(data, cache):
    out = {}
    for name in NAMES:
        sel = _module(name).build(_ctx(data, cache))
        sel.fit(data, FAST)
        out[name] = sel
    return out


def _queries(data, n=6, count=8) -> list[Query]:
    samples = data.split("test_easy")[:count]
    return [query_for(s, c) for s, c in zip(samples, sampled_candidates(samples, list(data.stickers), n, seed=1))]


def test_turns_of_a_concrete_dialogue():
    context = (
        Utterance("[speaker2]", "hi"),
        Utterance("[speaker1]", "so sad", sticker_id="0"),
        Utterance("[speaker2]", "oh no"),
        Utterance("[speaker1]", "yes"),
    )
    rows = {"0": 5, "7": 1}
    history, response = history_and_response(context, "[speaker1]", rows)
    assert history == [Turn(0, "hi"), Turn(1, "so sad", 5), Turn(0, "oh no")]  # sticker "0" is a sticker
    assert response == Turn(1, "yes")
    # a sticker sent on its own (the other speaker wrote last): empty response, full history
    history, response = history_and_response(context[:3], "[speaker1]", rows)
    assert len(history) == 3 and response == Turn(1, "")
    turns, sender = context_turns(context, "[speaker1]", rows)
    assert sender == 1 and [t.speaker for t in turns] == [0, 1, 0, 1]
    text_only, _ = context_turns(context, "[speaker1]", None)  # FROMAGe's LM text: no stickers
    assert [t.sticker for t in text_only] == [None] * 4 and text_only[1].text == "so sad"


@pytest.mark.parametrize("name", NAMES)
def test_conformance_kit(name, data, cache, tmp_path):
    report = check_selector(
        lambda ctx: _module(name).build(dataclasses.replace(ctx, cache_dir=cache, options={"ocr": "none"})),
        tmp_path,
        dataset=data,
        train=FAST,
    )
    assert report.checked_queries > 0


@pytest.mark.parametrize("name", NAMES)
def test_clip_runs_once_per_sticker_and_scores_are_batch_independent(name, data, trained, tmp_path):
    sel = type(trained[name]).load(_save(trained[name], tmp_path), _ctx(data, tmp_path / "fresh-cache"))
    tower = sel.model["clip"].vision if name != "fromage" else sel.model.visual
    seen = []
    tower.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["pixel_values"].shape[0]), with_kwargs=True
    )
    sel.prepare(data.stickers)
    queries = _queries(data)
    full = sel.score(queries)
    assert sum(seen) == len(data.stickers)  # once per sticker, not per candidate or per query
    one = np.concatenate([sel.score([q]).scores for q in queries])
    np.testing.assert_allclose(one, full.scores, rtol=1e-5, atol=1e-5)
    if name != "fromage":
        assert full.emotion_logits.shape == (len(queries), data.num_emotions)
    assert sum(seen) == len(data.stickers)


def _save(sel, tmp_path: Path) -> Path:
    sel.save(tmp_path / "ckpt")
    return tmp_path / "ckpt"


@pytest.mark.parametrize("name", ["mod-gpt", "mmbert"])
def test_paper_loading_path_gives_identical_scores(name, data, cache, tmp_path):
    """The tiny backbone, saved with save_pretrained, loads through the paper preset's code."""
    tiny = _module(name).build(_ctx(data, cache))
    tiny.ensure_model(data)
    root = Path(tiny.backbone_source)
    key = name.replace("-", "_")
    paper = _module(name).build(
        _ctx(data, cache, "paper", **{f"{key}_model": str(root / "lm"), f"{key}_clip": str(root / "clip")})
    )
    assert paper.meta.config["backbone"] == str(root / "lm")
    tiny.prepare(data.stickers)
    paper.prepare(data.stickers)
    queries = _queries(data)
    np.testing.assert_allclose(paper.score(queries).scores, tiny.score(queries).scores, rtol=1e-5, atol=1e-5)


def test_fromage_paper_loads_an_official_directory(data, trained, tmp_path):
    """A trained tiny FROMAGe written as model_args.json + pretrained_ckpt.pth.tar scores identically."""
    tiny = trained["fromage"]
    root = Path(tiny.backbone_source)
    official = tmp_path / "fromage_model"
    official.mkdir()
    state = {
        ("ret_input_embeddings.weight" if k == "ret_embedding" else f"model.{k}"): v.detach().cpu().clone()
        for k, v in tiny.model.trainable_state().items()
    }
    torch.save({"state_dict": state, "epoch": 3}, official / "pretrained_ckpt.pth.tar")
    args = tiny.model.args
    (official / "model_args.json").write_text(
        json.dumps(
            {
                "opt_version": "facebook/opt-6.7b",
                "visual_encoder": "openai/clip-vit-large-patch14",
                "n_visual_tokens": args.n_visual_tokens,
                "shared_emb_dim": args.shared_emb_dim,
                "text_emb_layers": [-1],
                "retrieval_token_idx": tiny.vocab.ret,
            }
        )
    )
    paper = _module("fromage").build(
        _ctx(
            data,
            tmp_path / "cache",
            "paper",
            fromage_model=str(official),
            fromage_lm=str(root / "lm"),
            fromage_clip=str(root / "clip"),
        )
    )
    paper.fit(data, FAST)  # zero-shot: trains nothing
    paper.prepare(data.stickers)
    tiny.prepare(data.stickers)
    queries = _queries(data)
    np.testing.assert_allclose(paper.score(queries).scores, tiny.score(queries).scores, rtol=1e-5, atol=1e-5)


def test_fromage_paper_without_the_official_files_says_what_to_do(data, tmp_path):
    from benchmark.errors import SelectorError

    paper = _module("fromage").build(_ctx(data, tmp_path, "paper", fromage_model=str(tmp_path)))
    with pytest.raises(SelectorError, match="fromage_model"):
        paper.ensure_model()


class _Unlabelled:
    """A training sample whose gold sticker and emotion cannot be read."""

    def __init__(self, sample):
        self.sample_id, self.context, self.speaker, self.meta = (
            sample.sample_id,
            sample.context,
            sample.speaker,
            sample.meta,
        )

    @property
    def gold(self):
        raise AssertionError(f"read the gold sticker of {self.sample_id}")

    @property
    def emotion(self):
        raise AssertionError(f"read the emotion label of {self.sample_id}")


def test_fromage_never_reads_dialogue_labels(data, cache, monkeypatch):
    """Zero-shot: the tiny preset trains on dialogue text and sticker descriptions only."""
    from stickerbench.adapters import tiny_clip

    blind = dataclasses.replace(data, splits={**data.splits, "train": [_Unlabelled(s) for s in data.split("train")]})
    blind.__dict__["fingerprint"] = data.fingerprint  # the checkpoint records it; computing it reads golds
    # the tiny CLIP's inventory (which stickers occur in train: a set, no pairing) is read from the golds
    inventory = tiny_clip.training_stickers(data)
    monkeypatch.setattr(tiny_clip, "training_stickers", lambda _: inventory)
    sel = _module("fromage").build(_ctx(data, cache))
    sel.fit(blind, FAST)
    assert sel._fit_info["result"]["steps"] > 0


def test_mmbert_negatives_come_from_training_golds_and_differ_from_the_positive(data, trained):
    from stickerbench.adapters.mmbert import MmbertRecipe

    recipe = MmbertRecipe(trained["mmbert"], data)
    golds = {s.gold for s in data.split("train")}
    rng = np.random.default_rng(0)
    pairs = [(g, n) for _ in range(5) for batch in recipe.batches(data, "train", 8, rng, 0) for _, _, g, n, _ in batch]
    assert all(n != g and n in golds for g, n in pairs)
    assert len({n for _, n in pairs}) > 1


def test_mmbert_emotion_comes_from_the_top_scored_candidate(data, trained):
    sel = trained["mmbert"]
    sel.prepare(data.stickers)
    q = _queries(data, count=1)[0]
    out = sel.score([q])
    top = q.candidates[int(out.scores[0].argmax())]
    alone = sel.score([dataclasses.replace(q, candidates=(top,))])
    np.testing.assert_allclose(alone.emotion_logits, out.emotion_logits, rtol=1e-5, atol=1e-5)
