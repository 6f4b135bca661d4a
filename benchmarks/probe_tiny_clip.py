"""What the shared tiny CLIP's sticker features know: leave-one-out nearest-centroid accuracy.

    python benchmarks/probe_tiny_clip.py                    # MojiChat, seed 0
    python benchmarks/probe_tiny_clip.py --keys emotion,character,pack

MOD-GPT, MMBERT, FROMAGe and CKS read frozen (or, for CKS, slowly tuned) CLIP features in their
``tiny`` presets, so a selector can only rank by what these features separate. For each sticker
metadata key (``Sticker.meta``), every sticker is classified by the nearest class centroid
(cosine) of the *other* stickers' features; chance is one over the number of classes. The tiny
CLIP is built (or read from the cache) exactly as the selectors get it.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F


def leave_one_out_accuracy(
    features: torch.Tensor, labels: list[str], queries: torch.Tensor | None = None, metric: str = "cosine"
) -> float:
    """Nearest-centroid accuracy, each sample's own vector left out of its class centroid.

    ``queries`` (one row per sample, default ``features``) are what is classified against the
    centroids of ``features``: e.g. augmented images against the clean ones, to ask whether an
    augmentation keeps what the label names. ``metric``: ``"cosine"`` (unit vectors) or
    ``"euclidean"`` (each dimension standardised by the ``features``' mean and std).
    """
    queries = features if queries is None else queries
    classes = sorted(set(labels))
    y = torch.tensor([classes.index(label) for label in labels])
    if metric == "cosine":
        f, q = F.normalize(features, dim=-1), F.normalize(queries, dim=-1)
    else:
        mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
        f, q = (features - mean) / std, (queries - mean) / std
    sums = torch.zeros(len(classes), f.shape[1]).index_add_(0, y, f)
    counts = torch.bincount(y, minlength=len(classes)).float()
    correct = 0
    for i in range(len(f)):
        own = y[i]
        centroids = sums.clone()
        centroids[own] -= f[i]
        n = counts.clone()
        n[own] -= 1
        valid = n > 0
        centroids = centroids / n.clamp_min(1).unsqueeze(1)
        if metric == "cosine":
            sims = F.normalize(centroids, dim=-1) @ q[i]
        else:
            sims = -((centroids - q[i]) ** 2).sum(-1)
        sims[~valid] = -float("inf")
        correct += int(sims.argmax() == own)
    return correct / len(f)


def main() -> None:
    from benchmark.datasets import cache_root, load_dataset
    from stickerbench.adapters.tiny_clip import tiny_clip_dir
    from stickerbench.models.clip_features import ClipImageFeatures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="dataset and tiny CLIP seed (default 0)")
    parser.add_argument("--keys", default="emotion,character", help="comma-separated Sticker.meta keys")
    args = parser.parse_args()

    data = load_dataset("mojichat", seed=args.seed)
    clip = ClipImageFeatures.load(tiny_clip_dir(data, cache_root(), args.seed))
    ids = sorted(data.stickers)
    with torch.inference_mode():
        features = clip(clip.pixel_values([data.stickers.image(i) for i in ids]))
    for key in args.keys.split(","):
        labels = [str((data.stickers[i].meta or {}).get(key)) for i in ids]
        accuracy = leave_one_out_accuracy(features, labels)
        print(f"{key:>10}: {100 * accuracy:5.1f}%  (chance {100 / len(set(labels)):.1f}%, {len(ids)} stickers)")


if __name__ == "__main__":
    main()
