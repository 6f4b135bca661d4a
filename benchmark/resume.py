"""Resume without mixing: a pair of the run directory is continued only under its own identity."""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.candidates import CandidateManifest
from benchmark.errors import BenchmarkError
from benchmark.results import Identity, ModelResult, RunResults
from benchmark.types import Dataset

log = logging.getLogger("stickerbench")


class ResumeConflicts:
    """Pairs in the run directory made under another identity than the current command's."""

    def __init__(self, out: Path):
        self.out = out
        self.found: list[tuple[str, str, str]] = []  # (model, split, what changed)

    def check(self, results: RunResults, model: str, split: str, current: Identity, ignore_sha: bool) -> None:
        previous = results.models.get(model, ModelResult()).splits.get(split)
        if previous is not None:
            changes = previous.identity.differences(current, ignore_checkpoint_sha=ignore_sha)
            if changes:
                self.found.append((model, split, "; ".join(changes[:3]) + (" …" if len(changes) > 3 else "")))
        elif (self.out / "predictions" / model / f"{split}.jsonl").exists():
            self.found.append((model, split, "a predictions file with no recorded identity"))

    def resolve(self, results: RunResults, rescore: bool) -> None:
        if not self.found:
            return
        if not rescore:
            model, split, change = self.found[0]
            more = f" (and {len(self.found) - 1} more pairs)" if len(self.found) > 1 else ""
            raise BenchmarkError(
                f"{self.out}: {model}/{split} was made with another setting ({change}){more}; use a new "
                "--output, --overwrite to start afresh, or --rescore-changed to re-score only the changed pairs"
            )
        for model, split, change in self.found:
            log.warning("%s/%s: re-scoring (%s)", model, split, change)
            results.models.get(model, ModelResult()).splits.pop(split, None)
            (self.out / "predictions" / model / f"{split}.jsonl").unlink(missing_ok=True)
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
            raise BenchmarkError(
                f"{out} holds {split} results on other candidate sets (fingerprint "
                f"{old.fingerprint[:12]} vs {manifest.fingerprint[:12]}); use a new --output or --overwrite"
            )
