"""``run``: dataset → candidate manifests → (train) → prepare → score → results → leaderboard.

A run directory is the unit of resumption: re-running the same command into the same OUT keeps
finished (model, split) pairs, continues a partial predictions file, and refuses to mix in
results made on other candidate sets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmark.candidates import OFFICIAL_KEY, CandidateManifest, build_manifest, write_manifest
from benchmark.datasets import DEFAULT_DATASET, cache_root, load_dataset
from benchmark.errors import BenchmarkError, SelectorError
from benchmark.evaluator import evaluate_split
from benchmark.io import atomic_write_text
from benchmark.registry import build_selector, include_package, parse_model_spec
from benchmark.results import SCHEMA_VERSION, directory_sha256, harness_info, load_results, save_results
from benchmark.selector import Selector, SelectorContext, TrainConfig, is_trainable
from benchmark.source_hash import source_fingerprint
from benchmark.types import Dataset
from leaderboard.render import render_runs

log = logging.getLogger("stickerbench")


@dataclass
class RunConfig:
    """Every option of ``python -m benchmark run`` (see ``--help`` for each one's meaning)."""

    models: list[str]
    dataset: str = DEFAULT_DATASET
    data_dir: Path | None = None
    data_files: dict[str, Path] = field(default_factory=dict)
    splits: list[str] | None = None
    candidates: str = "sampled"
    num_candidates: int = 10
    seed: int = 0
    output: Path | None = None
    preset: str | None = None
    checkpoints: dict[str, Path] = field(default_factory=dict)
    no_train: bool = False
    batch_size: int = 32
    device: str = "auto"
    include_packages: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    progress: bool = True
    overwrite: bool = False

    def default_preset(self) -> str:
        return self.preset or ("paper" if self.dataset == "mod" else "tiny")

    def output_dir(self) -> Path:
        if self.output is not None:
            return Path(self.output)
        return Path("runs") / f"{self.dataset}-{self.candidates}{self.num_candidates}-seed{self.seed}"


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def evaluation_splits(dataset: Dataset, requested: list[str] | None, strategy: str = "sampled") -> list[str]:
    """Default: every split but ``train``; with official candidates, the splits that have them."""
    if requested:
        for split in requested:
            dataset.split(split)
        return list(requested)
    splits = [s for s in dataset.splits if s != "train"]
    if strategy == "official":
        splits = [s for s in splits if dataset.splits[s] and OFFICIAL_KEY in dataset.splits[s][0].meta]
        if not splits:
            raise BenchmarkError(
                f"dataset {dataset.name!r} has no split with official candidate sets (task-2 files); "
                "use --candidates sampled"
            )
    return splits


_TRAINING_KNOBS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_ratio", "grad_clip", "grad_accum",
                   "patience", "max_steps", "validation_split")


def checkpoint_key(selector: Selector, dataset: Dataset, seed: int, train: TrainConfig) -> str:
    """What a cached trained checkpoint depends on: selector config and code, training overrides, data, seed."""
    payload = json.dumps(
        {
            "name": selector.meta.name,
            "preset": selector.meta.preset,
            "config": selector.meta.config,
            "code": source_fingerprint(type(selector).__module__),
            "train": {k: getattr(train, k) for k in _TRAINING_KNOBS},
            "dataset": dataset.fingerprint,
            "seed": seed,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class PreparedSelector:
    selector: Selector
    checkpoint: Path | None
    train_seconds: float | None


def obtain_selector(name: str, preset: str, dataset: Dataset, cfg: RunConfig, device: str) -> PreparedSelector:
    """Build a selector; load, reuse or train its checkpoint when it has parameters to learn."""
    ctx = SelectorContext(
        preset=preset,
        num_emotions=dataset.num_emotions,
        emotion_names=dataset.emotion_names,
        seed=cfg.seed,
        device=device,
        cache_dir=cache_root(),
        options=dict(cfg.options),
    )
    selector = build_selector(name, ctx)
    if not is_trainable(selector):
        return PreparedSelector(selector, None, None)
    explicit = cfg.checkpoints.get(name)
    if explicit is not None:
        if not Path(explicit).exists():
            raise BenchmarkError(f"--checkpoint {name}={explicit}: no such file or directory")
        return PreparedSelector(type(selector).load(Path(explicit), ctx), Path(explicit), None)
    cached = cache_root() / "checkpoints" / f"{name}-{preset}-{checkpoint_key(selector, dataset, cfg.seed, cfg.train)}"
    if cached.is_dir():
        log.info("%s: reusing trained checkpoint %s", name, cached)
        return PreparedSelector(type(selector).load(cached, ctx), cached, None)
    if cfg.no_train:
        raise BenchmarkError(
            f"{name}: no checkpoint (looked for {cached}) and --no-train was given; pass "
            f"--checkpoint {name}=PATH or drop --no-train"
        )
    work = cached.with_name(cached.name + ".work")
    train_cfg = replace(cfg.train, seed=cfg.seed, device=device, resume_dir=work)
    started = time.perf_counter()
    selector.fit(dataset, train_cfg)
    seconds = time.perf_counter() - started
    staging = cached.with_name(cached.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    selector.save(staging)
    os.replace(staging, cached)
    shutil.rmtree(work, ignore_errors=True)
    return PreparedSelector(selector, cached, seconds)


def _check_compatible(previous: dict[str, Any], dataset: Dataset, manifests: dict[str, CandidateManifest], out: Path) -> None:
    if previous.get("dataset", {}).get("fingerprint") != dataset.fingerprint:
        raise BenchmarkError(
            f"{out} holds results for another dataset (fingerprint differs); use a new --output or --overwrite"
        )
    for split, manifest in manifests.items():
        old = previous.get("candidates", {}).get(split)
        if old and old.get("fingerprint") != manifest.fingerprint:
            raise BenchmarkError(
                f"{out} holds {split} results on other candidate sets (fingerprint "
                f"{old.get('fingerprint', '')[:12]} vs {manifest.fingerprint[:12]}); use a new --output or --overwrite"
            )


def run(cfg: RunConfig) -> dict[str, Any]:
    """Execute a run and return its results dict (also written to ``OUT/results.json``)."""
    for module in cfg.include_packages:
        include_package(module)
    specs = [parse_model_spec(m, cfg.default_preset()) for m in cfg.models]
    if not specs:
        raise SelectorError("no selectors given; pass --models NAME[,NAME...] (see `python -m benchmark list`)")
    out = cfg.output_dir()
    if cfg.overwrite and out.exists():
        shutil.rmtree(out)
    dataset = load_dataset(cfg.dataset, cfg.data_dir, cfg.data_files)
    splits = evaluation_splits(dataset, cfg.splits, cfg.candidates)
    pool = list(dataset.stickers)
    manifests = {
        split: build_manifest(split, dataset.split(split), pool, cfg.candidates, cfg.num_candidates, cfg.seed)
        for split in splits
    }
    previous = load_results(out)
    if previous is not None:
        _check_compatible(previous, dataset, manifests, out)
    results = previous or {"schema_version": SCHEMA_VERSION, "harness": harness_info(), "models": {}}
    results["seed"] = cfg.seed
    results["dataset"] = {
        "name": dataset.name,
        "fingerprint": dataset.fingerprint,
        "root": str(dataset.root) if dataset.root else None,
        "emotion_names": list(dataset.emotion_names),
        "splits": {s: len(v) for s, v in dataset.splits.items()},
    }
    candidates = results.setdefault("candidates", {})
    for split, manifest in manifests.items():
        write_manifest(manifest, out / "candidates")
        candidates[split] = {
            "fingerprint": manifest.fingerprint,
            "num_candidates": manifest.num_candidates,
            "seed": manifest.seed,
            "strategy": manifest.strategy,
            "manifest": f"candidates/{split}.jsonl",
        }
    save_results(out, results)
    device = resolve_device(cfg.device)
    for spec, (name, preset) in zip(cfg.models, specs):
        key = spec.strip()
        entry = results["models"].get(key, {})
        todo = [s for s in splits if s not in entry.get("splits", {})]
        if not todo:
            log.info("%s: every split already evaluated in %s", key, out)
            continue
        prepared = obtain_selector(name, preset, dataset, cfg, device)
        selector = prepared.selector
        started = time.perf_counter()
        selector.prepare(dataset.stickers)
        entry.update(
            meta=selector.meta.to_dict(),
            checkpoint=None
            if prepared.checkpoint is None
            else {"path": str(prepared.checkpoint), "sha256": directory_sha256(prepared.checkpoint)},
            prepare_seconds=time.perf_counter() - started,
        )
        if prepared.train_seconds is not None or "train_seconds" not in entry:
            entry["train_seconds"] = prepared.train_seconds
        entry.setdefault("splits", {})
        results["models"][key] = entry
        for split in todo:
            manifest = manifests[split]
            pred_path = out / "predictions" / key / f"{split}.jsonl"
            by_id = manifest.by_sample()
            samples = dataset.split(split)
            result = evaluate_split(
                selector,
                samples,
                [by_id[s.sample_id] for s in samples],
                pred_path,
                batch_size=cfg.batch_size,
                num_emotions=dataset.num_emotions,
                desc=f"{key} · {split}",
                progress=cfg.progress,
            )
            entry["splits"][split] = {
                "metrics": result.metrics,
                "stderr": result.stderr,
                "n": result.n,
                "seconds": result.seconds,
                "predictions": str(pred_path.relative_to(out)),
            }
            save_results(out, results)
    atomic_write_text(out / "leaderboard.md", render_runs([results]))
    return results


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
    """``python -m benchmark train``: fit one selector and save it to ``output``.

    Under ``torchrun`` every rank trains (the trainer shards batches) and only rank 0 saves;
    the other ranks return ``None``.
    """
    for module in include_packages:
        include_package(module)
    name, preset = parse_model_spec(model, preset or ("paper" if dataset_name == "mod" else "tiny"))
    dataset = load_dataset(dataset_name, data_dir, data_files)
    device = resolve_device(device)
    ctx = SelectorContext(
        preset=preset,
        num_emotions=dataset.num_emotions,
        emotion_names=dataset.emotion_names,
        seed=seed,
        device=device,
        cache_dir=cache_root(),
        options=dict(options),
    )
    selector = build_selector(name, ctx)
    if not is_trainable(selector):
        raise BenchmarkError(f"selector {name!r} has nothing to train")
    output = Path(output)
    selector.fit(dataset, replace(train, seed=seed, device=device, resume_dir=output / "work"))
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    selector.save(output)
    shutil.rmtree(output / "work", ignore_errors=True)
    return output
