"""The CKS selector: ablations, training/scoring/checkpoints on the tiny preset, the paper
loading path on tiny saved backbones, and the OCR cache."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.candidates import sampled_candidates
from benchmark.registry import build_selector
from benchmark.selector import SelectorContext, TrainConfig
from benchmark.types import query_for
from stickerbench.adapters.cks import backbones, presets


def _ctx(data, preset="tiny", **options) -> SelectorContext:
    return SelectorContext(
        preset=preset,
        num_emotions=data.num_emotions,
        emotion_names=data.emotion_names,
        cache_dir=Path(options.pop("cache_dir")),
        options={"ocr": "none", **options},
    )


def _queries(data, split="validation", n=6):
    samples = data.split(split)[:n]
    sets = sampled_candidates(samples, list(data.stickers), 5, seed=0)
    return [query_for(s, c) for s, c in zip(samples, sets)]


def _flat(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@pytest.mark.parametrize(
    "name, removed",
    [
        ("cks-no-keue", {"use_keue": False}),
        ("cks-no-vkd", {"use_vkd": False}),
        ("cks-no-cim", {"use_cim": False, "weights.triplet": 0.0}),
        ("cks-no-itc", {"weights.itc": 0.0}),
        ("cks-no-itm", {"weights.itm": 0.0}),
        ("cks-no-emo", {"weights.emo": 0.0}),
        ("cks-no-ocr", {"use_ocr": False}),
    ],
)
def test_each_ablation_removes_exactly_one_part(mini_dataset, tmp_path, name, removed):
    full = build_selector("cks", _ctx(mini_dataset, cache_dir=tmp_path))
    ablated = build_selector(name, _ctx(mini_dataset, cache_dir=tmp_path))
    a, b = _flat(asdict(full.model_config())), _flat(asdict(ablated.model_config()))
    assert {k: b[k] for k in a if a[k] != b[k]} == removed
    assert ablated.meta.name == name
    assert ablated.meta.supports_emotion == (name != "cks-no-emo")


def test_tiny_trains_scores_and_reloads(mini_dataset, tmp_path):
    ctx = _ctx(mini_dataset, cache_dir=tmp_path)
    sel = build_selector("cks", ctx)
    sel.fit(mini_dataset, TrainConfig(epochs=1, max_steps=2, batch_size=16, validation_split=None))
    assert sel.model.training is False
    sel.prepare(mini_dataset.stickers)
    queries = _queries(mini_dataset)
    out = sel.score(queries)
    assert out.scores.shape == (6, 5) and np.isfinite(out.scores).all()
    assert out.emotion_logits.shape == (6, mini_dataset.num_emotions)
    sel.save(tmp_path / "ckpt")
    again = type(sel).load(tmp_path / "ckpt", ctx)
    again.prepare(mini_dataset.stickers)
    reloaded = again.score(queries)
    np.testing.assert_allclose(reloaded.scores, out.scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reloaded.emotion_logits, out.emotion_logits, rtol=1e-5, atol=1e-5)


def test_ablations_share_the_tiny_init_and_no_emo_predicts_no_emotion(mini_dataset, tmp_path):
    full = build_selector("cks", _ctx(mini_dataset, cache_dir=tmp_path))
    no_emo = build_selector("cks-no-emo", _ctx(mini_dataset, cache_dir=tmp_path))
    full.ensure_model(mini_dataset)
    no_emo.ensure_model(mini_dataset)
    assert full.backbone_source == no_emo.backbone_source
    no_emo.prepare(mini_dataset.stickers)
    assert no_emo.score(_queries(mini_dataset)).emotion_logits is None


def test_knowledge_is_read_from_the_cache_when_scoring(mini_dataset, tmp_path):
    sel = build_selector("cks", _ctx(mini_dataset, cache_dir=tmp_path))
    sel.ensure_model(mini_dataset)
    sel.prepare(mini_dataset.stickers)
    queries = _queries(mini_dataset, "test_easy")
    sel.score(queries)
    calls = sel.comet.calls
    assert calls > 0
    sel.score(queries)
    assert sel.comet.calls == calls


class _CountingOcr:
    name = "counting"
    fingerprint = "counting-v1"

    def __init__(self):
        self.reads = 0

    def read(self, image) -> str:
        self.reads += 1
        return "love it"


def test_ocr_runs_once_per_sticker_across_runs(mini_dataset, tmp_path, monkeypatch):
    import benchmark.ocr

    engines = []
    monkeypatch.setattr(
        benchmark.ocr, "make_ocr_engine", lambda name, lang="en": engines.append(_CountingOcr()) or engines[-1]
    )
    for _ in range(2):
        sel = build_selector("cks", _ctx(mini_dataset, cache_dir=tmp_path, ocr="rapidocr"))
        sel.ensure_model(mini_dataset)
        sel.prepare(mini_dataset.stickers)
    assert [e.reads for e in engines] == [len(mini_dataset.stickers), 0]
    sticker = next(iter(mini_dataset.stickers))
    ids, mask = sel._ocr[sticker]
    assert sel.bert_tok.decode(ids[mask.bool()], skip_special_tokens=True) == "love it"
    no_ocr = build_selector("cks-no-ocr", _ctx(mini_dataset, cache_dir=tmp_path, ocr="rapidocr"))
    assert no_ocr.ocr_engine == "none"


def test_paper_preset_loads_every_backbone_with_from_pretrained(mini_dataset, tmp_path):
    saved = backbones.write_tiny_backbones(mini_dataset, tmp_path / "hub", seed=0)
    options = {f"{role}_model": str(saved / role) for role in backbones.ROLES}
    sel = build_selector("cks", _ctx(mini_dataset, "paper", cache_dir=tmp_path / "cache", **options))
    assert sel.meta.config["model"]["layers"] == 12 and sel.meta.config["model"]["width"] == 512
    sel.prepare(mini_dataset.stickers)  # builds from the four directories
    assert sel.model.encoder.match.in_features == 512
    out = sel.score(_queries(mini_dataset, n=2))
    assert out.scores.shape == (2, 5) and np.isfinite(out.scores).all()
    assert sel.comet.name == str(saved / "comet")


def test_paper_backbones_get_speaker_tokens(mini_dataset):
    from transformers import BertConfig, BertModel

    from benchmark.tiny_tokenizer import dataset_texts, train_tiny_tokenizer

    tok = train_tiny_tokenizer(dataset_texts(mini_dataset))
    model = BertModel(
        BertConfig(
            vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    )
    backbones.with_speaker_tokens(tok, model)
    assert model.get_input_embeddings().num_embeddings == len(tok)
    ids = tok("[speaker1] hello")["input_ids"]
    assert tok.convert_tokens_to_ids("[speaker1]") in ids
    assert torch.is_tensor(model(input_ids=torch.tensor([ids])).last_hidden_state)


def test_tiny_ive_starts_from_the_shared_description_pretrained_clip(mini_dataset, tmp_path):
    from transformers import CLIPModel

    from stickerbench.adapters.tiny_clip import tiny_clip_config, tiny_clip_dir

    sel = build_selector("cks", _ctx(mini_dataset, cache_dir=tmp_path))
    assert sel.meta.config["tiny_clip"] == tiny_clip_config()
    sel.ensure_model(mini_dataset)
    assert str(backbones._tiny_clip_key()) in Path(sel.backbone_source).name
    clip = CLIPModel.from_pretrained(tiny_clip_dir(mini_dataset, tmp_path, seed=0))
    loaded = sel.model.ive.vision.state_dict()
    expected = {
        k.removeprefix("vision_model."): v for k, v in clip.state_dict().items() if k.startswith("vision_model.")
    }
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():  # loaded, not re-initialised
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    assert sel.processor.crop_size["height"] == tiny_clip_config()["image_size"]
    roberta = sel.model.utterances.utterance_encoder.config
    assert roberta.hidden_dropout_prob == roberta.attention_probs_dropout_prob == 0.0  # no dropout in tiny
    assert sel.model.encoder.token_embeddings.dropout.p == 0.0


def test_tiny_vision_tower_trains_at_a_scaled_learning_rate(mini_dataset, tmp_path):
    from benchmark.trainer import resolve_config

    sel = build_selector("cks", _ctx(mini_dataset, cache_dir=tmp_path))
    sel.ensure_model(mini_dataset)
    recipe = sel.recipe(mini_dataset)
    groups = recipe.param_groups(resolve_config(TrainConfig(), recipe.defaults))
    vision = {id(p) for p in sel.model.ive.vision.parameters()}
    assert [len(g["params"]) for g in groups] == [
        len([p for p in sel.model.parameters() if id(p) not in vision]),
        len(vision),
    ]
    assert {id(p) for p in groups[1]["params"]} == vision
    assert groups[1]["lr"] == pytest.approx(recipe.defaults.lr * presets.PRESETS["tiny"].vision_lr_scale)
    assert "lr" not in groups[0]  # the trainer fills in the recipe's lr


def test_package_names_resolve_lazily_and_the_command_module_needs_no_torch():
    import subprocess
    import sys

    import stickerbench.adapters.cks as cks
    from stickerbench.adapters.cks.selector import CKSSelector, build
    from stickerbench.adapters.cks.variants import CKSNoEmo, CKSNoOCR

    assert (cks.build, cks.CKSSelector) == (build, CKSSelector)
    assert (cks.CKSNoEmo, cks.CKSNoOCR) == (CKSNoEmo, CKSNoOCR)
    with pytest.raises(AttributeError):
        cks.no_such_name  # noqa: B018
    code = (
        "import sys, stickerbench.adapters.cks.commands; "
        "print(sorted(m for m in sys.modules if m.startswith(('torch', 'transformers', 'stickerbench.adapters.cks.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['stickerbench.adapters.cks.commands']"
