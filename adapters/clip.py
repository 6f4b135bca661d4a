"""``clip``: a CLIP dual encoder fine-tuned contrastively on (last utterance, gold sticker).

Recipe (CKS paper, appendix A.2; MODELS.md): the text is the *last* utterance only (the paper
found more context hurt), truncated to the text model's 77 positions with the end-of-text token
kept last; images are resized (shortest side, bicubic), centre-cropped and normalised with the
OpenAI mean/std; the loss is CLIP's symmetric cross-entropy over in-batch pairs, AdamW with
warmup + cosine, batch 64. Choices the sources leave open, made here:

* two samples of one batch with the same gold sticker are positives of each other (soft
  targets spread over the duplicates) rather than false negatives — sticker sets are small, so
  duplicates are frequent;
* ``logit_scale`` is clamped to ``[0, ln 100]`` inside the loss, as open_clip does (transformers
  does not clamp);
* under DDP the loss sees every rank's pairs (:func:`benchmark.distributed.gather_with_grad`).

The loss itself is :func:`stickerbench.models.contrastive.contrastive_loss`.

Score: ``exp(logit_scale) · <norm(img), norm(txt)>``. ``prepare`` encodes every sticker once
(disk-cached by model fingerprint and image hash); ``score`` encodes the batch's texts and takes
one matrix product against the cached sticker matrix.

Library (``--option backend=``): ``transformers`` (the default; ``CLIPModel``, the port of
``openai/clip-vit-base-patch32``) or ``open_clip`` (:mod:`stickerbench.adapters.open_clip_backend`,
``--option open_clip_model=NAME --option open_clip_pretrained=FILE_OR_TAG`` on the paper preset;
an optional install). Both compute the same function and train with the same recipe; the backend
and its model are recorded in ``meta.config``, so each has its own cached checkpoints, and a
checkpoint loads only into the backend that made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmark.checkpoints import read_info
from benchmark.distributed import gather_with_grad
from benchmark.errors import SelectorError
from benchmark.features import encode_stickers, module_fingerprint
from benchmark.selector import SelectorContext
from benchmark.tiny_tokenizer import dataset_texts, train_tiny_tokenizer
from benchmark.trainer import RecipeDefaults
from benchmark.types import Dataset, Query, ScoreBatch, StickerStore
from stickerbench.adapters.base import TorchSelector, as_float64, last_utterance
from stickerbench.adapters.options import option_choice
from stickerbench.models.contrastive import contrastive_loss

MAX_TEXT = 77
TINY = {"hidden": 48, "layers": 2, "heads": 4, "image_size": 32, "patch": 8, "projection": 48, "vocab": 1000}
BACKENDS = ("transformers", "open_clip")
OPEN_CLIP_OPTIONS = ("open_clip_model", "open_clip_pretrained")


DEFAULTS = {  # the paper: batch 64, AdamW + cosine; lr and epochs are not given, these are CLIP fine-tuning norms
    "tiny": RecipeDefaults(epochs=10, batch_size=64, lr=2e-3, weight_decay=0.1),
    "paper": RecipeDefaults(epochs=10, batch_size=64, lr=5e-6, weight_decay=0.2),
}


class ClipRecipe:
    def __init__(self, selector: "ClipSelector", data: Dataset):
        self.selector = selector
        self.module = selector.model
        self.defaults = DEFAULTS[selector.ctx.preset]
        ids = sorted(data.stickers)
        self.index = {sid: i for i, sid in enumerate(ids)}
        # Preprocessing is deterministic: do it once per sticker, not once per step.
        self.pixels = encode_stickers(data.stickers, ids, selector.pixel_values, None, "", progress=False)

    def batches(self, data, split, batch_size, rng, epoch):
        samples = data.split(split)
        order = rng.permutation(len(samples))
        for start in range(0, len(order), batch_size):
            yield [(last_utterance(samples[i].context), samples[i].gold) for i in order[start : start + batch_size]]

    def loss(self, examples):
        device = self.module.logit_scale.device
        texts = self.selector.tokenize([t for t, _ in examples]).to(device)
        pixels = torch.stack([self.pixels[g] for _, g in examples]).to(device)
        ids = torch.tensor([self.index[g] for _, g in examples], device=device)
        t = self.selector.text_features(texts)
        v = self.selector.image_features(pixels)
        loss = contrastive_loss(
            gather_with_grad(t), gather_with_grad(v), gather_with_grad(ids), self.module.logit_scale
        )
        return {"loss": loss}


class TransformersBackend:
    """transformers ``CLIPModel`` behind the CLIP selector (the default backend)."""

    name = "transformers"

    def __init__(self, ctx: SelectorContext):
        given = [k for k in OPEN_CLIP_OPTIONS if ctx.options.get(k) is not None]
        if given:
            raise SelectorError(f"--option {given[0]} is read by the open_clip backend: add --option backend=open_clip")
        self.ctx = ctx

    def config(self):
        return {"backend": self.name, "tiny": TINY} if self.ctx.preset == "tiny" else {"backend": self.name}

    def tiny_backbone(self, data: Dataset, out: Path) -> Path:
        from transformers import CLIPConfig, CLIPModel
        from transformers.models.clip.image_processing_pil_clip import (
            CLIPImageProcessorPil,
        )

        tok = train_tiny_tokenizer(dataset_texts(data), vocab_size=TINY["vocab"], max_length=32)
        h = TINY["hidden"]
        common = {
            "hidden_size": h,
            "intermediate_size": 2 * h,
            "num_hidden_layers": TINY["layers"],
            "num_attention_heads": TINY["heads"],
        }
        config = CLIPConfig(
            text_config={
                **common,
                "vocab_size": len(tok),
                "max_position_embeddings": 32,
                "pad_token_id": tok.pad_token_id,
                "bos_token_id": tok.cls_token_id,
                "eos_token_id": tok.eos_token_id,
            },
            vision_config={**common, "image_size": TINY["image_size"], "patch_size": TINY["patch"]},
            projection_dim=TINY["projection"],
        )
        CLIPModel(config).save_pretrained(out)
        tok.save_pretrained(out)
        size = TINY["image_size"]
        CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(
            out
        )
        return out

    def load(self, source) -> torch.nn.Module:
        from transformers import AutoTokenizer, CLIPModel
        from transformers.models.clip.image_processing_pil_clip import (
            CLIPImageProcessorPil,
        )

        folder = Path(str(source))
        if folder.is_dir() and not (folder / "config.json").is_file():
            raise SelectorError(f"{folder}: not a transformers CLIP (no config.json); add --option backend=open_clip")
        model = CLIPModel.from_pretrained(source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.processor = CLIPImageProcessorPil.from_pretrained(source)
        self.max_text = min(MAX_TEXT, model.config.text_config.max_position_embeddings)
        return model

    def tokenize(self, texts: Sequence[str]):
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_text, return_tensors="pt")

    def pixel_values(self, images) -> torch.Tensor:
        return self.processor(images=images, return_tensors="pt")["pixel_values"]

    @staticmethod
    def text_features(model, tokens) -> torch.Tensor:
        return model.get_text_features(**tokens).pooler_output

    @staticmethod
    def image_features(model, pixels) -> torch.Tensor:
        return model.get_image_features(pixel_values=pixels).pooler_output

    def image_fingerprint_parts(self, model):
        modules = torch.nn.ModuleList([model.vision_model, model.visual_projection])
        return modules, {"processor": self.processor.to_dict(), "kind": "clip-image-embedding-v1"}


def make_backend(ctx: SelectorContext):
    """The library behind the selector: ``--option backend=transformers`` (default) or ``open_clip``."""
    if option_choice(ctx.options, "backend", BACKENDS, "transformers") == "open_clip":
        from stickerbench.adapters.open_clip_backend import OpenClipBackend

        return OpenClipBackend(ctx)  # open_clip is imported only on this path
    return TransformersBackend(ctx)


class ClipSelector(TorchSelector):
    name = "clip"
    train_cost = 45
    description = "CLIP dual encoder fine-tuned contrastively on the last utterance"
    reference = "Radford et al., ICML 2021; fine-tuned as in CKS (ACM MM 2024) appendix A.2"
    license = "MIT"
    paper_backbone = "openai/clip-vit-base-patch32"

    def __init__(self, ctx: SelectorContext):
        self.backend = make_backend(ctx)  # before the base class, which reads config() and paper_source()
        super().__init__(ctx)

    def config(self):
        return {"text": "last utterance", "recipe": asdict(DEFAULTS[self.ctx.preset]), **self.backend.config()}

    def paper_source(self) -> str:
        if self.backend.name == "open_clip":
            return self.backend.paper_source()
        return super().paper_source()

    def tiny_backbone(self, data: Dataset) -> Path:
        return self.backend.tiny_backbone(data, self.new_backbone_dir())

    def load_backbone(self, source):
        self.model = self.backend.load(source)
        self.tokenizer, self.processor, self.max_text = (
            self.backend.tokenizer,
            self.backend.processor,
            self.backend.max_text,
        )

    def recipe(self, data):
        return ClipRecipe(self, data)

    @classmethod
    def load(cls, path: Path, ctx: SelectorContext) -> "ClipSelector":
        made = read_info(path, selector=cls.name, preset=ctx.preset).config.get("backend", "transformers")
        asked = option_choice(ctx.options, "backend", BACKENDS, "transformers")
        if made != asked:
            raise SelectorError(f"{path} is a checkpoint of clip's {made} backend: pass --option backend={made}")
        return super().load(path, ctx)

    # ------------------------------------------------------------------ tensors

    def tokenize(self, texts: Sequence[str]):
        return self.backend.tokenize(texts)

    def pixel_values(self, images) -> torch.Tensor:
        return self.backend.pixel_values(images)

    def text_features(self, tokens) -> torch.Tensor:
        return self.backend.text_features(self.model, tokens)

    def image_features(self, pixels) -> torch.Tensor:
        return self.backend.image_features(self.model, pixels)

    def _image_embeddings(self, pixels) -> torch.Tensor:
        return F.normalize(self.image_features(pixels).float(), dim=-1)

    # ------------------------------------------------------------------ Selector

    def encode(self, stickers: StickerStore) -> None:
        fp = module_fingerprint(*self.backend.image_fingerprint_parts(self.model))
        ids = sorted(stickers)
        feats = encode_stickers(
            stickers,
            ids,
            self._image_embeddings,
            self.feature_cache_dir,
            fp,
            desc="clip: stickers",
            preprocess=self.pixel_values,
            device=self.device,
        )
        self.sticker_index = {sid: i for i, sid in enumerate(ids)}
        self.sticker_matrix = torch.stack([feats[s] for s in ids]).to(self.device)

    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        texts = self.tokenize([last_utterance(q.context) for q in queries]).to(self.device)
        t = F.normalize(self.text_features(texts).float(), dim=-1)
        sims = self.model.logit_scale.exp().float() * (t @ self.sticker_matrix.t())  # [B, all stickers]
        cols = torch.tensor([[self.sticker_index[c] for c in q.candidates] for q in queries], device=sims.device)
        return ScoreBatch(scores=as_float64(sims.gather(1, cols)))


def build(ctx: SelectorContext) -> ClipSelector:
    return ClipSelector(ctx)
