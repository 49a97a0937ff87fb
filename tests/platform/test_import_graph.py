"""The modules of migrations_app import each other one way only.

The graph is built from the source with ``ast`` (module-level imports, the ones
that run when a module is first imported); a cycle is reported with its path,
so the failing edge can be found without a debugger. Imports inside functions
that reach other migrations_app modules are refused as well: they are how a
circle is usually hidden. ``apps.py`` is the one exception, since Django allows
model imports only once the app registry is ready.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "migrations_app"
# AppConfig.ready() is where Django wants the app's late imports.
LATE_IMPORTS_ALLOWED = {"migrations_app.apps"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        if "migrations" in path.relative_to(ROOT / PACKAGE).parts[:-1]:
            continue  # schema migrations are loaded by Django, not imported by the app
        found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.stmt) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run at import time: top level, and inside top-level try/if/with."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try, ast.With)) and not _is_type_checking(node):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return found


def _targets(node: ast.Import | ast.ImportFrom, importer: str, known: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = importer.split(".")[: -node.level] if node.level else []
            base = ".".join([*anchor, *([base] if base else [])])
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                 for alias in node.names]  # fmt: skip
    return {name for name in names if name in known and name != importer}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for node in _top_level_imports(tree):
            edges |= _targets(node, name, known)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected knot, found by depth-first search."""
    found: list[list[str]] = []
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_cycle_finder_reports_a_circle_with_its_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_the_app_imports():
    graph = _graph()
    assert "migrations_app.dispatch" in graph["migrations_app.services"]
    assert "migrations_app.runner" in graph["migrations_app.tasks"]
    assert "migrations_app.api.serializers" in graph["migrations_app.api.schema"]


def test_no_import_circle_among_migrations_app_modules():
    cycles = _cycles(_graph())
    assert cycles == [], "import circles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_no_function_local_import_of_another_app_module():
    modules = _modules()
    known = set(modules)
    late: list[str] = []
    for name, path in modules.items():
        if name in LATE_IMPORTS_ALLOWED:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        top = {id(node) for node in _top_level_imports(tree)}
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in imports:
            if id(node) not in top and _targets(node, name, known):
                late.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert late == [], "imports inside functions (move them to the top): " + ", ".join(late)
