"""Progress off a terminal is a few plain lines; on a terminal it is tqdm."""

from __future__ import annotations

import io
import math
import re
import sys
import types
from pathlib import Path

import pytest
from tqdm.std import tqdm

from benchmark import progress
from benchmark.progress import progress_bar


@pytest.fixture
def clock(monkeypatch):
    """A fake ``time.monotonic`` for the progress module; advance it with ``clock.now += s``."""
    fake = types.SimpleNamespace(now=1000.0)
    fake.monotonic = lambda: fake.now
    monkeypatch.setattr(progress, "time", fake)
    return fake


def test_off_a_terminal_a_line_every_interval_and_a_final_one(capsys, clock):
    with progress_bar(total=200, desc="scoring", unit="sample", leave=False) as bar:
        for _ in range(100):
            clock.now += 1.0
            bar.update(2)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err
    assert len(lines) <= math.ceil(100 / progress.INTERVAL) + 1
    assert lines[0] == "scoring: 60/200 samples (30%), 2.0 samples/s, elapsed 30.0 s"
    assert lines[-1] == "scoring: 200/200 samples (100%), 2.0 samples/s, done in 1:40"
    assert len(lines) == 4  # at 30, 60 and 90 s, and the close


def test_interval_from_the_environment(capsys, clock, monkeypatch):
    monkeypatch.setenv("STICKERBENCH_PROGRESS_INTERVAL", "0.5")
    bar = progress_bar(total=None, desc="training", unit="step", initial=10)
    for _ in range(8):
        clock.now += 0.25
        bar.update()
        bar.set_postfix(loss="0.1234")
    bar.close()
    bar.close()  # a second close prints nothing
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == math.ceil(2.0 / 0.5) + 1  # at 0.5, 1, 1.5 and 2 s, and the close
    assert lines[-1] == "training: 18 steps, 4.0 steps/s, done in 2.0 s, loss=0.1234"


def test_slow_steps_show_seconds_per_step(capsys, clock):
    bar = progress_bar(total=3, desc="paper model", unit="step")
    clock.now += 90
    bar.update()
    bar.close()
    assert capsys.readouterr().err.splitlines()[-1] == "paper model: 1/3 steps (33%), 90.0 s/step, done in 1:30"


def test_wrapping_an_iterable_closes_at_the_end(capsys, clock):
    assert list(progress_bar(["a", "b", "c"], desc="stickers", unit="sticker")) == ["a", "b", "c"]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stickers: 3/3 stickers (100%),")


def test_disabled_bars_print_nothing(capsys):
    with progress_bar(total=5, desc="quiet", disable=True) as bar:
        bar.update(5)
    for _ in progress_bar(range(3), desc="quiet", disable=True):
        pass
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_is_tqdm(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar(total=4, desc="scoring", unit="sample", leave=False) as bar:
        assert isinstance(bar, tqdm)
        bar.update(4)
    assert "\r" in terminal.getvalue()  # tqdm redraws in place


def test_nothing_else_uses_tqdm():
    root = Path(__file__).resolve().parents[1]
    users = [
        str(path.relative_to(root))
        for folder in ("benchmark", "adapters", "models", "benchmarks", "leaderboard")
        for path in (root / folder).rglob("*.py")
        if re.search(r"^\s*(from|import) tqdm", path.read_text(encoding="utf-8"), re.M)
    ]
    assert users == ["benchmark/progress.py"]
