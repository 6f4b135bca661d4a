"""A small word-level tokenizer built offline on a dataset's text, for ``tiny`` presets.

Why: ``tiny`` presets are random-init small configs of the real architecture classes, and
there is no pretrained tokenizer on disk and no network. Counting the words of the
training split takes well under a second and gives a *real* ``PreTrainedTokenizerFast`` (padding,
truncation, attention masks, ``save_pretrained``/``from_pretrained``), so adapters run exactly
the code path they run with a pretrained tokenizer.

How an adapter uses it (every selector's ``tiny`` preset):

    from benchmark.tiny_tokenizer import train_tiny_tokenizer, dataset_texts
    tok = train_tiny_tokenizer(dataset_texts(data, "train"), max_length=32,
                               extra_special_tokens=["[speaker1]", "[speaker2]"])
    config = SomeConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, ...)
    tok.save_pretrained(checkpoint_dir / "backbone")      # travels with the checkpoint
    tok = PreTrainedTokenizerFast.from_pretrained(checkpoint_dir / "backbone")

Every sequence is ``[CLS] text [SEP]`` (``[SEP]`` doubles as the end-of-text token; truncation
happens before the template, so ``[SEP]`` always stays last). Fixed ids: ``[PAD]`` = 0,
``[UNK]`` = 1, ``[CLS]`` = 2, ``[SEP]`` = 3, ``[MASK]`` = 4, then ``extra_special_tokens`` in
order. ``[SEP]`` is deliberately not id 2: CLIP's text model treats ``eos_token_id == 2`` as
"legacy, take the argmax id" and would pool the wrong position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from benchmark.types import Dataset

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def dataset_texts(data: Dataset, split: str = "train") -> list[str]:
    """Every utterance and OCR string of a split (the vocabulary's training text)."""
    texts = [u.text for s in data.split(split) for u in s.context if u.text]
    texts += [st.ocr_text for st in data.stickers.values() if st.ocr_text]
    return texts


def train_tiny_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 2000,
    max_length: int = 32,
    extra_special_tokens: Sequence[str] = (),
):
    """A lower-cased word-level tokenizer of the ``vocab_size`` most frequent words (others are
    ``[UNK]``), wrapped as a ``PreTrainedTokenizerFast``.

    Deterministic for the same texts, so two ranks or two runs that build it from the same split
    get the same ids.
    """
    from collections import Counter

    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = list(SPECIAL_TOKENS) + [t for t in extra_special_tokens if t not in SPECIAL_TOKENS]
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    # Sorted by (-count, word): the same texts give the same ids on every rank and every run
    # (the tokenizers library's trainers break ties in hash order, which is not reproducible).
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if w not in specials]
    vocab = {tok: i for i, tok in enumerate(specials + words[: max(0, vocab_size - len(specials))])}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[CLS]",
        eos_token="[SEP]",
        additional_special_tokens=[t for t in specials if t not in SPECIAL_TOKENS],
        model_max_length=max_length,
    )
