"""Writing MojiChat to disk in the MOD (DSTC10 Track 1) layout, atomically and deterministically.

Everything random is drawn from ``random.Random`` instances seeded by strings derived from the
seed and the part being generated, so the same seed gives byte-identical files, and changing
the size of one split does not reshuffle another.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections import Counter
from pathlib import Path

from benchmark.datasets.mojichat.card import write_card
from benchmark.datasets.mojichat.dialogues import (
    Dialogue,
    SplitPlan,
    StickerChooser,
    dialogue_turns,
    generate_dialogue,
    gold_counts,
    make_test_items,
    used_stickers,
)
from benchmark.datasets.mojichat.inventory import EMOTIONS, PACKS, STYLE_THEMES
from benchmark.datasets.mojichat.render import GlyphCache, contact_sheet, render_sticker
from benchmark.datasets.mojichat.stickers import StickerRecord, design_stickers
from benchmark.errors import DataError

GENERATOR_VERSION = "1"

# Dialogues per split at scale 1.0: train gives ~4.9k samples (1.45 stickers per dialogue),
# validation ~500; each test split has one item per dialogue.
SPLIT_SIZES = {"train": 3400, "validation": 350, "test_easy": 800, "test_hard": 800, "test_bias": 800}


def split_plans(scale: float) -> list[SplitPlan]:
    def n(split: str) -> int:
        return max(12, round(SPLIT_SIZES[split] * scale))

    return [
        SplitPlan("train", n("train")),
        SplitPlan("validation", n("validation")),
        SplitPlan("test_easy", n("test_easy"), test=True),
        SplitPlan("test_hard", n("test_hard"), held_out_personas=True, test=True),
        SplitPlan("test_bias", n("test_bias"), bias_conflicting=True, test=True),
    ]


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _render_all(root: Path, stickers: list[StickerRecord], seed: int, progress: bool) -> None:
    glyphs = GlyphCache()
    (root / "meme_set").mkdir()
    records = stickers
    if progress:
        from benchmark.progress import progress_bar

        records = progress_bar(stickers, desc="mojichat stickers", unit="sticker")
    for s in records:
        rng = random.Random(f"mojichat:{seed}:render:{s.sticker_id}")
        image = render_sticker(glyphs, s.expression, STYLE_THEMES[s.pack.theme], s.jitter, s.caption, rng)
        image.save(root / "meme_set" / f"{s.sticker_id}.png")
    _write_json(root / "id2img.json", {str(s.sticker_id): f"{s.sticker_id}.png" for s in stickers})
    _write_json(root / "sticker_meta.json", {str(s.sticker_id): s.meta() for s in stickers})
    rows = []
    for pack in PACKS:
        group = sorted((s for s in stickers if s.pack == pack), key=lambda s: s.emotion_id)
        rows.append(
            (pack.name, pack.held_out, [(str(s.sticker_id), root / "meme_set" / f"{s.sticker_id}.png") for s in group])
        )
    contact_sheet(rows).save(root / "contact_sheet.png", optimize=True)


def _generate(
    root: Path, stickers: list[StickerRecord], seed: int, bias_strength: float, scale: float
) -> dict[str, tuple[SplitPlan, list[Dialogue], list | None]]:
    chooser = StickerChooser(stickers)
    generated: dict[str, tuple[SplitPlan, list[Dialogue], list | None]] = {}
    seen: set[int] = set()
    train_golds: Counter = Counter()
    for plan in split_plans(scale):
        rng = random.Random(f"mojichat:{seed}:{plan.name}:dialogues")
        dialogues = [generate_dialogue(rng, chooser, plan, bias_strength) for _ in range(plan.dialogues)]
        if plan.name == "train":
            seen = used_stickers(dialogues)
            train_golds = gold_counts(dialogues, seen)
        if not plan.test:
            _write_json(
                root / f"{plan.name}.json",
                {f"dialogue {i}": dialogue_turns(d, stickers) for i, d in enumerate(dialogues)},
            )
            generated[plan.name] = (plan, dialogues, None)
            continue
        # Seen-sticker splits draw golds like training does; test_hard's golds come from its own
        # (mostly held-out) personas, so its negatives follow its own gold counts.
        popularity = gold_counts(dialogues, {s.sticker_id for s in stickers}) if plan.held_out_personas else train_golds
        cand_rng = random.Random(f"mojichat:{seed}:{plan.name}:candidates")
        items = make_test_items(dialogues, stickers, cand_rng, popularity, seen)
        _write_json(root / f"{plan.name}_task2.json", [item.task2() for item in items])
        _write_json(root / f"{plan.name}_task3.json", [item.task3() for item in items])
        generated[plan.name] = (plan, dialogues, items)
    return generated


def build_mojichat(
    out_dir: Path, seed: int = 0, bias_strength: float = 0.9, progress: bool = True, scale: float = 1.0
) -> Path:
    """Generate MojiChat into ``out_dir`` (replacing it) and return the path.

    The data is written to a temporary sibling and renamed into place at the end, so an
    interrupted build never leaves a half dataset. ``scale`` shrinks or grows every split
    (tests build small ones); the sticker set does not depend on it.
    """
    if not 0.0 <= bias_strength <= 1.0:
        raise DataError(f"--bias-strength must be between 0 and 1, got {bias_strength}")
    if scale <= 0:
        raise DataError(f"scale must be positive, got {scale}")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        stickers = design_stickers(seed)
        _render_all(tmp, stickers, seed, progress)
        _write_json(tmp / "emotions.json", list(EMOTIONS))
        generated = _generate(tmp, stickers, seed, bias_strength, scale)
        write_card(
            tmp, stickers, generated, seed=seed, bias_strength=bias_strength, scale=scale, version=GENERATOR_VERSION
        )
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def generator_fingerprint() -> str:
    """A hash of the generator's own source: an edited generator never reuses a stale cached build."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:10]


def mojichat_dir(cache_root: Path, seed: int = 0, bias_strength: float = 0.9) -> Path:
    """Cache key: generator version and source hash, seed, bias strength."""
    return Path(cache_root) / f"mojichat-{GENERATOR_VERSION}-{generator_fingerprint()}-seed{seed}-bias{bias_strength}"


def ensure_mojichat(cache_root: Path, seed: int = 0, bias_strength: float = 0.9) -> Path:
    """The cached build for (generator version, seed, bias strength), built on first use.

    A directory only ever appears complete (it is renamed into place), so its presence with
    ``card.json`` means it is ready; a concurrent builder simply loses the final rename race.
    """
    path = mojichat_dir(cache_root, seed, bias_strength)
    if (path / "card.json").is_file():
        return path
    try:
        return build_mojichat(path, seed=seed, bias_strength=bias_strength)
    except OSError:
        if (path / "card.json").is_file():  # another process finished first
            return path
        raise
