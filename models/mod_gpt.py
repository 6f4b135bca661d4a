"""MOD-GPT: GPT-2 reading a dialogue whose stickers sit in the sequence as projected image features.

The DSTC10 Track 1 baseline (lizekang/DSTC10-MOD, ``baselines/MOD-GPT-E``), rebuilt from its
description:

* Sequence: each history turn is ``[spkX] [BOS] text [EOS]`` followed, when the turn carried a
  sticker, by one slot whose input embedding is ``img_ff(feature)``; the response turn is
  ``[spkX] [BOS] text [EOS] [TAG]``. ``token_type_ids`` are special-token ids embedded through
  GPT-2's own ``wte`` (GPT-2 adds ``wte(token_type_ids)`` to the input): the speaker token on
  text, ``[IMG]`` on sticker slots and on ``[TAG]``.
* History is cut from the front, whole turns at a time, so the sequence fits ``max_len`` (500).
* ``f = img_inverse_ff(h[TAG])`` regresses the sticker's feature; a candidate scores
  ``-||f - feature(c)||_2``. The public code has no ranking script; this is its retrieval rule.
* Losses: LM cross-entropy on the response tokens + "sticker used?" flag cross-entropy on
  ``h[TAG]`` + MSE(f, gold feature) when a sticker was sent.

Two deliberate departures, both so that the numbers mean what they say:

* The public dataset code drops the response's speaker token from the label list, so every
  response label is shifted by one position; here the label at position ``p`` is the token at
  ``p`` (predicted from ``p - 1``), as in any causal LM.
* An emotion head on ``h[TAG]`` is an addition: the CKS paper reports MOD-GPT's emotion
  accuracy but the public code has no emotion output. It reads a *detached* ``h[TAG]``, so its
  loss trains the head alone and the ranker stays the public one (``joint_emotion=True``: its
  gradient reaches GPT-2 too, a multitask model the DSTC10 baseline is not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stickerbench.models.dialogue import Turn, truncate_front

SPECIAL_TOKENS = {
    "bos_token": "[BOS]",
    "eos_token": "[EOS]",
    "pad_token": "[PAD]",
    "additional_special_tokens": ["[speaker1]", "[speaker2]", "[IMG]", "[TAG]"],
}
MAX_LEN = 500
IGNORE = -100


@dataclass(frozen=True)
class ModGptVocab:
    """Ids of MOD-GPT's special tokens in one tokenizer."""

    bos: int
    eos: int
    speakers: tuple[int, int]
    img: int
    tag: int
    pad: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "ModGptVocab":
        names = ["[BOS]", "[EOS]", "[speaker1]", "[speaker2]", "[IMG]", "[TAG]", "[PAD]"]
        ids = tokenizer.convert_tokens_to_ids(names)
        unk = tokenizer.unk_token_id
        missing = [n for n, i in zip(names, ids) if i is None or (unk is not None and i == unk)]
        if missing:
            raise ValueError(f"tokenizer lacks MOD-GPT special tokens {missing}; call add_mod_gpt_tokens first")
        bos, eos, s1, s2, img, tag, pad = ids
        return cls(bos, eos, (s1, s2), img, tag, pad)


@dataclass(frozen=True)
class ModGptExample:
    """One dialogue laid out for MOD-GPT.

    ``input_ids`` hold ``[IMG]`` at sticker slots (their embedding is replaced by the sticker's
    projected feature); ``image_slots`` pairs each slot position with its feature-table row;
    ``labels[p]`` is the token at ``p`` where it is an LM target, else ``-100``.
    """

    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    labels: tuple[int, ...]
    image_slots: tuple[tuple[int, int], ...]
    tag_position: int


def build_example(
    history: Sequence[Turn],
    response: Turn,
    tokenize: Callable[[str], list[int]],
    vocab: ModGptVocab,
    max_len: int = MAX_LEN,
) -> ModGptExample:
    """Lay out ``history`` + ``response`` (whose sticker is the one to predict).

    Whole history turns are dropped from the front until the rest fits ``max_len``; a response
    too long on its own keeps its last tokens.
    """
    resp_text = truncate_front(tokenize(response.text), max_len - 4)
    spk = vocab.speakers[response.speaker]
    ids = [spk, vocab.bos, *resp_text, vocab.eos, vocab.tag]
    types = [spk] * (len(ids) - 1) + [vocab.img]
    labels = [IGNORE, vocab.bos, *resp_text, vocab.eos, IGNORE]
    slots: list[int | None] = [None] * len(ids)
    for turn in reversed(history):
        spk = vocab.speakers[turn.speaker]
        block = [spk, vocab.bos, *tokenize(turn.text), vocab.eos]
        block_types = [spk] * len(block)
        block_slots: list[int | None] = [None] * len(block)
        if turn.sticker is not None:
            block, block_types, block_slots = (
                block + [vocab.img],
                block_types + [vocab.img],
                block_slots + [turn.sticker],
            )
        if len(block) + len(ids) > max_len:
            break
        ids, types, slots = block + ids, block_types + types, block_slots + slots
        labels = [IGNORE] * len(block) + labels
    return ModGptExample(
        input_ids=tuple(ids),
        token_type_ids=tuple(types),
        labels=tuple(labels),
        image_slots=tuple((p, row) for p, row in enumerate(slots) if row is not None),
        tag_position=len(ids) - 1,
    )


@dataclass
class ModGptBatch:
    """Right-padded tensors for a list of examples."""

    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    image_batch: torch.Tensor
    image_position: torch.Tensor
    image_row: torch.Tensor
    tag_positions: torch.Tensor

    def to(self, device) -> "ModGptBatch":
        return ModGptBatch(**{k: v.to(device) for k, v in vars(self).items()})


def collate(examples: Sequence[ModGptExample], pad_id: int) -> ModGptBatch:
    width = max(len(e.input_ids) for e in examples)

    def pad(rows, value):
        return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)

    slots = torch.tensor(
        [(b, p, row) for b, e in enumerate(examples) for p, row in e.image_slots], dtype=torch.long
    ).view(-1, 3)
    return ModGptBatch(
        input_ids=pad([e.input_ids for e in examples], pad_id),
        token_type_ids=pad([e.token_type_ids for e in examples], pad_id),
        attention_mask=pad([[1] * len(e.input_ids) for e in examples], 0),
        labels=pad([e.labels for e in examples], IGNORE),
        image_batch=slots[:, 0],
        image_position=slots[:, 1],
        image_row=slots[:, 2],
        tag_positions=torch.tensor([e.tag_position for e in examples], dtype=torch.long),
    )


@dataclass
class ModGptOutput:
    hidden: torch.Tensor  # [B, T, H]
    predicted_feature: torch.Tensor  # [B, F]: img_inverse_ff(h[TAG])
    flag_logits: torch.Tensor  # [B, 2]: was a sticker sent?
    emotion_logits: torch.Tensor | None  # [B, E]


@dataclass
class ModGptLoss:
    total: torch.Tensor
    lm: torch.Tensor
    flag: torch.Tensor
    feature: torch.Tensor
    emotion: torch.Tensor


class ModGPT(nn.Module):
    """GPT-2 plus MOD-GPT's image projections, flag head and (added) emotion head."""

    def __init__(self, lm, feature_dim: int, num_emotions: int = 0, joint_emotion: bool = False):
        super().__init__()
        self.lm = lm  # GPT2LMHeadModel, its vocabulary already holding SPECIAL_TOKENS
        self.joint_emotion = joint_emotion
        width = lm.config.n_embd
        self.img_ff = nn.Linear(feature_dim, width)
        self.img_inverse_ff = nn.Linear(width, feature_dim)
        self.flag_head = nn.Linear(width, 2)
        self.emotion_head = nn.Linear(width, num_emotions) if num_emotions else None

    def forward(self, batch: ModGptBatch, features: torch.Tensor) -> ModGptOutput:
        """``features``: the feature table ``[S, F]`` that the batch's sticker rows index."""
        embeds = self.lm.transformer.wte(batch.input_ids)
        if batch.image_row.numel():
            projected = self.img_ff(features[batch.image_row]).to(embeds.dtype)
            embeds = embeds.index_put((batch.image_batch, batch.image_position), projected)
        hidden = self.lm.transformer(
            inputs_embeds=embeds, token_type_ids=batch.token_type_ids, attention_mask=batch.attention_mask
        ).last_hidden_state
        tag = hidden[torch.arange(hidden.shape[0], device=hidden.device), batch.tag_positions]
        return ModGptOutput(
            hidden=hidden,
            predicted_feature=self.img_inverse_ff(tag),
            flag_logits=self.flag_head(tag),
            emotion_logits=self.emotion_head(tag if self.joint_emotion else tag.detach())
            if self.emotion_head is not None
            else None,
        )

    @staticmethod
    def candidate_scores(predicted: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """``-||f - feature(c)||_2`` for ``predicted`` [B, F] and ``candidates`` [B, N, F], or [N, F]
        when every query has the same candidates (a full pool: no [B, N, F] copy is made)."""
        if candidates.dim() == 2:
            return -torch.cdist(predicted[None], candidates[None], compute_mode="donot_use_mm_for_euclid_dist")[0]
        return -torch.linalg.vector_norm(candidates - predicted[:, None, :], dim=-1)

    def loss(
        self,
        batch: ModGptBatch,
        features: torch.Tensor,
        gold_rows: torch.Tensor,
        emotions: torch.Tensor | None = None,
        emotion_weight: float = 1.0,
    ) -> ModGptLoss:
        """LM + flag + MSE (+ emotion). ``gold_rows[b] = -1``: no sticker sent (flag 0, no MSE);
        ``emotions[b] = -1``: no emotion label."""
        out = self(batch, features)
        # Only positions that predict a label go through the vocabulary projection: the loss is
        # the same as over the full [B, T, V] logits at a fraction of the memory.
        targets = batch.labels[:, 1:]
        where = targets != IGNORE
        lm_logits = self.lm.lm_head(out.hidden[:, :-1][where])
        lm = F.cross_entropy(lm_logits.float(), targets[where]) if where.any() else out.hidden.sum() * 0
        sent = gold_rows >= 0
        flag = F.cross_entropy(out.flag_logits.float(), sent.long())
        feature = (
            F.mse_loss(out.predicted_feature[sent].float(), features[gold_rows[sent]].float())
            if sent.any()
            else flag * 0
        )
        emotion = flag * 0
        if self.emotion_head is not None and emotions is not None and (emotions >= 0).any():
            labelled = emotions >= 0
            emotion = F.cross_entropy(out.emotion_logits[labelled].float(), emotions[labelled])
        total = lm + flag + feature + emotion_weight * emotion
        return ModGptLoss(total=total, lm=lm, flag=flag, feature=feature, emotion=emotion)


def add_mod_gpt_tokens(tokenizer, lm) -> ModGptVocab:
    """Add MOD-GPT's special tokens to a GPT-2 tokenizer and grow the LM's embeddings to match."""
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    if len(tokenizer) > lm.get_input_embeddings().num_embeddings:
        lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return ModGptVocab.from_tokenizer(tokenizer)


def load_gpt2(name_or_dir: str | Path):
    """``(tokenizer, GPT2LMHeadModel)`` from a hub id or a local ``save_pretrained`` directory,
    with MOD-GPT's special tokens added (``gpt2`` in the paper preset)."""
    from transformers import AutoTokenizer, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_dir))
    lm = GPT2LMHeadModel.from_pretrained(str(name_or_dir))
    add_mod_gpt_tokens(tokenizer, lm)
    return tokenizer, lm
