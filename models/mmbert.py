"""MMBERT: a BERT cross-encoder over (dialogue context, sticker OCR tokens, sticker image token).

Rebuilt from the description of nonstopfor/Sticker-Selection (``main.py``):

* Sequence: ``[CLS] [spkX] text [spkY] text … [SEP]`` + 11 OCR slots + one image slot + ``[SEP]``.
  OCR slots hold the sticker's OCR tokens right-aligned and left-padded with ``[MASK]``; the
  image slot's input embedding is ``img_ff(clip_feature)`` (CLIP frozen, features precomputed).
  ``token_type_ids`` are 0 on the context and 1 on the 13 appended positions.
* Score: ``BertForSequenceClassification(num_labels=2)`` logit of class 1 ("matches").
* Training: one negative sticker per positive, ``(CE(pos, 1) + CE(neg, 0)) / 2``, plus
  emotion classification on the image-slot state (weight 0.1), sticker semantic prediction —
  the OCR slots all ``[MASK]``, predicting ``[CLS]`` + OCR tokens right-aligned — (0.1), and
  masked context prediction with BERT's 15 % 80/10/10 masking (0.05).

Departures from the public code, each a bug there:

* The context is cut from the *front* (the public tokenizer call kept the first 490 tokens,
  dropping the most recent turns, the ones that matter most).
* ``[CLS]``/``[SEP]`` are never masked in context prediction.
* Sticker ids are never tested for truthiness here (sticker ``0`` is a sticker); the adapter
  scores exactly the candidates it is given and leaves ties as ties.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stickerbench.models.dialogue import Turn, truncate_front

SPECIAL_TOKENS = {"additional_special_tokens": ["[speaker1]", "[speaker2]"]}
OCR_SLOTS = 11
MAX_CONTEXT = 490
IGNORE = -100


@dataclass(frozen=True)
class MmbertVocab:
    cls: int
    sep: int
    mask: int
    pad: int
    speakers: tuple[int, int]
    size: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "MmbertVocab":
        s1, s2 = tokenizer.convert_tokens_to_ids(["[speaker1]", "[speaker2]"])
        if tokenizer.unk_token_id in (s1, s2):
            raise ValueError("tokenizer lacks [speaker1]/[speaker2]; call add_mmbert_tokens first")
        return cls(
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
            tokenizer.mask_token_id,
            tokenizer.pad_token_id,
            (s1, s2),
            len(tokenizer),
        )


def context_ids(
    turns: Sequence[Turn], tokenize: Callable[[str], list[int]], vocab: MmbertVocab, max_len: int = MAX_CONTEXT
) -> list[int]:
    """``[CLS]`` + speaker-prefixed turns + ``[SEP]``, oldest tokens dropped to fit ``max_len``."""
    body = [tok for turn in turns for tok in (vocab.speakers[turn.speaker], *tokenize(turn.text))]
    return [vocab.cls, *truncate_front(body, max_len - 2), vocab.sep]


@dataclass(frozen=True)
class OcrSlots:
    """A sticker's OCR slot contents: for matching, and for the semantic-prediction task."""

    inputs: tuple[int, ...]  # OCR tokens right-aligned, [MASK]-padded on the left
    targets: tuple[int, ...]  # [CLS] + OCR tokens right-aligned, -100 elsewhere (all -100 without OCR)


def ocr_slots(ocr_ids: Sequence[int], vocab: MmbertVocab, slots: int = OCR_SLOTS) -> OcrSlots:
    """At most ``slots - 1`` OCR tokens (the first ones) so that the target's ``[CLS]`` fits."""
    ids = list(ocr_ids[: slots - 1])
    inputs = [vocab.mask] * (slots - len(ids)) + ids
    targets = [IGNORE] * (slots - len(ids) - 1) + [vocab.cls] + ids if ids else [IGNORE] * slots
    return OcrSlots(tuple(inputs), tuple(targets))


@dataclass(frozen=True)
class MmbertRow:
    """One sequence: ids (the image slot holds a placeholder), types, image slot, MLM labels."""

    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    image_position: int
    labels: tuple[int, ...]


def assemble(
    context: Sequence[int],
    slot_ids: Sequence[int],
    vocab: MmbertVocab,
    context_labels: Sequence[int] | None = None,
    slot_labels: Sequence[int] | None = None,
) -> MmbertRow:
    """``context`` + OCR slots + image slot + ``[SEP]``, with optional MLM labels per part."""
    appended = [*slot_ids, vocab.mask, vocab.sep]
    labels = [
        *(context_labels or [IGNORE] * len(context)),
        *(slot_labels or [IGNORE] * len(slot_ids)),
        IGNORE,
        IGNORE,
    ]
    return MmbertRow(
        input_ids=(*context, *appended),
        token_type_ids=(0,) * len(context) + (1,) * len(appended),
        image_position=len(context) + len(slot_ids),
        labels=tuple(labels),
    )


def mask_context(
    context: Sequence[int], vocab: MmbertVocab, generator: torch.Generator, prob: float = 0.15
) -> tuple[list[int], list[int]]:
    """BERT masking of a context: of the chosen ``prob``, 80 % ``[MASK]``, 10 % random, 10 % kept."""
    ids, labels = list(context), [IGNORE] * len(context)
    draws = torch.rand(len(ids), generator=generator).tolist()
    randoms = torch.randint(vocab.size, (len(ids),), generator=generator).tolist()
    for i, (r, token) in enumerate(zip(draws, ids)):
        if token in (vocab.cls, vocab.sep) or r >= prob:
            continue
        labels[i] = token
        if r < prob * 0.8:
            ids[i] = vocab.mask
        elif r < prob * 0.9:
            ids[i] = randoms[i]
    return ids, labels


@dataclass
class MmbertBatch:
    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    image_position: torch.Tensor
    labels: torch.Tensor

    def to(self, device) -> "MmbertBatch":
        return MmbertBatch(**{k: v.to(device) for k, v in vars(self).items()})


def collate(rows: Sequence[MmbertRow], pad_id: int) -> MmbertBatch:
    width = max(len(r.input_ids) for r in rows)

    def pad(seqs, value):
        return torch.tensor([list(s) + [value] * (width - len(s)) for s in seqs], dtype=torch.long)

    return MmbertBatch(
        input_ids=pad([r.input_ids for r in rows], pad_id),
        token_type_ids=pad([r.token_type_ids for r in rows], 0),
        attention_mask=pad([[1] * len(r.input_ids) for r in rows], 0),
        image_position=torch.tensor([r.image_position for r in rows], dtype=torch.long),
        labels=pad([r.labels for r in rows], IGNORE),
    )


@dataclass
class MmbertOutput:
    match_logits: torch.Tensor  # [B]: logit of "this sticker fits"
    class_logits: torch.Tensor  # [B, 2]
    hidden: torch.Tensor  # [B, T, H]
    image_state: torch.Tensor  # [B, H]


@dataclass(frozen=True)
class MmbertLossWeights:
    """Auxiliary-task weights of the public recipe."""

    emotion: float = 0.1
    semantic: float = 0.1
    context: float = 0.05


@dataclass
class MmbertTrainingBatch:
    """The four sequences of one training step, all over the same contexts."""

    positive: MmbertBatch
    negative: MmbertBatch
    semantic: MmbertBatch  # OCR slots all [MASK], targets = the positive's OCR
    masked_context: MmbertBatch  # context masked, positive's OCR and image
    emotions: torch.Tensor  # [B], -1 = unlabelled

    def to(self, device) -> "MmbertTrainingBatch":
        return MmbertTrainingBatch(
            *(getattr(self, k).to(device) for k in ("positive", "negative", "semantic", "masked_context", "emotions"))
        )


def training_batch(
    contexts: Sequence[Sequence[int]],
    positive_ocr: Sequence[Sequence[int]],
    negative_ocr: Sequence[Sequence[int]],
    emotions: Sequence[int | None],
    vocab: MmbertVocab,
    generator: torch.Generator,
) -> MmbertTrainingBatch:
    pos_slots = [ocr_slots(o, vocab) for o in positive_ocr]
    neg_slots = [ocr_slots(o, vocab) for o in negative_ocr]
    masked = [mask_context(c, vocab, generator) for c in contexts]
    all_mask = [vocab.mask] * OCR_SLOTS
    return MmbertTrainingBatch(
        positive=collate([assemble(c, s.inputs, vocab) for c, s in zip(contexts, pos_slots)], vocab.pad),
        negative=collate([assemble(c, s.inputs, vocab) for c, s in zip(contexts, neg_slots)], vocab.pad),
        semantic=collate(
            [assemble(c, all_mask, vocab, slot_labels=s.targets) for c, s in zip(contexts, pos_slots)], vocab.pad
        ),
        masked_context=collate(
            [assemble(ids, s.inputs, vocab, context_labels=lab) for (ids, lab), s in zip(masked, pos_slots)],
            vocab.pad,
        ),
        emotions=torch.tensor([-1 if e is None else e for e in emotions], dtype=torch.long),
    )


@dataclass
class MmbertLoss:
    total: torch.Tensor
    matching: torch.Tensor
    emotion: torch.Tensor
    semantic: torch.Tensor
    context: torch.Tensor


class MMBert(nn.Module):
    """``BertForSequenceClassification`` (2 labels) with an image projection and two heads."""

    def __init__(self, bert, feature_dim: int, num_emotions: int = 0):
        super().__init__()
        self.bert = bert
        width = bert.config.hidden_size
        self.img_ff = nn.Linear(feature_dim, width)
        self.emotion_head = nn.Linear(width, num_emotions) if num_emotions else None
        self.mlm_head = nn.Linear(width, bert.config.vocab_size)

    def forward(self, batch: MmbertBatch, image_features: torch.Tensor) -> MmbertOutput:
        """``image_features``: ``[B, F]`` CLIP features of each row's sticker."""
        embeds = self.bert.bert.embeddings.word_embeddings(batch.input_ids)
        rows = torch.arange(embeds.shape[0], device=embeds.device)
        embeds = embeds.index_put((rows, batch.image_position), self.img_ff(image_features).to(embeds.dtype))
        out = self.bert(
            inputs_embeds=embeds,
            token_type_ids=batch.token_type_ids,
            attention_mask=batch.attention_mask,
            output_hidden_states=True,
        )
        hidden = out.hidden_states[-1]
        return MmbertOutput(
            match_logits=out.logits[:, 1],
            class_logits=out.logits,
            hidden=hidden,
            image_state=hidden[rows, batch.image_position],
        )

    def emotion_logits(self, out: MmbertOutput) -> torch.Tensor | None:
        return self.emotion_head(out.image_state) if self.emotion_head is not None else None

    def _mlm_loss(self, out: MmbertOutput, labels: torch.Tensor) -> torch.Tensor:
        where = labels != IGNORE
        if not where.any():
            return out.hidden.sum() * 0
        return F.cross_entropy(self.mlm_head(out.hidden[where]).float(), labels[where])

    def loss(
        self,
        batch: MmbertTrainingBatch,
        positive_features: torch.Tensor,
        negative_features: torch.Tensor,
        weights: MmbertLossWeights = MmbertLossWeights(),
    ) -> MmbertLoss:
        pos = self(batch.positive, positive_features)
        neg = self(batch.negative, negative_features)
        ones = torch.ones_like(batch.emotions)
        matching = (
            F.cross_entropy(pos.class_logits.float(), ones) + F.cross_entropy(neg.class_logits.float(), ones * 0)
        ) / 2
        emotion = matching * 0
        labelled = batch.emotions >= 0
        if self.emotion_head is not None and labelled.any():
            emotion = F.cross_entropy(self.emotion_logits(pos)[labelled].float(), batch.emotions[labelled])
        semantic = self._mlm_loss(self(batch.semantic, positive_features), batch.semantic.labels)
        context = self._mlm_loss(self(batch.masked_context, positive_features), batch.masked_context.labels)
        total = matching + weights.emotion * emotion + weights.semantic * semantic + weights.context * context
        return MmbertLoss(total=total, matching=matching, emotion=emotion, semantic=semantic, context=context)


def add_mmbert_tokens(tokenizer, bert) -> MmbertVocab:
    """Add ``[speaker1]``/``[speaker2]`` to a BERT tokenizer and grow the embeddings to match."""
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    if len(tokenizer) > bert.get_input_embeddings().num_embeddings:
        bert.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return MmbertVocab.from_tokenizer(tokenizer)


def load_bert(name_or_dir: str | Path):
    """``(tokenizer, BertForSequenceClassification(num_labels=2))`` from a hub id or local
    directory (``bert-base-uncased`` in the paper preset), speaker tokens added."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_dir))
    bert = BertForSequenceClassification.from_pretrained(str(name_or_dir), num_labels=2)
    add_mmbert_tokens(tokenizer, bert)
    return tokenizer, bert
