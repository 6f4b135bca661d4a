"""Dialogues, personas, the bias knob, splits and official candidate sets.

Every dialogue has two speakers. Each sticker is an *event*: a speaker says an emotional
utterance (which fixes the emotion) and sends a sticker with it or a turn or two later. The
sticker is drawn from the speaker's persona: a preferred pack (one character family in one
style) that has at most one sticker per emotion, a fallback yellow-face pack for emotions the
pack lacks, and an occasional sticker from anywhere. So the text decides the emotion, an
earlier sticker of the same speaker reveals the preference, and together they pin down the
gold — the two sources of evidence the CKS paper names.

The bias knob acts on the last event of a dialogue: with probability ``BIAS_RATE`` a bias word
is dropped into a neutral turn of that event, and with probability ``bias_strength`` the
event's emotion is then the word's emotion (otherwise any other emotion). In ``test_bias`` the
emotion always differs from the word's.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmark.datasets.mojichat.inventory import EMOTIONS, PACKS, PackSpec, smiley_packs
from benchmark.datasets.mojichat.language import BIAS_WORDS, TOPICS, TopicText, with_bias_word
from benchmark.datasets.mojichat.stickers import StickerRecord

SPEAKERS = ("[speaker1]", "[speaker2]")
BIAS_RATE = 0.4
PRIMARY_RATE = 0.85  # how often a persona sends from its preferred pack when it can
ANY_PACK_RATE = 0.05  # how often it sends any seen pack's sticker; otherwise its fallback pack
TWO_EVENT_RATE = 0.45  # how often a dialogue has two sticker events rather than one
NUM_CANDIDATES = 11
MAX_TURNS = 8


@dataclass(frozen=True)
class SplitPlan:
    """How one split is generated: its size, its personas' packs and its bias regime."""

    name: str
    dialogues: int
    held_out_personas: bool = False
    bias_conflicting: bool = False
    test: bool = False


@dataclass(frozen=True)
class Persona:
    primary: str
    fallback: str


@dataclass(frozen=True)
class Event:
    speaker: str
    emotion: str
    sticker: int
    emotional_turn: int
    sticker_turn: int
    bias_word: str | None = None

    def meta(self, topic: str, stickers: list[StickerRecord]) -> dict[str, Any]:
        """Per-sample facts for analysis (never shown to selectors); ``stickers`` is indexed by id."""
        bias_emotion = BIAS_WORDS.get(self.bias_word) if self.bias_word else None
        record = stickers[self.sticker]
        return {
            "topic": topic,
            "emotional_turn": self.emotional_turn,
            "bias_word": self.bias_word,
            "bias_emotion": bias_emotion,
            "bias_aligned": None if bias_emotion is None else bias_emotion == self.emotion,
            "pack": record.pack.name,
            "character": record.pack.character,
        }


@dataclass
class Dialogue:
    topic: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class StickerChooser:
    """Stickers by (pack, emotion), and the persona's choice among them; ``packs`` are the
    build's packs, in the order personas draw from."""

    def __init__(self, stickers: list[StickerRecord], packs: tuple[PackSpec, ...] = PACKS):
        self.stickers = stickers
        self.by_pack = {(s.pack.name, s.emotion): s.sticker_id for s in stickers}
        self.seen_packs = [p.name for p in packs if not p.held_out]
        self.held_out_packs = [p.name for p in packs if p.held_out]
        self.fallback_packs = smiley_packs(packs)

    def persona(self, rng: random.Random, held_out: bool) -> Persona:
        return Persona(
            rng.choice(self.held_out_packs if held_out else self.seen_packs), rng.choice(self.fallback_packs)
        )

    def choose(self, persona: Persona, emotion: str, rng: random.Random) -> int:
        r = rng.random()
        if r >= 1.0 - ANY_PACK_RATE:
            packs = [p for p in self.seen_packs if (p, emotion) in self.by_pack]
            return self.by_pack[rng.choice(packs), emotion]
        if r < PRIMARY_RATE and (persona.primary, emotion) in self.by_pack:
            return self.by_pack[persona.primary, emotion]
        return self.by_pack[persona.fallback, emotion]


def _event_emotion(rng: random.Random, plan: SplitPlan, bias_strength: float, last: bool) -> tuple[str, str | None]:
    """The emotion of an event and its bias word (only the last event of a dialogue has one)."""
    if not last or not (plan.bias_conflicting or rng.random() < BIAS_RATE):
        return rng.choice(EMOTIONS), None
    word = rng.choice(sorted(BIAS_WORDS))
    if not plan.bias_conflicting and rng.random() < bias_strength:
        return BIAS_WORDS[word], word
    return rng.choice([e for e in EMOTIONS if e != BIAS_WORDS[word]]), word


def _shape(rng: random.Random, needs_statement: list[bool]) -> list[tuple[bool, bool, bool]]:
    """Per event: (neutral statement first, other speaker replies, sticker sent a turn later).

    An event that must host a bias word but has no neutral turn of its own gets a statement."""
    while True:
        shape = [(need or rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.4) for need in needs_statement]
        turns = 1 + sum(1 + pre + (pre and reply) + 2 * late for pre, reply, late in shape)
        if turns <= MAX_TURNS:
            return shape


def generate_dialogue(rng: random.Random, chooser: StickerChooser, plan: SplitPlan, bias_strength: float) -> Dialogue:
    topic = rng.choice(sorted(TOPICS))
    text = TopicText(topic, rng)
    num_events = 2 if rng.random() < TWO_EVENT_RATE else 1
    speakers = [SPEAKERS[1] if rng.random() < 0.6 else SPEAKERS[0]]
    if num_events == 2:
        speakers.append(speakers[0] if rng.random() < 0.6 else SPEAKERS[1 - SPEAKERS.index(speakers[0])])
    feelings = [_event_emotion(rng, plan, bias_strength, last=k == num_events - 1) for k in range(num_events)]
    shape = _shape(rng, [k > 0 and word is not None for k, (_, word) in enumerate(feelings)])
    personas = {s: chooser.persona(rng, held_out=plan.held_out_personas and s == speakers[-1]) for s in SPEAKERS}

    dialogue = Dialogue(topic)
    turns = dialogue.turns

    def say(speaker: str, txt: str) -> int:
        turns.append({"speaker_id": speaker, "txt": txt})
        return len(turns) - 1

    say(SPEAKERS[0], text.opener())
    for k, (speaker, (emotion, bias_word), (pre, reply, late)) in enumerate(zip(speakers, feelings, shape)):
        other = SPEAKERS[1 - SPEAKERS.index(speaker)]
        neutral = [0] if k == 0 else []
        if pre:
            neutral.append(say(speaker, text.statement()))
            if reply:
                neutral.append(say(other, text.reply()))
        emotional = say(speaker, text.emotional(emotion))
        sticker_turn = emotional
        if late:
            neutral.append(say(other, text.reply()))
            sticker_turn = say(speaker, text.follow_up())
            neutral.append(sticker_turn)
        if bias_word:
            target = turns[rng.choice(neutral)]
            target["txt"] = with_bias_word(target["txt"], bias_word, rng)
        sticker = chooser.choose(personas[speaker], emotion, rng)
        dialogue.events.append(Event(speaker, emotion, sticker, emotional, sticker_turn, bias_word))
    return dialogue


def _sticker_turn(turn: dict, sticker: int, emotion: str | None = None, meta: dict | None = None) -> dict:
    out = {**turn, "img_id": f"{sticker:03d}"}
    if emotion is not None:
        out["emotion_id"] = EMOTIONS.index(emotion)
    if meta is not None:
        out["meta"] = meta
    return out


def dialogue_turns(dialogue: Dialogue, stickers: list[StickerRecord]) -> list[dict]:
    """The raw MOD form: sticker-bearing turns carry ``img_id``, ``emotion_id`` and ``meta``."""
    turns = [dict(t) for t in dialogue.turns]
    for event in dialogue.events:
        turns[event.sticker_turn] = _sticker_turn(
            turns[event.sticker_turn], event.sticker, event.emotion, event.meta(dialogue.topic, stickers)
        )
    return turns


@dataclass(frozen=True)
class TestItem:
    """One test sample: the history up to the last event's sticker, and its candidate set."""

    history: list[dict]
    speaker: str
    gold: int
    emotion: str
    candidates: tuple[int, ...]
    meta: dict[str, Any]

    def task2(self) -> dict:
        return {
            "history": self.history,
            "candidate": {"speaker_id": self.speaker, "set": [f"{c:03d}" for c in self.candidates]},
            "answer": {"speaker_id": self.speaker, "img_id": f"{self.gold:03d}"},
            "meta": self.meta,
        }

    def task3(self) -> dict:
        history = [*self.history[:-1], _sticker_turn(self.history[-1], self.gold)]
        return {
            "history": history,
            "answer": {"speaker_id": self.speaker, "emotion_id": EMOTIONS.index(self.emotion)},
            "meta": self.meta,
        }


def _weighted_sample(rng: random.Random, pool: dict[int, float], k: int) -> list[int]:
    """``k`` distinct ids, each draw proportional to its weight among those not yet drawn."""
    pool = dict(pool)
    picks = []
    for _ in range(k):
        ids = sorted(pool)
        pick = rng.choices(ids, weights=[pool[i] for i in ids])[0]
        picks.append(pick)
        del pool[pick]
    return picks


def candidate_set(
    rng: random.Random, gold: int, popularity: dict[int, float], stickers: list[StickerRecord], bias_emotion: str | None
) -> tuple[int, ...]:
    """Gold + 10 negatives drawn like golds are (so popularity says nothing), gold at a uniform
    position. When the context has a bias word, at least one candidate shows the word's
    emotion: the shortcut is always on offer, so relying on it costs accuracy in ``test_bias``."""
    negatives = _weighted_sample(rng, {s: w for s, w in popularity.items() if s != gold}, NUM_CANDIDATES - 1)
    if bias_emotion and all(stickers[s].emotion != bias_emotion for s in [gold, *negatives]):
        lures = {s: w for s, w in popularity.items() if stickers[s].emotion == bias_emotion}
        negatives[rng.randrange(len(negatives))] = _weighted_sample(rng, lures, 1)[0]
    negatives.insert(rng.randrange(NUM_CANDIDATES), gold)
    return tuple(negatives)


def make_test_items(
    dialogues: list[Dialogue], stickers: list[StickerRecord], rng: random.Random, popularity: Counter, seen: set[int]
) -> list[TestItem]:
    """The last event of each dialogue becomes one item. Negatives are drawn in proportion to
    ``popularity`` (how often each allowed sticker is a gold where this split's golds come
    from, plus one half so rare stickers still appear), so a popularity prior is at chance."""
    weights = {s: popularity[s] + 0.5 for s in sorted(popularity)}
    items = []
    for dialogue in dialogues:
        event = dialogue.events[-1]
        turns = dialogue_turns(dialogue, stickers)[: event.sticker_turn + 1]
        history = [{k: v for k, v in t.items() if k in ("speaker_id", "txt", "img_id")} for t in turns]
        history[-1] = {"speaker_id": event.speaker, "txt": turns[-1]["txt"]}
        meta = {**event.meta(dialogue.topic, stickers), "gold_seen_in_train": event.sticker in seen}
        candidates = candidate_set(rng, event.sticker, weights, stickers, meta["bias_emotion"])
        items.append(TestItem(history, event.speaker, event.sticker, event.emotion, candidates, meta))
    return items


def gold_counts(dialogues: list[Dialogue], allowed: set[int]) -> Counter:
    """How often each allowed sticker is a gold (zero counts kept, so every one can be drawn)."""
    counts = Counter({s: 0 for s in allowed})
    counts.update(e.sticker for d in dialogues for e in d.events if e.sticker in allowed)
    return counts


def used_stickers(dialogues: list[Dialogue]) -> set[int]:
    return {e.sticker for d in dialogues for e in d.events}
