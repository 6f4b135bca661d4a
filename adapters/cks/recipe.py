"""What the shared trainer optimises for CKS: eq. 14 over (dialogue, gold, negative) triples.

Training negatives: for each dialogue one sticker whose emotion differs from the gold's (a
sticker's emotion is the majority emotion of the training samples where it is the gold;
the gold's emotion is the sample's label when present), drawn per epoch; the matching head sees
its CLIP feature v_n directly (§4.3). Because the positive always arrives as the fused v and
the paper's negative always as the raw v_n, the matching head could separate them by origin
alone; ``--option fused_negatives=1`` (off by default, the paper has no such term) gives each
dialogue a second matching negative, the fused v of another gold in the batch with a different
emotion (``CKSConfig.fused_negatives``; see ``CKS.losses``).

Under DDP, L_ITC's in-batch negatives are the global batch's: the model gathers ĥ_T, v and the
sticker keys across ranks with :func:`benchmark.distributed.gather_with_grad`, as CLIP's loss does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from benchmark.distributed import gather_with_grad
from benchmark.selector import SelectorContext
from benchmark.trainer import ResolvedConfig
from benchmark.types import Dataset, Sample, StickerStore, Utterance
from stickerbench.adapters.cks.presets import Preset, train_defaults
from stickerbench.models.cks.model import CKS, DialogueInputs


class _Selector(Protocol):
    """What the recipe reads of :class:`stickerbench.adapters.cks.selector.CKSSelector`, which builds the
    recipe and so imports this module (importing it back would be a cycle)."""

    model: CKS
    preset: Preset
    device: str
    ctx: SelectorContext

    def dialogue_inputs(self, contexts: Sequence[Sequence[Utterance]], senders: Sequence[str]) -> DialogueInputs: ...

    def _pixel_values(self, stickers: StickerStore, ids: Sequence[str]) -> torch.Tensor: ...

    def _ocr_tensors(self, ids: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]: ...


def sticker_emotions(samples: Sequence[Sample]) -> dict[str, int]:
    """A sticker's emotion: the majority label of the training samples where it is the gold."""
    votes: dict[str, Counter] = {}
    for s in samples:
        if s.emotion is not None:
            votes.setdefault(s.gold, Counter())[s.emotion] += 1
    return {sid: c.most_common(1)[0][0] for sid, c in votes.items()}


class CKSRecipe:
    """What the shared trainer optimises: eq. 14 over (dialogue, gold, emotion-different negative)."""

    def __init__(self, selector: _Selector, stickers: StickerStore, train: list[Sample]):
        self.selector = selector
        self.module = selector.model
        self.defaults = train_defaults(selector.preset, selector.ctx.options)
        self.stickers = stickers
        self.emotions = sticker_emotions(train)
        self.pool = sorted({s.gold for s in train})
        self.index = {sid: i for i, sid in enumerate(sorted(stickers))}
        self.find_unused_parameters = True  # ablations leave heads unused

    def param_groups(self, cfg: ResolvedConfig) -> list[dict[str, Any]]:
        """Everything trains (the CLIP tower too: eq. 11 optimises it); the tower at
        ``lr · vision_lr_scale`` (see :mod:`stickerbench.adapters.cks.presets` for why)."""
        vision = [p for p in self.module.ive.vision.parameters() if p.requires_grad]
        ids = {id(p) for p in vision}
        rest = [p for p in self.module.parameters() if p.requires_grad and id(p) not in ids]
        scale = self.selector.preset.vision_lr_scale
        if scale == 1.0:
            return [{"params": rest + vision}]
        return [{"params": rest}, {"params": vision, "lr": cfg.lr * scale}]

    def negative(self, sample: Sample, rng: np.random.Generator) -> str:
        """A training sticker whose emotion differs from the gold's (any other one if none does)."""
        emotion = sample.emotion if sample.emotion is not None else self.emotions.get(sample.gold)
        pool = [
            s
            for s in self.pool
            if s != sample.gold and emotion is not None and self.emotions.get(s, emotion) != emotion
        ]
        pool = pool or [s for s in self.pool if s != sample.gold] or [s for s in self.index if s != sample.gold]
        return pool[int(rng.integers(len(pool)))]

    def batch_negatives(self, samples: list[Sample]) -> list[int]:
        """For each sample, the next one in the batch whose gold differs and, when emotions are
        known, whose emotion differs too (its fused feature is a second matching negative); −1
        if there is none. Deterministic, so the batch order (already random) is the only draw."""
        emotions = [s.emotion if s.emotion is not None else self.emotions.get(s.gold) for s in samples]
        out = []
        for i, s in enumerate(samples):
            others = [(i + k) % len(samples) for k in range(1, len(samples))]
            different = [j for j in others if samples[j].gold != s.gold]
            strict = [j for j in different if emotions[i] is None or emotions[j] != emotions[i]]
            out.append((strict or different or [-1])[0])
        return out

    def batches(self, data: Dataset, split: str, batch_size: int, rng: np.random.Generator, epoch: int):
        samples = data.split(split)
        order = rng.permutation(len(samples))
        for start in range(0, len(order), batch_size):
            chunk = [samples[i] for i in order[start : start + batch_size]]
            yield [(s, self.negative(s, rng)) for s in chunk]

    def loss(self, examples: list[tuple[Sample, str]]) -> dict[str, torch.Tensor]:
        sel, device = self.selector, self.selector.device
        samples = [s for s, _ in examples]
        golds = [s.gold for s in samples]
        negatives = [n for _, n in examples]
        d = sel.dialogue_inputs([s.context for s in samples], [s.speaker for s in samples])
        parts = self.module.losses(
            d,
            sel._pixel_values(self.stickers, golds).to(device),
            sel._pixel_values(self.stickers, negatives).to(device),
            sel._ocr_tensors(golds),
            sel._ocr_tensors(negatives),
            torch.tensor([self.index[g] for g in golds], device=device),
            torch.tensor([-100 if s.emotion is None else s.emotion for s in samples], device=device),
            torch.tensor(self.batch_negatives(samples), device=device),
            gather=gather_with_grad,
        )
        return {"loss": self.module.cfg.weights.total(parts), **{k: v.detach() for k, v in parts.items()}}
