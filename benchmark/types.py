"""The data model shared by loaders, candidate sets, selectors and the evaluator.

Everything that crosses a module boundary is one of these frozen dataclasses, so that a
selector written by someone else sees exactly the same shapes as the built-in ones.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import DataError

TRAINING_SPLITS = ("train", "validation")


@dataclass(frozen=True)
class Utterance:
    """One dialogue turn: who spoke, what they wrote, and the sticker they sent with it (if any).

    ``sticker_id`` is a normalised string id; ``"0"`` is a real sticker, only ``None`` means
    "no sticker".
    """

    speaker: str
    text: str
    sticker_id: str | None = None


@dataclass(frozen=True)
class Sample:
    """A point in a dialogue where ``speaker`` sent sticker ``gold``.

    ``context`` is everything before the sticker was sent; the text sent together with the
    sticker is the last turn of the context (as in MOD), with ``sticker_id=None``.
    ``gold`` is ``None`` for a *blind* item (a released test file whose ``answer.img_id`` is
    empty): the loader never invents an answer, so such a sample can be scored and exported but
    has no metric. ``emotion`` is the gold emotion label index or ``None`` when there is no label.
    ``meta["sent_sticker"]`` (MOD task-2 items whose split has a task-3 file) is the sticker the
    task-3 item says was sent; it equals ``gold`` where there is one.
    """

    sample_id: str
    context: tuple[Utterance, ...]
    speaker: str
    gold: str | None
    emotion: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateSet:
    """The stickers one sample is scored on; ``gold`` is one of ``candidates``, or ``None`` for a
    blind sample (official sets only: a sampled set needs the gold to draw around)."""

    sample_id: str
    candidates: tuple[str, ...]
    gold: str | None

    @property
    def gold_index(self) -> int:
        """Where the gold sits; a blind sample has none, and a made-up index would score it."""
        if self.gold is None:
            raise DataError(f"sample {self.sample_id}: a blind item (no gold sticker) has no gold index")
        return self.candidates.index(self.gold)


@dataclass(frozen=True)
class Query:
    """What a selector sees for one sample: never the gold sticker nor the gold emotion."""

    sample_id: str
    context: tuple[Utterance, ...]
    speaker: str
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class ScoreBatch:
    """A selector's answer for a batch of queries.

    ``scores[b, n]`` is the score of candidate ``n`` of query ``b`` (higher is better);
    ``emotion_logits[b, e]`` the logit of emotion ``e``, or ``None`` for selectors with no
    emotion head. The evaluator validates shapes and finiteness.
    """

    scores: np.ndarray
    emotion_logits: np.ndarray | None = None


@dataclass(frozen=True)
class Sticker:
    """One sticker: its image file and optional side information.

    ``ocr_text`` is the text printed on the sticker when the dataset ships it (a curated
    ``ocr.json``; ``""`` means "no text on it"), else ``None``: an OCR engine then reads it.
    """

    sticker_id: str
    path: Path
    ocr_text: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


class StickerStore(Mapping[str, Sticker]):
    """Sticker id → :class:`Sticker`, with lazy image decoding and content hashes for caches."""

    def __init__(self, stickers: Sequence[Sticker], root: Path | None = None):
        self._stickers = {s.sticker_id: s for s in stickers}
        if len(self._stickers) != len(stickers):
            raise DataError("duplicate sticker ids in the sticker store")
        self.root = root
        self._hashes: dict[str, str] = {}

    def __getitem__(self, sticker_id: str) -> Sticker:
        try:
            return self._stickers[sticker_id]
        except KeyError:
            raise DataError(f"unknown sticker id {sticker_id!r}") from None

    def __contains__(self, sticker_id: object) -> bool:
        return sticker_id in self._stickers

    def __iter__(self) -> Iterator[str]:
        return iter(self._stickers)

    def __len__(self) -> int:
        return len(self._stickers)

    def image(self, sticker_id: str):
        """The sticker as an RGB ``PIL.Image``; animated GIFs give their first frame.

        An image over Pillow's ``Image.MAX_IMAGE_PIXELS`` is refused, not decoded: Pillow itself
        raises beyond twice the limit but only warns between it and twice it, and decoding such a
        file can exhaust memory. ``Image.open`` checks the size from the header, so turning its
        warning into an error there (``catch_warnings``) stops the file before any pixel is read
        and prints no stray warning; comparing ``img.size`` afterwards would print it first.
        ``catch_warnings`` swaps process-wide filters, which is safe as long as images are decoded
        on one thread, as every caller here does.
        """
        from PIL import Image

        path = self[sticker_id].path
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    img.seek(0)
                    return img.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(
                f"{path}: the image of sticker {sticker_id!r} exceeds Pillow's limit of "
                f"Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS} pixels; resize it to sticker size, "
                f"e.g. convert {path} -resize 512x512 {path} (ImageMagick)"
            ) from None
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{path}: cannot decode the image of sticker {sticker_id!r} ({exc}); replace or remove the file"
            ) from None

    def content_hash(self, sticker_id: str) -> str:
        """sha256 of the image file's bytes: the key of every per-sticker cache."""
        if sticker_id not in self._hashes:
            path = self[sticker_id].path
            try:
                self._hashes[sticker_id] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                raise DataError(f"{path}: cannot read sticker {sticker_id!r} ({exc})") from None
        return self._hashes[sticker_id]


@dataclass
class Dataset:
    """Named splits of samples over one sticker store.

    ``fingerprint`` identifies the dataset's content (samples and sticker bytes) and keys
    candidate sets, checkpoints and caches. ``info`` records how it was read: ``files`` (role ->
    path read), ``language`` and ``blind_splits`` (splits whose samples have no gold).
    """

    name: str
    splits: dict[str, list[Sample]]
    stickers: StickerStore
    emotion_names: tuple[str, ...]
    root: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[Sample]:
        if name not in self.splits:
            raise DataError(f"dataset {self.name!r} has no split {name!r}; available: {', '.join(self.splits)}")
        return self.splits[name]

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over samples, sticker bytes and emotion names.

        A blind sample's sent sticker and a sticker's curated OCR text are what selectors see
        there, so they count too; both enter only where present, so a dataset without them keeps
        the fingerprint it had before they existed (and with it every cached checkpoint).
        """
        digest = hashlib.sha256()
        digest.update(self.name.encode())
        for name in sorted(self.splits):
            digest.update(f"\0split:{name}".encode())
            for s in self.splits[name]:
                row: tuple = (
                    s.sample_id,
                    [(u.speaker, u.text, u.sticker_id) for u in s.context],
                    s.speaker,
                    s.gold,
                    s.emotion,
                )
                if s.gold is None:
                    row += (s.meta.get("sent_sticker"),)
                digest.update(repr(row).encode())
        for sid in sorted(self.stickers):
            digest.update(f"\0sticker:{sid}:{self.stickers.content_hash(sid)}".encode())
            if self.stickers[sid].ocr_text is not None:
                digest.update(f"\0ocr:{self.stickers[sid].ocr_text!r}".encode())
        digest.update(repr(self.emotion_names).encode())
        return digest.hexdigest()

    @property
    def num_emotions(self) -> int:
        return len(self.emotion_names)

    def training_view(self) -> "Dataset":
        """What ``fit`` may see: ``train`` and ``validation`` and the sticker store, no test split.

        A selector trained on this view cannot reach a test gold, by accident or otherwise;
        ``root`` is dropped too, so the test files are not one path away.
        """
        kept = {s: v for s, v in self.splits.items() if s in TRAINING_SPLITS}
        files = {role: path for role, path in self.info.get("files", {}).items() if role.split(".")[0] in kept}
        return Dataset(
            name=self.name,
            splits=kept,
            stickers=self.stickers,
            emotion_names=self.emotion_names,
            root=None,
            info={**self.info, "files": files, "view": "training"},
        )


def query_for(sample: Sample, candidates: CandidateSet) -> Query:
    """The selector's view of a sample: its context and candidates, nothing of the answer."""
    return Query(sample.sample_id, sample.context, sample.speaker, candidates.candidates)
