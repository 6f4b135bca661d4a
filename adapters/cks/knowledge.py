"""The on-disk commonsense-knowledge cache of CKS (g_i^k of §4.1.2), filled ahead by
``python -m benchmark knowledge build`` or on first use by the selector.

It lives in the adapter, not the harness, because only CKS reads COMET knowledge: the harness
stays free of any one selector's data.

COMET generation is the most expensive step of CKS (six relations per utterance), and its
output depends only on (utterance text, relation, COMET model). So every vector is generated
once and stored under ``CACHE/knowledge/<model fingerprint>/``; training and evaluation read the
cache and generate only what is missing.

Layout: each fill writes one immutable shard ``<uuid>.safetensors`` holding a ``vectors``
tensor [n, D] and, in its metadata, the n (relation, utterance) keys and the generated texts
(the texts are for a person inspecting a shard; nothing here reads them back).
Shards are never rewritten, so concurrent writers (two runs, DDP ranks) cannot corrupt each
other; a duplicate key in two shards holds the same vector and either copy serves.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import torch

from benchmark.errors import DataError
from benchmark.io import atomic_write_bytes, build_lock
from benchmark.types import Dataset
from stickerbench.adapters.cks.backbones import make_comet
from stickerbench.models.cks.comet import CometKnowledge
from stickerbench.models.cks.keue import RELATIONS


class KnowledgeCache:
    """Vectors g_i^k keyed by (utterance text, relation) inside one model fingerprint's folder."""

    def __init__(self, root: Path, fingerprint: str, relations: tuple[str, ...]):
        self.dir = Path(root) / "knowledge" / fingerprint
        self.relations = relations
        self._vectors: dict[tuple[str, str], torch.Tensor] = {}
        self._shards: set[str] = set()
        self._read_shards()

    def _read_shards(self) -> None:
        """Read the shards not read yet (another process may have written some meanwhile).

        Every fill that misses a vector looks, and a scoring run misses some in every batch with a
        new utterance, so a long run meets thousands of shards: names are listed, not globbed as
        paths (13,000 shards: 7 ms instead of 105 ms)."""
        from safetensors import SafetensorError, safe_open

        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in sorted(n for n in names if n.endswith(".safetensors") and not n.startswith(".")):
            if name in self._shards:
                continue
            self._shards.add(name)
            shard = self.dir / name
            try:
                with safe_open(str(shard), framework="pt") as f:
                    meta = f.metadata()
                    vectors = f.get_tensor("vectors")
            except (SafetensorError, OSError) as exc:
                raise DataError(
                    f"{shard}: unreadable knowledge shard ({exc}); delete it and its vectors are regenerated"
                ) from None
            for (relation, text), vector in zip(json.loads(meta["keys"]), vectors):
                self._vectors[(relation, text)] = vector

    def __len__(self) -> int:
        return len(self._vectors)

    def missing(self, utterances: Iterable[str]) -> dict[str, list[str]]:
        """relation → the distinct utterances without a cached vector, in first-seen order."""
        unique = list(dict.fromkeys(utterances))
        return {r: [u for u in unique if (r, u) not in self._vectors] for r in self.relations}

    def fill(self, generator: CometKnowledge, utterances: Iterable[str]) -> int:
        """Generate and store every missing (utterance, relation); returns how many were made."""
        utterances = list(utterances)
        if not any(self.missing(utterances).values()):
            return 0
        keys: list[tuple[str, str]] = []
        texts: list[str] = []
        vectors: list[torch.Tensor] = []
        with build_lock(self.dir / ".fill.lock"):  # another process may be generating them now
            self._read_shards()
            for relation, todo in self.missing(utterances).items():
                if todo:
                    made_texts, made_vectors = generator.generate(todo, relation)
                    keys += [(relation, u) for u in todo]
                    texts += made_texts
                    vectors.append(made_vectors)
            if keys:
                self._write_shard(keys, texts, torch.cat(vectors))
        return len(keys)

    def _write_shard(self, keys: list[tuple[str, str]], texts: list[str], vectors: torch.Tensor) -> None:
        from safetensors.torch import save

        meta = {"keys": json.dumps(keys, ensure_ascii=False), "texts": json.dumps(texts, ensure_ascii=False)}
        name = f"{uuid.uuid4().hex}.safetensors"
        atomic_write_bytes(self.dir / name, save({"vectors": vectors.contiguous().float()}, metadata=meta))
        self._shards.add(name)
        for key, vector in zip(keys, vectors):
            self._vectors[key] = vector

    def vectors(self, utterance: str) -> torch.Tensor:
        """The utterance's knowledge in relation order, [len(relations), D]; it must be cached."""
        try:
            return torch.stack([self._vectors[(r, utterance)] for r in self.relations])
        except KeyError:
            raise DataError(f"no cached knowledge for utterance {utterance!r}; fill the cache first") from None


def dataset_utterances(data: Dataset) -> list[str]:
    """Every distinct utterance text of every split, in first-seen order."""
    return list(dict.fromkeys(u.text for samples in data.splits.values() for s in samples for u in s.context))


def build_knowledge(
    dataset: Dataset, preset: str, cache_dir: Path, options: dict | None = None, device: str = "cpu", seed: int = 0
) -> tuple[int, int, Path]:
    """Precompute CKS's knowledge for every utterance of ``dataset`` with the ``preset``'s COMET.

    Returns (vectors generated now, vectors in the cache, cache folder). Running it twice
    generates nothing the second time.
    """
    comet = make_comet(preset, dataset, dict(options or {}), device, Path(cache_dir), seed)
    cache = KnowledgeCache(cache_dir, comet.fingerprint, RELATIONS)
    made = cache.fill(comet, dataset_utterances(dataset))
    return made, len(cache), cache.dir
