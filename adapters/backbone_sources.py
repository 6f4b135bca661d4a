"""Where the selectors that read frozen CLIP features next to a language model (MOD-GPT, MMBERT,
FROMAGe) find their two backbones.

A ``tiny`` backbone directory holds ``lm/`` (the selector's own tiny language model) and ``clip/``
(a copy of the shared description-pretrained tiny CLIP, :mod:`stickerbench.adapters.tiny_clip`); a ``paper``
source is the language model's hub id or path, and the CLIP is ``--option <name>_clip=PATH`` or
ViT-B/32.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmark.types import Dataset
from stickerbench.adapters.tiny_clip import tiny_clip_dir

PAPER_CLIP = "openai/clip-vit-base-patch32"


def paper_clip(ctx, selector_name: str) -> str:
    """The CLIP whose image features a ``paper`` preset uses: ``--option <name>_clip=PATH`` or ViT-B/32."""
    return str(ctx.options.get(f"{selector_name.replace('-', '_')}_clip", PAPER_CLIP))


def add_tiny_clip(out: Path, data: Dataset, ctx, device: str) -> None:
    """Put the shared tiny CLIP beside a tiny language model in backbone directory ``out``."""
    shutil.copytree(tiny_clip_dir(data, ctx.cache_dir, ctx.seed, device), Path(out) / "clip")


def lm_and_clip_sources(source, ctx, selector_name: str) -> tuple:
    """A tiny backbone directory holds ``lm/`` and ``clip/``; a ``paper`` source is an LM id or path."""
    tiny = Path(str(source)) / "lm"
    if tiny.is_dir():
        return tiny, tiny.parent / "clip"
    return source, paper_clip(ctx, selector_name)
