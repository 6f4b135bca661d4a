"""FROMAGe: a frozen causal LM and a frozen CLIP vision encoder joined by linear maps; retrieval
through the hidden state of a learnt ``[RET]`` token.

Facts from Koh et al. 2023 and kohjingyu/fromage (``fromage/models.py``, ``model_args.json``):

* Frozen ``OPTForCausalLM`` (opt-6.7b) and ``CLIPVisionModel`` (ViT-L/14, ``pooler_output``).
* Trainable: ``visual_embeddings`` Linear(Dv → D·n_visual_tokens) (images *into* the LM),
  ``visual_fc`` Linear(Dv → 256) (images into the retrieval space), ``text_hidden_fcs[0]`` =
  Linear(D → 256) + Dropout on the last hidden layer, ``logit_scale`` (init ln(1/0.07)), and the
  input embedding row of ``[RET]``.
* Retrieval: ``t = norm(text_fc(h[RET]))``, ``v = norm(visual_fc(clip(img)))``,
  ``score = exp(logit_scale)·<t, v>``.
* Tokens: ``<|image|>`` added as the tokenizer's ``cls_token``, then ``[RET]`` as a new token
  (id 50266 for OPT), the LM's embeddings resized to the tokenizer.
* The released checkpoint is ``model_args.json`` + ``pretrained_ckpt.pth.tar`` whose
  ``state_dict`` holds ``model.logit_scale``, ``model.visual_embeddings.*``, ``model.visual_fc.*``,
  ``model.text_hidden_fcs.0.0.*`` and ``ret_input_embeddings.weight``, loaded non-strictly.

Here the ``[RET]`` row lives in its own parameter (``ret_embedding``) substituted at ``[RET]``
positions, so the LM's embedding matrix stays frozen without gradient masking.

A dialogue is one token stream: ``</s>`` then, per turn, `` A: text`` / `` B: text`` (the
speaker slots) followed by ``n_visual_tokens`` image embeddings when the turn carried a sticker,
then ``[RET]``. Whole turns are dropped from the front to fit ``max_len``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stickerbench.models.dialogue import Turn, truncate_front

RET_TOKEN = "[RET]"
IMAGE_TOKEN = "<|image|>"
SPEAKER_LABELS = ("A", "B")
MAX_LEN = 256
IGNORE = -100
CHECKPOINT_FILE = "pretrained_ckpt.pth.tar"
ARGS_FILE = "model_args.json"


@dataclass(frozen=True)
class FromageArgs:
    """The fields of ``model_args.json`` that shape the trainable parts (others are ignored)."""

    opt_version: str = "facebook/opt-6.7b"
    visual_encoder: str = "openai/clip-vit-large-patch14"
    n_visual_tokens: int = 1
    shared_emb_dim: int = 256
    text_emb_layers: tuple[int, ...] = (-1,)
    image_embed_dropout_prob: float = 0.0
    text_embed_dropout_prob: float = 0.0
    retrieval_token_idx: int | None = None

    @classmethod
    def from_json(cls, path: Path) -> "FromageArgs":
        raw = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        if "text_emb_layers" in values:
            values["text_emb_layers"] = tuple(values["text_emb_layers"])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "text_emb_layers": list(self.text_emb_layers)}, indent=2)


@dataclass(frozen=True)
class FromageVocab:
    bos: int
    pad: int
    eos: int
    ret: int


def add_fromage_tokens(tokenizer, lm) -> FromageVocab:
    """Add ``<|image|>`` (as ``cls_token``) and ``[RET]`` in the official order; resize the LM."""
    from tokenizers import AddedToken

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # as the official loader does
    tokenizer.add_special_tokens({"cls_token": IMAGE_TOKEN})
    # matched on the raw text, so a lower-casing tokenizer keeps it "[RET]" (same id either way)
    tokenizer.add_tokens([AddedToken(RET_TOKEN, normalized=False)])
    ret = tokenizer(RET_TOKEN, add_special_tokens=False).input_ids
    if len(ret) != 1:
        raise ValueError(f"{RET_TOKEN} must be one token, got {ret}")
    if len(tokenizer) > lm.get_input_embeddings().num_embeddings:
        lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return FromageVocab(tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, ret[0])


@dataclass(frozen=True)
class FromageExample:
    """Token ids (image slots hold a placeholder), ``[RET]`` position, and image slots as
    (position, feature row, which of the sticker's visual tokens)."""

    input_ids: tuple[int, ...]
    image_slots: tuple[tuple[int, int, int], ...]
    ret_position: int


def build_example(
    turns: Sequence[Turn],
    tokenize: Callable[[str], list[int]],
    vocab: FromageVocab,
    n_visual_tokens: int = 1,
    max_len: int = MAX_LEN,
) -> FromageExample:
    """``</s>`` + turns (with image slots) + ``[RET]``; oldest turns dropped first to fit."""
    budget = max_len - 2
    body: list[int] = []
    slots: list[tuple[int, int] | None] = []
    for i, turn in enumerate(reversed(turns)):
        text = tokenize(f" {SPEAKER_LABELS[turn.speaker]}: {turn.text}")
        rows = [(turn.sticker, k) for k in range(n_visual_tokens)] if turn.sticker is not None else []
        if len(text) + len(rows) + len(body) > budget:
            if i == 0:  # the latest turn alone is too long: keep its end
                rows = rows[:budget]
                text = truncate_front(text, budget - len(rows))
            else:
                break
        body = text + [vocab.pad] * len(rows) + body
        slots = [None] * len(text) + rows + slots
    ids = [vocab.bos, *body, vocab.ret]
    slots = [None, *slots, None]
    return FromageExample(
        input_ids=tuple(ids),
        image_slots=tuple((p, *slot) for p, slot in enumerate(slots) if slot is not None),
        ret_position=len(ids) - 1,
    )


def caption_example(
    text: str, tokenize: Callable[[str], list[int]], vocab: FromageVocab, max_len: int = 32
) -> FromageExample:
    """``</s> caption [RET]``: the retrieval objective's text side (caption cut to fit)."""
    ids = [vocab.bos, *tokenize(text)[: max_len - 2], vocab.ret]
    return FromageExample(input_ids=tuple(ids), image_slots=(), ret_position=len(ids) - 1)


def caption_batch(
    texts: Sequence[str], tokenize: Callable[[str], list[int]], vocab: FromageVocab, max_len: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """``</s> caption </s>`` ids and mask, right-padded: the captioning objective's targets."""
    rows = [[vocab.bos, *tokenize(t)[: max_len - 2], vocab.eos] for t in texts]
    width = max(map(len, rows))
    ids = torch.tensor([r + [vocab.pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


@dataclass
class FromageBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    image_batch: torch.Tensor
    image_position: torch.Tensor
    image_row: torch.Tensor  # row of the feature table
    image_token: torch.Tensor  # which of that sticker's visual tokens
    ret_positions: torch.Tensor

    def to(self, device) -> "FromageBatch":
        return FromageBatch(**{k: v.to(device) for k, v in vars(self).items()})


def collate(examples: Sequence[FromageExample], pad_id: int) -> FromageBatch:
    width = max(len(e.input_ids) for e in examples)
    slots = torch.tensor([(b, *slot) for b, e in enumerate(examples) for slot in e.image_slots], dtype=torch.long).view(
        -1, 4
    )
    return FromageBatch(
        input_ids=torch.tensor([list(e.input_ids) + [pad_id] * (width - len(e.input_ids)) for e in examples]),
        attention_mask=torch.tensor([[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples]),
        image_batch=slots[:, 0],
        image_position=slots[:, 1],
        image_row=slots[:, 2],
        image_token=slots[:, 3],
        ret_positions=torch.tensor([e.ret_position for e in examples], dtype=torch.long),
    )


class Fromage(nn.Module):
    """The trainable FROMAGe parts around a frozen LM and a frozen CLIP vision encoder."""

    def __init__(self, lm, visual, args: FromageArgs, ret_token_id: int):
        super().__init__()
        self.lm, self.visual, self.args, self.ret_token_id = lm, visual, args, ret_token_id
        for frozen in (lm, visual):
            frozen.requires_grad_(False)
            frozen.eval()
        embed = lm.get_input_embeddings()
        width, vis_width = embed.embedding_dim, visual.config.hidden_size
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.visual_embeddings = nn.Linear(vis_width, width * args.n_visual_tokens)
        self.visual_fc = nn.Linear(vis_width, args.shared_emb_dim)
        self.text_hidden_fcs = nn.ModuleList(
            nn.Sequential(
                nn.Linear(self._layer_width(i), args.shared_emb_dim), nn.Dropout(args.text_embed_dropout_prob)
            )
            for i in args.text_emb_layers
        )
        self.image_dropout = nn.Dropout(args.image_embed_dropout_prob)
        self.ret_embedding = nn.Parameter(embed.weight[ret_token_id].detach().clone())

    def _layer_width(self, layer: int) -> int:
        config = self.lm.config
        last = layer in (-1, config.num_hidden_layers)
        return getattr(config, "word_embed_proj_dim", config.hidden_size) if last else config.hidden_size

    def train(self, mode: bool = True) -> "Fromage":
        super().train(mode)
        self.lm.eval()  # frozen parts never switch to dropout
        self.visual.eval()
        return self

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLIP ``pooler_output`` [S, Dv]: what is cached once per sticker."""
        return self.visual(pixel_values=pixel_values).pooler_output

    def image_tokens(self, pooled: torch.Tensor) -> torch.Tensor:
        """``[S, n_visual_tokens, D]`` LM input embeddings of images."""
        out = self.visual_embeddings(pooled.to(self.visual_embeddings.weight.dtype))
        return self.image_dropout(out.view(pooled.shape[0], self.args.n_visual_tokens, -1))

    def image_embeddings(self, pooled: torch.Tensor) -> torch.Tensor:
        """Unit-norm retrieval embeddings ``[S, shared]``."""
        return F.normalize(self.image_dropout(self.visual_fc(pooled.to(self.visual_fc.weight.dtype))), dim=-1)

    def _input_embeds(self, batch: FromageBatch, pooled: torch.Tensor | None) -> torch.Tensor:
        embeds = self.lm.get_input_embeddings()(batch.input_ids)
        is_ret = (batch.input_ids == self.ret_token_id).unsqueeze(-1)
        embeds = torch.where(is_ret, self.ret_embedding.to(embeds.dtype), embeds)
        if batch.image_row.numel():
            picked = torch.arange(batch.image_row.numel(), device=embeds.device)
            tokens = self.image_tokens(pooled[batch.image_row])[picked, batch.image_token]
            embeds = embeds.index_put((batch.image_batch, batch.image_position), tokens.to(embeds.dtype))
        return embeds

    def text_embeddings(self, batch: FromageBatch, pooled: torch.Tensor | None = None) -> torch.Tensor:
        """Unit-norm ``text_fc(h[RET])`` ``[B, shared]``; ``pooled`` is the image table the slots index."""
        out = self.lm.model(
            inputs_embeds=self._input_embeds(batch, pooled),
            attention_mask=batch.attention_mask,
            output_hidden_states=True,
        )
        rows = torch.arange(batch.input_ids.shape[0], device=batch.input_ids.device)
        summed = sum(
            fc(out.hidden_states[layer][rows, batch.ret_positions].to(fc[0].weight.dtype))
            for layer, fc in zip(self.args.text_emb_layers, self.text_hidden_fcs)
        )
        return F.normalize(summed, dim=-1)

    def scores(self, text: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """``exp(logit_scale)·<t, v>``: ``text`` [B, S] and ``images`` [B, N, S], or [N, S] shared by
        every query (a full pool: one matrix product) → [B, N]."""
        if images.dim() == 2:
            return self.logit_scale.exp() * text @ images.T
        return self.logit_scale.exp() * torch.einsum("bs,bns->bn", text, images)

    def retrieval_loss(self, caption_batch: FromageBatch, pooled: torch.Tensor) -> torch.Tensor:
        """Symmetric in-batch contrastive loss between ``caption [RET]`` and its image (row b ↔ b)."""
        text = self.text_embeddings(caption_batch)
        logits = self.logit_scale.exp() * text @ self.image_embeddings(pooled).T
        target = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits.float(), target) + F.cross_entropy(logits.T.float(), target)) / 2

    def caption_loss(self, caption_ids: torch.Tensor, caption_mask: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """LM loss of a caption conditioned on its image's visual tokens (the captioning objective)."""
        visual = self.image_tokens(pooled)
        text = self.lm.get_input_embeddings()(caption_ids)
        n = visual.shape[1]
        labels = torch.cat(
            [
                torch.full((caption_ids.shape[0], n), IGNORE, device=caption_ids.device),
                caption_ids.masked_fill(caption_mask == 0, IGNORE),
            ],
            dim=1,
        )
        mask = torch.cat([caption_mask.new_ones(caption_mask.shape[0], n), caption_mask], dim=1)
        return self.lm(
            inputs_embeds=torch.cat([visual.to(text.dtype), text], dim=1), attention_mask=mask, labels=labels
        ).loss

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith(("lm.", "visual."))}

    def load_official_checkpoint(self, path: Path) -> None:
        """Load ``pretrained_ckpt.pth.tar`` (tensors only: ``weights_only=True``)."""
        checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
        state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f"{path}: no 'state_dict' mapping in this checkpoint")
        state = {k.removeprefix("module."): v for k, v in state.items()}
        mapped = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
        if "ret_input_embeddings.weight" in state:
            mapped["ret_embedding"] = state["ret_input_embeddings.weight"].reshape(-1)
        wanted = self.trainable_state()
        missing = [k for k in wanted if k not in mapped]
        if missing:
            raise ValueError(f"{path}: missing FROMAGe weights {missing}")
        bad = [k for k in wanted if tuple(mapped[k].shape) != tuple(wanted[k].shape)]
        if bad:
            raise ValueError(
                f"{path}: shape mismatch for {[(k, tuple(mapped[k].shape), tuple(wanted[k].shape)) for k in bad]}; "
                f"does {ARGS_FILE} match the LM and vision encoder?"
            )
        self.load_state_dict({k: mapped[k] for k in wanted}, strict=False)


def load_fromage_dir(
    model_dir: Path,
    lm_source: str | Path | None = None,
    visual_source: str | Path | None = None,
    dtype: torch.dtype | None = None,
):
    """``(tokenizer, Fromage, image processor)`` from an official FROMAGe directory.

    ``model_args.json`` names the LM and the CLIP checkpoint; ``lm_source``/``visual_source``
    override them with local directories (or other hub ids). The ``[RET]`` id the tokens get must
    equal the checkpoint's ``retrieval_token_idx``.
    """
    from transformers import AutoTokenizer, OPTForCausalLM

    from stickerbench.models.clip_features import load_clip_parts

    model_dir = Path(model_dir)
    for name in (ARGS_FILE, CHECKPOINT_FILE):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(
                f"{model_dir / name} is missing; a FROMAGe directory holds {ARGS_FILE} and {CHECKPOINT_FILE}"
            )
    args = FromageArgs.from_json(model_dir / ARGS_FILE)
    lm_path = str(lm_source or args.opt_version)
    tokenizer = AutoTokenizer.from_pretrained(lm_path)
    lm = OPTForCausalLM.from_pretrained(lm_path, **({"dtype": dtype} if dtype is not None else {}))
    visual, _, processor = load_clip_parts(visual_source or args.visual_encoder, dtype)
    vocab = add_fromage_tokens(tokenizer, lm)
    if args.retrieval_token_idx is not None and args.retrieval_token_idx != vocab.ret:
        raise ValueError(
            f"[RET] got id {vocab.ret} but {ARGS_FILE} says retrieval_token_idx={args.retrieval_token_idx}: "
            "the tokenizer does not match the one the checkpoint was trained with"
        )
    model = Fromage(lm, visual, args, vocab.ret)
    model.load_official_checkpoint(model_dir / CHECKPOINT_FILE)
    if dtype is not None:
        model.to(dtype)
    return tokenizer, model, processor
