"""A selector's one-line summary, read from its source without importing it.

``list`` shows every selector's own ``description`` (its metadata, not a second table kept by
hand), yet must not import torch and a dozen models to do it. So the factory's module is parsed:
for ``module:Attr`` the summary is the ``description`` class attribute of ``Attr`` (or of the
class a factory function is annotated to return, following base classes defined in the same
module), else the first line of the factory's docstring.
"""

from __future__ import annotations

import ast
import importlib.util


def _class_description(classes: dict[str, ast.ClassDef], name: str, seen: set[str]) -> str | None:
    node = classes.get(name)
    if node is None or name in seen:
        return None
    seen.add(name)
    for stmt in node.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        value = getattr(stmt, "value", None)
        if any(isinstance(t, ast.Name) and t.id == "description" for t in targets) and isinstance(value, ast.Constant):
            return str(value.value)
    for base in node.bases:
        if isinstance(base, ast.Name):
            found = _class_description(classes, base.id, seen)
            if found is not None:
                return found
    return None


def static_summary(target: str) -> str:
    """The summary of the factory ``"module:attr"``, or ``""`` when its source cannot be read."""
    module, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        source = spec.loader.get_source(module) if spec is not None and spec.loader is not None else None
        tree = ast.parse(source or "")
    except (ImportError, ValueError, SyntaxError, AttributeError):
        return ""
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if attr in classes:
        return _class_description(classes, attr, set()) or (ast.get_docstring(classes[attr]) or "").split("\n")[0]
    function = functions.get(attr)
    if function is None:
        return ""
    returned = function.returns
    name = returned.id if isinstance(returned, ast.Name) else returned.value if isinstance(returned, ast.Constant) else None
    found = _class_description(classes, str(name), set()) if name else None
    return found or (ast.get_docstring(function) or "").split("\n")[0]
