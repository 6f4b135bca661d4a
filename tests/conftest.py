"""Shared fixtures: a small MOD-layout dataset written from scratch in a temp directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.datasets.synthetic import write_tiny_mod


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test writes caches into its own temp dir, never into the user's home."""
    monkeypatch.setenv("STICKERBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def mini_mod_dir(tmp_path) -> Path:
    return write_tiny_mod(tmp_path / "mod")


@pytest.fixture
def mini_dataset(mini_mod_dir):
    from benchmark.datasets.mod import load_mod

    return load_mod(mini_mod_dir)
