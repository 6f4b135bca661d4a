"""CKS's pretrained starting points: the paper's hub models, the tiny random-init stand-ins
(written once per dataset and seed, then shared), and the COMET that fills the knowledge cache.

They are one job because training, ``knowledge build`` and every ablation must agree on them:
the knowledge cache is keyed by COMET's weights and vocabulary, and a Table 2 row may differ
from ``cks`` only by the part it removes.

``paper`` roles: roberta-base (utterances), bert-base-uncased (Ekman dictionary and the token
embedding layer), openai/clip-vit-base-patch32 (vision tower, [CLS] = pooler output), and
COMET-BART (ATOMIC-2020) from ``--option comet_model=DIR_OR_HUB_ID`` (required: AllenAI publish
it as a tarball, not on the hub). Other backbones can be pointed elsewhere with
``roberta_model``, ``bert_model``, ``clip_model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchmark.errors import SelectorError
from benchmark.io import build_lock, staging_dir
from benchmark.types import Dataset
from stickerbench.adapters.cks.presets import PRESETS, TINY_DIM, TINY_IMAGE, TINY_INIT, comet_state
from stickerbench.adapters.tiny_clip import tiny_clip_config, tiny_clip_dir
from stickerbench.models.cks.comet import CometKnowledge
from stickerbench.models.cks.ive import EKMAN_EMOTIONS
from stickerbench.models.cks.keue import RELATIONS
from stickerbench.models.clip_features import load_clip_parts

SPEAKERS = ("[speaker1]", "[speaker2]")  # the sticker's sender, the other speaker
GEN = "[GEN]"
ROLES = ("roberta", "bert", "clip", "comet")
PAPER_BACKBONES = {"roberta": "roberta-base", "bert": "bert-base-uncased", "clip": "openai/clip-vit-base-patch32"}


def with_speaker_tokens(tokenizer, model) -> None:
    """Add [speaker1]/[speaker2] (§4.1.1) to a pretrained vocabulary and grow the embeddings."""
    missing = [t for t in SPEAKERS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
        model.resize_token_embeddings(len(tokenizer))


def write_tiny_backbones(data: Dataset, out: Path, seed: int, clip_dir: str | Path | None = None) -> Path:
    """Small RoBERTa, BERT and BART (COMET), random init, one tokenizer; and the CLIP vision tower.

    ``clip_dir``: a saved ``CLIPModel`` (+ processor) whose vision tower is the IVE's CLIP, copied
    as the ``clip`` role (:func:`tiny_backbones` passes the description-pretrained tiny CLIP of
    :mod:`stickerbench.adapters.tiny_clip`); without it a random-init vision tower of the same shape is written
    (enough where only loadable directories are needed).

    Each model is initialised under its own seed so that the tiny COMET (and so the knowledge
    cache's fingerprint) depends only on the dataset and the seed.
    """
    from transformers import (
        BartConfig,
        BartForConditionalGeneration,
        BertConfig,
        BertModel,
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        CLIPVisionModel,
        RobertaConfig,
        RobertaModel,
    )

    from benchmark.tiny_tokenizer import dataset_texts, train_tiny_tokenizer

    tok = train_tiny_tokenizer(
        dataset_texts(data, "train") + list(EKMAN_EMOTIONS) + list(RELATIONS),
        max_length=64,
        extra_special_tokens=[*SPEAKERS, GEN],
    )
    text = dict(
        vocab_size=len(tok),
        hidden_size=TINY_DIM,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=tok.pad_token_id,
        initializer_range=TINY_INIT,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    builders = {
        "roberta": lambda: RobertaModel(RobertaConfig(**text), add_pooling_layer=False),
        "bert": lambda: BertModel(BertConfig(**text), add_pooling_layer=False),
        "clip": lambda: CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=TINY_DIM,
                intermediate_size=64,
                num_hidden_layers=1,
                num_attention_heads=2,
                image_size=TINY_IMAGE,
                patch_size=8,
            )
        ),
        "comet": lambda: BartForConditionalGeneration(
            BartConfig(
                vocab_size=len(tok),
                d_model=TINY_DIM,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=64,
                decoder_ffn_dim=64,
                max_position_embeddings=130,
                pad_token_id=tok.pad_token_id,
                bos_token_id=tok.cls_token_id,
                eos_token_id=tok.sep_token_id,
                decoder_start_token_id=tok.sep_token_id,
                forced_eos_token_id=None,
                init_std=TINY_INIT,
            )
        ),
    }
    for i, (role, make) in enumerate(builders.items()):
        if role == "clip" and clip_dir is not None:  # the vision half of a full CLIPModel checkpoint
            vision, _, processor = load_clip_parts(clip_dir)  # loads the whole CLIP: no unused-key report
            vision.save_pretrained(out / role)
            processor.save_pretrained(out / role)
            continue
        with torch.random.fork_rng():
            torch.manual_seed(seed * 10 + i)
            make().save_pretrained(out / role)
        if role == "clip":
            CLIPImageProcessorPil(
                size={"shortest_edge": TINY_IMAGE}, crop_size={"height": TINY_IMAGE, "width": TINY_IMAGE}
            ).save_pretrained(out / role)
        else:
            tok.save_pretrained(out / role)
    return out


def _tiny_clip_key() -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(tiny_clip_config(), sort_keys=True).encode()).hexdigest()[:12]


def tiny_backbones(data: Dataset, cache_dir: Path, seed: int, device: str = "cpu") -> Path:
    """The tiny backbones of (dataset, seed), written once under ``cache_dir`` and reused.

    Reuse matters twice: ``knowledge build`` and training must see the very same tiny COMET (the
    knowledge cache is keyed by its weights and vocabulary, and training the tiny tokenizer
    twice need not give the same ids), and every ablation starts from the same init, so a
    Table 2 row differs from ``cks`` only by the part it removes. The ``clip`` role is the
    shared description-pretrained tiny CLIP (built on first use, :func:`stickerbench.adapters.tiny_clip.tiny_clip_dir`);
    its config is part of the directory name, so a changed tiny CLIP never reuses a stale copy.
    """
    import shutil

    path = (
        Path(cache_dir)
        / "cks-tiny"
        / f"{data.fingerprint[:20]}-seed{seed}-init{TINY_INIT}-nodrop-clip{_tiny_clip_key()}"
    )

    def built() -> bool:
        return all((path / role / "config.json").is_file() for role in ROLES)

    if built():
        return path
    clip_dir = tiny_clip_dir(data, Path(cache_dir), seed, device)
    with build_lock(path.parent / f".{path.name}.lock"):  # one process builds, another waits for it
        if not built():
            staging = staging_dir(path.parent, ".staging-")
            write_tiny_backbones(data, staging, seed, clip_dir=clip_dir)
            try:
                staging.replace(path)
            except OSError:  # built meanwhile by a process the lock did not hold off (flock is advisory)
                shutil.rmtree(staging, ignore_errors=True)
    return path


def backbone_sources(preset: str, options: dict[str, Any], tiny_dir: str | Path | None = None) -> dict[str, str]:
    """role → hub id or directory; ``paper`` needs ``comet_model``."""
    if preset == "tiny":
        return {role: str(Path(tiny_dir) / role) for role in ROLES}
    sources = {role: str(options.get(f"{role}_model") or default) for role, default in PAPER_BACKBONES.items()}
    if not options.get("comet_model"):
        raise SelectorError(
            "cks@paper needs COMET-BART (ATOMIC-2020): pass --option comet_model=DIR with the directory of "
            "the comet-atomic_2020_BART checkpoint (or a hub id of a copy)"
        )
    sources["comet"] = str(options["comet_model"])
    return sources


def load_comet(source: str, preset: str, device: str, state: str = "decoder") -> CometKnowledge:
    from transformers import AutoTokenizer, BartForConditionalGeneration

    model = BartForConditionalGeneration.from_pretrained(source).to(device)
    return CometKnowledge(
        model,
        AutoTokenizer.from_pretrained(source),
        max_new_tokens=PRESETS[preset].comet_new_tokens,
        name=source,
        state=state,
    )


def make_comet(
    preset: str, dataset: Dataset, options: dict[str, Any], device: str, cache_dir: Path, seed: int = 0
) -> CometKnowledge:
    """The COMET that ``cks@preset`` would use on ``dataset`` (for ``knowledge build``)."""
    state = comet_state(options)
    if preset == "paper":
        return load_comet(backbone_sources("paper", options)["comet"], preset, device, state)
    return load_comet(str(tiny_backbones(dataset, cache_dir, seed, device) / "comet"), preset, device, state)
