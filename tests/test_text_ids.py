"""Remembered token ids of turns: the tokenizer's own ids, asked once per text, never stale."""

from __future__ import annotations

from _tiny_tokenizer import word_tokenizer

from stickerbench.adapters.text_ids import TextIds


class _Counting:
    """A tokenizer that counts its calls."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, 0

    def __call__(self, text, **kwargs):
        self.calls += 1
        return self.tokenizer(text, **kwargs)

    def __len__(self):
        return len(self.tokenizer)


def test_ids_are_the_tokenizers_and_each_text_is_tokenized_once():
    tok = _Counting(word_tokenizer(["hello", "there", "friend"]))
    ids = TextIds(tok)
    first = ids("hello there friend")
    assert first == tok.tokenizer("hello there friend", add_special_tokens=False).input_ids
    first.append(99)  # a caller's list is its own: the remembered ids stay as they were
    assert ids("hello there friend") == first[:-1] and tok.calls == 1
    assert ids("there") == tok.tokenizer("there", add_special_tokens=False).input_ids and tok.calls == 2


def test_the_least_recently_used_text_goes_first_when_full():
    tok = _Counting(word_tokenizer(["a", "b", "c"]))
    ids = TextIds(tok, size=2)
    ids("a"), ids("b"), ids("a"), ids("c")  # "b" is the least recently used when "c" comes
    calls = tok.calls
    ids("a")
    assert tok.calls == calls
    ids("b")
    assert tok.calls == calls + 1


def test_a_token_added_or_another_tokenizer_is_noticed():
    tokenizer = word_tokenizer(["hello", "[ret]"])
    ids = TextIds(tokenizer)
    assert ids.serves(tokenizer) and not ids.serves(word_tokenizer(["hello", "[ret]"]))
    tokenizer.add_tokens(["[RET]"], special_tokens=True)
    assert not ids.serves(tokenizer)  # TorchSelector._tokenize then starts a new one
