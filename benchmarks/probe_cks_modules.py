"""Do CKS's causal modules do their job? CIM, VKD and the tiny CLIP's inductiveness, measured.

    python benchmarks/probe_cks_modules.py --json cks_modules.json     # MojiChat, tiny preset, seed 0

MojiChat knows what each sticker's content and style are (``sticker_meta.json``): content is the
character and the expression's emotion, style the pack's theme (background, colours, border,
texture). On the tiny preset's CKS, at the start of training (the tiny CLIP's vision tower, as the
triplet loss first sees it):

* ``cim`` — for every sticker, Ĩ of eq. 10 (``--draws`` noise draws each) under the configured
  reading, and under every other reading in ``cim_readings``. ``pixel_change`` = mean |Ĩ − I| /
  mean |I| on the model's input scale (CLIP-normalised pixels). Content read-out: leave-one-out
  nearest-centroid (cosine) accuracy on the IVE's CLIP features, mean of emotion and character
  (each in ``content_detail``); style read-out: the same on pixel statistics (per channel: mean,
  std, mean |∂x|, mean |∂y|, and mean and std of a 6-px border ring; standardised, Euclidean) for
  the theme. ``*_randomised`` classifies each Ĩ against the *clean* centroids (its own clean
  image left out): does the label survive the intervention?
* ``vkd`` — ``relative_std``: std of v̄ across stickers (per dimension, averaged) over mean |v̄|;
  ``fc_grad_norm_first_step``: ‖∂L/∂θ_FC‖ of eq. 14 on the first training batch; per reading in
  ``vkd_readings``.
* ``tiny_clip`` — how many stickers the shared tiny CLIP trains on, how many occur in ``train``
  and how many there are.

Aims (issue 13): content on randomised stickers ≥ 80 % of clean, style down by ≥ 15 points.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from probe_tiny_clip import leave_one_out_accuracy

RING = 6


def pixel_statistics(px: torch.Tensor) -> torch.Tensor:
    """Per-image style descriptors [B, 18] from pixels [B, 3, H, W] (see the module docstring)."""
    dx = (px[..., :, 1:] - px[..., :, :-1]).abs().mean((-2, -1))
    dy = (px[..., 1:, :] - px[..., :-1, :]).abs().mean((-2, -1))
    ring = torch.cat(
        [px[..., :RING, :].flatten(-2), px[..., -RING:, :].flatten(-2), px[..., :, :RING].flatten(-2)]
        + [px[..., :, -RING:].flatten(-2)],
        -1,
    )
    return torch.cat([px.mean((-2, -1)), px.std((-2, -1)), dx, dy, ring.mean(-1), ring.std(-1)], -1)


def _selector(data, options: dict, seed: int):
    from benchmark.datasets import cache_root
    from benchmark.selector import SelectorContext
    from stickerbench.adapters.cks.selector import CKSSelector

    ctx = SelectorContext(
        preset="tiny",
        num_emotions=data.num_emotions,
        emotion_names=data.emotion_names,
        seed=seed,
        cache_dir=cache_root(),
        options=options,
    )
    selector = CKSSelector(ctx)
    selector.ensure_model(data)
    return selector


@torch.no_grad()
def probe_cim(selector, data, draws: int, seed: int) -> dict[str, dict]:
    from stickerbench.models.cks.dct import CIM_READINGS, randomised_mask, style_noise, style_randomise

    ive = selector.model.ive.eval()
    ids = sorted(data.stickers)
    meta = [data.stickers[i].meta or {} for i in ids]
    content = {k: [str(m.get(k)) for m in meta] for k in ("emotion", "character")}
    theme = [str((m.get("style") or {}).get("theme")) for m in meta]
    px = selector._pixel_values(data.stickers, ids)
    clean_v, clean_s = ive.encode(px), pixel_statistics(px)
    out = {}
    for name, reading in CIM_READINGS.items():
        mask = randomised_mask(*px.shape[-2:], reading, ive.r_high, ive.r_low, px.dtype)
        generator = torch.Generator().manual_seed(seed)
        change, detail, style = [], {k: [] for k in content}, []
        for _ in range(draws):
            aug = style_randomise(px, mask, style_noise(px, reading, generator))
            change.append(((aug - px).abs().mean() / px.abs().mean()).item())
            v = ive.encode(aug)
            for key, labels in content.items():
                detail[key].append(leave_one_out_accuracy(clean_v, labels, v))
            style.append(leave_one_out_accuracy(clean_s, theme, pixel_statistics(aug), "euclidean"))
        clean_detail = {k: leave_one_out_accuracy(clean_v, labels) for k, labels in content.items()}
        randomised_detail = {k: sum(v) / draws for k, v in detail.items()}
        out[name] = {
            "pixel_change": sum(change) / draws,
            "content_acc_clean": sum(clean_detail.values()) / len(content),
            "content_acc_randomised": sum(randomised_detail.values()) / len(content),
            "style_acc_clean": leave_one_out_accuracy(clean_s, theme, metric="euclidean"),
            "style_acc_randomised": sum(style) / draws,
            "content_detail": {"clean": clean_detail, "randomised": randomised_detail},
        }
    return out


def probe_vkd(selector, data, seed: int) -> dict[str, float]:
    """v̄'s spread over the stickers at init, and its FC's gradient on the first training batch."""
    import numpy as np

    from benchmark.trainer import seed_everything
    from stickerbench.adapters.cks.recipe import CKSRecipe

    model = selector.model
    ids = sorted(data.stickers)
    with torch.no_grad():
        v_bar = model.ive.vkd(model.ive.encode(selector._pixel_values(data.stickers, ids)))
    recipe = CKSRecipe(selector, data.stickers, data.split("train"))
    rng = np.random.default_rng([seed, 0])
    batch = next(iter(recipe.batches(data, "train", recipe.defaults.batch_size, rng, 0)))
    selector._ensure_knowledge([u.text for s, _ in batch for u in s.context if u.text])
    selector._ensure_stickers(data.stickers, ids)
    seed_everything(seed)
    model.train()
    model.zero_grad(set_to_none=True)
    recipe.loss(batch)["loss"].backward()
    fc = model.ive.vkd.fc
    grads = [p.grad for p in fc.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    model.eval()
    return {
        "relative_std": (v_bar.std(0).mean() / v_bar.abs().mean()).item(),
        "mean_abs": v_bar.abs().mean().item(),
        "fc_grad_norm_first_step": torch.sqrt(sum((g**2).sum() for g in grads)).item() if grads else 0.0,
    }


def probe_tiny_clip(data) -> dict[str, int]:
    from stickerbench.adapters.tiny_clip import training_stickers

    train = data.split("train")
    used = {s.gold for s in train} | {u.sticker_id for s in train for u in s.context if u.sticker_id is not None}
    return {
        "stickers_trained_on": len(training_stickers(data)),
        "stickers_in_train_split": len(used),
        "stickers_total": len(data.stickers),
    }


def main() -> None:
    from benchmark.datasets import load_dataset
    from stickerbench.models.cks.dct import DEFAULT_CIM_READING
    from stickerbench.models.cks.ive import DEFAULT_VKD_READING, VKD_READINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="dataset, tiny backbones and noise seed (default 0)")
    parser.add_argument("--draws", type=int, default=4, help="noise draws per sticker for CIM (default 4)")
    parser.add_argument("--json", type=Path, help="write the measurements to this file")
    args = parser.parse_args()

    data = load_dataset("mojichat", seed=args.seed)
    training = data.training_view()  # what fit sees: the tiny backbones are built from it
    readings = {}
    for vkd in VKD_READINGS:
        selector = _selector(training, {"vkd": vkd}, args.seed)
        if vkd == DEFAULT_VKD_READING:
            cim = probe_cim(selector, data, args.draws, args.seed)
        readings[vkd] = probe_vkd(selector, training, args.seed)
    result = {
        "cim": {**cim[DEFAULT_CIM_READING], "reading": DEFAULT_CIM_READING},
        "cim_readings": cim,
        "vkd": {**readings[DEFAULT_VKD_READING], "reading": DEFAULT_VKD_READING},
        "vkd_readings": readings,
        "tiny_clip": probe_tiny_clip(data),
        "seed": args.seed,
        "draws": args.draws,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
