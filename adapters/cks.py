"""``cks`` and its Table 2 ablations: the causal knowledge-enhanced sticker selector.

The architecture lives in :mod:`models.cks` (equations cited there); this file turns queries
into its tensors, holds the presets and the training recipe for the shared trainer.

Inference (paper §5.2 "we combine contrastive scores with multimodal information matching
scores"; no formula is given, so this is the choice):

    score(c) = exp(τ)·cos(ĥ_T, v_c) + (logit_match − logit_nomatch)(HEAD of Enc(dialogue, c))

the learnt-temperature contrastive logit plus the matching head's log-odds. ``cks-no-itc``
scores with the matching term alone and ``cks-no-itm`` with the contrastive term alone (an
untrained head would only add noise). The emotion prediction is the emotion head on the [HEAD]
state of the top-scoring candidate.

Commonsense knowledge: g_i^k is the mean of COMET-BART's decoder last-layer hidden states over
its greedy output (see :mod:`models.cks.comet` for why), cached on disk by
:mod:`benchmark.knowledge`; ``python -m benchmark knowledge build`` fills the cache ahead.

Presets
    ``paper``: roberta-base (utterances), bert-base-uncased (Ekman dictionary and the token
    embedding layer), openai/clip-vit-base-patch32 (vision tower, [CLS] = pooler output), a
    12-layer width-512 encoder, bi-LSTM d = 300; COMET-BART (ATOMIC-2020) from
    ``--option comet_model=DIR_OR_HUB_ID`` (required: AllenAI publish it as a tarball, not on
    the hub). Other backbones can be pointed elsewhere with ``roberta_model``, ``bert_model``,
    ``clip_model``. Optimiser: lr 1e-5, weight decay 3e-4, batch 64, ≤ 50 epochs (§5.2) — with
    the shared trainer's AdamW (decoupled decay) and warmup + cosine, where the paper says Adam.
    ``tiny``: the same classes, a 2-layer width-64 encoder, random-init 32-d RoBERTa, BERT and a
    tiny BART as COMET (no dropout inside them: at width 32 dropout noise drowned the utterance
    signal and the contrastive loss never left ln(#stickers in the batch)), a WordPiece
    tokenizer trained on the training split. The IVE's CLIP is the vision tower of the shared
    description-pretrained tiny CLIP (:mod:`adapters.tiny_clip`: 32-d, 64 px, trained only on
    (sticker image, sticker description) pairs, never on a dialogue or a sample's emotion label),
    as the paper's IVE starts from pretrained CLIP; its config keys both the backbone directory
    and the cached checkpoints. Optimiser: lr 3e-3 (random-init text parts need far more than the
    paper's 1e-5 to learn in four epochs), the pretrained vision tower at a tenth of it
    (``Preset.vision_lr_scale``; the paper fine-tunes everything at one lr, but there every part
    is pretrained — at the full tiny lr the tower drifts away from its features; 600-step probes,
    test_easy R10@1 on 300 samples: full lr 49%, a tenth 51%, frozen 58%; frozen is not an option,
    since eq. 11 is how CIM trains the tower, so a tenth it is).

Ablations (each removes exactly one part):
    ``cks-no-keue`` ĥ_i = Linear(RoBERTa r_i): no bi-LSTM, knowledge or speaker attention;
    ``cks-no-vkd``  v = Linear([v_p; ṽ]): v_p where v̄ would be;
    ``cks-no-cim``  ṽ = v_p (no style randomisation) and no triplet loss;
    ``cks-no-itc`` / ``cks-no-itm`` / ``cks-no-emo``: that loss off (and out of the score;
    without L_emo no emotion is predicted); ``cks-no-ocr``: no OCR tokens in the encoder.

Training negatives: for each dialogue one sticker whose emotion differs from the gold's (a
sticker's emotion is the majority emotion of the training samples where it is the gold;
the gold's emotion is the sample's label when present), drawn per epoch; the matching head sees
its CLIP feature v_n directly (§4.3). Because the positive always arrives as the fused v and
the paper's negative always as the raw v_n, the matching head could separate them by origin
alone; so each dialogue also gets a second matching negative, the fused v of another gold in
the batch with a different emotion (``CKSConfig.fused_negatives``; see ``CKS.losses``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adapters.base import TorchSelector
from adapters.tiny_clip import TINY_CLIP, tiny_clip_config, tiny_clip_dir
from benchmark.errors import SelectorError
from benchmark.io import staging_dir
from benchmark.knowledge import KnowledgeCache
from benchmark.selector import SelectorContext
from benchmark.trainer import RecipeDefaults, ResolvedConfig
from benchmark.types import Dataset, Query, Sample, ScoreBatch, StickerStore, Utterance
from models.cks.comet import CometKnowledge
from models.cks.ive import EKMAN_EMOTIONS, encode_confounders
from models.cks.keue import RELATIONS
from models.cks.losses import LossWeights
from models.cks.model import CKS, CKSConfig, DialogueInputs
from models.clip_features import load_clip_parts

SPEAKERS = ("[speaker1]", "[speaker2]")  # the sticker's sender, the other speaker
GEN = "[GEN]"
ROLES = ("roberta", "bert", "clip", "comet")
PAPER_BACKBONES = {"roberta": "roberta-base", "bert": "bert-base-uncased", "clip": "openai/clip-vit-base-patch32"}


@dataclass(frozen=True)
class Preset:
    width: int
    layers: int
    heads: int
    lstm_hidden: int
    max_turns: int
    utterance_tokens: int
    dialogue_tokens: int
    ocr_tokens: int
    comet_new_tokens: int
    dropout: float
    train: RecipeDefaults
    vision_lr_scale: float = 1.0  # the CLIP vision tower's learning rate, relative to the rest


PRESETS = {
    "paper": Preset(width=512, layers=12, heads=8, lstm_hidden=300, max_turns=32, utterance_tokens=64,
                    dialogue_tokens=256, ocr_tokens=16, comet_new_tokens=12, dropout=0.1,
                    train=RecipeDefaults(epochs=50, batch_size=64, lr=1e-5, weight_decay=3e-4)),
    "tiny": Preset(width=64, layers=2, heads=4, lstm_hidden=32, max_turns=8, utterance_tokens=24,
                   dialogue_tokens=48, ocr_tokens=8, comet_new_tokens=4, dropout=0.0,
                   train=RecipeDefaults(epochs=4, batch_size=32, lr=3e-3, weight_decay=3e-4), vision_lr_scale=0.1),
}
TINY_DIM = TINY_CLIP["hidden"]  # BERT and CLIP widths must match for VKD (eq. 8)
TINY_IMAGE = TINY_CLIP["image_size"]
TINY_INIT = 0.3
"""Init std of the tiny text models. At the usual 0.02 a random 1-layer encoder's first-token
state is the same vector for every utterance (mean pairwise cosine 1.000 on MojiChat): the
residual stream carries only the [CLS] embedding, so r_i, the Ekman dictionary and the
knowledge vectors would all be constants at the start. At 0.3 it is 0.73."""


# ---------------------------------------------------------------------------- backbones


def _with_speaker_tokens(tokenizer, model) -> None:
    """Add [speaker1]/[speaker2] (§4.1.1) to a pretrained vocabulary and grow the embeddings."""
    missing = [t for t in SPEAKERS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
        model.resize_token_embeddings(len(tokenizer))


def write_tiny_backbones(data: Dataset, out: Path, seed: int, clip_dir: str | Path | None = None) -> Path:
    """Small RoBERTa, BERT and BART (COMET), random init, one tokenizer; and the CLIP vision tower.

    ``clip_dir``: a saved ``CLIPModel`` (+ processor) whose vision tower is the IVE's CLIP, copied
    as the ``clip`` role (:func:`tiny_backbones` passes the description-pretrained tiny CLIP of
    :mod:`adapters.tiny_clip`); without it a random-init vision tower of the same shape is written
    (enough where only loadable directories are needed).

    Each model is initialised under its own seed so that the tiny COMET (and so the knowledge
    cache's fingerprint) depends only on the dataset and the seed.
    """
    from transformers import (BartConfig, BartForConditionalGeneration, BertConfig, BertModel, CLIPImageProcessorPil,
                              CLIPVisionConfig, CLIPVisionModel, RobertaConfig, RobertaModel)

    from benchmark.tiny_tokenizer import dataset_texts, train_tiny_tokenizer

    tok = train_tiny_tokenizer(dataset_texts(data, "train") + list(EKMAN_EMOTIONS) + list(RELATIONS),
                               max_length=64, extra_special_tokens=[*SPEAKERS, GEN])
    text = dict(vocab_size=len(tok), hidden_size=TINY_DIM, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id,
                initializer_range=TINY_INIT, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    builders = {
        "roberta": lambda: RobertaModel(RobertaConfig(**text), add_pooling_layer=False),
        "bert": lambda: BertModel(BertConfig(**text), add_pooling_layer=False),
        "clip": lambda: CLIPVisionModel(CLIPVisionConfig(hidden_size=TINY_DIM, intermediate_size=64, num_hidden_layers=1,
                                                         num_attention_heads=2, image_size=TINY_IMAGE, patch_size=8)),
        "comet": lambda: BartForConditionalGeneration(BartConfig(
            vocab_size=len(tok), d_model=TINY_DIM, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=130,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
            decoder_start_token_id=tok.sep_token_id, forced_eos_token_id=None, init_std=TINY_INIT)),
    }
    for i, (role, make) in enumerate(builders.items()):
        if role == "clip" and clip_dir is not None:  # the vision half of a full CLIPModel checkpoint
            vision, _, processor = load_clip_parts(clip_dir)  # loads the whole CLIP: no unused-key report
            vision.save_pretrained(out / role)
            processor.save_pretrained(out / role)
            continue
        with torch.random.fork_rng():
            torch.manual_seed(seed * 10 + i)
            make().save_pretrained(out / role)
        if role == "clip":
            CLIPImageProcessorPil(size={"shortest_edge": TINY_IMAGE},
                                  crop_size={"height": TINY_IMAGE, "width": TINY_IMAGE}).save_pretrained(out / role)
        else:
            tok.save_pretrained(out / role)
    return out


def _tiny_clip_key() -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(tiny_clip_config(), sort_keys=True).encode()).hexdigest()[:12]


def tiny_backbones(data: Dataset, cache_dir: Path, seed: int, device: str = "cpu") -> Path:
    """The tiny backbones of (dataset, seed), written once under ``cache_dir`` and reused.

    Reuse matters twice: ``knowledge build`` and training must see the very same tiny COMET (the
    knowledge cache is keyed by its weights and vocabulary, and training the tiny tokenizer
    twice need not give the same ids), and every ablation starts from the same init, so a
    Table 2 row differs from ``cks`` only by the part it removes. The ``clip`` role is the
    shared description-pretrained tiny CLIP (built on first use, :func:`adapters.tiny_clip.tiny_clip_dir`);
    its config is part of the directory name, so a changed tiny CLIP never reuses a stale copy.
    """
    import shutil

    path = Path(cache_dir) / "cks-tiny" / f"{data.fingerprint[:20]}-seed{seed}-init{TINY_INIT}-nodrop-clip{_tiny_clip_key()}"
    if all((path / role / "config.json").is_file() for role in ROLES):
        return path
    clip_dir = tiny_clip_dir(data, Path(cache_dir), seed, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(path.parent, ".staging-")
    write_tiny_backbones(data, staging, seed, clip_dir=clip_dir)
    try:
        staging.replace(path)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(staging, ignore_errors=True)
    return path


def backbone_sources(preset: str, options: dict[str, Any], tiny_dir: str | Path | None = None) -> dict[str, str]:
    """role → hub id or directory; ``paper`` needs ``comet_model``."""
    if preset == "tiny":
        return {role: str(Path(tiny_dir) / role) for role in ROLES}
    sources = {role: str(options.get(f"{role}_model") or default) for role, default in PAPER_BACKBONES.items()}
    if not options.get("comet_model"):
        raise SelectorError(
            "cks@paper needs COMET-BART (ATOMIC-2020): pass --option comet_model=DIR with the directory of "
            "the comet-atomic_2020_BART checkpoint (or a hub id of a copy)"
        )
    sources["comet"] = str(options["comet_model"])
    return sources


def load_comet(source: str, preset: str, device: str) -> CometKnowledge:
    from transformers import AutoTokenizer, BartForConditionalGeneration

    model = BartForConditionalGeneration.from_pretrained(source).to(device)
    return CometKnowledge(model, AutoTokenizer.from_pretrained(source), max_new_tokens=PRESETS[preset].comet_new_tokens,
                          name=source)


def make_comet(preset: str, dataset: Dataset, options: dict[str, Any], device: str, cache_dir: Path,
               seed: int = 0) -> CometKnowledge:
    """The COMET that ``cks@preset`` would use on ``dataset`` (for ``knowledge build``)."""
    if preset == "paper":
        return load_comet(backbone_sources("paper", options)["comet"], preset, device)
    return load_comet(str(tiny_backbones(dataset, cache_dir, seed, device) / "comet"), preset, device)


# ---------------------------------------------------------------------------- the selector


class CKSSelector(TorchSelector):
    name = "cks"
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
        return CKSConfig(num_emotions=self.ctx.num_emotions, width=p.width, layers=p.layers, heads=p.heads,
                         lstm_hidden=p.lstm_hidden, dropout=p.dropout, weights=weights, **flags)

    def config(self) -> dict[str, Any]:
        cfg = asdict(self.model_config())
        out = {"model": cfg, "ocr": self.ocr_engine, "preset_sizes": {k: v for k, v in asdict(self.preset).items() if k != "train"}}
        return {**out, "tiny_clip": tiny_clip_config()} if self.ctx.preset == "tiny" else out

    def paper_source(self) -> str:
        return " + ".join(f"{role}={src}" for role, src in backbone_sources("paper", self.ctx.options).items())

    # -- building -------------------------------------------------------------------------

    def tiny_backbone(self, data: Dataset) -> Path:
        return tiny_backbones(data, Path(self.ctx.cache_dir), self.ctx.seed, self.device)

    def load_backbone(self, source: str | Path) -> None:
        from transformers import AutoTokenizer, BartConfig, BertModel, CLIPImageProcessorPil, CLIPVisionModel, RobertaModel

        tiny = self.ctx.preset == "tiny"
        sources = backbone_sources(self.ctx.preset, self.ctx.options, source if tiny else None)
        roberta = RobertaModel.from_pretrained(sources["roberta"], add_pooling_layer=False)
        self.roberta_tok = AutoTokenizer.from_pretrained(sources["roberta"])
        bert = BertModel.from_pretrained(sources["bert"], add_pooling_layer=False)
        self.bert_tok = AutoTokenizer.from_pretrained(sources["bert"])
        for tok, model in ((self.roberta_tok, roberta), (self.bert_tok, bert)):
            _with_speaker_tokens(tok, model)
        self.bert_tok.truncation_side = "left"  # dialogue: keep the most recent turns
        vision = CLIPVisionModel.from_pretrained(sources["clip"])
        self.processor = CLIPImageProcessorPil.from_pretrained(sources["clip"])
        self.comet_source = sources["comet"]
        knowledge_dim = BartConfig.from_pretrained(sources["comet"]).d_model
        confounders = encode_confounders(bert, self.bert_tok)
        self.model = CKS(self.model_config(), roberta, bert.embeddings, bert.config.hidden_size, vision, confounders,
                         knowledge_dim)

    # -- knowledge and OCR ------------------------------------------------------------------

    def _ensure_knowledge(self, utterances: Sequence[str]) -> None:
        """Fill the on-disk cache for these utterances (COMET is loaded only when one is missing)."""
        if not self.model.cfg.use_keue:
            return
        if self.knowledge is None:
            self.comet = load_comet(self.comet_source, self.ctx.preset, self.device)
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

            texts = ocr_stickers(stickers, make_ocr_engine(self.ocr_engine), Path(self.ctx.cache_dir) / "ocr")
        enc = self.bert_tok([texts.get(i) or "" for i in todo], padding="max_length", truncation=True,
                            max_length=self.preset.ocr_tokens, return_tensors="pt")
        for n, i in enumerate(todo):
            self._ocr[i] = (enc["input_ids"][n], enc["attention_mask"][n])

    def _pixel_values(self, stickers: StickerStore, ids: Sequence[str]) -> torch.Tensor:
        todo = [i for i in dict.fromkeys(ids) if i not in self._pixels]
        if todo:
            px = self.processor(images=[stickers.image(i) for i in todo], return_tensors="pt")["pixel_values"]
            self._pixels.update(zip(todo, px))
        return torch.stack([self._pixels[i] for i in ids])

    # -- tensors --------------------------------------------------------------------------

    def dialogue_inputs(self, contexts: Sequence[Sequence[Utterance]], senders: Sequence[str]) -> DialogueInputs:
        """Tokenise dialogues for KEUE (one row per utterance) and the encoder (one sequence)."""
        turns = [[u for u in ctx if u.text][-self.preset.max_turns:] or [Utterance(s, "")] for ctx, s in zip(contexts, senders)]
        b, t = len(turns), max(len(x) for x in turns)
        speakers = torch.ones(b, t, dtype=torch.long)
        turn_mask = torch.zeros(b, t, dtype=torch.long)
        lines = []
        for i, (dialogue, sender) in enumerate(zip(turns, senders)):
            for j, u in enumerate(dialogue):
                speakers[i, j] = 0 if u.speaker == sender else 1
                turn_mask[i, j] = 1
            lines.append([f"{SPEAKERS[int(speakers[i, j])]} {u.text}" for j, u in enumerate(dialogue)])
        enc = self.roberta_tok([x for line in lines for x in line], padding=True, truncation=True,
                               max_length=self.preset.utterance_tokens, return_tensors="pt")
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
        dialogue = self.bert_tok([" ".join(line) for line in lines], padding=True, truncation=True,
                                 max_length=self.preset.dialogue_tokens, return_tensors="pt")
        return DialogueInputs(ids, mask, turn_mask, speakers, knowledge, dialogue["input_ids"],
                              dialogue["attention_mask"]).to(self.device)

    def _ocr_tensors(self, ids: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.stack([self._ocr[i][0] for i in ids]).to(self.device),
                torch.stack([self._ocr[i][1] for i in ids]).to(self.device))

    # -- TorchSelector hooks ------------------------------------------------------------------

    def recipe(self, data: Dataset) -> "CKSRecipe":
        train = data.split("train")
        self._ensure_knowledge([u.text for s in train + data.splits.get("validation", []) for u in s.context if u.text])
        self._ensure_stickers(data.stickers, list(data.stickers))
        return CKSRecipe(self, data.stickers, train)

    def encode(self, stickers: StickerStore) -> None:
        from benchmark.features import encode_stickers, module_fingerprint

        self._ensure_stickers(stickers, list(stickers))
        fingerprint = module_fingerprint(self.model.ive, extra={"processor": self.processor.to_dict(), "cks": "unbiased-v"})
        self._features = encode_stickers(stickers, list(stickers), self._encode_images, self.feature_cache_dir,
                                         fingerprint, progress=False)

    def _encode_images(self, images: list) -> torch.Tensor:
        px = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        return self.model.sticker_features(px)

    def score_queries(self, queries: Sequence[Query]) -> ScoreBatch:
        self._ensure_knowledge([u.text for q in queries for u in q.context if u.text])
        d = self.dialogue_inputs([q.context for q in queries], [q.speaker for q in queries])
        n = len(queries[0].candidates)
        flat = [c for q in queries for c in q.candidates]
        visual = torch.stack([self._features[c] for c in flat]).to(self.device).view(len(queries), n, -1)
        ocr_ids, ocr_mask = self._ocr_tensors(flat)
        scores, emotions = self.model.score(d, visual, ocr_ids.view(len(queries), n, -1), ocr_mask.view(len(queries), n, -1))
        return ScoreBatch(scores.float().cpu().numpy(), None if emotions is None else emotions.float().cpu().numpy())


def sticker_emotions(samples: Sequence[Sample]) -> dict[str, int]:
    """A sticker's emotion: the majority label of the training samples where it is the gold."""
    votes: dict[str, Counter] = {}
    for s in samples:
        if s.emotion is not None:
            votes.setdefault(s.gold, Counter())[s.emotion] += 1
    return {sid: c.most_common(1)[0][0] for sid, c in votes.items()}


class CKSRecipe:
    """What the shared trainer optimises: eq. 14 over (dialogue, gold, emotion-different negative)."""

    def __init__(self, selector: CKSSelector, stickers: StickerStore, train: list[Sample]):
        self.selector = selector
        self.module = selector.model
        self.defaults = selector.preset.train
        self.stickers = stickers
        self.emotions = sticker_emotions(train)
        self.pool = sorted({s.gold for s in train})
        self.index = {sid: i for i, sid in enumerate(sorted(stickers))}
        self.find_unused_parameters = True  # ablations leave heads unused

    def param_groups(self, cfg: ResolvedConfig) -> list[dict[str, Any]]:
        """Everything trains (the CLIP tower too: eq. 11 optimises it); the tower at
        ``lr · vision_lr_scale`` (see the module docstring)."""
        vision = [p for p in self.module.ive.vision.parameters() if p.requires_grad]
        ids = {id(p) for p in vision}
        rest = [p for p in self.module.parameters() if p.requires_grad and id(p) not in ids]
        scale = self.selector.preset.vision_lr_scale
        if scale == 1.0:
            return [{"params": rest + vision}]
        return [{"params": rest}, {"params": vision, "lr": cfg.lr * scale}]

    def negative(self, sample: Sample, rng: np.random.Generator) -> str:
        """A training sticker whose emotion differs from the gold's (any other one if none does)."""
        emotion = sample.emotion if sample.emotion is not None else self.emotions.get(sample.gold)
        pool = [s for s in self.pool if s != sample.gold and emotion is not None
                and self.emotions.get(s, emotion) != emotion]
        pool = pool or [s for s in self.pool if s != sample.gold] or [s for s in self.index if s != sample.gold]
        return pool[int(rng.integers(len(pool)))]

    def batch_negatives(self, samples: list[Sample]) -> list[int]:
        """For each sample, the next one in the batch whose gold differs and, when emotions are
        known, whose emotion differs too (its fused feature is a second matching negative); −1
        if there is none. Deterministic, so the batch order (already random) is the only draw."""
        emotions = [s.emotion if s.emotion is not None else self.emotions.get(s.gold) for s in samples]
        out = []
        for i, s in enumerate(samples):
            others = [(i + k) % len(samples) for k in range(1, len(samples))]
            different = [j for j in others if samples[j].gold != s.gold]
            strict = [j for j in different if emotions[i] is None or emotions[j] != emotions[i]]
            out.append((strict or different or [-1])[0])
        return out

    def batches(self, data: Dataset, split: str, batch_size: int, rng: np.random.Generator, epoch: int):
        samples = data.split(split)
        order = rng.permutation(len(samples))
        for start in range(0, len(order), batch_size):
            chunk = [samples[i] for i in order[start:start + batch_size]]
            yield [(s, self.negative(s, rng)) for s in chunk]

    def loss(self, examples: list[tuple[Sample, str]]) -> dict[str, torch.Tensor]:
        sel, device = self.selector, self.selector.device
        samples = [s for s, _ in examples]
        golds = [s.gold for s in samples]
        negatives = [n for _, n in examples]
        d = sel.dialogue_inputs([s.context for s in samples], [s.speaker for s in samples])
        parts = self.module.losses(
            d,
            sel._pixel_values(self.stickers, golds).to(device),
            sel._pixel_values(self.stickers, negatives).to(device),
            sel._ocr_tensors(golds),
            sel._ocr_tensors(negatives),
            torch.tensor([self.index[g] for g in golds], device=device),
            torch.tensor([-100 if s.emotion is None else s.emotion for s in samples], device=device),
            torch.tensor(self.batch_negatives(samples), device=device),
        )
        return {"loss": self.module.cfg.weights.total(parts), **{k: v.detach() for k, v in parts.items()}}


# ---------------------------------------------------------------------------- registry


class CKSNoKEUE(CKSSelector):
    name = "cks-no-keue"
    description = "CKS without KEUE (ĥ = Linear(RoBERTa r_i))"
    switches = {"use_keue": False}


class CKSNoVKD(CKSSelector):
    name = "cks-no-vkd"
    description = "CKS without the visual knowledge deconfounder"
    switches = {"use_vkd": False}


class CKSNoCIM(CKSSelector):
    name = "cks-no-cim"
    description = "CKS without the content-invariant module and triplet loss"
    switches = {"use_cim": False}


class CKSNoITC(CKSSelector):
    name = "cks-no-itc"
    description = "CKS without the contrastive loss and score"
    switches = {"no_itc": True}


class CKSNoITM(CKSSelector):
    name = "cks-no-itm"
    description = "CKS without the matching loss and score"
    switches = {"no_itm": True}


class CKSNoEmo(CKSSelector):
    name = "cks-no-emo"
    description = "CKS without the emotion loss"
    switches = {"no_emo": True}
    supports_emotion = False


class CKSNoOCR(CKSSelector):
    name = "cks-no-ocr"
    description = "CKS without OCR tokens"
    switches = {"use_ocr": False}


def build(ctx: SelectorContext) -> CKSSelector:
    return CKSSelector(ctx)
