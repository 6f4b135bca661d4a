"""The MOD loader on a MOD-shaped directory, and its refusals of malformed input."""

import json

import pytest

from benchmark.datasets.mod import load_mod, normalize_sticker_id
from benchmark.errors import DataError


def test_loads_every_split_with_normalised_ids(mini_mod_dir):
    ds = load_mod(mini_mod_dir)
    assert set(ds.splits) == {"train", "validation", "test_easy"}
    assert ds.emotion_names == ("happiness", "sadness", "anger", "surprise")
    assert "0" in ds.stickers and "000" not in ds.stickers
    golds = {s.gold for s in ds.splits["train"]}
    assert golds <= set(ds.stickers)
    assert "0" in golds  # sticker 0 is a sticker, never "no sticker"


def test_sample_context_ends_with_the_text_sent_with_the_sticker(mini_mod_dir):
    raw = json.loads((mini_mod_dir / "train.json").read_text())["dialogue 0"]
    ds = load_mod(mini_mod_dir)
    first = next(s for s in ds.splits["train"] if s.meta["dialogue"] == "dialogue 0")
    turn = first.meta["turn"]
    assert [u.text for u in first.context] == [t["txt"] for t in raw[: turn + 1]]
    assert first.context[-1].sticker_id is None
    assert first.gold == normalize_sticker_id(raw[turn]["img_id"])
    assert first.speaker == raw[turn]["speaker_id"]
    assert first.emotion == raw[turn]["emotion_id"]


def test_test_items_get_official_sets_and_task3_emotions(mini_mod_dir):
    ds = load_mod(mini_mod_dir)
    task3 = json.loads((mini_mod_dir / "test_easy_task3.json").read_text())
    for sample, item in zip(ds.splits["test_easy"], task3):
        assert sample.gold in sample.meta["official_candidates"]
        assert sample.emotion == item["answer"]["emotion_id"]
        assert len(sample.meta["official_candidates"]) == 6


def test_preprocessed_layout_reports_what_it_read(mini_mod_dir):
    ds = load_mod(mini_mod_dir, language="zh")  # unprefixed files are read whatever the language
    assert ds.info["language"] == "zh" and ds.info["blind_splits"] == []
    assert set(ds.info["files"]) == {"id2img", "emotions", "train", "validation", "test_easy.task2", "test_easy.task3"}
    for sample in ds.splits["test_easy"]:
        assert sample.meta["sent_sticker"] == sample.gold
        assert sample.meta["task3_index"] == sample.meta["index"]


def test_gif_gives_first_frame(mini_dataset):
    gif = next(s for s in mini_dataset.stickers.values() if s.path.suffix == ".gif")
    img = mini_dataset.stickers.image(gif.sticker_id)
    assert img.mode == "RGB" and img.getpixel((0, 0)) != (0, 0, 255)


def test_fingerprint_is_deterministic_and_content_sensitive(mini_mod_dir):
    a = load_mod(mini_mod_dir).fingerprint
    assert load_mod(mini_mod_dir).fingerprint == a
    (mini_mod_dir / "meme_set" / "1.png").write_bytes((mini_mod_dir / "meme_set" / "2.png").read_bytes())
    assert load_mod(mini_mod_dir).fingerprint != a


@pytest.mark.parametrize(
    "normalised, raw",
    [("30", "030"), ("30", "30"), ("0", "000"), ("0", 0), ("sticker_a", "sticker_a")],
)
def test_normalize_sticker_id(normalised, raw):
    assert normalize_sticker_id(raw) == normalised


def test_malformed_json_names_the_file(mini_mod_dir):
    (mini_mod_dir / "train.json").write_text('{"dialogue 0": [')
    with pytest.raises(DataError, match=r"train\.json: malformed JSON at line 1"):
        load_mod(mini_mod_dir)


def test_image_path_outside_the_dataset_is_refused(mini_mod_dir):
    id2img = json.loads((mini_mod_dir / "id2img.json").read_text())
    id2img["3"] = "../../../etc/passwd"
    (mini_mod_dir / "id2img.json").write_text(json.dumps(id2img))
    with pytest.raises(DataError, match="outside the dataset directory"):
        load_mod(mini_mod_dir)


def test_missing_field_names_file_dialogue_turn_and_field(mini_mod_dir):
    data = json.loads((mini_mod_dir / "train.json").read_text())
    del data["dialogue 2"][1]["speaker_id"]
    (mini_mod_dir / "train.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"train\.json, 'dialogue 2', turn 1: missing field 'speaker_id'"):
        load_mod(mini_mod_dir)


def test_unknown_sticker_is_refused(mini_mod_dir):
    items = json.loads((mini_mod_dir / "test_easy_task2.json").read_text())
    items[3]["answer"]["img_id"] = "999"
    (mini_mod_dir / "test_easy_task2.json").write_text(json.dumps(items))
    with pytest.raises(DataError, match=r"item 3, answer: field 'img_id' = '999' is not a sticker"):
        load_mod(mini_mod_dir)


def test_files_can_be_named_explicitly(mini_mod_dir, tmp_path):
    renamed = tmp_path / "my_dialogues.json"
    (mini_mod_dir / "validation.json").rename(renamed)
    ds = load_mod(mini_mod_dir, files={"validation": renamed})
    assert len(ds.splits["validation"]) > 0


def test_not_a_mod_directory(tmp_path):
    with pytest.raises(DataError, match="no id2img.json"):
        load_mod(tmp_path)
