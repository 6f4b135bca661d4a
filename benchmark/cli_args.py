"""Argument types shared by the harness's commands and by commands an adapter contributes.

Range checks live in the types, so ``--batch-size -1`` is refused by argparse with one line
before anything runs.
"""

from __future__ import annotations

import argparse


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer ≥ {low}"
    return parse


def float_in(low: float, high: float | None = None, open_low: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value != value or (value <= low if open_low else value < low) or (high is not None and value > high):
            bound = f"in {'(' if open_low else '['}{low}, {high if high is not None else '∞'}]"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]
