"""The CLIP selector's open_clip backend (``--option backend=open_clip``).

open_clip imports torchvision, which loads only beside the torch build it was made for, so these
tests run in a venv of their own: ``make test-open-clip`` (CI runs it after ``make test``). Where
open_clip cannot be imported the module is skipped with the reason, except in CI, where that fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _open_clip_import_error() -> str | None:
    try:
        import open_clip  # noqa: F401
    except Exception as exc:  # ImportError, or torchvision's RuntimeError beside another torch build
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


MISSING = _open_clip_import_error()
if MISSING is not None:
    if os.environ.get("CI"):
        pytest.fail(f"open_clip cannot be imported in CI ({MISSING}); make test-open-clip installs it", pytrace=False)
    pytest.skip(
        f"open_clip cannot be imported here ({MISSING}); make test-open-clip runs these tests in .venv-open-clip",
        allow_module_level=True,
    )

import open_clip  # noqa: E402
import torch  # noqa: E402

from benchmark.api import evaluate  # noqa: E402
from benchmark.candidates import sampled_candidates  # noqa: E402
from benchmark.checkpoints import WEIGHTS, load_weights  # noqa: E402
from benchmark.datasets.mod import load_mod  # noqa: E402
from benchmark.datasets.mojichat import build_mojichat  # noqa: E402
from benchmark.datasets.synthetic import write_tiny_mod  # noqa: E402
from benchmark.errors import SelectorError  # noqa: E402
from benchmark.selector import SelectorContext, TrainConfig  # noqa: E402
from benchmark.types import query_for  # noqa: E402
from stickerbench.adapters import open_clip_backend as ocb  # noqa: E402
from stickerbench.adapters.clip import build  # noqa: E402

FAST = TrainConfig(epochs=1, max_steps=3, patience=None, batch_size=8, amp=False)


def _ctx(dataset, cache: Path, preset: str = "tiny", **options) -> SelectorContext:
    return SelectorContext(
        preset=preset,
        num_emotions=dataset.num_emotions,
        emotion_names=dataset.emotion_names,
        cache_dir=cache,
        options=options,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_mod(write_tiny_mod(tmp_path_factory.mktemp("mod") / "mod"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    sel = build(_ctx(data, tmp_path_factory.mktemp("cache"), backend="open_clip"))
    sel.fit(data, FAST)
    return sel


def _queries(data, split="test_easy", n=6, count=8):
    samples = data.split(split)[:count]
    return [query_for(s, c) for s, c in zip(samples, sampled_candidates(samples, list(data.stickers), n, seed=1))]


def _scores(sel, data, queries):
    sel.prepare(data.stickers)
    return sel.score(queries).scores


def test_tiny_is_an_open_clip_model_of_the_registered_config(trained, data):
    assert isinstance(trained.model, open_clip.CLIP)
    assert ocb.TINY_MODEL in open_clip.list_models()
    assert open_clip.get_model_config(ocb.TINY_MODEL) == ocb.TINY_OPEN_CLIP
    assert trained.model.visual.image_size == (32, 32) and trained.tokenizer.context_length == 32
    config = trained.meta.config
    assert config["backend"] == "open_clip" and config["open_clip_model"] == ocb.TINY_MODEL
    assert config["tiny"] == ocb.TINY_OPEN_CLIP and config["backbone"] == "tiny"
    # the backbone directory is open_clip's own local-dir layout, loadable by open_clip alone
    again = open_clip.create_model(f"local-dir:{trained.tiny_dir()}")
    assert sum(p.numel() for p in again.parameters()) == trained.meta.num_parameters


def test_the_backend_changes_the_config_and_so_the_checkpoint_key(data, tmp_path):
    default = build(_ctx(data, tmp_path)).meta.config
    assert default["backend"] == "transformers" and "open_clip_model" not in default
    paper = build(_ctx(data, tmp_path, "paper", backend="open_clip")).meta.config
    assert (paper["backend"], paper["open_clip_model"], paper["open_clip_pretrained"]) == (
        "open_clip",
        "ViT-B-32",
        "openai",
    )
    assert paper["backbone"] == "open_clip:ViT-B-32:openai"


def test_checkpoint_round_trip_gives_identical_scores(trained, data, tmp_path):
    queries = _queries(data)
    before = _scores(trained, data, queries)
    trained.save(tmp_path / "ckpt")
    files = sorted(p.relative_to(tmp_path / "ckpt").as_posix() for p in (tmp_path / "ckpt").rglob("*") if p.is_file())
    assert "backbone/open_clip_model.safetensors" in files and "backbone/open_clip_config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))], files
    assert set(load_weights(tmp_path / "ckpt" / WEIGHTS)) == {n for n, _ in trained.model.named_parameters()}
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["config"]["backend"] == "open_clip"
    again = type(trained).load(tmp_path / "ckpt", trained.ctx)
    np.testing.assert_array_equal(_scores(again, data, queries), before)
    with pytest.raises(SelectorError, match="backend=open_clip"):
        type(trained).load(tmp_path / "ckpt", _ctx(data, tmp_path))  # the transformers backend refuses it


def test_score_is_scaled_cosine_of_open_clip_encoders(trained, data):
    q = _queries(data, count=1)[0]
    with torch.inference_mode():
        t = trained.model.encode_text(trained.tokenize([q.context[-1].text]))
        v = trained.model.encode_image(trained.pixel_values([data.stickers.image(c) for c in q.candidates]))
        expected = trained.model.logit_scale.exp() * torch.nn.functional.cosine_similarity(t, v)
    np.testing.assert_allclose(_scores(trained, data, [q])[0], expected.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_paper_preset_reads_a_local_weights_file(trained, data, tmp_path, suffix):
    """Real weights load through the same code: here the trained tiny model's state dict as a file."""
    weights = tmp_path / f"weights{suffix}"
    state = {k: v.contiguous() for k, v in trained.model.state_dict().items()}
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(weights))
    else:
        torch.save({"state_dict": state}, weights)  # read back with weights_only=True
    options = {"backend": "open_clip", "open_clip_model": ocb.TINY_MODEL, "open_clip_pretrained": str(weights)}
    paper = build(_ctx(data, tmp_path / "cache", "paper", **options))
    assert paper.meta.config["open_clip_pretrained"] == str(weights)
    queries = _queries(data)
    np.testing.assert_allclose(_scores(paper, data, queries), _scores(trained, data, queries), rtol=1e-6, atol=1e-6)


def test_an_uncached_tag_is_a_one_line_error_and_nothing_is_downloaded(data, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    sel = build(_ctx(data, tmp_path / "cache", "paper", backend="open_clip"))
    with pytest.raises(SelectorError) as err:
        sel.prepare(data.stickers)
    message = str(err.value)
    assert "\n" not in message and "not in the local cache" in message and "open_clip_pretrained=FILE" in message


def test_a_cached_tag_resolves_from_the_hugging_face_cache_or_the_url_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    url_file = tmp_path / "home" / ".cache" / "clip" / "ViT-B-32.pt"  # where open_clip caches URL weights
    url_file.parent.mkdir(parents=True)
    url_file.write_bytes(b"x")
    assert ocb.cached_weights("ViT-B-32", "openai") == url_file
    snapshot = tmp_path / "hf" / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"x")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc")
    assert ocb.cached_weights("ViT-B-32", "openai") == snapshot / "open_clip_model.safetensors"
    with pytest.raises(SelectorError, match="its tags: .*openai"):
        ocb.cached_weights("ViT-B-32", "no-such-tag")


@pytest.mark.parametrize(
    ("preset", "options", "message"),
    [
        ("tiny", {"backend": "open_clip", "open_clip_model": "ViT-B-32"}, "read by clip@paper"),
        ("paper", {"backend": "open_clip", "open_clip_model": "ViT-B-23"}, "did you mean ViT-B-32"),
        ("paper", {"backend": "open_clip", "open_clip_model": "ViT-B-16"}, "needs --option open_clip_pretrained"),
        ("paper", {"backend": "open_clip", "clip_model": "/some/dir"}, "open_clip_model=NAME"),
        ("paper", {"open_clip_pretrained": "openai"}, "add --option backend=open_clip"),
        ("tiny", {"backend": "openclip"}, "choose one of transformers, open_clip"),
    ],
)
def test_options_are_checked_when_the_selector_is_built(data, tmp_path, preset, options, message):
    with pytest.raises(SelectorError, match=message):
        build(_ctx(data, tmp_path, preset, **options))


def test_a_missing_open_clip_is_a_clear_error(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # `import open_clip` now raises ImportError
    with pytest.raises(SelectorError, match=r'pip install -e "\.\[open-clip\]"'):
        build(_ctx(data, tmp_path, backend="open_clip"))


def test_the_default_backend_never_imports_open_clip(mini_mod_dir, tmp_path):
    code = (
        "import sys\n"
        "from benchmark.datasets.mod import load_mod\n"
        "from benchmark.selector import SelectorContext, TrainConfig\n"
        "from stickerbench.adapters.clip import build\n"
        f"data = load_mod({str(mini_mod_dir)!r})\n"
        f"sel = build(SelectorContext(preset='tiny', num_emotions=data.num_emotions, cache_dir={str(tmp_path)!r}))\n"
        "sel.fit(data, TrainConfig(epochs=1, max_steps=1, patience=None, batch_size=8, amp=False))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'open_clip'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


# R@1 on MojiChat test_easy (800 samples, N = 10, chance 10%) of the tiny open_clip CLIP trained with
# its recipe for all its epochs, measured on a 2-core machine: 40.9, 46.4 and 47.1 for seeds 0, 1, 2
# (random: 10.6, 9.1, 8.8). Less training does not get there, on either backend: with a quarter of
# the training split open_clip reached 10-13.5% and transformers 5.5%, with half of it open_clip
# 19.8%, and with the full split for 5 epochs 15.6%. A random-init CLIP needs the whole split and
# all 770 steps to learn emotion rather than memorise (utterance, sticker) pairs, so this test takes
# minutes. The bound sits far under every measured seed and far above chance.
MIN_R1 = 0.25


def test_trains_and_evaluates_on_mojichat_well_above_chance(tmp_path):
    """The issue's acceptance check: `--models clip --option backend=open_clip` on MojiChat (a few minutes)."""
    moji = load_mod(build_mojichat(tmp_path / "mojichat", progress=False), name="mojichat")
    results = evaluate(
        ["clip", "random"],
        dataset=moji,
        splits=["test_easy"],
        output=tmp_path / "run",
        options={"backend": "open_clip"},
        train=TrainConfig(patience=None),  # all 10 epochs: a noisy plateau must not stop it early
        progress=False,
    )
    r1 = {name: results.models[name].splits["test_easy"].metrics["recall@1"] for name in ("clip", "random")}
    assert r1["clip"] > MIN_R1 and r1["clip"] > r1["random"] + 0.1, r1
    assert results.models["clip"].meta["config"]["backend"] == "open_clip"
