"""The ``tiny`` stand-in for a pretrained CLIP: a small ``CLIPModel`` trained contrastively on
(sticker image, caption) pairs, shared by the selectors whose paper presets read pretrained CLIP
features (MOD-GPT, MMBERT and FROMAGe frozen; CKS's visual encoder as its starting point).

Why: those selectors never train an image encoder from scratch on the dialogue task, so with a
random-init tower their sticker features would carry almost nothing; the real presets use CLIP
pretrained on web image–caption pairs. The stand-in gets the same kind of signal and nothing
more: captions made from each sticker's own description (``Sticker.meta``: emotion, character and
printed caption, as MojiChat writes them; the OCR text where a dataset has no metadata), several
per sticker as caption corpora have (:func:`sticker_captions`). It never sees a dialogue, a gold
sticker or an emotion label of a sample. ``benchmarks/probe_tiny_clip.py`` measures what its
features separate.

Inductive: it trains only on the stickers that occur in the ``train`` split (as a gold or inside
a training context, :func:`training_stickers`), and its caption tokenizer reads only their
descriptions. A sticker held out of training (MojiChat's ``test_hard`` packs: unseen characters
and styles) is never seen, image or description, before test time, as real CLIP never saw MOD's
stickers. (Version 2 trained on every sticker's description, test-only stickers included: a
transductive leak that made ``test_hard`` easier than it is; version 3 is this one, so every
checkpoint that read the old tiny CLIP has a new key.)

Built once per (training sticker set, seed, config) into ``<cache_dir>/tiny-clip/<key>`` and
reused by every selector of the run; :mod:`stickerbench.adapters.backbone_sources` puts it into a selector's
backbone directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch

from benchmark.features import encode_stickers
from benchmark.io import build_lock, staging_dir
from benchmark.selector import TrainConfig
from benchmark.tiny_tokenizer import train_tiny_tokenizer
from benchmark.trainer import RecipeDefaults, train
from benchmark.types import Dataset, Sticker
from stickerbench.models.clip_features import save_tiny_clip
from stickerbench.models.contrastive import multi_positive_contrastive_loss

TINY_CLIP = {
    "hidden": 32,
    "layers": 2,
    "heads": 2,
    "image_size": 64,
    "patch": 8,
    "projection": 32,
    "vocab": 500,
    "epochs": 200,
    "batch_size": 32,
    "lr": 2e-3,
}
VERSION = "3"  # 3: trained on the training split's stickers only


def tiny_clip_config() -> dict:
    """What identifies the shared tiny CLIP; part of every ``meta.config`` that reads it (keys checkpoints)."""
    return {**TINY_CLIP, "version": VERSION}


def sticker_description(sticker: Sticker) -> str:
    """The words a caption corpus would pair with this sticker: emotion, character, printed text."""
    meta = sticker.meta or {}
    parts = [meta.get("emotion"), meta.get("character"), meta.get("caption")]
    text = " ".join(str(p) for p in parts if p)
    return text or (sticker.ocr_text or "")


def sticker_captions(sticker: Sticker) -> list[str]:
    """Several captions per image, as caption corpora have: the full description and its parts.

    With the full description alone, the character and printed text already tell stickers apart,
    so contrastive training never needs to look at the facial expression or badge; a caption that
    names only the emotion makes it.
    """
    meta = sticker.meta or {}
    full = sticker_description(sticker)
    parts = [str(meta[k]) for k in ("emotion", "character") if meta.get(k)]
    return list(dict.fromkeys([c for c in [full, *parts, " ".join(parts)] if c]))


class _PairRecipe:
    """Symmetric InfoNCE between stickers and one of their captions, drawn afresh each epoch."""

    def __init__(self, model, tokenizer, processor, data: Dataset, ids: list[str]):
        self.module, self.tokenizer = model, tokenizer
        self.defaults = RecipeDefaults(
            epochs=TINY_CLIP["epochs"], batch_size=TINY_CLIP["batch_size"], lr=TINY_CLIP["lr"], weight_decay=0.1
        )
        self.ids = ids
        self.captions = {sid: sticker_captions(data.stickers[sid]) for sid in self.ids}
        pixel_values = lambda images: processor(images=images, return_tensors="pt")["pixel_values"]  # noqa: E731
        self.pixels = encode_stickers(data.stickers, self.ids, pixel_values, None, "", progress=False)

    def batches(self, data, split, batch_size, rng, epoch):
        order = rng.permutation(len(self.ids))
        pairs = [
            (self.ids[i], self.captions[self.ids[i]][int(rng.integers(len(self.captions[self.ids[i]])))]) for i in order
        ]
        for start in range(0, len(pairs), batch_size):
            yield pairs[start : start + batch_size]

    def loss(self, pairs):
        device = self.module.logit_scale.device
        text = self.tokenizer(
            [c for _, c in pairs], padding=True, truncation=True, max_length=16, return_tensors="pt"
        ).to(device)
        t = self.module.get_text_features(**text).pooler_output
        v = self.module.get_image_features(
            pixel_values=torch.stack([self.pixels[s] for s, _ in pairs]).to(device)
        ).pooler_output
        # caption i fits image j when it is any caption of sticker j ("joy" fits every joy sticker)
        positive = torch.tensor([[c in self.captions[s] for s, _ in pairs] for _, c in pairs], device=device)
        return {"loss": multi_positive_contrastive_loss(t, v, positive, self.module.logit_scale)}


def training_stickers(data: Dataset) -> list[str]:
    """The stickers of the ``train`` split that have a description: every gold and every sticker
    sent inside a training context, sorted. The tiny CLIP sees these and no other."""
    used = {s.gold for s in data.split("train")}
    used |= {u.sticker_id for s in data.split("train") for u in s.context if u.sticker_id is not None}
    return [sid for sid in sorted(used) if sid in data.stickers and sticker_description(data.stickers[sid])]


def _key(data: Dataset, seed: int) -> str:
    """Only the training stickers (bytes and descriptions) shape this model, so only they key it."""
    stickers = [
        (sid, data.stickers.content_hash(sid), sticker_description(data.stickers[sid]))
        for sid in training_stickers(data)
    ]
    blob = json.dumps({"stickers": stickers, "seed": seed, "config": tiny_clip_config()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def tiny_clip_dir(data: Dataset, cache_dir: Path, seed: int = 0, device: str = "cpu") -> Path:
    """A saved, description-pretrained tiny ``CLIPModel`` (+ processor) for ``data``; built once,
    by one process at a time (another one waits, then uses that copy)."""
    out = Path(cache_dir) / "tiny-clip" / _key(data, seed)
    if (out / "model.safetensors").is_file():
        return out
    with build_lock(out.parent / f".{out.name}.lock"):
        if not (out / "model.safetensors").is_file():
            _build_tiny_clip(data, out, seed, device)
    return out


def _build_tiny_clip(data: Dataset, out: Path, seed: int, device: str) -> None:
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    staging = staging_dir(out.parent, ".staging-")
    c = TINY_CLIP
    save_tiny_clip(
        staging,
        hidden=c["hidden"],
        layers=c["layers"],
        heads=c["heads"],
        image_size=c["image_size"],
        patch=c["patch"],
        projection=c["projection"],
        seed=seed,
    )
    ids = training_stickers(data)
    texts = [sticker_description(data.stickers[sid]) for sid in ids]
    tokenizer = train_tiny_tokenizer(texts, vocab_size=c["vocab"], max_length=16)
    config = CLIPConfig.from_pretrained(staging)  # the text tower is rebuilt for this tokenizer
    config.text_config.vocab_size = len(tokenizer)
    config.text_config.pad_token_id = tokenizer.pad_token_id
    config.text_config.bos_token_id = tokenizer.cls_token_id
    config.text_config.eos_token_id = tokenizer.sep_token_id
    torch.manual_seed(seed)
    model = CLIPModel(config)
    processor = CLIPImageProcessorPil.from_pretrained(staging)
    recipe = _PairRecipe(model, tokenizer, processor, data, ids)
    if recipe.ids:
        train(
            recipe,
            data,
            TrainConfig(seed=seed, device=device, validation_split=None, patience=None),
            desc="tiny CLIP: sticker captions (once per sticker set)",
        )
    model.to("cpu").save_pretrained(staging)
    processor.save_pretrained(staging)
    try:
        staging.rename(out)
    except OSError:  # built meanwhile by a process the lock did not hold off (flock is advisory)
        shutil.rmtree(staging, ignore_errors=True)
