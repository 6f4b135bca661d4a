"""IVE: the interventional visual feature extractor (paper §4.2).

A CLIP vision tower gives the [CLS] feature of a sticker (``pooler_output``: the post-layernorm
[CLS] state, d^r = 768 for ViT-B/32). Two modules remove spurious visual correlations:

- VKD (§4.2.1) — backdoor adjustment over a dictionary of the six Ekman emotions encoded by
  BERT, approximated with NWGM (eq. 7-8, appendix eq. 4-6);
- CIM (§4.2.2) — randomise the style-carrying coefficients of the DCT spectrum (eq. 9-10; which
  ones is a reading, :mod:`stickerbench.models.cks.dct`) and encode the augmented image again; the triplet loss of eq. 11 (in :mod:`stickerbench.models.cks.losses`) keeps the
  content fixed under that intervention.

The unbiased feature is v = Linear([v̄; ṽ]) (§4.2.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stickerbench.models.cks.dct import (
    CIM_READINGS,
    DEFAULT_CIM_READING,
    randomised_mask,
    style_noise,
    style_randomise,
)

EKMAN_EMOTIONS = ("surprise", "happiness", "disgust", "fear", "sadness", "anger")
VKD_READINGS = ("attention", "literal")
DEFAULT_VKD_READING = "attention"


class VisualKnowledgeDeconfounder(nn.Module):
    """Eq. 8 / appendix eq. 6: v̄ = softmax(FC((v_pᵀ W) W)), in one of two readings.

    ``confounders`` is W, one row per Ekman emotion (BERT features, frozen: a dictionary, not
    a parameter). The appendix computes E_{w_i}[f_y(v_p, w_i)] "with a scaled dot-product
    attention": the weights P(w_i | v_p) = softmax_i(v_pᵀ w_i / √d) make (v_pᵀ W) a distribution
    over the dictionary, so (v_pᵀ W) W is the expected confounder. Then:

    - ``"attention"`` (default): v̄ = FC(Σ_i P(w_i | v_p) w_i), attention over the dictionary
      followed by FC. The softmax of appendix eq. 5-6 is NWGM's normalisation over the outcomes
      Y — P(Y | do(V)) ≈ softmax(E_w[f_y(v_p, w)]) — and in CKS the outcomes are scored by the
      matching and contrastive heads, whose softmaxes already normalise; so v̄ is the argument
      of that softmax, a d^r-dimensional feature. The dictionary is standardised first (each
      dimension centred and scaled by its spread over the six emotions): BERT's [CLS] states of
      six single words are nearly parallel (pairwise cosine 0.997-1.000 on the tiny preset), so
      on the raw rows every sticker attends uniformly (weights 1/6 ± 0.005) and v̄ is one
      vector for all (it varies 0.07 % across MojiChat's stickers). Centring changes neither
      the attention (a shift common to all rows) nor what FC can express (its bias absorbs it);
      the scaling is what lets the attention see how the emotions differ (max weight 0.40 on
      average, v̄ varying by about its own size across stickers; ``probe_cks_modules.py``).
    - ``"literal"``: the raw [CLS] rows and the outer softmax over the d^r feature dimensions, as
      eq. 8 prints it, so v̄ sums to 1. Its entries are then ≈ 1/d^r everywhere (measured on the
      paper preset: 0.0008 to 0.0021, ‖v̄‖ = 0.036, varying 3-4 % across stickers; on the tiny
      preset 1/32, varying 0.03 %): the module is inert.
    """

    def __init__(self, confounders: torch.Tensor, reading: str = DEFAULT_VKD_READING):
        super().__init__()
        if reading not in VKD_READINGS:
            raise ValueError(f"vkd {reading!r}: choose one of {', '.join(VKD_READINGS)}")
        self.reading = reading
        w = confounders.detach().clone().float()
        if reading == "attention":
            w = (w - w.mean(0)) / w.std(0).clamp_min(1e-6)
        self.register_buffer("confounders", w)
        dim = confounders.shape[1]
        self.fc = nn.Linear(dim, dim)

    def weights(self, v: torch.Tensor) -> torch.Tensor:
        """P(w_i | v) for each row of v: [B, K], rows sum to 1."""
        return torch.softmax(v @ self.confounders.T / math.sqrt(v.shape[-1]), dim=-1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        expected = self.weights(v) @ self.confounders  # (v_pᵀ W) W, eq. 8
        out = self.fc(expected)
        return torch.softmax(out, dim=-1) if self.reading == "literal" else out


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
    keeps its shape and only the removed module is missing. ``cim`` names the reading of eq. 9-10
    (:data:`stickerbench.models.cks.dct.CIM_READINGS`), ``vkd`` that of eq. 8.

    The fusing layer starts as [I | I] (v = v̄ + ṽ): ṽ carries the pretrained CLIP geometry into
    v from the first step, and v̄ enters beside it with ∂v/∂v̄ = I, so VKD's FC is trained from the
    first step. The literal reading keeps its original start, [0 | I] (v = ṽ), under which
    nothing reaches VKD at the first step (∂v/∂v̄ = 0): its FC gets exactly zero gradient.
    """

    def __init__(
        self,
        vision: nn.Module,
        confounders: torch.Tensor,
        use_vkd: bool = True,
        use_cim: bool = True,
        r_high: float = 0.7,
        r_low: float = 0.005,
        cim: str = DEFAULT_CIM_READING,
        vkd: str = DEFAULT_VKD_READING,
    ):
        super().__init__()
        self.vision = vision
        dim = vision.config.hidden_size
        if confounders.shape[1] != dim:
            raise ValueError(
                f"VKD needs the confounder dictionary ({confounders.shape[1]}-d) and the CLIP [CLS] "
                f"feature ({dim}-d) in one space (eq. 8: (v_pᵀ W) W); use a BERT and a CLIP of equal width"
            )
        if cim not in CIM_READINGS:
            raise ValueError(f"cim_positions {cim!r}: choose one of {', '.join(CIM_READINGS)}")
        self.use_vkd = use_vkd
        self.use_cim = use_cim
        self.r_high = r_high
        self.r_low = r_low
        self.cim = CIM_READINGS[cim]
        self.vkd = VisualKnowledgeDeconfounder(confounders, vkd) if use_vkd else None
        self.fuse = nn.Linear(2 * dim, dim)
        with torch.no_grad():
            self.fuse.weight.zero_()
            self.fuse.weight[:, dim:].copy_(torch.eye(dim))
            if vkd != "literal":
                self.fuse.weight[:, :dim].copy_(torch.eye(dim))
            self.fuse.bias.zero_()

    @property
    def dim(self) -> int:
        return self.fuse.out_features

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLIP's [CLS] feature (post-layernorm pooler output), [B, d^r]."""
        return self.vision(pixel_values=pixel_values).pooler_output

    def augment(
        self, pixel_values: torch.Tensor, randomise: bool, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Ĩ of eq. 10 under this extractor's reading; without randomisation Ĩ = I (E[Gus(x)] = x)."""
        mask = randomised_mask(
            *pixel_values.shape[-2:], self.cim, self.r_high, self.r_low, pixel_values.dtype, pixel_values.device
        )
        noise = style_noise(pixel_values, self.cim, generator) if randomise else None
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
