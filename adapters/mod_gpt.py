"""``mod-gpt``: GPT-2 with sticker embeddings in the sequence (DSTC10 Track 1 MOD baseline).

Model and sequence layout: :mod:`stickerbench.models.mod_gpt`. What this adapter decides:

* **Sticker features**: frozen CLIP projected image features (``CLIPModel.get_image_features``;
  ViT-B/32, 512-d, in the paper preset), encoded once per sticker through the shared feature
  cache. Stickers inside the history enter as ``img_ff(feature)`` slots.
* **Score**: ``-||img_inverse_ff(h[TAG]) - feature(c)||_2`` per candidate.
* **Emotion** (an addition; the public model has none, the CKS paper reports MOD-GPT's Acc):
  a linear head on a *detached* ``h[TAG]`` trained with cross-entropy on the sample's emotion
  label, so the ranker is the public one; ``--option mod_gpt_joint_emotion=1`` lets the emotion
  loss train GPT-2 too (the joint model this adapter first trained).
  ``classify_emotion`` (MOD task 3, the sent sticker given) reads the same head: ``h[TAG]`` is
  computed before any sticker is compared with it, so the sent sticker cannot change it, and
  MOD-GPT's ``task3_acc@1`` equals its ``emotion_acc`` on the same samples.
* **Training** (``baselines/MOD-GPT-E/train.py``): every training sample is a response with its
  sticker (LM + flag=1 + MSE to the gold feature + emotion); as in the public data pipeline, turns
  sent *without* a sticker are responses too (LM + flag=0): one such earlier turn of the same
  context per sample, drawn each epoch (for a random quarter of the samples in ``tiny``).
* **Recipe**, paper preset = ``baselines/MOD-GPT-E/train.py``: transformers' ``AdamW`` at its
  defaults (eps 1e-6, no weight decay), lr 6e-5 constant (no scheduler, no warmup), one dialogue
  per step (batch 1, no accumulation), clip 1.0, 10 epochs (the harness keeps the best epoch
  by validation MRR). (The repository's other script, ``MOD-GPT-E/parallel_train.py``, ran 8
  epochs on 8 GPUs accumulating 5 steps: batch 40; under DDP pass a batch of at least the
  world size.) The tiny preset keeps batch 32, lr 2e-3, 2 epochs and the shared warmup + cosine,
  so that it trains in about two minutes on two CPU cores; batch 1 would take ~6000 steps an epoch.
* **Feature standardisation**: the MSE target and the candidate table are CLIP features centred
  by their mean and scaled by one scalar (see :meth:`ModGptSelector.encode`); the statistics are
  those of the training store, saved with the checkpoint (``feature_stats.safetensors``) and
  restored on load, so a loaded model scores any store exactly as it was trained.
* **Speakers**: ``[speaker1]``/``[speaker2]`` by order of first appearance in the dialogue.

Presets: ``paper`` = ``gpt2`` + ``openai/clip-vit-base-patch32`` (override with
``--option mod_gpt_model=DIR`` and ``--option mod_gpt_clip=DIR``); ``tiny`` = random-init
GPT-2 of the same class with a tokenizer trained on the training split, and the shared
description-pretrained tiny CLIP (:mod:`stickerbench.adapters.tiny_clip`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.checkpoints import load_weights, save_weights
from benchmark.features import module_fingerprint
from benchmark.selector import SelectorContext
from benchmark.tiny_tokenizer import dataset_texts, train_tiny_tokenizer
from benchmark.trainer import RecipeDefaults
from benchmark.types import Dataset, Query, Sample, ScoreBatch, StickerStore
from stickerbench.adapters.backbone_sources import add_tiny_clip, lm_and_clip_sources, paper_clip
from stickerbench.adapters.base import TorchSelector, as_float64, candidate_rows, sent_sticker_emotions
from stickerbench.adapters.options import option_flag
from stickerbench.adapters.sticker_table import StickerTable
from stickerbench.adapters.tiny_clip import tiny_clip_config
from stickerbench.adapters.turns import history_and_response
from stickerbench.models.clip_features import ClipImageFeatures
from stickerbench.models.mod_gpt import (
    MAX_LEN,
    ModGPT,
    ModGptExample,
    ModGptVocab,
    build_example,
    collate,
    load_gpt2,
)

TINY = {"embd": 48, "layers": 2, "heads": 4, "positions": 64, "vocab": 1000}  # ~2 min on 2 CPU cores
DEFAULTS = {
    "tiny": RecipeDefaults(epochs=2, batch_size=32, lr=2e-3, weight_decay=0.01),
    "paper": RecipeDefaults(
        epochs=10,
        batch_size=1,
        lr=6e-5,
        weight_decay=0.0,
        schedule="constant",
        warmup_ratio=0.0,
        grad_clip=1.0,
        eps=1e-6,
    ),
}
STATS = "feature_stats.safetensors"


class ModGptRecipe:
    """LM + flag + MSE (+ emotion) over the training split's responses."""

    def __init__(self, selector: "ModGptSelector", data: Dataset):
        self.selector = selector
        self.module = selector.model
        tiny = selector.ctx.preset == "tiny"
        self.defaults = DEFAULTS[selector.ctx.preset]
        # share of samples that also contribute a sticker-less turn (flag 0): all of them in the
        # paper recipe; a quarter in the tiny one, to train in minutes on a CPU
        self.flag_negative_rate = 0.25 if tiny else 1.0
        selector.encode(data.stickers)

    def _no_sticker_turns(self, sample: Sample) -> list[int]:
        return [i for i, u in enumerate(sample.context[:-1]) if u.sticker_id is None and u.text]

    def batches(self, data, split, batch_size, rng, epoch):
        samples = data.split(split)
        examples = []
        for i in rng.permutation(len(samples)):
            s = samples[i]
            examples.append((s.context, s.speaker, s.gold, s.emotion))
            plain = self._no_sticker_turns(s)
            if plain and rng.random() < self.flag_negative_rate:
                j = plain[int(rng.integers(len(plain)))]
                examples.append((s.context[: j + 1], s.context[j].speaker, None, None))
        for start in range(0, len(examples), batch_size):
            yield examples[start : start + batch_size]

    def loss(self, examples):
        sel = self.selector
        batch = collate([sel.example(c, spk) for c, spk, _, _ in examples], sel.vocab.pad).to(sel.device)
        gold = torch.tensor([-1 if g is None else sel.rows[g] for _, _, g, _ in examples], device=sel.device)
        emotions = torch.tensor([-1 if e is None else e for _, _, _, e in examples], device=sel.device)
        parts = self.module["gpt"].loss(batch, sel.table, gold, emotions)
        return {"loss": parts.total, "lm": parts.lm, "flag": parts.flag, "mse": parts.feature, "emotion": parts.emotion}


class ModGptSelector(TorchSelector):
    name = "mod-gpt"
    train_cost = 60
    description = "GPT-2 with CLIP sticker embeddings in the sequence; [TAG] state regresses the sticker feature"
    reference = "DSTC10 Track 1 MOD baseline (lizekang/DSTC10-MOD, MOD-GPT-E); Fei et al. 2021"
    license = "MIT"
    paper_backbone = "gpt2"
    supports_emotion = True

    def config(self):
        clip = str(paper_clip(self.ctx, self.name)) if self.ctx.preset == "paper" else tiny_clip_config()
        out = {
            "clip": clip,
            "max_len": MAX_LEN if self.ctx.preset == "paper" else TINY["positions"],
            "emotion_head": "joint on h[TAG]" if self.joint_emotion else "on a detached h[TAG]",
            "recipe": asdict(DEFAULTS[self.ctx.preset]),
        }
        return {**out, "tiny": TINY} if self.ctx.preset == "tiny" else out

    def tiny_backbone(self, data: Dataset) -> Path:
        from transformers import GPT2Config, GPT2LMHeadModel

        out = self.new_backbone_dir()
        tok = train_tiny_tokenizer(dataset_texts(data), vocab_size=TINY["vocab"], max_length=TINY["positions"])
        config = GPT2Config(
            vocab_size=len(tok),
            n_embd=TINY["embd"],
            n_layer=TINY["layers"],
            n_head=TINY["heads"],
            n_positions=TINY["positions"],
            bos_token_id=None,
            eos_token_id=None,
        )
        GPT2LMHeadModel(config).save_pretrained(out / "lm")
        tok.save_pretrained(out / "lm")
        add_tiny_clip(out, data, self.ctx, self.device)
        return out

    def load_backbone(self, source) -> None:
        lm_source, clip_source = lm_and_clip_sources(source, self.ctx, self.name)
        self.tokenizer, lm = load_gpt2(lm_source)
        self.vocab = ModGptVocab.from_tokenizer(self.tokenizer)
        self.max_len = min(MAX_LEN, lm.config.n_positions)
        clip = ClipImageFeatures.load(clip_source)
        gpt = ModGPT(lm, clip.dim, self.ctx.num_emotions, joint_emotion=self.joint_emotion)
        self.model = nn.ModuleDict({"gpt": gpt, "clip": clip})
        fp = module_fingerprint(clip, {"processor": clip.processor.to_dict(), "kind": "clip-image-features-v1"})
        self.stickers = StickerTable(
            self._clip_features, fp, preprocess=clip.pixel_values, desc="mod-gpt: CLIP stickers"
        )
        self._stats: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def joint_emotion(self) -> bool:
        return option_flag(self.ctx.options, "mod_gpt_joint_emotion")

    def recipe(self, data):
        return ModGptRecipe(self, data)

    def save(self, path: Path) -> None:
        """The checkpoint, plus the feature statistics (not parameters, so not in its weights)."""
        super().save(path)
        if self._stats is not None:
            mean, scale = self._stats
            save_weights(Path(path) / STATS, {"mean": mean.float().cpu(), "scale": scale.float().reshape(1).cpu()})

    @classmethod
    def load(cls, path: Path, ctx: SelectorContext) -> "ModGptSelector":
        """A checkpoint without the statistics file (written before it existed) falls back to the
        statistics of the first store encoded."""
        selector = super().load(path, ctx)
        if (Path(path) / STATS).is_file():
            stats = load_weights(Path(path) / STATS)
            selector._stats = (stats["mean"].to(selector.device), stats["scale"][0].to(selector.device))
        return selector

    # ------------------------------------------------------------------ tensors

    def example(self, context, speaker) -> ModGptExample:
        history, response = history_and_response(context, speaker, self.rows)
        return build_example(history, response, self._tokenize, self.vocab, self.max_len)

    @property
    def clip_cache_dir(self) -> Path | None:
        return self.frozen_feature_dir("clip-image")

    def _clip_features(self, pixels) -> torch.Tensor:
        return self.model["clip"](pixels).float()

    # ------------------------------------------------------------------ Selector

    def encode(self, stickers: StickerStore) -> None:
        """CLIP features of every sticker, once per content (CLIP is frozen: training never moves them)."""
        self.stickers.update(stickers, self.clip_cache_dir, self.device)
        raw = self.stickers.matrix
        if self._stats is None:
            # Centred and scaled by one scalar, with statistics of the first store seen (the
            # training store; a loaded checkpoint brings them along, see save and load):
            # L2 geometry, hence the ranking rule, is unchanged, but the MSE term gets an O(1)
            # weight whatever the backbone's feature scale instead of vanishing next to the LM loss.
            self._stats = (raw.mean(0), raw.std().clamp_min(1e-6))
        self.rows = self.stickers.rows
        self.table = (raw - self._stats[0]) / self._stats[1]

    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        batch = collate([self.example(q.context, q.speaker) for q in queries], self.vocab.pad).to(self.device)
        out = self.model["gpt"](batch, self.table)
        scores = ModGPT.candidate_scores(out.predicted_feature.float(), self.table[candidate_rows(queries, self.rows)])
        emotions = as_float64(out.emotion_logits) if out.emotion_logits is not None else None
        return ScoreBatch(scores=as_float64(scores), emotion_logits=emotions)

    def classify_emotion(self, queries: Sequence[Query]) -> np.ndarray:
        """MOD task 3: the emotion head on ``h[TAG]``, through the scoring path (each query's one
        candidate is the sent sticker, which ``h[TAG]`` does not read)."""
        return sent_sticker_emotions(self, queries, "the dataset has no emotion labels")


def build(ctx: SelectorContext) -> ModGptSelector:
    return ModGptSelector(ctx)
