"""A tiny MOD-layout dataset drawn from scratch: for tests and the conformance kit.

It is deliberately MOD-shaped (zero-padded ids in dialogues, unpadded in id2img.json, sticker
"0" in use, animated GIFs, task-2/task-3 test files) so that every loader path runs. Each
sticker's shape follows its emotion and the emotional word of the turn names it, so a selector
that learns anything beats chance. It takes milliseconds to write.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

EMOTIONS = ["happiness", "sadness", "anger", "surprise"]
WORDS = {
    "happiness": ["great", "yay", "love it"],
    "sadness": ["sad", "miss you", "so down"],
    "anger": ["furious", "hate this", "annoyed"],
    "surprise": ["wow", "no way", "really"],
}
NUM_STICKERS = 12


def sticker_emotion(sticker: int) -> str:
    return EMOTIONS[sticker % len(EMOTIONS)]


def _draw_sticker(sticker: int) -> Image.Image:
    rng = random.Random(sticker)
    img = Image.new("RGB", (48, 48), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    shape = sticker % len(EMOTIONS)
    box = (8, 8, 40, 40)
    [draw.ellipse, draw.rectangle, draw.chord, draw.pieslice][shape](
        box, fill=tuple(rng.randrange(256) for _ in range(3)), **({"start": 0, "end": 200} if shape >= 2 else {})
    )
    return img


def _turn(speaker: int, text: str, sticker: int | None = None) -> dict:
    turn = {"speaker_id": f"[speaker{speaker}]", "txt": text}
    if sticker is not None:
        turn["img_id"] = f"{sticker:03d}"
        turn["emotion_id"] = EMOTIONS.index(sticker_emotion(sticker))
    return turn


def _dialogue(rng: random.Random) -> list[dict]:
    turns = [_turn(1, rng.choice(["hi", "hello there", "hey"]))]
    for i in range(rng.randint(1, 3)):
        sticker = rng.randrange(NUM_STICKERS)
        emotion = sticker_emotion(sticker)
        turns.append(_turn(2 - i % 2, f"{rng.choice(WORDS[emotion])} today", sticker))
        turns.append(_turn(1 + i % 2, rng.choice(["ok", "i see", "and then"])))
    return turns


def write_tiny_mod(root: Path, seed: int = 0, dialogues: int = 30, test_items: int = 12) -> Path:
    rng = random.Random(seed)
    (root / "meme_set").mkdir(parents=True, exist_ok=True)
    id2img = {}
    for s in range(NUM_STICKERS):
        name = f"{s}.png" if s % 3 else f"{s}.gif"  # every third one animated, as in MOD
        if name.endswith(".gif"):
            second_frame = Image.new("RGB", (48, 48), "blue")
            _draw_sticker(s).save(root / "meme_set" / name, save_all=True, append_images=[second_frame])
        else:
            _draw_sticker(s).save(root / "meme_set" / name)
        id2img[str(s)] = name
    (root / "id2img.json").write_text(json.dumps(id2img))
    (root / "emotions.json").write_text(json.dumps(EMOTIONS))
    for split, count in (("train", dialogues), ("validation", dialogues // 3)):
        data = {f"dialogue {i}": _dialogue(rng) for i in range(count)}
        (root / f"{split}.json").write_text(json.dumps(data))
    task2, task3 = [], []
    for _ in range(test_items):
        history = _dialogue(rng)[:-1]
        gold_turn = history[-1]
        gold = int(gold_turn["img_id"])
        others = [s for s in range(NUM_STICKERS) if s != gold]
        cands = rng.sample(others, 5) + [gold]
        rng.shuffle(cands)
        text_turn = {k: v for k, v in gold_turn.items() if k in ("speaker_id", "txt")}
        task2.append(
            {
                "history": history[:-1] + [text_turn],
                "candidate": {"speaker_id": gold_turn["speaker_id"], "set": [f"{c:03d}" for c in cands]},
                "answer": {"speaker_id": gold_turn["speaker_id"], "img_id": f"{gold:03d}"},
            }
        )
        task3.append(
            {
                "history": history[:-1] + [{**text_turn, "img_id": f"{gold:03d}"}],
                "answer": {"speaker_id": gold_turn["speaker_id"], "emotion_id": gold_turn["emotion_id"]},
            }
        )
    (root / "test_easy_task2.json").write_text(json.dumps(task2))
    (root / "test_easy_task3.json").write_text(json.dumps(task3))
    return root
