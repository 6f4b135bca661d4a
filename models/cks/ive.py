"""IVE: the interventional visual feature extractor (paper §4.2).

A CLIP vision tower gives the [CLS] feature of a sticker (``pooler_output``: the post-layernorm
[CLS] state, d^r = 768 for ViT-B/32). Two modules remove spurious visual correlations:

- VKD (§4.2.1) — backdoor adjustment over a dictionary of the six Ekman emotions encoded by
  BERT, approximated with NWGM (eq. 7-8, appendix eq. 4-6);
- CIM (§4.2.2) — randomise the style band of the DCT spectrum (eq. 9-10) and encode the
  augmented image again; the triplet loss of eq. 11 (in :mod:`stickerbench.models.cks.losses`) keeps the
  content fixed under that intervention.

The unbiased feature is v = Linear([v̄; ṽ]) (§4.2.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stickerbench.models.cks.dct import band_pass, style_randomise

EKMAN_EMOTIONS = ("surprise", "happiness", "disgust", "fear", "sadness", "anger")


class VisualKnowledgeDeconfounder(nn.Module):
    """Eq. 8 / appendix eq. 6: v̄ = softmax(FC((v_pᵀ W) W)).

    ``confounders`` is W, one row per Ekman emotion (BERT features, frozen: a dictionary, not
    a parameter). The appendix computes E_{w_i}[f_y(v_p, w_i)] "with a scaled dot-product
    attention": the weights P(w_i | v_p) = softmax_i(v_pᵀ w_i / √d) make (v_pᵀ W) a distribution
    over the dictionary, so (v_pᵀ W) W is the expected confounder. The outer softmax runs over
    the d^r feature dimensions, as written in eq. 8, so v̄ sums to 1.
    """

    def __init__(self, confounders: torch.Tensor):
        super().__init__()
        self.register_buffer("confounders", confounders.detach().clone().float())
        dim = confounders.shape[1]
        self.fc = nn.Linear(dim, dim)

    def weights(self, v: torch.Tensor) -> torch.Tensor:
        """P(w_i | v) for each row of v: [B, K], rows sum to 1."""
        return torch.softmax(v @ self.confounders.T / math.sqrt(v.shape[-1]), dim=-1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        expected = self.weights(v) @ self.confounders  # (v_pᵀ W) W, eq. 8
        return torch.softmax(self.fc(expected), dim=-1)


@dataclass
class VisualFeatures:
    """v_p (CLIP [CLS]), ṽ (CLIP [CLS] of the style-randomised image) and the fused v."""

    clip: torch.Tensor
    invariant: torch.Tensor
    unbiased: torch.Tensor


class InterventionalVisualExtractor(nn.Module):
    """CLIP vision tower + VKD + CIM + the fusing linear layer of §4.2.3.

    ``use_vkd=False`` (ablation w/o VKD) feeds v_p where v̄ would go; ``use_cim=False`` (w/o
    CIM) encodes the original image where Ĩ would go, so ṽ = v_p. Either way the fusing layer
    keeps its shape and only the removed module is missing.

    The fusing layer starts as [0 | I] (v = ṽ): the matching head sees CLIP's raw v_n for
    negatives (§4.3) and the fused v for positives, and starting both in the same space keeps
    the head from separating them by their origin instead of by their fit to the dialogue.
    """

    def __init__(
        self,
        vision: nn.Module,
        confounders: torch.Tensor,
        use_vkd: bool = True,
        use_cim: bool = True,
        r_high: float = 0.7,
        r_low: float = 0.005,
    ):
        super().__init__()
        self.vision = vision
        dim = vision.config.hidden_size
        if confounders.shape[1] != dim:
            raise ValueError(
                f"VKD needs the confounder dictionary ({confounders.shape[1]}-d) and the CLIP [CLS] "
                f"feature ({dim}-d) in one space (eq. 8: (v_pᵀ W) W); use a BERT and a CLIP of equal width"
            )
        self.use_vkd = use_vkd
        self.use_cim = use_cim
        self.r_high = r_high
        self.r_low = r_low
        self.vkd = VisualKnowledgeDeconfounder(confounders) if use_vkd else None
        self.fuse = nn.Linear(2 * dim, dim)
        with torch.no_grad():
            self.fuse.weight.zero_()
            self.fuse.weight[:, dim:].copy_(torch.eye(dim))
            self.fuse.bias.zero_()

    @property
    def dim(self) -> int:
        return self.fuse.out_features

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLIP's [CLS] feature (post-layernorm pooler output), [B, d^r]."""
        return self.vision(pixel_values=pixel_values).pooler_output

    def augment(self, pixel_values: torch.Tensor, randomise: bool) -> torch.Tensor:
        """Ĩ of eq. 10; without randomisation (inference) Gus is the identity in expectation.

        One N(0, 1) draw per image and colour channel, shared by the whole band: a style
        change (the strength of each channel's slow colour gradients, the band of
        :func:`stickerbench.models.cks.dct.band_pass`) that keeps the content's spatial pattern; the paper
        does not say at which granularity N(0, 1) is drawn.
        """
        mask = band_pass(*pixel_values.shape[-2:], self.r_high, self.r_low, pixel_values.dtype, pixel_values.device)
        noise = (
            torch.randn(*pixel_values.shape[:-2], 1, 1, dtype=pixel_values.dtype, device=pixel_values.device)
            if randomise
            else None
        )
        return style_randomise(pixel_values, mask, noise)

    def forward(self, pixel_values: torch.Tensor) -> VisualFeatures:
        """Style randomisation only while training: E[Gus(x)] = x, so at inference ṽ = v_p."""
        v_p = self.encode(pixel_values)
        if self.use_cim and self.training:
            v_tilde = self.encode(self.augment(pixel_values, randomise=True))
        else:
            v_tilde = v_p
        v_bar = self.vkd(v_p) if self.vkd is not None else v_p
        return VisualFeatures(v_p, v_tilde, self.fuse(torch.cat([v_bar, v_tilde], dim=-1)))


@torch.inference_mode()
def encode_confounders(bert: nn.Module, tokenizer, words: tuple[str, ...] = EKMAN_EMOTIONS) -> torch.Tensor:
    """W of eq. 8: BERT's [CLS] last hidden state for each Ekman emotion word, [6, d]."""
    enc = tokenizer(list(words), return_tensors="pt", padding=True)
    enc = {k: v.to(next(bert.parameters()).device) for k, v in enc.items()}
    return bert(**enc).last_hidden_state[:, 0].float().cpu().clone()
