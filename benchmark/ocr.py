"""OCR of sticker captions, computed once per sticker and cached on disk.

CKS reads the text printed on stickers (the paper uses PaddleOCR). Running OCR is slow, so
results are cached in ``cache_dir`` per engine fingerprint, keyed by the sticker's content hash:
a changed image is read again, an unchanged one never is, and two engines never share entries.

``rapidocr`` runs PaddleOCR's PP-OCR models through ONNX Runtime; the models ship inside the
``rapidocr_onnxruntime`` wheel, so it works offline. ``paddleocr`` uses the PaddleOCR package
itself when the user has installed it (with its models). PaddleOCR recognises one language per
model (``lang``), and its ``en`` model reads no Chinese: the language follows the dataset
(:func:`ocr_language`: ``ch`` for MOD, whose sticker text is Chinese; ``en`` otherwise), which the
harness puts into every selector's options as ``ocr_lang`` (``--option ocr_lang=…`` overrides)
and the adapters pass to :func:`make_ocr_engine`. (RapidOCR's bundled recogniser is PP-OCR's
Chinese model, which reads Latin script too.)

``auto`` (the default) prefers text the dataset ships: when *every* sticker has one
(``Sticker.ocr_text`` is not ``None``, filled from a curated ``ocr.json`` such as MMBERT's
``ocr_max10.json``), that text is used as it is and nothing is read; otherwise every sticker is
read with ``rapidocr``, sharing its cache. All or nothing, so that one run never mixes curated
and machine-read text across stickers. Which of the two ``auto`` means is decided in
:func:`ocr_stickers`, the first place that sees the stickers, so callers use ``auto`` exactly as
any other engine (``ocr_stickers(stickers, make_ocr_engine(name), cache_dir)``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from benchmark.errors import BenchmarkError, DataError
from benchmark.io import atomic_write_json, build_lock, read_json
from benchmark.types import StickerStore

OCR_ENGINES = ("auto", "none", "rapidocr", "paddleocr")
DEFAULT_OCR = "auto"
_SAVE_EVERY = 64  # stickers between cache writes, so an interrupted run keeps its work


@runtime_checkable
class OcrEngine(Protocol):
    """Reads the text in an image; ``fingerprint`` changes whenever its output could."""

    name: str
    fingerprint: str

    def read(self, image: Image.Image) -> str: ...


def _join_lines(lines: Sequence[tuple[Sequence[Sequence[float]], str]]) -> str:
    """Text boxes in reading order (top to bottom, then left to right), joined by spaces."""
    ordered = sorted(lines, key=lambda item: (round(min(p[1] for p in item[0]) / 10), min(p[0] for p in item[0])))
    return " ".join(text.strip() for _, text in ordered if text.strip())


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class RapidOcrEngine:
    """PP-OCRv4 detection + recognition via ``rapidocr_onnxruntime``; created on first read
    because loading the three ONNX models takes about a second."""

    name = "rapidocr"

    def __init__(self, text_score: float = 0.5):
        try:
            import rapidocr_onnxruntime  # noqa: F401
        except ImportError:
            raise BenchmarkError(
                "--ocr rapidocr needs rapidocr_onnxruntime: pip install rapidocr_onnxruntime"
            ) from None
        self.text_score = text_score
        self.fingerprint = f"rapidocr-{_version('rapidocr_onnxruntime')}-score{text_score}"
        self._engine: Any = None

    def read(self, image: Image.Image) -> str:
        if self._engine is None:
            import torch
            from rapidocr_onnxruntime import RapidOCR

            # as many threads as torch may use: a --jobs worker has one core, not all of them
            self._engine = RapidOCR(text_score=self.text_score, intra_op_num_threads=torch.get_num_threads())
        result, _ = self._engine(image.convert("RGB"))
        return _join_lines([(box, text) for box, text, _score in result or []])


class PaddleOcrEngine:
    """The ``paddleocr`` package, as used by the CKS authors; only when the user installed it."""

    name = "paddleocr"

    def __init__(self, lang: str = "en"):
        try:
            import paddleocr  # noqa: F401
        except ImportError:
            raise BenchmarkError(
                "--ocr paddleocr needs the paddleocr package and its models (pip install paddleocr "
                "paddlepaddle, then fetch the models once while online); or use --ocr rapidocr, "
                "which runs the same PP-OCR models offline"
            ) from None
        self.lang = lang
        self.fingerprint = f"paddleocr-{_version('paddleocr')}-{lang}"
        self._engine: Any = None

    def read(self, image: Image.Image) -> str:
        from paddleocr import PaddleOCR

        if self._engine is None:
            self._engine = PaddleOCR(lang=self.lang)
        array = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()  # PaddleOCR expects BGR
        if hasattr(self._engine, "predict"):  # paddleocr >= 3
            pages = self._engine.predict(array)
            return " ".join(t for page in pages for t in page["rec_texts"] if t.strip())
        pages = self._engine.ocr(array) or []
        return _join_lines([(box, text) for page in pages for box, (text, _score) in page or []])


class AutoOcrEngine:
    """``auto``: the dataset's own sticker text when it has one for every sticker, else RapidOCR.

    :func:`ocr_stickers` resolves it before any cache is touched (``fingerprint`` never keys
    one); RapidOCR is created only when needed, so a dataset that ships its text needs no OCR
    package installed.
    """

    name = "auto"
    fingerprint = "auto"

    def __init__(self) -> None:
        self._fallback: RapidOcrEngine | None = None

    def fallback(self) -> RapidOcrEngine:
        if self._fallback is None:
            self._fallback = RapidOcrEngine()
        return self._fallback

    def read(self, image: Image.Image) -> str:
        return self.fallback().read(image)


def shipped_texts(stickers: StickerStore) -> dict[str, str] | None:
    """Sticker id → the dataset's own text, when every sticker has one; else ``None``."""
    texts = {sid: stickers[sid].ocr_text for sid in stickers}
    return None if any(t is None for t in texts.values()) else texts  # type: ignore[return-value]


DATASET_OCR_LANGUAGES = {"mod": "ch"}


def ocr_language(dataset_name: str) -> str:
    """PaddleOCR's ``lang`` for a dataset's sticker text: ``ch`` for MOD, ``en`` for the others."""
    return DATASET_OCR_LANGUAGES.get(dataset_name, "en")


def make_ocr_engine(name: str, lang: str = "en") -> OcrEngine | None:
    """The engine called ``name``; ``"none"`` gives ``None`` (no OCR). ``lang``: PaddleOCR's."""
    if name == "none":
        return None
    if name == "auto":
        return AutoOcrEngine()
    if name == "rapidocr":
        return RapidOcrEngine()
    if name == "paddleocr":
        return PaddleOcrEngine(lang)
    raise BenchmarkError(f"unknown OCR engine {name!r}; choose one of {', '.join(OCR_ENGINES)}")


def _cache_path(cache_dir: Path, engine: OcrEngine) -> Path:
    digest = hashlib.sha256(engine.fingerprint.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"ocr-{engine.name}-{digest}.json"


def _load_cache(path: Path, engine: OcrEngine) -> dict[str, str]:
    """Entries of a cache file written for this very engine; a damaged file counts as empty."""
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except DataError:
        return {}
    if not isinstance(data, dict) or data.get("fingerprint") != engine.fingerprint:
        return {}
    texts = data.get("texts")
    return {k: v for k, v in texts.items() if isinstance(v, str)} if isinstance(texts, dict) else {}


def _save_cache(path: Path, engine: OcrEngine, texts: dict[str, str]) -> None:
    merged = {**_load_cache(path, engine), **texts}  # keep what a concurrent run added
    atomic_write_json(path, {"fingerprint": engine.fingerprint, "texts": dict(sorted(merged.items()))})


def ocr_stickers(stickers: StickerStore, engine: OcrEngine, cache_dir: Path, progress: bool = True) -> dict[str, str]:
    """Sticker id → OCR text, reading only stickers whose (engine, content hash) is not cached.

    With :class:`AutoOcrEngine`, the dataset's own texts when it has them all, else RapidOCR's.
    """
    if isinstance(engine, AutoOcrEngine):
        shipped = shipped_texts(stickers)
        if shipped is not None:
            return shipped
        engine = engine.fallback()
    path = _cache_path(cache_dir, engine)
    texts = _load_cache(path, engine)
    hashes = {sid: stickers.content_hash(sid) for sid in stickers}
    if any(h not in texts for h in hashes.values()):
        with build_lock(path.with_name(path.name + ".lock")):  # another process may be reading them now
            texts = _load_cache(path, engine)
            _read_missing(stickers, engine, path, texts, hashes, progress)
    return {sid: texts[h] for sid, h in hashes.items()}


def _read_missing(
    stickers: StickerStore, engine: OcrEngine, path: Path, texts: dict[str, str], hashes: dict[str, str], progress: bool
) -> None:
    missing = [sid for sid, h in hashes.items() if h not in texts]
    if missing:
        todo = missing
        if progress:
            from benchmark.progress import progress_bar

            todo = progress_bar(missing, desc=f"OCR ({engine.name})", unit="sticker")
        for n, sid in enumerate(todo, start=1):
            texts[hashes[sid]] = engine.read(stickers.image(sid))
            if n % _SAVE_EVERY == 0:
                _save_cache(path, engine, texts)
        _save_cache(path, engine, texts)
