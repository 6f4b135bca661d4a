"""Reading ``--option KEY=VALUE`` selector options, which arrive as strings.

A misspelt value must stop the run with a message naming the option and its choices, not fall
back silently to a default: the option is part of the selector's config and so of its checkpoint
key, and a silently ignored value would train and label a model that is not the one asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmark.errors import SelectorError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def option_choice(options: Mapping[str, Any], key: str, choices: Sequence[str], default: str) -> str:
    """``options[key]`` if it is one of ``choices``, ``default`` when absent; else a SelectorError."""
    value = options.get(key)
    if value is None:
        return default
    value = str(value).strip().lower()
    if value not in choices:
        raise SelectorError(f"--option {key}={value}: choose one of {', '.join(choices)}")
    return value


def option_flag(options: Mapping[str, Any], key: str, default: bool = False) -> bool:
    """A boolean option: 1/true/yes/on or 0/false/no/off; ``default`` when absent."""
    value = options.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SelectorError(f"--option {key}={value}: use 1 or 0")
