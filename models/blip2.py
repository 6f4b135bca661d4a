"""BLIP-2 image–text matching on *precomputed* vision features, and LAVIS checkpoint import.

``itm_logits`` is the ITM branch of transformers' ``Blip2ForImageTextRetrieval.forward``
(``use_image_text_matching_head=True``) with the vision encoder taken out: the caller passes the
vision encoder's last hidden state (``vision_model(pixel_values)[0]``, post-layernorm included),
which depends only on the image and can be cached per sticker. Per (text, image) pair only the
Q-Former runs: query tokens and text tokens self-attend, queries cross-attend to the image, and
``itm_head`` applied to the query outputs is averaged over queries (LAVIS
``Blip2ITM.forward(match_head="itm")`` computes the same).

``lavis_to_transformers`` maps a LAVIS ``blip2_image_text_matching`` state dict (EVA ViT-g +
Q-Former) onto ``Blip2ForImageTextRetrieval``'s names. The renames follow transformers'
``convert_blip_2_original_to_pytorch.py`` (facts, reimplemented):

* ``visual_encoder.cls_token``/``pos_embed``/``patch_embed.proj`` → ``vision_model.embeddings.
  class_embedding``/``position_embedding``/``patch_embedding``; ``blocks.i.norm{1,2}`` →
  ``layers.i.layer_norm{1,2}``; ``attn.proj`` → ``self_attn.projection``; ``attn.qkv.weight`` as is;
* LAVIS keeps separate ``q_bias`` and ``v_bias`` (the key has no bias): ``qkv.bias = cat(q, 0, v)``;
* ``ln_vision`` → ``vision_model.post_layernorm``;
* ``Qformer.bert.embeddings.LayerNorm`` → ``qformer.layernorm``; its word/position embeddings →
  the top-level ``embeddings``; ``Qformer.bert.encoder`` → ``qformer.encoder`` with
  ``.self.`` → ``.attention.`` inside (cross)attention;
* ``vision_proj``/``text_proj`` → ``vision_projection``/``text_projection``; ``itm_head`` and
  ``query_tokens`` keep their names;
* dropped: the Q-Former's LM head (``Qformer.cls.*``), ``position_ids`` buffers, and ``temp``
  (the ITC temperature, which the transformers port does not use).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

_DROP = (re.compile(r"^Qformer\.cls\."), re.compile(r"position_ids$"), re.compile(r"^temp$"))

_RULES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"^visual_encoder\.cls_token$", "vision_model.embeddings.class_embedding"),
        (r"^visual_encoder\.pos_embed$", "vision_model.embeddings.position_embedding"),
        (r"^visual_encoder\.patch_embed\.proj\.", "vision_model.embeddings.patch_embedding."),
        (r"^visual_encoder\.blocks\.(\d+)\.norm(\d)\.", r"vision_model.encoder.layers.\1.layer_norm\2."),
        (r"^visual_encoder\.blocks\.(\d+)\.attn\.qkv\.weight$", r"vision_model.encoder.layers.\1.self_attn.qkv.weight"),
        (r"^visual_encoder\.blocks\.(\d+)\.attn\.proj\.", r"vision_model.encoder.layers.\1.self_attn.projection."),
        (r"^visual_encoder\.blocks\.(\d+)\.mlp\.", r"vision_model.encoder.layers.\1.mlp."),
        (r"^ln_vision\.", "vision_model.post_layernorm."),
        (r"^Qformer\.bert\.embeddings\.LayerNorm\.", "qformer.layernorm."),
        (r"^Qformer\.bert\.embeddings\.(word|position)_embeddings\.", r"embeddings.\1_embeddings."),
        (r"^Qformer\.bert\.encoder\.(.*)\.(attention|crossattention)\.self\.", r"qformer.encoder.\1.\2.attention."),
        (r"^Qformer\.bert\.encoder\.", "qformer.encoder."),
        (r"^vision_proj\.", "vision_projection."),
        (r"^text_proj\.", "text_projection."),
        (r"^(itm_head\.|query_tokens$)", r"\1"),
    )
)
_QV_BIAS = re.compile(r"^visual_encoder\.blocks\.(\d+)\.attn\.([qv])_bias$")


def lavis_to_transformers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a LAVIS BLIP-2 ITM state dict for ``Blip2ForImageTextRetrieval`` (see module doc).

    Raises ``KeyError`` for a key no rule knows, so that a checkpoint of another variant fails
    loudly instead of loading half of its weights.
    """
    out: dict[str, torch.Tensor] = {}
    qv: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in state.items():
        if any(p.search(key) for p in _DROP):
            continue
        m = _QV_BIAS.match(key)
        if m:
            qv.setdefault(m.group(1), {})[m.group(2)] = value
            continue
        for pattern, repl in _RULES:
            if pattern.search(key):
                out[pattern.sub(repl, key, count=1)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"LAVIS keys with no transformers counterpart: {unknown[:5]} ({len(unknown)} in all)")
    for layer, bias in sorted(qv.items()):
        if set(bias) != {"q", "v"}:
            raise KeyError(f"visual_encoder.blocks.{layer}.attn has a q_bias or v_bias without the other")
        out[f"vision_model.encoder.layers.{layer}.self_attn.qkv.bias"] = torch.cat(
            [bias["q"], torch.zeros_like(bias["q"]), bias["v"]]
        )
    return out


def itm_logits(
    model, image_embeds: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """``[B, 2]`` ITM logits (no-match, match) of ``B`` texts against ``B`` cached images.

    ``model`` is a ``Blip2ForImageTextRetrieval`` whose config has ``image_token_index=None``;
    ``image_embeds`` is ``[B, patches + 1, vision hidden]`` from its vision encoder.
    """
    batch = image_embeds.shape[0]
    queries = model.query_tokens.expand(batch, -1, -1)
    n_query = queries.shape[1]
    mask = torch.cat(
        [torch.ones(batch, n_query, dtype=attention_mask.dtype, device=attention_mask.device), attention_mask], 1
    )
    embeds = model.embeddings(input_ids=input_ids, query_embeds=queries)
    image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
    hidden = model.qformer(
        query_embeds=embeds,
        query_length=n_query,
        attention_mask=mask,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_mask,
    ).last_hidden_state
    return model.itm_head(hidden[:, :n_query, :].to(model.itm_head.weight.dtype)).mean(dim=1)
