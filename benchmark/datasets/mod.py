"""Loader for the MOD dataset (DSTC10 Track 1), as the organisers release it or as public
baseline code preprocesses it, and for anything written like either (MojiChat is).

The organisers' release (``language`` "en" reads the ``e_`` files, "zh" the ``c_`` ones)::

    DIR/img2id.json                  image file name -> sticker id
    DIR/meme_set/...                 sticker images (png/jpg/gif; GIFs give their first frame)
    DIR/emotion_dict.json            emotion name -> id
    DIR/e_train.json                 {"dialogue N": [{"speaker_id", "txt", "img_id"?, "emotion_id"?}, ...]}
    DIR/e_val.json                   same, validation dialogues
    DIR/e_val_task2.json             [{"history": [...], "candidate": {"speaker_id", "set": [11 ids]},
                                       "answer": {"speaker_id", "img_id"}}]
    DIR/e_val_task3.json             same histories, last turn carrying the sent sticker, answer.emotion_id
    DIR/e_test_easy_task2.json, DIR/e_test_easy_task3.json, DIR/e_test_hard_task2.json, ...
                                     released blind: answer.img_id / answer.emotion_id are ""

The preprocessed layout has ``id2img.json`` (id -> file), ``emotions.json`` (a list of names, or
``{"id": name}``), ``train.json``, ``validation.json`` (or any ``*valid*``) and
``test_<name>_task2/3.json``. Either may add ``sticker_meta.json`` (id -> metadata) and
``ocr.json`` (curated sticker text, see :mod:`benchmark.datasets.mod_stickers`); without an
emotion file the emotion ids used must be 0..N-1, no gaps. Task-1 files are ignored.

The validation split is the official task-2 validation file's items when there is one (with its
11-sticker sets and task-3 labels, as the CKS paper's 3,183 validation samples are), else the
validation dialogues (or when ``--data-file validation=PATH`` names a dialogue file and no
validation task file is named); without either, one warning says that early stopping is off. Which file is
which is :mod:`benchmark.datasets.mod_files`'s job; dialogues are read by
:mod:`benchmark.datasets.mod_parse`, task items (blind ones included) by
:mod:`benchmark.datasets.mod_tasks`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from benchmark.datasets.mod_files import SIDE_FILES, find_files, normalize_sticker_id, read_emotion_names
from benchmark.datasets.mod_parse import Parser
from benchmark.datasets.mod_stickers import load_stickers
from benchmark.datasets.mod_tasks import task_samples
from benchmark.errors import DataError
from benchmark.types import Dataset, Sample

__all__ = ["load_mod", "normalize_sticker_id"]

log = logging.getLogger("stickerbench")


def _test_splits(paths: Mapping[str, Path]) -> list[str]:
    return sorted(
        {role.split(".")[0] for role in paths if role.startswith("test_")},
        key=lambda s: (s not in ("test_easy", "test_hard"), s),  # MOD's two first, as in its papers
    )


def _task_split(parser: Parser, root: Path, paths: Mapping[str, Path], split: str, annotated_only: bool):
    """``split``'s samples from its task-2 file (labelled by its task-3 file, when there is one)
    and the roles read; a task-3 file alone labels nothing, so it is refused."""
    if f"{split}.task2" not in paths:
        raise DataError(
            f"{root}: {paths[split + '.task3'].name} has no matching {split} task-2 file; "
            f"name it with --data-file {split}.task2=PATH"
        )
    task3 = paths.get(f"{split}.task3")
    samples = task_samples(parser, split, paths[f"{split}.task2"], task3, annotated_only)
    return samples, [f"{split}.task2"] + ([f"{split}.task3"] if task3 else [])


def load_mod(
    root: Path,
    name: str = "mod",
    files: Mapping[str, Path] | None = None,
    *,
    language: str = "en",
    annotated_only: bool = False,
) -> Dataset:
    """Read a MOD-layout directory into a :class:`Dataset` with every split it has.

    ``files`` (``--data-file ROLE=PATH``) names files explicitly; ``language`` ("en" or "zh")
    picks the release's ``e_`` or ``c_`` files; ``annotated_only`` keeps the annotated items of a
    partly annotated task-2 file instead of refusing it.
    """
    root = Path(root)
    paths = find_files(root, files, language)
    if "img2id" not in paths and "id2img" not in paths:
        raise DataError(
            f"{root}: no id2img.json (or the release's img2id.json) here; --data-dir must be the MOD "
            "(DSTC10 Track 1) directory holding it, meme_set/ and the dialogue files"
        )
    stickers = load_stickers(root, paths)
    parser = Parser(stickers, (paths.get("img2id") or paths["id2img"]).name)
    read = [role for role in SIDE_FILES if role in paths]
    splits: dict[str, list[Sample]] = {}
    if "train" in paths:
        splits["train"] = parser.dialogues(paths["train"], "train")
        read.append("train")
    chosen = set(files or {})  # a dialogue file named explicitly wins over found task files
    dialogues_chosen = "validation" in chosen and not chosen & {"validation.task2", "validation.task3"}
    if ("validation.task2" in paths or "validation.task3" in paths) and not dialogues_chosen:
        splits["validation"], roles = _task_split(parser, root, paths, "validation", annotated_only)
        read += roles
    elif "validation" in paths:
        splits["validation"] = parser.dialogues(paths["validation"], "validation")
        read.append("validation")
    for split in _test_splits(paths):
        splits[split], roles = _task_split(parser, root, paths, split, annotated_only)
        read += roles
    if not splits:
        raise DataError(f"{root}: found no train, validation or test_*task2 files")
    if "validation" not in splits:
        log.warning(
            "%s: no validation split (no *_val.json, *valid*.json or *val*task2*.json for language %r); "
            "early stopping is off",
            root,
            language,
        )
    return Dataset(
        name=name,
        splits=splits,
        stickers=stickers,
        emotion_names=read_emotion_names(root, parser.emotion_places, paths),
        root=root,
        info={
            "files": {role: str(paths[role]) for role in sorted(read)},
            "language": language,
            "blind_splits": [s for s, samples in splits.items() if samples and all(x.gold is None for x in samples)],
        },
    )
