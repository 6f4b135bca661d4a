"""A growing table of per-sticker features from a *frozen* encoder (MOD-GPT, MMBERT, FROMAGe).

Why not recompute per ``prepare``: these selectors never train their image encoder, so a
sticker's feature never changes during a run. Features are keyed by image content, computed once
through the shared feature cache, and kept across ``prepare`` calls, so a dialogue may refer to a
sticker that the current store (e.g. a candidates-only store) does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from benchmark.errors import DataError
from benchmark.features import encode_stickers
from benchmark.types import StickerStore


class StickerTable:
    def __init__(self, encode_batch: Callable, fingerprint: str, desc: str, preprocess: Callable | None = None):
        """``preprocess(images)`` → pixels, then ``encode_batch(pixels on the device)`` (see encode_stickers)."""
        self.encode_batch, self.fingerprint, self.desc, self.preprocess = encode_batch, fingerprint, desc, preprocess
        self._by_hash: dict[str, torch.Tensor] = {}
        self._hash_of: dict[str, str] = {}
        self.rows: dict[str, int] = {}
        self.matrix: torch.Tensor | None = None

    def update(self, stickers: StickerStore, cache_dir: Path | None, device) -> None:
        """Encode the stickers whose content is new; ``rows``/``matrix`` then cover every id seen."""
        hashes = {sid: stickers.content_hash(sid) for sid in stickers}
        missing = sorted(sid for sid, h in hashes.items() if h not in self._by_hash)
        if missing:
            feats = encode_stickers(
                stickers,
                missing,
                self.encode_batch,
                cache_dir,
                self.fingerprint,
                desc=self.desc,
                preprocess=self.preprocess,
                device=str(device),
            )
            self._by_hash.update({hashes[sid]: feats[sid] for sid in missing})
        self._hash_of.update(hashes)
        order = sorted(self._by_hash)
        index = {h: i for i, h in enumerate(order)}
        self.rows = {sid: index[h] for sid, h in self._hash_of.items()}
        self.matrix = torch.stack([self._by_hash[h] for h in order]).to(device)

    def clear(self) -> None:
        """Forget every feature: the next ``update`` encodes its stickers again (what a benchmark times)."""
        self._by_hash.clear()
        self._hash_of.clear()
        self.rows, self.matrix = {}, None

    def row(self, sticker_id: str) -> int:
        try:
            return self.rows[sticker_id]
        except KeyError:
            raise DataError(f"sticker {sticker_id!r} was never in a prepared sticker store") from None
