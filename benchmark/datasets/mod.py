"""Loader for the MOD dataset in its DSTC10 Track 1 layout (and anything written like it).

Layout::

    DIR/id2img.json              sticker id -> file name under DIR/meme_set/
    DIR/meme_set/...             sticker images (png/jpg/gif; GIFs give their first frame)
    DIR/*train*.json             {"dialogue N": [{"speaker_id", "txt", "img_id"?, "emotion_id"?}, ...]}
    DIR/*valid*.json             same, validation
    DIR/*test_<name>*task2*.json [{"history": [...], "candidate": {"speaker_id", "set": [...]},
                                   "answer": {"speaker_id", "img_id"}}]
    DIR/*test_<name>*task3*.json same histories, last turn carrying the sent sticker, answer.emotion_id
    DIR/emotions.json            optional: emotion names (list, or {"id": name})
    DIR/sticker_meta.json        optional: sticker id -> metadata

Public code mishandled sticker ids: dialogue files zero-pad them ("030") while id2img.json may
not ("30"), and ``if img_id:`` silently dropped sticker "0". Ids are normalised here once, and
only a missing or null ``img_id`` means "no sticker".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.candidates import OFFICIAL_KEY
from benchmark.errors import DataError
from benchmark.io import read_json
from benchmark.types import Dataset, Sample, Sticker, StickerStore, Utterance

_TEST_SPLIT = re.compile(r"(test_[A-Za-z0-9]+)")


def normalize_sticker_id(raw: Any) -> str:
    """``"030"``, ``"30"`` and ``30`` are the same sticker; ``"0"`` is a sticker too."""
    text = str(raw).strip()
    return str(int(text)) if text.isdigit() else text


def _history_key(history: list) -> tuple:
    """Task-3 items are joined to task-2 items by who said what, in order."""
    return tuple((str(t.get("speaker_id")), str(t.get("txt") or "")) for t in history if isinstance(t, dict))


def _has_sticker(turn: Mapping[str, Any]) -> bool:
    return turn.get("img_id") not in (None, "")


def find_files(root: Path, overrides: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Map file roles (``train``, ``validation``, ``test_easy.task2``, ...) to paths by name.

    ``overrides`` (from ``--data-file ROLE=PATH``) take precedence over what is found.
    """
    found: dict[str, Path] = {}
    json_files = sorted(p for p in root.glob("*.json"))
    for path in json_files:
        name = path.name.lower()
        test = _TEST_SPLIT.search(name)
        if test and ("task2" in name or "task3" in name):
            role = f"{test.group(1)}.{'task2' if 'task2' in name else 'task3'}"
        elif "train" in name:
            role = "train"
        elif "valid" in name:
            role = "validation"
        else:
            continue
        if role in found:
            raise DataError(
                f"{root}: both {found[role].name} and {path.name} look like the {role} file; "
                f"name one explicitly with --data-file {role}=PATH"
            )
        found[role] = path
    for role, path in (overrides or {}).items():
        if not Path(path).is_file():
            raise DataError(f"--data-file {role}={path}: no such file")
        found[role] = Path(path)
    return found


def _load_stickers(root: Path) -> StickerStore:
    id2img = read_json(root / "id2img.json")
    if not isinstance(id2img, dict):
        raise DataError(f"{root / 'id2img.json'}: expected an object mapping sticker id to file name")
    meta_path = root / "sticker_meta.json"
    metadata = read_json(meta_path) if meta_path.exists() else {}
    metadata = {normalize_sticker_id(k): v for k, v in metadata.items()}
    image_root = (root / "meme_set").resolve()
    stickers = []
    for raw_id, file_name in id2img.items():
        sticker_id = normalize_sticker_id(raw_id)
        if not isinstance(file_name, str) or not file_name:
            raise DataError(f"{root / 'id2img.json'}: sticker {raw_id!r} has no file name")
        path = (image_root / file_name).resolve()
        if not path.is_relative_to(root.resolve()):
            raise DataError(
                f"{root / 'id2img.json'}: the image of sticker {raw_id!r} ({file_name!r}) points "
                "outside the dataset directory; refusing to read it"
            )
        if not path.is_file():
            raise DataError(f"{root / 'id2img.json'}: the image of sticker {raw_id!r} is missing: {path}")
        meta = metadata.get(sticker_id, {})
        stickers.append(Sticker(sticker_id, path, meta=meta))
    return StickerStore(stickers, root=root)


def _emotion_names(root: Path, max_id: int) -> tuple[str, ...]:
    path = root / "emotions.json"
    if path.exists():
        names = read_json(path)
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names, key=lambda k: int(k))]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"{path}: expected a list of emotion names")
        if max_id >= len(names):
            raise DataError(f"{path}: lists {len(names)} emotions but emotion id {max_id} is used")
        return tuple(names)
    return tuple(f"emotion_{i}" for i in range(max_id + 1))


class _Parser:
    """Turns raw JSON into samples, naming the file, item and field of anything malformed."""

    def __init__(self, stickers: StickerStore):
        self.stickers = stickers
        self.max_emotion = -1

    def utterance(self, turn: Any, where: str) -> Utterance:
        if not isinstance(turn, dict):
            raise DataError(f"{where}: a turn must be an object, got {type(turn).__name__}")
        for key in ("speaker_id", "txt"):
            if key not in turn:
                raise DataError(f"{where}: missing field {key!r}")
        sticker = self.sticker(turn["img_id"], where) if _has_sticker(turn) else None
        return Utterance(str(turn["speaker_id"]), str(turn["txt"] or ""), sticker)

    def sticker(self, raw: Any, where: str) -> str:
        sticker_id = normalize_sticker_id(raw)
        if sticker_id not in self.stickers:
            raise DataError(f"{where}: field 'img_id' = {raw!r} is not a sticker in id2img.json")
        return sticker_id

    def emotion(self, raw: Any, where: str) -> int | None:
        if raw is None or raw == "":
            return None
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise DataError(f"{where}: field 'emotion_id' = {raw!r} is not an integer") from None
        if value < 0:
            raise DataError(f"{where}: field 'emotion_id' = {value} is negative")
        self.max_emotion = max(self.max_emotion, value)
        return value

    def dialogues(self, path: Path, split: str) -> list[Sample]:
        data = read_json(path)
        if not isinstance(data, dict):
            raise DataError(f"{path}: expected an object of dialogues ({{\"dialogue N\": [turns]}})")
        samples = []
        for key, turns in data.items():
            if not isinstance(turns, list):
                raise DataError(f"{path}, {key!r}: expected a list of turns")
            context = [self.utterance(t, f"{path}, {key!r}, turn {i}") for i, t in enumerate(turns)]
            for i, turn in enumerate(turns):
                if i == 0 or not _has_sticker(turn):
                    continue
                where = f"{path}, {key!r}, turn {i}"
                meta = dict(turn.get("meta") or {})
                meta.update(dialogue=key, turn=i)
                samples.append(
                    Sample(
                        sample_id=f"{split}/{key.replace(' ', '_')}/{i}",
                        context=(*context[:i], Utterance(context[i].speaker, context[i].text)),
                        speaker=context[i].speaker,
                        gold=context[i].sticker_id,
                        emotion=self.emotion(turn.get("emotion_id"), where),
                        meta=meta,
                    )
                )
        return samples

    def test_items(self, path: Path, split: str, emotions: Mapping[tuple, int]) -> list[Sample]:
        items = read_json(path)
        if not isinstance(items, list):
            raise DataError(f"{path}: expected a list of task-2 items")
        samples = []
        for n, item in enumerate(items):
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
            speaker = str(answer.get("speaker_id") or candidate.get("speaker_id") or last.speaker)
            meta = dict(item.get("meta") or {})
            meta.update({OFFICIAL_KEY: official, "index": n})
            samples.append(
                Sample(
                    sample_id=f"{split}/{n}",
                    context=context,
                    speaker=speaker,
                    gold=gold,
                    emotion=emotions.get((_history_key(history), gold)),
                    meta=meta,
                )
            )
        return samples

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
            if not isinstance(history[-1], dict) or not _has_sticker(history[-1]):
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
    stickers = _load_stickers(root)
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
        emotion_names=_emotion_names(root, parser.max_emotion),
        root=root,
        info={"files": {role: str(p) for role, p in sorted(paths.items())}},
    )
