"""``cks`` and its Table 2 ablations: the causal knowledge-enhanced sticker selector
(Chen et al., ACM MM 2024). The architecture lives in :mod:`stickerbench.models.cks` (equations cited there);
this package is the adapter, one job a module:

- :mod:`stickerbench.adapters.cks.presets`    the ``tiny`` and ``paper`` sizes and optimiser defaults
- :mod:`stickerbench.adapters.cks.backbones`  the pretrained (or tiny random-init) backbones and COMET
- :mod:`stickerbench.adapters.cks.knowledge`  the on-disk COMET knowledge cache
- :mod:`stickerbench.adapters.cks.selector`   ``CKSSelector``: queries → tensors → scores; ``build``
- :mod:`stickerbench.adapters.cks.recipe`     the training recipe for the shared trainer (negatives, losses)
- :mod:`stickerbench.adapters.cks.variants`   the seven ablations, ``cks-no-keue`` … ``cks-no-ocr``
- :mod:`stickerbench.adapters.cks.commands`   the ``knowledge build`` subcommand

The names below are re-exported lazily (on first attribute access), so ``stickerbench.adapters.cks:build``
and ``stickerbench.adapters.cks:CKSNoKEUE`` keep resolving, while importing the package — which every CLI
start does, for :mod:`stickerbench.adapters.cks.commands` — imports no torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build": "selector",
    "CKSSelector": "selector",
    **{
        name: "variants"
        for name in ("CKSNoKEUE", "CKSNoVKD", "CKSNoCIM", "CKSNoITC", "CKSNoITM", "CKSNoEmo", "CKSNoOCR")
    },
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
