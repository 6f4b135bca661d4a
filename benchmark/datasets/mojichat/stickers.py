"""Designing the sticker set: which pack, expression, style jitter and caption each id gets.

Design is separate from drawing so that dialogues and the card can be produced from the
records alone; :mod:`.render` turns a record into pixels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmark.datasets.mojichat.inventory import (
    CAPTIONS,
    EMOTIONS,
    GENERIC_CAPTIONS,
    PACKS,
    STYLE_THEMES,
    Expression,
    PackSpec,
    pack_expressions,
)
from benchmark.datasets.mojichat.render import Jitter

CAPTION_RATE = 0.55
# Of the captioned stickers: most captions fit the emotion, some are generic, a few mislead.
CAPTION_KINDS = (("fitting", 0.75), ("generic", 0.15), ("misleading", 0.10))


@dataclass(frozen=True)
class StickerRecord:
    sticker_id: int
    pack: PackSpec
    emotion: str
    expression: Expression
    jitter: Jitter
    caption: str | None
    caption_kind: str | None

    @property
    def emotion_id(self) -> int:
        return EMOTIONS.index(self.emotion)

    def meta(self) -> dict:
        theme = STYLE_THEMES[self.pack.theme]
        return {
            "emotion": self.emotion,
            "emotion_id": self.emotion_id,
            "family": self.pack.family,
            "character": self.pack.character,
            "pack": self.pack.name,
            "held_out": self.pack.held_out,
            "emoji": self.expression.emoji,
            "badge": self.expression.badge,
            "caption": self.caption,
            "caption_kind": self.caption_kind,
            "style": {
                "theme": theme.name,
                "background": theme.background,
                "colors": [list(c) for c in theme.colors],
                "border": theme.border,
                "texture": theme.texture,
                "scale": self.jitter.scale,
                "rotation": self.jitter.rotation,
                "offset": [self.jitter.dx, self.jitter.dy],
            },
            "credit": "OpenMoji (openmoji.org), CC BY-SA 4.0",
        }


def _caption(emotion: str, rng: random.Random) -> tuple[str | None, str | None]:
    if rng.random() >= CAPTION_RATE:
        return None, None
    kind = rng.choices([k for k, _ in CAPTION_KINDS], weights=[w for _, w in CAPTION_KINDS])[0]
    if kind == "fitting":
        return rng.choice(CAPTIONS[emotion]), kind
    if kind == "generic":
        return rng.choice(GENERIC_CAPTIONS), kind
    other = rng.choice([e for e in EMOTIONS if e != emotion])
    return rng.choice(CAPTIONS[other]), kind


def design_stickers(seed: int, packs: tuple[PackSpec, ...] = PACKS) -> list[StickerRecord]:
    """Every (pack, emotion) the packs cover becomes one sticker; ids are shuffled so that an
    id says nothing about its pack. Sticker 0 exists and is an ordinary sticker; the list is in
    id order (``records[i].sticker_id == i``)."""
    rng = random.Random(f"mojichat:{seed}:stickers")
    entries = []
    for variant, pack in enumerate(packs):
        for emotion, expression in pack_expressions(pack, variant).items():
            entries.append((pack, emotion, expression))
    order = list(range(len(entries)))
    rng.shuffle(order)
    records = []
    for sticker_id, index in enumerate(order):
        pack, emotion, expression = entries[index]
        caption, kind = _caption(emotion, rng)
        records.append(StickerRecord(sticker_id, pack, emotion, expression, Jitter.draw(rng), caption, kind))
    return records
