"""MMBERT: sequence layout on a concrete dialogue, OCR slots, front truncation, losses, loading."""

from __future__ import annotations

import pytest
import torch
from _tiny_tokenizer import word_tokenizer
from transformers import BertConfig, BertForSequenceClassification

from stickerbench.models.dialogue import Turn
from stickerbench.models.mmbert import (
    IGNORE,
    OCR_SLOTS,
    MMBert,
    add_mmbert_tokens,
    assemble,
    collate,
    context_ids,
    load_bert,
    mask_context,
    ocr_slots,
    training_batch,
)

WORDS = ["hi", "there", "so", "sad", "today", "yay", "great", "cry", "lol"]
BERT_SPECIALS = ("[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]")


def tokenizer_and_bert():
    tokenizer = word_tokenizer(
        WORDS, specials=BERT_SPECIALS, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    return tokenizer, BertForSequenceClassification(config)


@pytest.fixture
def setup():
    tokenizer, bert = tokenizer_and_bert()
    vocab = add_mmbert_tokens(tokenizer, bert)
    return tokenizer, bert, vocab, lambda text: tokenizer(text, add_special_tokens=False).input_ids


DIALOGUE = [Turn(0, "hi there"), Turn(1, "so sad", sticker=2), Turn(0, "cry today")]


def test_layout_on_a_concrete_dialogue(setup):
    tokenizer, _, vocab, tokenize = setup
    ctx = context_ids(DIALOGUE, tokenize, vocab)
    slots = ocr_slots(tokenize("lol yay"), vocab)
    row = assemble(ctx, slots.inputs, vocab)
    tokens = tokenizer.convert_ids_to_tokens(list(row.input_ids))
    assert tokens[:10] == [
        "[CLS]",
        "[speaker1]",
        "hi",
        "there",
        "[speaker2]",
        "so",
        "sad",
        "[speaker1]",
        "cry",
        "today",
    ]
    assert tokens[10] == "[SEP]"
    assert tokens[11:22] == ["[MASK]"] * 9 + ["lol", "yay"]  # 11 OCR slots, right-aligned
    assert tokens[23] == "[SEP]" and row.image_position == 22 and len(tokens) == 24
    assert row.token_type_ids == (0,) * 11 + (1,) * 13
    assert tokenizer.convert_ids_to_tokens([t for t in slots.targets if t != IGNORE]) == ["[CLS]", "lol", "yay"]
    assert slots.targets[:8] == (IGNORE,) * 8
    empty = ocr_slots([], vocab)
    assert empty.inputs == (vocab.mask,) * OCR_SLOTS and set(empty.targets) == {IGNORE}
    assert len(ocr_slots(tokenize("lol " * 30), vocab).inputs) == OCR_SLOTS


def test_context_is_cut_from_the_front(setup):
    tokenizer, _, vocab, tokenize = setup
    ctx = context_ids(DIALOGUE, tokenize, vocab, max_len=6)
    assert tokenizer.convert_ids_to_tokens(ctx) == ["[CLS]", "sad", "[speaker1]", "cry", "today", "[SEP]"]


def test_masking_never_touches_cls_or_sep(setup):
    _, _, vocab, tokenize = setup
    ctx = context_ids(DIALOGUE * 20, tokenize, vocab)
    ids, labels = mask_context(ctx, vocab, torch.Generator().manual_seed(0))
    chosen = [i for i, lab in enumerate(labels) if lab != IGNORE]
    assert 0 not in chosen and len(ctx) - 1 not in chosen
    assert 0.05 < len(chosen) / len(ctx) < 0.3
    assert all(labels[i] == ctx[i] for i in chosen)
    assert sum(ids[i] == vocab.mask for i in chosen) > len(chosen) / 2


def test_scores_and_four_task_loss(setup):
    _, bert, vocab, tokenize = setup
    model = MMBert(bert, feature_dim=8, num_emotions=3).eval()
    ctx = context_ids(DIALOGUE, tokenize, vocab)
    short = context_ids(DIALOGUE[-1:], tokenize, vocab)
    feats = torch.randn(2, 8)
    rows = [
        assemble(ctx, ocr_slots(tokenize("lol"), vocab).inputs, vocab),
        assemble(short, ocr_slots([], vocab).inputs, vocab),
    ]
    out = model(collate(rows, vocab.pad), feats)
    assert out.match_logits.shape == (2,) and model.emotion_logits(out).shape == (2, 3)
    alone = model(collate(rows[1:], vocab.pad), feats[1:])
    torch.testing.assert_close(alone.match_logits[0], out.match_logits[1], atol=1e-5, rtol=1e-5)
    changed = model(collate(rows, vocab.pad), feats + 1.0)
    assert not torch.allclose(changed.match_logits, out.match_logits)
    batch = training_batch(
        [ctx, short],
        [tokenize("lol yay"), []],
        [tokenize("cry"), tokenize("sad")],
        [1, None],
        vocab,
        torch.Generator().manual_seed(0),
    )
    model.train()
    loss = model.loss(batch, feats, torch.randn(2, 8))
    assert torch.isfinite(loss.total) and loss.semantic > 0 and loss.emotion > 0 and loss.matching > 0
    loss.total.backward()
    assert model.img_ff.weight.grad.abs().sum() > 0 and model.mlm_head.weight.grad.abs().sum() > 0


def test_paper_loading_path_from_a_saved_checkpoint(tmp_path):
    tokenizer, bert = tokenizer_and_bert()
    bert.save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    loaded_tok, loaded = load_bert(tmp_path / "bert")
    assert "[speaker2]" in loaded_tok.get_vocab() and loaded.config.num_labels == 2
    assert loaded.get_input_embeddings().num_embeddings == len(loaded_tok)
