"""A word-level fast tokenizer built in memory: the tiny stand-in for GPT-2/OPT/BERT vocabularies."""

from __future__ import annotations


def word_tokenizer(words, specials=("[UNK]",), **special_roles):
    """A ``PreTrainedTokenizerFast`` over ``words`` (whitespace split, lower-cased).

    ``special_roles`` name roles such as ``bos_token="</s>"``; every role token and every entry
    of ``specials`` is in the vocabulary, ids in the order given.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in [*specials, *special_roles.values(), *words]:
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(WordLevel(vocab, unk_token=specials[0]))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=specials[0], **special_roles)
