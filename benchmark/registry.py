"""Name → selector factory, filled lazily so that ``list`` never imports a neural network.

Two sources:

* entry points of the group ``stickerbench.selectors`` (name = selector name,
  value = ``module:factory``), scanned once on first use — stickerbench's own selectors are
  declared there in its ``pyproject.toml`` exactly like a third-party plugin's, so the harness
  names no selector;
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

from benchmark.errors import BenchmarkError, SelectorError
from benchmark.selector import Selector, SelectorContext, SelectorMeta, trainable_contract_problem
from benchmark.static_summary import static_summary

ENTRY_POINT_GROUP = "stickerbench.selectors"

Factory = Callable[[SelectorContext], Selector]


@dataclass
class _Entry:
    name: str
    source: str  # "builtin" (stickerbench's own entry points), "entry point of <dist>", or the registering module
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
                    f"selector {self.name!r} ({self.source}) points to {self.target!r}, which cannot be loaded: {exc}"
                ) from exc
        return self.factory


_REGISTRY: dict[str, _Entry] = {}
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
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep.dist, "name", None) or "an installed package"
            source = "builtin" if dist == "stickerbench" else f"entry point of {dist}"
            _add(_Entry(ep.name, source, ep.value, summary=static_summary(ep.value)))


def include_package(module_name: str) -> None:
    """Import a module so that its ``@register_selector`` decorators run."""
    _load_sources()
    try:
        importlib.import_module(module_name)
    except ImportError as exc:
        raise SelectorError(
            f"--include-package {module_name}: cannot import it ({exc}); check that it is installed or on PYTHONPATH"
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
        raise SelectorError(f"unknown selector {name!r}{hint} (`python -m benchmark list` shows them all)")
    return entry.resolve()


def build_selector(name: str, ctx: SelectorContext, preset_explicit: bool = False) -> Selector:
    """Call the factory of ``name`` and check the contract before anything is trained or scored.

    ``preset_explicit``: the preset was asked for by name (``NAME@PRESET``), so a selector that
    has no such preset is an error rather than a preset silently ignored.
    """
    factory = get_factory(name)
    try:
        selector = factory(ctx)
    except BenchmarkError:
        raise
    except Exception as exc:
        raise SelectorError(
            f"selector {name!r}: its factory failed while building it: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(selector, Selector) or not isinstance(getattr(selector, "meta", None), SelectorMeta):
        raise SelectorError(
            f"the factory of selector {name!r} returned {type(selector).__name__}, "
            "which lacks meta (a SelectorMeta), prepare or score"
        )
    if selector.meta.name != name:
        raise SelectorError(
            f"selector registered as {name!r} reports meta.name {selector.meta.name!r}; make the two names equal"
        )
    problem = trainable_contract_problem(selector)
    if problem:
        raise SelectorError(f"selector {name!r} {problem}")
    presets = tuple(selector.meta.presets)
    if presets and ctx.preset not in presets:
        raise SelectorError(f"selector {name!r} has no preset {ctx.preset!r}; its presets are {', '.join(presets)}")
    if not presets and preset_explicit:
        raise SelectorError(f"selector {name!r} has no presets; write {name!r} instead of {name + '@' + ctx.preset!r}")
    return selector


@dataclass(frozen=True)
class ModelSpec:
    """One ``--models`` entry: ``key`` names its results (``clip`` or ``clip@paper``)."""

    key: str
    name: str
    preset: str
    preset_explicit: bool


def parse_model_spec(spec: str, default_preset: str) -> ModelSpec:
    """``"clip@paper"`` → ``clip`` with preset ``paper``; ``"clip"`` → ``clip`` with ``default_preset``."""
    key = spec.strip()
    name, at, preset = key.partition("@")
    if not name or (at and not preset):
        raise SelectorError(f"--models entry {spec!r}: expected NAME or NAME@PRESET")
    return ModelSpec(key=key, name=name, preset=preset or default_preset, preset_explicit=bool(preset))
