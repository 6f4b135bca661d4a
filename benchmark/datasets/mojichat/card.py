"""The dataset card: what was generated, measured from the generated data itself.

``card.json`` holds the numbers; ``DATASET_CARD.md`` presents them with the licence, the
credit, the emoji → emotion table and the contact sheet.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import PIL

from benchmark.datasets.mojichat.inventory import (
    BADGE_EMOJI,
    CAT_EMOJI,
    EMOTIONS,
    FACE_EMOJI,
    FAMILIES,
    GESTURE_EMOJI,
    PACKS,
    STYLE_THEMES,
    PackSpec,
)
from benchmark.datasets.mojichat.language import BIAS_WORDS
from benchmark.datasets.mojichat.render import openmoji_version

CREDIT = (
    "Sticker art: OpenMoji (https://openmoji.org), the open-source emoji and icon project, "
    "licensed under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). "
    "MojiChat's stickers are adaptations (backgrounds, borders, badges, captions) and are "
    "shared under the same licence."
)


def _split_stats(stickers: list, plan: Any, dialogues: list, items: list | None) -> dict[str, Any]:
    """Statistics over the split's samples: every event for dialogue splits, the last event
    (the item) for test splits."""
    events = [d.events[-1] for d in dialogues] if items is not None else [e for d in dialogues for e in d.events]
    biased = [e for e in events if e.bias_word]
    aligned = sum(BIAS_WORDS[e.bias_word] == e.emotion for e in biased)
    stats: dict[str, Any] = {
        "dialogues": len(dialogues),
        "samples": len(events),
        "emotions": {
            e: n for e, n in sorted(Counter(ev.emotion for ev in events).items(), key=lambda kv: EMOTIONS.index(kv[0]))
        },
        "characters": dict(sorted(Counter(stickers[ev.sticker].pack.character for ev in events).items())),
        "bias_word_rate": round(len(biased) / max(1, len(events)), 4),
        "bias_strength_measured": round(aligned / len(biased), 4) if biased else None,
        "distinct_golds": len({e.sticker for e in events}),
    }
    if items is not None:
        stats["gold_unseen_in_train"] = round(
            sum(not i.meta["gold_seen_in_train"] for i in items) / max(1, len(items)), 4
        )
        stats["candidates_per_item"] = len(items[0].candidates) if items else 0
    return stats


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _emoji_table() -> str:
    rows = []
    for e in EMOTIONS:
        rows.append(
            [
                e,
                " ".join(FACE_EMOJI.get(e, ())),
                " ".join(CAT_EMOJI.get(e, ())) or "1F431 + badge" if e in BADGE_EMOJI or e in CAT_EMOJI else "—",
                BADGE_EMOJI.get(e, "—"),
                GESTURE_EMOJI.get(e, "—"),
            ]
        )
    return _table(["emotion", "yellow faces", "cat faces", "animal badge", "person gesture"], rows)


def unseen_characters(packs: tuple[PackSpec, ...]) -> list[str]:
    """Characters that only held-out packs have, by family (as FAMILIES lists them), then pack order."""
    seen = {p.character for p in packs if not p.held_out}
    held_out = [p for p in packs if p.held_out and p.character not in seen]
    held_out.sort(key=lambda p: list(FAMILIES).index(p.family))
    return list(dict.fromkeys(p.character for p in held_out))


def write_card(
    root: Path,
    stickers: list,
    generated: dict,
    seed: int,
    bias_strength: float,
    scale: float,
    version: str,
    size: str = "default",
    packs: tuple[PackSpec, ...] = PACKS,
) -> dict[str, Any]:
    """Write ``card.json`` and ``DATASET_CARD.md``; a default-size card has no ``size`` key, so it
    is byte for byte what it was before sizes existed."""
    splits = {name: _split_stats(stickers, *value) for name, value in generated.items()}
    card: dict[str, Any] = {
        "name": "mojichat",
        "generator_version": version,
        "seed": seed,
        "bias_strength": bias_strength,
        "scale": scale,
        **({} if size == "default" else {"size": size}),
        "emotions": list(EMOTIONS),
        "bias_words": BIAS_WORDS,
        "stickers": {
            "total": len(stickers),
            "held_out": sum(s.pack.held_out for s in stickers),
            "families": dict(sorted(Counter(s.pack.family for s in stickers).items())),
            "characters": dict(sorted(Counter(s.pack.character for s in stickers).items())),
            "emotions": {e: sum(s.emotion == e for s in stickers) for e in EMOTIONS},
            "captions": dict(sorted(Counter(s.caption_kind or "none" for s in stickers).items())),
        },
        "splits": splits,
        "openmoji_version": openmoji_version(),
        "pillow_version": PIL.__version__,
        "license": "CC BY-SA 4.0",
        "credit": CREDIT,
    }
    (root / "card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    (root / "DATASET_CARD.md").write_text(_markdown(card, unseen_characters(packs)), encoding="utf-8")
    return card


def _markdown(card: dict[str, Any], unseen: list[str]) -> str:
    splits = card["splits"]
    overview = _table(
        [
            "split",
            "dialogues",
            "samples",
            "distinct golds",
            "bias-word rate",
            "measured bias strength",
            "golds unseen in train",
        ],
        [
            [
                n,
                s["dialogues"],
                s["samples"],
                s["distinct_golds"],
                s["bias_word_rate"],
                s["bias_strength_measured"],
                s.get("gold_unseen_in_train", "—"),
            ]
            for n, s in splits.items()
        ],
    )
    emotions = _table(
        ["emotion", *splits], [[e, *(s["emotions"].get(e, 0) for s in splits.values())] for e in card["emotions"]]
    )
    characters = sorted({c for s in splits.values() for c in s["characters"]})
    chars = _table(
        ["character", *splits], [[c, *(s["characters"].get(c, 0) for s in splits.values())] for c in characters]
    )
    st = card["stickers"]
    size = f", size: `{card['size']}`" if "size" in card else ""
    rebuild_size = f" --scale {card['size']}" if "size" in card else ""
    themes = ", ".join(
        f"{t.name} ({t.background}, {t.border} border, {t.texture} texture)" for t in STYLE_THEMES.values()
    )
    return f"""# MojiChat — dataset card

MojiChat is stickerbench's embedded dataset: generated offline in seconds, written in the MOD
(DSTC10 Track 1) layout, with a spurious word ↔ sticker-emotion correlation whose strength is
known by construction.

- generator version: `{card["generator_version"]}`, seed: `{card["seed"]}`, scale: `{card["scale"]}`{size}
- bias strength (parameter): `{card["bias_strength"]}`; bias words: {", ".join(f'"{w}" → {e}' for w, e in card["bias_words"].items())}
- OpenMoji {card["openmoji_version"]}, rendered with Pillow {card["pillow_version"]} (renders are byte-identical only with the same versions)
- licence: {card["license"]}
- rebuild: `python -m benchmark data build mojichat --seed {card["seed"]} --bias-strength {card["bias_strength"]}{rebuild_size}`
- caption OCR read rate: `python -m benchmark.datasets.mojichat.ocr_check DIR` (RapidOCR by default)

## Credit

{card["credit"]}

## Splits

{overview}

"Measured bias strength" is the fraction of samples with a bias word whose gold emotion is the
word's emotion. `test_easy` uses stickers seen in training with the training bias; `test_hard`
speakers mostly send stickers of held-out packs (unseen characters {", ".join(unseen)}, and unseen
style themes); `test_bias` always pairs the bias word with a different emotion. Test splits
carry official 11-sticker candidate sets whose negatives are drawn like the split's golds, and
include a sticker of the bias word's emotion whenever the context has a bias word.

### Emotions of the gold stickers

{emotions}

### Characters of the gold stickers

{chars}

## Stickers

{st["total"]} stickers ({st["held_out"]} held out for `test_hard`), families {st["families"]},
captions {st["captions"]}. Style themes: {themes}; each sticker also has its own scale,
rotation and offset. Every sticker's emotion, character, pack, style and caption are in
`sticker_meta.json`.

### Emoji → emotion table (OpenMoji code points)

{_emoji_table()}

Animal faces carry the emotion with a badge next to the face; cats use their own expressive
faces where Unicode has them, a badge otherwise.

![MojiChat contact sheet](contact_sheet.png)
"""
