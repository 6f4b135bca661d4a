"""Everything one ``run`` is told, validated the same way for the command line and the Python API."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.candidates import NEGATIVES, STRATEGIES
from benchmark.datasets import DEFAULT_DATASET
from benchmark.datasets.mod_files import LANGUAGES
from benchmark.errors import BenchmarkError
from benchmark.precision import AUTOCAST_MODES
from benchmark.selector import TrainConfig


@dataclass
class RunConfig:
    """Every option of ``python -m benchmark run`` (see ``--help`` for each one's meaning)."""

    models: list[str]
    dataset: str = DEFAULT_DATASET
    data_dir: Path | None = None
    data_files: dict[str, Path] = field(default_factory=dict)
    language: str = "en"
    annotated_only: bool = False
    splits: list[str] | None = None
    candidates: str = "sampled"
    num_candidates: int = 10
    negatives: str = "matched"
    seed: int = 0
    train_seeds: list[int] | None = None
    shortlist: str | None = None
    output: Path | None = None
    preset: str | None = None
    checkpoints: dict[str, Path] = field(default_factory=dict)
    no_train: bool = False
    batch_size: int | None = None  # in each selector's batch_unit; None: the unit's default
    autocast: str = "off"
    jobs: int | str = 1  # checkpoints trained at once, in processes of their own; "auto": one per core on a CPU
    device: str = "auto"
    include_packages: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    progress: bool = True
    overwrite: bool = False
    rescore_changed: bool = False

    def train_seed_list(self) -> list[int]:
        """The seeds trainable selectors are trained with: ``--train-seeds``, else ``--seed``."""
        return list(self.train_seeds) if self.train_seeds else [self.seed]

    def default_preset(self) -> str:
        return self.preset or ("paper" if self.dataset == "mod" else "tiny")

    def candidate_strategy(self) -> str:
        """``candidates``, or for ``None`` the dataset's default: ``official`` on MOD, where every
        published number uses the 11-sticker task-2 sets, ``sampled`` elsewhere. (The field's own
        default stays ``sampled`` for the Python API; the command line passes ``None`` when
        ``--candidates`` is not given.)"""
        if self.candidates is not None:
            return self.candidates
        return "official" if self.dataset == "mod" else "sampled"

    def output_dir(self) -> Path:
        """``--output``, else ``runs/<dataset>-sampled<N>-seed<S>`` (``-sampled<N>-uniform-`` with
        uniform negatives) or ``runs/<dataset>-official-seed<S>`` (official sets have the
        dataset's size, so N would be a number that was never used)."""
        if self.output is not None:
            return Path(self.output)
        strategy = self.candidate_strategy()
        sets = f"{strategy}{self.num_candidates}" if strategy == "sampled" else strategy
        if strategy == "sampled" and self.negatives != "matched":
            sets += f"-{self.negatives}"
        return Path("runs") / f"{self.dataset}-{sets}-seed{self.seed}"

    def validate(self) -> None:
        """The checks argparse makes, for callers of the Python API."""
        if self.batch_size is not None and self.batch_size < 1:
            raise BenchmarkError(f"batch size must be at least 1, got {self.batch_size}")
        if self.jobs != "auto" and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise BenchmarkError(f"--jobs {self.jobs!r}: a number of processes (1 or more) or auto")
        if self.autocast not in AUTOCAST_MODES:
            raise BenchmarkError(f"--autocast {self.autocast!r}: choose one of {', '.join(AUTOCAST_MODES)}")
        if self.num_candidates < 2:
            raise BenchmarkError(f"--num-candidates must be at least 2, got {self.num_candidates}")
        if self.candidates is not None and self.candidates not in STRATEGIES:
            raise BenchmarkError(f"--candidates {self.candidates!r}: choose one of {', '.join(STRATEGIES)}")
        if self.negatives not in NEGATIVES:
            raise BenchmarkError(f"--negatives {self.negatives!r}: choose one of {', '.join(NEGATIVES)}")
        if self.language not in LANGUAGES:
            raise BenchmarkError(f"--language {self.language!r}: choose one of {', '.join(LANGUAGES)}")
        if self.shortlist is not None:
            from benchmark.pool import Shortlist

            Shortlist.parse(self.shortlist)
            if self.candidate_strategy() != "all":
                raise BenchmarkError(f"--shortlist {self.shortlist} reranks a full-pool ranking: add --candidates all")
        if self.train_seeds is not None and len(set(self.train_seeds)) != len(self.train_seeds):
            raise BenchmarkError(f"--train-seeds {self.train_seeds}: each seed once")
        if self.overwrite and self.rescore_changed:
            raise BenchmarkError("--overwrite and --rescore-changed exclude each other: pick one")


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
