"""A selector's one-line summary, read from its source without importing anything.

``list`` shows every selector's own ``description`` (its metadata, not a second table kept by
hand), yet must not import torch and a dozen models to do it — not even a package's
``__init__``, which for a selector package re-exports its modules. So the source files are
located by walking the package directories and parsed: for ``module:Attr`` the summary is the
``description`` class attribute of ``Attr`` (or of the class a factory function is annotated to
return, following base classes and ``from … import`` re-exports), else the first line of the
factory's docstring.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

_MAX_HOPS = 4  # re-exports followed before giving up


def _source_file(module: str) -> Path | None:
    """The file of ``module`` found by walking package directories, executing no module code.

    ``find_spec`` is used only on names whose parents are namespace packages (``stickerbench``),
    which have no code to run; below the first regular package, directories are walked.
    """
    parts = module.split(".")
    spec = None
    for depth in range(1, len(parts) + 1):
        try:
            spec = importlib.util.find_spec(".".join(parts[:depth]))
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if spec.origin and spec.origin.endswith(".py"):
            break
    rest = parts[depth:]
    locations = list(spec.submodule_search_locations or [])
    path = Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for part in rest:
        path = next(
            (
                c
                for loc in locations
                for c in (Path(loc) / f"{part}.py", Path(loc) / part / "__init__.py")
                if c.is_file()
            ),
            None,
        )
        if path is None:
            return None
        locations = [str(path.parent)] if path.name == "__init__.py" else []
    return path


def _parse(module: str) -> ast.Module | None:
    path = _source_file(module)
    try:
        return ast.parse(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def _description(node: ast.ClassDef) -> str | None:
    for stmt in node.body:
        targets = (
            stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        )
        value = getattr(stmt, "value", None)
        if any(isinstance(t, ast.Name) and t.id == "description" for t in targets) and isinstance(value, ast.Constant):
            return str(value.value)
    return None


def _imported_from(tree: ast.Module, module: str, name: str) -> str | None:
    """The module ``name`` is imported from in ``tree`` (relative imports resolved), if it is."""
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            if not node.level:
                return node.module
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            return f"{base}.{node.module}" if node.module else base
    return None


def _is_package(module: str) -> bool:
    path = _source_file(module)
    return path is not None and path.name == "__init__.py"


def _find(module: str, name: str, hops: int = 0) -> tuple[str, ast.AST] | None:
    """The definition of ``name`` visible in ``module``, following re-exports."""
    tree = _parse(module)
    if tree is None or hops > _MAX_HOPS:
        return None
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            return module, node
    source = _imported_from(tree, module, name)
    return _find(source, name, hops + 1) if source else None


def _class_description(module: str, name: str, hops: int = 0) -> str | None:
    found = _find(module, name)
    if found is None or hops > _MAX_HOPS or not isinstance(found[1], ast.ClassDef):
        return None
    where, node = found
    own = _description(node)
    if own is not None:
        return own
    for base in node.bases:
        if isinstance(base, ast.Name):
            inherited = _class_description(where, base.id, hops + 1)
            if inherited is not None:
                return inherited
    return None


def static_summary(target: str) -> str:
    """The summary of the factory ``"module:attr"``, or ``""`` when its source cannot be read."""
    module, _, attr = target.partition(":")
    found = _find(module, attr)
    if found is None:
        return ""
    where, node = found
    if isinstance(node, ast.ClassDef):
        return _class_description(where, attr) or (ast.get_docstring(node) or "").split("\n")[0]
    returned = node.returns
    name = (
        returned.id
        if isinstance(returned, ast.Name)
        else returned.value
        if isinstance(returned, ast.Constant)
        else None
    )
    described = _class_description(where, str(name)) if name else None
    return described or (ast.get_docstring(node) or "").split("\n")[0]
