"""Per-sticker feature cache: once per unique content, zero encoder calls on a warm cache."""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn

from benchmark.features import encode_stickers, module_fingerprint
from benchmark.types import Sticker, StickerStore


def _store(tmp_path, colours) -> StickerStore:
    stickers = []
    for i, colour in enumerate(colours):
        path = tmp_path / f"s{i}.png"
        Image.new("RGB", (8, 8), colour).save(path)
        stickers.append(Sticker(f"s{i}", path))
    return StickerStore(stickers)


class CountingEncoder:
    def __init__(self):
        self.images = 0
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        self.images += len(images)
        return torch.stack([torch.tensor(img.getpixel((0, 0)), dtype=torch.float32) for img in images])


def test_each_unique_content_is_encoded_once_then_read_from_disk(tmp_path):
    # s1 and s3 share their bytes: one encoding serves both ids.
    store = _store(tmp_path, [(255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 255, 0)])
    enc = CountingEncoder()
    ids = ["s0", "s1", "s2", "s3", "s0", "s2"]
    feats = encode_stickers(store, ids, enc, tmp_path / "cache", "fp-a", batch_size=2, progress=False)
    assert enc.images == 3 and enc.calls == 2
    assert set(feats) == {"s0", "s1", "s2", "s3"}
    torch.testing.assert_close(feats["s1"], torch.tensor([0.0, 255.0, 0.0]))

    warm = CountingEncoder()
    again = encode_stickers(store, ids, warm, tmp_path / "cache", "fp-a", progress=False)
    assert warm.calls == 0
    for sid in ("s2", "s0"):
        torch.testing.assert_close(again[sid], feats[sid])

    other_model = CountingEncoder()
    encode_stickers(store, ids, other_model, tmp_path / "cache", "fp-b", progress=False)
    assert other_model.images == 3  # another fingerprint never reuses these features


def test_dict_features_and_no_disk_cache(tmp_path):
    store = _store(tmp_path, [(1, 2, 3), (4, 5, 6)])

    def encode(images):
        px = torch.stack([torch.tensor(img.getpixel((0, 0)), dtype=torch.float32) for img in images])
        return {"embeds": px, "mask": torch.ones(len(images), 2, dtype=torch.long)}

    feats = encode_stickers(store, ["s0", "s1"], encode, None, "fp", progress=False)
    assert feats["s1"]["mask"].tolist() == [1, 1]
    torch.testing.assert_close(feats["s1"]["embeds"], torch.tensor([4.0, 5.0, 6.0]))
    assert not any(tmp_path.rglob("*.safetensors"))
    enc = CountingEncoder()
    encode_stickers(store, ["s0"], enc, tmp_path / "c", "fp", progress=False)
    (path,) = list((tmp_path / "c").rglob("*.safetensors"))
    path.write_bytes(b"torn")  # a damaged entry is encoded again, not trusted
    encode_stickers(store, ["s0"], enc, tmp_path / "c", "fp", progress=False)
    assert enc.images == 2


def test_module_fingerprint_follows_weights_and_extra():
    torch.manual_seed(0)
    a = nn.Linear(3, 2)
    fp = module_fingerprint(a, {"size": 32})
    assert fp == module_fingerprint(a, {"size": 32})
    assert fp != module_fingerprint(a, {"size": 64})
    with torch.no_grad():
        a.bias[0] += 1e-3
    assert fp != module_fingerprint(a, {"size": 32})
