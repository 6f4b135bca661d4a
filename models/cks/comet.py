"""COMET commonsense knowledge for KEUE (paper §4.1.2).

COMET-BART (ATOMIC-2020) reads "(u_i, R_k, [GEN])" and generates the inference of relation
R_k for utterance u_i. CKS takes "the features from the last hidden state" as g_i^k. The
paper does not say which positions, so this implementation fixes it:

    g_i^k = mean over the generated sequence's positions (decoder start token and every
    generated token up to and including the end-of-sequence token, padding excluded) of the
    decoder's last-layer hidden state, from one teacher-forced forward pass over the greedy
    output.

Why the mean over the decoder and not one position: the final position is usually the
end-of-sequence token, whose state says little about *which* inference was generated, while
the mean summarises the whole generated phrase and is defined for every length; the encoder
alone would ignore what COMET inferred. With BART-large, g_i^k is 1024-d, as in the paper.

``state="encoder"`` is the other reading of "the last hidden state": the mean of the encoder's
last-layer states over the input "(u_i, R_k, [GEN])" (padding excluded), which does not depend
on what was generated; it is kept as an option (``--option comet_state=encoder``) and is part of
the cache fingerprint.

Greedy decoding with few new tokens (ATOMIC tails are short phrases) keeps this affordable;
the harness caches every vector on disk (:mod:`stickerbench.adapters.cks.knowledge`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import torch
from torch import nn

COMET_STATES = ("decoder", "encoder")


def comet_prompt(utterance: str, relation: str) -> str:
    """COMET-ATOMIC-2020's BART input format: "{head} {relation} [GEN]"."""
    return f"{utterance} {relation} [GEN]"


class CometKnowledge:
    """Generates knowledge text and its vector g for (utterance, relation) pairs, batched.

    ``calls`` counts forward batches sent to the model, so that a cache's effect is measurable.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        max_new_tokens: int = 8,
        batch_size: int = 64,
        max_input_tokens: int = 64,
        name: str = "",
        state: str = "decoder",
    ):
        if state not in COMET_STATES:
            raise ValueError(f"comet_state {state!r}: choose one of {', '.join(COMET_STATES)}")
        self.state = state
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_input_tokens = max_input_tokens
        self.name = name
        self.calls = 0
        self._fingerprint: str | None = None

    @property
    def dim(self) -> int:
        return self.model.config.d_model

    @property
    def fingerprint(self) -> str:
        """sha256 over the config, every weight, the tokenizer's vocabulary and the decoding
        settings: anything that changes g changes the cache key (where the model was loaded
        from does not: the same weights from another directory hit the same cache)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            config = {
                k: v
                for k, v in self.model.config.to_dict().items()
                if k not in ("_name_or_path", "transformers_version")
            }
            digest.update(json.dumps(config, sort_keys=True, default=str).encode())
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
            digest.update(json.dumps(sorted(self.tokenizer.get_vocab().items())).encode())
            digest.update(f"greedy:{self.max_new_tokens}:{self.max_input_tokens}:{self.state}-last-mean".encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @torch.inference_mode()
    def generate(self, utterances: Sequence[str], relation: str) -> tuple[list[str], torch.Tensor]:
        """Knowledge texts and vectors [len(utterances), d_model] (float32, on the CPU)."""
        texts: list[str] = []
        vectors: list[torch.Tensor] = []
        device = next(self.model.parameters()).device
        for start in range(0, len(utterances), self.batch_size):
            chunk = [comet_prompt(u, relation) for u in utterances[start : start + self.batch_size]]
            enc = self.tokenizer(
                chunk, return_tensors="pt", padding=True, truncation=True, max_length=self.max_input_tokens
            ).to(device)
            enc.pop("token_type_ids", None)
            sequences = self.model.generate(
                **enc, do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens, min_new_tokens=1
            )
            decoder_mask = (sequences != self.model.config.pad_token_id).long()
            decoder_mask[:, 0] = 1  # the decoder start token may equal the pad id in some vocabularies
            out = self.model(
                **enc, decoder_input_ids=sequences, decoder_attention_mask=decoder_mask, output_hidden_states=True
            )
            self.calls += 1
            if self.state == "decoder":
                last, mask = out.decoder_hidden_states[-1], decoder_mask
            else:
                last, mask = out.encoder_last_hidden_state, enc["attention_mask"]
            weights = mask.unsqueeze(-1).to(last.dtype)
            vectors.append(((last * weights).sum(1) / weights.sum(1)).float().cpu())
            texts += self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        dim = self.dim
        return [t.strip() for t in texts], torch.cat(vectors) if vectors else torch.zeros(0, dim)
