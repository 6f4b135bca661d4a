"""Turns and dialogues of a MOD-layout file into utterances and samples (see
:mod:`benchmark.datasets.mod`), naming the file, item and field of anything malformed.

Public code mishandled sticker ids: dialogue files zero-pad them ("030") while the sticker index
may not ("30"), and ``if img_id:`` silently dropped sticker "0". Ids are normalised once, on
reading (:func:`~benchmark.datasets.mod_files.normalize_sticker_id`), and only a missing, null or
empty ``img_id`` means "no sticker".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.datasets.mod_files import integer, normalize_sticker_id
from benchmark.errors import DataError
from benchmark.io import read_json
from benchmark.types import Sample, StickerStore, Utterance


def history_key(history: list[dict]) -> tuple:
    """Task-3 items are joined to task-2 items by who said what, in order."""
    return tuple((str(t.get("speaker_id")), str(t.get("txt") or "")) for t in history)


def has_sticker(turn: Mapping[str, Any]) -> bool:
    return turn.get("img_id") not in (None, "")


def speaker_name(raw: Any, where: str) -> str:
    """Speakers are compared by name: ``null`` or a list would become a made-up speaker ``"None"``."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise DataError(
            f"{where}: field 'speaker_id' = {raw!r} is not a speaker name; give a string such as \"[speaker1]\""
        )
    return str(raw)


def item_meta(raw: Any, where: str) -> dict:
    """A turn's or item's optional free-form ``meta``, carried into its sample."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DataError(f"{where}: field 'meta' must be an object, got {type(raw).__name__}")
    return dict(raw)


class Parser:
    """Turns raw JSON into utterances and samples over one sticker set.

    ``index_name`` is the sticker index's file name (img2id.json or id2img.json), which an unknown
    sticker's message names; ``emotion_places`` collects every emotion id used and where it first
    occurs, for :func:`~benchmark.datasets.mod_files.read_emotion_names`.
    """

    def __init__(self, stickers: StickerStore, index_name: str = "id2img.json"):
        self.stickers = stickers
        self.index_name = index_name
        self.emotion_places: dict[int, str] = {}  # emotion id -> where it first occurs

    def utterance(self, turn: Any, where: str) -> Utterance:
        if not isinstance(turn, dict):
            raise DataError(f"{where}: a turn must be an object, got {type(turn).__name__}")
        for key in ("speaker_id", "txt"):
            if key not in turn:
                raise DataError(f"{where}: missing field {key!r}")
        text = turn["txt"]
        if text is not None and not isinstance(text, str):
            raise DataError(f"{where}: field 'txt' = {text!r} is not text; give a string (or null for none)")
        sticker = self.sticker(turn["img_id"], where) if has_sticker(turn) else None
        return Utterance(speaker_name(turn["speaker_id"], where), text or "", sticker)

    def sticker(self, raw: Any, where: str) -> str:
        sticker_id = normalize_sticker_id(raw)
        if sticker_id not in self.stickers:
            raise DataError(f"{where}: field 'img_id' = {raw!r} is not a sticker in {self.index_name}")
        return sticker_id

    def emotion(self, raw: Any, where: str) -> int | None:
        """An emotion id, or ``None`` for none (``null``, or ``""`` as in the blind release)."""
        if raw is None or raw == "":
            return None
        value = integer(raw)
        if value is None:
            raise DataError(f"{where}: field 'emotion_id' = {raw!r} is not an integer")
        if value < 0:
            raise DataError(f"{where}: field 'emotion_id' = {value} is negative")
        self.emotion_places.setdefault(value, where)
        return value

    def dialogues(self, path: Path, split: str) -> list[Sample]:
        data = read_json(path)
        if not isinstance(data, dict):
            raise DataError(f'{path}: expected an object of dialogues ({{"dialogue N": [turns]}})')
        keys: dict[str, str] = {}  # the key's part of a sample id -> the key
        samples = []
        for key, turns in data.items():
            dialogue_id = key.replace(" ", "_")
            if dialogue_id in keys:
                raise DataError(
                    f"{path}: dialogue keys {keys[dialogue_id]!r} and {key!r} both give sample ids "
                    f"{split}/{dialogue_id}/<turn>; rename one of them"
                )
            keys[dialogue_id] = key
            samples += self.dialogue(turns, f"{path}, {key!r}", f"{split}/{dialogue_id}", key)
        return samples

    def dialogue(self, turns: Any, where: str, id_prefix: str, key: str) -> list[Sample]:
        """One sample per turn that sends a sticker, except a dialogue's opening turn."""
        if not isinstance(turns, list):
            raise DataError(f"{where}: expected a list of turns")
        context = [self.utterance(t, f"{where}, turn {i}") for i, t in enumerate(turns)]
        samples = []
        for i, turn in enumerate(turns):
            if i == 0 or not has_sticker(turn):
                continue
            at = f"{where}, turn {i}"
            samples.append(
                Sample(
                    sample_id=f"{id_prefix}/{i}",
                    context=(*context[:i], Utterance(context[i].speaker, context[i].text)),
                    speaker=context[i].speaker,
                    gold=context[i].sticker_id,
                    emotion=self.emotion(turn.get("emotion_id"), at),
                    meta={**item_meta(turn.get("meta"), at), "dialogue": key, "turn": i},
                )
            )
        return samples
