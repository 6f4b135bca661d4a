"""Dataset loaders by name.

``mod`` reads the real MOD data from ``--data-dir``. ``mojichat`` is the embedded default: it is
generated offline on first use into the cache directory (or read from ``--data-dir``), in the
MOD layout, so the very same loader code path is exercised. ``mojichat-mod`` is MojiChat at MOD's
size (307 stickers, ~152k training samples; ``data build mojichat --scale mod``), for measuring
how the harness scales.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from benchmark.errors import DataError
from benchmark.types import Dataset

DATASETS = ("mojichat", "mojichat-mod", "mod")
MOJICHAT_SIZES = {"mojichat": "default", "mojichat-mod": "mod"}  # dataset name -> generator size
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
    *,
    language: str = "en",
    annotated_only: bool = False,
) -> Dataset:
    """Dataset ``name``; ``files``, ``language`` and ``annotated_only`` are
    :func:`~benchmark.datasets.mod.load_mod`'s (MojiChat's files have no language prefix, so
    ``language`` changes nothing there)."""
    from benchmark.datasets.mod import load_mod

    options = {"files": files, "language": language, "annotated_only": annotated_only}
    if name == "mod":
        if data_dir is None:
            raise DataError(
                "--dataset mod needs --data-dir DIR: the MOD (DSTC10 Track 1) directory with "
                "img2id.json (or id2img.json), meme_set/ and the dialogue files"
            )
        return load_mod(Path(data_dir), name="mod", **options)
    if name in MOJICHAT_SIZES:
        if data_dir is None:
            from benchmark.datasets.mojichat import ensure_mojichat

            size = MOJICHAT_SIZES[name]
            root = cache_root() / "datasets"
            data_dir = ensure_mojichat(root, seed=seed) if size == "default" else ensure_mojichat(root, seed, size=size)
        return load_mod(Path(data_dir), name=name, **options)
    raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
