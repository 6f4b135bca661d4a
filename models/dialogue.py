"""The one dialogue shape the sequence models here read: turns with a speaker slot and a sticker row.

The models under ``models/`` know nothing of the harness's ``Query``/``Utterance`` types; an
adapter turns those into :class:`Turn` lists. Speakers become slot 0/1 (``[speaker1]`` /
``[speaker2]`` in MOD) and a sticker becomes a row of a feature table the caller owns, so a
model never needs to know sticker ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """One turn: ``speaker`` slot (0 or 1), its text, and the feature row of its sticker or ``None``."""

    speaker: int
    text: str
    sticker: int | None = None


def speaker_slots(names: Sequence[str]) -> list[int]:
    """Slot of each speaker name, by order of first appearance, alternating 0/1.

    MOD has exactly two speakers per dialogue, named ``[speaker1]``/``[speaker2]``; order of
    appearance gives the same two slots for any naming, and a third speaker (never seen in
    MOD) folds onto the parity of its arrival rather than failing.
    """
    order: dict[str, int] = {}
    for name in names:
        order.setdefault(name, len(order) % 2)
    return [order[name] for name in names]


def truncate_front(ids: list[int], budget: int) -> list[int]:
    """The last ``budget`` ids: dialogue context is always cut from its oldest end."""
    return ids[max(len(ids) - budget, 0) :] if budget > 0 else []
