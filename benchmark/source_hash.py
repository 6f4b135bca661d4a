"""Which code a selector's training depends on, as one hash: part of the cached-checkpoint key.

Editing a recipe, a default or a model must retrain instead of silently reusing weights the
current code would not produce; editing an unrelated selector must not. So the hash covers a
selector's module and, transitively, every module it imports (lazy imports included, found by
parsing the source) that belongs to this project, to the selector's own package, or to no
installed distribution (a plugin's sibling modules) — not the standard library or third-party
packages, which are versioned elsewhere.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import sysconfig
from pathlib import Path

PROJECT_PACKAGES = ("stickerbench", "benchmark")


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of the modules a source file imports, anywhere in it (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return names


@functools.cache
def source_fingerprint(module_name: str) -> str:
    """sha256 over the source of ``module_name`` and the modules it depends on (see the module docstring)."""
    roots = {*PROJECT_PACKAGES, module_name.split(".")[0]}
    installed = [Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    seen: dict[str, Path] = {}
    todo = [module_name]
    while todo:
        name = todo.pop()
        if name in seen or name in PROJECT_PACKAGES:
            continue  # this project's top-level __init__ files only re-export: submodules are followed
        top = name.split(".")[0]
        if top not in roots:  # checked on the top-level name, which find_spec resolves without importing
            top_path = _module_file(top)
            if top_path is None or any(top_path.resolve().is_relative_to(lib) for lib in installed):
                continue  # the standard library and installed third-party packages: versioned elsewhere
        path = _module_file(name)
        if path is None or not path.is_file():
            continue
        seen[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo.extend(_imported_modules(path, package))
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(name.encode() + b"\0" + seen[name].read_bytes())
    return digest.hexdigest()
