"""The registry: lazy built-ins, collisions refused, did-you-mean, glob listing."""

import subprocess
import sys

import pytest

from benchmark import SelectorContext, register_selector
from benchmark.errors import SelectorError
from benchmark.registry import available_selectors, build_selector, get_factory, parse_model_spec


def test_listing_imports_no_model_code():
    code = (
        "import sys; from benchmark.registry import available_selectors; available_selectors(); "
        "print(any(m.startswith(('torch', 'transformers', 'stickerbench.adapters.cks')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_duplicate_names_are_refused():
    with pytest.raises(SelectorError, match="registered twice"):

        @register_selector("random")
        def build(ctx):  # pragma: no cover - never called
            raise AssertionError


def test_unknown_name_suggests_close_ones():
    with pytest.raises(SelectorError, match=r"did you mean 'cks-no-ocr'"):
        get_factory("cks-no-orc")


def test_registered_factory_builds_and_is_listed():
    @register_selector("test-constant")
    def build(ctx):
        """A constant scorer used by this test."""
        from dataclasses import replace

        from stickerbench.adapters.random_selector import RandomSelector

        selector = RandomSelector(seed=ctx.seed)
        selector.meta = replace(selector.meta, name="test-constant")
        return selector

    assert ("test-constant", __name__, "A constant scorer used by this test.") in available_selectors("test-*")
    assert build_selector("test-constant", SelectorContext(seed=3)).meta.config == {"seed": 3}


def test_factory_returning_a_non_selector_is_refused():
    @register_selector("test-broken")
    def build(ctx):
        return object()

    with pytest.raises(SelectorError, match="lacks meta"):
        build_selector("test-broken", SelectorContext())


def test_model_spec_parsing():
    spec = parse_model_spec("clip@paper", "tiny")
    assert (spec.key, spec.name, spec.preset, spec.preset_explicit) == ("clip@paper", "clip", "paper", True)
    spec = parse_model_spec(" mmbert ", "tiny")
    assert (spec.key, spec.name, spec.preset, spec.preset_explicit) == ("mmbert", "mmbert", "tiny", False)
    for bad in ("@paper", "clip@"):
        with pytest.raises(SelectorError, match="expected NAME or NAME@PRESET"):
            parse_model_spec(bad, "tiny")
