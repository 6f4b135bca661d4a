"""Words whose presence in a dialogue predicts the gold sticker's emotion far beyond chance.

The CKS paper's claim is that selectors follow spurious word ↔ sticker ↔ emotion co-occurrences.
MojiChat plants such words; on any other dataset they have to be found. This module mines them
from the training split and labels every sample ``aligned``, ``conflicting`` or ``none``.

Method: each training sample is a document (its context's words, each counted once) labelled with
its gold emotion. For every word ``w`` and emotion ``e`` the log-odds ratio of ``w`` in samples of
``e`` against samples of every other emotion is estimated with an informative Dirichlet prior
(Monroe, Colaresi & Quinn, *Fightin' Words*, Political Analysis 2008: the prior is the word's
overall frequency, scaled to ``PRIOR_STRENGTH`` pseudo-counts, which shrinks rare words towards
zero), and divided by its approximate standard deviation to give a z-score. A pair is kept when
the word occurs in at least ``MIN_COUNT`` training samples and its z-score clears a
Bonferroni-corrected two-sided threshold at α = 0.05 over every (word, emotion) pair tested, so
that among thousands of words only associations far beyond chance survive.

A sample is labelled by the *strongest* mined word in its context (the one a word-level shortcut
would follow): ``conflicting`` when that word's emotion differs from the sample's gold emotion,
``aligned`` when it agrees, ``none`` when the context holds no mined word (or the sample has no
gold emotion). Counting *any* disagreeing mined word instead labels nearly everything
conflicting, because emotional phrases cross emotions on purpose ("not fun at all" is sadness):
measured on MojiChat, 97 % of the training samples, against a planted bias of 40 % of dialogues.

Mined words are cached on disk per (dataset fingerprint, split, minimum count, method version),
so every run of a dataset labels its samples with the same words without mining again.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist

from benchmark.errors import DataError
from benchmark.io import atomic_write_text, read_json
from benchmark.types import Dataset, Sample

MIN_COUNT = 20
PRIOR_STRENGTH = 500.0
ALPHA = 0.05
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
METHOD_VERSION = 1  # bump when the mining changes, so that no stale cached list is reused


@dataclass(frozen=True)
class BiasWord:
    word: str
    emotion: str
    score: float  # z-score of the log-odds ratio
    count: int  # training samples whose context contains the word

    def to_json(self) -> dict:
        return asdict(self)


def context_words(sample: Sample) -> set[str]:
    return {w for u in sample.context for w in _WORD.findall(u.text.lower())}


def mine_bias_words(dataset: Dataset, split: str = "train", min_count: int = MIN_COUNT) -> list[BiasWord]:
    """Every (word, emotion) association of ``split`` beyond chance, strongest first."""
    labelled = [(context_words(s), s.emotion) for s in dataset.split(split) if s.emotion is not None]
    docs_per_emotion = Counter(e for _, e in labelled)
    with_word: Counter[tuple[str, int]] = Counter((w, e) for words, e in labelled for w in words)
    word_count: Counter[str] = Counter(w for words, _ in labelled for w in words)
    words = [w for w, c in word_count.items() if c >= min_count]
    if not words or len(docs_per_emotion) < 2:
        return []
    total_words = sum(word_count.values())
    words_per_emotion = Counter()
    for (_, e), c in with_word.items():
        words_per_emotion[e] += c
    threshold = -NormalDist().inv_cdf(ALPHA / (2 * len(words) * len(docs_per_emotion)))  # the upper-tail z
    mined = []
    for w in words:
        prior = PRIOR_STRENGTH * word_count[w] / total_words
        for e in docs_per_emotion:
            inside, outside = with_word[(w, e)], word_count[w] - with_word[(w, e)]
            n_in, n_out = words_per_emotion[e], total_words - words_per_emotion[e]
            log_odds = math.log((inside + prior) / (n_in + PRIOR_STRENGTH - inside - prior)) - math.log(
                (outside + prior) / (n_out + PRIOR_STRENGTH - outside - prior)
            )
            z = log_odds / math.sqrt(1 / (inside + prior) + 1 / (outside + prior))
            if z >= threshold:
                mined.append(BiasWord(w, dataset.emotion_names[e], float(z), word_count[w]))
    return sorted(mined, key=lambda b: (-b.score, b.word, b.emotion))


def cached_bias_words(
    dataset: Dataset, cache_dir: Path | None, split: str = "train", min_count: int = MIN_COUNT
) -> list[BiasWord]:
    """:func:`mine_bias_words`, read from ``cache_dir/bias_words`` when this dataset was mined before."""
    if cache_dir is None:
        return mine_bias_words(dataset, split, min_count)
    key = hashlib.sha256(
        json.dumps([dataset.fingerprint, split, min_count, PRIOR_STRENGTH, ALPHA, METHOD_VERSION]).encode()
    ).hexdigest()[:24]
    path = Path(cache_dir) / "bias_words" / f"{key}.json"
    if path.exists():
        try:
            return [BiasWord(**row) for row in read_json(path)]
        except (DataError, TypeError):
            pass  # a torn or foreign file: mine again and replace it
    mined = mine_bias_words(dataset, split, min_count)
    atomic_write_text(path, json.dumps([b.to_json() for b in mined]) + "\n")
    return mined


def bias_label(sample: Sample, emotion_names: Sequence[str], mined: Sequence[BiasWord]) -> str:
    """``conflicting``, ``aligned`` or ``none``: does the strongest mined word present agree with the gold?"""
    if sample.emotion is None:
        return "none"
    words = context_words(sample)
    strongest = next((b for b in mined if b.word in words), None)  # ``mined`` is sorted strongest first
    if strongest is None:
        return "none"
    return "aligned" if strongest.emotion == emotion_names[sample.emotion] else "conflicting"
