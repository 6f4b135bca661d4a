"""The layers of DESIGN.md hold for every file: imports point down, and no two files import each other.

``models/`` imports nothing of the project; ``benchmark/`` (the harness) imports no selector, model
or renderer, except ``benchmark/cli.py``, the composition root; ``leaderboard/`` imports only the
harness; ``adapters/`` may import everything below it. Lazy imports inside functions count too: a
dependency is a dependency, whenever it is imported.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("benchmark", "models", "adapters", "leaderboard")
ALLOWED = {
    "models": {"models"},
    "benchmark": {"benchmark"},
    "leaderboard": {"leaderboard", "benchmark"},
    "adapters": {"adapters", "benchmark", "models"},
}
COMPOSITION_ROOT = "benchmark.cli"
MAX_LINES = 400


def _project_name(name: str) -> str | None:
    """``stickerbench.models.cks`` and ``stickerbench.models.cks`` are both the ``models`` layer."""
    parts = name.split(".")
    if parts[0] == "stickerbench" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) if parts[0] in LAYERS else None


def _modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            found[name] = path
    return found


def _imports(path: Path, module: str, is_package: bool) -> set[str]:
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in map(_project_name, names) if n is not None}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path, name, path.name == "__init__.py"):
            while imported and imported not in modules:  # `from pkg import name` names an attribute
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def test_imports_point_down_the_layers():
    violations = []
    for module, targets in _graph().items():
        layer = module.split(".")[0]
        for target in targets:
            if target.split(".")[0] not in ALLOWED[layer] and module != COMPOSITION_ROOT:
                violations.append(f"{module} imports {target}")
    assert not violations, "\n".join(sorted(violations))


def test_no_two_files_import_each_other():
    graph = _graph()
    # package __init__ files that only re-export are edges of their own package; a cycle is a
    # path from a file back to itself
    cycles = set()
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.add(" → ".join(path + (start,)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + (nxt,)))
    assert not cycles, "\n".join(sorted(cycles)[:10])


def test_no_source_file_is_over_the_size_limit():
    long = {
        str(p.relative_to(ROOT)): n for p in _modules().values() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_checker_sees_a_violation_and_a_cycle(tmp_path, monkeypatch):
    """The rules above can fail: a planted upward import and a planted cycle are both reported."""
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "benchmark" / "a.py").write_text("from adapters import x\nfrom benchmark import b\n")
    (tmp_path / "benchmark" / "b.py").write_text("def f():\n    from benchmark.a import g\n")
    (tmp_path / "adapters" / "x.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    graph = _graph()
    assert "adapters.x" in graph["benchmark.a"] and "benchmark.a" in graph["benchmark.b"]
    try:
        test_imports_point_down_the_layers()
    except AssertionError as exc:
        assert "benchmark.a imports adapters.x" in str(exc)
    else:
        raise AssertionError("the upward import was not reported")
    try:
        test_no_two_files_import_each_other()
    except AssertionError as exc:
        assert "benchmark.a → benchmark.b → benchmark.a" in str(
            exc
        ) or "benchmark.b → benchmark.a → benchmark.b" in str(exc)
    else:
        raise AssertionError("the cycle was not reported")
