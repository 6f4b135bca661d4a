"""How well an OCR engine recovers MojiChat's captions: ``python -m benchmark.datasets.mojichat.ocr_check DIR``.

A caption counts as read when, after upper-casing and dropping everything but letters and
digits, it is a substring of the engine's text for that sticker; "exact" asks for equality.
Stickers without a caption count as clean when the engine returns no letters or digits.
OCR goes through :func:`benchmark.ocr.ocr_stickers`, so a second run reads the disk cache.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.datasets.mod import load_mod
from benchmark.ocr import OCR_ENGINES, OcrEngine, make_ocr_engine, ocr_stickers


def _normalise(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


@dataclass(frozen=True)
class CaptionReadRate:
    captions: int
    read: int
    exact: int
    uncaptioned: int
    clean: int

    def summary(self) -> str:
        return (
            f"captions read: {self.read}/{self.captions} = {self.read / max(1, self.captions):.3f} "
            f"(exact {self.exact / max(1, self.captions):.3f}); uncaptioned stickers with no OCR text: "
            f"{self.clean}/{self.uncaptioned} = {self.clean / max(1, self.uncaptioned):.3f}"
        )


def caption_read_rate(root: Path, engine: OcrEngine, cache_dir: Path, progress: bool = True) -> CaptionReadRate:
    stickers = load_mod(Path(root), name="mojichat").stickers
    texts = {sid: _normalise(t) for sid, t in ocr_stickers(stickers, engine, cache_dir, progress).items()}
    captions = {sid: _normalise(stickers[sid].meta.get("caption") or "") for sid in stickers}
    captioned = [sid for sid, c in captions.items() if c]
    uncaptioned = [sid for sid, c in captions.items() if not c]
    return CaptionReadRate(
        captions=len(captioned),
        read=sum(captions[s] in texts[s] for s in captioned),
        exact=sum(captions[s] == texts[s] for s in captioned),
        uncaptioned=len(uncaptioned),
        clean=sum(not texts[s] for s in uncaptioned),
    )


def main(argv: list[str] | None = None) -> None:
    from benchmark.datasets import cache_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a MojiChat directory (python -m benchmark data build mojichat)")
    parser.add_argument("--ocr", default="rapidocr", choices=[e for e in OCR_ENGINES if e != "none"])
    args = parser.parse_args(argv)
    engine = make_ocr_engine(args.ocr)
    assert engine is not None
    print(caption_read_rate(args.root, engine, cache_root() / "ocr").summary())


if __name__ == "__main__":
    main()
