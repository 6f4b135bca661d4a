"""CKS assembled: KEUE + IVE + multimodal encoder, the training losses and the inference score.

Inference score of candidate c for a dialogue (§5.2 "we combine contrastive scores with
multimodal information matching scores"; the paper gives no formula, so this one is chosen):

    score(c) = s·cos(ĥ_T, v_c) + [logit_match(X_c) − logit_nomatch(X_c)]

the contrastive logit (s = exp(logit_scale), the temperature learnt by L_ITC) plus the matching
head's log-odds — the sum of two log-scores, i.e. a product of the two experts'
unnormalised probabilities. A part whose loss is ablated away (w/o ITC, w/o ITM) is untrained
and is left out of the score. v_c is the unbiased feature of §4.2.3 for every candidate (at
inference the sticker is unknown, so every candidate is treated as the positive would be).

The predicted emotion is the emotion head's output on the [HEAD] state of the top-scoring
candidate: the emotion "when selecting the sticker" (§4.3) for the sticker that is selected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from stickerbench.models.cks.dct import DEFAULT_CIM_READING
from stickerbench.models.cks.encoder import MultimodalEncoder
from stickerbench.models.cks.ive import DEFAULT_VKD_READING, InterventionalVisualExtractor
from stickerbench.models.cks.keue import KnowledgeEnhancedUtteranceExtractor, PlainUtteranceExtractor
from stickerbench.models.cks.losses import LossWeights, contrastive_loss, matching_loss, triplet_loss

MAX_LOGIT_SCALE = math.log(100.0)


@dataclass(frozen=True)
class CKSConfig:
    """Sizes and switches; the ``use_*`` flags and zero loss weights are the Table 2 ablations."""

    num_emotions: int
    width: int = 512  # multimodal encoder width (§5.2)
    layers: int = 12  # multimodal encoder depth (§5.2)
    heads: int = 8
    lstm_hidden: int = 300  # bi-LSTM d (§5.2)
    dropout: float = 0.1
    margin: float = 0.2  # μ of eq. 11
    r_high: float = 0.7  # R_h of eq. 9
    r_low: float = 0.005  # R_l of eq. 9
    use_keue: bool = True
    use_vkd: bool = True
    use_cim: bool = True
    use_ocr: bool = True
    fused_negatives: bool = False  # False: the paper's matching negatives only (see CKS.losses)
    cim_positions: str = DEFAULT_CIM_READING  # the reading of eq. 9-10 (models.cks.dct.CIM_READINGS)
    vkd: str = DEFAULT_VKD_READING  # the reading of eq. 8 (models.cks.ive.VisualKnowledgeDeconfounder)
    keue_value: str = "f_q"  # eq. 4's value projection: F_q as printed, or F_k
    weights: LossWeights = field(default_factory=LossWeights)


@dataclass
class DialogueInputs:
    """One batch of dialogues, tokenised for both text paths.

    utterance_ids/mask [B, T, L] (RoBERTa, one row per utterance, "<s> [speaker j] text");
    turn_mask [B, T]; speakers [B, T] (0 = the sticker's sender, 1 = the other speaker);
    knowledge [B, T, 6, D_k] (COMET vectors, :data:`models.cks.keue.RELATIONS` order) or None
    without KEUE; dialogue_ids/mask [B, Lx] (the whole context as one BERT token sequence).
    """

    utterance_ids: torch.Tensor
    utterance_mask: torch.Tensor
    turn_mask: torch.Tensor
    speakers: torch.Tensor
    knowledge: torch.Tensor | None
    dialogue_ids: torch.Tensor
    dialogue_mask: torch.Tensor

    def to(self, device) -> "DialogueInputs":
        return DialogueInputs(
            *(
                None if t is None else t.to(device)
                for t in (
                    self.utterance_ids,
                    self.utterance_mask,
                    self.turn_mask,
                    self.speakers,
                    self.knowledge,
                    self.dialogue_ids,
                    self.dialogue_mask,
                )
            )
        )


class CKS(nn.Module):
    def __init__(
        self,
        cfg: CKSConfig,
        utterance_encoder: nn.Module,
        token_embeddings: nn.Module,
        token_dim: int,
        vision: nn.Module,
        confounders: torch.Tensor,
        knowledge_dim: int,
    ):
        super().__init__()
        self.cfg = cfg
        d_r = vision.config.hidden_size  # d^r: CLIP [CLS] width = utterance representation width
        if cfg.use_keue:
            self.utterances = KnowledgeEnhancedUtteranceExtractor(
                utterance_encoder, knowledge_dim, cfg.lstm_hidden, d_r, cfg.keue_value
            )
        else:
            self.utterances = PlainUtteranceExtractor(utterance_encoder, d_r)
        self.ive = InterventionalVisualExtractor(
            vision, confounders, cfg.use_vkd, cfg.use_cim, cfg.r_high, cfg.r_low, cfg.cim_positions, cfg.vkd
        )
        self.encoder = MultimodalEncoder(
            token_embeddings, token_dim, d_r, d_r, cfg.width, cfg.layers, cfg.heads, cfg.num_emotions, cfg.dropout
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @property
    def predicts_emotion(self) -> bool:
        return self.cfg.num_emotions > 0 and self.cfg.weights.emo > 0

    def utterance_features(self, d: DialogueInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """ĥ for every utterance [B, T, d^r] and ĥ_T, the last utterance's [B, d^r]."""
        h = self.utterances(d.utterance_ids, d.utterance_mask, d.turn_mask, d.speakers, d.knowledge)
        last = (d.turn_mask.sum(1) - 1).clamp(min=0)
        return h, h[torch.arange(len(h), device=h.device), last]

    def _head(self, d: DialogueInputs, h: torch.Tensor, visual: torch.Tensor, ocr_ids, ocr_mask) -> torch.Tensor:
        if not self.cfg.use_ocr:
            ocr_ids = ocr_mask = None
        return self.encoder(d.dialogue_ids, d.dialogue_mask, h, d.turn_mask, visual, ocr_ids, ocr_mask)

    def losses(
        self,
        d: DialogueInputs,
        positive_pixels: torch.Tensor,
        negative_pixels: torch.Tensor,
        positive_ocr: tuple[torch.Tensor, torch.Tensor],
        negative_ocr: tuple[torch.Tensor, torch.Tensor],
        positive_keys: torch.Tensor,
        emotions: torch.Tensor,
        batch_negatives: torch.Tensor | None = None,
        gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """The terms of eq. 14 that the config keeps (weight ≠ 0), unweighted.

        ``positive_keys`` [B] identifies each gold sticker (for the in-batch contrastive loss);
        ``emotions`` [B] holds gold emotion indices, −100 where unknown. ``gather`` concatenates
        a tensor over data-parallel ranks with gradients (the trainer's ``gather_with_grad``), so
        that L_ITC's in-batch negatives are the global batch's, as on one process; ``None`` = one
        process.

        Matching negatives: the paper's negative enters with CLIP's raw v_n while the positive
        enters with the fused v, so the head can tell them apart by where the feature came from
        and never learn the dialogue (measured on the tiny preset, with the [0 | I] fusion
        start: L_ITM → 0.02 while the training MRR stayed flat). ``fused_negatives`` (off by
        default: the paper has no such term) gives each dialogue a second negative: the fused v
        of another dialogue's gold in the batch (``batch_negatives`` [B], an index into the
        batch, −1 for none), so fused features are seen with both labels.
        """
        w = self.cfg.weights
        h, h_last = self.utterance_features(d)
        pos = self.ive(positive_pixels)
        v_n = self.ive.encode(negative_pixels)  # CLIP's v_n, used directly for the negative (§4.3)
        parts: dict[str, torch.Tensor] = {}
        if w.itm or (w.emo and self.cfg.num_emotions):
            visual, ocr_ids, ocr_mask = (
                [pos.unbiased, v_n],
                [positive_ocr[0], negative_ocr[0]],
                [positive_ocr[1], negative_ocr[1]],
            )
            use_fused = (
                w.itm and self.cfg.fused_negatives and batch_negatives is not None and (batch_negatives >= 0).any()
            )
            if use_fused:
                j = batch_negatives.clamp(min=0)
                visual.append(pos.unbiased[j])
                ocr_ids.append(positive_ocr[0][j])
                ocr_mask.append(positive_ocr[1][j])
            x = self._head(d, h, torch.stack(visual, 1), torch.stack(ocr_ids, 1), torch.stack(ocr_mask, 1))
            if w.itm:
                negatives = self.encoder.match_logits(x[:, 1])
                if use_fused:
                    negatives = torch.cat([negatives, self.encoder.match_logits(x[batch_negatives >= 0, 2])])
                parts["itm"] = matching_loss(self.encoder.match_logits(x[:, 0]), negatives)
            if w.emo and self.cfg.num_emotions and (emotions >= 0).any():
                parts["emo"] = F.cross_entropy(self.encoder.emotion_logits(x[:, 0]), emotions, ignore_index=-100)
        if w.itc:
            g = gather or (lambda t: t)
            parts["itc"] = contrastive_loss(
                g(h_last), g(pos.unbiased), g(positive_keys), self.logit_scale.clamp(max=MAX_LOGIT_SCALE)
            )
        if w.triplet and self.cfg.use_cim:
            parts["triplet"] = triplet_loss(pos.clip, pos.invariant, v_n, self.cfg.margin)  # eq. 11
        return parts

    def sticker_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The unbiased v of each sticker [S, d^r]: computed once per sticker for scoring."""
        return self.ive(pixel_values).unbiased

    def score(
        self, d: DialogueInputs, visual: torch.Tensor, ocr_ids: torch.Tensor, ocr_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Candidate scores [B, N] (see the module docstring) and emotion logits [B, E] or None."""
        w = self.cfg.weights
        h, h_last = self.utterance_features(d)
        scores = torch.zeros(visual.shape[:2], device=visual.device)
        if w.itc:
            scale = self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
            scores = scores + scale * torch.einsum(
                "bd,bnd->bn", F.normalize(h_last, dim=-1), F.normalize(visual, dim=-1)
            )
        x = None
        if w.itm:
            x = self._head(d, h, visual, ocr_ids, ocr_mask)
            logits = self.encoder.match_logits(x)
            scores = scores + logits[..., 1] - logits[..., 0]
        if not self.predicts_emotion:
            return scores, None
        best = scores.argmax(1)
        rows = torch.arange(len(best), device=best.device)
        if x is None:  # w/o ITM: run the encoder only on the selected sticker
            x = self._head(
                d,
                h,
                visual[rows, best].unsqueeze(1),
                ocr_ids[rows, best].unsqueeze(1),
                ocr_mask[rows, best].unsqueeze(1),
            )
            return scores, self.encoder.emotion_logits(x[:, 0])
        return scores, self.encoder.emotion_logits(x[rows, best])
