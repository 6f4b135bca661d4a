"""``cks``: the selector that turns queries into the tensors of :class:`stickerbench.models.cks.model.CKS`
(the architecture and its equations live in :mod:`stickerbench.models.cks`), and its identity.

Inference (paper §5.2 "we combine contrastive scores with multimodal information matching
scores"; no formula is given, so this is the choice):

    score(c) = exp(τ)·cos(ĥ_T, v_c) + (logit_match − logit_nomatch)(HEAD of Enc(dialogue, c))

the learnt-temperature contrastive logit plus the matching head's log-odds. ``cks-no-itc``
scores with the matching term alone and ``cks-no-itm`` with the contrastive term alone (an
untrained head would only add noise). The emotion prediction is the emotion head on the [HEAD]
state of the top-scoring candidate; ``classify_emotion`` (MOD task 3) is the same head on the
[HEAD] state of the sent sticker, the query's only candidate, through the same scoring path
(``cks-no-emo`` has no emotion head and sets it to ``None``).

Commonsense knowledge: g_i^k is the mean of COMET-BART's decoder last-layer hidden states over
its greedy output (``--option comet_state=encoder``: of the encoder's over the input; see
:mod:`stickerbench.models.cks.comet` for why), cached on disk by
:mod:`stickerbench.adapters.cks.knowledge`; ``python -m benchmark knowledge build`` fills the cache ahead.

The ablations subclass :class:`CKSSelector` and only set ``switches``
(:mod:`stickerbench.adapters.cks.variants`); the training recipe is :mod:`stickerbench.adapters.cks.recipe`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.selector import SelectorContext
from benchmark.types import Dataset, Query, ScoreBatch, StickerStore, Utterance
from stickerbench.adapters.base import TorchSelector, as_float64, sent_sticker_emotions
from stickerbench.adapters.cks.backbones import (
    SPEAKERS,
    backbone_sources,
    load_comet,
    tiny_backbones,
    with_speaker_tokens,
)
from stickerbench.adapters.cks.knowledge import KnowledgeCache
from stickerbench.adapters.cks.presets import PRESETS, comet_state, model_options, train_defaults
from stickerbench.adapters.cks.recipe import CKSRecipe
from stickerbench.adapters.tiny_clip import tiny_clip_config
from stickerbench.models.cks.comet import CometKnowledge
from stickerbench.models.cks.ive import encode_confounders
from stickerbench.models.cks.keue import RELATIONS
from stickerbench.models.cks.losses import LossWeights
from stickerbench.models.cks.model import CKS, CKSConfig, DialogueInputs


class CKSSelector(TorchSelector):
    name = "cks"
    train_cost = 150
    batch_unit = "pairs"
    description = "CKS: knowledge-enhanced utterances, deconfounded visual features, multimodal encoder"
    reference = "Chen et al., Deconfounded Emotion Guidance Sticker Selection with Causal Inference, ACM MM 2024"
    license = "Apache-2.0 (this implementation); backbones under their own licenses"
    paper_backbone = "roberta-base + bert-base-uncased + openai/clip-vit-base-patch32 + COMET-BART"
    supports_emotion = True
    switches: dict[str, Any] = {}

    def __init__(self, ctx: SelectorContext):
        self.preset = PRESETS.get(ctx.preset, PRESETS["tiny"])
        self.ocr_engine = "none" if self.switches.get("use_ocr") is False else str(ctx.options.get("ocr", "rapidocr"))
        super().__init__(ctx)
        self.comet: CometKnowledge | None = None
        self.knowledge: KnowledgeCache | None = None
        self._pixels: dict[str, torch.Tensor] = {}
        self._ocr: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._features: dict[str, torch.Tensor] = {}

    # -- identity -------------------------------------------------------------------------

    def model_config(self) -> CKSConfig:
        weights = LossWeights(**{k: 0.0 for k in ("itc", "itm", "emo") if self.switches.get(f"no_{k}")})
        if self.switches.get("use_cim") is False:
            weights = replace(weights, triplet=0.0)
        flags = {k: v for k, v in self.switches.items() if k.startswith("use_")}
        p = self.preset
        return CKSConfig(
            num_emotions=self.ctx.num_emotions,
            width=p.width,
            layers=p.layers,
            heads=p.heads,
            lstm_hidden=p.lstm_hidden,
            dropout=p.dropout,
            weights=weights,
            **model_options(self.ctx.options),
            **flags,
        )

    def config(self) -> dict[str, Any]:
        cfg = asdict(self.model_config())
        out = {
            "model": cfg,
            "ocr": self.ocr_engine,
            "ocr_lang": str(self.ctx.options.get("ocr_lang", "en")),
            "comet_state": comet_state(self.ctx.options),
            "recipe": asdict(train_defaults(self.preset, self.ctx.options)),
            "preset_sizes": {k: v for k, v in asdict(self.preset).items() if k != "train"},
        }
        return {**out, "tiny_clip": tiny_clip_config()} if self.ctx.preset == "tiny" else out

    def paper_source(self) -> str:
        return " + ".join(f"{role}={src}" for role, src in backbone_sources("paper", self.ctx.options).items())

    # -- building -------------------------------------------------------------------------

    def tiny_backbone(self, data: Dataset) -> Path:
        return tiny_backbones(data, Path(self.ctx.cache_dir), self.ctx.seed, self.device)

    def load_backbone(self, source: str | Path) -> None:
        from transformers import (
            AutoTokenizer,
            BartConfig,
            BertModel,
            CLIPImageProcessorPil,
            CLIPVisionModel,
            RobertaModel,
        )

        tiny = self.ctx.preset == "tiny"
        sources = backbone_sources(self.ctx.preset, self.ctx.options, source if tiny else None)
        roberta = RobertaModel.from_pretrained(sources["roberta"], add_pooling_layer=False)
        self.roberta_tok = AutoTokenizer.from_pretrained(sources["roberta"])
        bert = BertModel.from_pretrained(sources["bert"], add_pooling_layer=False)
        self.bert_tok = AutoTokenizer.from_pretrained(sources["bert"])
        for tok, model in ((self.roberta_tok, roberta), (self.bert_tok, bert)):
            with_speaker_tokens(tok, model)
        self.bert_tok.truncation_side = "left"  # dialogue: keep the most recent turns
        vision = CLIPVisionModel.from_pretrained(sources["clip"])
        self.processor = CLIPImageProcessorPil.from_pretrained(sources["clip"])
        self.comet_source = sources["comet"]
        knowledge_dim = BartConfig.from_pretrained(sources["comet"]).d_model
        confounders = encode_confounders(bert, self.bert_tok)
        self.model = CKS(
            self.model_config(), roberta, bert.embeddings, bert.config.hidden_size, vision, confounders, knowledge_dim
        )

    # -- knowledge and OCR ------------------------------------------------------------------

    def _ensure_knowledge(self, utterances: Sequence[str]) -> None:
        """Fill the on-disk cache for these utterances (COMET is loaded only when one is missing)."""
        if not self.model.cfg.use_keue:
            return
        if self.knowledge is None:
            self.comet = load_comet(self.comet_source, self.ctx.preset, self.device, comet_state(self.ctx.options))
            self.knowledge = KnowledgeCache(Path(self.ctx.cache_dir), self.comet.fingerprint, RELATIONS)
        self.knowledge.fill(self.comet, utterances)

    def _ensure_stickers(self, stickers: StickerStore, ids: Sequence[str]) -> None:
        """Pixels (for training) and OCR token ids of these stickers, computed once each."""
        todo = [i for i in dict.fromkeys(ids) if i not in self._ocr]
        if not todo:
            return
        if self.ocr_engine == "none":
            texts = {i: "" for i in todo}
        else:
            from benchmark.ocr import make_ocr_engine, ocr_stickers

            engine = make_ocr_engine(self.ocr_engine, str(self.ctx.options.get("ocr_lang", "en")))
            texts = ocr_stickers(stickers, engine, Path(self.ctx.cache_dir) / "ocr")
        enc = self.bert_tok(
            [texts.get(i) or "" for i in todo],
            padding="max_length",
            truncation=True,
            max_length=self.preset.ocr_tokens,
            return_tensors="pt",
        )
        for n, i in enumerate(todo):
            self._ocr[i] = (enc["input_ids"][n], enc["attention_mask"][n])

    def _pixel_values(self, stickers: StickerStore, ids: Sequence[str]) -> torch.Tensor:
        todo = [i for i in dict.fromkeys(ids) if i not in self._pixels]
        if todo:
            self._pixels.update(zip(todo, self._preprocess([stickers.image(i) for i in todo])))
        return torch.stack([self._pixels[i] for i in ids])

    # -- tensors --------------------------------------------------------------------------

    def dialogue_inputs(self, contexts: Sequence[Sequence[Utterance]], senders: Sequence[str]) -> DialogueInputs:
        """Tokenise dialogues for KEUE (one row per utterance) and the encoder (one sequence)."""
        turns = [
            [u for u in ctx if u.text][-self.preset.max_turns :] or [Utterance(s, "")]
            for ctx, s in zip(contexts, senders)
        ]
        b, t = len(turns), max(len(x) for x in turns)
        speakers = torch.ones(b, t, dtype=torch.long)
        turn_mask = torch.zeros(b, t, dtype=torch.long)
        lines = []
        for i, (dialogue, sender) in enumerate(zip(turns, senders)):
            for j, u in enumerate(dialogue):
                speakers[i, j] = 0 if u.speaker == sender else 1
                turn_mask[i, j] = 1
            lines.append([f"{SPEAKERS[int(speakers[i, j])]} {u.text}" for j, u in enumerate(dialogue)])
        enc = self.roberta_tok(
            [x for line in lines for x in line],
            padding=True,
            truncation=True,
            max_length=self.preset.utterance_tokens,
            return_tensors="pt",
        )
        length = enc["input_ids"].shape[1]
        ids = torch.full((b, t, length), self.roberta_tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros(b, t, length, dtype=torch.long)
        ids[turn_mask.bool()] = enc["input_ids"]
        mask[turn_mask.bool()] = enc["attention_mask"]
        knowledge = None
        if self.model.cfg.use_keue:
            knowledge = torch.zeros(b, t, len(RELATIONS), self.model.utterances.gate_intra.in_features)
            for i, dialogue in enumerate(turns):
                for j, u in enumerate(dialogue):
                    knowledge[i, j] = self.knowledge.vectors(u.text)
        dialogue = self.bert_tok(
            [" ".join(line) for line in lines],
            padding=True,
            truncation=True,
            max_length=self.preset.dialogue_tokens,
            return_tensors="pt",
        )
        return DialogueInputs(
            ids, mask, turn_mask, speakers, knowledge, dialogue["input_ids"], dialogue["attention_mask"]
        ).to(self.device)

    def _ocr_tensors(self, ids: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.stack([self._ocr[i][0] for i in ids]).to(self.device),
            torch.stack([self._ocr[i][1] for i in ids]).to(self.device),
        )

    # -- TorchSelector hooks ------------------------------------------------------------------

    def recipe(self, data: Dataset) -> CKSRecipe:
        train = data.split("train")
        self._ensure_knowledge([u.text for s in train + data.splits.get("validation", []) for u in s.context if u.text])
        self._ensure_stickers(data.stickers, list(data.stickers))
        return CKSRecipe(self, data.stickers, train)

    def encode(self, stickers: StickerStore) -> None:
        from benchmark.features import encode_stickers, module_fingerprint

        self._ensure_stickers(stickers, list(stickers))
        fingerprint = module_fingerprint(
            self.model.ive, extra={"processor": self.processor.to_dict(), "cks": "unbiased-v"}
        )
        self._features = encode_stickers(
            stickers,
            list(stickers),
            self.model.sticker_features,
            self.feature_cache_dir,
            fingerprint,
            progress=False,
            preprocess=self._preprocess,
            device=self.device,
        )

    def _preprocess(self, images: list) -> torch.Tensor:
        return self.processor(images=images, return_tensors="pt")["pixel_values"]

    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        self._ensure_knowledge([u.text for q in queries for u in q.context if u.text])
        d = self.dialogue_inputs([q.context for q in queries], [q.speaker for q in queries])
        n, b = len(queries[0].candidates), len(queries)
        width = max(1, self.pair_batch // b)  # candidates per forward: the harness sends at most
        parts = []  # pair_batch pairs, except one query with more candidates than that
        for start in range(0, n, width):
            flat = [c for q in queries for c in q.candidates[start : start + width]]
            k = len(flat) // b
            visual = torch.stack([self._features[c] for c in flat]).to(self.device).view(b, k, -1)
            ocr_ids, ocr_mask = self._ocr_tensors(flat)
            parts.append(self.model.score(d, visual, ocr_ids.view(b, k, -1), ocr_mask.view(b, k, -1)))
        scores = torch.cat([p[0] for p in parts], dim=1).float()
        emotions = None
        if parts[0][1] is not None:  # each part's logits are of its own best candidate: keep the overall best's
            owner = torch.div(scores.argmax(1), width, rounding_mode="floor")
            emotions = torch.stack([parts[int(j)][1][i] for i, j in enumerate(owner)]).float()
        return ScoreBatch(as_float64(scores), None if emotions is None else as_float64(emotions))

    def classify_emotion(self, queries: Sequence[Query]) -> np.ndarray:
        """MOD task 3: the emotion head on the [HEAD] state of each query's one candidate, the sent sticker."""
        return sent_sticker_emotions(self, queries, "trained without L_emo, or no emotion labels")


def build(ctx: SelectorContext) -> CKSSelector:
    return CKSSelector(ctx)
