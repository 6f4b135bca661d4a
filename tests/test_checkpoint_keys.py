"""A cached checkpoint's code hash covers exactly the code its selector runs.

Editing the Markdown renderer must retrain nothing; editing a CKS module must retrain CKS and its
ablations and nothing else. The edits are simulated in memory (the files are never touched).
"""

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from benchmark.registry import ENTRY_POINT_GROUP, build_selector
from benchmark.selector import SelectorContext
from benchmark.source_hash import source_fingerprint

ROOT = Path(__file__).resolve().parents[1]


def _code_hashes() -> dict[str, str]:
    source_fingerprint.cache_clear()
    hashes = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is None or ep.dist.name != "stickerbench":
            continue
        selector = build_selector(
            ep.name, SelectorContext(preset="tiny", num_emotions=3, emotion_names=("a", "b", "c"))
        )
        hashes[ep.name] = source_fingerprint(type(selector).__module__)
    return hashes


@pytest.fixture
def edit(monkeypatch):
    """``edit("models/cks/keue.py")``: every read of that file sees one more line."""

    def apply(relative: str) -> None:
        target = (ROOT / relative).resolve()
        assert target.is_file(), target
        original = Path.read_bytes

        def read_bytes(self):
            data = original(self)
            return data + b"\n# edited\n" if Path(self).resolve() == target else data

        monkeypatch.setattr(Path, "read_bytes", read_bytes)

    return apply


def test_every_builtin_selector_is_hashed():
    hashes = _code_hashes()
    assert {"random", "popularity", "clip", "cks", "cks-no-ocr", "fromage"} <= set(hashes)


def test_editing_the_leaderboard_renderer_changes_no_key(edit):
    before = _code_hashes()
    edit("leaderboard/render.py")
    assert _code_hashes() == before


def test_editing_a_cks_model_changes_cks_keys_only(edit):
    before = _code_hashes()
    edit("models/cks/keue.py")
    after = _code_hashes()
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {name for name in before if name == "cks" or name.startswith("cks-")}
