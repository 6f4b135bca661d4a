"""The losses of CKS: triplet (eq. 11), contrastive (§4.2.3), matching (eq. 13) and eq. 14."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dis(v1, v2) = 1 − v1·v2 / (‖v1‖ ‖v2‖) (§4.2.2)."""
    return 1 - F.cosine_similarity(a, b, dim=-1)


def triplet_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """Eq. 11: mean over the batch of max{0, μ + Dis(v_p, ṽ) − Dis(v_p, v_n)}, μ = 0.2."""
    return F.relu(margin + cosine_distance(anchor, positive) - cosine_distance(anchor, negative)).mean()


def contrastive_loss(
    text: torch.Tensor, visual: torch.Tensor, sticker_keys: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """In-batch contrastive loss aligning ĥ_T with the unbiased v (§4.2.3).

    Each dialogue's positive is its own sticker; the other *distinct* stickers of the batch are
    its negatives. Samples that share a gold sticker (frequent in sticker data) would otherwise
    be pushed away from their own sticker; so the candidates are the batch's unique stickers
    (the first occurrence's feature) and the loss is cross-entropy over them:
    −log softmax_j(s · cos(ĥ_T, v_j))[gold], s = exp(logit_scale).
    """
    keys, first, inverse = _unique_first(sticker_keys)
    t = F.normalize(text, dim=-1)
    v = F.normalize(visual[first], dim=-1)
    logits = logit_scale.exp() * t @ v.T
    return F.cross_entropy(logits, inverse)


def _unique_first(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    unique, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((len(unique),), len(keys), dtype=torch.long, device=keys.device)
    first = first.scatter_reduce(0, inverse, torch.arange(len(keys), device=keys.device), reduce="amin")
    return unique, first, inverse


def matching_loss(positive_logits: torch.Tensor, negative_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 13: −log P(y_m | X), positive pairs labelled 1 and negative pairs 0, averaged."""
    logits = torch.cat([positive_logits, negative_logits])
    labels = torch.cat([torch.ones(len(positive_logits)), torch.zeros(len(negative_logits))]).long()
    return F.cross_entropy(logits, labels.to(logits.device))


@dataclass(frozen=True)
class LossWeights:
    """Eq. 14: L = L_ITM + L_ITC + λ1·L_emo + λ2·L_triplet with λ1 = 0.5, λ2 = 0.3 (§5.2).

    An ablation that removes a loss sets its weight to 0.
    """

    itm: float = 1.0
    itc: float = 1.0
    emo: float = 0.5
    triplet: float = 0.3

    def total(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(getattr(self, name) * value for name, value in parts.items() if getattr(self, name))
