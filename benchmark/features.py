"""Per-sticker feature cache: every sticker is encoded once per run, and once ever on disk.

Why: candidate sets repeat stickers (10 candidates × thousands of samples over a few hundred
stickers), and image encoders are most of a selector's cost. Whatever depends only on the sticker
(CLIP image embeddings, ViLT patch embeddings, BLIP-2 vision-encoder states, …) is computed in
``Selector.prepare`` through :func:`encode_stickers`, which

* deduplicates by image *content* (two ids with the same bytes are encoded once),
* encodes the missing ones in batches under ``torch.inference_mode()`` with a progress bar,
* stores each result on disk as ``<cache_dir>/<model fingerprint[:24]>/<hash[:2]>/<hash>.safetensors``
  so the next run (or the next process) reads it instead of encoding again.

The key is (model fingerprint, image content hash): a different checkpoint, config or
preprocessing gives a different fingerprint, so a stale feature is never reused. Pass
``cache_dir=None`` for an in-memory-only encoding (e.g. during training, when the encoder changes
every epoch).

How an adapter uses it::

    from benchmark.features import encode_stickers, module_fingerprint

    def prepare(self, stickers):
        fp = module_fingerprint(self.model.vision_model, extra={"size": 224})
        self.feats = encode_stickers(stickers, list(stickers), self._encode_images,
                                     self.feature_cache_dir, fp)
    def score(self, queries):
        img = torch.stack([self.feats[c] for q in queries for c in q.candidates])  # [B*N, D]

``encode_batch(images: list[PIL.Image]) -> Tensor[B, ...] | dict[str, Tensor[B, ...]] | list``
returns one row per image; a dict keeps several tensors per sticker (e.g. embeddings + mask); a
list of per-image tensors/dicts allows variable shapes. Results are CPU tensors.

An encoder that passes ``preprocess(images) -> pixel tensors`` (and its ``device``) gets those
tensors instead of images: the next chunk is decoded and preprocessed on a background thread
while the current one encodes, and on a GPU the pixels go through pinned memory with a
non-blocking copy, so that the device does not wait on PIL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from benchmark.progress import progress_bar
from benchmark.types import StickerStore

Feature = torch.Tensor | dict[str, torch.Tensor]
EncodeBatch = Callable[[list[Any]], torch.Tensor | Mapping[str, torch.Tensor] | Sequence[Feature]]


def module_fingerprint(module: torch.nn.Module, extra: Mapping[str, Any] | None = None) -> str:
    """A hash of a module's config, weights and ``extra`` (preprocessing settings, code version).

    Hashes every parameter and buffer byte: a fine-tuned checkpoint differs from its backbone
    anywhere, so sampling would risk collisions. blake2b runs at ~1 GB/s, i.e. a second or two
    for a ViT-B and a few seconds for ViT-g, once per ``prepare``.
    """
    digest = hashlib.blake2b(digest_size=32)
    config = getattr(module, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        digest.update(json.dumps(config.to_dict(), sort_keys=True, default=str).encode())
    digest.update(json.dumps(dict(extra or {}), sort_keys=True, default=str).encode())
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _rows(out: Any, n: int) -> list[Feature]:
    """Split an encoder's batched output into one feature per image."""
    if isinstance(out, torch.Tensor):
        rows: list[Feature] = list(out.detach().cpu().unbind(0))
    elif isinstance(out, Mapping):
        keys = list(out)
        rows = [{k: out[k][i].detach().cpu() for k in keys} for i in range(n)]
    else:
        rows = [
            {k: v.detach().cpu() for k, v in r.items()} if isinstance(r, Mapping) else r.detach().cpu() for r in out
        ]
    if len(rows) != n:
        raise ValueError(f"encoder returned {len(rows)} features for {n} images")
    # Unbinding views into the batch would keep the whole batch alive and save its full storage.
    return [{k: v.clone() for k, v in r.items()} if isinstance(r, dict) else r.clone() for r in rows]


def _path(cache_dir: Path, fingerprint: str, content_hash: str) -> Path:
    return Path(cache_dir) / fingerprint[:24] / content_hash[:2] / f"{content_hash}.safetensors"


def _read(path: Path) -> Feature | None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError):
        return None  # missing or torn file: encode again
    return tensors[""] if set(tensors) == {""} else tensors


def _write(path: Path, feature: Feature) -> None:
    from safetensors.torch import save

    from benchmark.io import atomic_write_bytes

    tensors = {"": feature} if isinstance(feature, torch.Tensor) else feature
    atomic_write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()}))


def _map_tensors(batch: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``fn`` on every tensor of a tensor, a mapping of tensors, or a list of either."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, Mapping):
        return {k: _map_tensors(v, fn) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_map_tensors(v, fn) for v in batch]
    return batch


def pixel_batches(
    load: Callable[[list[str]], list[Any]],
    chunks: list[list[str]],
    preprocess: Callable[[list[Any]], Any],
    device: str,
) -> Iterator[Any]:
    """``preprocess(load(chunk))`` on ``device`` for each chunk, the next one prepared on a
    background thread meanwhile; pinned and copied without blocking when ``device`` is a GPU."""
    pin = str(device).startswith("cuda") and torch.cuda.is_available()

    def prepared(chunk: list[str]) -> Any:
        batch = preprocess(load(chunk))
        return _map_tensors(batch, torch.Tensor.pin_memory) if pin else batch

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stickerbench-pixels") as pool:
        pending = pool.submit(prepared, chunks[0]) if chunks else None
        for i in range(len(chunks)):
            batch = pending.result()
            if i + 1 < len(chunks):
                pending = pool.submit(prepared, chunks[i + 1])
            yield _map_tensors(batch, lambda t: t.to(device, non_blocking=pin))


def encode_stickers(
    stickers: StickerStore,
    ids: Sequence[str],
    encode_batch: EncodeBatch,
    cache_dir: Path | None,
    model_fingerprint: str,
    batch_size: int = 32,
    desc: str = "encoding stickers",
    progress: bool = True,
    preprocess: Callable[[list[Any]], Any] | None = None,
    device: str = "cpu",
) -> dict[str, Feature]:
    """Sticker id → feature for ``ids``, encoding only contents not cached yet (see module doc)."""
    by_hash: dict[str, list[str]] = {}
    for sid in dict.fromkeys(ids):
        by_hash.setdefault(stickers.content_hash(sid), []).append(sid)
    found: dict[str, Feature] = {}
    missing: list[str] = []
    for content_hash in by_hash:
        cached = _read(_path(cache_dir, model_fingerprint, content_hash)) if cache_dir is not None else None
        if cached is None:
            missing.append(content_hash)
        else:
            found[content_hash] = cached
    with progress_bar(
        total=len(missing), desc=desc, unit="sticker", disable=not progress or not missing, leave=False
    ) as bar:
        chunks = [missing[start : start + batch_size] for start in range(0, len(missing), batch_size)]

        def images(chunk: list[str]) -> list[Any]:
            return [stickers.image(by_hash[h][0]) for h in chunk]

        inputs = map(images, chunks) if preprocess is None else pixel_batches(images, chunks, preprocess, device)
        for chunk, batch in zip(chunks, inputs):
            with torch.inference_mode():
                out = encode_batch(batch)
            # Rows are copied outside inference mode so that training may use them as inputs.
            for content_hash, feature in zip(chunk, _rows(out, len(chunk))):
                found[content_hash] = feature
                if cache_dir is not None:
                    _write(_path(cache_dir, model_fingerprint, content_hash), feature)
            bar.update(len(chunk))
    return {sid: found[h] for h, sids in by_hash.items() for sid in sids}
