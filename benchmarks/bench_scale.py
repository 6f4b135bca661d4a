"""How evaluation scales to MOD's size: time per sample, peak memory and the sticker cache's saving.

    python benchmarks/bench_scale.py --quick                    # a few minutes on 2 cores
    python benchmarks/bench_scale.py --json scale.json          # every selector, sizes up to 7,000
    python benchmarks/bench_scale.py --models popularity,clip --sizes 500,1000,4000

The data is MojiChat at MOD's size (``--dataset mojichat-mod``: 307 stickers, 11-sticker official
candidate sets, ~152k training samples; built into the cache on first use, about a minute), or
``--data-dir`` with any MOD-layout directory. For each selector (the cheap ones and every tiny
neural one) it measures:

* **scaling** — the harness's own evaluation of a split of ``n`` items of ``--split`` (default
  ``test_hard``, MOD's largest test split) on their official sets, for each ``n`` of ``--sizes``:
  ``evaluate_split`` scores them in batches, streams a predictions file and computes the metrics
  from it, exactly as ``run`` does. Each size gets items no earlier size had (consecutive slices),
  so nothing a selector cached per query (CKS's commonsense knowledge) is reused across rows.
  Rows give the seconds, the milliseconds per sample and the peak resident memory while that
  evaluation ran (the loaded dataset included). Per-sample cost should be flat: one that grows
  with ``n`` is a superlinear step somewhere.
* **sticker_cache** — what per-sticker caching saves at MOD's shape: ``prepare`` encodes the 307
  stickers once, then every query is scored from the cache; a naive loop prepares, for every
  query, a store of its 11 candidates and the stickers its dialogue sent, encoding them again.
  The frozen-encoder selectors (MOD-GPT, MMBERT, FROMAGe) keep their features across ``prepare``
  calls in a ``StickerTable``; the naive loop starts each query with an empty one, so it really
  encodes. Both are measured on the split's last ``--naive-queries`` items (the cached pass first,
  so any per-query cache favours the naive one: the saving is conservative) and projected to
  MOD's 10,200 test items (3,200 easy + 7,000 hard).

Selectors are fitted for one step on the first ``--fit-samples`` training samples (time per sample
does not depend on the weights) and never timed while fitting. Caches go to a fresh temporary
directory unless ``--cache-dir`` names one to keep (then the tiny CLIP stand-in is pretrained only
once, but per-query caches are warm on a second run); sticker features are never read from disk
(``use_disk_cache`` is off), so ``prepare`` really encodes. OCR is off unless ``--ocr rapidocr``:
it is read once per sticker set, not per sample. ``--json FILE`` writes the rows: every row has
``selector``, ``samples``, ``seconds`` and ``peak_rss_mb``, plus ``measure`` (``scaling`` or
``sticker_cache``) and that measure's own fields.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np

CHEAP = ["random", "popularity"]
NEURAL = ["clip", "vilt", "blip2", "mod-gpt", "mmbert", "fromage", "cks"]
MOD_TEST_ITEMS = 3_200 + 7_000  # MOD's easy and hard test sets
WARM_UP = 96  # items scored once before the rows (lazy imports, allocator, kernels for each batch shape)
SIZES = [250, 500, 1000, 2000, 3000]  # 12x; disjoint slices, 6,750 items of test_hard's 7,000
QUICK_SIZES = [800, 1600, 3200]  # cheap selectors: large enough that a row is not noise
QUICK_NEURAL_SIZES = [100, 200, 400]
FLAT = 1.5  # per-sample cost at the largest size within this factor of the smallest's counts as flat


def peak_rss_reset() -> None:
    """Start a new peak: Linux resets VmHWM to the current RSS when "5" is written to clear_refs."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere the peak is the process's


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024)


def quiet():
    """The selectors' sticker progress lines (one per naive query) would bury the tables."""
    return contextlib.redirect_stderr(io.StringIO())


def fit_view(dataset, samples: int):
    """The first ``samples`` training samples (and a little validation) over the full sticker set."""
    from benchmark.types import Dataset

    view = dataset.training_view()
    splits = {"train": view.splits["train"][:samples]}
    if "validation" in view.splits:
        splits["validation"] = view.splits["validation"][: max(32, samples // 10)]
    return Dataset(view.name, splits, view.stickers, view.emotion_names, info=dict(view.info))


def build(name: str, dataset, cache_dir: Path, ocr: str):
    """A tiny-preset selector fitted for one step (the weights do not change the cost)."""
    from benchmark.registry import build_selector
    from benchmark.selector import SelectorContext, TrainConfig, is_trainable

    ctx = SelectorContext(
        preset="tiny",
        num_emotions=dataset.num_emotions,
        emotion_names=dataset.emotion_names,
        cache_dir=cache_dir,
        options={"ocr": ocr},
    )
    selector = build_selector(name, ctx)
    if is_trainable(selector):
        selector.fit(dataset, TrainConfig(epochs=1, max_steps=1, patience=None, validation_split=None, amp=False))
    if hasattr(selector, "use_disk_cache"):
        selector.use_disk_cache = False
    return selector


def evaluate(selector, samples, sets, num_emotions: int, batch_size: int | None, work: Path) -> "Clock":
    """The harness's evaluation of ``samples``, timed: scoring, predictions file and metrics."""
    from benchmark.evaluator import evaluate_split

    path = work / "predictions.jsonl"
    path.unlink(missing_ok=True)
    with Clock() as clock:
        evaluate_split(selector, samples, sets, path, batch_size, num_emotions, progress=False)
    return clock


def slices(sizes: list[int], available: int) -> list[slice]:
    """Consecutive slices of the given sizes after the warm-up items; refused if they do not fit."""
    if WARM_UP + sum(sizes) > available:
        raise SystemExit(f"sizes {sizes} need {WARM_UP + sum(sizes)} items; the split has {available}")
    starts = np.cumsum([WARM_UP, *sizes])
    return [slice(int(a), int(a) + n) for a, n in zip(starts, sizes)]


def scaling_rows(name, selector, samples, sets, sizes, num_emotions, batch_size, work) -> list[dict]:
    evaluate(selector, samples[:WARM_UP], sets[:WARM_UP], num_emotions, batch_size, work)
    rows = []
    for n, part in zip(sizes, slices(sizes, len(samples))):
        peak_rss_reset()
        clock = evaluate(selector, samples[part], sets[part], num_emotions, batch_size, work)
        rows.append(
            {
                "measure": "scaling",
                "selector": name,
                "samples": n,
                "seconds": round(clock.wall, 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "cpu_seconds": round(clock.cpu, 3),
                "ms_per_sample": round(1000 * clock.wall / n, 3),
                "cpu_ms_per_sample": round(1000 * clock.cpu / n, 3),
            }
        )
    return rows


class Clock:
    """Wall and CPU seconds of a block (CPU time is what a busy machine disturbs least)."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def forget_stickers(selector) -> None:
    """Empty a frozen-encoder selector's feature table, so that its next ``prepare`` encodes."""
    from stickerbench.adapters.sticker_table import StickerTable

    table = getattr(selector, "stickers", None)
    if isinstance(table, StickerTable):
        table.clear()


def query_store(stickers, query):
    """What a naive loop prepares for one query: its candidates and the stickers its dialogue sent."""
    from benchmark.types import StickerStore

    sent = [u.sticker_id for u in query.context if u.sticker_id is not None]
    return StickerStore([stickers[s] for s in dict.fromkeys([*query.candidates, *sent])])


def score_in_batches(selector, queries, batch_size: int | None) -> np.ndarray:
    """The queries' scores, in the batches ``run`` would make (``batch_size`` in the selector's unit)."""
    from benchmark.batching import batch_unit, query_batches

    batches = query_batches([len(q.candidates) for q in queries], batch_size, batch_unit(selector))
    return np.concatenate([selector.score([queries[i] for i in batch]).scores for batch in batches])


def cache_row(name, selector, stickers, queries, batch_size: int | None) -> dict:
    """The per-sticker cache against a naive per-query loop, projected to MOD's test items."""
    peak_rss_reset()
    forget_stickers(selector)
    with quiet(), Clock() as prepare:
        selector.prepare(stickers)
    with Clock() as cached:
        scores = score_in_batches(selector, queries, batch_size)
    stores = [query_store(stickers, q) for q in queries]
    with quiet(), Clock() as naive:
        naive_scores = []
        for q, store in zip(queries, stores):
            forget_stickers(selector)
            selector.prepare(store)
            naive_scores.append(selector.score([q]).scores)
    forget_stickers(selector)
    with quiet():
        selector.prepare(stickers)  # as the scaling rows left it
    per_query = MOD_TEST_ITEMS / len(queries)
    cached_wall, cached_cpu = prepare.wall + per_query * cached.wall, prepare.cpu + per_query * cached.cpu
    return {
        "measure": "sticker_cache",
        "selector": name,
        "samples": MOD_TEST_ITEMS,
        "seconds": round(cached_wall, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cpu_seconds": round(cached_cpu, 2),
        "naive_seconds": round(per_query * naive.wall, 2),
        "naive_cpu_seconds": round(per_query * naive.cpu, 2),
        "saving": round(per_query * naive.cpu / cached_cpu, 2),
        "prepare_cpu_seconds": round(prepare.cpu, 3),
        "stickers": len(stickers),
        "candidates": len(queries[0].candidates),
        "sticker_encodes_cached": len(stickers),
        "sticker_encodes_naive": round(per_query * sum(len(s) for s in stores)),
        "measured_queries": len(queries),
        "max_score_difference": float(np.abs(scores - np.concatenate(naive_scores)).max()),
    }


def flatness(rows: list[dict]) -> dict[str, float]:
    """Selector → per-sample cost at its largest size / at its smallest."""
    out = {}
    for name in dict.fromkeys(r["selector"] for r in rows):
        mine = sorted((r for r in rows if r["selector"] == name), key=lambda r: r["samples"])
        out[name] = mine[-1]["cpu_ms_per_sample"] / max(mine[0]["cpu_ms_per_sample"], 1e-9)
    return out


def print_tables(rows: list[dict]) -> None:
    from tabulate import tabulate

    scaling = [r for r in rows if r["measure"] == "scaling"]
    sizes = sorted({r["samples"] for r in scaling})
    ratios = flatness(scaling)
    table = []
    for name, ratio in ratios.items():
        mine = {r["samples"]: r for r in scaling if r["selector"] == name}
        cells = [f"{mine[n]['cpu_ms_per_sample']:.2f}" if n in mine else "" for n in sizes]
        peak = max(r["peak_rss_mb"] for r in mine.values())
        table.append([name, *cells, f"{ratio:.2f}", "flat" if ratio <= FLAT else "GROWS", f"{peak:.0f}"])
    headers = ["selector", *(f"CPU ms/sample @{n}" for n in sizes), "largest/smallest", "", "peak RSS MB"]
    print(tabulate(table, headers=headers, tablefmt="github"))
    cache = [r for r in rows if r["measure"] == "sticker_cache"]
    if cache:
        print()
        print(
            tabulate(
                [
                    [
                        r["selector"],
                        f"{r['prepare_cpu_seconds']:.2f}",
                        f"{r['cpu_seconds']:.1f}",
                        f"{r['naive_cpu_seconds']:.1f}",
                        f"{r['saving']:.1f}×",
                        f"{r['sticker_encodes_cached']:,} vs {r['sticker_encodes_naive']:,}",
                    ]
                    for r in cache
                ],
                headers=[
                    "selector",
                    f"prepare CPU s ({cache[0]['stickers']} stickers)",
                    f"cached CPU s ({MOD_TEST_ITEMS:,} items)",
                    "naive CPU s",
                    "saving",
                    "sticker encodes",
                ],
                tablefmt="github",
            )
        )


def main(argv: list[str] | None = None) -> list[dict]:
    from benchmark.candidates import official_candidates
    from benchmark.datasets import load_dataset
    from benchmark.types import query_for

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer naive queries: a few minutes")
    p.add_argument("--models", help=f"comma-separated (default: {','.join(CHEAP + NEURAL)})")
    p.add_argument(
        "--sizes",
        help="comma-separated split sizes (default 250,500,1000,2000,3000; --quick: 800,1600,3200 for the cheap "
        "selectors, 100,200,400 for the neural ones)",
    )
    p.add_argument("--dataset", default="mojichat-mod")
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--split", default="test_hard")
    p.add_argument(
        "--batch-size",
        type=int,
        help="scoring batch in each selector's unit, as for run (default: run's, 32 queries or 256 pairs)",
    )
    p.add_argument("--fit-samples", type=int, help="training samples the one-step fit sees (default 4000; quick 1000)")
    p.add_argument("--naive-queries", type=int, help="queries of the naive loop (default 64; quick 16)")
    p.add_argument("--ocr", default="none", choices=["none", "rapidocr"])
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: CPU time is then the work done)")
    p.add_argument("--cache-dir", type=Path, help="keep the selectors' caches here (default: a fresh temporary one)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows here")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    models = [m.strip() for m in (args.models or ",".join(CHEAP + NEURAL)).split(",") if m.strip()]
    started = time.perf_counter()
    dataset = load_dataset(args.dataset, args.data_dir)
    samples = dataset.split(args.split)
    sets = official_candidates(samples, args.split)
    print(
        f"{args.dataset}: {len(dataset.stickers)} stickers, {len(samples):,} {args.split} items "
        f"({len(sets[0].candidates)} candidates), {len(dataset.split('train')):,} training samples; "
        f"loaded in {time.perf_counter() - started:.1f} s, peak RSS {peak_rss_mb():.0f} MB",
        flush=True,
    )
    fitting = fit_view(dataset, args.fit_samples or (1000 if args.quick else 4000))
    naive = args.naive_queries or (16 if args.quick else 64)
    queries = [query_for(s, c) for s, c in zip(samples[-naive:], sets[-naive:])]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as work:
        cache_dir = args.cache_dir or Path(work) / "cache"
        for name in models:
            if args.sizes:
                sizes = [int(n) for n in args.sizes.split(",")]
            else:
                sizes = (QUICK_SIZES if name in CHEAP else QUICK_NEURAL_SIZES) if args.quick else SIZES
            t0 = time.perf_counter()
            with quiet():
                selector = build(name, fitting, cache_dir, args.ocr)
                selector.prepare(dataset.stickers)
            mine = scaling_rows(name, selector, samples, sets, sizes, dataset.num_emotions, args.batch_size, Path(work))
            if name not in CHEAP:
                mine.append(cache_row(name, selector, dataset.stickers, queries, args.batch_size))
            rows += mine
            print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
            del selector
    print()
    print_tables(rows)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
