"""A trainable selector whose weights depend only on the training seed, for the --train-seeds tests.

``fit`` draws one preference per sticker from the training seed and keeps the stickers that are
golds in the training split ahead of the others, so every seed is better than chance but by a
different amount; the checkpoint is a JSON file of those preferences.
"""

import json
import os

import numpy as np

from benchmark import ScoreBatch, SelectorMeta, register_selector


class Seeded:
    def __init__(self, ctx, weights=None):
        self.ctx = ctx
        self.weights = weights or {}
        self.meta = SelectorMeta(name="seeded", config={"kind": "seeded-preference"})

    def fit(self, data, cfg):
        if os.environ.get("SEEDED_FAIL_SEED") == str(cfg.seed):  # a crash between seeds, for the resume test
            raise RuntimeError(f"training seed {cfg.seed} crashed")
        rng = np.random.default_rng(cfg.seed)
        golds = {s.gold for s in data.split("train")}
        self.weights = {sid: float(rng.normal() + (1.0 if sid in golds else 0.0)) for sid in sorted(data.stickers)}
        self.weights["__ctx_seed__"] = float(self.ctx.seed)

    def save(self, path):
        (path / "weights.json").write_text(json.dumps(self.weights))

    @classmethod
    def load(cls, path, ctx):
        return cls(ctx, json.loads((path / "weights.json").read_text()))

    def prepare(self, stickers):
        pass

    def score(self, queries):
        return ScoreBatch(np.array([[self.weights.get(c, 0.0) for c in q.candidates] for q in queries]))


@register_selector("seeded")
def build_seeded(ctx):
    return Seeded(ctx)


class Constant:
    """Every candidate gets the same score: exactly chance under tie-exact metrics."""

    def __init__(self, ctx):
        self.meta = SelectorMeta(name="constant")

    def prepare(self, stickers):
        pass

    def score(self, queries):
        return ScoreBatch(np.zeros((len(queries), len(queries[0].candidates))))


@register_selector("constant")
def build_constant(ctx):
    return Constant(ctx)
