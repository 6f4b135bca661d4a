"""``vilt``: ViLT image–text matching cross-encoder (``ViltForImageAndTextRetrieval``).

Score of (dialogue, sticker): ``rank_output(pooler(ViLT([text tokens; image patches])))``.
The transformers class computes no loss; the recipe here is ViLT's own retrieval fine-tuning
(Kim et al., ICML 2021, §4.2): for each sample, the gold sticker and ``negatives`` stickers drawn
uniformly from the other stickers that are golds somewhere in the training split, and cross-entropy over those ``1 + negatives`` scores with the gold as
the target (15 negatives for ``paper``, as in ViLT; fewer for ``tiny``). The CKS paper only says
"image–text matching loss"; this is the matching loss ViLT was built with.

Text: the dialogue context, oldest to newest, truncated *from the left* to ViLT's 40 positions so
the most recent turns survive (the sources do not say what text the paper fed ViLT; the last
turns are where the emotion is). Images: shortest edge 384, longer ≤ 640, multiples of 32,
mean = std = 0.5, with ``pixel_mask``.

Per-sticker work is done once in ``prepare``: pixel tensors, masks and the patch embeddings
(ViLT's ``visual_embed``: patch projection + interpolated position embeddings + [CLS]) are
computed per sticker and disk-cached; ``score`` runs only the transformer per (query, candidate)
pair, in batches. The ``tiny`` preset initialises with ``initializer_range = 0.1`` (as ``blip2``'s
does) so that a random joint encoder lets the image move the score from the first step. Patch embeddings keep *every* patch (``max_image_length = -1``): ViLT samples
200 patches at random when an image has more, which would make scores non-deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmark.features import encode_stickers, module_fingerprint
from benchmark.selector import SelectorContext
from benchmark.tiny_tokenizer import dataset_texts, train_tiny_tokenizer
from benchmark.trainer import RecipeDefaults
from benchmark.types import Dataset, Query, ScoreBatch, StickerStore
from stickerbench.adapters.base import (
    TorchSelector,
    as_float64,
    dialogue_text,
    gold_and_negative_batches,
    training_golds,
)

MAX_TEXT = 40
TINY = {
    "hidden": 48,
    "layers": 2,
    "heads": 4,
    "image_size": 32,
    "patch": 8,
    "vocab": 1000,
    "negatives": 3,
    "init_std": 0.1,
}
PAPER_NEGATIVES = 15


def pad_stack(tensors: Sequence[torch.Tensor], value: float = 0) -> torch.Tensor:
    """Stack tensors whose trailing dims differ, padding each dim at its end to the largest."""
    shape = [max(t.shape[d] for t in tensors) for d in range(tensors[0].dim())]
    out = []
    for t in tensors:
        pad = []
        for d in reversed(range(t.dim())):
            pad += [0, shape[d] - t.shape[d]]
        out.append(F.pad(t, pad, value=value))
    return torch.stack(out)


DEFAULTS = {  # paper: ViLT's retrieval fine-tuning (lr 1e-4, AdamW, warmup 10%)
    "tiny": RecipeDefaults(epochs=3, batch_size=32, lr=1e-3, weight_decay=0.01),
    "paper": RecipeDefaults(epochs=10, batch_size=32, lr=1e-4, weight_decay=0.01),
}


class ViltRecipe:
    def __init__(self, selector: "ViltSelector", data: Dataset):
        self.selector = selector
        self.module = selector.model
        tiny = selector.ctx.preset == "tiny"
        self.negatives = TINY["negatives"] if tiny else PAPER_NEGATIVES
        self.defaults = DEFAULTS[selector.ctx.preset]
        self.pool = training_golds(data)
        self.pixels = encode_stickers(data.stickers, self.pool, selector.pixel_inputs, None, "", progress=False)

    def batches(self, data, split, batch_size, rng, epoch):
        return gold_and_negative_batches(data, split, batch_size, rng, self.pool, self.negatives)

    def loss(self, examples):
        device = next(self.module.parameters()).device
        n = len(examples[0][1])
        texts = self.selector.tokenize([t for t, _ in examples]).to(device)
        stickers = [sid for _, cands in examples for sid in cands]
        pixel_values = pad_stack([self.pixels[s]["pixel_values"] for s in stickers]).to(device)
        pixel_mask = pad_stack([self.pixels[s]["pixel_mask"] for s in stickers]).to(device)
        logits = self.module(
            input_ids=texts["input_ids"].repeat_interleave(n, 0),
            attention_mask=texts["attention_mask"].repeat_interleave(n, 0),
            pixel_values=pixel_values,
            pixel_mask=pixel_mask,
        ).logits.view(len(examples), n)
        target = torch.zeros(len(examples), dtype=torch.long, device=device)  # gold first
        loss = F.cross_entropy(logits.float(), target)
        return {"loss": loss, "train_acc": (logits.argmax(1) == 0).float().mean()}


class ViltSelector(TorchSelector):
    name = "vilt"
    train_cost = 70
    batch_unit = "pairs"
    description = "ViLT image-text matching cross-encoder"
    reference = "Kim et al., ViLT, ICML 2021"
    license = "Apache-2.0"
    paper_backbone = "dandelin/vilt-b32-finetuned-coco"

    def config(self):
        base = {
            "text": "context, left-truncated",
            "recipe": asdict(DEFAULTS[self.ctx.preset]),
            "negatives": TINY["negatives"] if self.ctx.preset == "tiny" else PAPER_NEGATIVES,
        }
        return {**base, "tiny": TINY} if self.ctx.preset == "tiny" else base

    def tiny_backbone(self, data: Dataset) -> Path:
        from transformers import ViltConfig, ViltForImageAndTextRetrieval
        from transformers.models.vilt.image_processing_pil_vilt import (
            ViltImageProcessorPil,
        )

        tok = train_tiny_tokenizer(dataset_texts(data), vocab_size=TINY["vocab"], max_length=MAX_TEXT)
        h = TINY["hidden"]
        config = ViltConfig(
            vocab_size=len(tok),
            hidden_size=h,
            num_hidden_layers=TINY["layers"],
            num_attention_heads=TINY["heads"],
            intermediate_size=2 * h,
            image_size=TINY["image_size"],
            patch_size=TINY["patch"],
            max_position_embeddings=MAX_TEXT,
            max_image_length=-1,
            pad_token_id=tok.pad_token_id,
            initializer_range=TINY["init_std"],
        )
        out = self.new_backbone_dir()
        ViltForImageAndTextRetrieval(config).save_pretrained(out)
        tok.save_pretrained(out)
        ViltImageProcessorPil(size={"shortest_edge": TINY["image_size"]}, size_divisor=TINY["patch"]).save_pretrained(
            out
        )
        return out

    def load_backbone(self, source):
        from transformers import AutoTokenizer, ViltForImageAndTextRetrieval
        from transformers.models.vilt.image_processing_pil_vilt import (
            ViltImageProcessorPil,
        )

        self.model = ViltForImageAndTextRetrieval.from_pretrained(source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.tokenizer.truncation_side = "left"
        self.processor = ViltImageProcessorPil.from_pretrained(source)
        self.max_text = min(MAX_TEXT, self.model.config.max_position_embeddings)

    def recipe(self, data):
        return ViltRecipe(self, data)

    # ------------------------------------------------------------------ tensors

    def tokenize(self, texts: Sequence[str]):
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_text, return_tensors="pt")

    def pixel_inputs(self, images) -> list[dict[str, torch.Tensor]]:
        """Each sticker at its own resized size (no cross-sticker padding) with its mask."""
        rows = []
        for img in images:
            enc = self.processor(images=[img], return_tensors="pt")
            rows.append({"pixel_values": enc["pixel_values"][0], "pixel_mask": enc["pixel_mask"][0]})
        return rows

    def _patch_embeddings(self, px: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """ViLT's ``visual_embed`` per sticker, every patch kept, padding positions dropped."""
        values = pad_stack([r["pixel_values"] for r in px])
        masks = pad_stack([r["pixel_mask"] for r in px])
        embeds, token_mask, _ = self.model.vilt.embeddings.visual_embed(values, masks, max_image_length=-1)
        return [{"embeds": e[m.bool()].float()} for e, m in zip(embeds, token_mask)]

    # ------------------------------------------------------------------ Selector

    def encode(self, stickers: StickerStore) -> None:
        fp = module_fingerprint(
            self.model.vilt.embeddings, {"processor": self.processor.to_dict(), "kind": "vilt-visual-embed-v1"}
        )
        self.sticker_embeds = {
            sid: f["embeds"].to(self.device)
            for sid, f in encode_stickers(
                stickers,
                sorted(stickers),
                self._patch_embeddings,
                self.feature_cache_dir,
                fp,
                batch_size=16,
                desc="vilt: stickers",
                preprocess=self.pixel_inputs,
                device=self.device,
            ).items()
        }

    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        texts = self.tokenize([dialogue_text(q.context) for q in queries]).to(self.device)
        pairs = [(b, c) for b, q in enumerate(queries) for c in q.candidates]
        out = []
        for start in range(0, len(pairs), self.pair_batch):
            chunk = pairs[start : start + self.pair_batch]
            rows = torch.tensor([b for b, _ in chunk], device=self.device)
            embeds = [self.sticker_embeds[c] for _, c in chunk]
            image_mask = pad_stack([torch.ones(len(e), dtype=torch.long, device=self.device) for e in embeds])
            logits = self.model(
                input_ids=texts["input_ids"][rows],
                attention_mask=texts["attention_mask"][rows],
                image_embeds=pad_stack(embeds),
                pixel_mask=image_mask,
            ).logits
            out.append(logits[:, 0].float())
        width = len(queries[0].candidates)
        return ScoreBatch(scores=as_float64(torch.cat(out).view(len(queries), width)))


def build(ctx: SelectorContext) -> ViltSelector:
    return ViltSelector(ctx)
