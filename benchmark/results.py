"""``OUT/results.json`` as typed objects: everything needed to trust, compare and reproduce a run.

Schema (``schema_version`` 2), field by field:

* ``schema_version`` — int; bumped on any incompatible change (see ``CHANGELOG.md``). A file of
  another version is refused on load with a message saying what to do.
* ``harness`` — ``{name, version, git_sha, python, platform, libraries: {package: version},
  command, created, updated}``: what produced the numbers (``command`` is the latest one).
* ``seed`` — the run's seed (candidate sets, training, random selector).
* ``dataset`` — ``{name, fingerprint, root, emotion_names, splits: {split: number of samples},
  files: {role: absolute path}, blind_splits: [split, ...]}``: ``files`` are the input files the
  loader read (``train``, ``validation.task2``, ``test_easy.task2``, ``test_easy.task3``, …), which
  ``export`` rewrites into submissions; ``blind_splits`` the splits released without answers. A
  free-form object: runs written before these two fields lack them.
* ``candidates.<split>`` — ``{fingerprint, num_candidates, seed, strategy, manifest, negatives}``:
  the set's fingerprint (the sha256 of ``OUT/candidates/<split>.jsonl``, preceded by the line
  ``negatives: matched`` for matched sets), N, the seed, ``sampled`` or ``official``, the
  manifest's path relative to OUT, and how sampled negatives were drawn (``matched`` or
  ``uniform``; null for official sets; files written before it existed read as ``uniform``).
* ``models.<name>`` — one entry per ``--models`` item (``name`` or ``name@preset``):
  ``meta`` (the selector's :class:`~benchmark.selector.SelectorMeta`), ``checkpoint``
  (``{path, sha256}`` or null), ``train_seconds`` (null when no training ran in this run),
  ``prepare_seconds``, and ``splits.<split>`` =
  ``{status, identity, metrics, stderr, n, seconds, predictions}``:

  * ``status`` — ``complete``, or ``partial`` while the split is being scored (a killed run
    leaves ``partial``; the next run continues it if its identity is the same);
  * ``identity`` — what produced these numbers: ``{selector, preset, config, options, code,
    checkpoint: {path, sha256} | null, train_seed, train_overrides, candidates}`` — the
    registered name, preset, ``meta.config``, every ``--option`` (and ``--ocr``), the hash of the
    selector's source (its module and the project modules it imports), the checkpoint scored,
    the training seed and ``--epochs``/``--lr``/… overrides (null for selectors that do not
    train), and the candidate fingerprint. A resume never mixes two identities;
  * ``metrics`` — ``recall@1, recall@3, recall@5, mrr, map@5`` (fractions in [0, 1]; null on a
    blind split, whose items have no gold), ``emotion_acc`` (the emotion predicted with the
    selector's own pick; null when the selector has no emotion head or the split no labels) and
    ``task3_acc@1, task3_acc@5`` (MOD task 3: the emotion given the sent sticker, from the
    selector's ``classify_emotion``; null without it or without labels). Every metric is null
    rather than invented where no sample defines it;
  * ``stderr`` — the standard error of each of those means over the split's samples
    (sample std / √n; null where undefined); ``n`` the number of samples (scored, blind ones
    included); ``seconds`` the scoring time; ``predictions`` the JSONL path relative to OUT, one
    row per sample: ``{sample_id, index, candidates, gold, scores, predicted, emotion,
    emotion_logits, emotion_predicted, sent_sticker, task3_logits}`` (``gold`` null on a blind
    item; ``index`` the item's position in its task-2 file, or null; ``task3_logits`` null
    where ``classify_emotion`` was not called; ``slices`` the sample's slice labels);
  * ``slices`` — ``{slice: {value: {n, metrics}}}`` over the split's answered samples, for
    ``gold_emotion``, ``gold_seen``, ``context_turns`` and ``bias`` (:mod:`benchmark.slices`),
    recomputable from the rows' ``slices`` alone; absent in runs written before slices existed.

* ``models.<name>.seeds.<seed>`` — only for a selector trained under several ``--train-seeds``:
  ``{checkpoint, train_seconds, prepare_seconds, splits.<split>}``, each split as above (its
  identity's ``train_seed`` is the seed; predictions in ``predictions/<name>/seed-<seed>/``).
  ``models.<name>.splits.<split>`` is then the aggregate over the seeds (:mod:`benchmark.seeds`):
  ``metrics`` the mean, ``seed_std`` the sd over seeds, ``ci95`` metric → ``[low, high]`` (a
  two-level bootstrap), ``num_seeds``, ``n``, ``stderr`` over samples of the seed-averaged
  values, ``predictions`` the first seed's file. One seed keeps the layout above.

The file is rewritten atomically after every finished (model, split), so a crash keeps all
finished results.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import DataError
from benchmark.io import atomic_write_json, read_json
from benchmark.json_reader import JsonReader as _Reader
from benchmark.provenance import harness_info, utc_now

SCHEMA_VERSION = 2
RESULTS_FILE = "results.json"
COMPLETE, PARTIAL = "complete", "partial"


OPTIONAL_IDENTITY = ("shortlist", "autocast")  # written only when set: older results read back equal


@dataclass(frozen=True)
class Identity:
    """What produced a (model, split) result; two results are mixable only if these are equal."""

    selector: str
    preset: str
    config: dict[str, Any]
    options: dict[str, Any]
    code: str | None
    checkpoint: dict[str, str] | None
    train_seed: int | None
    train_overrides: dict[str, Any] | None
    candidates: str
    shortlist: dict[str, Any] | None = None  # a reranker's first stage: {first_stage, k, predictions_sha256}
    autocast: str | None = None  # bf16 or fp16 when scored under torch.autocast; None: fp32

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        for optional in OPTIONAL_IDENTITY:
            if raw[optional] is None:
                del raw[optional]
        return raw

    @classmethod
    def from_json(cls, raw: Any, reader: _Reader, where: str) -> "Identity":
        raw = reader.obj(raw, where)
        missing = [f for f in cls.__dataclass_fields__ if f not in raw and f not in OPTIONAL_IDENTITY]
        if missing:
            raise reader.fail(f"{where}.{missing[0]}", "present")
        return cls(**{f: raw[f] for f in cls.__dataclass_fields__ if f in raw})

    def differences(self, other: "Identity", ignore_checkpoint_sha: bool = False) -> list[str]:
        """Human-readable ``field: old → new`` for every field that differs (``self`` is the old one)."""
        # compared as JSON, as they are stored: a config's tuple and the list it reads back as are equal
        old, new = (_flatten(json.loads(json.dumps(x.to_json(), default=str))) for x in (self, other))
        if ignore_checkpoint_sha:
            old.pop("checkpoint.sha256", None)
            new.pop("checkpoint.sha256", None)
        return [
            f"{key}: {_short(old.get(key, '(unset)'))} → {_short(new.get(key, '(unset)'))}"
            for key in sorted(set(old) | set(new))
            if old.get(key, "(unset)") != new.get(key, "(unset)")
        ]


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: obj}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:12] + "…" + text[-8:]


@dataclass
class SplitResult:
    identity: Identity
    predictions: str
    status: str = PARTIAL
    metrics: dict[str, float | None] | None = None
    stderr: dict[str, float | None] | None = None
    n: int | None = None
    seconds: float | None = None
    slices: dict[str, dict[str, dict]] | None = None
    stages: dict[str, Any] | None = None  # a reranker's cost: {first_stage: {...}, rerank: {...}}
    # Set on the aggregate of several training seeds only (see the module docstring).
    num_seeds: int | None = None
    seed_std: dict[str, float | None] | None = None
    ci95: dict[str, list[float] | None] | None = None

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    def to_json(self) -> dict[str, Any]:
        raw = {
            "status": self.status,
            "identity": self.identity.to_json(),
            "metrics": self.metrics,
            "stderr": self.stderr,
            "n": self.n,
            "seconds": self.seconds,
            "predictions": self.predictions,
        }
        if self.slices is not None:
            raw["slices"] = self.slices
        if self.stages is not None:
            raw["stages"] = self.stages
        if self.num_seeds is not None:
            raw.update(num_seeds=self.num_seeds, seed_std=self.seed_std, ci95=self.ci95)
        return raw

    @classmethod
    def from_json(cls, raw: Any, reader: _Reader, where: str) -> "SplitResult":
        raw = reader.obj(raw, where)
        status = reader.get(raw, "status", where, (str,))
        if status not in (COMPLETE, PARTIAL):
            raise reader.fail(f"{where}.status", f"{COMPLETE!r} or {PARTIAL!r}")
        complete = status == COMPLETE
        metrics = raw.get("metrics")
        return cls(
            identity=Identity.from_json(raw.get("identity"), reader, f"{where}.identity"),
            predictions=reader.get(raw, "predictions", where, (str,)),
            status=status,
            metrics=reader.numbers(metrics, f"{where}.metrics") if complete or metrics is not None else None,
            stderr=reader.numbers(raw.get("stderr") or {}, f"{where}.stderr") if complete else None,
            n=reader.get(raw, "n", where, (int,), optional=not complete),
            seconds=reader.get(raw, "seconds", where, (int, float), optional=True),
            slices=reader.get(raw, "slices", where, (dict,), optional=True),
            stages=reader.get(raw, "stages", where, (dict,), optional=True),
            num_seeds=reader.get(raw, "num_seeds", where, (int,), optional=True),
            seed_std=reader.numbers(raw["seed_std"], f"{where}.seed_std") if raw.get("seed_std") else None,
            ci95=reader.get(raw, "ci95", where, (dict,), optional=True),
        )


@dataclass
class SeedResult:
    """One training seed of a selector trained under several (``--train-seeds``)."""

    checkpoint: dict[str, str] | None = None
    train_seconds: float | None = None
    prepare_seconds: float | None = None
    splits: dict[str, SplitResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "train_seconds": self.train_seconds,
            "prepare_seconds": self.prepare_seconds,
            "splits": {s: r.to_json() for s, r in self.splits.items()},
        }

    @classmethod
    def from_json(cls, raw: Any, reader: _Reader, where: str) -> "SeedResult":
        raw = reader.obj(raw, where)
        splits = reader.obj(raw.get("splits", {}), f"{where}.splits")
        return cls(
            checkpoint=reader.get(raw, "checkpoint", where, (dict,), optional=True),
            train_seconds=reader.get(raw, "train_seconds", where, (int, float), optional=True),
            prepare_seconds=reader.get(raw, "prepare_seconds", where, (int, float), optional=True),
            splits={s: SplitResult.from_json(r, reader, f"{where}.splits.{s}") for s, r in splits.items()},
        )


@dataclass
class ModelResult:
    meta: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, str] | None = None
    train_seconds: float | None = None
    prepare_seconds: float | None = None
    splits: dict[str, SplitResult] = field(default_factory=dict)
    seeds: dict[int, SeedResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        raw = {
            "meta": self.meta,
            "checkpoint": self.checkpoint,
            "train_seconds": self.train_seconds,
            "prepare_seconds": self.prepare_seconds,
            "splits": {s: r.to_json() for s, r in self.splits.items()},
        }
        if self.seeds:
            raw["seeds"] = {str(seed): r.to_json() for seed, r in sorted(self.seeds.items())}
        return raw

    @classmethod
    def from_json(cls, raw: Any, reader: _Reader, where: str) -> "ModelResult":
        raw = reader.obj(raw, where)
        splits = reader.obj(raw.get("splits", {}), f"{where}.splits")
        return cls(
            meta=reader.obj(raw.get("meta", {}), f"{where}.meta"),
            checkpoint=reader.get(raw, "checkpoint", where, (dict,), optional=True),
            train_seconds=reader.get(raw, "train_seconds", where, (int, float), optional=True),
            prepare_seconds=reader.get(raw, "prepare_seconds", where, (int, float), optional=True),
            splits={s: SplitResult.from_json(r, reader, f"{where}.splits.{s}") for s, r in splits.items()},
            seeds={
                _seed(seed, reader, f"{where}.seeds"): SeedResult.from_json(r, reader, f"{where}.seeds.{seed}")
                for seed, r in reader.obj(raw.get("seeds", {}), f"{where}.seeds").items()
            },
        )


def _seed(key: str, reader: _Reader, where: str) -> int:
    try:
        return int(key)
    except ValueError:
        raise reader.fail(f"{where}.{key}", "keyed by an integer training seed") from None


@dataclass(frozen=True)
class CandidateInfo:
    fingerprint: str
    num_candidates: int
    seed: int
    strategy: str
    manifest: str
    negatives: str | None = None  # sampled sets: "matched" or "uniform"; official sets: None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Any, reader: _Reader, where: str) -> "CandidateInfo":
        raw = reader.obj(raw, where)
        strategy = reader.get(raw, "strategy", where, (str,))
        negatives = reader.get(raw, "negatives", where, (str,), optional=True)
        if "negatives" not in raw and strategy == "sampled":
            negatives = "uniform"  # written before --negatives existed, when every sampled set was uniform
        return cls(
            fingerprint=reader.get(raw, "fingerprint", where, (str,)),
            num_candidates=reader.get(raw, "num_candidates", where, (int,)),
            seed=reader.get(raw, "seed", where, (int,)),
            strategy=strategy,
            manifest=reader.get(raw, "manifest", where, (str,)),
            negatives=negatives,
        )


@dataclass
class RunResults:
    """One run directory's results; :meth:`save` writes them atomically."""

    dataset: dict[str, Any]
    seed: int
    candidates: dict[str, CandidateInfo] = field(default_factory=dict)
    models: dict[str, ModelResult] = field(default_factory=dict)
    harness: dict[str, Any] = field(default_factory=harness_info)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "harness": self.harness,
            "seed": self.seed,
            "dataset": self.dataset,
            "candidates": {s: c.to_json() for s, c in self.candidates.items()},
            "models": {m: r.to_json() for m, r in self.models.items()},
        }

    @classmethod
    def from_json(cls, raw: Any, source: Path | str = RESULTS_FILE) -> "RunResults":
        reader = _Reader(source)
        raw = reader.obj(raw, "(top level)")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{source}: results schema version {version}, this stickerbench reads version {SCHEMA_VERSION} "
                "(see CHANGELOG.md); re-run the command into a new --output (or with --overwrite)"
            )
        dataset = reader.obj(raw.get("dataset"), "dataset")
        reader.get(dataset, "fingerprint", "dataset", (str,))
        candidates = reader.obj(raw.get("candidates", {}), "candidates")
        models = reader.obj(raw.get("models", {}), "models")
        return cls(
            dataset=dataset,
            seed=reader.get(raw, "seed", "(top level)", (int,)),
            candidates={s: CandidateInfo.from_json(c, reader, f"candidates.{s}") for s, c in candidates.items()},
            models={m: ModelResult.from_json(r, reader, f"models.{m}") for m, r in models.items()},
            harness=reader.obj(raw.get("harness", {}), "harness"),
            schema_version=version,
        )

    @classmethod
    def load(cls, run_dir: Path) -> "RunResults | None":
        """The results of ``run_dir``, or ``None`` when it has none yet."""
        path = Path(run_dir) / RESULTS_FILE
        return cls.from_json(read_json(path), path) if path.exists() else None

    def save(self, run_dir: Path) -> None:
        self.harness["updated"] = utc_now()
        atomic_write_json(Path(run_dir) / RESULTS_FILE, self.to_json())

    def complete_splits(self, model: str) -> dict[str, SplitResult]:
        entry = self.models.get(model)
        return {} if entry is None else {s: r for s, r in entry.splits.items() if r.complete}


def load_results(run_dir: Path) -> RunResults:
    """``benchmark.load_results(RUN_DIR)``: the typed results of a run directory."""
    results = RunResults.load(run_dir)
    if results is None:
        raise DataError(f"{run_dir}: no {RESULTS_FILE} here; pass a directory written by `run`")
    return results


def is_run_directory(path: Path) -> bool:
    """Whether ``path`` holds a results.json written by stickerbench (any schema version)."""
    try:
        raw = read_json(Path(path) / RESULTS_FILE)
    except DataError:
        return False
    return (
        isinstance(raw, dict) and isinstance(raw.get("harness"), dict) and raw["harness"].get("name") == "stickerbench"
    )
