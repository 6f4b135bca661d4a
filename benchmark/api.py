"""The Python API, for notebooks and scripts: the command line is a thin layer over the same run.

import benchmark
results = benchmark.evaluate(["random", "popularity", my_selector], splits=["test_easy"])
results.models["popularity"].splits["test_easy"].metrics["mrr"]
again = benchmark.load_results("runs/mojichat-sampled10-seed0")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.results import RunResults
from benchmark.run_config import RunConfig
from benchmark.selector import Selector
from benchmark.types import Dataset


def evaluate(
    selectors: Sequence[str | Selector],
    dataset: str | Dataset = "mojichat",
    splits: Sequence[str] | None = None,
    candidates: str = "sampled",
    output: str | Path | None = None,
    **settings: Any,
) -> RunResults:
    """Score ``selectors`` — registered names (trained or loaded as ``run`` does) or selector
    objects (scored as they are, named by ``meta.name``) — on identical candidate sets.

    ``dataset`` is a dataset name (``mojichat``, or ``mod`` with ``data_dir=…``) or a loaded
    :class:`~benchmark.types.Dataset`. Every other field of :class:`~benchmark.run_config.RunConfig`
    (``num_candidates``, ``negatives``, ``seed``, ``preset``, ``options``, ``train``, ``overwrite``, …) may be
    given as a keyword. Results are written to ``output`` (default
    ``runs/<dataset>-<candidates><N>-seed<seed>``), resumed and locked exactly as by ``run``;
    render them with ``stickerbench.leaderboard.render.render_runs([results])``.
    """
    from benchmark.runner import run

    names = [s for s in selectors if isinstance(s, str)]
    objects = [s for s in selectors if not isinstance(s, str)]
    loaded = dataset if isinstance(dataset, Dataset) else None
    name = loaded.name if loaded is not None else str(dataset)
    cfg = RunConfig(
        models=names,
        dataset=name,
        splits=list(splits) if splits else None,
        candidates=candidates,
        output=Path(output) if output is not None else None,
        **settings,
    )
    return run(cfg, dataset=loaded, selectors=objects)
