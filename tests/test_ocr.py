"""Sticker OCR: read once per (engine, image content), cached on disk; engines chosen by name."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from PIL import Image

from benchmark.datasets.mojichat.inventory import STYLE_THEMES, Expression
from benchmark.datasets.mojichat.render import GlyphCache, Jitter, render_sticker
from benchmark.errors import BenchmarkError
from benchmark.ocr import OcrEngine, RapidOcrEngine, make_ocr_engine, ocr_stickers
from benchmark.types import Sticker, StickerStore


class CountingEngine:
    """Reports the mean colour as 'text', and counts how often it is asked."""

    name = "counting"

    def __init__(self, fingerprint: str = "counting-v1"):
        self.fingerprint = fingerprint
        self.calls = 0

    def read(self, image: Image.Image) -> str:
        self.calls += 1
        return "rgb " + " ".join(str(round(v)) for v in image.resize((1, 1)).getpixel((0, 0)))


def _store(root: Path, colors: list[str]) -> StickerStore:
    root.mkdir(parents=True, exist_ok=True)
    stickers = []
    for i, color in enumerate(colors):
        path = root / f"{i}.png"
        Image.new("RGB", (32, 32), color).save(path)
        stickers.append(Sticker(str(i), path))
    return StickerStore(stickers, root=root)


def test_second_run_reads_everything_from_the_cache(tmp_path):
    stickers = _store(tmp_path / "s", ["red", "green", "blue"])
    engine = CountingEngine()
    first = ocr_stickers(stickers, engine, tmp_path / "cache", progress=False)
    assert engine.calls == 3 and first["0"] == "rgb 255 0 0"
    engine.calls = 0
    again = ocr_stickers(_store(tmp_path / "s", ["red", "green", "blue"]), engine, tmp_path / "cache", progress=False)
    assert engine.calls == 0 and again == first


def test_only_changed_stickers_are_read_again(tmp_path):
    engine = CountingEngine()
    ocr_stickers(_store(tmp_path / "s", ["red", "green", "blue"]), engine, tmp_path / "cache", progress=False)
    engine.calls = 0
    texts = ocr_stickers(_store(tmp_path / "s", ["red", "white", "blue"]), engine, tmp_path / "cache", progress=False)
    assert engine.calls == 1 and texts["1"] == "rgb 255 255 255"


def test_two_processes_filling_one_cache_read_each_sticker_once(tmp_path):
    """(--jobs workers, torchrun ranks): the second waits for the first and reads its entries."""
    import threading
    import time

    store = _store(tmp_path / "s", ["red", "green", "blue", "white"])

    class SlowEngine(CountingEngine):
        def read(self, image):
            time.sleep(0.05)
            return super().read(image)

    engines = [SlowEngine(), SlowEngine()]
    results = [None, None]

    def fill(i):
        results[i] = ocr_stickers(store, engines[i], tmp_path / "cache", progress=False)

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(e.calls for e in engines) == 4  # not 8
    assert results[0] == results[1] and len(results[0]) == 4


def test_engines_with_different_fingerprints_do_not_share_entries(tmp_path):
    stickers = _store(tmp_path / "s", ["red", "green"])
    ocr_stickers(stickers, CountingEngine("counting-v1"), tmp_path / "cache", progress=False)
    other = CountingEngine("counting-v2")
    ocr_stickers(stickers, other, tmp_path / "cache", progress=False)
    assert other.calls == 2


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    stickers = _store(tmp_path / "s", ["red"])
    engine = CountingEngine()
    ocr_stickers(stickers, engine, tmp_path / "cache", progress=False)
    (cache_file,) = (tmp_path / "cache").glob("*.json")  # (beside it, the lock file of concurrent fills)
    cache_file.write_text('{"fingerprint": "counting-v1", "texts": {')
    assert ocr_stickers(stickers, engine, tmp_path / "cache", progress=False) == {"0": "rgb 255 0 0"}
    assert engine.calls == 2
    ocr_stickers(stickers, engine, tmp_path / "cache", progress=False)
    assert engine.calls == 2


def test_make_ocr_engine_by_name(monkeypatch):
    assert make_ocr_engine("none") is None
    assert isinstance(make_ocr_engine("rapidocr"), OcrEngine)
    with pytest.raises(BenchmarkError, match="unknown OCR engine 'tesseract'"):
        make_ocr_engine("tesseract")
    monkeypatch.setitem(sys.modules, "paddleocr", None)  # as if paddleocr were not installed
    with pytest.raises(BenchmarkError, match="pip install paddleocr"):
        make_ocr_engine("paddleocr")


def test_rapidocr_reads_a_sticker_caption_and_starts_lazily():
    engine = RapidOcrEngine()
    assert engine._engine is None, "the ONNX models load on first read, not at construction"
    image = render_sticker(
        GlyphCache(), Expression("1F600"), STYLE_THEMES["sky"], Jitter(0.8, 5.0, 0, 0), "HOORAY", random.Random(0)
    )
    assert "HOORAY" in engine.read(image).upper().replace(" ", "")
    assert engine.fingerprint.startswith("rapidocr-")
