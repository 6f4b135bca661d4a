"""The conformance kit passes the built-in floors and catches selectors that break the contract."""

import numpy as np
import pytest

from benchmark.conformance import check_selector
from benchmark.selector import SelectorMeta
from benchmark.types import ScoreBatch
from stickerbench.adapters.popularity import build as build_popularity
from stickerbench.adapters.random_selector import build as build_random


@pytest.mark.parametrize("factory", [build_random, build_popularity])
def test_builtin_floors_conform(factory, tmp_path):
    report = check_selector(factory, tmp_path)
    assert report.checked_queries > 0


class PositionBiased:
    """Scores by position in the candidate list: exactly the public-code bug the kit must catch."""

    meta = SelectorMeta(name="position-biased")

    def prepare(self, stickers):
        pass

    def score(self, queries):
        return ScoreBatch(np.array([[-float(i) for i in range(len(q.candidates))] for q in queries]))


class BatchDependent(PositionBiased):
    meta = SelectorMeta(name="batch-dependent")

    def score(self, queries):
        return ScoreBatch(np.full((len(queries), len(queries[0].candidates)), float(len(queries))))


class ClaimsEmotions(PositionBiased):
    meta = SelectorMeta(name="claims-emotions", supports_emotion=True)

    def score(self, queries):
        return ScoreBatch(np.zeros((len(queries), len(queries[0].candidates))))


@pytest.mark.parametrize(
    "selector, message",
    [
        (PositionBiased(), "do not follow candidates"),
        (BatchDependent(), "change with batch composition"),
        (ClaimsEmotions(), "supports_emotion=True but emotion_logits is missing"),
    ],
)
def test_kit_catches_contract_breaches(selector, message, tmp_path):
    with pytest.raises(AssertionError, match=message):
        check_selector(lambda ctx: selector, tmp_path)
