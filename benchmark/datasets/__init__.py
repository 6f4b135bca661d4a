"""Dataset loaders by name.

``mod`` reads the real MOD data from ``--data-dir``. ``mojichat`` is the embedded default: it is
generated offline on first use into the cache directory (or read from ``--data-dir``), in the
MOD layout, so the very same loader code path is exercised.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from benchmark.errors import DataError
from benchmark.types import Dataset

DATASETS = ("mojichat", "mod")
DEFAULT_DATASET = "mojichat"


def cache_root() -> Path:
    """Where derived data lives: ``$STICKERBENCH_CACHE`` or ``~/.cache/stickerbench``."""
    env = os.environ.get("STICKERBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "stickerbench"


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: Path | None = None,
    files: Mapping[str, Path] | None = None,
    seed: int = 0,
) -> Dataset:
    from benchmark.datasets.mod import load_mod

    if name == "mod":
        if data_dir is None:
            raise DataError(
                "--dataset mod needs --data-dir DIR: the MOD (DSTC10 Track 1) directory with "
                "id2img.json, meme_set/ and the dialogue files"
            )
        return load_mod(Path(data_dir), name="mod", files=files)
    if name == "mojichat":
        if data_dir is None:
            from benchmark.datasets.mojichat import ensure_mojichat

            data_dir = ensure_mojichat(cache_root() / "datasets", seed=seed)
        return load_mod(Path(data_dir), name="mojichat", files=files)
    raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
