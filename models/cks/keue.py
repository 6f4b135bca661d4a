"""KEUE: the knowledge-enhanced emotional utterance extractor (paper §4.1, eq. 1-6).

Inputs are batched dialogues of T utterances (right-padded): each utterance's token ids
("<s> [speaker j] text", RoBERTa), a speaker index per utterance (0 = the speaker who sends
the sticker, 1 = the other one) and the six COMET knowledge vectors per utterance
(:data:`RELATIONS` order; see :mod:`stickerbench.models.cks.comet` for which hidden state they are).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

RELATIONS = ("xEffect", "xReact", "xWant", "oEffect", "oReact", "oWant")
"""ATOMIC-2020 relations used by CKS: the first three are intra-speaker, the last three inter."""
VALUE_PROJECTIONS = ("f_q", "f_k")


def encode_utterances(
    encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, turn_mask: torch.Tensor
) -> torch.Tensor:
    """r_i (§4.1.1): the encoder's first-token ([CLS]/<s>) state per utterance, [B, T, d].

    Only real utterances run through the encoder; padded turns stay zero.
    """
    b, t, length = input_ids.shape
    out = input_ids.new_zeros((b, t, encoder.config.hidden_size), dtype=torch.float32)
    valid = turn_mask.bool()
    if valid.any():
        states = encoder(input_ids=input_ids[valid], attention_mask=attention_mask[valid]).last_hidden_state
        out = out.to(states.dtype)
        out[valid] = states[:, 0]
    return out


def speaker_masks(speakers: torch.Tensor, turn_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """m^a and m^e of eq. 3 as booleans (True = may attend), each [B, T, T].

    Temporal order: utterance i attends only to j ≤ i. Intra (m^a): j by the same speaker as i
    (including i itself). Inter (m^e): j by the other speaker. Padded utterances are never keys.
    """
    t = speakers.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=speakers.device).tril()
    valid = turn_mask.bool().unsqueeze(1)  # keys
    same = speakers.unsqueeze(2) == speakers.unsqueeze(1)
    base = causal & valid
    return base & same, base & ~same


def masked_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """softmax over allowed keys; a row with no allowed key (e.g. the first utterance has no
    earlier utterance by the other speaker) gets all-zero weights rather than NaN."""
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.nan_to_num(weights, nan=0.0) * allowed


class KnowledgeEnhancedUtteranceExtractor(nn.Module):
    """Eq. 1-6: RoBERTa → bi-LSTM → intra/inter-speaker masked attention with knowledge → ĥ.

    ``hidden`` is the bi-LSTM's d (300 in the paper), so h_i ∈ R^{2d}; ``knowledge_dim`` is
    COMET's width (1024 for BART-large); ``out_dim`` is d^r (768).

    ``value`` is the projection eq. 4 sums: ``"f_q"`` (default), F_q(h_j), as the paper prints
    it — the same projection as the query, so h̃_i is a mix of the other utterances seen as
    queries; ``"f_k"``, F_k(h_j), the key projection, as this module first read it (the usual
    attention layout, and the one eq. 5 uses, where the values are F_k(h_j) + F_g(g_j)).
    """

    def __init__(self, utterance_encoder: nn.Module, knowledge_dim: int, hidden: int, out_dim: int, value: str = "f_q"):
        super().__init__()
        if value not in VALUE_PROJECTIONS:
            raise ValueError(f"keue_value {value!r}: choose one of {', '.join(VALUE_PROJECTIONS)}")
        self.value = value
        self.utterance_encoder = utterance_encoder
        d_in = utterance_encoder.config.hidden_size
        self.lstm = nn.LSTM(d_in, hidden, batch_first=True, bidirectional=True)
        width = 2 * hidden
        self.gate_intra = nn.Linear(knowledge_dim, width)  # W_a, b_a of eq. 2
        self.gate_inter = nn.Linear(knowledge_dim, width)  # W_e, b_e of eq. 2
        self.f_q = nn.Linear(width, width)
        self.f_k = nn.Linear(width, width)
        self.f_g = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(2 * width, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def contextualise(self, r: torch.Tensor, turn_mask: torch.Tensor) -> torch.Tensor:
        """Eq. 1: h_i = [h→_i; h←_i] from a bi-LSTM over the utterance features, [B, T, 2d]."""
        lengths = turn_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(r, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=r.shape[1])
        return h

    def gates(self, knowledge: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 2: g^a = σ((g^xe + g^xr + g^xw) W_a + b_a), g^e = σ((g^oe + g^or + g^ow) W_e + b_e)."""
        return (
            torch.sigmoid(self.gate_intra(knowledge[:, :, 0:3].sum(2))),
            torch.sigmoid(self.gate_inter(knowledge[:, :, 3:6].sum(2))),
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        turn_mask: torch.Tensor,
        speakers: torch.Tensor,
        knowledge: torch.Tensor,
    ) -> torch.Tensor:
        """ĥ_i for every utterance, [B, T, d^r] (padded turns carry garbage; mask them)."""
        r = encode_utterances(self.utterance_encoder, input_ids, attention_mask, turn_mask)
        h = self.contextualise(r, turn_mask)
        g_a, g_e = self.gates(knowledge)
        m_a, m_e = speaker_masks(speakers, turn_mask)
        q, k = self.f_q(h), self.f_k(h)
        keys_a, keys_e = k + self.f_g(g_a), k + self.f_g(g_e)
        scale = 1 / math.sqrt(h.shape[-1])  # scaled dot product (eq. 3 leaves the scale implicit)
        s_a = masked_softmax(q @ keys_a.transpose(1, 2) * scale, m_a)  # eq. 3, intra-speaker
        s_e = masked_softmax(q @ keys_e.transpose(1, 2) * scale, m_e)  # eq. 3, inter-speaker
        v = q if self.value == "f_q" else k
        h_tilde = s_a @ v + s_e @ v  # eq. 4: Σ_{j∈S(i)} s^a_ij F_q(h_j) + Σ_{j∉S(i)} s^e_ij F_q(h_j)
        g_tilde = s_a @ keys_a + s_e @ keys_e  # eq. 5: the same sums over F_k(h_j) + F_g(g_j)
        return self.mlp(torch.cat([h_tilde, g_tilde], dim=-1))  # eq. 6


class PlainUtteranceExtractor(nn.Module):
    """The ablation "w/o KEUE": ĥ_i = Linear(r_i), the RoBERTa utterance features alone — no
    bi-LSTM, no commonsense knowledge, no speaker-masked attention — so the contrastive loss
    and the encoder still receive an utterance representation of the same width."""

    def __init__(self, utterance_encoder: nn.Module, out_dim: int):
        super().__init__()
        self.utterance_encoder = utterance_encoder
        self.proj = nn.Linear(utterance_encoder.config.hidden_size, out_dim)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        turn_mask: torch.Tensor,
        speakers: torch.Tensor,
        knowledge: torch.Tensor | None,
    ) -> torch.Tensor:
        return self.proj(encode_utterances(self.utterance_encoder, input_ids, attention_mask, turn_mask))
