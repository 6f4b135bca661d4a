"""File helpers that never leave a half-written result behind.

Whole files are written to a temporary sibling and moved into place with ``os.replace``
(atomic on POSIX); predictions are appended line by line and flushed, so a killed run keeps
every finished row and a resumed run drops at most one torn last line.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark.errors import DataError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, with the mode a plain ``open(path, "w")`` gives it.

    The temporary sibling is created with mode 0666 for the kernel to apply the umask, as for any
    new file. (``tempfile.mkstemp`` makes 0600, which ``os.replace`` keeps: results and caches
    were readable by their owner only, unlike the predictions files next to them.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def staging_dir(parent: Path, prefix: str) -> Path:
    """A new, uniquely named directory in ``parent``, to be filled and then renamed into place.

    ``tempfile.mkdtemp`` makes it 0700 and the rename keeps that, so a checkpoint or cache would
    be private to its writer; this one gets the mode ``mkdir`` gives (0777 less the umask).
    """
    path = Path(parent) / f"{prefix}{secrets.token_hex(6)}"
    path.mkdir()
    return path


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if absent), waiting for it.

    For a cache two processes may want to fill at once (``--jobs`` workers, torchrun ranks): the
    second waits, then finds the entries the first one wrote instead of computing them again.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def _refusing_duplicate_keys(path: Path):
    """An ``object_pairs_hook`` for ``path``: ``json.load`` keeps only the last of two equal keys,
    which silently drops data (a second ``"dialogue 3"`` replaces the first)."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            key = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
            raise DataError(f"{path}: key {key!r} appears twice in one object; rename or merge the two")
        return obj

    return build


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing, malformed or key-repeating file is a :class:`DataError` naming it."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=_refusing_duplicate_keys(path))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); fix or re-download the file"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except RecursionError:
        raise DataError(f"{path}: nested too deeply to parse (a damaged file?); fix or re-download it") from None


def read_jsonl(path: Path, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, row)``; with ``tolerate_torn_tail`` an unparsable last line is skipped."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and i == len(lines) and not line.endswith("\n"):
                return
            raise DataError(f"{path}:{i}: malformed JSON line ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: expected a JSON object per line")
        yield i, row


class JsonlAppender:
    """Appends one JSON object per line and flushes it to disk immediately."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._f.write(json.dumps(row, separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
