"""The multimodal encoder of CKS (paper §4.3, eq. 12-13).

X = Enc([E_HEAD; x; ĥ; o; v]): a standard transformer encoder over the [HEAD] embedding, the
dialogue tokens and the OCR tokens (both through BERT's embedding layer), the emotional
utterance representations ĥ from KEUE and one visual token. The [HEAD] output feeds the
emotion classifier and the matching head (2-way: match / no match, eq. 13).

One dialogue is scored against N stickers at once: the dialogue part is embedded once and
broadcast over the N sticker parts. Only the [HEAD] output is read, so in eval the last layer
computes that position alone (attending to every position, as the full layer does): with the
tiny preset's two layers that is about half of the encoder's work. Training keeps PyTorch's own
layers, so that a checkpoint trains exactly as before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEAD, DIALOGUE, UTTERANCE, OCR, VISUAL = range(5)


class MultimodalEncoder(nn.Module):
    def __init__(
        self,
        token_embeddings: nn.Module,
        token_dim: int,
        utterance_dim: int,
        visual_dim: int,
        width: int,
        layers: int,
        heads: int,
        num_emotions: int,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.token_embeddings = token_embeddings  # BERT's embedding layer (word + position + type + LN)
        self.text_proj = nn.Linear(token_dim, width)
        self.utterance_proj = nn.Linear(utterance_dim, width)
        self.visual_proj = nn.Linear(visual_dim, width)
        self.head = nn.Parameter(torch.randn(width) * 0.02)  # E_<HEAD>
        self.modality = nn.Embedding(5, width)  # which segment a position belongs to
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.emotion = nn.Linear(width, num_emotions) if num_emotions else None
        self.match = nn.Linear(width, 2)

    def _tokens(self, ids: torch.Tensor, kind: int) -> torch.Tensor:
        return self.text_proj(self.token_embeddings(input_ids=ids)) + self.modality.weight[kind]

    def forward(
        self,
        dialogue_ids: torch.Tensor,
        dialogue_mask: torch.Tensor,
        utterances: torch.Tensor,
        turn_mask: torch.Tensor,
        visual: torch.Tensor,
        ocr_ids: torch.Tensor | None = None,
        ocr_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The [HEAD] output X for each (dialogue, sticker) pair, [B, N, width] (eq. 12).

        dialogue_ids/mask [B, Lx]; utterances [B, T, d^r] with turn_mask [B, T]; visual [B, N, d^r];
        ocr_ids/mask [B, N, Lo] or ``None`` (ablation w/o OCR).
        """
        seq, padding = self.sequence(dialogue_ids, dialogue_mask, utterances, turn_mask, visual, ocr_ids, ocr_mask)
        if self.training:  # PyTorch's own layers: training draws its dropout masks as it always did
            return self.encoder(seq, src_key_padding_mask=padding)[:, 0].reshape(*visual.shape[:2], -1)
        *below, last = self.encoder.layers
        for layer in below:
            seq = _encoder_layer(layer, seq, seq, padding)
        return _encoder_layer(last, seq[:, :1], seq, padding).reshape(*visual.shape[:2], -1)

    def sequence(
        self, dialogue_ids, dialogue_mask, utterances, turn_mask, visual, ocr_ids=None, ocr_mask=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's input [B·N, L, width] for :meth:`forward`'s inputs, one sequence per pair,
        and its padding [B·N, L] (``True`` where a position is padding)."""
        b, n = visual.shape[:2]
        head = (self.head + self.modality.weight[HEAD]).expand(b, 1, -1)
        shared = torch.cat(
            [
                head,
                self._tokens(dialogue_ids, DIALOGUE),
                self.utterance_proj(utterances) + self.modality.weight[UTTERANCE],
            ],
            dim=1,
        )
        shared_mask = torch.cat([dialogue_mask.new_ones(b, 1), dialogue_mask, turn_mask.to(dialogue_mask.dtype)], dim=1)
        parts = [shared.unsqueeze(1).expand(-1, n, -1, -1)]
        masks = [shared_mask.unsqueeze(1).expand(-1, n, -1)]
        if ocr_ids is not None:
            lo = ocr_ids.shape[-1]
            parts.append(self._tokens(ocr_ids.reshape(b * n, lo), OCR).reshape(b, n, lo, -1))
            masks.append(ocr_mask.to(dialogue_mask.dtype))
        parts.append((self.visual_proj(visual) + self.modality.weight[VISUAL]).unsqueeze(2))
        masks.append(dialogue_mask.new_ones(b, n, 1))
        seq = torch.cat(parts, dim=2).flatten(0, 1)
        return seq, torch.cat(masks, dim=2).flatten(0, 1) == 0

    def match_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 13's P(y_m | X) as 2-way logits (index 1 = match)."""
        return self.match(x)

    def emotion_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.emotion(x)


def _encoder_layer(layer: nn.TransformerEncoderLayer, query: torch.Tensor, x: torch.Tensor, padding: torch.Tensor):
    """``layer`` (post-norm, in eval) at the positions of ``query`` over the sequence ``x``: the
    computation ``layer(x)`` does there. (``layer(x)`` in eval takes PyTorch's fused path, whose
    masked softmax took a third of CKS's scoring time on a CPU.)"""
    h = layer.norm1(query + layer.dropout1(_attention(layer.self_attn, query, x, padding)))
    return layer.norm2(h + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(h))))))


def _attention(attn: nn.MultiheadAttention, query: torch.Tensor, x: torch.Tensor, padding: torch.Tensor):
    """``attn(query, x, x, key_padding_mask=padding)``'s output, by ``scaled_dot_product_attention``."""
    width, heads = attn.embed_dim, attn.num_heads
    q_weight, kv_weight = attn.in_proj_weight.split([width, 2 * width])
    q_bias, kv_bias = attn.in_proj_bias.split([width, 2 * width])
    q = F.linear(query, q_weight, q_bias)
    k, v = F.linear(x, kv_weight, kv_bias).chunk(2, dim=-1)
    q, k, v = (t.unflatten(-1, (heads, width // heads)).transpose(1, 2) for t in (q, k, v))  # [B, heads, L, d]
    keep = ~padding[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    return attn.out_proj(out.transpose(1, 2).flatten(2))
