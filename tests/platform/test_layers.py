"""Interfaces read through selectors: no view module queries a model directly.

A query written in a view escapes the tenant scoping and the column choices
(no plan or report) that the selectors make; this reads the source so that a
new one is caught in review, not in production.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VIEW_MODULES = [
    "migrations_app/dashboard/views.py",
    "migrations_app/live/views.py",
    "migrations_app/api/views.py",
    "migrations_app/api/connection_api.py",
    "migrations_app/api/schedule_api.py",
    "migrations_app/api/webhook_views.py",
]


def _manager_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "objects"
    ]


@pytest.mark.parametrize("module", VIEW_MODULES)
def test_views_query_only_through_selectors_and_services(module):
    assert _manager_uses(ROOT / module) == []
