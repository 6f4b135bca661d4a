"""Progress bars that suit where stderr goes.

On a terminal (or in a notebook) :func:`progress_bar` is tqdm, as it always was. Off one (CI logs,
SLURM jobs, ``make demo 2> log``) tqdm still redraws with carriage returns about ten times a
second, which turns a 10-minute demo into a megabyte of log. There it prints a plain line instead,
at most once every :data:`INTERVAL` seconds per bar, and a last one with the total time when the
bar closes::

    clip · test_easy: 320/800 samples (40%), 10.6 samples/s, elapsed 30.0 s
    clip · test_easy: 800/800 samples (100%), 10.4 samples/s, done in 1:17
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm
from tqdm.notebook import tqdm as notebook_tqdm

INTERVAL = 30.0
"""Seconds between two lines of one bar off a terminal; ``STICKERBENCH_PROGRESS_INTERVAL`` overrides it."""


def progress_bar(
    iterable: Iterable | None = None,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    disable: bool = False,
    initial: int = 0,
    leave: bool = True,
) -> tqdm | LineProgress:
    """A tqdm bar on a terminal, a :class:`LineProgress` elsewhere; the arguments are tqdm's.

    A disabled bar is always tqdm's, which prints nothing anywhere. ``leave`` only matters to
    tqdm: a printed line cannot be taken back.
    """
    lines = os.environ.get("STICKERBENCH_PROGRESS") == "lines"  # set in --jobs workers, whose bars would clash
    if disable or (not lines and (sys.stderr.isatty() or issubclass(tqdm, notebook_tqdm))):
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, initial=initial, leave=leave)
    interval = float(os.environ.get("STICKERBENCH_PROGRESS_INTERVAL", INTERVAL))
    return LineProgress(iterable, total, desc, unit, initial, interval)


class LineProgress:
    """The part of tqdm's interface the harness uses, printing whole lines to stderr."""

    def __init__(
        self, iterable: Iterable | None, total: int | None, desc: str | None, unit: str, initial: int, interval: float
    ):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self._initial = initial
        self.interval = interval
        self._postfix = ""
        self._start = self._printed = time.monotonic()
        self._closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._printed >= self.interval:
            self._printed = now
            self._print(f"elapsed {_clock(now - self._start)}", now)

    def set_postfix(self, **values: Any) -> None:
        """Kept for the next line, not printed at once: that would be a line per training step."""
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            now = time.monotonic()
            self._print(f"done in {_clock(now - self._start)}", now)

    def _print(self, when: str, now: float) -> None:
        if self.total:
            count = f"{self.n}/{self.total} {self.unit}s ({100 * self.n // self.total}%)"
        else:
            count = f"{self.n} {self.unit}s"
        done, seconds = self.n - self._initial, now - self._start
        if done and seconds > done:  # slower than one a second: say how long each takes
            rate = f"{seconds / done:.1f} s/{self.unit}"
        else:
            rate = f"{done / max(seconds, 1e-9):.1f} {self.unit}s/s"
        line = ", ".join([count, rate, when] + ([self._postfix] if self._postfix else []))
        print(f"{self.desc}: {line}" if self.desc else line, file=sys.stderr, flush=True)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clock(seconds: float) -> str:
    """``4.2 s`` under a minute (most bars of a small run close within one), else ``m:ss`` or ``h:mm:ss``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(seconds), 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
