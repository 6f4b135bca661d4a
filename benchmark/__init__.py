"""stickerbench: compare sticker selectors on identical candidate sets.

The public API a selector author needs is re-exported here.
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

__version__ = "0.1.0"

__all__ = [
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
]
