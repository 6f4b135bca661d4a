"""stickerbench: compare sticker selectors on identical candidate sets.

The public API a selector author needs is re-exported here, and ``evaluate`` / ``load_results``
(see :mod:`benchmark.api`) for notebooks; those two are imported on first use.
"""

from benchmark.errors import BenchmarkError, DataError, SelectorError
from benchmark.registry import register_selector
from benchmark.selector import (
    Selector,
    SelectorContext,
    SelectorMeta,
    TrainableSelector,
    TrainConfig,
)
from benchmark.types import (
    CandidateSet,
    Dataset,
    Query,
    Sample,
    ScoreBatch,
    Sticker,
    StickerStore,
    Utterance,
)
from benchmark.version import __version__


def __getattr__(name: str):
    if name == "evaluate":
        from benchmark.api import evaluate

        return evaluate
    if name in ("load_results", "RunResults"):
        from benchmark import results

        return getattr(results, name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")


__all__ = [
    "__version__",
    "BenchmarkError",
    "CandidateSet",
    "DataError",
    "Dataset",
    "Query",
    "Sample",
    "ScoreBatch",
    "Selector",
    "SelectorContext",
    "SelectorError",
    "SelectorMeta",
    "Sticker",
    "StickerStore",
    "TrainConfig",
    "TrainableSelector",
    "Utterance",
    "register_selector",
    "evaluate",
    "load_results",
    "RunResults",
]
