"""``fromage``: frozen LM + frozen CLIP with ``[RET]``-token retrieval, applied zero-shot.

Model: :mod:`stickerbench.models.fromage`. The CKS paper applies FROMAGe with no fine-tuning on MOD: its
trainable parts (two linear maps from CLIP, one from the LM, ``logit_scale`` and the ``[RET]``
embedding) learnt from image–caption pairs (CC3M), never from sticker-selection labels.

Scoring: the dialogue becomes one stream, ``</s> A: text B: text … [RET]``, stickers inside the
context entering as ``visual_embeddings`` tokens right after their turn; a candidate scores
``exp(logit_scale)·<norm(text_fc(h[RET])), norm(visual_fc(clip(sticker)))>``. CLIP pooled
features are computed once per sticker (shared feature cache). No emotion output.

Presets — what each one saw, exactly:

* ``paper``: OPT-6.7B + CLIP ViT-L/14 (frozen, as released) and the official
  ``pretrained_ckpt.pth.tar`` + ``model_args.json`` from ``--option fromage_model=DIR``
  (``--option fromage_lm=…``/``fromage_clip=…`` point at local copies of the backbones). ``fit``
  trains nothing: the official mappings are used as released (bf16 on CUDA).
* ``tiny`` (no pretrained weights exist at this size), built from the dataset but never from
  its labels:

  1. the tiny OPT learns language modelling on the *text* of the training split's dialogues
     (turns joined as above, no stickers, no gold, no emotion);
  2. the tiny CLIP is the shared stand-in pretrained on (sticker image, sticker description)
     pairs (:mod:`stickerbench.adapters.tiny_clip`);
  3. ``fit`` then trains only FROMAGe's mappings, ``logit_scale`` and ``[RET]`` on (sticker image,
     sticker description) pairs for every sticker in the store — FROMAGe's captioning +
     retrieval objectives — with the LM and CLIP frozen and no validation on the dialogue task
     (early stopping would leak its labels).

  It never sees which sticker was sent in any dialogue, nor any emotion label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from benchmark.errors import SelectorError
from benchmark.features import module_fingerprint
from benchmark.selector import SelectorContext, TrainConfig
from benchmark.tiny_tokenizer import dataset_texts, train_tiny_tokenizer
from benchmark.trainer import RecipeDefaults, train
from benchmark.types import Dataset, Query, ScoreBatch, StickerStore
from stickerbench.adapters.backbone_sources import add_tiny_clip
from stickerbench.adapters.base import TorchSelector, as_float64, candidate_rows
from stickerbench.adapters.sticker_table import StickerTable
from stickerbench.adapters.tiny_clip import sticker_description, tiny_clip_config
from stickerbench.adapters.turns import context_turns
from stickerbench.models.clip_features import load_clip_parts
from stickerbench.models.fromage import (
    ARGS_FILE,
    CHECKPOINT_FILE,
    MAX_LEN,
    Fromage,
    FromageArgs,
    FromageVocab,
    add_fromage_tokens,
    build_example,
    caption_batch,
    caption_example,
    collate,
    load_fromage_dir,
)

TINY = {
    "hidden": 64,
    "layers": 2,
    "heads": 4,
    "positions": 128,
    "vocab": 1000,
    "shared_emb_dim": 64,
    "lm_epochs": 2,
    "lm_batch": 64,
    "lm_lr": 2e-3,
}


class _DialogueTextRecipe:
    """Causal language modelling on dialogue text: the tiny LM's stand-in for pretraining."""

    def __init__(self, lm, texts: list[list[int]], pad: int):
        self.module, self.texts, self.pad = lm, texts, pad
        self.defaults = RecipeDefaults(epochs=TINY["lm_epochs"], batch_size=TINY["lm_batch"], lr=TINY["lm_lr"])

    def batches(self, data, split, batch_size, rng, epoch):
        order = rng.permutation(len(self.texts))
        for start in range(0, len(order), batch_size):
            yield [self.texts[i] for i in order[start : start + batch_size]]

    def loss(self, rows):
        width = max(map(len, rows))
        device = next(self.module.parameters()).device
        ids = torch.tensor([r + [self.pad] * (width - len(r)) for r in rows], device=device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
        return {"loss": self.module(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss}


class FromageRecipe:
    """FROMAGe's own objectives on (sticker image, description): captioning + retrieval."""

    def __init__(self, selector: "FromageSelector", data: Dataset):
        self.selector = selector
        self.module = selector.model
        self.defaults = RecipeDefaults(epochs=30, batch_size=32, lr=2e-3, weight_decay=0.0)
        selector.encode(data.stickers)
        self.pairs = [(sid, sticker_description(data.stickers[sid])) for sid in sorted(data.stickers)]
        self.pairs = [(sid, text) for sid, text in self.pairs if text]
        if len(self.pairs) < 2:
            raise SelectorError(
                "fromage@tiny needs sticker descriptions (Sticker.meta or OCR text) to train its mappings"
            )

    def batches(self, data, split, batch_size, rng, epoch):
        order = rng.permutation(len(self.pairs))
        for start in range(0, len(order), batch_size):
            yield [self.pairs[i] for i in order[start : start + batch_size]]

    def loss(self, pairs):
        sel = self.selector
        pooled = sel.pooled[[sel.rows[s] for s, _ in pairs]]
        texts = [t for _, t in pairs]
        ret = collate([caption_example(t, sel._tokenize, sel.vocab) for t in texts], sel.vocab.pad).to(sel.device)
        ids, mask = caption_batch(texts, sel._tokenize, sel.vocab)
        retrieval = self.module.retrieval_loss(ret, pooled)
        caption = self.module.caption_loss(ids.to(sel.device), mask.to(sel.device), pooled)
        return {"loss": retrieval + caption, "retrieval": retrieval, "caption": caption}


class FromageSelector(TorchSelector):
    name = "fromage"
    train_cost = 25
    description = "frozen LM + frozen CLIP, linear maps and a [RET] token; zero-shot on the dialogue task"
    reference = (
        "Koh, Salakhutdinov, Fried: Grounding Language Models to Images for Multimodal Inputs and Outputs, ICML 2023"
    )
    license = "Apache-2.0"
    paper_backbone = "fromage_model"
    early_stopping = False  # zero-shot on the dialogue task: its validation MRR must not steer training

    def config(self):
        if self.ctx.preset == "tiny":
            return {
                "zero_shot": True,
                "tiny": TINY,
                "clip": tiny_clip_config(),
                "trained_on": "dialogue text (LM); sticker image-description pairs",
            }
        return {
            "zero_shot": True,
            "lm": self.ctx.options.get("fromage_lm"),
            "clip": self.ctx.options.get("fromage_clip"),
        }

    # ------------------------------------------------------------------ building

    def _dialogue_texts(self, data: Dataset, tokenize, vocab) -> list[list[int]]:
        """Every training context as the LM will read it (no stickers, no [RET]), deduplicated."""
        seen: dict[tuple[int, ...], None] = {}
        for s in data.split("train"):
            turns, _ = context_turns(s.context, s.speaker, None)
            seen.setdefault(build_example(turns, tokenize, vocab, max_len=TINY["positions"]).input_ids, None)
        return [list(k) for k in seen]

    def tiny_backbone(self, data: Dataset) -> Path:
        from transformers import OPTConfig, OPTForCausalLM

        out = self.new_backbone_dir()
        tok = train_tiny_tokenizer(dataset_texts(data), vocab_size=TINY["vocab"], max_length=TINY["positions"])
        # OPT's conventions: </s> opens every sequence and ends it; padding has its own id
        tok.add_special_tokens({"bos_token": "</s>", "eos_token": "</s>"})
        h = TINY["hidden"]
        config = OPTConfig(
            vocab_size=len(tok),
            hidden_size=h,
            word_embed_proj_dim=h,
            ffn_dim=2 * h,
            num_hidden_layers=TINY["layers"],
            num_attention_heads=TINY["heads"],
            max_position_embeddings=TINY["positions"],
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
        lm = OPTForCausalLM(config)
        # the dialogue stream of build_example with "</s>" where [RET] would be: LM text only
        text_vocab = FromageVocab(tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, ret=tok.eos_token_id)
        texts = self._dialogue_texts(data, lambda t: tok(t, add_special_tokens=False).input_ids, text_vocab)
        train(
            _DialogueTextRecipe(lm, texts, tok.pad_token_id),
            data,
            TrainConfig(seed=self.ctx.seed, device=self.device, validation_split=None, patience=None),
            desc="fromage: tiny LM on dialogue text",
        )
        lm.to("cpu").save_pretrained(out / "lm")
        tok.save_pretrained(out / "lm")
        add_tiny_clip(out, data, self.ctx, self.device)
        return out

    def load_backbone(self, source) -> None:
        from transformers import AutoTokenizer, OPTForCausalLM

        src = Path(str(source))
        if (src / "lm").is_dir():  # tiny: fresh mappings around the saved LM and CLIP
            self.tokenizer = AutoTokenizer.from_pretrained(src / "lm")
            lm = OPTForCausalLM.from_pretrained(src / "lm")
            visual, _, self.processor = load_clip_parts(src / "clip")
            self.vocab = add_fromage_tokens(self.tokenizer, lm)
            args = FromageArgs(opt_version="tiny", visual_encoder="tiny", shared_emb_dim=TINY["shared_emb_dim"])
            self.model = Fromage(lm, visual, args, self.vocab.ret)
        else:
            if not ((src / ARGS_FILE).is_file() and (src / CHECKPOINT_FILE).is_file()):
                raise SelectorError(
                    f"fromage@paper needs the official {ARGS_FILE} and {CHECKPOINT_FILE} (kohjingyu/fromage, "
                    f"fromage_model/) in a local directory: pass --option fromage_model=DIR (got {src})"
                )
            dtype = torch.bfloat16 if str(self.device).startswith("cuda") else None
            self.tokenizer, self.model, self.processor = load_fromage_dir(
                src, self.ctx.options.get("fromage_lm"), self.ctx.options.get("fromage_clip"), dtype
            )
            self.vocab = add_fromage_tokens(self.tokenizer, self.model.lm)
        self.max_len = min(MAX_LEN, self.model.lm.config.max_position_embeddings)
        fp = module_fingerprint(self.model.visual, {"processor": self.processor.to_dict(), "kind": "clip-pooled-v1"})
        self.stickers = StickerTable(self._pooled, fp, "fromage: CLIP stickers", preprocess=self._pixel_values)

    def recipe(self, data):
        return FromageRecipe(self, data)

    def fit(self, data: Dataset, cfg: TrainConfig) -> None:
        """Zero-shot: ``paper`` trains nothing; ``tiny`` trains its mappings on sticker descriptions
        only, with no validation on the dialogue task."""
        if self.ctx.preset == "paper":
            self.ensure_model(data)
            self._fit_info = {"result": {"steps": 0, "note": "zero-shot: official FROMAGe mappings, no training"}}
            return
        super().fit(data, cfg)

    # ------------------------------------------------------------------ tensors

    def _pixel_values(self, images) -> torch.Tensor:
        return self.processor(images=images, return_tensors="pt")["pixel_values"]

    def _pooled(self, pixels) -> torch.Tensor:
        return self.model.encode_images(pixels.to(self.model.visual_fc.weight.dtype)).float()

    # ------------------------------------------------------------------ Selector

    def encode(self, stickers: StickerStore) -> None:
        """CLIP pooled features of every sticker, once per content (CLIP is frozen)."""
        cache = self.frozen_feature_dir("clip-pooled")
        self.stickers.update(stickers, cache, self.device)
        self.rows, self.pooled = self.stickers.rows, self.stickers.matrix

    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        n_visual = self.model.args.n_visual_tokens
        examples = [
            build_example(
                context_turns(q.context, q.speaker, self.rows)[0], self._tokenize, self.vocab, n_visual, self.max_len
            )
            for q in queries
        ]
        text = self.model.text_embeddings(collate(examples, self.vocab.pad).to(self.device), self.pooled)
        images = self.model.image_embeddings(self.pooled)
        scores = self.model.scores(text, images[candidate_rows(queries, self.rows)]).float()
        return ScoreBatch(scores=as_float64(scores))


def build(ctx: SelectorContext) -> FromageSelector:
    return FromageSelector(ctx)
