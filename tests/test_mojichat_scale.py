"""MojiChat at MOD's size: its arithmetic, its stickers, its determinism on a tiny scale factor, and
the default build left exactly as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from benchmark.datasets import load_dataset
from benchmark.datasets.mojichat import build as build_module
from benchmark.datasets.mojichat import build_mojichat, ensure_mojichat
from benchmark.datasets.mojichat.dialogues import TWO_EVENT_RATE
from benchmark.datasets.mojichat.inventory import PACKS
from benchmark.datasets.mojichat.sizes import SIZES, build_size
from benchmark.datasets.mojichat.stickers import design_stickers
from benchmark.errors import DataError

TINY = 0.002  # of MOD's size: a few hundred dialogues, every split above the 12-dialogue floor
DATA_FILES = ["train.json", "validation.json"] + [
    f"test_{s}_task{t}.json" for s in ("easy", "hard", "bias") for t in (2, 3)
]
# The default build's sticker metadata and dialogue and task files, as the generator wrote them
# before sizes existed (they depend on no rendering library, unlike the images).
DEFAULT_DATA_SHA256 = "d07f4d010f4dcdc059f071c1a5c404fc06baa2dd7463860a1a627394f2bf59ad"


def _files_hash(root: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def tiny_mod(tmp_path_factory) -> Path:
    """The MOD-sized build at a tiny scale factor: all 307 stickers rendered, few dialogues."""
    return build_mojichat(tmp_path_factory.mktemp("mod") / "data", size="mod", scale=TINY, progress=False)


def test_mod_size_has_mods_shape():
    mod = SIZES["mod"]
    assert mod.expected_samples("train") >= 1.01 * 150_000
    assert 3_000 <= mod.expected_samples("validation") <= 3_400  # MOD: 3,183
    assert mod.expected_samples("test_easy") == 3_200 and mod.expected_samples("test_hard") == 7_000
    assert mod.expected_samples("train") == mod.dialogues["train"] * (1 + TWO_EVENT_RATE)
    stickers = design_stickers(0, mod.packs)
    assert len(stickers) == 307  # as MOD's English release
    assert len({(s.pack.name, s.emotion) for s in stickers}) == len(stickers)
    assert [s.sticker_id for s in stickers] == list(range(len(stickers)))
    held_out = sum(s.pack.held_out for s in stickers)
    assert 0.15 <= held_out / len(stickers) <= 0.25, "about a fifth unseen in training, as in the default build"


def test_default_size_is_the_embedded_dataset():
    default = build_size("default")
    assert default.packs == PACKS and len(design_stickers(0, default.packs)) == 205
    assert dict(default.dialogues) == build_module.SPLIT_SIZES
    assert design_stickers(0) == design_stickers(0, default.packs)
    with pytest.raises(DataError, match="unknown MojiChat size"):
        build_size("huge")


def test_default_build_data_is_unchanged(tmp_path):
    """Sizes must not move a byte of the default dataset (fingerprints, tests and README numbers rest on it)."""
    stickers = design_stickers(0)
    build_module._generate(tmp_path, stickers, 0, 0.9, 1.0)
    meta = {str(s.sticker_id): s.meta() for s in stickers}
    build_module._write_json(tmp_path / "sticker_meta.json", meta)
    assert _files_hash(tmp_path, ["sticker_meta.json", *DATA_FILES]) == DEFAULT_DATA_SHA256


def test_tiny_mod_build_is_deterministic_and_mod_shaped(tiny_mod, tmp_path):
    id2img = json.loads((tiny_mod / "id2img.json").read_text())
    assert len(id2img) == 307
    images = {hashlib.sha256((tiny_mod / "meme_set" / f).read_bytes()).hexdigest() for f in id2img.values()}
    assert len(images) == 307, "every sticker is a distinct image"
    again = tmp_path / "again"
    again.mkdir()
    stickers = design_stickers(0, SIZES["mod"].packs)
    build_module._generate(again, stickers, 0, 0.9, TINY, SIZES["mod"])
    assert _files_hash(again, DATA_FILES) == _files_hash(tiny_mod, DATA_FILES)
    card = json.loads((tiny_mod / "card.json").read_text())
    assert card["size"] == "mod" and card["stickers"]["total"] == 307
    markdown = (tiny_mod / "DATASET_CARD.md").read_text()
    assert "--scale mod" in markdown and "lion" in markdown


def test_tiny_mod_build_loads_as_mojichat_mod(tiny_mod):
    dataset = load_dataset("mojichat-mod", tiny_mod)
    assert dataset.name == "mojichat-mod" and len(dataset.stickers) == 307
    sizes = {split: len(samples) for split, samples in dataset.splits.items()}
    mod = SIZES["mod"]
    for split in ("test_easy", "test_hard", "test_bias"):
        assert sizes[split] == mod.dialogues_at(split, TINY)
    assert 0.75 * mod.expected_samples("train", TINY) <= sizes["train"] <= 1.25 * mod.expected_samples("train", TINY)
    assert all(len(s.meta["official_candidates"]) == 11 for s in dataset.split("test_hard"))
    held_out = {sid for sid in dataset.stickers if dataset.stickers[sid].meta["held_out"]}
    assert not held_out & {s.gold for s in dataset.split("train")}
    assert held_out & {s.gold for s in dataset.split("test_hard")}


def test_data_build_scale_mod_and_the_cache_directory(tmp_path, monkeypatch):
    from benchmark.cli import main

    calls = []

    def fake_build(path: Path, **kwargs) -> Path:
        calls.append((path, kwargs))
        return path

    monkeypatch.setattr("benchmark.datasets.mojichat.build_mojichat", fake_build)
    assert main(["data", "build", "mojichat", "--scale", "mod", "--out", str(tmp_path / "m")]) == 0
    assert calls == [(tmp_path / "m", {"seed": 0, "bias_strength": 0.9, "size": "mod"})]
    default = build_module.mojichat_dir(tmp_path, 0, 0.9)
    mod = build_module.mojichat_dir(tmp_path, 0, 0.9, "mod")
    assert default.name.startswith("mojichat-1-") and mod.name.startswith("mojichat-mod-1-")


def test_ensure_builds_the_mod_size_once(tmp_path, monkeypatch):
    calls = []

    def fake_build(path: Path, seed: int, bias_strength: float, size: str = "default") -> Path:
        calls.append(size)
        path.mkdir(parents=True)
        (path / "card.json").write_text("{}")
        return path

    monkeypatch.setattr(build_module, "build_mojichat", fake_build)
    first = ensure_mojichat(tmp_path, size="mod")
    assert ensure_mojichat(tmp_path, size="mod") == first == build_module.mojichat_dir(tmp_path, size="mod")
    assert calls == ["mod"]
