"""Phrase banks and templates for MojiChat dialogues.

Three kinds of text make a dialogue: neutral small talk about a topic, one *emotional
utterance* per sticker that decides the sticker's emotion, and (sometimes) a *bias word* — an
interjection dropped into a neutral turn. Cue words deliberately cross emotions: "not fun at
all" is sadness, "sick and tired of" is anger, "not scared at all" is pride, so a bag of cue
words is not enough; negation and intensifiers must be read ("good" is happiness but "too
good to be true" is surprise; "sweet" is love but "way too sweet, I felt sick" is disgust).
Bias words never occur in the emotional phrase banks or captions, so they carry no causal
information about the emotion.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# fmt: off
# Phrase banks are tables: one entry per line would triple the file without making it clearer.
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "work": {
        "thing": ("the meeting", "my new project", "the deadline", "the quarterly report", "my performance review", "the client call"),
        "open": ("how was work today?", "are you still at the office?", "did you talk to your manager?", "busy day at work?"),
        "say": ("my boss moved {thing} to {day}", "I have to finish {thing} by {day}", "we spent the whole morning on {thing}", "{thing} took three hours", "they announced {thing} during lunch"),
    },
    "study": {
        "thing": ("the exam", "my thesis", "the group assignment", "the math test", "my essay", "the lab report"),
        "open": ("how did studying go?", "when is your exam?", "did you get your grades?", "are you in the library?"),
        "say": ("the professor talked about {thing} all class", "I got the results of {thing} {day}", "we have {thing} due {day}", "I stayed up reading for {thing}", "my study group met about {thing}"),
    },
    "food": {
        "thing": ("the new ramen place", "my cooking experiment", "the leftover pizza", "dinner at my aunt's", "the street tacos", "that fusion restaurant"),
        "open": ("what did you eat today?", "have you had lunch?", "any plans for dinner?", "did you try that place?"),
        "say": ("we went to {thing} {day}", "I tried {thing} with my roommate", "{thing} was the whole plan for {day}", "my sister recommended {thing}", "I ordered from {thing} again"),
    },
    "travel": {
        "thing": ("my flight", "the road trip", "the hotel", "the train ride", "our hiking trip", "the beach weekend"),
        "open": ("how was the trip?", "are you back home yet?", "where are you going next?", "did you land already?"),
        "say": ("{thing} was booked for {day}", "we planned {thing} for weeks", "my cousin organised {thing}", "{thing} got rescheduled to {day}", "I packed for {thing} last night"),
    },
    "pets": {
        "thing": ("my cat", "the new puppy", "my neighbour's parrot", "our hamster", "the dog next door", "my goldfish"),
        "open": ("how is your pet doing?", "did you take the dog out?", "any news about the puppy?", "is your cat okay?"),
        "say": ("{thing} knocked over a plant {day}", "I took {thing} to the vet {day}", "{thing} learned a new trick", "{thing} slept on my keyboard", "we bought a toy for {thing}"),
    },
    "weekend": {
        "thing": ("the party", "the concert", "my cousin's wedding", "the football match", "the movie night", "the escape room"),
        "open": ("what did you do this weekend?", "any plans for {day}?", "how was your weekend?", "are you free {day}?"),
        "say": ("we went to {thing} {day}", "my friends invited me to {thing}", "{thing} started at nine", "I bought tickets for {thing}", "{thing} was at my friend's place"),
    },
    "family": {
        "thing": ("my mom's visit", "the family dinner", "my brother's graduation", "grandma's birthday", "the family group chat", "my sister's news"),
        "open": ("how is your family?", "did you call your parents?", "are you visiting home?", "how was the family thing?"),
        "say": ("{thing} was on {day}", "everyone talked about {thing}", "I helped plan {thing}", "{thing} took the whole evening", "my dad brought up {thing} again"),
    },
    "shopping": {
        "thing": ("the new phone", "my online order", "the sneakers", "the sale at the mall", "the secondhand bike", "my new jacket"),
        "open": ("did you buy it?", "how was the mall?", "did your package arrive?", "still looking for a new phone?"),
        "say": ("I picked up {thing} {day}", "{thing} arrived this morning", "I compared prices for {thing} all week", "the shop held {thing} for me", "I returned {thing} {day}"),
    },
    "health": {
        "thing": ("my dentist appointment", "the gym class", "my morning run", "the yoga session", "the check-up", "my new diet"),
        "open": ("how are you feeling?", "did you go to the gym?", "how was the doctor?", "still doing the morning runs?"),
        "say": ("I had {thing} {day}", "{thing} was at eight", "my friend joined me for {thing}", "I signed up for {thing}", "{thing} lasted an hour"),
    },
    "games": {
        "thing": ("the ranked match", "the new level", "the board game night", "the puzzle", "the tournament", "the boss fight"),
        "open": ("are you playing tonight?", "did you finish the game?", "how was the tournament?", "want to play later?"),
        "say": ("we played {thing} until midnight", "{thing} came out {day}", "my team entered {thing}", "I tried {thing} five times", "{thing} took us two hours"),
    },
}
DAYS = ("today", "yesterday", "on Monday", "on Friday", "this morning", "last night", "next week", "tomorrow")
REPLIES = (
    "oh really?", "what happened?", "tell me everything", "and then?", "I see", "how come?",
    "wait, seriously?", "go on", "okay", "that's a lot", "hmm, and?", "right",
)
FOLLOW_UPS = (
    "anyway, that's my day", "just wanted to tell someone", "so yeah", "that's all for now",
    "I'll tell you more later", "we'll see how it goes", "anyway, how are you?", "long story",
    "that's the update", "talk later?",
)

INTENSIFIERS = ("so", "really", "super", "totally", "extremely", "pretty", "a bit", "kind of")

# Emotion → templates. ``{int}`` is an intensifier, ``{thing}`` the topic's object.
EMOTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "happiness": (
        "I'm {int} happy about {thing}", "{thing} went {int} well", "best day ever, {thing} was perfect",
        "I can't stop smiling about {thing}", "I'm not sad at all, {thing} was great", "{thing} made me {int} cheerful",
        "honestly {thing} was a blast", "I'm in such a good mood after {thing}", "{thing}? not bad at all, I loved every minute",
        "{thing} was {int} good", "{thing} was nice and quiet, just what I needed", "{thing} was easy and relaxing",
    ),
    "sadness": (
        "I'm {int} sad about {thing}", "{thing} was not fun at all", "I feel {int} down after {thing}",
        "I'm not happy about {thing} at all", "I cried after {thing}", "{thing} left me {int} heartbroken",
        "nothing went right with {thing}", "I miss how things were before {thing}", "{thing} made me feel {int} lonely",
    ),
    "anger": (
        "I'm {int} angry about {thing}", "{thing} makes me {int} furious", "I'm sick and tired of {thing}",
        "{thing} is not okay, they lied to me", "I'm {int} mad at them for {thing}", "who do they think they are, {thing} again",
        "{thing} drove me up the wall", "I'm {int} annoyed with {thing}", "I could scream about {thing}",
    ),
    "surprise": (
        "no way, {thing} actually happened", "I did not expect {thing} at all", "I'm {int} surprised by {thing}",
        "I can't believe {thing}", "wait, {thing} was a surprise party?", "{thing} totally caught me off guard",
        "out of nowhere {thing} changed", "{thing} shocked everyone", "I was {int} amazed by {thing}",
        "{thing} was too good to be true",
    ),
    "fear": (
        "I'm {int} scared of {thing}", "{thing} terrifies me", "I'm {int} nervous about {thing}",
        "what if {thing} goes wrong", "I'm not brave enough for {thing}", "{thing} gives me chills",
        "I'm {int} afraid {thing} will fail", "my hands are shaking because of {thing}", "I'm {int} worried about {thing}",
        "{thing} was way too quiet, something felt off",
    ),
    "disgust": (
        "{thing} was {int} gross", "eww, {thing} smelled awful", "{thing} made me feel sick",
        "I can't stand {thing}, it's disgusting", "{thing} was not tasty at all, it was rotten", "yuck, {thing} was filthy",
        "{thing} was {int} nasty", "I almost threw up at {thing}", "{thing} was revolting",
        "{thing} was way too sweet, I felt sick",
    ),
    "love": (
        "I {int} love {thing}", "{thing} means the world to me", "I adore {thing}",
        "you're the best, thanks for {thing}", "my heart melts when I think of {thing}", "I'm falling in love with {thing}",
        "{thing} is {int} precious to me", "sending hugs, {thing} was sweet", "I'm so fond of {thing}",
    ),
    "curiosity": (
        "I'm {int} curious about {thing}", "tell me more about {thing}", "how does {thing} even work?",
        "I'm dying to know about {thing}", "I wonder what {thing} will be like", "what's the story behind {thing}?",
        "I'm {int} interested in {thing}", "can you explain {thing} to me?", "I want to find out about {thing}",
    ),
    "shyness": (
        "I'm {int} embarrassed about {thing}", "stop it, you're making me blush about {thing}", "I'm too shy to talk about {thing}",
        "oh no, everyone saw me at {thing}", "I turned red during {thing}", "don't tell anyone about {thing}",
        "I'm {int} bashful about {thing}", "I hid behind my friend at {thing}", "please don't look at me after {thing}",
    ),
    "tiredness": (
        "I'm {int} tired after {thing}", "I'm exhausted from {thing}", "I need a nap after {thing}",
        "I have no energy left after {thing}", "I can barely keep my eyes open after {thing}", "I'm not awake at all after {thing}",
        "I'm {int} sleepy after {thing}", "{thing} wore me out", "I'm running on two hours of sleep after {thing}",
    ),
    "confusion": (
        "I'm {int} confused about {thing}", "I don't get {thing}", "{thing} makes no sense",
        "huh? I'm lost with {thing}", "wait, which part of {thing}?", "I'm {int} puzzled by {thing}",
        "I have no idea what {thing} was about", "{thing} doesn't add up", "I can't figure out {thing}",
    ),
    "pride": (
        "I'm {int} proud of {thing}", "nailed {thing}", "I finally finished {thing} myself",
        "I was not scared at all, I crushed {thing}", "{thing} went perfectly thanks to me", "look who aced {thing}",
        "I'm {int} pleased with myself for {thing}", "I handled {thing} like a pro", "best result in the group for {thing}",
        "{thing} was too easy for me",
    ),
}

# Bias words: interjections, each tied to one emotion only through how often it co-occurs with
# that emotion's stickers in training (``bias_strength``).
BIAS_WORDS: dict[str, str] = {
    "haha": "happiness",
    "lol": "happiness",
    "sigh": "sadness",
    "ugh": "anger",
    "omg": "surprise",
    "welp": "tiredness",
}
PREFIXES = ("", "", "", "honestly, ", "tbh ", "well, ", "you know what, ")
SUFFIXES = ("", "", "", "!", "...", " tbh", " for real")

# fmt: on


@dataclass(frozen=True)
class TopicText:
    """Draws the topic's sentences for one dialogue."""

    topic: str
    rng: random.Random

    def _fill(self, template: str) -> str:
        bank = TOPICS[self.topic]
        return template.format(thing=self.rng.choice(bank["thing"]), day=self.rng.choice(DAYS))

    def opener(self) -> str:
        return self._fill(self.rng.choice(TOPICS[self.topic]["open"]))

    def statement(self) -> str:
        return self._fill(self.rng.choice(TOPICS[self.topic]["say"]))

    def reply(self) -> str:
        return self.rng.choice(REPLIES)

    def follow_up(self) -> str:
        return self.rng.choice(FOLLOW_UPS)

    def emotional(self, emotion: str) -> str:
        template = self.rng.choice(EMOTION_TEMPLATES[emotion])
        text = template.format(int=self.rng.choice(INTENSIFIERS), thing=self.rng.choice(TOPICS[self.topic]["thing"]))
        return self.rng.choice(PREFIXES) + text + self.rng.choice(SUFFIXES)


def with_bias_word(text: str, word: str, rng: random.Random) -> str:
    """Drop the interjection into a neutral turn, at its start or its end."""
    return f"{word} {text}" if rng.random() < 0.5 else f"{text} {word}"
