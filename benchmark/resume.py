"""Resume without mixing: a pair of the run directory is continued only under its own identity."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from benchmark.candidates import CandidateManifest
from benchmark.errors import BenchmarkError
from benchmark.results import Identity, ModelResult, RunResults
from benchmark.seeds import predictions_file
from benchmark.sharding import shard_files
from benchmark.types import Dataset

log = logging.getLogger("stickerbench")


class ResumeConflicts:
    """Pairs in the run directory made under another identity than the current command's.

    With several ``--train-seeds`` a pair is a (model, seed, split); a model whose recorded seeds
    are not the command's is one conflict as a whole (``split`` ``None``).
    """

    def __init__(self, out: Path):
        self.out = out
        self.found: list[tuple[str, str | None, int | None, str]] = []  # (model, split, seed, what changed)

    def check(
        self, results: RunResults, model: str, split: str, current: Identity, ignore_sha: bool, seed: int | None = None
    ) -> None:
        entry = results.models.get(model, ModelResult())
        holder = entry if seed is None else entry.seeds.get(seed)
        previous = None if holder is None else holder.splits.get(split)
        if previous is not None:
            changes = previous.identity.differences(current, ignore_checkpoint_sha=ignore_sha)
            if changes:
                self.found.append((model, split, seed, "; ".join(changes[:3]) + (" …" if len(changes) > 3 else "")))
        elif (self.out / predictions_file(model, split, seed)).exists():
            self.found.append((model, split, seed, "a predictions file with no recorded identity"))

    def check_seeds(self, results: RunResults, model: str, seeds: list[int]) -> None:
        """``seeds``: the command's training seeds of ``model`` (empty for one seed). A run killed
        between seeds has recorded only some of them: it resumes; a seed the command does not
        name, or one layout where the other is asked for, is a conflict."""
        entry = results.models.get(model)
        if entry is None or not (entry.splits or entry.seeds):
            return
        if seeds:
            fits = bool(entry.seeds) and set(entry.seeds) <= set(seeds)
        else:
            fits = not entry.seeds
        if fits:
            return

        def say(values: list[int]) -> str:
            return f"seeds {', '.join(map(str, sorted(values)))}" if values else "one seed"

        self.found.append((model, None, None, f"training {say(list(entry.seeds))} → {say(seeds)}"))

    def resolve(self, results: RunResults, rescore: bool) -> None:
        if not self.found:
            return
        if not rescore:
            model, split, seed, change = self.found[0]
            pair = model if split is None else f"{model}/{split}" if seed is None else f"{model}[seed {seed}]/{split}"
            more = f" (and {len(self.found) - 1} more pairs)" if len(self.found) > 1 else ""
            raise BenchmarkError(
                f"{self.out}: {pair} was made with another setting ({change}){more}; use a new "
                "--output, --overwrite to start afresh, or --rescore-changed to re-score only the changed pairs"
            )
        for model, split, seed, change in self.found:
            entry = results.models.get(model, ModelResult())
            if split is None:
                log.warning("%s: re-scoring every split (%s)", model, change)
                results.models.pop(model, None)
                shutil.rmtree(self.out / "predictions" / model, ignore_errors=True)
                continue
            log.warning("%s/%s: re-scoring (%s)", model if seed is None else f"{model}[seed {seed}]", split, change)
            entry.splits.pop(split, None)  # with seeds, the aggregate goes with any of its seeds
            if seed is not None and seed in entry.seeds:
                entry.seeds[seed].splits.pop(split, None)
            stale = self.out / predictions_file(model, split, seed)
            for path in [stale, *shard_files(stale)]:
                path.unlink(missing_ok=True)
        self.found.clear()


def check_same_candidates(
    previous: RunResults, dataset: Dataset, manifests: dict[str, CandidateManifest], out: Path
) -> None:
    if previous.dataset.get("fingerprint") != dataset.fingerprint:
        raise BenchmarkError(
            f"{out} holds results for another dataset (fingerprint differs); use a new --output or --overwrite"
        )
    for split, manifest in manifests.items():
        old = previous.candidates.get(split)
        if old and old.fingerprint != manifest.fingerprint:
            changed = old.negatives != manifest.negatives and None not in (old.negatives, manifest.negatives)
            drawn = f", --negatives {old.negatives} → {manifest.negatives}" if changed else ""
            raise BenchmarkError(
                f"{out} holds {split} results on other candidate sets (fingerprint "
                f"{old.fingerprint[:12]} vs {manifest.fingerprint[:12]}{drawn}); use a new --output or --overwrite"
            )
