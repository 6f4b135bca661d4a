"""The 2-D discrete cosine transform and the band-pass filter of the content-invariant module.

CIM (paper §4.2.2) works in the DCT spectrum of a sticker. The transform here is the
orthonormal DCT-II over the last two axes, written as two matrix products so that it runs on
any device inside autograd; it equals ``scipy.fft.dctn(x, type=2, norm="ortho", axes=(-2, -1))``
and its inverse equals ``scipy.fft.idctn`` with the same arguments (tests check both).
"""

from __future__ import annotations

import math

import torch


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
) -> torch.Tensor:
    """Eq. 9: H(R_h, R_l)(a, b) = exp(-(a²+b²)/R_h²) − exp(-(a²+b²)/R_l²), shape [height, width].

    (a, b) is the position of a coefficient in the DCT spectrum: its row and column index, the DC
    coefficient at (0, 0). The paper says only "the positions of the spectrum"; integer positions
    are the reading under which eq. 9-10 do what §4.2.2 says they do — randomise "the extremely
    low frequency components", which carry style, and keep the content. With R_l = 0.005 and
    R_h = 0.7 (§5.2), H is 0 at DC (the mean colour is kept), exp(-1/0.49) ≈ 0.13 at (0, 1) and
    (1, 0), 0.017 at (1, 1) and below 3·10⁻⁴ everywhere else: the band is the lowest non-DC
    frequencies, the slow colour and brightness gradients across the whole sticker.

    Positions normalised to [0, 1) (a = row/height), the reading this module used before, put
    almost the whole spectrum in the band (H > 0.5 up to a radius of 0.58), so Gus randomised the
    content too. Measured on the tiny preset: a nearest-centroid emotion read-out of the CLIP
    features fell from 95% on clean stickers to 20% on randomised ones, and since the training
    positive's v is built from ṽ, CKS could not learn the ranking (test_easy R10@1 17%).
    """
    a = torch.arange(height, dtype=torch.float64)
    b = torch.arange(width, dtype=torch.float64)
    r2 = a.unsqueeze(1) ** 2 + b.unsqueeze(0) ** 2
    h = torch.exp(-r2 / r_high**2) - torch.exp(-r2 / r_low**2)
    return h.to(dtype=dtype, device=device)


def style_randomise(images: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """Eq. 10: Ĩ = F⁻¹(Gus(H·F(I)) + (1 − H)·F(I)), with Gus(x) = x·(1 + N(0, 1)).

    ``noise`` is the N(0, 1) draw, broadcastable to ``images`` (the extractor draws one per
    image and channel, see :meth:`models.cks.ive.InterventionalVisualExtractor.augment`);
    ``None`` means no noise, in which case Ĩ = I up to rounding. Only coefficients where
    H ≠ 0 can change.
    """
    spectrum = dct2(images)
    band = mask * spectrum
    if noise is not None:
        band = band * (1 + noise)
    return idct2(band + (1 - mask) * spectrum)
