"""The engine stays plain Python: no web framework, task queue, Redis package or product app.

Every module under ``engine/`` (subpackages included) is read with ``ast``; an
import of a forbidden package anywhere in it fails the test with the module and
line. Imports under ``if TYPE_CHECKING:`` are allowed (they never run). Then each
module is imported in a fresh interpreter to check that neither Django nor Celery
comes in through a dependency.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
# The Redis limiter is handed a client object; the engine never imports the package.
FORBIDDEN = frozenset(
    {"django", "celery", "rest_framework", "redis", "migrations_app", "migrator_site", "sandbox"}
)
NEVER_LOADED = ("django", "celery")


def engine_modules() -> list[str]:
    names = []
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module]
    return []


def forbidden_imports(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, package) of every forbidden import that can run, nested ones included."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        for name in _imported(node):
            top = name.split(".", 1)[0]
            if top in FORBIDDEN:
                found.append((getattr(node, "lineno", 0), name))
        for inner in ast.iter_child_nodes(node):
            visit(inner)

    visit(ast.parse(source, filename))
    return found


def test_engine_modules_are_found() -> None:
    modules = engine_modules()
    assert {"engine", "engine.http", "engine.ratelimit"} <= set(modules)
    assert any(name == "engine.pipeline" or name.startswith("engine.pipeline.") for name in modules)


def test_no_engine_module_imports_the_framework_or_the_apps() -> None:
    problems = []
    for path in sorted(ENGINE.rglob("*.py")):
        where = path.relative_to(ROOT)
        for line, name in forbidden_imports(path.read_text(encoding="utf-8"), str(where)):
            problems.append(f"{where}:{line} imports {name}")
    assert not problems, "the engine must stay plain Python:\n" + "\n".join(problems)


def test_the_check_sees_nested_imports_and_allows_typing_only_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import redis\n"
        "def f():\n"
        "    from django.db import models\n"
        "import celery.app\n"
        "from . import sandbox\n"  # a relative import is the engine's own module
    )
    assert forbidden_imports(source, "example.py") == [(5, "django.db"), (6, "celery.app")]


# Imports the modules in turn; the first one after which a forbidden package is in
# sys.modules is the one that brought it in (directly or through a dependency).
CHECK = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
    loaded = sorted(m for m in %r if m in sys.modules)
    if loaded:
        print(json.dumps({"module": name, "loaded": loaded}))
        break
else:
    print(json.dumps({}))
"""


def test_importing_engine_modules_loads_neither_django_nor_celery() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK % (NEVER_LOADED,), *engine_modules()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"importing the engine failed:\n{result.stderr}"
    leak = json.loads(result.stdout)
    assert not leak, f"import {leak['module']} loads {leak['loaded']}"
