"""CLIP, ViLT and BLIP-2 selectors on a tiny MOD-layout dataset.

Each selector is trained for a few steps once per module; the tests check the paper loading path,
encoder calls per unique sticker, batch/order independence, checkpoints, and each model's own
invariants (ViLT's cached patch embeddings, BLIP-2's cached vision states and frozen backbone,
the LAVIS key mapping).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.candidates import sampled_candidates
from benchmark.checkpoints import WEIGHTS, load_weights
from benchmark.conformance import check_selector
from benchmark.datasets.mod import load_mod
from benchmark.datasets.synthetic import write_tiny_mod
from benchmark.selector import SelectorContext, TrainConfig
from benchmark.types import Query, query_for

NAMES = ["clip", "vilt", "blip2"]
FAST = TrainConfig(epochs=1, max_steps=3, patience=None, batch_size=8, amp=False)


def _ctx(dataset, cache: Path, preset: str = "tiny", **options) -> SelectorContext:
    return SelectorContext(
        preset=preset,
        num_emotions=dataset.num_emotions,
        emotion_names=dataset.emotion_names,
        cache_dir=cache,
        options=options,
    )


def _build(name: str, ctx: SelectorContext):
    return importlib.import_module(f"stickerbench.adapters.{name}").build(ctx)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_mod(write_tiny_mod(tmp_path_factory.mktemp("mod") / "mod"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """name → a tiny selector trained for a few steps (shared: training is the slow part)."""
    out = {}
    for name in NAMES:
        sel = _build(name, _ctx(data, tmp_path_factory.mktemp(f"cache-{name}")))
        sel.fit(data, FAST)
        out[name] = sel
    return out


def _queries(data, split="test_easy", n=6, count=8) -> list[Query]:
    samples = data.split(split)[:count]
    return [query_for(s, c) for s, c in zip(samples, sampled_candidates(samples, list(data.stickers), n, seed=1))]


class ImageCounter:
    """Counts images entering a module (sum of the batch dimension of its first input)."""

    def __init__(self, module: torch.nn.Module):
        self.images = 0
        module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        x = args[0] if args else next(iter(kwargs.values()))
        self.images += x.shape[0]


def _image_encoder(name: str, sel) -> torch.nn.Module:
    return {
        "clip": lambda m: m.vision_model,
        "vilt": lambda m: m.vilt.embeddings.patch_embeddings,
        "blip2": lambda m: m.vision_model,
    }[name](sel.model)


@pytest.mark.parametrize("name", NAMES)
def test_conformance_kit(name, data, tmp_path):
    check_selector(lambda ctx: _build(name, ctx), tmp_path, dataset=data, train=FAST)


@pytest.mark.parametrize("name", NAMES)
def test_image_encoder_runs_once_per_unique_sticker(name, data, trained, tmp_path):
    sel = trained[name]
    sel.ctx = _ctx(data, tmp_path)  # a cold feature cache
    counter = ImageCounter(_image_encoder(name, sel))
    sel.prepare(data.stickers)
    queries = _queries(data, count=12)
    sel.score(queries)
    sel.score(queries)
    assert counter.images == len(data.stickers)  # not once per (query, candidate) pair
    sel.prepare(data.stickers)  # a second run reads the disk cache
    assert counter.images == len(data.stickers)


@pytest.mark.parametrize("name", NAMES)
def test_scores_do_not_depend_on_batch_size_or_candidate_order(name, data, trained):
    sel = trained[name]
    sel.prepare(data.stickers)
    queries = _queries(data, count=len(data.split("test_easy")))
    # Scores, not metrics: a barely trained model's near-ties would let 1e-8 noise flip ranks.
    by_batch = {
        k: np.concatenate([sel.score(queries[i : i + k]).scores for i in range(0, len(queries), k)]) for k in (1, 7, 64)
    }
    np.testing.assert_allclose(by_batch[1], by_batch[7], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(by_batch[1], by_batch[64], rtol=1e-5, atol=1e-5)
    full = sel.score(queries).scores
    rng = np.random.default_rng(0)
    perms = [rng.permutation(len(q.candidates)) for q in queries]
    shuffled = [
        Query(q.sample_id, q.context, q.speaker, tuple(q.candidates[i] for i in p)) for q, p in zip(queries, perms)
    ]
    got = sel.score(shuffled).scores
    for row, p in enumerate(perms):
        np.testing.assert_allclose(got[row], full[row][p], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_paper_loading_path_gives_identical_scores(name, data, trained, tmp_path):
    """A tiny model saved with save_pretrained loads through the paper preset's from_pretrained."""
    sel = trained[name]
    local = tmp_path / "pretrained"
    sel.model.save_pretrained(local)
    sel.tokenizer.save_pretrained(local)
    sel.processor.save_pretrained(local)
    paper = _build(name, _ctx(data, tmp_path / "cache", "paper", **{f"{name}_model": str(local)}))
    assert paper.meta.config["backbone"] == str(local)
    sel.prepare(data.stickers)
    paper.prepare(data.stickers)
    queries = _queries(data)
    np.testing.assert_allclose(paper.score(queries).scores, sel.score(queries).scores, rtol=1e-5, atol=1e-5)
    assert paper.meta.num_parameters == sum(p.numel() for p in sel.model.parameters())

    # A paper checkpoint stores only what training changed and reloads onto the same backbone.
    paper.fit(data, FAST)
    paper.save(tmp_path / "ckpt")
    saved = set(load_weights(tmp_path / "ckpt" / WEIGHTS))
    assert saved == {n for n, p in paper.model.named_parameters() if p.requires_grad}
    assert not (tmp_path / "ckpt" / "backbone").exists()
    again = type(paper).load(tmp_path / "ckpt", paper.ctx)
    paper.prepare(data.stickers)
    again.prepare(data.stickers)
    np.testing.assert_allclose(again.score(queries).scores, paper.score(queries).scores, rtol=1e-5, atol=1e-5)


def test_a_tiny_selector_must_be_trained_or_loaded(data, tmp_path):
    from benchmark.errors import SelectorError

    sel = _build("clip", _ctx(data, tmp_path))
    with pytest.raises(SelectorError, match="random-init"):
        sel.prepare(data.stickers)


def test_clip_score_is_scaled_cosine(data, trained):
    sel = trained["clip"]
    sel.prepare(data.stickers)
    q = _queries(data, count=1)[0]
    with torch.inference_mode():
        text = sel.tokenize([q.context[-1].text])
        t = sel.model.get_text_features(**text).pooler_output
        px = sel.pixel_values([data.stickers.image(c) for c in q.candidates])
        v = sel.model.get_image_features(pixel_values=px).pooler_output
        expected = sel.model.logit_scale.exp() * torch.nn.functional.cosine_similarity(t, v)
    np.testing.assert_allclose(sel.score([q]).scores[0], expected.numpy(), rtol=1e-4, atol=1e-5)


def test_vilt_cached_patch_embeddings_match_the_full_model(data, trained):
    sel = trained["vilt"]
    sel.prepare(data.stickers)
    q = _queries(data, count=1)[0]
    with torch.inference_mode():
        text = sel.tokenize([" ".join(u.text for u in q.context)] * len(q.candidates))
        px = sel.processor(images=[data.stickers.image(c) for c in q.candidates], return_tensors="pt")
        full = sel.model(
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            pixel_values=px["pixel_values"],
            pixel_mask=px["pixel_mask"],
        ).logits[:, 0]
    np.testing.assert_allclose(sel.score([q]).scores[0], full.numpy(), rtol=1e-4, atol=1e-5)


def test_blip2_cached_vision_states_match_the_full_model(data, trained):
    sel = trained["blip2"]
    sel.prepare(data.stickers)
    q = _queries(data, count=1)[0]
    with torch.inference_mode():
        text = sel.tokenize([" ".join(u.text for u in q.context)] * len(q.candidates))
        px = sel.processor(images=[data.stickers.image(c) for c in q.candidates], return_tensors="pt")["pixel_values"]
        logits = sel.model(
            pixel_values=px,
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            use_image_text_matching_head=True,
        ).logits_per_image
    np.testing.assert_allclose(sel.score([q]).scores[0], (logits[:, 1] - logits[:, 0]).numpy(), rtol=1e-4, atol=1e-5)


def test_blip2_paper_recipe_trains_only_the_itm_head(data, trained, tmp_path):
    local = tmp_path / "pretrained"
    for part in ("model", "tokenizer", "processor"):
        getattr(trained["blip2"], part).save_pretrained(local)
    paper = _build("blip2", _ctx(data, tmp_path / "cache", "paper", blip2_model=str(local)))
    paper.ensure_model()
    before = {n: p.detach().clone() for n, p in paper.model.named_parameters()}
    paper.fit(data, TrainConfig(epochs=1, max_steps=3, patience=None, batch_size=8, lr=1e-2, amp=False))
    changed = {n for n, p in paper.model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed == {"itm_head.weight", "itm_head.bias"}


# ----------------------------------------------------------------------------- LAVIS mapping


def _to_lavis(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Write a transformers BLIP-2 retrieval state dict under LAVIS's names (the inverse renames)."""
    out = {}
    for key, value in state.items():
        k = key
        if ".self_attn.qkv.bias" in k:
            layer = k.split(".")[3]
            q, _, v = value.chunk(3)
            out[f"visual_encoder.blocks.{layer}.attn.q_bias"] = q
            out[f"visual_encoder.blocks.{layer}.attn.v_bias"] = v
            continue
        for new, old in (
            ("vision_model.embeddings.class_embedding", "visual_encoder.cls_token"),
            ("vision_model.embeddings.position_embedding", "visual_encoder.pos_embed"),
            ("vision_model.embeddings.patch_embedding", "visual_encoder.patch_embed.proj"),
            ("vision_model.encoder.layers.", "visual_encoder.blocks."),
            ("layer_norm1", "norm1"),
            ("layer_norm2", "norm2"),
            ("self_attn.qkv", "attn.qkv"),
            ("self_attn.projection", "attn.proj"),
            ("vision_model.post_layernorm", "ln_vision"),
            ("qformer.layernorm", "Qformer.bert.embeddings.LayerNorm"),
            ("embeddings.word_embeddings", "Qformer.bert.embeddings.word_embeddings"),
            ("embeddings.position_embeddings", "Qformer.bert.embeddings.position_embeddings"),
            ("qformer.encoder.", "Qformer.bert.encoder."),
            ("attention.attention.", "attention.self."),
            ("crossattention.attention.", "crossattention.self."),
            ("vision_projection", "vision_proj"),
            ("text_projection", "text_proj"),
        ):
            if new in k and not (new.startswith("embeddings.") and not k.startswith("embeddings.")):
                k = k.replace(new, old)
        out[k] = value
    out["temp"] = torch.tensor(0.07)
    out["Qformer.bert.embeddings.position_ids"] = torch.arange(4)[None]
    out["Qformer.cls.predictions.bias"] = torch.zeros(3)
    return out


def test_lavis_checkpoint_keys_map_onto_the_transformers_port(trained, data, tmp_path):
    from stickerbench.models.blip2 import lavis_to_transformers

    model = trained["blip2"].model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for key, value in state.items():  # LAVIS has no key bias: the port's must be zero to round-trip
        if key.endswith("self_attn.qkv.bias"):
            value.view(3, -1)[1].zero_()
    lavis = _to_lavis(state)
    assert (
        "visual_encoder.blocks.0.attn.q_bias" in lavis
        and "Qformer.bert.encoder.layer.0.attention.self.query.weight" in lavis
    )
    mapped = lavis_to_transformers(lavis)
    assert set(mapped) == set(state)
    for key in state:
        torch.testing.assert_close(mapped[key], state[key])

    torch.save({"model": lavis}, tmp_path / "lavis.pth")
    local = tmp_path / "pretrained"
    for part in ("model", "tokenizer", "processor"):
        getattr(trained["blip2"], part).save_pretrained(local)
    sel = _build(
        "blip2",
        _ctx(
            data,
            tmp_path / "cache",
            "paper",
            blip2_model=str(local),
            blip2_lavis_checkpoint=str(tmp_path / "lavis.pth"),
        ),
    )
    sel.ensure_model()
    torch.testing.assert_close(sel.model.state_dict()["itm_head.weight"], state["itm_head.weight"])

    with pytest.raises(KeyError, match="no transformers counterpart"):
        lavis_to_transformers({**lavis, "visual_encoder.blocks.0.gamma_1": torch.ones(2)})
