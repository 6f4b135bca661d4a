"""The benchmark scripts run end to end on MojiChat at toy sizes, and their cached and naive paths
agree: a script that breaks when an adapter changes would otherwise go unnoticed until someone
measures (``bench_scale.py`` once crashed on MOD-GPT's split of preprocessing from encoding)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NEURAL = ["clip", "vilt", "blip2", "mod-gpt", "mmbert", "fromage", "cks"]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> str:
    """One cache for both scripts: MojiChat and the tiny CLIP stand-in are built once."""
    return str(tmp_path_factory.mktemp("bench-cache"))


def _script(name: str, *args: str, json_path: Path, cache: str) -> list[dict]:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / name),
            "--dataset",
            "mojichat",
            "--cache-dir",
            cache,
            *args,
            "--json",
            str(json_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "STICKERBENCH_CACHE": cache},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(json_path.read_text())


def test_bench_scale_measures_every_selector_and_its_cache_scores_as_the_naive_loop(tmp_path, shared_cache):
    args = ["--sizes", "2,4", "--naive-queries", "2", "--fit-samples", "8", "--ocr", "none"]
    rows = _script("bench_scale.py", *args, json_path=tmp_path / "scale.json", cache=shared_cache)
    scaling = [r for r in rows if r["measure"] == "scaling"]
    assert sorted((r["selector"], r["samples"]) for r in scaling) == sorted(
        (name, n) for name in ["random", "popularity", *NEURAL] for n in (2, 4)
    )
    assert all(r["seconds"] >= 0 and r["peak_rss_mb"] > 0 for r in rows)  # 2 samples may round to 0.000 s
    cache = {r["selector"]: r for r in rows if r["measure"] == "sticker_cache"}
    assert sorted(cache) == sorted(NEURAL)
    for name, row in cache.items():
        assert row["max_score_difference"] < 1e-4, name
        assert row["sticker_encodes_naive"] > row["sticker_encodes_cached"] == 205, name


def test_bench_throughput_scores_a_frozen_encoder_from_per_query_stores_as_from_the_cache(tmp_path, shared_cache):
    """The naive loop empties MOD-GPT's feature table before each query's store, so that store must
    hold the stickers the dialogue sent as well as the candidates."""
    args = ["--models", "mod-gpt", "--queries", "3", "--fit-samples", "8", "--ocr", "none"]
    (row,) = _script("bench_throughput.py", *args, json_path=tmp_path / "throughput.json", cache=shared_cache)
    assert row["selector"] == "mod-gpt" and row["queries"] == 3
    assert row["max_score_difference"] < 1e-4
