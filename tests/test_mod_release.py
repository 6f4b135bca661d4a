"""MOD as the organisers ship it: img2id.json, emotion_dict.json, e_/c_ files, the official
validation sets, blind test files and curated OCR, in a directory written from scratch."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging

import pytest

from benchmark.candidates import build_manifest, load_manifest, write_manifest
from benchmark.cli_args import add_data_args
from benchmark.datasets import load_dataset
from benchmark.datasets.mod import load_mod
from benchmark.datasets.synthetic import EMOTIONS, NUM_STICKERS, RELEASE_SIZES, write_tiny_release
from benchmark.errors import BenchmarkError, DataError
from benchmark.run_config import RunConfig


@pytest.fixture
def release(tmp_path):
    return write_tiny_release(tmp_path / "MOD")


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _edit(path, change):
    data = _json(path)
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _sticker_turns(path):
    """Samples a dialogue file gives: sticker turns other than a dialogue's first."""
    return sum(1 for turns in _json(path).values() for i, t in enumerate(turns) if i and t.get("img_id"))


def _warnings(caplog, text):
    return [r for r in caplog.records if r.name == "stickerbench" and text in r.getMessage()]


# layout


def test_english_release_loads_every_split(release):
    ds = load_mod(release)
    assert {k: len(v) for k, v in ds.splits.items()} == {
        "train": _sticker_turns(release / "e_train.json"),
        "validation": RELEASE_SIZES["e", "val_task"],
        "test_easy": RELEASE_SIZES["e", "test_easy"],
        "test_hard": RELEASE_SIZES["e", "test_hard"],
    }
    assert ds.info["language"] == "en"
    files = {role: path.rsplit("/", 1)[-1] for role, path in ds.info["files"].items()}
    assert files == {
        "img2id": "img2id.json",
        "emotion_dict": "emotion_dict.json",
        "ocr": "ocr.json",
        "train": "e_train.json",
        "validation.task2": "e_val_task2.json",
        "validation.task3": "e_val_task3.json",
        "test_easy.task2": "e_test_easy_task2.json",
        "test_easy.task3": "e_test_easy_task3.json",
        "test_hard.task2": "e_test_hard_task2.json",
        "test_hard.task3": "e_test_hard_task3.json",
    }, "e_val.json is not read when the official validation sets exist; task 1 and c_ files never"


def test_chinese_reads_the_c_files(release):
    ds = load_dataset("mod", release, language="zh")
    assert ds.info["language"] == "zh"
    assert {k: len(v) for k, v in ds.splits.items()} == {
        "train": _sticker_turns(release / "c_train.json"),
        "validation": _sticker_turns(release / "c_val.json"),  # no c_val_task2.json: the dialogues
        "test_easy": RELEASE_SIZES["c", "test_easy"],
    }
    assert all(p.rsplit("/", 1)[-1].startswith("c_") for r, p in ds.info["files"].items() if "." in r or r == "train")
    with pytest.raises(DataError, match="language 'fr'"):
        load_mod(release, language="fr")


def test_img2id_ids_are_normalised_and_file_names_may_be_non_ascii(release):
    ds = load_mod(release)
    assert sorted(ds.stickers, key=int) == [str(s) for s in range(NUM_STICKERS)]
    assert ds.stickers["0"].path.name == "表情0.gif" and ds.stickers["5"].path.name == "sticker_ü5.png"
    assert ds.stickers.image("0").mode == "RGB"


def test_emotion_names_come_from_emotion_dict(release):
    assert load_mod(release).emotion_names == tuple(EMOTIONS)


@pytest.mark.parametrize(
    "emotions, message",
    [
        ({"happiness": 0, "sadness": 2}, r"the emotion ids must be 0\.\.1, each once, but 1 is missing"),
        ({"happiness": 0, "sadness": 0}, r"emotion id 0 is given to names 'happiness' and 'sadness'"),
        ({"happiness": "x"}, r"emotion 'happiness' has id 'x'"),
    ],
    ids=["gap", "shared id", "not an id"],
)
def test_malformed_emotion_dict_is_refused(release, emotions, message):
    (release / "emotion_dict.json").write_text(json.dumps(emotions))
    with pytest.raises(DataError, match=r"emotion_dict\.json: " + message):
        load_mod(release)


def test_emotion_files_that_disagree_are_refused(release):
    (release / "emotions.json").write_text(json.dumps(EMOTIONS[::-1]))
    with pytest.raises(DataError, match=r"emotion_dict\.json and .*emotions\.json name the emotions differently"):
        load_mod(release)


def test_img2id_refuses_two_images_with_one_id_and_a_disagreeing_id2img(release):
    img2id = _json(release / "img2id.json")
    (release / "id2img.json").write_text(json.dumps({str(i): name for name, i in img2id.items()}, ensure_ascii=False))
    load_mod(release)  # both, agreeing
    first, second = list(img2id)[:2]
    (release / "id2img.json").write_text(json.dumps({"0": second}, ensure_ascii=False))
    with pytest.raises(DataError, match=r"img2id\.json and .*id2img\.json disagree on sticker '0'"):
        load_mod(release)
    (release / "id2img.json").unlink()
    (release / "img2id.json").write_text(json.dumps({**img2id, second: "000"}, ensure_ascii=False))
    with pytest.raises(DataError, match=rf"img2id\.json: images '{first}' and '{second}' both have sticker id '0'"):
        load_mod(release)


def test_data_file_overrides_any_role_and_refuses_unknown_ones(release, tmp_path):
    moved = tmp_path / "hard_items.json"
    (release / "e_test_hard_task2.json").rename(moved)
    ds = load_mod(release, files={"test_hard.task2": moved})
    assert len(ds.splits["test_hard"]) == RELEASE_SIZES["e", "test_hard"]
    with pytest.raises(DataError, match=r"--data-file test_hard=\.\.\.: unknown role 'test_hard'"):
        load_mod(release, files={"test_hard": moved})


def test_a_validation_dialogue_file_named_explicitly_wins_over_the_task_files(release):
    ds = load_mod(release, files={"validation": release / "e_val.json"})
    assert len(ds.splits["validation"]) == _sticker_turns(release / "e_val.json")
    assert "validation.task2" not in ds.info["files"]


def test_task3_file_alone_is_refused(release):
    (release / "e_val_task2.json").unlink()
    with pytest.raises(DataError, match=r"e_val_task3\.json has no matching validation task-2 file"):
        load_mod(release)


def test_no_validation_split_gives_one_warning(release, caplog):
    for name in ("e_val.json", "e_val_task1.json", "e_val_task2.json", "e_val_task3.json"):
        (release / name).unlink()
    with caplog.at_level(logging.WARNING, logger="stickerbench"):
        ds = load_mod(release)
    assert "validation" not in ds.splits
    (record,) = [r for r in caplog.records if r.name == "stickerbench"]
    assert "no validation split" in record.getMessage() and "early stopping is off" in record.getMessage()


def test_a_validation_split_gives_no_warning(release, caplog):
    with caplog.at_level(logging.WARNING, logger="stickerbench"):
        load_mod(release)
        load_mod(release, language="zh")
    assert not [r for r in caplog.records if r.name == "stickerbench"]


# official validation


def test_validation_is_the_official_task2_items_with_task3_labels(release):
    ds = load_mod(release)
    task2, task3 = _json(release / "e_val_task2.json"), _json(release / "e_val_task3.json")
    for n, (sample, item, labels) in enumerate(zip(ds.splits["validation"], task2, task3, strict=True)):
        assert sample.sample_id == f"validation/{n}" and sample.meta["index"] == n
        assert sample.meta["official_candidates"] == tuple(str(int(c)) for c in item["candidate"]["set"])
        assert len(sample.meta["official_candidates"]) == 11
        assert sample.gold == str(int(item["answer"]["img_id"])) == sample.meta["sent_sticker"]
        assert sample.emotion == labels["answer"]["emotion_id"]
    manifest = build_manifest("validation", ds.splits["validation"], list(ds.stickers), strategy="official")
    assert manifest.num_candidates == 11


# blind items


def test_blind_split_has_no_gold_and_the_sent_sticker_from_task3(release):
    ds = load_mod(release)
    assert ds.info["blind_splits"] == ["test_hard"]
    task3 = _json(release / "e_test_hard_task3.json")
    for sample, item in zip(ds.splits["test_hard"], task3, strict=True):
        assert sample.gold is None and sample.emotion is None
        assert sample.meta["sent_sticker"] == str(int(item["history"][-1]["img_id"]))
        assert sample.meta["task3_index"] == sample.meta["index"]
    assert all(s.gold is not None for s in ds.splits["test_easy"])


def test_blind_task3_joins_by_history_when_the_files_are_not_aligned(release):
    expected = [s.meta["sent_sticker"] for s in load_mod(release).splits["test_hard"]]
    _edit(release / "e_test_hard_task3.json", lambda items: items.reverse())
    samples = load_mod(release).splits["test_hard"]
    assert [s.meta["sent_sticker"] for s in samples] == expected
    assert [s.meta["task3_index"] for s in samples] == list(range(len(samples)))[::-1]


def test_ambiguous_blind_history_gets_no_sent_sticker(release, caplog):
    """Not aligned (reversed, one more item), and task-2 item 0's history sends two stickers."""
    _edit(release / "e_test_hard_task3.json", lambda items: items.reverse())
    items = _json(release / "e_test_hard_task3.json")
    other = next(f"{s:03d}" for s in range(NUM_STICKERS) if int(items[-1]["history"][-1]["img_id"]) != s)
    last = items[-1]
    items.append({**last, "history": [*last["history"][:-1], {**last["history"][-1], "img_id": other}]})
    (release / "e_test_hard_task3.json").write_text(json.dumps(items))
    with caplog.at_level(logging.WARNING, logger="stickerbench"):
        samples = load_mod(release).splits["test_hard"]
    assert "sent_sticker" not in samples[0].meta and all("sent_sticker" in s.meta for s in samples[1:])
    assert len(_warnings(caplog, "1 blind items of e_test_hard_task2.json have no task-3 item")) == 1


def test_aligned_files_that_disagree_on_the_sticker_are_refused(release):
    def change(items):
        turn = items[2]["history"][-1]
        turn["img_id"] = next(f"{s:03d}" for s in range(NUM_STICKERS) if s != int(turn["img_id"]))

    _edit(release / "e_test_easy_task3.json", change)
    with pytest.raises(DataError, match=r"e_test_easy_task3\.json, item 2: sends sticker .* but e_test_easy_task2"):
        load_mod(release)


def test_blind_sent_sticker_outside_the_candidate_set_is_refused(release):
    def change(items):
        cands = set(_json(release / "e_test_hard_task2.json")[1]["candidate"]["set"])
        items[1]["history"][-1]["img_id"] = next(f"{s:03d}" for s in range(NUM_STICKERS) if f"{s:03d}" not in cands)

    _edit(release / "e_test_hard_task3.json", change)
    with pytest.raises(
        DataError, match=r"e_test_hard_task3\.json, item 1: the sent sticker .* is not in the candidate set"
    ):
        load_mod(release)


def test_blind_split_takes_official_sets_only(release, tmp_path):
    samples = load_mod(release).splits["test_hard"]
    with pytest.raises(DataError, match=r"split 'test_hard', .* the split is blind .* use --candidates official"):
        build_manifest("test_hard", samples, [str(s) for s in range(NUM_STICKERS)], strategy="sampled")
    manifest = build_manifest("test_hard", samples, [], strategy="official")
    assert all(c.gold is None for c in manifest.sets)
    with pytest.raises(DataError, match=r"sample test_hard/0: a blind item .* has no gold index"):
        _ = manifest.sets[0].gold_index
    assert load_manifest(write_manifest(manifest, tmp_path)) == list(manifest.sets)


def test_partly_annotated_split_is_refused_unless_annotated_only(release, caplog):
    _edit(release / "e_test_easy_task2.json", lambda items: [items[i]["answer"].update(img_id="") for i in (1, 4)])
    with pytest.raises(DataError, match=r"e_test_easy_task2\.json: 5 of 7 items have an answer and 2 are blind"):
        load_mod(release)
    with caplog.at_level(logging.WARNING, logger="stickerbench"):
        ds = load_mod(release, annotated_only=True)
    assert [s.meta["index"] for s in ds.splits["test_easy"]] == [0, 2, 3, 5, 6]
    assert [s.sample_id for s in ds.splits["test_easy"]][:2] == ["test_easy/0", "test_easy/2"]
    assert ds.info["blind_splits"] == ["test_hard"]  # a fully blind split is kept as it is
    assert len(_warnings(caplog, "kept the 5 annotated items, dropped 2 blind ones")) == 1


def test_blind_emotion_is_no_label(release):
    _edit(release / "e_test_easy_task3.json", lambda items: items[3]["answer"].update(emotion_id=""))
    samples = load_mod(release).splits["test_easy"]
    assert samples[3].emotion is None and samples[3].gold is not None
    assert all(s.emotion is not None for n, s in enumerate(samples) if n != 3)


# speakers


def test_answer_speaker_other_than_the_last_turns_is_used_and_counted_once(release, caplog):
    _edit(
        release / "e_test_easy_task2.json", lambda items: [items[i]["answer"].update(speaker_id="[x]") for i in (2, 5)]
    )
    with caplog.at_level(logging.WARNING, logger="stickerbench"):
        samples = load_mod(release).splits["test_easy"]
    assert samples[2].speaker == samples[5].speaker == "[x]"
    assert samples[2].context[-1].speaker != "[x]"
    (record,) = _warnings(caplog, "e_test_easy_task2.json")
    assert "2 of 7 items give answer.speaker_id another speaker than the last history turn" in record.getMessage()
    assert "first: item 2" in record.getMessage()


# curated OCR


def test_ocr_json_fills_the_sticker_text_in_both_shapes(release):
    ds = load_mod(release)
    assert {sid: st.ocr_text for sid, st in ds.stickers.items()} == {str(s): f"text {s}" for s in range(NUM_STICKERS)}


def test_ocr_json_naming_an_unknown_sticker_is_refused(release):
    _edit(release / "ocr.json", lambda d: d.update({"077": "hello"}))
    with pytest.raises(DataError, match=r"ocr\.json: sticker '077' is not a sticker in img2id\.json"):
        load_mod(release)
    _edit(release / "ocr.json", lambda d: d.pop("077") and d.update({"3": {"name": "x.png"}}))
    with pytest.raises(DataError, match=r"ocr\.json: sticker '3': expected its text"):
        load_mod(release)


def test_ocr_file_can_be_named_and_changes_the_fingerprint(release, tmp_path):
    before = load_mod(release).fingerprint
    other = tmp_path / "ocr_max10.json"
    other.write_text(json.dumps({"0": {"ocr": "changed", "name": "表情0.gif"}}, ensure_ascii=False))
    ds = load_mod(release, files={"ocr": other})
    assert ds.stickers["0"].ocr_text == "changed" and ds.stickers["1"].ocr_text is None
    assert ds.info["files"]["ocr"] == str(other) and ds.fingerprint != before


def test_auto_ocr_uses_the_shipped_text_when_every_sticker_has_one(release, tmp_path, monkeypatch):
    import benchmark.ocr as ocr

    reads = []

    class Counting:
        name, fingerprint = "counting", "counting-v1"

        def read(self, image):
            reads.append(image)
            return "read"

    monkeypatch.setattr(ocr, "RapidOcrEngine", Counting)
    ds = load_mod(release)
    texts = ocr.ocr_stickers(ds.stickers, ocr.make_ocr_engine("auto"), tmp_path / "cache", progress=False)
    assert texts == {sid: st.ocr_text for sid, st in ds.stickers.items()} and not reads
    _edit(release / "ocr.json", lambda d: d.pop("4"))  # one sticker without text: every one is read
    ds = load_mod(release)
    texts = ocr.ocr_stickers(ds.stickers, ocr.make_ocr_engine("auto"), tmp_path / "cache", progress=False)
    assert set(texts.values()) == {"read"} and len(reads) == NUM_STICKERS
    assert "auto" in ocr.OCR_ENGINES and ocr.DEFAULT_OCR == "auto"


# fingerprints and configuration


def _legacy_fingerprint(ds):
    """The fingerprint's formula before blind items and curated OCR existed."""
    digest = hashlib.sha256(ds.name.encode())
    for name in sorted(ds.splits):
        digest.update(f"\0split:{name}".encode())
        for s in ds.splits[name]:
            row = (s.sample_id, [(u.speaker, u.text, u.sticker_id) for u in s.context], s.speaker, s.gold, s.emotion)
            digest.update(repr(row).encode())
    for sid in sorted(ds.stickers):
        digest.update(f"\0sticker:{sid}:{ds.stickers.content_hash(sid)}".encode())
    digest.update(repr(ds.emotion_names).encode())
    return digest.hexdigest()


def test_fingerprint_is_unchanged_without_blind_items_or_curated_ocr(mini_dataset, release):
    assert mini_dataset.fingerprint == _legacy_fingerprint(mini_dataset)
    (release / "ocr.json").unlink()
    (release / "e_test_hard_task2.json").unlink()
    (release / "e_test_hard_task3.json").unlink()
    ds = load_mod(release)
    assert ds.fingerprint == _legacy_fingerprint(ds)


def test_blind_sent_sticker_enters_the_fingerprint(release):
    before = load_mod(release).fingerprint

    def change(items):
        turn = items[0]["history"][-1]
        turn["img_id"] = next(
            c for c in _json(release / "e_test_hard_task2.json")[0]["candidate"]["set"] if c != turn["img_id"]
        )

    _edit(release / "e_test_hard_task3.json", change)
    assert load_mod(release).fingerprint != before


def test_language_and_annotated_only_flags_and_run_config():
    parser = argparse.ArgumentParser()
    add_data_args(parser)
    args = parser.parse_args(["--dataset", "mod", "--language", "zh", "--annotated-only"])
    assert args.language == "zh" and args.annotated_only is True
    defaults = parser.parse_args([])
    assert defaults.language == "en" and defaults.annotated_only is False
    config = RunConfig(models=["random"])
    assert config.language == "en" and config.annotated_only is False
    with pytest.raises(BenchmarkError, match="--language 'fr'"):
        RunConfig(models=["random"], language="fr").validate()
