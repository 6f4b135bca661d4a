"""``python -m benchmark train``: fit one selector on the training view into a checkpoint directory."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmark.checkpoint_cache import CHECKPOINT_MARKER, train_into
from benchmark.datasets import cache_root, load_dataset
from benchmark.errors import BenchmarkError
from benchmark.planning import phase
from benchmark.registry import build_selector, include_package, parse_model_spec
from benchmark.run_config import resolve_device
from benchmark.selector import SelectorContext, TrainConfig, is_trainable


def check_train_output(output: Path) -> None:
    """``train --output`` replaces its directory whole: refuse anything but absent, empty or a checkpoint."""
    output = Path(output)
    ours = (output / CHECKPOINT_MARKER).is_file() or (output / "config.json").is_file()
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not ours)):
        raise BenchmarkError(
            f"--output {output} exists and is not a checkpoint directory; choose a new or empty directory"
        )


def train_to_directory(
    model: str,
    dataset_name: str,
    data_dir: Path | None,
    data_files: dict[str, Path],
    preset: str | None,
    seed: int,
    device: str,
    options: dict[str, Any],
    train: TrainConfig,
    output: Path,
    include_packages: list[str],
) -> Path | None:
    """``python -m benchmark train``: fit one selector on the training view and save it to ``output``.

    Under ``torchrun`` every rank trains (the trainer shards batches) and only rank 0 saves;
    the other ranks return ``None``.
    """
    for module in include_packages:
        include_package(module)
    check_train_output(output)
    spec = parse_model_spec(model, preset or ("paper" if dataset_name == "mod" else "tiny"))
    dataset = load_dataset(dataset_name, data_dir, data_files)
    device = resolve_device(device)
    from benchmark.ocr import ocr_language  # the OCR language follows the dataset

    ctx = SelectorContext(
        preset=spec.preset,
        num_emotions=dataset.num_emotions,
        emotion_names=dataset.emotion_names,
        seed=seed,
        device=device,
        cache_dir=cache_root(),
        options={"ocr_lang": ocr_language(dataset.name), **options},
    )
    selector = build_selector(spec.name, ctx, spec.preset_explicit)
    if not is_trainable(selector):
        raise BenchmarkError(f"selector {spec.name!r} has nothing to train")
    with phase(spec.key, "fit"):
        train_into(selector, dataset.training_view(), replace(train, seed=seed, device=device), Path(output))
    return Path(output) if int(os.environ.get("RANK", "0")) == 0 else None
