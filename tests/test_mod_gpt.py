"""MOD-GPT: sequence layout on a concrete dialogue, front truncation, scores, losses, loading."""

from __future__ import annotations

import pytest
import torch
from _tiny_tokenizer import word_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

from stickerbench.models.dialogue import Turn, speaker_slots
from stickerbench.models.mod_gpt import IGNORE, ModGPT, add_mod_gpt_tokens, build_example, collate, load_gpt2

WORDS = ["hi", "there", "so", "sad", "today", "yay", "great"]


def tiny_lm(tokenizer):
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64, bos_token_id=None, eos_token_id=None
    )
    torch.manual_seed(0)
    return GPT2LMHeadModel(config)


@pytest.fixture
def setup():
    tokenizer = word_tokenizer(WORDS)
    lm = tiny_lm(tokenizer)
    vocab = add_mod_gpt_tokens(tokenizer, lm)

    def tokenize(text):
        return tokenizer(text, add_special_tokens=False).input_ids

    return tokenizer, lm, vocab, tokenize


DIALOGUE = [Turn(0, "hi there"), Turn(1, "so sad", sticker=3), Turn(0, "great")]
RESPONSE = Turn(1, "yay")


def test_layout_on_a_concrete_dialogue(setup):
    tokenizer, _, vocab, tokenize = setup
    ex = build_example(DIALOGUE, RESPONSE, tokenize, vocab)
    tokens = tokenizer.convert_ids_to_tokens(list(ex.input_ids))
    assert tokens == [
        "[speaker1]",
        "[BOS]",
        "hi",
        "there",
        "[EOS]",
        "[speaker2]",
        "[BOS]",
        "so",
        "sad",
        "[EOS]",
        "[IMG]",
        "[speaker1]",
        "[BOS]",
        "great",
        "[EOS]",
        "[speaker2]",
        "[BOS]",
        "yay",
        "[EOS]",
        "[TAG]",
    ]
    types = tokenizer.convert_ids_to_tokens(list(ex.token_type_ids))
    assert types == ["[speaker1]"] * 5 + ["[speaker2]"] * 5 + ["[IMG]"] + ["[speaker1]"] * 4 + ["[speaker2]"] * 4 + [
        "[IMG]"
    ]
    assert ex.image_slots == ((10, 3),)
    assert ex.tag_position == 19
    # LM targets: the response's [BOS] yay [EOS], each at its own position
    targets = {p: tokenizer.convert_ids_to_tokens(t) for p, t in enumerate(ex.labels) if t != IGNORE}
    assert targets == {16: "[BOS]", 17: "yay", 18: "[EOS]"}


def test_history_is_cut_from_the_front_whole_turns(setup):
    tokenizer, _, vocab, tokenize = setup
    full = build_example(DIALOGUE, RESPONSE, tokenize, vocab)
    cut = build_example(DIALOGUE, RESPONSE, tokenize, vocab, max_len=len(full.input_ids) - 1)
    # the oldest turn (5 tokens) goes; the sticker turn and everything after it stay
    assert list(cut.input_ids) == list(full.input_ids[5:])
    assert cut.image_slots == ((5, 3),)
    only_response = build_example(DIALOGUE, RESPONSE, tokenize, vocab, max_len=8)
    assert tokenizer.convert_ids_to_tokens(list(only_response.input_ids))[0] == "[speaker2]"
    assert len(only_response.input_ids) == 5
    long = build_example([], Turn(0, "so " * 20), tokenize, vocab, max_len=10)
    assert len(long.input_ids) == 10 and long.input_ids[-1] == vocab.tag


def test_speaker_slots_follow_first_appearance():
    assert speaker_slots(["b", "a", "b", "a"]) == [0, 1, 0, 1]
    assert speaker_slots(["[speaker1]", "[speaker2]", "[speaker1]"]) == [0, 1, 0]


def test_forward_scores_and_losses(setup):
    _, lm, vocab, tokenize = setup
    model = ModGPT(lm, feature_dim=8, num_emotions=4).eval()  # no dropout: outputs comparable
    examples = [build_example(DIALOGUE, RESPONSE, tokenize, vocab), build_example([], Turn(0, "hi"), tokenize, vocab)]
    batch = collate(examples, vocab.pad)
    features = torch.randn(5, 8)
    out = model(batch, features)
    assert out.predicted_feature.shape == (2, 8)
    assert out.flag_logits.shape == (2, 2) and out.emotion_logits.shape == (2, 4)
    # padding does not change the shorter example's [TAG] state
    alone = model(collate(examples[1:], vocab.pad), features)
    torch.testing.assert_close(alone.predicted_feature[0], out.predicted_feature[1], atol=1e-5, rtol=1e-5)
    # the sticker slot really carries the feature: changing row 3 changes the prediction
    other = features.clone()
    other[3] += 1.0
    assert not torch.allclose(model(batch, other).predicted_feature[0], out.predicted_feature[0])
    cands = features[torch.tensor([[0, 1, 2], [2, 3, 4]])]
    scores = model.candidate_scores(out.predicted_feature, cands)
    assert scores.shape == (2, 3)
    exact = model.candidate_scores(features[:1], features[None, :3])
    assert exact.argmax().item() == 0 and exact[0, 0].item() == 0.0
    loss = model.loss(batch, features, gold_rows=torch.tensor([1, -1]), emotions=torch.tensor([2, -1]))
    assert torch.isfinite(loss.total) and loss.feature > 0 and loss.emotion > 0 and loss.lm > 0
    loss.total.backward()
    assert model.img_ff.weight.grad.abs().sum() > 0
    assert model.emotion_head.weight.grad.abs().sum() > 0


def test_paper_loading_path_from_a_saved_checkpoint(tmp_path):
    tokenizer = word_tokenizer(WORDS)
    tiny_lm(tokenizer).save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    loaded_tok, lm = load_gpt2(tmp_path / "gpt2")
    assert "[TAG]" in loaded_tok.get_vocab()
    assert lm.get_input_embeddings().num_embeddings == len(loaded_tok)
