"""The files of a MOD-layout directory around the dialogues (see :mod:`benchmark.datasets.mod`):
which JSON file is which split (:func:`find_files`), the sticker set (``id2img.json``, ``meme_set/``,
``sticker_meta.json``: :func:`load_stickers`) and the emotion names (``emotions.json``:
:func:`read_emotion_names`), with sticker ids normalised once (:func:`normalize_sticker_id`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from benchmark.errors import DataError
from benchmark.io import read_json
from benchmark.types import Sticker, StickerStore

_TEST_SPLIT = re.compile(r"(test_[A-Za-z0-9]+)")


def normalize_sticker_id(raw: Any) -> str:
    """``"030"``, ``"30"`` and ``30`` are the same sticker; ``"0"`` is a sticker too."""
    text = str(raw).strip()
    return str(int(text)) if text.isdigit() else text


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


def _check_sticker_keys(path: Path, keys: Iterable[str]) -> None:
    """``"030"`` and ``"30"`` in one file are one sticker twice; which one wins must not be silent."""
    seen: dict[str, str] = {}
    for key in keys:
        sticker_id = normalize_sticker_id(key)
        if sticker_id in seen:
            raise DataError(f"{path}: keys {seen[sticker_id]!r} and {key!r} are both sticker {sticker_id!r}; keep one")
        seen[sticker_id] = key


def load_stickers(root: Path) -> StickerStore:
    id2img = read_json(root / "id2img.json")
    if not isinstance(id2img, dict):
        raise DataError(f"{root / 'id2img.json'}: expected an object mapping sticker id to file name")
    _check_sticker_keys(root / "id2img.json", id2img)
    metadata = _sticker_meta(root / "sticker_meta.json")
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


def _sticker_meta(path: Path) -> dict[str, dict]:
    """Optional ``{sticker id: {key: value}}``; each sticker keeps its object as ``Sticker.meta``."""
    if not path.exists():
        return {}
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: expected an object mapping sticker id to an object of metadata, got {type(data).__name__}"
        )
    for raw_id, meta in data.items():
        if not isinstance(meta, dict):
            raise DataError(
                f"{path}: the metadata of sticker {raw_id!r} is {type(meta).__name__}, not an object; "
                'make it {"key": value}'
            )
    _check_sticker_keys(path, data)
    return {normalize_sticker_id(k): v for k, v in data.items()}


def _emotions_by_id(path: Path, data: dict) -> list:
    """``{"id": name}`` as a list: the ids must be exactly 0..N-1, or names would shift to other ids."""
    by_id = {}
    for key, name in data.items():
        try:
            by_id[int(key)] = name
        except ValueError:
            raise DataError(
                f"{path}: unexpected key {key!r}; the keys must be emotion ids 0, 1, 2, ... "
                "(or make the file a list of names)"
            ) from None
    missing = next((i for i in range(len(data)) if i not in by_id), None)
    if missing is not None:
        raise DataError(
            f"{path}: the emotion ids must be 0..{len(data) - 1}, each once, but {missing} is missing; "
            "number the emotions from 0"
        )
    return [by_id[i] for i in range(len(data))]


def _read_emotions(path: Path) -> tuple[str, ...]:
    """emotions.json: names indexed by emotion id, as a list or an object ``{"id": name}``."""
    data = read_json(path)
    names = _emotions_by_id(path, data) if isinstance(data, dict) else data
    if not isinstance(names, list):
        raise DataError(f'{path}: expected a list of emotion names or an object {{"id": name}}')
    first_id: dict[str, int] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise DataError(f"{path}: emotion {i} is {name!r}, not a name; give each one a non-empty string")
        if name in first_id:
            raise DataError(
                f"{path}: emotion name {name!r} is given to ids {first_id[name]} and {i}; "
                "each emotion needs its own name"
            )
        first_id[name] = i
    return tuple(names)


def read_emotion_names(root: Path, used: Mapping[int, str]) -> tuple[str, ...]:
    """Names for the emotion ids ``used`` (id -> first place it occurs).

    Without emotions.json the ids themselves define the classes, so they must run 0..N-1: a
    stray 999 among 0..11 would otherwise make 1000 classes, 988 of them never seen.
    """
    path = root / "emotions.json"
    if path.exists():
        names = _read_emotions(path)
        top = max(used, default=-1)
        if top >= len(names):
            raise DataError(f"{path}: lists {len(names)} emotions but emotion id {top} is used ({used[top]})")
        return names
    gap = next(i for i in range(len(used) + 1) if i not in used)
    beyond = sorted(i for i in used if i > gap)
    if beyond:
        shown = ", ".join(map(str, beyond[:10])) + (", ..." if len(beyond) > 10 else "")
        raise DataError(
            f"{root}: no emotions.json, and the emotion ids used are not 0..N-1 without gaps: id {gap} "
            f"never occurs but {shown} do (id {beyond[0]} at {used[beyond[0]]}); "
            "ship an emotions.json that names the emotions"
        )
    return tuple(f"emotion_{i}" for i in range(len(used)))
