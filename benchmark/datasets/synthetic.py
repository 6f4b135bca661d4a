"""A tiny MOD-layout dataset drawn from scratch: for tests and the conformance kit.

It is deliberately MOD-shaped (zero-padded ids in dialogues, unpadded in id2img.json, sticker
"0" in use, animated GIFs, task-2/task-3 test files) so that every loader path runs. Each
sticker's shape follows its emotion and the emotional word of the turn names it, so a selector
that learns anything beats chance. It takes milliseconds to write.

:func:`write_tiny_mod` writes the preprocessed layout (``id2img.json``, ``train.json``, ...);
:func:`write_tiny_release` the organisers' release as shipped (``img2id.json`` with non-ASCII file
names, ``emotion_dict.json``, ``e_``/``c_`` files, official validation sets, a blind test split).
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


def _write_images(root: Path, name_of) -> dict[int, str]:
    (root / "meme_set").mkdir(parents=True, exist_ok=True)
    names = {}
    for s in range(NUM_STICKERS):
        name = name_of(s)
        if name.endswith(".gif"):
            second_frame = Image.new("RGB", (48, 48), "blue")
            _draw_sticker(s).save(root / "meme_set" / name, save_all=True, append_images=[second_frame])
        else:
            _draw_sticker(s).save(root / "meme_set" / name)
        names[s] = name
    return names


def _task_items(rng: random.Random, count: int, size: int, blind: bool = False, sort: bool = False):
    """``count`` (task-2, task-3) item pairs with ``size`` candidates; blind ones have empty answers."""
    task2, task3 = [], []
    for _ in range(count):
        history = _dialogue(rng)[:-1]
        gold_turn = history[-1]
        gold = int(gold_turn["img_id"])
        others = [s for s in range(NUM_STICKERS) if s != gold]
        cands = rng.sample(others, size - 1) + [gold]
        if sort:
            cands.sort()  # as the release's sets are
        else:
            rng.shuffle(cands)
        text_turn = {k: v for k, v in gold_turn.items() if k in ("speaker_id", "txt")}
        speaker = gold_turn["speaker_id"]
        task2.append(
            {
                "history": history[:-1] + [text_turn],
                "candidate": {"speaker_id": speaker, "set": [f"{c:03d}" for c in cands]},
                "answer": {"speaker_id": speaker, "img_id": "" if blind else f"{gold:03d}"},
            }
        )
        task3.append(
            {
                "history": history[:-1] + [{**text_turn, "img_id": f"{gold:03d}"}],
                "answer": {"speaker_id": speaker, "emotion_id": "" if blind else gold_turn["emotion_id"]},
            }
        )
    return task2, task3


def _write_tasks(root: Path, stem: str, items) -> None:
    for task, data in zip(("task2", "task3"), items):
        (root / f"{stem}_{task}.json").write_text(json.dumps(data, ensure_ascii=False))


def write_tiny_mod(root: Path, seed: int = 0, dialogues: int = 30, test_items: int = 12) -> Path:
    rng = random.Random(seed)
    names = _write_images(root, lambda s: f"{s}.png" if s % 3 else f"{s}.gif")  # every third one animated
    (root / "id2img.json").write_text(json.dumps({str(s): name for s, name in names.items()}))
    (root / "emotions.json").write_text(json.dumps(EMOTIONS))
    for split, count in (("train", dialogues), ("validation", dialogues // 3)):
        data = {f"dialogue {i}": _dialogue(rng) for i in range(count)}
        (root / f"{split}.json").write_text(json.dumps(data))
    _write_tasks(root, "test_easy", _task_items(rng, test_items, 6))
    return root


# (language prefix, split file stem) -> dialogues or task items in write_tiny_release
RELEASE_SIZES = {
    ("e", "train"): 30,
    ("e", "val"): 9,
    ("e", "val_task"): 8,
    ("e", "test_easy"): 7,
    ("e", "test_hard"): 6,
    ("c", "train"): 12,
    ("c", "val"): 5,
    ("c", "test_easy"): 4,
}


def write_tiny_release(root: Path, seed: int = 0) -> Path:
    """The organisers' release layout, both languages in one directory: img2id.json (file name ->
    zero-padded id, one int id), emotion_dict.json, ocr.json (MMBERT's shape and plain text),
    e_/c_ train and val dialogues, e_val_task1/2/3 (11-sticker sets), annotated test_easy and
    blind e_test_hard task-2/3 files. Sizes are :data:`RELEASE_SIZES`."""
    rng = random.Random(seed)
    names = _write_images(root, lambda s: f"表情{s}.gif" if s % 3 == 0 else f"sticker_ü{s}.png")
    (root / "img2id.json").write_text(
        json.dumps({name: (s if s == 5 else f"{s:03d}") for s, name in names.items()}, ensure_ascii=False)
    )
    (root / "emotion_dict.json").write_text(json.dumps({e: i for i, e in reversed(list(enumerate(EMOTIONS)))}))
    ocr = {str(s): {"ocr": f"text {s}", "name": names[s]} if s % 2 else f"text {s}" for s in names}
    (root / "ocr.json").write_text(json.dumps(ocr, ensure_ascii=False))
    for lang in ("e", "c"):
        for stem in ("train", "val"):
            data = {f"dialogue {i}": _dialogue(rng) for i in range(RELEASE_SIZES[lang, stem])}
            (root / f"{lang}_{stem}.json").write_text(json.dumps(data))
        _write_tasks(root, f"{lang}_test_easy", _task_items(rng, RELEASE_SIZES[lang, "test_easy"], 11, sort=True))
    val2, val3 = _task_items(rng, RELEASE_SIZES["e", "val_task"], 11, sort=True)
    _write_tasks(root, "e_val", (val2, val3))
    task1 = [{"history": t["history"][:-1], "answer": t["history"][-1]} for t in val2]
    (root / "e_val_task1.json").write_text(json.dumps(task1))
    _write_tasks(root, "e_test_hard", _task_items(rng, RELEASE_SIZES["e", "test_hard"], 11, blind=True, sort=True))
    return root
