"""The offline tokenizer every tiny preset uses: fixed special ids, truncation, round trip."""

from __future__ import annotations

from transformers import AutoTokenizer

from benchmark.tiny_tokenizer import train_tiny_tokenizer


def test_special_ids_truncation_and_round_trip(tmp_path):
    texts = ["so happy today", "this is so sad", "why are you angry", "wow really"] * 3
    tok = train_tiny_tokenizer(texts, vocab_size=200, max_length=5, extra_special_tokens=["[speaker1]"])
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.eos_token_id, tok.mask_token_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    assert tok.convert_tokens_to_ids("[speaker1]") == 5
    enc = tok(["so happy today this is so sad", "wow"], padding=True, truncation=True)
    long, short = enc["input_ids"]
    assert len(long) == 5 and long[0] == 2 and long[-1] == 3  # [SEP] survives truncation
    assert short[:3] == [2, tok.convert_tokens_to_ids("wow"), 3] and short[3:] == [0, 0]
    assert enc["attention_mask"][1] == [1, 1, 1, 0, 0]
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("[speaker1] so sad")["input_ids"] == tok("[speaker1] so sad")["input_ids"]
    assert (
        train_tiny_tokenizer(texts, vocab_size=200).get_vocab()
        == train_tiny_tokenizer(texts, vocab_size=200).get_vocab()
    )
