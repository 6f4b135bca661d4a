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
from benchmark.datasets.mojichat.inventory import EMOTIONS, STYLE_THEMES, PackSpec
from benchmark.datasets.mojichat.render import GlyphCache, contact_sheet, render_sticker
from benchmark.datasets.mojichat.sizes import SIZES, BuildSize, build_size
from benchmark.datasets.mojichat.stickers import StickerRecord, design_stickers
from benchmark.errors import DataError

GENERATOR_VERSION = "1"

# Dialogues per split of the default build at scale 1.0 (see sizes.py).
SPLIT_SIZES = dict(SIZES["default"].dialogues)


def split_plans(scale: float, size: BuildSize = SIZES["default"]) -> list[SplitPlan]:
    def n(split: str) -> int:
        return size.dialogues_at(split, scale)

    return [
        SplitPlan("train", n("train")),
        SplitPlan("validation", n("validation")),
        SplitPlan("test_easy", n("test_easy"), test=True),
        SplitPlan("test_hard", n("test_hard"), held_out_personas=True, test=True),
        SplitPlan("test_bias", n("test_bias"), bias_conflicting=True, test=True),
    ]


def _write_json(path: Path, obj: object, compact: bool = False) -> None:
    """Indented, or (``compact``: the dialogue and task files of a large build) on one line,
    which json writes several times faster and a third smaller."""
    if compact:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def _render_all(
    root: Path, stickers: list[StickerRecord], seed: int, progress: bool, packs: tuple[PackSpec, ...]
) -> None:
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
    for pack in packs:
        group = sorted((s for s in stickers if s.pack == pack), key=lambda s: s.emotion_id)
        rows.append(
            (pack.name, pack.held_out, [(str(s.sticker_id), root / "meme_set" / f"{s.sticker_id}.png") for s in group])
        )
    contact_sheet(rows).save(root / "contact_sheet.png", optimize=True)


def _dialogues(
    rng: random.Random, chooser: StickerChooser, plan: SplitPlan, bias_strength: float, progress: bool
) -> list[Dialogue]:
    from benchmark.progress import progress_bar

    dialogues: list[Dialogue] = []
    with progress_bar(
        total=plan.dialogues, desc=f"mojichat {plan.name}", unit="dialogue", disable=not progress, leave=False
    ) as bar:
        for start in range(0, plan.dialogues, 1000):
            chunk = min(1000, plan.dialogues - start)
            dialogues += [generate_dialogue(rng, chooser, plan, bias_strength) for _ in range(chunk)]
            bar.update(chunk)
    return dialogues


def _generate(
    root: Path,
    stickers: list[StickerRecord],
    seed: int,
    bias_strength: float,
    scale: float,
    size: BuildSize = SIZES["default"],
    progress: bool = False,
) -> dict[str, tuple[SplitPlan, list[Dialogue], list | None]]:
    chooser = StickerChooser(stickers, size.packs)
    compact = size.name != "default"
    generated: dict[str, tuple[SplitPlan, list[Dialogue], list | None]] = {}
    seen: set[int] = set()
    train_golds: Counter = Counter()
    for plan in split_plans(scale, size):
        rng = random.Random(f"mojichat:{seed}:{plan.name}:dialogues")
        dialogues = _dialogues(rng, chooser, plan, bias_strength, progress)
        if plan.name == "train":
            seen = used_stickers(dialogues)
            train_golds = gold_counts(dialogues, seen)
        if not plan.test:
            _write_json(
                root / f"{plan.name}.json",
                {f"dialogue {i}": dialogue_turns(d, stickers) for i, d in enumerate(dialogues)},
                compact,
            )
            generated[plan.name] = (plan, dialogues, None)
            continue
        # Seen-sticker splits draw golds like training does; test_hard's golds come from its own
        # (mostly held-out) personas, so its negatives follow its own gold counts.
        popularity = gold_counts(dialogues, {s.sticker_id for s in stickers}) if plan.held_out_personas else train_golds
        cand_rng = random.Random(f"mojichat:{seed}:{plan.name}:candidates")
        items = make_test_items(dialogues, stickers, cand_rng, popularity, seen)
        _write_json(root / f"{plan.name}_task2.json", [item.task2() for item in items], compact)
        _write_json(root / f"{plan.name}_task3.json", [item.task3() for item in items], compact)
        generated[plan.name] = (plan, dialogues, items)
    return generated


def build_mojichat(
    out_dir: Path,
    seed: int = 0,
    bias_strength: float = 0.9,
    progress: bool = True,
    scale: float = 1.0,
    size: str = "default",
) -> Path:
    """Generate MojiChat into ``out_dir`` (replacing it) and return the path.

    The data is written to a temporary sibling and renamed into place at the end, so an
    interrupted build never leaves a half dataset. ``size`` is ``default`` (the embedded
    dataset) or ``mod`` (MOD's shape: 307 stickers, ~150k training samples; see sizes.py);
    ``scale`` shrinks or grows every split of that size (tests build small ones); the sticker set
    depends on the size only.
    """
    if not 0.0 <= bias_strength <= 1.0:
        raise DataError(f"--bias-strength must be between 0 and 1, got {bias_strength}")
    if scale <= 0:
        raise DataError(f"scale must be positive, got {scale}")
    spec = build_size(size)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        stickers = design_stickers(seed, spec.packs)
        _render_all(tmp, stickers, seed, progress, spec.packs)
        _write_json(tmp / "emotions.json", list(EMOTIONS))
        generated = _generate(tmp, stickers, seed, bias_strength, scale, spec, progress)
        write_card(
            tmp,
            stickers,
            generated,
            seed=seed,
            bias_strength=bias_strength,
            scale=scale,
            version=GENERATOR_VERSION,
            size=size,
            packs=spec.packs,
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


def mojichat_dir(cache_root: Path, seed: int = 0, bias_strength: float = 0.9, size: str = "default") -> Path:
    """Cache key: size (named unless default), generator version and source hash, seed, bias strength."""
    name = "mojichat" if build_size(size).name == "default" else f"mojichat-{size}"
    return Path(cache_root) / f"{name}-{GENERATOR_VERSION}-{generator_fingerprint()}-seed{seed}-bias{bias_strength}"


def ensure_mojichat(cache_root: Path, seed: int = 0, bias_strength: float = 0.9, size: str = "default") -> Path:
    """The cached build for (size, generator version, seed, bias strength), built on first use.

    A directory only ever appears complete (it is renamed into place), so its presence with
    ``card.json`` means it is ready; a concurrent builder simply loses the final rename race.
    """
    path = mojichat_dir(cache_root, seed, bias_strength, size)
    if (path / "card.json").is_file():
        return path
    try:
        if size == "default":
            return build_mojichat(path, seed=seed, bias_strength=bias_strength)
        return build_mojichat(path, seed=seed, bias_strength=bias_strength, size=size)
    except OSError:
        if (path / "card.json").is_file():  # another process finished first
            return path
        raise
