"""What the stickers are: the emotions, the emoji → emotion table, characters, packs and captions.

A sticker is a *character* (a yellow face, a cat, an animal, a person) showing an *expression*
that carries one emotion, drawn in a *pack* style, optionally with a caption. Emoji faces carry
the emotion themselves; animal faces (which have no expressive variants in Unicode) carry it
with a manga-style badge (a tear drop, an anger vein, ``zzz``...), the convention sticker artists
use. The table below is the documented emoji → emotion mapping of the dataset card.

Packs are what a speaker "owns": one character in one style theme with at most one sticker per
emotion, so (pack, emotion) names a sticker. Held-out packs (unseen characters and unseen style
themes) appear only in ``test_hard``, as MOD's hard test has stickers never seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass

EMOTIONS: tuple[str, ...] = (
    "happiness",
    "sadness",
    "anger",
    "surprise",
    "fear",
    "disgust",
    "love",
    "curiosity",
    "shyness",
    "tiredness",
    "confusion",
    "pride",
)

# Emoji faces: emotion → code points (OpenMoji file names). Several per emotion so that packs of
# the same character differ in their drawings, not only in their style.
FACE_EMOJI: dict[str, tuple[str, ...]] = {
    "happiness": ("1F600", "1F604", "1F601", "1F60A", "1F606"),
    "sadness": ("1F622", "1F62D", "1F61E", "1F614"),
    "anger": ("1F620", "1F621", "1F92C", "1F624"),
    "surprise": ("1F62E", "1F632", "1F92F", "1F62F"),
    "fear": ("1F628", "1F631", "1F630", "1F627"),
    "disgust": ("1F922", "1F92E", "1F612"),
    "love": ("1F60D", "1F970", "1F618"),
    "curiosity": ("1F914", "1F9D0", "1F928"),
    "shyness": ("1F633", "1F92D", "1FAE3"),
    "tiredness": ("1F634", "1F62A", "1F971", "1F629"),
    "confusion": ("1F615", "1F635", "1FAE4"),
    "pride": ("1F60E", "1F60F"),
}

CAT_EMOJI: dict[str, tuple[str, ...]] = {
    "happiness": ("1F63A", "1F638", "1F639"),
    "sadness": ("1F63F",),
    "anger": ("1F63E",),
    "fear": ("1F640",),
    "love": ("1F63B", "1F63D"),
    "pride": ("1F63C",),
}

# Badges drawn next to an expressionless animal face.
BADGE_EMOJI: dict[str, str] = {
    "happiness": "1F3B6",  # musical notes
    "sadness": "1F4A7",  # tear drop
    "anger": "1F4A2",  # anger vein
    "surprise": "2757",  # exclamation mark
    "fear": "1F4A6",  # sweat drops
    "love": "2764",  # heart
    "curiosity": "1F50D",  # magnifying glass
    "tiredness": "1F4A4",  # zzz
    "confusion": "2753",  # question mark
    "pride": "1F451",  # crown
}

ANIMAL_FACES: dict[str, str] = {
    "cat": "1F431",
    "dog": "1F436",
    "panda": "1F43C",
    "rabbit": "1F430",
    "bear": "1F43B",
    "frog": "1F438",
    "fox": "1F98A",
    "tiger": "1F42F",
    # Characters of the MOD-sized build only (see MOD_EXTRA_PACKS).
    "pig": "1F437",
    "monkey": "1F435",
    "mouse": "1F42D",
    "koala": "1F428",
    "hamster": "1F439",
    "lion": "1F981",
}

# Person gestures; characters are the gender-neutral person, the woman and the man (ZWJ forms).
GESTURE_EMOJI: dict[str, str] = {
    "happiness": "1F646",  # OK gesture
    "sadness": "1F64D",  # frowning
    "anger": "1F64E",  # pouting
    "disgust": "1F645",  # "no" gesture
    "curiosity": "1F64B",  # raising hand
    "shyness": "1F647",  # bowing
    "tiredness": "1F926",  # facepalm
    "confusion": "1F937",  # shrug
    "pride": "1F481",  # tipping hand
}
PERSON_SUFFIX: dict[str, str] = {"person": "", "woman": "-200D-2640-FE0F", "man": "-200D-2642-FE0F"}

FAMILIES: dict[str, str] = {
    "smiley": "yellow faces",
    "cat": "cat faces",
    "animal": "other animal faces",
    "people": "people and gestures",
}

CAPTIONS: dict[str, tuple[str, ...]] = {
    "happiness": ("YAY!", "HOORAY", "SO HAPPY"),
    "sadness": ("SO SAD", "SOB", "BOO HOO"),
    "anger": ("GRR!", "SO MAD", "ANGRY"),
    "surprise": ("WHAT?!", "NO WAY", "WOW"),
    "fear": ("HELP!", "EEK", "SCARY"),
    "disgust": ("EWW", "GROSS", "YUCK"),
    "love": ("LOVE YOU", "XOXO", "MWAH"),
    "curiosity": ("TELL ME", "REALLY?", "WHY?"),
    "shyness": ("BLUSH", "OOPS", "SHY"),
    "tiredness": ("SLEEPY", "ZZZ", "SO TIRED"),
    "confusion": ("HUH?", "WHAT", "LOST"),
    "pride": ("NAILED IT", "BOSS", "TOO EASY"),
}
GENERIC_CAPTIONS: tuple[str, ...] = ("OK", "HI", "HELLO", "BYE", "THANKS", "ME")


@dataclass(frozen=True)
class StyleTheme:
    """A pack's look: the nuisance variables a content-invariant model should ignore."""

    name: str
    background: str  # "solid" | "gradient" | "dots" | "stripes" | "checker" | "halftone"
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    border: str  # "none" | "outline" | "frame"
    texture: str  # "none" | "grain" | "hatch"


STYLE_THEMES: dict[str, StyleTheme] = {
    t.name: t
    for t in (
        StyleTheme("pastel", "solid", ((255, 224, 230), (255, 255, 255)), "outline", "none"),
        StyleTheme("sky", "gradient", ((170, 210, 255), (235, 245, 255)), "outline", "grain"),
        StyleTheme("mint", "dots", ((200, 240, 215), (150, 215, 180)), "frame", "none"),
        StyleTheme("sunset", "gradient", ((255, 190, 120), (255, 120, 150)), "none", "grain"),
        StyleTheme("candy", "stripes", ((255, 205, 235), (250, 170, 210)), "outline", "none"),
        StyleTheme("night", "solid", ((45, 50, 90), (70, 80, 140)), "frame", "hatch"),
        StyleTheme("lemon", "dots", ((255, 245, 170), (250, 225, 100)), "none", "none"),
        StyleTheme("paper", "solid", ((245, 240, 225), (230, 220, 200)), "frame", "grain"),
        StyleTheme("grape", "stripes", ((215, 200, 250), (185, 165, 240)), "none", "hatch"),
        StyleTheme("ocean", "gradient", ((120, 200, 210), (40, 120, 170)), "outline", "hatch"),
        # Held out: these themes never appear in training.
        StyleTheme("checker", "checker", ((255, 255, 255), (200, 200, 210)), "frame", "grain"),
        StyleTheme("comic", "halftone", ((255, 235, 120), (240, 120, 60)), "outline", "hatch"),
    )
}


@dataclass(frozen=True)
class PackSpec:
    """One sticker pack: a character in a style theme, with an expression per emotion it covers."""

    name: str
    family: str
    character: str
    theme: str
    held_out: bool = False


PACKS: tuple[PackSpec, ...] = (
    PackSpec("smiley-pastel", "smiley", "smiley", "pastel"),
    PackSpec("smiley-sunset", "smiley", "smiley", "sunset"),
    PackSpec("smiley-lemon", "smiley", "smiley", "lemon"),
    PackSpec("smiley-night", "smiley", "smiley", "night"),
    PackSpec("cat-candy", "cat", "cat", "candy"),
    PackSpec("cat-paper", "cat", "cat", "paper"),
    PackSpec("dog-sky", "animal", "dog", "sky"),
    PackSpec("dog-grape", "animal", "dog", "grape"),
    PackSpec("panda-mint", "animal", "panda", "mint"),
    PackSpec("rabbit-candy", "animal", "rabbit", "candy"),
    PackSpec("bear-ocean", "animal", "bear", "ocean"),
    PackSpec("frog-lemon", "animal", "frog", "lemon"),
    PackSpec("person-mint", "people", "person", "mint"),
    PackSpec("person-sunset", "people", "person", "sunset"),
    PackSpec("woman-sky", "people", "woman", "sky"),
    PackSpec("woman-paper", "people", "woman", "paper"),
    # Held out for test_hard: two unseen characters, and two seen characters in unseen themes.
    PackSpec("fox-ocean", "animal", "fox", "ocean", held_out=True),
    PackSpec("man-grape", "people", "man", "grape", held_out=True),
    PackSpec("smiley-comic", "smiley", "smiley", "comic", held_out=True),
    PackSpec("tiger-checker", "animal", "tiger", "checker", held_out=True),
)


def smiley_packs(packs: tuple[PackSpec, ...]) -> tuple[str, ...]:
    """The seen yellow-face packs, in order: every persona's fallback is one of them."""
    return tuple(p.name for p in packs if p.family == "smiley" and not p.held_out)


SMILEY_PACKS: tuple[str, ...] = smiley_packs(PACKS)

# The MOD-sized build (``--scale mod``) adds these ten packs to PACKS: 102 stickers, 307 in all, as
# MOD has. New characters in seen themes, seen characters in new combinations, and two held-out
# packs (an unseen character, and a seen one in an unseen theme), so that a fifth of the stickers
# stay unseen in training, as in the default build. The default build never reads this tuple.
MOD_EXTRA_PACKS: tuple[PackSpec, ...] = (
    PackSpec("smiley-candy", "smiley", "smiley", "candy"),
    PackSpec("smiley-ocean", "smiley", "smiley", "ocean"),
    PackSpec("pig-sunset", "animal", "pig", "sunset"),
    PackSpec("monkey-mint", "animal", "monkey", "mint"),
    PackSpec("mouse-paper", "animal", "mouse", "paper"),
    PackSpec("koala-sky", "animal", "koala", "sky"),
    PackSpec("hamster-pastel", "animal", "hamster", "pastel"),
    PackSpec("person-grape", "people", "person", "grape"),
    PackSpec("lion-comic", "animal", "lion", "comic", held_out=True),
    PackSpec("woman-checker", "people", "woman", "checker", held_out=True),
)


@dataclass(frozen=True)
class Expression:
    """What the glyphs of one sticker are: the main emoji and an optional badge emoji."""

    emoji: str
    badge: str | None = None


def pack_expressions(pack: PackSpec, variant: int) -> dict[str, Expression]:
    """Emotion → expression for one pack; ``variant`` picks among the table's alternatives."""
    if pack.family == "smiley":
        return {e: Expression(c[variant % len(c)]) for e, c in FACE_EMOJI.items()}
    if pack.family == "cat":
        faces = {e: Expression(c[variant % len(c)]) for e, c in CAT_EMOJI.items()}
        badges = {e: Expression(ANIMAL_FACES["cat"], b) for e, b in BADGE_EMOJI.items() if e not in faces}
        return {**faces, **badges}
    if pack.family == "animal":
        return {e: Expression(ANIMAL_FACES[pack.character], b) for e, b in BADGE_EMOJI.items()}
    suffix = PERSON_SUFFIX[pack.character]
    return {e: Expression(c + suffix) for e, c in GESTURE_EMOJI.items()}
