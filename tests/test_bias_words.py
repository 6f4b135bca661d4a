"""The bias-word miner recovers MojiChat's planted shortcut words, and labels test_bias by them."""

from collections import Counter

import pytest

from benchmark.bias_words import bias_label, mine_bias_words
from benchmark.datasets import load_dataset
from benchmark.datasets.mojichat.language import BIAS_WORDS


@pytest.fixture(scope="module")
def mojichat(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STICKERBENCH_CACHE", str(tmp_path_factory.mktemp("bias-cache")))
        return load_dataset("mojichat")


def test_every_planted_bias_word_is_mined_with_its_planted_emotion(mojichat):
    mined = mine_bias_words(mojichat)
    found = {(b.word, b.emotion) for b in mined}
    assert all((word, emotion) in found for word, emotion in BIAS_WORDS.items()), sorted(found)[:20]
    strongest_emotion = {b.word: b.emotion for b in reversed(mined)}  # each word's strongest emotion
    assert {w: strongest_emotion[w] for w in BIAS_WORDS} == BIAS_WORDS
    assert all(b.count >= 20 and b.score > 0 for b in mined)


def test_test_bias_is_mostly_conflicting_by_the_miners_own_labels(mojichat):
    mined = mine_bias_words(mojichat)
    labels = Counter(bias_label(s, mojichat.emotion_names, mined) for s in mojichat.split("test_bias"))
    assert labels["conflicting"] / sum(labels.values()) > 0.8
    easy = Counter(bias_label(s, mojichat.emotion_names, mined) for s in mojichat.split("test_easy"))
    assert easy["conflicting"] / sum(easy.values()) < 0.5


def test_no_labels_no_mined_words(mojichat):
    from dataclasses import replace

    unlabelled = replace(mojichat, splits={"train": [replace(s, emotion=None) for s in mojichat.split("train")]})
    assert mine_bias_words(unlabelled) == []
