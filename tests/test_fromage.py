"""FROMAGe: token layout with image slots and [RET], front truncation, frozen parts, losses, and
loading an official-format directory (model_args.json + pretrained_ckpt.pth.tar)."""

from __future__ import annotations

import json

import pytest
import torch
from _tiny_tokenizer import word_tokenizer
from transformers import CLIPVisionConfig, CLIPVisionModel, OPTConfig, OPTForCausalLM

from stickerbench.models.clip_features import load_clip_parts, save_tiny_clip
from stickerbench.models.dialogue import Turn
from stickerbench.models.fromage import (
    Fromage,
    FromageArgs,
    add_fromage_tokens,
    build_example,
    caption_batch,
    caption_example,
    collate,
    load_fromage_dir,
)

WORDS = ["a", "b", ":", "hi", "there", "so", "sad", "yay", "cat", "crying"]
ARGS = FromageArgs(n_visual_tokens=2, shared_emb_dim=8)


def base_parts():
    tokenizer = word_tokenizer(
        WORDS, specials=("<unk>", "<pad>", "</s>"), bos_token="</s>", eos_token="</s>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    lm = OPTForCausalLM(
        OPTConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            word_embed_proj_dim=16,
            ffn_dim=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=64,
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=2,
        )
    )
    visual = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=16,
        )
    )
    return tokenizer, lm, visual


@pytest.fixture
def setup():
    tokenizer, lm, visual = base_parts()
    vocab = add_fromage_tokens(tokenizer, lm)
    model = Fromage(lm, visual, ARGS, vocab.ret)
    return tokenizer, vocab, model, lambda text: tokenizer(text, add_special_tokens=False).input_ids


DIALOGUE = [Turn(0, "hi there"), Turn(1, "so sad", sticker=4), Turn(0, "yay")]


def test_layout_on_a_concrete_dialogue(setup):
    tokenizer, vocab, _, tokenize = setup
    ex = build_example(DIALOGUE, tokenize, vocab, n_visual_tokens=2)
    tokens = tokenizer.convert_ids_to_tokens(list(ex.input_ids))
    assert tokens == [
        "</s>",
        "a",
        ":",
        "hi",
        "there",
        "b",
        ":",
        "so",
        "sad",
        "<pad>",
        "<pad>",
        "a",
        ":",
        "yay",
        "[RET]",
    ]
    assert ex.image_slots == ((9, 4, 0), (10, 4, 1))
    assert ex.ret_position == 14 and vocab.ret == len(tokenizer) - 1


def test_turns_are_dropped_from_the_front(setup):
    tokenizer, vocab, _, tokenize = setup
    ex = build_example(DIALOGUE, tokenize, vocab, n_visual_tokens=2, max_len=12)
    tokens = tokenizer.convert_ids_to_tokens(list(ex.input_ids))
    assert tokens == ["</s>", "b", ":", "so", "sad", "<pad>", "<pad>", "a", ":", "yay", "[RET]"]
    assert ex.image_slots == ((5, 4, 0), (6, 4, 1))
    long = build_example([Turn(0, "so " * 30)], tokenize, vocab, max_len=10)
    assert len(long.input_ids) == 10 and long.input_ids[-1] == vocab.ret and long.input_ids[0] == vocab.bos


def test_scores_use_ret_state_and_images(setup):
    _, vocab, model, tokenize = setup
    model.eval()
    pooled = model.encode_images(torch.randn(5, 3, 32, 32))
    batch = collate(
        [build_example(DIALOGUE, tokenize, vocab, 2), build_example(DIALOGUE[-1:], tokenize, vocab, 2)], vocab.pad
    )
    text = model.text_embeddings(batch, pooled)
    assert text.shape == (2, 8)
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(2))
    alone = model.text_embeddings(collate([build_example(DIALOGUE[-1:], tokenize, vocab, 2)], vocab.pad), pooled)
    torch.testing.assert_close(alone[0], text[1], atol=1e-5, rtol=1e-5)
    changed = pooled.clone()
    changed[4] += 1
    assert not torch.allclose(model.text_embeddings(batch, changed)[0], text[0])  # the sticker is read
    images = model.image_embeddings(pooled)[torch.tensor([[0, 1, 2], [2, 3, 4]])]
    scores = model.scores(text, images)
    assert scores.shape == (2, 3)
    assert scores.abs().max() <= model.logit_scale.exp() + 1e-4


def test_only_the_mappings_learn(setup):
    _, vocab, model, tokenize = setup
    model.train()
    assert not model.lm.training and not model.visual.training
    pooled = model.encode_images(torch.randn(3, 3, 32, 32))
    captions = ["crying cat", "yay", "sad cat"]
    loss = model.retrieval_loss(collate([caption_example(c, tokenize, vocab) for c in captions], vocab.pad), pooled)
    loss = loss + model.caption_loss(*caption_batch(captions, tokenize, vocab), pooled)
    loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        "logit_scale",
        "visual_embeddings.weight",
        "visual_embeddings.bias",
        "visual_fc.weight",
        "visual_fc.bias",
        "text_hidden_fcs.0.0.weight",
        "text_hidden_fcs.0.0.bias",
        "ret_embedding",
    }
    assert all(model.get_parameter(n).grad is not None for n in trainable)
    assert all(p.grad is None for p in model.lm.parameters())


def test_official_directory_loads_with_weights_only(tmp_path):
    tokenizer, lm, _ = base_parts()
    lm.save_pretrained(tmp_path / "opt")
    tokenizer.save_pretrained(tmp_path / "opt")
    save_tiny_clip(tmp_path / "clip", hidden=16, image_size=32, patch=16)  # a full CLIP, as on the hub
    visual = load_clip_parts(tmp_path / "clip")[0]
    vocab = add_fromage_tokens(tokenizer, lm)
    reference = Fromage(lm, visual, ARGS, vocab.ret).eval()
    with torch.no_grad():
        for p in reference.trainable_state().values():
            p.normal_()
    state = {
        ("ret_input_embeddings.weight" if k == "ret_embedding" else f"model.{k}"): v.clone()
        for k, v in reference.trainable_state().items()
    }
    state["model.lm.some_frozen.weight"] = torch.zeros(1)  # extra keys are ignored (strict=False upstream)
    ckpt_dir = tmp_path / "fromage_model"
    ckpt_dir.mkdir()
    torch.save({"state_dict": state}, ckpt_dir / "pretrained_ckpt.pth.tar")
    (ckpt_dir / "model_args.json").write_text(
        json.dumps(
            {
                "opt_version": str(tmp_path / "opt"),
                "visual_encoder": str(tmp_path / "clip"),
                "n_visual_tokens": 2,
                "shared_emb_dim": 8,
                "text_emb_layers": [-1],
                "retrieval_token_idx": vocab.ret,
                "task": "multitask",
            }
        )
    )
    loaded_tok, loaded, processor = load_fromage_dir(ckpt_dir)
    assert processor.crop_size["height"] == 32
    loaded.eval()
    for k, v in reference.trainable_state().items():
        torch.testing.assert_close(loaded.trainable_state()[k], v)
    tokenize = lambda t: loaded_tok(t, add_special_tokens=False).input_ids  # noqa: E731
    batch = collate([build_example(DIALOGUE, tokenize, vocab, 2)], vocab.pad)
    pooled = reference.encode_images(torch.randn(5, 3, 32, 32))
    torch.testing.assert_close(loaded.text_embeddings(batch, pooled), reference.text_embeddings(batch, pooled))

    (ckpt_dir / "model_args.json").write_text(
        json.dumps(
            {
                "opt_version": str(tmp_path / "opt"),
                "visual_encoder": str(tmp_path / "clip"),
                "n_visual_tokens": 2,
                "shared_emb_dim": 8,
                "retrieval_token_idx": 50266,
            }
        )
    )
    with pytest.raises(ValueError, match="retrieval_token_idx"):
        load_fromage_dir(ckpt_dir)
