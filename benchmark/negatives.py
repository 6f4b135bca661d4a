"""Matched negatives: candidate sets on which a context-blind scorer sits at chance.

A scorer that never reads the dialogue gives each sticker a fixed score. It is at chance exactly
when, whatever the set, each of its stickers is equally likely to be the gold: then ranking by
any fixed score puts the gold first in 1/N of the sets. With uniform negatives this fails, since
a sticker that is rarely or never a gold is easy to rule out (``popularity`` had 23.6 R@1 on
MojiChat's test_easy against a chance of 10).

Write ``p_s`` for the share of the split's samples whose gold is ``s``. The sets here follow the
*conditional Poisson* design: the probability of a set ``S`` is proportional to the product of
weights ``w_s`` over its stickers, and the weights are solved (:func:`solve_weights`) so that
sticker ``s`` is in a set with probability ``N·p_s``. Given the gold ``g``, the ``N − 1``
negatives are then drawn with the same weights among the other stickers, which makes
``P(set S, gold g) = P(S) / N``: given the set, the gold is uniform over it. Two readings of that:

* each sticker appears as a negative, over the split and in expectation, exactly ``N − 1``
  times as often as it is a gold: negatives follow the split's gold frequency;
* drawing ``N − 1`` stickers one after the other in proportion to their gold counts (without
  replacement) is close to this but not the same: it under-draws frequent stickers, and on
  MojiChat's test_hard the split's own gold counts, used as scores, reached 11.3 R@1 (chance
  10). So the weights are solved, not the raw counts.

Weights are computed over the stickers of the pool that are a gold of the split. Stickers that
are never a gold there get weight 0: were any of them put in sets (a floor), a context-blind
scorer could rule them out, exactly as with uniform negatives. Two cases admit no exact design,
and are handled as closely as possible:

* a sticker that is the gold of more than 1/N of the split would have to be in more than every
  set; such stickers are put in *every* set and the others' probabilities are solved for the
  remaining places (a scorer that ranks them first gains, unavoidably);
* a split with fewer than N distinct golds cannot fill a set with them: every gold is in every
  set, and the remaining places are filled uniformly from the never-gold stickers.

Everything here is deterministic given the per-sample random generator it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

TOLERANCE = 1e-10  # on every inclusion probability
MAX_ITERATIONS = 2_000


def _inclusion(weights: np.ndarray, size: int) -> np.ndarray:
    """Each unit's probability of being in a conditional Poisson sample of ``size`` units.

    ``π_i = w_i e_{n-1}(w_{-i}) / e_n(w)`` with ``e_n(w) = e_n(w_{-i}) + w_i e_{n-1}(w_{-i})``,
    so each unit's leave-one-out elementary symmetric polynomials may carry their own scale:
    prefix and suffix tables are normalised row by row, which keeps every size in range.
    """
    m = len(weights)
    prefix = np.zeros((m + 1, size + 1))
    suffix = np.zeros((m + 1, size + 1))
    prefix[0, 0] = suffix[m, 0] = 1.0
    for i in range(m):
        row = prefix[i].copy()
        row[1:] += weights[i] * prefix[i, :-1]
        prefix[i + 1] = row / row.max()
    for i in range(m - 1, -1, -1):
        row = suffix[i + 1].copy()
        row[1:] += weights[i] * suffix[i + 1, :-1]
        suffix[i] = row / row.max()
    # e_r(w_{-i}) = sum_a prefix[i, a] * suffix[i + 1, r - a], for r = size - 1 and size.
    without = np.stack(
        [(prefix[:m, : r + 1] * suffix[1:, r::-1]).sum(axis=1) for r in (size - 1, size)],
        axis=1,
    )
    taken = weights * without[:, 0]
    return taken / (without[:, 1] + taken)


def solve_weights(targets: np.ndarray) -> np.ndarray:
    """Weights whose conditional Poisson sample of ``sum(targets)`` units includes unit ``i``
    with probability ``targets[i]`` (each in (0, 1)); the fixed-point iteration of Chen, Dempster
    and Liu (1994), ``w ← w · π / π(w)``."""
    size = int(round(targets.sum()))
    weights = targets / (1.0 - targets)
    for _ in range(MAX_ITERATIONS):
        reached = _inclusion(weights, size)
        if np.abs(reached - targets).max() < TOLERANCE:
            break
        weights = weights * targets / reached
        weights /= weights.max()
    return weights


class MatchedDesign:
    """The matched-negatives design of one split (see the module docstring)."""

    def __init__(self, gold_counts: Mapping[str, int], pool: Sequence[str], num_candidates: int):
        ordered = sorted(set(pool))
        counted = {s: int(gold_counts.get(s, 0)) for s in ordered}
        self.fillers = tuple(s for s in ordered if counted[s] <= 0)
        positive = [s for s in ordered if counted[s] > 0]
        certain: list[str] = []
        places = num_candidates
        while positive and places:
            total = sum(counted[s] for s in positive)
            over = [s for s in positive if places * counted[s] >= total]
            if not over:
                break
            certain += over
            places -= len(over)
            positive = [s for s in positive if s not in over]
        self.certain = tuple(sorted(certain))
        self.places = places  # how many of a set's stickers come from ``stickers``
        self.stickers = tuple(positive) if places else ()
        if self.stickers:
            counts = np.array([counted[s] for s in self.stickers], dtype=float)
            self.weights = solve_weights(places * counts / counts.sum())
        else:
            self.weights = np.zeros(0)
        self._tables: dict[str | None, tuple[tuple[str, ...], np.ndarray, np.ndarray]] = {}

    def _suffix_table(self, gold: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """The stickers a draw around ``gold`` chooses from, their weights, and the normalised
        elementary symmetric polynomials of every suffix of them (cached per gold)."""
        key = gold if gold in self.stickers else None
        if key not in self._tables:
            keep = [i for i, s in enumerate(self.stickers) if s != key]
            units = tuple(self.stickers[i] for i in keep)
            weights = self.weights[keep]
            table = np.zeros((len(units) + 1, self.places + 1))
            table[len(units), 0] = 1.0
            for j in range(len(units) - 1, -1, -1):
                row = table[j + 1].copy()
                row[1:] += weights[j] * table[j + 1, :-1]
                table[j] = row / row.max()
            self._tables[key] = (units, weights, table)
        return self._tables[key]

    def negatives(self, gold: str, count: int, rng: np.random.Generator) -> list[str]:
        """``count`` distinct negatives for a sample whose gold is ``gold`` (not among them)."""
        chosen = [s for s in self.certain if s != gold]
        wanted = count - len(chosen)
        units, weights, table = self._suffix_table(gold)
        wanted_here = min(wanted, len(units))
        r = wanted_here
        uniforms = rng.random(len(units))
        for j, sticker in enumerate(units):
            if r == 0:
                break
            # P(unit j is drawn | r still to draw from units j..) = w_j e_{r-1}(j+1..) / e_r(j..)
            taken = weights[j] * table[j + 1, r - 1]
            if uniforms[j] * (table[j + 1, r] + taken) < taken:
                chosen.append(sticker)
                r -= 1
        short = wanted - wanted_here
        if short:
            fillers = [s for s in self.fillers if s != gold]
            chosen += [fillers[i] for i in rng.choice(len(fillers), size=short, replace=False)]
        return chosen
