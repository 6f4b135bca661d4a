"""Loader for the MOD dataset in its DSTC10 Track 1 layout (and anything written like it).

Layout::

    DIR/id2img.json              sticker id -> file name under DIR/meme_set/
    DIR/meme_set/...             sticker images (png/jpg/gif; GIFs give their first frame)
    DIR/*train*.json             {"dialogue N": [{"speaker_id", "txt", "img_id"?, "emotion_id"?}, ...]}
    DIR/*valid*.json             same, validation
    DIR/*test_<name>*task2*.json [{"history": [...], "candidate": {"speaker_id", "set": [...]},
                                   "answer": {"speaker_id", "img_id"}}]
    DIR/*test_<name>*task3*.json same histories, last turn carrying the sent sticker, answer.emotion_id
    DIR/emotions.json            optional: emotion names (list, or {"id": name} for ids 0..N-1);
                                 without it the emotion ids used must be 0..N-1, no gaps
    DIR/sticker_meta.json        optional: sticker id -> {metadata}

Public code mishandled sticker ids: dialogue files zero-pad them ("030") while id2img.json may
not ("30"), and ``if img_id:`` silently dropped sticker "0". Ids are normalised once, on reading
(:func:`~benchmark.datasets.mod_files.normalize_sticker_id`), and only a missing or null ``img_id``
means "no sticker".

The files around the dialogues (which file is which split, the sticker set, the emotion names)
are read by :mod:`benchmark.datasets.mod_files`; this module turns dialogues and test items into
samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.candidates import OFFICIAL_KEY
from benchmark.datasets.mod_files import (
    find_files,
    load_stickers,
    normalize_sticker_id,
    read_emotion_names,
)
from benchmark.errors import DataError
from benchmark.io import read_json
from benchmark.types import Dataset, Sample, StickerStore, Utterance


def _history_key(history: list[dict]) -> tuple:
    """Task-3 items are joined to task-2 items by who said what, in order."""
    return tuple((str(t.get("speaker_id")), str(t.get("txt") or "")) for t in history)


def _has_sticker(turn: Mapping[str, Any]) -> bool:
    return turn.get("img_id") not in (None, "")


def _integer(raw: Any) -> int | None:
    """``3`` and ``"3"`` are 3; ``1.5``, ``true`` and ``Infinity`` are not (``int()`` takes or crashes on)."""
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _speaker(raw: Any, where: str) -> str:
    """Speakers are compared by name: ``null`` or a list would become a made-up speaker ``"None"``."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise DataError(
            f"{where}: field 'speaker_id' = {raw!r} is not a speaker name; give a string such as \"[speaker1]\""
        )
    return str(raw)


def _meta(raw: Any, where: str) -> dict:
    """A turn's or item's optional free-form ``meta``, carried into its sample."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DataError(f"{where}: field 'meta' must be an object, got {type(raw).__name__}")
    return dict(raw)


def _item_speaker(answer: dict, candidate: dict, where: str, fallback: str) -> str:
    """Who sends the answer: the answer's ``speaker_id``, else the candidate's, else the last turn's."""
    for name, part in (("answer", answer), ("candidate", candidate)):
        if part.get("speaker_id"):
            return _speaker(part["speaker_id"], f"{where}, {name}")
    return fallback


def _check_candidate_sizes(path: Path, sizes: list[int]) -> None:
    """One split, one candidate-set size: results are labelled by it (R@1 of 11), which a set of
    5 among sets of 11 would silently misstate."""
    if len(set(sizes)) > 1:
        common = Counter(sizes).most_common(1)[0][0]
        n = next(n for n, size in enumerate(sizes) if size != common)
        raise DataError(
            f"{path}, item {n}: has {sizes[n]} candidates, most others {common}; the official candidate sets "
            "of a split must all have the same size (fix the task-2 file or use --candidates sampled)"
        )


class _Parser:
    """Turns raw JSON into samples, naming the file, item and field of anything malformed."""

    def __init__(self, stickers: StickerStore):
        self.stickers = stickers
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
        sticker = self.sticker(turn["img_id"], where) if _has_sticker(turn) else None
        return Utterance(_speaker(turn["speaker_id"], where), text or "", sticker)

    def sticker(self, raw: Any, where: str) -> str:
        sticker_id = normalize_sticker_id(raw)
        if sticker_id not in self.stickers:
            raise DataError(f"{where}: field 'img_id' = {raw!r} is not a sticker in id2img.json")
        return sticker_id

    def emotion(self, raw: Any, where: str) -> int | None:
        if raw is None or raw == "":
            return None
        value = _integer(raw)
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
            if i == 0 or not _has_sticker(turn):
                continue
            at = f"{where}, turn {i}"
            samples.append(
                Sample(
                    sample_id=f"{id_prefix}/{i}",
                    context=(*context[:i], Utterance(context[i].speaker, context[i].text)),
                    speaker=context[i].speaker,
                    gold=context[i].sticker_id,
                    emotion=self.emotion(turn.get("emotion_id"), at),
                    meta={**_meta(turn.get("meta"), at), "dialogue": key, "turn": i},
                )
            )
        return samples

    def test_items(self, path: Path, split: str, emotions: Mapping[tuple, int]) -> list[Sample]:
        items = read_json(path)
        if not isinstance(items, list):
            raise DataError(f"{path}: expected a list of task-2 items")
        samples = [self.test_item(item, n, path, split, emotions) for n, item in enumerate(items)]
        _check_candidate_sizes(path, [len(s.meta[OFFICIAL_KEY]) for s in samples])
        return samples

    def test_item(self, item: Any, n: int, path: Path, split: str, emotions: Mapping[tuple, int]) -> Sample:
        """Task-2 item ``n``: the history up to the text sent with the sticker, official set and answer."""
        where = f"{path}, item {n}"
        if not isinstance(item, dict):
            raise DataError(f"{where}: expected an object")
        for key in ("history", "candidate", "answer"):
            if key not in item:
                raise DataError(f"{where}: missing field {key!r}")
        history = item["history"]
        if not isinstance(history, list) or not history:
            raise DataError(f"{where}: field 'history' must be a non-empty list of turns")
        context = tuple(self.utterance(t, f"{where}, history turn {i}") for i, t in enumerate(history))
        last = context[-1]
        context = (*context[:-1], Utterance(last.speaker, last.text))
        answer, candidate = item["answer"], item["candidate"]
        if not isinstance(answer, dict) or "img_id" not in answer:
            raise DataError(f"{where}: field 'answer' needs an 'img_id'")
        if not isinstance(candidate, dict) or not isinstance(candidate.get("set"), list):
            raise DataError(f"{where}: field 'candidate' needs a 'set' list")
        gold = self.sticker(answer["img_id"], f"{where}, answer")
        official = tuple(self.sticker(c, f"{where}, candidate set") for c in candidate["set"])
        if len(official) < 2:
            raise DataError(
                f"{where}: the candidate set has {len(official)} sticker(s); "
                "it needs at least 2 (the gold and a negative)"
            )
        return Sample(
            sample_id=f"{split}/{n}",
            context=context,
            speaker=_item_speaker(answer, candidate, where, last.speaker),
            gold=gold,
            emotion=emotions.get((_history_key(history), gold)),
            meta={**_meta(item.get("meta"), where), OFFICIAL_KEY: official, "index": n},
        )

    def task3_emotions(self, path: Path) -> dict[tuple, int]:
        items = read_json(path)
        if not isinstance(items, list):
            raise DataError(f"{path}: expected a list of task-3 items")
        labels: dict[tuple, int] = {}
        for n, item in enumerate(items):
            where = f"{path}, item {n}"
            history = item.get("history") if isinstance(item, dict) else None
            answer = item.get("answer") if isinstance(item, dict) else None
            if not isinstance(history, list) or not history or not isinstance(answer, dict):
                raise DataError(f"{where}: expected 'history' (non-empty list) and 'answer' (object)")
            for i, turn in enumerate(history):
                if not isinstance(turn, dict):
                    raise DataError(f"{where}, history turn {i}: a turn must be an object, got {type(turn).__name__}")
            if not _has_sticker(history[-1]):
                raise DataError(f"{where}: the last history turn must carry the sent sticker's 'img_id'")
            emotion = self.emotion(answer.get("emotion_id"), f"{where}, answer")
            if emotion is None:
                raise DataError(f"{where}: field 'answer.emotion_id' is missing")
            key = (_history_key(history), self.sticker(history[-1]["img_id"], where))
            if labels.get(key, emotion) != emotion:
                raise DataError(f"{where}: the same history and sticker carry two different emotions")
            labels[key] = emotion
        return labels


def load_mod(root: Path, name: str = "mod", files: Mapping[str, Path] | None = None) -> Dataset:
    """Read a MOD-layout directory into a :class:`Dataset` with every split it has."""
    root = Path(root)
    if not (root / "id2img.json").is_file():
        raise DataError(
            f"{root}: no id2img.json here; --data-dir must be the MOD (DSTC10 Track 1) directory "
            "holding id2img.json, meme_set/ and the dialogue files"
        )
    stickers = load_stickers(root)
    parser = _Parser(stickers)
    paths = find_files(root, files)
    splits: dict[str, list[Sample]] = {}
    for split in ("train", "validation"):
        if split in paths:
            splits[split] = parser.dialogues(paths[split], split)
    test_splits = sorted(
        {role.split(".")[0] for role in paths if role.startswith("test_")},
        key=lambda s: (s not in ("test_easy", "test_hard"), s),  # MOD's two first, as in its papers
    )
    for split in test_splits:
        if f"{split}.task2" not in paths:
            raise DataError(f"{root}: {paths[split + '.task3'].name} has no matching {split} task-2 file")
        emotions = parser.task3_emotions(paths[f"{split}.task3"]) if f"{split}.task3" in paths else {}
        splits[split] = parser.test_items(paths[f"{split}.task2"], split, emotions)
    if not splits:
        raise DataError(f"{root}: found no train, validation or test_*task2 files")
    return Dataset(
        name=name,
        splits=splits,
        stickers=stickers,
        emotion_names=read_emotion_names(root, parser.emotion_places),
        root=root,
        info={"files": {role: str(p) for role, p in sorted(paths.items())}},
    )
