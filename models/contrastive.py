"""CLIP's symmetric in-batch contrastive loss (InfoNCE), with several positives per row.

Used by the ``clip`` selector's fine-tuning and by the shared tiny CLIP's pretraining on sticker
captions. Plain torch: the caller gathers the batch across ranks first if it trains distributed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def contrastive_loss(
    text: torch.Tensor, image: torch.Tensor, ids: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE over normalised embeddings; rows with the same sticker id share credit."""
    return multi_positive_contrastive_loss(text, image, ids[:, None] == ids[None, :], logit_scale)


def multi_positive_contrastive_loss(
    text: torch.Tensor, image: torch.Tensor, positive: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE where ``positive[i, j]`` says text ``i`` fits image ``j`` (the diagonal must).

    Each direction's target spreads evenly over the row's positives; ``logit_scale`` is clamped to
    ``[0, ln 100]`` before it is exponentiated, as open_clip does.
    """
    scale = logit_scale.clamp(0, math.log(100)).exp()
    logits = scale * F.normalize(text, dim=-1) @ F.normalize(image, dim=-1).t()
    positive = positive.float()
    text_to_image = F.cross_entropy(logits, positive / positive.sum(dim=1, keepdim=True))
    image_to_text = F.cross_entropy(logits.t(), positive.t() / positive.t().sum(dim=1, keepdim=True))
    return (text_to_image + image_to_text) / 2
