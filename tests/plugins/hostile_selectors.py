"""Selectors that misbehave the way real plugins do, for the run-directory and failure tests.

``--option`` values steer them: ``flip=1`` reverses ``knob``'s ranking, ``sleep=S`` makes
``score`` slow (to have a run in flight), ``fail_at=N`` raises once N samples were scored.
The environment variable ``KNOB_CRASH_AT=N`` does the same without being part of the run's
settings, the way an out-of-memory crash is not, and ``KNOB_HOLD_UNTIL=PATH`` makes ``score``
wait until that file exists (to have a run in flight for as long as a test needs).
"""

import os
import sys
import time

import numpy as np

from benchmark import ScoreBatch, SelectorMeta, register_selector


class Knob:
    """Prefers the candidate whose id is closest to the last utterance's length (or farthest, flipped)."""

    def __init__(self, ctx, name="knob"):
        self.options = ctx.options
        self.meta = SelectorMeta(name=name, config={"flip": self.options.get("flip", "0")})
        self.scored = 0

    def prepare(self, stickers):
        if self.options.get("fail_in") == "prepare":
            raise RuntimeError("prepare exploded")

    def score(self, queries):
        hold = os.environ.get("KNOB_HOLD_UNTIL")
        deadline = time.time() + 120
        while hold and not os.path.exists(hold) and time.time() < deadline:
            time.sleep(0.05)
        if self.options.get("sleep"):
            time.sleep(float(self.options["sleep"]))
        fail_at = self.options.get("fail_at", os.environ.get("KNOB_CRASH_AT"))
        if fail_at is not None and self.scored >= int(fail_at):
            raise ValueError("score exploded")
        if self.options.get("print"):
            print("NOISE FROM A SELECTOR")
        self.scored += len(queries)
        sign = -1.0 if self.options.get("flip") == "1" else 1.0
        return ScoreBatch(
            np.array([[-sign * abs(int(c) - len(q.context[-1].text)) for c in q.candidates] for q in queries], float)
        )


@register_selector("knob")
def build_knob(ctx):
    if ctx.options.get("fail_in") == "build":
        raise KeyError("factory exploded")
    return Knob(ctx)


@register_selector("ragged")
def build_ragged(ctx):
    class Ragged(Knob):
        def score(self, queries):
            return ScoreBatch([[0.0] * (len(q.candidates) - (i % 2)) for i, q in enumerate(queries)])

    return Ragged(ctx, "ragged")


@register_selector("stringy")
def build_stringy(ctx):
    class Stringy(Knob):
        def score(self, queries):
            return ScoreBatch(np.array([[str(i) for i, _ in enumerate(q.candidates)] for q in queries]))

    return Stringy(ctx, "stringy")


@register_selector("misnamed")
def build_misnamed(ctx):
    return Knob(ctx, "another-name")


@register_selector("half-trainable")
def build_half_trainable(ctx):
    class HalfTrainable(Knob):
        def fit(self, data, cfg):
            pass

        def save(self, path):
            pass

    return HalfTrainable(ctx, "half-trainable")


@register_selector("peeking")
def build_peeking(ctx):
    """Trainable; records which splits ``fit`` could see in its checkpoint."""

    class Peeking(Knob):
        def fit(self, data, cfg):
            self.seen = sorted(data.splits)
            self.root = data.root

        def save(self, path):
            (path / "seen.txt").write_text(",".join(self.seen) + f"\nroot={self.root}\n")

        @classmethod
        def load(cls, path, ctx):
            return cls(ctx, "peeking")

    return Peeking(ctx, "peeking")


@register_selector("pid-writer")
def build_pid_writer(ctx):
    """Writes its pid to ``$PID_FILE`` when it starts scoring (to signal it from a test)."""

    class PidWriter(Knob):
        def score(self, queries):
            path = os.environ.get("PID_FILE")
            if path and not os.path.exists(path):
                with open(path, "w") as f:
                    f.write(str(os.getpid()))
            sys.stderr.flush()
            time.sleep(0.2)
            return super().score(queries)

    return PidWriter(ctx, "pid-writer")
