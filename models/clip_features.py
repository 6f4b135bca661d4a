"""Frozen CLIP image towers, loaded from a full CLIP checkpoint, for models that read CLIP features.

MOD-GPT and MMBERT take CLIP's projected image features (``CLIPModel.get_image_features``, 512-d
for ViT-B/32); FROMAGe takes the vision tower's ``pooler_output`` (1024-d for ViT-L/14). Public
CLIP checkpoints are full dual encoders, so both are cut out of one ``CLIPModel`` here: loading
``CLIPVisionModel*`` classes straight from such a checkpoint drops the top-level
``projection_dim`` (it lives outside ``vision_config``) and re-initialises the projection with
the default width, which would silently give random features for any CLIP whose projection is
not 512-d.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def load_clip_parts(source: str | Path, dtype: torch.dtype | None = None):
    """``(CLIPVisionModel, visual_projection, image processor)`` from a full CLIP checkpoint."""
    from transformers import CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    full = CLIPModel.from_pretrained(str(source), **({"dtype": dtype} if dtype is not None else {}))
    processor = CLIPImageProcessorPil.from_pretrained(str(source))
    return full.vision_model, full.visual_projection, processor  # vision_model is a CLIPVisionModel


def save_tiny_clip(
    out: Path,
    hidden: int = 32,
    layers: int = 1,
    heads: int = 2,
    image_size: int = 32,
    patch: int = 8,
    projection: int = 32,
    seed: int = 0,
) -> Path:
    """A random-init small ``CLIPModel`` + processor in the layout of a public CLIP checkpoint."""
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    common = {
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
    }
    config = CLIPConfig(
        text_config={
            **common,
            "vocab_size": 64,
            "max_position_embeddings": 16,
            "pad_token_id": 0,
            "bos_token_id": 1,
            "eos_token_id": 2,
        },
        vision_config={**common, "image_size": image_size, "patch_size": patch},
        projection_dim=projection,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(out)
    CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    ).save_pretrained(out)
    return Path(out)


class ClipImageFeatures(nn.Module):
    """Frozen CLIP image features: ``visual_projection(vision(px).pooler_output)``."""

    def __init__(self, vision, projection: nn.Linear, processor):
        super().__init__()
        self.vision, self.projection, self.processor = vision, projection, processor
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def load(cls, source: str | Path) -> "ClipImageFeatures":
        return cls(*load_clip_parts(source))

    @property
    def dim(self) -> int:
        return self.projection.out_features

    def train(self, mode: bool = True) -> "ClipImageFeatures":
        return super().train(False)  # frozen: never dropout

    def pixel_values(self, images) -> torch.Tensor:
        return self.processor(images=images, return_tensors="pt")["pixel_values"]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(self.vision(pixel_values=pixel_values).pooler_output)
