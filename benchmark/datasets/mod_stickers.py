"""The sticker set of a MOD-layout directory: which image is which sticker, its metadata and its
curated OCR text.

The organisers ship ``img2id.json`` (image file name -> sticker id; ids int or string, padded or
not); public baseline code derives ``id2img.json`` (id -> file name) from it. Either is read, and
when both are there they must agree: which one won would otherwise be silent. Images live in
``meme_set/``; an image that no index names is not a sticker (the release has one such file).
``sticker_meta.json`` (id -> object) and ``ocr.json`` (id -> text, or id -> ``{"ocr": text, ...}``
as MMBERT's ``ocr_max10.json``) are optional.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from benchmark.datasets.mod_files import normalize_sticker_id
from benchmark.errors import DataError
from benchmark.io import read_json
from benchmark.types import Sticker, StickerStore


def _check_sticker_keys(path: Path, keys: Iterable[str]) -> None:
    """``"030"`` and ``"30"`` in one file are one sticker twice; which one wins must not be silent."""
    seen: dict[str, str] = {}
    for key in keys:
        sticker_id = normalize_sticker_id(key)
        if sticker_id in seen:
            raise DataError(f"{path}: keys {seen[sticker_id]!r} and {key!r} are both sticker {sticker_id!r}; keep one")
        seen[sticker_id] = key


def _object(path: Path, what: str) -> dict:
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected an object mapping {what}, got {type(data).__name__}")
    return data


def _read_id2img(path: Path) -> list[tuple[Any, str, Any]]:
    """``(raw id, sticker id, file name)`` per entry of ``{"id": "file"}``."""
    data = _object(path, "sticker id to file name")
    _check_sticker_keys(path, data)
    return [(raw, normalize_sticker_id(raw), name) for raw, name in data.items()]


def _read_img2id(path: Path) -> list[tuple[Any, str, Any]]:
    """``(raw id, sticker id, file name)`` per entry of ``{"file": id}``: two files with one id
    would make one of them unreachable, so that is refused."""
    data = _object(path, "image file name to sticker id")
    entries, owner = [], {}
    for name, raw in data.items():
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or str(raw).strip() == "":
            raise DataError(f'{path}: image {name!r} has sticker id {raw!r}; give an integer or a string such as "030"')
        sticker_id = normalize_sticker_id(raw)
        if sticker_id in owner:
            raise DataError(
                f"{path}: images {owner[sticker_id]!r} and {name!r} both have sticker id {sticker_id!r}; keep one"
            )
        owner[sticker_id] = name
        entries.append((raw, sticker_id, name))
    return entries


def index_entries(files: Mapping[str, Path]) -> tuple[Path, list[tuple[Any, str, Any]]]:
    """The sticker index's path and entries: ``img2id.json`` and/or ``id2img.json``."""
    img2id = _read_img2id(files["img2id"]) if "img2id" in files else None
    id2img = _read_id2img(files["id2img"]) if "id2img" in files else None
    if img2id is None and id2img is None:
        raise DataError("no sticker index: give img2id.json or id2img.json")  # load_mod checks first
    if img2id is not None and id2img is not None:
        ours = {sid: name for _, sid, name in img2id}
        theirs = {sid: name for _, sid, name in id2img}
        differ = next((sid for sid in sorted(set(ours) | set(theirs)) if ours.get(sid) != theirs.get(sid)), None)
        if differ is not None:
            raise DataError(
                f"{files['img2id']} and {files['id2img']} disagree on sticker {differ!r} "
                f"({ours.get(differ)!r} vs {theirs.get(differ)!r}); remove one of them"
            )
    return (files["img2id"], img2id) if img2id is not None else (files["id2img"], id2img)


def _sticker_meta(path: Path | None) -> dict[str, dict]:
    """Optional ``{sticker id: {key: value}}``; each sticker keeps its object as ``Sticker.meta``."""
    if path is None:
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


def _ocr_texts(path: Path | None, known: Mapping[str, Any], index: Path) -> dict[str, str]:
    """Curated OCR: ``{id: text}`` or ``{id: {"ocr": text, ...}}``; ``""`` is a sticker without text.

    An id the index does not know is refused: an OCR file of another sticker set (the other
    language's, say) would otherwise fill some stickers with another sticker's text.
    """
    if path is None:
        return {}
    data = _object(path, 'sticker id to its text (or to {"ocr": text})')
    _check_sticker_keys(path, data)
    texts = {}
    for raw_id, value in data.items():
        text = value.get("ocr") if isinstance(value, dict) else value
        if not isinstance(text, str):
            raise DataError(f'{path}: sticker {raw_id!r}: expected its text or {{"ocr": text}}, got {value!r}')
        sticker_id = normalize_sticker_id(raw_id)
        if sticker_id not in known:
            raise DataError(f"{path}: sticker {raw_id!r} is not a sticker in {index.name}")
        texts[sticker_id] = text
    return texts


def load_stickers(root: Path, files: Mapping[str, Path]) -> StickerStore:
    """Every sticker the index names, with its image under ``meme_set/``, metadata and OCR text."""
    index, entries = index_entries(files)
    image_root = (root / "meme_set").resolve()
    known = {sid: raw for raw, sid, _ in entries}
    metadata = _sticker_meta(files.get("sticker_meta"))
    texts = _ocr_texts(files.get("ocr"), known, index)
    stickers = []
    for raw_id, sticker_id, file_name in entries:
        if not isinstance(file_name, str) or not file_name:
            raise DataError(f"{index}: sticker {raw_id!r} has no file name")
        path = (image_root / file_name).resolve()
        if not path.is_relative_to(root.resolve()):
            raise DataError(
                f"{index}: the image of sticker {raw_id!r} ({file_name!r}) points "
                "outside the dataset directory; refusing to read it"
            )
        if not path.is_file():
            raise DataError(f"{index}: the image of sticker {raw_id!r} is missing: {path}")
        meta = metadata.get(sticker_id, {})
        stickers.append(Sticker(sticker_id, path, ocr_text=texts.get(sticker_id), meta=meta))
    return StickerStore(stickers, root=root)
