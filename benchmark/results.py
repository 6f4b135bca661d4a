"""``OUT/results.json``: everything needed to trust, compare and reproduce a run's numbers.

Schema (``schema_version`` 1), field by field:

* ``schema_version`` — int; bumped on any incompatible change.
* ``harness`` — ``{name, version, git_sha, python, platform, libraries: {package: version},
  command, created, updated}``: what produced the numbers.
* ``seed`` — the run's seed (candidate sets, training, random selector).
* ``dataset`` — ``{name, fingerprint, root, emotion_names, splits: {split: number of samples}}``.
* ``candidates.<split>`` — ``{fingerprint, num_candidates, seed, strategy, manifest}``:
  the sha256 of ``OUT/candidates/<split>.jsonl``, N, the seed, ``sampled`` or ``official``,
  and the manifest's path relative to OUT.
* ``models.<name>`` — one entry per ``--models`` item (``name`` or ``name@preset``):
  ``meta`` (the selector's :class:`SelectorMeta`: name, preset, supports_emotion, trainable,
  description, reference, license, num_parameters, config), ``checkpoint``
  (``{path, sha256}`` or null), ``train_seconds`` (null when no training ran in this run),
  ``prepare_seconds``, and ``splits.<split>`` = ``{metrics, stderr, n, seconds, predictions}`` where
  ``metrics`` has ``recall@1, recall@3, recall@5, mrr, map@5`` (fractions in [0, 1]) and
  ``emotion_acc`` (null when the selector has no emotion head or the split no labels),
  ``stderr`` the standard error of each of those means over the split's samples (sample std / √n;
  null where undefined), ``n`` the number of samples, ``seconds`` the scoring time,
  ``predictions`` the JSONL path relative to OUT.

The file is rewritten atomically after every finished (model, split), so a crash keeps all
finished results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.io import atomic_write_json, read_json

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
_LIBRARIES = ("numpy", "torch", "transformers", "safetensors", "pillow", "tokenizers", "rapidocr_onnxruntime")


def git_sha() -> str | None:
    """The commit of the harness's own checkout, when it runs from one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def harness_info() -> dict[str, Any]:
    from benchmark import __version__

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return {
        "name": "stickerbench",
        "version": __version__,
        "git_sha": git_sha(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(),
        "command": sys.argv,
        "created": now,
        "updated": now,
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def directory_sha256(path: Path) -> str:
    """A checkpoint's identity: the hash of every file's relative name and bytes."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + file_sha256(file).encode())
    return digest.hexdigest()


def load_results(out_dir: Path) -> dict[str, Any] | None:
    path = Path(out_dir) / RESULTS_FILE
    return read_json(path) if path.exists() else None


def save_results(out_dir: Path, results: dict[str, Any]) -> None:
    results["harness"]["updated"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(Path(out_dir) / RESULTS_FILE, results)
