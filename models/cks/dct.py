"""The 2-D discrete cosine transform and the band-pass filter of the content-invariant module.

CIM (paper §4.2.2) works in the DCT spectrum of a sticker. The transform here is the
orthonormal DCT-II over the last two axes, written as two matrix products so that it runs on
any device inside autograd; it equals ``scipy.fft.dctn(x, type=2, norm="ortho", axes=(-2, -1))``
and its inverse equals ``scipy.fft.idctn`` with the same arguments (tests check both).

Eq. 9-10 leave two things open, and together they decide whether CIM intervenes on style at
all: what the "positions (a, b) of the spectrum" are, and which side of the filter Gus
randomises (eq. 10 puts Gus on H·F(I), the text beside it randomises "the extremely high and low
frequency components", which are what a band-pass H *stops*). :data:`CIM_READINGS` names the
three readings this module implements; ``benchmarks/probe_cks_modules.py`` measures each on
MojiChat (tiny preset, 64-px stickers; content = emotion and character, read out by
leave-one-out nearest-centroid on the IVE's CLIP features; style = the pack's theme, read out on
pixel statistics; each randomised sticker classified against the clean centroids):

=============  ============  ==========================  ==================  ===============
reading        pixel change  content read-out, clean→Ĩ   style read-out      verdict
=============  ============  ==========================  ==================  ===============
``index``      0.8 %         70.7 → 70.8 %               99.5 → 99.5 %       near-identity
``normalised`` 33 %          70.7 → 26.8 % (emotion 13)  99.5 → 58.3 %       content gone
``extremes``   14 %          70.7 → 68.2 % (96 %)        99.5 → 32.9 %       style only
=============  ============  ==========================  ==================  ===============

(MojiChat seed 0, 205 stickers of which 41 are held out of training, four draws each; clean
content is emotion 58.5 % and character 82.9 %, chance 8.3 %.) ``extremes`` is the default;
``--option cim_positions=index|normalised`` selects the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CimReading:
    """One reading of eq. 9-10: where (a, b) are measured, what Gus randomises, how N(0, 1) is drawn.

    ``positions``: ``"index"`` (a, b = the coefficient's row and column) or ``"normalised"``
    (a = row / height, b = column / width, in [0, 1)). ``randomise``: ``"band"`` (Gus on H·F(I), eq.
    10 as printed) or ``"stopbands"`` (Gus on (1 − H)·F(I), the extremes, as §4.2.2's text says;
    the DC coefficient is kept). ``noise``: ``"channel"`` (one draw per image and colour channel,
    shared by every randomised coefficient) or ``"coefficient"`` (one draw per coefficient, the
    literal Gus(x) = x·(1 + N(0, 1)) applied entrywise).
    """

    positions: str
    randomise: str
    noise: str


CIM_READINGS = {
    # (a, b) as integer indices: H = exp(-r²/0.49) − exp(-r²/0.005²) is 0 at DC, 0.13 at (0, 1)
    # and (1, 0), 0.017 at (1, 1) and below 3·10⁻⁴ elsewhere: three coefficients move, ~1 % of
    # the pixels; ṽ ≈ v_p, and the triplet loss degenerates to max(0, μ − Dis(v_p, v_n)).
    "index": CimReading("index", "band", "channel"),
    # (a, b) normalised, Gus on the band: H > 0.5 up to a radius of 0.58 and > 0.1 up to 1.05, so
    # most of the spectrum, the low band that draws the glyph included, is randomised (the
    # reading the first implementation used).
    "normalised": CimReading("normalised", "band", "channel"),
    # (a, b) normalised, Gus on what H stops: the highest frequencies (1 − exp(-r²/R_h²): texture,
    # grain, hatching, outline and frame edges) and, below R_l, the lowest. The DC coefficient,
    # the one coefficient below R_l at ≤ 200 px, is kept: it is the channel's mean colour, and
    # Gus on it (a factor 1 + N(0, 1), negative one time in six) recolours or inverts the whole
    # sticker — measured, DC randomised alone takes the emotion read-out from 58 % to 20 % and
    # the character's from 83 % to 32 % (with it, the stop bands leave 15 % and 25 %). One draw
    # per coefficient: with one draw per channel the high band only gets sharper or blurrier as
    # a whole (theme 99.5 → 81.5 %, emotion 58 → 46 %); per coefficient the texture itself is
    # redrawn (99.5 → 32.9 %) while the glyph, drawn by the middle band, stays (58 → 55 %).
    "extremes": CimReading("normalised", "stopbands", "coefficient"),
}
DEFAULT_CIM_READING = "extremes"


def dct_matrix(n: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Orthonormal DCT-II matrix C with ``C @ x`` = DCT of the column vector x (so C⁻¹ = Cᵀ)."""
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    c = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    c[0] /= math.sqrt(2.0)
    return c.to(dtype=dtype, device=device)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """F(I): orthonormal 2-D DCT-II over the last two axes (height, width)."""
    ch = dct_matrix(x.shape[-2], x.dtype, x.device)
    cw = dct_matrix(x.shape[-1], x.dtype, x.device)
    return ch @ x @ cw.T


def idct2(x: torch.Tensor) -> torch.Tensor:
    """F⁻¹: the inverse of :func:`dct2` (the transposed orthonormal matrices)."""
    ch = dct_matrix(x.shape[-2], x.dtype, x.device)
    cw = dct_matrix(x.shape[-1], x.dtype, x.device)
    return ch.T @ x @ cw


def band_pass(
    height: int,
    width: int,
    r_high: float = 0.7,
    r_low: float = 0.005,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    positions: str = "index",
) -> torch.Tensor:
    """Eq. 9: H(R_h, R_l)(a, b) = exp(-(a²+b²)/R_h²) − exp(-(a²+b²)/R_l²), shape [height, width].

    (a, b) is the position of a coefficient in the DCT spectrum, the DC coefficient at (0, 0):
    its row and column index (``positions="index"``) or those divided by height and width
    (``"normalised"``). With R_l = 0.005 and R_h = 0.7 (§5.2) the thresholds are fractions of the
    spectrum only in the normalised reading; see :data:`CIM_READINGS` for what each does.
    """
    a = torch.arange(height, dtype=torch.float64)
    b = torch.arange(width, dtype=torch.float64)
    if positions == "normalised":
        a, b = a / height, b / width
    elif positions != "index":
        raise ValueError(f"positions {positions!r}: choose index or normalised")
    r2 = a.unsqueeze(1) ** 2 + b.unsqueeze(0) ** 2
    h = torch.exp(-r2 / r_high**2) - torch.exp(-r2 / r_low**2)
    return h.to(dtype=dtype, device=device)


def randomised_mask(
    height: int,
    width: int,
    reading: CimReading,
    r_high: float = 0.7,
    r_low: float = 0.005,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The weight M of each coefficient in Gus under ``reading``: Ĩ = F⁻¹(Gus(M·F(I)) + (1 − M)·F(I)).

    ``"band"``: M = H (eq. 10 as printed). ``"stopbands"``: M = 1 − H with M = 0 at DC.
    """
    h = band_pass(height, width, r_high, r_low, dtype, device, reading.positions)
    if reading.randomise == "band":
        return h
    if reading.randomise != "stopbands":
        raise ValueError(f"randomise {reading.randomise!r}: choose band or stopbands")
    mask = 1 - h
    mask[0, 0] = 0
    return mask


def style_noise(images: torch.Tensor, reading: CimReading, generator: torch.Generator | None = None) -> torch.Tensor:
    """The N(0, 1) draw of Gus for a batch [B, C, H, W], shaped as ``reading.noise`` says."""
    if reading.noise == "channel":
        shape = (*images.shape[:-2], 1, 1)
    elif reading.noise == "coefficient":
        shape = tuple(images.shape)
    else:
        raise ValueError(f"noise {reading.noise!r}: choose channel or coefficient")
    return torch.randn(shape, dtype=images.dtype, device=images.device, generator=generator)


def style_randomise(images: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """Eq. 10: Ĩ = F⁻¹(Gus(M·F(I)) + (1 − M)·F(I)), with Gus(x) = x·(1 + N(0, 1)).

    ``mask`` is M (:func:`randomised_mask`); ``noise`` the N(0, 1) draw, broadcastable to
    ``images`` (:func:`style_noise`); ``None`` means no noise, in which case Ĩ = I up to
    rounding. Only coefficients where M ≠ 0 can change.
    """
    spectrum = dct2(images)
    band = mask * spectrum
    if noise is not None:
        band = band * (1 + noise)
    return idct2(band + (1 - mask) * spectrum)
