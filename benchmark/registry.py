"""Name → selector factory, filled lazily so that ``list`` never imports a neural network.

Three sources, in this order of precedence for error messages:

* built-ins: ``adapters.BUILTIN_SELECTORS`` maps names to ``"module:factory"`` strings;
* plugins: the entry-point group ``stickerbench.selectors`` (name = selector name,
  value = ``module:factory``), scanned once on first use;
* code: ``@register_selector("name")`` on a factory, e.g. in a module passed with
  ``--include-package``.

A factory takes a :class:`~benchmark.selector.SelectorContext` and returns a Selector.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from benchmark.errors import SelectorError
from benchmark.selector import Selector, SelectorContext

ENTRY_POINT_GROUP = "stickerbench.selectors"

Factory = Callable[[SelectorContext], Selector]


@dataclass
class _Entry:
    name: str
    source: str  # "builtin", "entry point", or the module that registered it
    target: str | None = None  # "module:factory" until resolved
    factory: Factory | None = None
    summary: str = ""

    def resolve(self) -> Factory:
        if self.factory is None:
            module_name, _, attr = (self.target or "").partition(":")
            try:
                module = importlib.import_module(module_name)
                self.factory = getattr(module, attr)
            except (ImportError, AttributeError) as exc:
                raise SelectorError(
                    f"selector {self.name!r} ({self.source}) points to {self.target!r}, "
                    f"which cannot be loaded: {exc}"
                ) from exc
        return self.factory


_REGISTRY: dict[str, _Entry] = {}
_builtins_loaded = False
_plugins_loaded = False


def _add(entry: _Entry) -> None:
    existing = _REGISTRY.get(entry.name)
    if existing is not None:
        same_target = entry.target is not None and entry.target == existing.target
        if not same_target:
            raise SelectorError(
                f"selector name {entry.name!r} is registered twice "
                f"({existing.source} and {entry.source}); rename one of them"
            )
        return
    _REGISTRY[entry.name] = entry


def register_selector(name: str, summary: str = "") -> Callable[[Factory], Factory]:
    """Decorate a factory ``f(ctx: SelectorContext) -> Selector`` to make it runnable by name."""

    def decorate(factory: Factory) -> Factory:
        _load_sources()
        module = getattr(factory, "__module__", "?")
        target = f"{module}:{getattr(factory, '__qualname__', factory.__name__)}"
        existing = _REGISTRY.get(name)
        if existing is not None and existing.target == target:
            existing.factory = factory  # the module of a lazy entry is being imported
            return factory
        doc = (factory.__doc__ or "").strip().splitlines()
        _add(_Entry(name, module, target, factory, summary or (doc[0] if doc else "")))
        return factory

    return decorate


def _load_sources() -> None:
    global _builtins_loaded, _plugins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from adapters import BUILTIN_SELECTORS

        for name, (target, summary) in BUILTIN_SELECTORS.items():
            _add(_Entry(name, "builtin", target, summary=summary))
    if not _plugins_loaded:
        _plugins_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep.dist, "name", None) or "an installed package"
            _add(_Entry(ep.name, f"entry point of {dist}", ep.value))


def include_package(module_name: str) -> None:
    """Import a module so that its ``@register_selector`` decorators run."""
    _load_sources()
    try:
        importlib.import_module(module_name)
    except ImportError as exc:
        raise SelectorError(
            f"--include-package {module_name}: cannot import it ({exc}); "
            "check that it is installed or on PYTHONPATH"
        ) from exc


def available_selectors(pattern: str = "*") -> list[tuple[str, str, str]]:
    """(name, source, summary) of every selector whose name matches the glob ``pattern``."""
    _load_sources()
    return [
        (e.name, e.source, e.summary)
        for e in sorted(_REGISTRY.values(), key=lambda e: e.name)
        if fnmatch.fnmatch(e.name, pattern)
    ]


def get_factory(name: str) -> Factory:
    _load_sources()
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise SelectorError(
            f"unknown selector {name!r}{hint} (`python -m benchmark list` shows them all)"
        )
    return entry.resolve()


def build_selector(name: str, ctx: SelectorContext) -> Selector:
    selector = get_factory(name)(ctx)
    if not isinstance(selector, Selector):
        raise SelectorError(
            f"the factory of selector {name!r} returned {type(selector).__name__}, "
            "which lacks meta/prepare/score"
        )
    return selector


def parse_model_spec(spec: str, default_preset: str) -> tuple[str, str]:
    """``"clip@paper"`` → ``("clip", "paper")``; ``"clip"`` → ``("clip", default_preset)``."""
    name, _, preset = spec.strip().partition("@")
    if not name:
        raise SelectorError(f"empty selector name in --models entry {spec!r}")
    return name, preset or default_preset
