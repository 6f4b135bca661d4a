"""Atomically written files and directories get the modes plainly created ones get."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from benchmark.checkpoints import CONFIG, WEIGHTS, CheckpointInfo, save_checkpoint
from benchmark.io import atomic_write_text, staging_dir


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o077], ids=oct)
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_atomic_write_has_the_mode_of_a_plain_open(tmp_path, umask):
    with open(tmp_path / "plain.jsonl", "w") as f:  # how predictions files are created
        f.write("{}\n")
    atomic_write_text(tmp_path / "results.json", "{}\n")
    assert _mode(tmp_path / "results.json") == _mode(tmp_path / "plain.jsonl") == 0o666 & ~umask
    atomic_write_text(tmp_path / "results.json", "[]\n")  # replacing keeps it
    assert _mode(tmp_path / "results.json") == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_staging_dir_has_the_mode_of_mkdir(tmp_path, umask):
    (tmp_path / "plain").mkdir()
    first, second = staging_dir(tmp_path, ".x."), staging_dir(tmp_path, ".x.")
    assert first != second and first.name.startswith(".x.")
    assert _mode(first) == _mode(tmp_path / "plain") == 0o777 & ~umask


def test_checkpoint_directory_is_readable_like_any_other(tmp_path, umask):
    ckpt = save_checkpoint(tmp_path / "ckpt", CheckpointInfo("clip", "tiny"), {"w": torch.zeros(2)})
    assert _mode(ckpt) == 0o777 & ~umask
    assert _mode(ckpt / WEIGHTS) == _mode(ckpt / CONFIG) == 0o666 & ~umask
