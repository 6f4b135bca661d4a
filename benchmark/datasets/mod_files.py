"""Which file of a MOD-layout directory is which (:func:`find_files`), and the emotion names
(``emotion_dict.json`` or ``emotions.json``: :func:`read_emotion_names`), with sticker ids
normalised once (:func:`normalize_sticker_id`). The sticker set is read by
:mod:`benchmark.datasets.mod_stickers`, the dialogues and task items by :mod:`benchmark.datasets.mod`.

Two layouts are found by name. The organisers' release prefixes every dialogue and task file with
its language (``e_train.json``, ``c_val_task2.json``, ``e_test_hard_task3.json``, ...), and one
directory may hold both languages: ``language`` picks one and the other's files are ignored, not
an error. Files without a prefix (the preprocessed layout of public baselines and MojiChat:
``train.json``, ``validation.json``, ``test_easy_task2.json``) are read whatever the language.
Task-1 files (text responses) are not sticker selection and are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.errors import DataError
from benchmark.io import read_json

LANGUAGES = {"en": "e", "zh": "c"}  # language -> the release's file prefix
SIDE_FILES = {  # role -> file name: read where present, never guessed
    "img2id": "img2id.json",
    "id2img": "id2img.json",
    "emotion_dict": "emotion_dict.json",
    "emotions": "emotions.json",
    "sticker_meta": "sticker_meta.json",
    "ocr": "ocr.json",
}
_TEST_SPLIT = re.compile(r"(test_[A-Za-z0-9]+)")
_LANGUAGE_PREFIX = re.compile(r"(?:^|_)([ce])_(?=train|val|test)")
_VALIDATION = re.compile(r"valid|(?:^|[_.-])val(?:[_.-]|$)")
_TASK = re.compile(r"task([0-9]+)")
_SPLIT_ROLE = re.compile(r"train|validation(?:\.task[23])?|test_[A-Za-z0-9]+\.task[23]")


def normalize_sticker_id(raw: Any) -> str:
    """``"030"``, ``"30"`` and ``30`` are the same sticker; ``"0"`` is a sticker too."""
    text = str(raw).strip()
    return str(int(text)) if text.isdigit() else text


def check_language(language: str) -> str:
    """One line naming the choices: an unknown language would otherwise read only unprefixed files."""
    if language not in LANGUAGES:
        raise DataError(f"language {language!r}: choose one of {', '.join(LANGUAGES)} (MOD's e_ and c_ files)")
    return language


def _split_role(name: str, language: str) -> str | None:
    """The role of a dialogue or task file called ``name`` (lower case), or ``None`` to skip it."""
    prefix = _LANGUAGE_PREFIX.search(name)
    if prefix and prefix.group(1) != LANGUAGES[language]:
        return None  # the other language's file
    task = _TASK.search(name)
    if task and task.group(1) not in ("2", "3"):
        return None  # task 1 (text response) or an unknown task
    test = _TEST_SPLIT.search(name)
    if test and task:
        return f"{test.group(1)}.task{task.group(1)}"
    if _VALIDATION.search(name) and task:
        return f"validation.task{task.group(1)}"
    if "train" in name:
        return "train"
    if _VALIDATION.search(name) and not test:
        return "validation"
    return None


def _check_role(role: str) -> None:
    if role not in SIDE_FILES and not _SPLIT_ROLE.fullmatch(role):
        raise DataError(
            f"--data-file {role}=...: unknown role {role!r}; use train, validation, validation.task2, "
            f"validation.task3, test_NAME.task2, test_NAME.task3 or one of {', '.join(SIDE_FILES)}"
        )


def find_files(root: Path, overrides: Mapping[str, Path] | None = None, language: str = "en") -> dict[str, Path]:
    """Map file roles (``train``, ``validation``, ``validation.task2``, ``test_easy.task2``,
    ``img2id``, ``ocr``, ...) to paths by name, for ``language`` ("en" or "zh").

    ``overrides`` (from ``--data-file ROLE=PATH``) take precedence over what is found; their
    roles must be ones the loader reads, so that a typo is not a silently ignored file.
    """
    check_language(language)
    overrides = dict(overrides or {})
    found: dict[str, Path] = {}
    for role, file_name in SIDE_FILES.items():
        if (root / file_name).is_file():
            found[role] = root / file_name
    for path in sorted(root.glob("*.json")):
        if path.name in SIDE_FILES.values():
            continue
        role = _split_role(path.name.lower(), language)
        if role is None or role in overrides:
            continue
        if role in found:
            raise DataError(
                f"{root}: both {found[role].name} and {path.name} look like the {role} file; "
                f"name one explicitly with --data-file {role}=PATH"
            )
        found[role] = path
    for role, path in overrides.items():
        _check_role(role)
        if not Path(path).is_file():
            raise DataError(f"--data-file {role}={path}: no such file")
        found[role] = Path(path)
    return found


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


def integer(raw: Any) -> int | None:
    """``3`` and ``"3"`` are 3; ``1.5``, ``true`` and ``Infinity`` are not (``int()`` takes or crashes on)."""
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _read_emotion_dict(path: Path) -> tuple[str, ...]:
    """The release's emotion_dict.json, ``{name: id}``: ids 0..N-1, each given to one name."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f'{path}: expected an object mapping emotion name to id ({{"happy": 0, ...}})')
    by_id: dict[int, str] = {}
    for name, raw in data.items():
        value = integer(raw)
        if not name:
            raise DataError(f"{path}: an emotion (id {raw!r}) has an empty name; give each one a non-empty string")
        if value is None or value < 0:
            raise DataError(f"{path}: emotion {name!r} has id {raw!r}; the ids must be integers 0, 1, 2, ...")
        if value in by_id:
            raise DataError(
                f"{path}: emotion id {value} is given to names {by_id[value]!r} and {name!r}; "
                "each emotion needs its own id"
            )
        by_id[value] = name
    missing = next((i for i in range(len(by_id)) if i not in by_id), None)
    if missing is not None:
        raise DataError(
            f"{path}: the emotion ids must be 0..{len(by_id) - 1}, each once, but {missing} is missing; "
            "number the emotions from 0"
        )
    return tuple(by_id[i] for i in range(len(by_id)))


def _named_emotions(files: Mapping[str, Path]) -> tuple[Path, tuple[str, ...]] | None:
    """The emotion names from emotion_dict.json and/or emotions.json; two files that disagree are
    refused, since which one won would otherwise be silent."""
    found = []
    if "emotion_dict" in files:
        found.append((files["emotion_dict"], _read_emotion_dict(files["emotion_dict"])))
    if "emotions" in files:
        found.append((files["emotions"], _read_emotions(files["emotions"])))
    if len(found) == 2 and found[0][1] != found[1][1]:
        (a, names_a), (b, names_b) = found
        raise DataError(
            f"{a} and {b} name the emotions differently ({list(names_a[:3])}... vs {list(names_b[:3])}...); "
            "remove one of them"
        )
    return found[0] if found else None


def read_emotion_names(root: Path, used: Mapping[int, str], files: Mapping[str, Path] | None = None) -> tuple[str, ...]:
    """Names for the emotion ids ``used`` (id -> first place it occurs), from the ``files`` roles
    ``emotion_dict`` / ``emotions`` (default: ``root``'s emotions.json).

    Without either file the ids themselves define the classes, so they must run 0..N-1: a
    stray 999 among 0..11 would otherwise make 1000 classes, 988 of them never seen.
    """
    if files is None:
        files = {"emotions": root / "emotions.json"} if (root / "emotions.json").is_file() else {}
    named = _named_emotions(files)
    if named is not None:
        path, names = named
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
            "ship an emotions.json that names the emotions (or the release's emotion_dict.json, name -> id)"
        )
    return tuple(f"emotion_{i}" for i in range(len(used)))
