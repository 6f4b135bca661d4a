"""Malformed MOD-layout input gets one DataError naming the file, item and field, never a traceback
or a silent misread; valid input loads exactly as before."""

import json
import struct
import zlib

import pytest
from PIL import Image

from benchmark.datasets.mod import load_mod
from benchmark.errors import DataError
from benchmark.io import read_json


def _edit(path, change):
    """Rewrite a JSON file with ``change(data)`` applied in place."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _set_turn(root, dialogue, turn, **fields):
    _edit(root / "train.json", lambda d: d[dialogue][turn].update(fields))


def _png_declaring(path, width, height):
    """A 1x1 PNG whose header claims ``width x height``: Pillow checks the size on open, from the header."""
    Image.new("1", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)  # IHDR data starts after signature, length and type
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


# 1. sample ids


def test_dialogue_keys_mapping_to_one_sample_id_are_refused(mini_mod_dir):
    _edit(mini_mod_dir / "train.json", lambda d: d.update({"dialogue_0": d["dialogue 0"]}))
    with pytest.raises(
        DataError,
        match=r"train\.json: dialogue keys 'dialogue 0' and 'dialogue_0' both give sample ids train/dialogue_0/",
    ):
        load_mod(mini_mod_dir)


def test_sample_ids_keep_their_spelling(mini_dataset):
    ids = {s.sample_id for s in mini_dataset.splits["train"] if s.meta["dialogue"] == "dialogue 0"}
    assert ids and all(i.startswith("train/dialogue_0/") for i in ids)


# 2. duplicate JSON keys


def test_duplicate_dialogue_key_is_refused(mini_mod_dir):
    path = mini_mod_dir / "train.json"
    path.write_text(path.read_text()[:-1] + ', "dialogue 3": []}')
    with pytest.raises(DataError, match=r"train\.json: key 'dialogue 3' appears twice in one object"):
        load_mod(mini_mod_dir)


def test_read_json_refuses_duplicate_keys_in_nested_objects(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[{"a": {"b": 1, "b": 2}}]')
    with pytest.raises(DataError, match=r"x\.json: key 'b' appears twice"):
        read_json(path)


def test_deeply_nested_json_names_the_file(mini_mod_dir):
    (mini_mod_dir / "train.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match=r"train\.json: nested too deeply"):
        load_mod(mini_mod_dir)


# 3. emotions.json


@pytest.mark.parametrize(
    "emotions, message",
    [
        ({"a": "happiness", "1": "sadness"}, r"unexpected key 'a'; the keys must be emotion ids"),
        (
            {"0": "happiness", "1": "sadness", "3": "anger"},
            r"the emotion ids must be 0\.\.2, each once, but 2 is missing",
        ),
        (["happiness", "sadness", "anger", "sadness"], r"emotion name 'sadness' is given to ids 1 and 3"),
        (["happiness", "sadness", 3], r"emotion 2 is 3, not a name"),
    ],
    ids=["non-integer key", "gap", "duplicate name", "non-string name"],
)
def test_malformed_emotions_json_is_refused(mini_mod_dir, emotions, message):
    (mini_mod_dir / "emotions.json").write_text(json.dumps(emotions))
    with pytest.raises(DataError, match=r"emotions\.json: " + message):
        load_mod(mini_mod_dir)


def test_emotions_json_as_an_object_of_ids(mini_mod_dir):
    emotions = {"1": "sadness", "0": "happiness", "3": "surprise", "2": "anger"}
    (mini_mod_dir / "emotions.json").write_text(json.dumps(emotions))
    assert load_mod(mini_mod_dir).emotion_names == ("happiness", "sadness", "anger", "surprise")


# 4. emotion ids without emotions.json


def test_emotion_id_out_of_the_contiguous_range_is_refused(mini_mod_dir):
    (mini_mod_dir / "emotions.json").unlink()
    _set_turn(mini_mod_dir, "dialogue 4", 1, emotion_id=999)
    with pytest.raises(
        DataError,
        match=r"no emotions\.json, and the emotion ids used are not 0\.\.N-1 without gaps: "
        r"id 4 never occurs but 999 do \(id 999 at .*train\.json, 'dialogue 4', turn 1\); "
        r"ship an emotions\.json that names the emotions",
    ):
        load_mod(mini_mod_dir)


def test_contiguous_emotion_ids_need_no_emotions_json(mini_mod_dir):
    (mini_mod_dir / "emotions.json").unlink()
    assert load_mod(mini_mod_dir).emotion_names == ("emotion_0", "emotion_1", "emotion_2", "emotion_3")


# 5. sticker_meta.json (and id2img.json)


@pytest.mark.parametrize(
    "meta, message",
    [
        ([{"emotion": "happiness"}], r"expected an object mapping sticker id to an object of metadata, got list"),
        ({"1": "happiness"}, r"the metadata of sticker '1' is str, not an object"),
    ],
    ids=["list", "value not an object"],
)
def test_malformed_sticker_meta_is_refused(mini_mod_dir, meta, message):
    (mini_mod_dir / "sticker_meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"sticker_meta\.json: " + message):
        load_mod(mini_mod_dir)


@pytest.mark.parametrize("name", ["id2img.json", "sticker_meta.json"])
def test_two_keys_for_one_sticker_are_refused(mini_mod_dir, name):
    path = mini_mod_dir / name
    data = json.loads(path.read_text()) if path.exists() else {"1": {}}
    path.write_text(json.dumps({**data, "001": data["1"]}))
    with pytest.raises(DataError, match=rf"{name}: keys '1' and '001' are both sticker '1'"):
        load_mod(mini_mod_dir)


# 6. official candidate sets


def _shrink_candidates(root, item, size):
    def change(items):
        gold, cands = items[item]["answer"]["img_id"], items[item]["candidate"]["set"]
        items[item]["candidate"]["set"] = [gold] + [c for c in cands if c != gold][: size - 1]

    _edit(root / "test_easy_task2.json", change)


def test_candidate_set_of_another_size_is_refused(mini_mod_dir):
    _shrink_candidates(mini_mod_dir, 7, 5)
    with pytest.raises(DataError, match=r"test_easy_task2\.json, item 7: has 5 candidates, most others 6; .*same size"):
        load_mod(mini_mod_dir)


def test_candidate_set_of_one_sticker_is_refused(mini_mod_dir):
    _shrink_candidates(mini_mod_dir, 2, 1)
    with pytest.raises(
        DataError, match=r"test_easy_task2\.json, item 2: the candidate set has 1 sticker\(s\); it needs at least 2"
    ):
        load_mod(mini_mod_dir)


# 7. decompression bombs


def test_huge_image_is_refused(mini_dataset):
    _png_declaring(mini_dataset.stickers["1"].path, 30000, 30000)
    with pytest.raises(
        DataError,
        match=r"1\.png: the image of sticker '1' exceeds Pillow's limit of Image\.MAX_IMAGE_PIXELS = \d+ pixels; resize",
    ):
        mini_dataset.stickers.image("1")


def test_image_between_the_limit_and_twice_it_is_refused(mini_dataset, recwarn):
    _png_declaring(mini_dataset.stickers["1"].path, Image.MAX_IMAGE_PIXELS // 1000 + 1, 1500)
    with pytest.raises(DataError, match=r"exceeds Pillow's limit"):
        mini_dataset.stickers.image("1")
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


# other hostile shapes


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"speaker_id": None}, r"field 'speaker_id' = None is not a speaker name"),
        ({"txt": ["hi"]}, r"field 'txt' = \['hi'\] is not text"),
        ({"emotion_id": 1.5}, r"field 'emotion_id' = 1\.5 is not an integer"),
        ({"emotion_id": True}, r"field 'emotion_id' = True is not an integer"),
        ({"emotion_id": float("inf")}, r"field 'emotion_id' = inf is not an integer"),
        ({"meta": ["x"]}, r"field 'meta' must be an object"),
    ],
    ids=["speaker null", "txt list", "emotion float", "emotion bool", "emotion infinite", "meta list"],
)
def test_malformed_turn_field_names_file_dialogue_turn_and_field(mini_mod_dir, fields, message):
    _set_turn(mini_mod_dir, "dialogue 1", 1, **fields)
    with pytest.raises(DataError, match=r"train\.json, 'dialogue 1', turn 1: " + message):
        load_mod(mini_mod_dir)


def test_null_text_still_means_no_text(mini_mod_dir):
    _set_turn(mini_mod_dir, "dialogue 1", 0, txt=None)
    sample = next(s for s in load_mod(mini_mod_dir).splits["train"] if s.meta["dialogue"] == "dialogue 1")
    assert sample.context[0].text == ""


def test_test_item_meta_must_be_an_object(mini_mod_dir):
    _edit(mini_mod_dir / "test_easy_task2.json", lambda items: items[1].update(meta="x"))
    with pytest.raises(DataError, match=r"test_easy_task2\.json, item 1: field 'meta' must be an object"):
        load_mod(mini_mod_dir)


def test_test_item_speaker_must_be_a_name(mini_mod_dir):
    _edit(mini_mod_dir / "test_easy_task2.json", lambda items: items[1]["answer"].update(speaker_id=[1]))
    with pytest.raises(DataError, match=r"item 1, answer: field 'speaker_id' = \[1\] is not a speaker name"):
        load_mod(mini_mod_dir)


def test_task3_history_turn_must_be_an_object(mini_mod_dir):
    _edit(mini_mod_dir / "test_easy_task3.json", lambda items: items[1]["history"].__setitem__(0, "hi"))
    with pytest.raises(DataError, match=r"task3\.json, item 1, history turn 0: a turn must be an object, got str"):
        load_mod(mini_mod_dir)


def test_one_empty_answer_among_annotated_ones_is_refused(mini_mod_dir):
    """An empty ``answer.img_id`` is a blind item (the release's test files), never a sticker; one
    among annotated items makes the split partly annotated, which is refused with the counts."""
    _edit(mini_mod_dir / "test_easy_task2.json", lambda items: items[1]["answer"].update(img_id=""))
    with pytest.raises(
        DataError, match=r"test_easy_task2\.json: 11 of 12 items have an answer and 1 are blind .*first item 1\)"
    ):
        load_mod(mini_mod_dir)
