"""Paired statistics for selectors scored on identical candidate sets.

Every selector of a run answers the same samples, so a comparison is paired: the unit is the
per-sample difference ``d_i = a_i − b_i`` of a metric (with several training seeds, each model's
values are first averaged over its seeds, sample by sample). Three numbers come out:

* ``diff`` — ``mean(a) − mean(b)``;
* ``ci95`` — a percentile bootstrap interval: samples are resampled with replacement (and, with
  several seeds, each model's seeds too, before the samples: a two-level bootstrap, so the
  interval also covers how much retraining moves the number);
* ``p`` — a two-sided paired randomisation (sign-flip) test of "no difference": under the null
  each ``d_i`` is as likely to be ``−d_i``, so the observed ``|mean(d)|`` is ranked among the
  means of randomly sign-flipped differences; ``p = (1 + #{as extreme}) / (1 + R)``, never 0.
  Identical selectors give ``d = 0`` everywhere and ``p = 1`` exactly.

Assumptions: samples are independent of one another (dialogues in MOD share speakers and
themes, so treat p-values near the threshold with care), and seeds are exchangeable. The
family of comparisons that is printed is corrected with Holm's step-down method, which controls
the family-wise error rate without assuming independence between comparisons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_BOOTSTRAP = 2000
DEFAULT_PERMUTATIONS = 10000
ALPHA = 0.05


@dataclass(frozen=True)
class PairedResult:
    diff: float
    ci95: tuple[float, float]
    p: float


def comparison_rng(seed: int, *labels: str) -> np.random.Generator:
    """An RNG per comparison, so that adding a model never changes another pair's numbers."""
    digest = hashlib.sha256("\0".join([str(seed), *labels]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _as_seeds(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[None, :] if values.ndim == 1 else values


_BYTE_BITS = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)  # byte → its 8 bits


def sign_flip_p(differences: np.ndarray, rng: np.random.Generator, permutations: int = DEFAULT_PERMUTATIONS) -> float:
    """Two-sided p-value of mean(differences) = 0 under random sign flips.

    Exact zeros are left out (flipping them changes nothing), and the signs of the others are
    drawn eight at a time, as one random byte per block of eight differences: a table holds the
    256 sums each block can contribute, so a permutation costs n/8 look-ups instead of n
    multiplications. Each sign is still an independent fair coin, so this is the plain test.
    """
    d = np.asarray(differences, dtype=np.float64).ravel()
    d = d[d != 0]
    if d.size == 0:
        return 1.0  # every flip gives the observed mean, 0
    total = float(d.sum())
    tolerance = 1e-12 * d.size * max(1.0, float(np.abs(d).max()))  # equal sums must count as extreme
    blocks = np.concatenate([d, np.zeros(-d.size % 8)]).reshape(-1, 8)
    table = blocks @ _BYTE_BITS.T  # [blocks, 256]: the sum of the block's differences whose sign stays
    extreme, done = 0, 0
    per_chunk = max(1, (1 << 22) // len(blocks))
    while done < permutations:
        chunk = min(per_chunk, permutations - done)
        picks = np.frombuffer(rng.bytes(chunk * len(blocks)), dtype=np.uint8).reshape(len(blocks), chunk)
        kept = np.zeros(chunk)
        for sums, pick in zip(table, picks):
            kept += sums[pick]
        extreme += int((np.abs(2 * kept - total) >= abs(total) - tolerance).sum())
        done += chunk
    return (1 + extreme) / (1 + permutations)


def bootstrap_ci(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, resamples: int = DEFAULT_BOOTSTRAP
) -> tuple[float, float]:
    """95 % percentile interval of mean(a) − mean(b); ``a``, ``b`` are ``[seeds, samples]``."""
    a, b = _as_seeds(a), _as_seeds(b)
    n = a.shape[1]
    stats = np.empty(resamples)
    for r in range(resamples):
        ma = a[rng.integers(0, a.shape[0], a.shape[0])].mean(axis=0) if a.shape[0] > 1 else a[0]
        mb = b[rng.integers(0, b.shape[0], b.shape[0])].mean(axis=0) if b.shape[0] > 1 else b[0]
        idx = rng.integers(0, n, n)
        stats[r] = ma[idx].mean() - mb[idx].mean()
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(low), float(high)


def paired_comparison(
    a: np.ndarray,
    b: np.ndarray,
    rng: np.random.Generator,
    resamples: int = DEFAULT_BOOTSTRAP,
    permutations: int = DEFAULT_PERMUTATIONS,
) -> PairedResult:
    """``a``, ``b``: per-sample values, ``[samples]`` or ``[seeds, samples]`` over the same samples."""
    a, b = _as_seeds(a), _as_seeds(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired values need the same samples: {a.shape[1]} vs {b.shape[1]}")
    d = a.mean(axis=0) - b.mean(axis=0)
    return PairedResult(
        diff=float(d.mean()),
        ci95=bootstrap_ci(a, b, rng, resamples),
        p=sign_flip_p(d, rng, permutations),
    )


def paired_p(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, permutations: int = DEFAULT_PERMUTATIONS) -> float:
    """The sign-flip p-value of :func:`paired_comparison` alone (no bootstrap interval)."""
    a, b = _as_seeds(a), _as_seeds(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired values need the same samples: {a.shape[1]} vs {b.shape[1]}")
    return sign_flip_p(a.mean(axis=0) - b.mean(axis=0), rng, permutations)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order (monotone, capped at 1)."""
    order = np.argsort(pvalues, kind="stable")
    m = len(pvalues)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return [float(x) for x in adjusted]


def holm_undecided(pvalues: Sequence[float], permutations: int, alpha: float = ALPHA, z: float = 3.0) -> list[int]:
    """Which Monte-Carlo p-values (each from ``permutations`` draws) to draw again, more finely.

    Those whose Holm decision at ``alpha`` could still flip within ``z`` standard errors of the
    estimate, and every p that could rank before one of them (Holm adjusts a p by the smaller
    ones). Holm's adjusted p-values never decrease when a raw p grows, so the decisions with
    every p at the low end of its band and with every p at the high end bound all the others.
    """
    ps = np.asarray(pvalues, dtype=np.float64)
    if ps.size == 0:
        return []
    margin = z * np.sqrt(np.maximum(ps, 3 / permutations) * (1 - ps) / permutations)
    low = np.array(holm(np.clip(ps - margin, 0, 1))) >= alpha
    high = np.array(holm(np.clip(ps + margin, 0, 1))) >= alpha
    unsure = np.flatnonzero(low != high)
    if unsure.size == 0:
        return []
    reach = float((ps + margin)[unsure].max())
    return [int(i) for i in np.flatnonzero(ps - margin <= reach)]
