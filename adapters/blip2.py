"""``blip2``: BLIP-2 Q-Former image–text matching (``Blip2ForImageTextRetrieval``, ITM head).

Score of (dialogue, sticker): the ITM head's match log-odds ``logit[1] - logit[0]`` (a monotone
function of ``softmax[:, 1]`` that does not saturate into ties), averaged over the query tokens as
in LAVIS. Text: the dialogue context truncated from the left to 32 tokens (the latest turns);
images: bicubic square 224 with CLIP mean/std (the processor saved with the checkpoint).

Recipe (CKS paper / MODELS.md): only ``itm_head`` is fine-tuned, everything else is frozen.
Each sample gives its gold sticker (label 1) and ``negatives`` other stickers (label 0), drawn
uniformly from those that are golds in the training split;
the loss is the mean of the positive and the negatives' cross-entropy (balanced, so the head
does not learn "always no"). Frozen submodules run in eval mode during training (no dropout noise
in a feature extractor that never learns).

``tiny`` preset: a random-init small ``Blip2ForImageTextRetrieval``. Freezing a *random* Q-Former
would turn the recipe into a linear probe of random features, which cannot learn the task; the
``tiny`` preset therefore also trains the Q-Former, its text embeddings and query tokens (the
vision encoder stays frozen). ``meta.config["trainable"]`` records which parts learn, and the
``paper`` preset keeps the paper's recipe (``itm_head`` only). Its random init uses
``initializer_range = 0.1``: at the default 0.02 (and with BLIP-2's zero-initialised query tokens)
the image changes the ITM logit by ~1e-3 and the balanced loss stalls at ln 2.

Per-sticker caching: the vision encoder (ViT-g, most of the cost) runs once per sticker in
``prepare`` and its output is disk-cached by (vision-encoder fingerprint, image hash); since the
vision encoder is frozen in both presets, training reads the same cache. Per pair only the
Q-Former runs (:func:`stickerbench.models.blip2.itm_logits`).

A LAVIS checkpoint (``blip2_image_text_matching``, a ``.pth`` with ``{"model": state_dict}``) can
be used with ``--option blip2_lavis_checkpoint=PATH``: the architecture comes from the backbone
config, the weights from the file via :func:`stickerbench.models.blip2.lavis_to_transformers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmark.errors import SelectorError
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
from stickerbench.models.blip2 import itm_logits, lavis_to_transformers

MAX_TEXT = 32
TINY = {
    "hidden": 48,
    "layers": 2,
    "heads": 4,
    "vision_hidden": 32,
    "vision_layers": 1,
    "image_size": 32,
    "patch": 8,
    "queries": 8,
    "vocab": 1000,
    "negatives": 3,
    "init_std": 0.1,
}
PAPER_NEGATIVES = 3
TRAINABLE = {"paper": ("itm_head",), "tiny": ("itm_head", "qformer", "embeddings", "query_tokens")}


DEFAULTS = {  # the paper gives none for BLIP-2: a linear head trains fast, so few epochs
    "tiny": RecipeDefaults(epochs=3, batch_size=32, lr=1e-3, weight_decay=0.01),
    "paper": RecipeDefaults(epochs=5, batch_size=64, lr=1e-4, weight_decay=0.05),
}


class Blip2Recipe:
    def __init__(self, selector: "Blip2Selector", data: Dataset):
        self.selector = selector
        self.module = selector.model
        tiny = selector.ctx.preset == "tiny"
        self.negatives = TINY["negatives"] if tiny else PAPER_NEGATIVES
        self.defaults = DEFAULTS[selector.ctx.preset]
        self.pool = training_golds(data)
        self.features = selector.vision_features(data.stickers, selector.vision_cache_dir)
        trainable = TRAINABLE[selector.ctx.preset]
        self.frozen = [m for name, m in self.module.named_children() if name not in trainable]

    def batches(self, data, split, batch_size, rng, epoch):
        return gold_and_negative_batches(data, split, batch_size, rng, self.pool, self.negatives)

    def loss(self, examples):
        for m in self.frozen:
            m.eval()
        device = self.module.itm_head.weight.device
        n = len(examples[0][1])
        texts = self.selector.tokenize([t for t, _ in examples]).to(device)
        images = torch.stack([self.features[s] for _, cands in examples for s in cands]).to(device)
        logits = (
            itm_logits(
                self.module,
                images,
                texts["input_ids"].repeat_interleave(n, 0),
                texts["attention_mask"].repeat_interleave(n, 0),
            )
            .float()
            .view(len(examples), n, 2)
        )
        pos = F.cross_entropy(logits[:, 0], torch.ones(len(examples), dtype=torch.long, device=device))
        neg = F.cross_entropy(
            logits[:, 1:].reshape(-1, 2), torch.zeros(len(examples) * (n - 1), dtype=torch.long, device=device)
        )
        return {"loss": (pos + neg) / 2, "pos": pos.detach(), "neg": neg.detach()}


class Blip2Selector(TorchSelector):
    name = "blip2"
    train_cost = 55
    batch_unit = "pairs"
    description = "BLIP-2 Q-Former image-text matching head (only the ITM head is tuned)"
    reference = "Li et al., BLIP-2, ICML 2023"
    license = "MIT"
    paper_backbone = "Salesforce/blip2-itm-vit-g"

    def config(self):
        base = {
            "text": "context, left-truncated",
            "score": "itm log-odds",
            "trainable": list(TRAINABLE[self.ctx.preset]),
            "recipe": asdict(DEFAULTS[self.ctx.preset]),
            "negatives": TINY["negatives"] if self.ctx.preset == "tiny" else PAPER_NEGATIVES,
        }
        lavis = self.ctx.options.get("blip2_lavis_checkpoint")
        if lavis:
            base["lavis_checkpoint"] = str(lavis)
        return {**base, "tiny": TINY} if self.ctx.preset == "tiny" else base

    def tiny_backbone(self, data: Dataset) -> Path:
        from transformers import Blip2Config, Blip2ForImageTextRetrieval
        from transformers.models.blip.image_processing_pil_blip import (
            BlipImageProcessorPil,
        )

        tok = train_tiny_tokenizer(dataset_texts(data), vocab_size=TINY["vocab"], max_length=MAX_TEXT)
        h, hv = TINY["hidden"], TINY["vision_hidden"]
        config = Blip2Config(
            vision_config={
                "hidden_size": hv,
                "intermediate_size": 2 * hv,
                "num_hidden_layers": TINY["vision_layers"],
                "num_attention_heads": 2,
                "image_size": TINY["image_size"],
                "patch_size": TINY["patch"],
                "initializer_range": TINY["init_std"],
            },
            qformer_config={
                "vocab_size": len(tok),
                "hidden_size": h,
                "num_hidden_layers": TINY["layers"],
                "num_attention_heads": TINY["heads"],
                "intermediate_size": 2 * h,
                "cross_attention_frequency": 1,
                "max_position_embeddings": MAX_TEXT,
                "pad_token_id": tok.pad_token_id,
                "use_qformer_text_input": True,
                "initializer_range": TINY["init_std"],
            },
            num_query_tokens=TINY["queries"],
            image_text_hidden_size=h,
            image_token_index=None,
            initializer_range=TINY["init_std"],
        )
        out = self.new_backbone_dir()
        Blip2ForImageTextRetrieval(config).save_pretrained(out)
        tok.save_pretrained(out)
        size = TINY["image_size"]
        BlipImageProcessorPil(size={"height": size, "width": size}).save_pretrained(out)
        return out

    def load_backbone(self, source):
        from transformers import AutoTokenizer, Blip2ForImageTextRetrieval
        from transformers.models.blip.image_processing_pil_blip import (
            BlipImageProcessorPil,
        )

        model = Blip2ForImageTextRetrieval.from_pretrained(source)
        if model.config.image_token_index is not None:
            raise SelectorError(f"{source}: BLIP-2 retrieval needs image_token_index=None in its config")
        lavis = self.ctx.options.get("blip2_lavis_checkpoint")
        if lavis:
            load_lavis_weights(model, Path(lavis))
        trainable = TRAINABLE[self.ctx.preset]
        for name, child in model.named_children():
            child.requires_grad_(name in trainable)
        model.query_tokens.requires_grad_("query_tokens" in trainable)
        self.model = model
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.tokenizer.truncation_side = "left"
        self.processor = BlipImageProcessorPil.from_pretrained(source)
        self.max_text = min(MAX_TEXT, model.config.qformer_config.max_position_embeddings)

    def recipe(self, data):
        return Blip2Recipe(self, data)

    # ------------------------------------------------------------------ tensors

    def tokenize(self, texts: Sequence[str]):
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_text, return_tensors="pt")

    def _pixel_values(self, images) -> torch.Tensor:
        return self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.model.dtype)

    def _vision(self, pixels) -> torch.Tensor:
        return self.model.vision_model(pixel_values=pixels).last_hidden_state

    @property
    def vision_cache_dir(self) -> Path | None:
        """The vision encoder is frozen in every preset, so its features stay valid while training."""
        return self.frozen_feature_dir()

    def vision_features(self, stickers: StickerStore, cache_dir: Path | None) -> dict[str, torch.Tensor]:
        was_training = self.model.vision_model.training
        self.model.vision_model.eval()
        fp = module_fingerprint(
            self.model.vision_model, {"processor": self.processor.to_dict(), "kind": "blip2-vision-v1"}
        )
        feats = encode_stickers(
            stickers,
            sorted(stickers),
            self._vision,
            cache_dir,
            fp,
            desc="blip2: stickers",
            preprocess=self._pixel_values,
            device=self.device,
        )
        self.model.vision_model.train(was_training)
        return feats

    # ------------------------------------------------------------------ Selector

    def encode(self, stickers: StickerStore) -> None:
        self.sticker_features = {
            k: v.to(self.device) for k, v in self.vision_features(stickers, self.vision_cache_dir).items()
        }

    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        texts = self.tokenize([dialogue_text(q.context) for q in queries]).to(self.device)
        pairs = [(b, c) for b, q in enumerate(queries) for c in q.candidates]
        out = []
        for start in range(0, len(pairs), self.pair_batch):
            chunk = pairs[start : start + self.pair_batch]
            rows = torch.tensor([b for b, _ in chunk], device=self.device)
            images = torch.stack([self.sticker_features[c] for _, c in chunk])
            logits = itm_logits(self.model, images, texts["input_ids"][rows], texts["attention_mask"][rows]).float()
            out.append(logits[:, 1] - logits[:, 0])
        width = len(queries[0].candidates)
        return ScoreBatch(scores=as_float64(torch.cat(out).view(len(queries), width)))


def load_lavis_weights(model, path: Path) -> None:
    """Load a LAVIS BLIP-2 ITM checkpoint (``{"model": state_dict}``) into ``model``, strictly."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise SelectorError(f"{path}: cannot read the LAVIS checkpoint ({exc})") from None
    try:
        state = lavis_to_transformers(raw.get("model", raw))
    except KeyError as exc:
        raise SelectorError(f"{path}: not a LAVIS blip2_image_text_matching checkpoint: {exc}") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SelectorError(
            f"{path}: LAVIS weights do not fit the backbone config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def build(ctx: SelectorContext) -> Blip2Selector:
    return Blip2Selector(ctx)
