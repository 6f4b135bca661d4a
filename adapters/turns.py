"""Harness dialogues → the :class:`stickerbench.models.dialogue.Turn` lists that MOD-GPT, MMBERT and FROMAGe read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from benchmark.errors import DataError
from benchmark.types import Utterance
from stickerbench.models.dialogue import Turn, speaker_slots


def context_turns(context: Sequence[Utterance], speaker: str, rows: Mapping[str, int] | None) -> tuple[list[Turn], int]:
    """Every turn with its speaker slot and sticker row (``rows=None``: text only), and the
    slot of the sticker's sender."""
    slots = speaker_slots([u.speaker for u in context] + [speaker])
    if rows is None:
        return [Turn(slot, u.text) for u, slot in zip(context, slots)], slots[-1]
    turns = []
    for u, slot in zip(context, slots):
        if u.sticker_id is not None and u.sticker_id not in rows:
            raise DataError(f"sticker {u.sticker_id!r} in a dialogue is not in the sticker store")
        turns.append(Turn(slot, u.text, None if u.sticker_id is None else rows[u.sticker_id]))
    return turns, slots[-1]


def history_and_response(
    context: Sequence[Utterance], speaker: str, rows: Mapping[str, int]
) -> tuple[list[Turn], Turn]:
    """Split off the turn the sticker is sent with.

    In MOD the text sent together with the sticker is the context's last turn (same speaker, no
    sticker of its own); it is the response. A sticker sent on its own gets an empty response.
    """
    turns, sender = context_turns(context, speaker, rows)
    last = context[-1] if context else None
    if last is not None and last.speaker == speaker and last.sticker_id is None:
        return turns[:-1], turns[-1]
    return turns, Turn(sender, "")
