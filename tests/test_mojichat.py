"""MojiChat: deterministic, MOD-shaped, and its bias knob and held-out stickers do what they say."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from scipy.stats import chisquare

from benchmark.datasets.mod import load_mod
from benchmark.datasets.mojichat import GENERATOR_VERSION, build_mojichat, ensure_mojichat
from benchmark.datasets.mojichat import build as build_module
from benchmark.datasets.mojichat.inventory import CAPTIONS, EMOTIONS, GENERIC_CAPTIONS
from benchmark.datasets.mojichat.language import BIAS_WORDS, EMOTION_TEMPLATES, FOLLOW_UPS, REPLIES, TOPICS
from benchmark.errors import DataError

TESTS = ("test_easy", "test_hard", "test_bias")
CHANCE = 1 / 11


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The full default build (seed 0, bias 0.9): a few seconds."""
    return build_mojichat(tmp_path_factory.mktemp("mojichat") / "data", seed=0, progress=False)


def _json(root: Path, name: str):
    return json.loads((root / name).read_text(encoding="utf-8"))


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _emotion_of(root: Path) -> dict[int, str]:
    return {int(k): v["emotion"] for k, v in _json(root, "sticker_meta.json").items()}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def _tie_aware_recall1(scores: list[float], gold: int) -> float:
    """P(gold ranked first) under uniformly random tie-breaking, as the harness's metrics do."""
    above = sum(s > scores[gold] for s in scores)
    tied = sum(s == scores[gold] for s in scores)
    return 0.0 if above else 1.0 / tied


def _gold_index(item: dict) -> int:
    return item["candidate"]["set"].index(item["answer"]["img_id"])


def test_same_seed_gives_identical_files(root, tmp_path):
    again = build_mojichat(tmp_path / "again", seed=0, progress=False)
    assert _tree_hash(again) == _tree_hash(root)
    assert load_mod(again, name="mojichat").fingerprint == load_mod(root, name="mojichat").fingerprint


def test_other_seed_and_bias_strength_change_the_data(root, tmp_path):
    other = build_mojichat(tmp_path / "other", seed=1, bias_strength=0.5, scale=0.3, progress=False)
    assert _tree_hash(other) != _tree_hash(root)
    card = _json(other, "card.json")
    assert card["seed"] == 1 and card["bias_strength"] == 0.5
    assert abs(card["splits"]["train"]["bias_strength_measured"] - 0.5) < 0.1


def test_mod_layout(root):
    id2img = _json(root, "id2img.json")
    assert "0" in id2img and all(k == str(int(k)) for k in id2img), "id2img ids are not zero-padded"
    assert 150 <= len(id2img) <= 300
    assert all((root / "meme_set" / f).is_file() for f in id2img.values())
    emotions = _json(root, "emotions.json")
    assert emotions == list(EMOTIONS) and 10 <= len(emotions) <= 16
    meta = _json(root, "sticker_meta.json")
    assert set(meta) == set(id2img)
    for m in meta.values():
        assert {"emotion", "emotion_id", "character", "style", "caption", "emoji", "credit"} <= set(m)
        assert emotions[m["emotion_id"]] == m["emotion"] and "CC BY-SA 4.0" in m["credit"]
    used = set()
    for split in ("train", "validation"):
        for turns in _json(root, f"{split}.json").values():
            assert 2 <= len(turns) <= 8
            assert "img_id" not in turns[0]
            for t in turns:
                if "img_id" in t:
                    assert re.fullmatch(r"\d{3}", t["img_id"]), "dialogue files zero-pad ids, as MOD does"
                    assert meta[str(int(t["img_id"]))]["emotion_id"] == t["emotion_id"]
                    assert "bias_aligned" in t["meta"]
                    used.add(int(t["img_id"]))
    assert 0 in used, "sticker 0 is a real sticker and must be used"
    for split in TESTS:
        task2, task3 = _json(root, f"{split}_task2.json"), _json(root, f"{split}_task3.json")
        assert len(task2) == len(task3)
        for a, b in zip(task2, task3):
            cands = a["candidate"]["set"]
            assert len(cands) == len(set(cands)) == 11 and a["answer"]["img_id"] in cands
            assert "img_id" not in a["history"][-1]
            assert b["history"][-1]["img_id"] == a["answer"]["img_id"]
            assert [(t["speaker_id"], t["txt"]) for t in a["history"]] == [
                (t["speaker_id"], t["txt"]) for t in b["history"]
            ]
            assert emotions[b["answer"]["emotion_id"]] == meta[str(int(a["answer"]["img_id"]))]["emotion"]
    for name in ("DATASET_CARD.md", "contact_sheet.png", "card.json"):
        assert (root / name).is_file()
    card_md = (root / "DATASET_CARD.md").read_text()
    assert "OpenMoji" in card_md and "CC BY-SA 4.0" in card_md and "contact_sheet.png" in card_md


def test_mod_loader_reads_it_with_the_intended_sizes(root):
    ds = load_mod(root, name="mojichat")
    sizes = {k: len(v) for k, v in ds.splits.items()}
    assert 4000 <= sizes["train"] <= 6000 and 400 <= sizes["validation"] <= 600
    assert all(600 <= sizes[s] <= 1000 for s in TESTS)
    assert ds.num_emotions == len(EMOTIONS)
    for split in TESTS:
        assert all(s.emotion is not None and len(s.meta["official_candidates"]) == 11 for s in ds.splits[split])
    card = _json(root, "card.json")
    assert {k: v["samples"] for k, v in card["splits"].items()} == sizes


def test_test_hard_golds_include_stickers_never_seen_in_training(root):
    train_stickers = {int(t["img_id"]) for d in _json(root, "train.json").values() for t in d if "img_id" in t}
    hard = _json(root, "test_hard_task2.json")
    unseen = [int(i["answer"]["img_id"]) not in train_stickers for i in hard]
    assert sum(unseen) / len(hard) >= 0.5
    assert unseen == [not i["meta"]["gold_seen_in_train"] for i in hard]
    for split in ("test_easy", "test_bias"):
        assert all(int(i["answer"]["img_id"]) in train_stickers for i in _json(root, f"{split}_task2.json"))


def test_test_bias_is_bias_conflicting_by_construction(root):
    emotion = _emotion_of(root)
    for item in _json(root, "test_bias_task2.json"):
        words = [w for w in BIAS_WORDS if w in _words(" ".join(t["txt"] for t in item["history"]))]
        assert words == [item["meta"]["bias_word"]]
        assert emotion[int(item["answer"]["img_id"])] != BIAS_WORDS[words[0]]
        assert item["meta"]["bias_aligned"] is False
        assert any(emotion[int(c)] == BIAS_WORDS[words[0]] for c in item["candidate"]["set"])


def test_bias_strength_is_measured_as_set(root):
    emotion = _emotion_of(root)
    turns = [t for d in _json(root, "train.json").values() for t in d if "img_id" in t and t["meta"]["bias_word"]]
    aligned = [BIAS_WORDS[t["meta"]["bias_word"]] == emotion[int(t["img_id"])] for t in turns]
    assert aligned == [t["meta"]["bias_aligned"] for t in turns]
    assert abs(sum(aligned) / len(aligned) - 0.9) < 0.04


def test_bias_word_rule_beats_chance_on_easy_and_fails_on_bias(root):
    """Pick a candidate showing the emotion of a bias word in the context; else guess."""
    emotion = _emotion_of(root)

    def recall1(split: str) -> float:
        total = 0.0
        for item in _json(root, f"{split}_task2.json"):
            words = [w for w in BIAS_WORDS if w in _words(" ".join(t["txt"] for t in item["history"]))]
            target = BIAS_WORDS[words[0]] if words else None
            scores = [float(emotion[int(c)] == target) for c in item["candidate"]["set"]]
            total += _tie_aware_recall1(scores, _gold_index(item))
        return total / len(_json(root, f"{split}_task2.json"))

    assert recall1("test_easy") > 2.5 * CHANCE
    assert recall1("test_bias") < 0.25 * CHANCE


def test_official_sets_put_random_and_popularity_at_chance(root):
    train_counts = Counter(int(t["img_id"]) for d in _json(root, "train.json").values() for t in d if "img_id" in t)
    for split in TESTS:
        items = _json(root, f"{split}_task2.json")
        positions = Counter(_gold_index(i) for i in items)
        assert chisquare([positions[p] for p in range(11)]).pvalue > 0.001, split
    items = _json(root, "test_easy_task2.json")
    popularity = sum(
        _tie_aware_recall1([float(train_counts[int(c)]) for c in i["candidate"]["set"]], _gold_index(i)) for i in items
    ) / len(items)
    assert abs(popularity - CHANCE) < 0.025


def test_text_and_preference_make_the_gold_predictable(root):
    """An oracle that knows the gold emotion and the speaker's earlier sticker ranks the gold
    first far more often than chance: the task is learnable from the dialogue."""
    meta = {int(k): v for k, v in _json(root, "sticker_meta.json").items()}
    items = _json(root, "test_easy_task2.json")
    total = 0.0
    for item in items:
        gold = meta[int(item["answer"]["img_id"])]
        earlier = [
            int(t["img_id"])
            for t in item["history"]
            if "img_id" in t and t["speaker_id"] == item["answer"]["speaker_id"]
        ]
        pack = meta[earlier[-1]]["pack"] if earlier else None
        scores = [
            float(meta[int(c)]["emotion"] == gold["emotion"]) + 0.5 * float(meta[int(c)]["pack"] == pack)
            for c in item["candidate"]["set"]
        ]
        total += _tie_aware_recall1(scores, _gold_index(item))
    assert total / len(items) > 0.6


def test_emotional_utterance_precedes_the_sticker_and_speakers_keep_their_pack(root):
    same_pack = repeats = late = samples = 0
    for turns in _json(root, "train.json").values():
        sent: dict[str, str] = {}
        for i, t in enumerate(turns):
            if "img_id" not in t:
                continue
            samples += 1
            k = t["meta"]["emotional_turn"]
            assert k <= i and turns[k]["speaker_id"] == t["speaker_id"]
            late += k < i
            if t["speaker_id"] in sent:
                repeats += 1
                same_pack += sent[t["speaker_id"]] == t["meta"]["pack"]
            sent[t["speaker_id"]] = t["meta"]["pack"]
    assert 0.2 < late / samples < 0.6, "the emotional utterance is sometimes, not always, an earlier turn"
    assert repeats > 300 and same_pack / repeats > 0.6


def test_bias_words_carry_no_emotional_meaning_in_the_phrase_banks():
    banks = [t for ts in EMOTION_TEMPLATES.values() for t in ts] + list(REPLIES) + list(FOLLOW_UPS)
    banks += [t for topic in TOPICS.values() for ts in topic.values() for t in ts]
    banks += [c.lower() for cs in CAPTIONS.values() for c in cs] + [c.lower() for c in GENERIC_CAPTIONS]
    assert not set(BIAS_WORDS) & set().union(*(_words(t) for t in banks))


def test_ensure_builds_once_into_a_versioned_directory(tmp_path, monkeypatch):
    calls = []

    def fake_build(path: Path, seed: int, bias_strength: float) -> Path:
        calls.append(path)
        path.mkdir(parents=True)
        (path / "card.json").write_text("{}")
        return path

    monkeypatch.setattr(build_module, "build_mojichat", fake_build)
    first = ensure_mojichat(tmp_path, seed=3, bias_strength=0.7)
    second = ensure_mojichat(tmp_path, seed=3, bias_strength=0.7)
    assert first == second == build_module.mojichat_dir(tmp_path, 3, 0.7)
    assert first.name.startswith(f"mojichat-{GENERATOR_VERSION}-") and first.name.endswith("-seed3-bias0.7")
    assert len(calls) == 1


def test_an_interrupted_build_leaves_nothing_behind(tmp_path, monkeypatch):
    def interrupted(root: Path, *args) -> None:
        (root / "meme_set").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "_render_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_mojichat(tmp_path / "data", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bad_parameters_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="bias-strength"):
        build_mojichat(tmp_path / "x", bias_strength=1.5, progress=False)
    with pytest.raises(DataError, match="scale"):
        build_mojichat(tmp_path / "x", scale=0, progress=False)


def test_caption_read_rate_matching_rule(root, tmp_path):
    """The OCR check counts a caption as read when it appears in the engine's text."""
    from benchmark.datasets.mojichat.ocr_check import caption_read_rate

    stickers = load_mod(root, name="mojichat").stickers
    caption_of = {
        hashlib.sha256(stickers.image(s).tobytes()).hexdigest(): stickers[s].meta["caption"] for s in stickers
    }

    class MetadataEngine:
        """Reads captions perfectly, with noise around them, except that it drops every 'O'."""

        name, fingerprint = "metadata", "metadata-v1"

        def read(self, image):
            caption = caption_of[hashlib.sha256(image.tobytes()).hexdigest()]
            return f"~ {caption.replace('O', '')} z" if caption else ""

    rate = caption_read_rate(root, MetadataEngine(), tmp_path, progress=False)
    with_o = sum("O" in (stickers[s].meta["caption"] or "") for s in stickers)
    assert rate.captions == sum(bool(stickers[s].meta["caption"]) for s in stickers)
    assert rate.read == rate.captions - with_o and rate.exact == 0
    assert rate.clean == rate.uncaptioned
