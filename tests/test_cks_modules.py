"""Issue 13 on concrete inputs: each reading of CIM and VKD, the paper-exact switches (ITC under DDP,
Adam's L2 decay), and the baselines' and tiny CLIP's inductive, as-published settings."""

from __future__ import annotations

import math
import socket
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from benchmark.distributed import gather_with_grad
from benchmark.selector import TrainConfig
from benchmark.trainer import RecipeDefaults, resolve_config, train
from stickerbench.models.cks.dct import CIM_READINGS, dct2, randomised_mask, style_noise, style_randomise
from stickerbench.models.cks.ive import InterventionalVisualExtractor, VisualKnowledgeDeconfounder
from stickerbench.models.cks.losses import LossWeights
from stickerbench.models.cks.model import CKS, CKSConfig, DialogueInputs

# ----------------------------------------------------------------------------- CIM: the band


def _h(a: float, b: float) -> float:
    r2 = a * a + b * b
    return math.exp(-r2 / 0.7**2) - math.exp(-r2 / 0.005**2)


def test_index_reading_randomises_three_low_coefficients():
    m = randomised_mask(8, 8, CIM_READINGS["index"], dtype=torch.float64)
    assert m[0, 0] == 0 and m[0, 1].item() == pytest.approx(math.exp(-1 / 0.49))
    assert m[1, 1].item() == pytest.approx(_h(1, 1))
    assert {tuple(i) for i in (m > 1e-3).nonzero().tolist()} == {(0, 1), (1, 0), (1, 1)}


def test_normalised_reading_randomises_almost_the_whole_spectrum():
    m = randomised_mask(8, 8, CIM_READINGS["normalised"], dtype=torch.float64)
    assert m[0, 0] == 0
    assert m[3, 2].item() == pytest.approx(_h(3 / 8, 2 / 8))
    assert (m > 0.1).sum() == 58 and (m[1:4, 1:4] > 0.5).all()  # of 64: the glyph's low band goes too


def test_extremes_reading_randomises_what_the_band_pass_stops_and_keeps_dc():
    m = randomised_mask(8, 8, CIM_READINGS["extremes"], dtype=torch.float64)
    assert m[0, 0] == 0  # the mean colour is kept
    assert m[7, 7].item() == pytest.approx(1 - _h(7 / 8, 7 / 8))  # the highest frequency: 0.956
    assert m[1, 0].item() == pytest.approx(1 - _h(1 / 8, 0)) and m[1, 0] < 0.05  # the glyph's band stays
    assert m[7, 7] > 0.9 > m[2, 2]


@pytest.mark.parametrize("name", list(CIM_READINGS))
def test_each_reading_changes_exactly_its_coefficients(name):
    reading = CIM_READINGS[name]
    img = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    mask = randomised_mask(8, 8, reading, dtype=torch.float64)
    noise = style_noise(img, reading, torch.Generator().manual_seed(0))
    assert noise.shape == ((2, 3, 1, 1) if reading.noise == "channel" else (2, 3, 8, 8))
    out = style_randomise(img, mask, noise)
    before, after = dct2(img), dct2(out)
    torch.testing.assert_close(after, before + mask * before * noise)  # Gus(x) = x(1 + n) on M·F(I)
    kept = (mask == 0).expand_as(after)
    torch.testing.assert_close(after[kept], before[kept], rtol=0, atol=1e-12)  # DC in every reading


# ----------------------------------------------------------------------------- VKD


class _Vision(nn.Module):
    """A stand-in CLIP vision tower: pooler_output = Linear(flattened pixels)."""

    def __init__(self, dim: int, pixels: int):
        super().__init__()
        self.config = SimpleNamespace(hidden_size=dim)
        self.proj = nn.Linear(pixels, dim)

    def forward(self, pixel_values):
        return SimpleNamespace(pooler_output=self.proj(pixel_values.flatten(1)))


def test_attention_vkd_varies_with_the_sticker_and_is_fc_of_the_expected_confounder():
    torch.manual_seed(0)
    w = torch.randn(6, 8)
    w = torch.randn(1, 8) * 5 + 0.1 * torch.randn(6, 8)  # six nearly parallel rows, as BERT's [CLS] gives
    vkd = VisualKnowledgeDeconfounder(w, "attention")
    v = torch.randn(5, 8)
    standard = (w - w.mean(0)) / w.std(0)  # by hand: each dimension standardised over the six rows
    torch.testing.assert_close(vkd.confounders, standard)
    att = torch.softmax(v @ standard.T / math.sqrt(8), -1)
    v_bar = vkd(v)
    torch.testing.assert_close(v_bar, (att @ standard) @ vkd.fc.weight.T + vkd.fc.bias)
    assert v_bar.std(0).mean() / v_bar.abs().mean() > 0.2  # it varies with the sticker
    literal = VisualKnowledgeDeconfounder(w, "literal")
    literal.fc.load_state_dict(vkd.fc.state_dict())
    raw = torch.softmax((torch.softmax(v @ w.T / math.sqrt(8), -1) @ w) @ vkd.fc.weight.T + vkd.fc.bias, -1)
    torch.testing.assert_close(literal(v), raw)
    assert literal(v).std(0).mean() / literal(v).abs().mean() < 0.2 * v_bar.std(0).mean() / v_bar.abs().mean()


@pytest.mark.parametrize("reading, reaches_fc", [("attention", True), ("literal", False)])
def test_vkd_fc_gradient_at_the_first_step(reading, reaches_fc):
    torch.manual_seed(0)
    ive = InterventionalVisualExtractor(_Vision(8, 3 * 4 * 4), torch.randn(6, 8), vkd=reading)
    ive.train()
    v = ive(torch.randn(4, 3, 4, 4)).unbiased
    (v**2).sum().backward()
    grad = ive.vkd.fc.weight.grad
    if reaches_fc:
        assert grad.norm() > 0
    else:  # the literal start [0 | I] cuts VKD off: v = ṽ
        assert grad is None or grad.abs().max() == 0


# ----------------------------------------------------------------------------- ITC under DDP


class _Encoder(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.config = SimpleNamespace(hidden_size=dim)
        self.embed = nn.Embedding(20, dim)

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(last_hidden_state=self.embed(input_ids))


class _Tokens(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.embed = nn.Embedding(20, dim)

    def forward(self, input_ids):
        return self.embed(input_ids)


def _itc_model() -> CKS:
    torch.manual_seed(0)
    cfg = CKSConfig(
        num_emotions=3,
        width=8,
        layers=1,
        heads=2,
        lstm_hidden=4,
        dropout=0.0,
        use_keue=False,
        weights=LossWeights(itm=0.0, emo=0.0, triplet=0.0),
    )
    return CKS(cfg, _Encoder(8), _Tokens(8), 8, _Vision(8, 3 * 4 * 4), torch.randn(6, 8), knowledge_dim=5).eval()


def _itc_batch(rows: slice):
    g = torch.Generator().manual_seed(1)
    b, t, length = 6, 2, 3
    ids = torch.randint(1, 20, (b, t, length), generator=g)
    ones = torch.ones(b, t, dtype=torch.long)
    d = DialogueInputs(
        ids, torch.ones_like(ids), ones, torch.zeros_like(ones), None, ids[:, 0], torch.ones_like(ids[:, 0])
    )
    d = DialogueInputs(*(None if x is None else x[rows] for x in vars(d).values()))
    pixels = torch.randn(b, 3, 4, 4, generator=g)[rows]
    keys = torch.tensor([0, 1, 2, 0, 3, 4])[rows]  # sticker 0 is the gold twice, on both ranks
    return d, pixels, keys


def _itc(model: CKS, rows: slice, gather=None) -> torch.Tensor:
    d, pixels, keys = _itc_batch(rows)
    no_ocr = (torch.zeros(len(keys), 1, dtype=torch.long),) * 2
    return model.losses(d, pixels, pixels, no_ocr, no_ocr, keys, torch.full_like(keys, -100), gather=gather)["itc"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _itc_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        model = _itc_model()
        loss = _itc(model, slice(3 * rank, 3 * rank + 3), gather=gather_with_grad)
        loss.backward()
        grads = [p.grad.clone() for p in (model.logit_scale, model.ive.vision.proj.weight)]
        for g in grads:  # what DDP does with them: the mean over the ranks
            dist.all_reduce(g)
            g /= world
        if rank == 0:
            torch.save({"loss": loss.detach(), "grads": grads}, out)
    finally:
        dist.barrier()
        dist.destroy_process_group()


def test_itc_over_two_gloo_ranks_equals_the_single_process_loss(tmp_path):
    model = _itc_model()
    single = _itc(model, slice(0, 6))
    single.backward()
    out = str(tmp_path / "itc.pt")
    mp.spawn(_itc_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    torch.testing.assert_close(ddp["loss"], single.detach())
    torch.testing.assert_close(ddp["grads"][0], model.logit_scale.grad)
    torch.testing.assert_close(ddp["grads"][1], model.ive.vision.proj.weight.grad)
    local = _itc(_itc_model(), slice(0, 3))  # without the gather a rank sees only its own negatives
    assert not torch.isclose(local, single)


# ----------------------------------------------------------------------------- Adam vs AdamW


class _OneStep:
    """A recipe with one parameter θ = (1, −2) and loss g·θ, so ∂L/∂θ = g = (0.05, 0.1)."""

    def __init__(self, optimizer: str):
        self.module = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.module.weight.copy_(torch.tensor([[1.0, -2.0]]))
        self.defaults = RecipeDefaults(
            epochs=1, batch_size=1, lr=0.1, weight_decay=0.1, optimizer=optimizer, warmup_ratio=0.0, grad_clip=0.0
        )

    def batches(self, data, split, batch_size, rng, epoch):
        yield [0]

    def loss(self, examples):
        return {"loss": (self.module.weight * torch.tensor([[0.05, 0.1]])).sum()}


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        # Adam, L2: g' = g + wd·θ = (0.15, −0.1); the first step is lr·g'/(|g'| + eps)
        ("adam", [1 - 0.1 * 0.15 / (0.15 + 1e-8), -2 + 0.1 * 0.1 / (0.1 + 1e-8)]),
        # AdamW, decoupled: θ(1 − lr·wd) − lr·g/(|g| + eps)
        ("adamw", [1 * 0.99 - 0.1 * 0.05 / (0.05 + 1e-8), -2 * 0.99 - 0.1 * 0.1 / (0.1 + 1e-8)]),
    ],
)
def test_one_optimiser_step_by_hand(optimizer, expected):
    recipe = _OneStep(optimizer)
    data = SimpleNamespace(split=lambda name: [0])
    train(recipe, data, TrainConfig(epochs=1, amp=False, validation_split=None, patience=None), progress=False)
    torch.testing.assert_close(recipe.module.weight.detach()[0], torch.tensor(expected))


def test_recipe_settings_fill_what_the_train_config_leaves_open():
    public = RecipeDefaults(epochs=1, batch_size=8, lr=1e-3, warmup_ratio=0.0, grad_clip=0.0, betas=(0.9, 0.98))
    run = resolve_config(TrainConfig(), public)
    assert (run.warmup_ratio, run.grad_clip, run.betas, run.optimizer) == (0.0, 0.0, (0.9, 0.98), "adamw")
    assert resolve_config(TrainConfig(grad_clip=0.5), public).grad_clip == 0.5  # an explicit setting wins
    shared = resolve_config(TrainConfig(), RecipeDefaults(epochs=1, batch_size=8, lr=1e-3))
    assert (shared.warmup_ratio, shared.grad_clip) == (0.06, 1.0)


# ----------------------------------------------------------------------------- options in meta.config


def _ctx(data, tmp_path, preset="tiny", **options):
    from benchmark.selector import SelectorContext

    return SelectorContext(
        preset=preset,
        num_emotions=data.num_emotions,
        emotion_names=data.emotion_names,
        cache_dir=tmp_path / "cache",
        options={"ocr": "none", **options},
    )


def test_cks_readings_and_switches_are_options_recorded_in_the_config(mini_dataset, tmp_path):
    from benchmark.errors import SelectorError
    from benchmark.registry import build_selector

    default = build_selector("cks", _ctx(mini_dataset, tmp_path)).meta.config
    assert default["model"]["cim_positions"] == "extremes" and default["model"]["vkd"] == "attention"
    assert default["model"]["fused_negatives"] is False and default["model"]["keue_value"] == "f_q"
    assert default["comet_state"] == "decoder" and default["recipe"]["optimizer"] == "adamw"  # tiny: see presets
    from stickerbench.adapters.cks.presets import PRESETS

    assert PRESETS["paper"].train.optimizer == "adam"  # the paper's Adam with L2 decay
    options = dict(cim_positions="index", vkd="literal", fused_negatives="1", keue_value="f_k")
    chosen = build_selector("cks", _ctx(mini_dataset, tmp_path, comet_state="encoder", optimizer="adam", **options))
    cfg = chosen.meta.config
    assert {k: cfg["model"][k] for k in options} == {**options, "fused_negatives": True}
    assert cfg["comet_state"] == "encoder" and cfg["recipe"]["optimizer"] == "adam"
    with pytest.raises(SelectorError, match="cim_positions"):
        build_selector("cks", _ctx(mini_dataset, tmp_path, cim_positions="pixels"))


# ----------------------------------------------------------------------------- baselines and the tiny CLIP


def test_mod_gpt_emotion_head_reads_a_detached_tag_unless_joint():
    from _tiny_tokenizer import word_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    from stickerbench.models.dialogue import Turn
    from stickerbench.models.mod_gpt import ModGPT, add_mod_gpt_tokens, build_example, collate

    tokenizer = word_tokenizer(["so", "sad", "yay"])
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2, n_positions=32))
    vocab = add_mod_gpt_tokens(tokenizer, lm)
    tokenize = lambda text: tokenizer(text, add_special_tokens=False).input_ids  # noqa: E731
    batch = collate([build_example([Turn(0, "so sad", sticker=1)], Turn(1, "yay"), tokenize, vocab, 32)], vocab.pad)
    for joint in (False, True):
        model = ModGPT(lm, 4, num_emotions=3, joint_emotion=joint)
        lm.zero_grad(set_to_none=True)
        model(batch, torch.randn(3, 4)).emotion_logits.sum().backward()
        reached = lm.transformer.wte.weight.grad
        assert (reached is not None and reached.abs().sum() > 0) == joint
        assert model.emotion_head.weight.grad.abs().sum() > 0


def test_mod_gpt_feature_statistics_are_restored_from_the_checkpoint(mini_dataset, tmp_path):
    from benchmark.registry import build_selector
    from benchmark.types import StickerStore

    ctx = _ctx(mini_dataset, tmp_path)
    sel = build_selector("mod-gpt", ctx)
    sel.fit(mini_dataset, TrainConfig(epochs=1, max_steps=1, validation_split=None, amp=False))
    mean, scale = sel._stats
    sel.save(tmp_path / "ckpt")
    again = type(sel).load(tmp_path / "ckpt", ctx)
    torch.testing.assert_close(again._stats[0], mean)
    torch.testing.assert_close(again._stats[1], scale)
    few = StickerStore([mini_dataset.stickers[i] for i in list(mini_dataset.stickers)[:3]])
    again.prepare(few)  # another store: the saved statistics, not the store's own
    torch.testing.assert_close(again.table, (again.stickers.matrix - mean) / scale)
    assert not torch.allclose(mean, again.stickers.matrix.mean(0))


def test_baselines_paper_recipes_are_the_public_ones():
    from stickerbench.adapters import mmbert, mod_gpt

    mm = mmbert.DEFAULTS["paper"]
    assert (mm.batch_size, mm.lr, mm.betas, mm.weight_decay) == (8, 9e-6, (0.9, 0.98), 0.2)
    assert (mm.schedule, mm.warmup_ratio, mm.grad_clip) == ("cosine", 0.0, 0.0)
    gpt = mod_gpt.DEFAULTS["paper"]
    assert (gpt.batch_size, gpt.lr, gpt.epochs, gpt.schedule, gpt.grad_clip) == (1, 6e-5, 10, "constant", 1.0)


def test_ocr_language_follows_the_dataset():
    from benchmark.ocr import ocr_language

    assert ocr_language("mod") == "ch" and ocr_language("mojichat") == "en"


def test_tiny_clip_sees_only_training_stickers(mini_dataset, tmp_path, monkeypatch):
    from dataclasses import replace

    from stickerbench.adapters import tiny_clip

    seen = {}
    monkeypatch.setattr(tiny_clip, "train", lambda recipe, *a, **k: seen.setdefault("ids", list(recipe.ids)))

    def stickers_of(sample):
        return {sample.gold} | {u.sticker_id for u in sample.context if u.sticker_id is not None}

    def described(store, emotion=lambda sid: f"e{sid}"):
        return type(store)([replace(s, meta={"emotion": emotion(s.sticker_id)}) for s in store.values()], store.root)

    out = mini_dataset.split("train")[0].gold  # held out: no training sample shows it
    train_split = [s for s in mini_dataset.split("train") if out not in stickers_of(s)]
    data = replace(mini_dataset, splits={**mini_dataset.splits, "train": train_split})
    data = replace(data, stickers=described(data.stickers))
    used = set().union(*map(stickers_of, train_split))
    assert out in data.stickers and out not in used and len(used) > 1
    tiny_clip.tiny_clip_dir(data, tmp_path / "cache")
    assert seen["ids"] == tiny_clip.training_stickers(data) == sorted(used)
    # a held-out sticker's description cannot change the model, so it does not change the key
    other = replace(data, stickers=described(data.stickers, lambda sid: "changed" if sid == out else f"e{sid}"))
    assert tiny_clip.sticker_description(other.stickers[out]) != tiny_clip.sticker_description(data.stickers[out])
    assert tiny_clip._key(other, 0) == tiny_clip._key(data, 0)
