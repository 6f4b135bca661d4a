"""Reading a JSON file written by stickerbench (or by hand) field by field, with errors that name them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import DataError


class JsonReader:
    """Walks raw JSON, naming the file and field of anything of the wrong shape."""

    def __init__(self, path: Path | str):
        self.path = path

    def fail(self, where: str, expected: str) -> DataError:
        return DataError(
            f"{self.path}: field {where!r} should be {expected}; the file is not a stickerbench results.json"
        )

    def obj(self, raw: Any, where: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, "an object")
        return raw

    def get(self, raw: dict[str, Any], key: str, where: str, types: tuple[type, ...], optional: bool = False) -> Any:
        value = raw.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            raise self.fail(
                f"{where}.{key}", " or ".join(t.__name__ for t in types) + ("" if not optional else " or null")
            )
        return value

    def numbers(self, raw: Any, where: str) -> dict[str, float | None]:
        values = self.obj(raw, where)
        for key, value in values.items():
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise self.fail(f"{where}.{key}", "a number or null")
        return values
