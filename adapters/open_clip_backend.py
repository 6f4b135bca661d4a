"""The ``clip`` selector's open_clip backend: ``--option backend=open_clip``.

The selector (:mod:`stickerbench.adapters.clip`) owns the recipe, the scoring and the checkpoints;
this module answers what it asks of a CLIP library — build a model, load one, tokenize, preprocess,
encode — with open_clip (mlfoundations/open_clip) instead of transformers.

* ``tiny``: a small random-init open_clip ``CLIP`` of the registered architecture
  ``stickerbench-tiny`` (:data:`TINY_OPEN_CLIP`, the transformers tiny model's sizes), built with
  ``create_model(name, pretrained=None)`` and trained by the same recipe. It reads open_clip's own
  BPE tokenizer (the vocabulary file ships inside the package), so the tiny preset runs the very
  tokenization and preprocessing code that real weights use. Its backbone directory is open_clip's
  ``local-dir`` layout (``open_clip_config.json`` and ``open_clip_model.safetensors``).
* ``paper``: ``--option open_clip_model=NAME`` (an architecture open_clip knows; ViT-B-32 by
  default) with ``--option open_clip_pretrained=FILE_OR_TAG`` (``openai`` by default for
  ViT-B-32, the paper's weights). A file is read with safetensors or ``torch.load(weights_only=True)``;
  a tag is resolved only from the local caches open_clip itself writes (the Hugging Face cache, or
  ``~/.cache/clip`` for weights published as a URL). Nothing is downloaded at run time: a tag that is
  not cached is a one-line error saying how to get the file. A tag sets QuickGELU and the image
  statistics its weights were trained with; for a file, name the matching architecture
  (``ViT-B-32-quickgelu`` for OpenAI's weights).

Hugging Face look-ups that an architecture config may make (a text tower or tokenizer named by
hub id) run in offline mode, so they too resolve from the cache or fail. open_clip imports
torchvision, which loads only beside the torch build it was made for; the README says what to
install.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from benchmark.errors import SelectorError
from benchmark.io import atomic_write_bytes

TINY_MODEL = "stickerbench-tiny"
TINY_OPEN_CLIP = {  # the transformers tiny CLIP's sizes: width 48, 2 layers, 4 heads, MLP 2x, 32 px, patch 8
    "embed_dim": 48,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 48, "layers": 2, "head_width": 12, "mlp_ratio": 2.0},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 48, "heads": 4, "layers": 2, "mlp_ratio": 2.0},
}
PAPER_MODEL = "ViT-B-32"
PAPER_PRETRAINED = "openai"
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
# what a bad weights file raises; UnpicklingError is torch.load(weights_only=True) refusing a pickle
LOAD_ERRORS = (RuntimeError, OSError, ValueError, KeyError, pickle.UnpicklingError)
INSTALL = 'pip install -e ".[open-clip]" beside a torchvision built for your torch (see the README)'


def import_open_clip():
    """open_clip, or a one-line SelectorError saying what to install."""
    try:
        import open_clip
    except ImportError as exc:
        raise SelectorError(f"--option backend=open_clip needs open_clip ({exc}): {INSTALL}") from None
    except (RuntimeError, OSError) as exc:  # torchvision built for another torch fails while loading its ops
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SelectorError(f"open_clip cannot be imported ({first}): {INSTALL}") from None
    return open_clip


@contextmanager
def hub_offline():
    """No Hugging Face download while open_clip builds a model or tokenizer: cache hits only."""
    from huggingface_hub import constants

    was = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = was


@contextmanager
def _quiet_random_init():
    """open_clip warns on the root logger that a model without weights is random: the tiny preset's intent."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def register_tiny(cache_dir: Path) -> None:
    """Register :data:`TINY_OPEN_CLIP` as open_clip architecture ``stickerbench-tiny`` (once per process)."""
    open_clip = import_open_clip()
    if TINY_MODEL in open_clip.list_models():
        return
    path = Path(cache_dir) / "open_clip" / f"{TINY_MODEL}.json"
    blob = json.dumps(TINY_OPEN_CLIP, indent=2, sort_keys=True).encode()
    if not path.is_file() or path.read_bytes() != blob:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, blob)
    open_clip.add_model_config(path)


def cached_weights(model_name: str, tag: str) -> Path:
    """The local file of open_clip's pretrained ``tag`` for ``model_name``, from the caches only."""
    open_clip = import_open_clip()
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
        raise SelectorError(
            f"--option open_clip_pretrained={tag}: neither a file nor a pretrained tag of {model_name} (its tags: {tags})"
        )
    looked = []
    hub = cfg.get("hf_hub") or ""
    if hub:
        from huggingface_hub import try_to_load_from_cache
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        repo, filename = os.path.split(hub)  # "org/name/" means open_clip's default file names
        names = [filename] if filename else [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
        looked.append(f"{repo} in the Hugging Face cache")
    url = cfg.get("url") or ""
    if url:
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if local.is_file():
            return local
        looked.append(str(local))
    fetch = f"hf download {hub.rstrip('/')}" if hub else f"download {os.path.basename(url)} into ~/.cache/clip"
    raise SelectorError(
        f"open_clip weights {model_name}/{tag} are not in the local cache (looked for {' and '.join(looked)}); "
        f"nothing is downloaded at run time: fetch them once ({fetch}) or pass --option open_clip_pretrained=FILE"
    )


class OpenClipBackend:
    """open_clip behind the CLIP selector: model building, tokenizer, preprocessing, encoders."""

    name = "open_clip"

    def __init__(self, ctx):
        self.ctx = ctx
        open_clip = import_open_clip()
        model = ctx.options.get("open_clip_model")
        pretrained = ctx.options.get("open_clip_pretrained")
        if ctx.options.get("clip_model") is not None:
            raise SelectorError(
                "--option clip_model names a transformers checkpoint; with backend=open_clip pass "
                "open_clip_model=NAME and open_clip_pretrained=FILE_OR_TAG"
            )
        register_tiny(ctx.cache_dir)
        if ctx.preset == "tiny":
            if model is not None or pretrained is not None:
                raise SelectorError(
                    "clip@tiny builds its own random-init open_clip model; open_clip_model and "
                    "open_clip_pretrained are read by clip@paper"
                )
            self.model_name, self.pretrained = TINY_MODEL, None
            return
        self.model_name = str(model or PAPER_MODEL).strip()
        if self.model_name not in open_clip.list_models():
            import difflib

            close = difflib.get_close_matches(self.model_name, open_clip.list_models(), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else " (open_clip.list_models() names them)"
            raise SelectorError(f"--option open_clip_model={self.model_name}: not an open_clip architecture{hint}")
        if pretrained is None and self.model_name != PAPER_MODEL:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(self.model_name)) or "none"
            raise SelectorError(
                f"clip@paper with open_clip_model={self.model_name} needs --option open_clip_pretrained=FILE_OR_TAG "
                f"(its tags: {tags})"
            )
        self.pretrained = str(pretrained or PAPER_PRETRAINED).strip()

    # ------------------------------------------------------------------ identity

    def config(self) -> dict:
        """What identifies the model besides the selector's recipe: part of ``meta.config``."""
        out = {"backend": self.name, "open_clip_model": self.model_name}
        if self.ctx.preset == "tiny":
            return {**out, "tiny": TINY_OPEN_CLIP}
        return {**out, "open_clip_pretrained": self.pretrained}

    def paper_source(self) -> str:
        return f"open_clip:{self.model_name}:{self.pretrained}"

    # ------------------------------------------------------------------ building and loading

    def tiny_backbone(self, data, out: Path) -> Path:
        """A random-init ``stickerbench-tiny`` saved in open_clip's ``local-dir`` layout (``data`` is
        not read: the BPE tokenizer ships with open_clip)."""
        open_clip = import_open_clip()
        from safetensors.torch import save_file

        with _quiet_random_init():
            model = open_clip.create_model(TINY_MODEL, pretrained=None)
        config = {"model_cfg": open_clip.get_model_config(TINY_MODEL), "preprocess_cfg": self._preprocess_cfg(model)}
        (Path(out) / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True, default=list))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(out) / WEIGHTS_FILE))
        return Path(out)

    def load(self, source) -> torch.nn.Module:
        """The model from a backbone directory (``tiny``) or from the paper options; sets tokenizer and preprocess."""
        open_clip = import_open_clip()
        folder = Path(str(source))
        if self.ctx.preset == "tiny" or folder.is_dir():
            if not (folder / CONFIG_FILE).is_file():
                raise SelectorError(
                    f"{folder}: not an open_clip backbone (no {CONFIG_FILE}); it was made by the transformers "
                    "backend: drop --option backend=open_clip"
                )
            with hub_offline():
                model = open_clip.create_model(f"local-dir:{folder}")
                self.tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
        else:
            model = self._paper_model(open_clip)
        cfg = self._preprocess_cfg(model)
        self.preprocess_cfg = cfg
        self.processor = open_clip.image_transform(
            cfg["size"],
            is_train=False,
            mean=cfg["mean"],
            std=cfg["std"],
            interpolation=cfg["interpolation"],
            resize_mode=cfg["resize_mode"],
            fill_color=cfg["fill_color"],
        )
        self.max_text = int(self.tokenizer.context_length)
        return model

    def _paper_model(self, open_clip) -> torch.nn.Module:
        path = Path(os.path.expanduser(self.pretrained))
        force = {}
        if not path.is_file():
            path = cached_weights(self.model_name, self.pretrained)
            tag = open_clip.get_pretrained_cfg(self.model_name, self.pretrained)
            force = {
                "force_quick_gelu": bool(tag.get("quick_gelu", False)),
                "force_preprocess_cfg": {
                    k: tag[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag
                },
            }
        try:
            with hub_offline():
                model = open_clip.create_model(self.model_name, pretrained=str(path), weights_only=True, **force)
                self.tokenizer = open_clip.get_tokenizer(self.model_name)
        except LOAD_ERRORS as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise SelectorError(f"open_clip cannot load {self.model_name} from {path}: {first}") from None
        return model

    @staticmethod
    def _preprocess_cfg(model) -> dict:
        import open_clip

        cfg = {"mode": "RGB", "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0}
        cfg.update(open_clip.get_model_preprocess_cfg(model))
        return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}

    # ------------------------------------------------------------------ tensors

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """``[B, context_length]`` token ids; open_clip truncates and keeps the end-of-text token last."""
        return self.tokenizer(list(texts))

    def pixel_values(self, images) -> torch.Tensor:
        return torch.stack([self.processor(image) for image in images])

    @staticmethod
    def text_features(model, tokens: torch.Tensor) -> torch.Tensor:
        return model.encode_text(tokens)

    @staticmethod
    def image_features(model, pixels: torch.Tensor) -> torch.Tensor:
        return model.encode_image(pixels)

    def image_fingerprint_parts(self, model) -> tuple[torch.nn.Module, dict]:
        """The image tower and its preprocessing: what the per-sticker feature cache is keyed by."""
        return model.visual, {"preprocess": self.preprocess_cfg, "kind": "open-clip-image-embedding-v1"}
