"""COMET knowledge: which hidden state g is, and the on-disk cache being hit on a second run."""

from __future__ import annotations

import shutil

import pytest
import torch

from benchmark.cli import main
from stickerbench.adapters.cks.backbones import load_comet, write_tiny_backbones
from stickerbench.adapters.cks.knowledge import KnowledgeCache, build_knowledge, dataset_utterances
from stickerbench.models.cks.comet import comet_prompt
from stickerbench.models.cks.keue import RELATIONS


@pytest.fixture
def comet(mini_dataset, tmp_path):
    write_tiny_backbones(mini_dataset, tmp_path / "backbones", seed=0)
    return load_comet(str(tmp_path / "backbones" / "comet"), "tiny", "cpu")


def test_g_is_the_mean_decoder_last_hidden_state(comet):
    texts, vectors = comet.generate(["i am so sad today", "wow"], "xReact")
    assert len(texts) == 2 and vectors.shape == (2, comet.dim)
    enc = comet.tokenizer([comet_prompt("wow", "xReact")], return_tensors="pt")
    enc.pop("token_type_ids", None)
    with torch.no_grad():
        seq = comet.model.generate(
            **enc, do_sample=False, num_beams=1, max_new_tokens=comet.max_new_tokens, min_new_tokens=1
        )
        out = comet.model(**enc, decoder_input_ids=seq, output_hidden_states=True)
    keep = seq[0] != comet.model.config.pad_token_id
    keep[0] = True
    torch.testing.assert_close(vectors[1], out.decoder_hidden_states[-1][0, keep].mean(0), atol=1e-5, rtol=1e-4)


def test_cache_is_hit_on_a_second_run_and_fills_only_what_is_missing(comet, tmp_path):
    utterances = ["hello there", "i am so sad today", "hello there", "wow"]
    cache = KnowledgeCache(tmp_path / "cache", comet.fingerprint, RELATIONS)
    assert cache.fill(comet, utterances) == 3 * len(RELATIONS)
    first_calls = comet.calls
    assert first_calls == len(RELATIONS)  # one batch per relation
    again = KnowledgeCache(tmp_path / "cache", comet.fingerprint, RELATIONS)  # a new process reads the shards
    assert len(again) == 3 * len(RELATIONS)
    assert again.fill(comet, utterances) == 0 and comet.calls == first_calls
    torch.testing.assert_close(again.vectors("wow"), cache.vectors("wow"))
    assert again.vectors("wow").shape == (len(RELATIONS), comet.dim)
    assert again.fill(comet, utterances + ["a new line"]) == len(RELATIONS)
    assert comet.calls == first_calls + len(RELATIONS)
    assert len(list(cache.dir.glob("*.safetensors"))) == 2  # one shard per fill, all relations in it


def test_a_fill_reads_the_shards_another_process_wrote_since(comet, tmp_path):
    ours = KnowledgeCache(tmp_path / "cache", comet.fingerprint, RELATIONS)
    other = KnowledgeCache(tmp_path / "cache", comet.fingerprint, RELATIONS)
    assert other.fill(comet, ["made elsewhere"]) == len(RELATIONS)
    calls = comet.calls
    assert ours.fill(comet, ["made elsewhere", "made here"]) == len(RELATIONS)  # only "made here" is new
    assert comet.calls == calls + len(RELATIONS)
    torch.testing.assert_close(ours.vectors("made elsewhere"), other.vectors("made elsewhere"))


def test_fingerprint_ignores_the_location_but_not_the_weights(mini_dataset, comet, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "backbones" / "comet", moved)
    same = load_comet(str(moved), "tiny", "cpu")
    assert same.fingerprint == comet.fingerprint
    with torch.no_grad():
        next(same.model.parameters()).add_(1e-3)
    same._fingerprint = None
    assert same.fingerprint != comet.fingerprint


def test_build_knowledge_twice_generates_nothing_new(mini_dataset, tmp_path):
    made, total, folder = build_knowledge(mini_dataset, "tiny", tmp_path / "cache")
    assert made == total == len(dataset_utterances(mini_dataset)) * len(RELATIONS) > 0
    assert folder.is_dir()
    assert build_knowledge(mini_dataset, "tiny", tmp_path / "cache")[0] == 0


def test_knowledge_build_command(mini_mod_dir, capsys):
    args = [
        "knowledge",
        "build",
        "--dataset",
        "mod",
        "--data-dir",
        str(mini_mod_dir),
        "--preset",
        "tiny",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    assert "generated 0 vectors" not in capsys.readouterr().out
    assert main(args) == 0
    assert "generated 0 vectors" in capsys.readouterr().out


def test_paper_preset_without_comet_is_a_clear_error(mini_mod_dir, capsys):
    assert main(["knowledge", "build", "--dataset", "mod", "--data-dir", str(mini_mod_dir), "--device", "cpu"]) == 2
    assert "comet_model" in capsys.readouterr().err
