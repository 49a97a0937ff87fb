"""Loading the official ADO Swagger files and validating sandbox answers against them.

The spec files are third-party data kept outside the repository: found through
``SPECS_DIR`` or ``<repo>/../shared/specs``; tests skip when they are absent.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_FILES = {"wit": "ado-wit-7.1.swagger.json", "core": "ado-core-7.1.swagger.json"}
# Swagger 2.0 cannot say "nullable"; the service sends these as null on a last page.
NULLABLE = {"continuationToken", "nextPage"}


def specs_dir() -> Path:
    return Path(os.environ.get("SPECS_DIR") or REPO.parent / "shared" / "specs")


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((specs_dir() / name).read_text(encoding="utf-8-sig"))


def spec(kind: str) -> dict[str, Any]:
    path = specs_dir() / SPEC_FILES[kind]
    if not path.exists():
        pytest.skip(f"ADO spec {path} not found (set SPECS_DIR to the shared specs folder)")
    return _load(SPEC_FILES[kind])


def example(relative: str) -> dict[str, Any]:
    path = specs_dir() / "ado-wit-7.1-httpExamples" / relative
    if not path.exists():
        pytest.skip(f"ADO httpExample {path} not found (set SPECS_DIR)")
    return json.loads(path.read_text(encoding="utf-8-sig"))


def normalize(path: str) -> str:
    """Path with every parameter as ``{}``, lower case, no query part."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0]).lower().rstrip("/")


def operations(kind: str) -> set[tuple[str, str, str]]:
    """(method, normalized path, operationId) for ``paths`` and ``x-ms-paths``."""
    doc = spec(kind)
    out = set()
    for section in ("paths", "x-ms-paths"):
        for path, item in doc.get(section, {}).items():
            for method, op in item.items():
                if isinstance(op, dict) and "operationId" in op:
                    out.add((method.upper(), normalize(path), op["operationId"]))
    return out


def find_operation(kind: str, operation_id: str) -> dict[str, Any]:
    doc = spec(kind)
    for section in ("paths", "x-ms-paths"):
        for item in doc.get(section, {}).values():
            for op in item.values():
                if isinstance(op, dict) and op.get("operationId") == operation_id:
                    return op
    raise AssertionError(f"operation {operation_id!r} not in the {kind} spec")


def response_schema(kind: str, operation_id: str) -> dict[str, Any]:
    """The 200 schema; a declared array is wrapped as the wire format sends it."""
    schema = find_operation(kind, operation_id)["responses"]["200"]["schema"]
    if schema.get("type") == "array":
        schema = {
            "type": "object",
            "required": ["count", "value"],
            "properties": {"count": {"type": "integer"}, "value": schema},
        }
    return _any_object({**schema, "definitions": spec(kind)["definitions"]})


def _any_object(node: Any) -> Any:
    """A bare ``{"type": "object"}`` is how the generator wrote .NET ``object`` (any value),
    e.g. ``WorkItem.fields`` values; read it as "anything"."""
    if isinstance(node, dict):
        if node == {"type": "object"}:
            return {}
        return {k: _any_object(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_object(v) for v in node]
    return node


def _drop_nulls(value: Any, where: str = "") -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                assert key in NULLABLE, f"unexpected null at {where}.{key}"
                continue
            out[key] = _drop_nulls(item, f"{where}.{key}")
        return out
    if isinstance(value, list):
        return [_drop_nulls(v, where + "[]") for v in value]
    return value


def validate(kind: str, operation_id: str, body: Any) -> None:
    jsonschema.Draft4Validator(response_schema(kind, operation_id)).validate(_drop_nulls(body))


def keys_missing(
    expected: dict[str, Any],
    actual: dict[str, Any],
    renames: dict[str, str] | None = None,
    ignore: frozenset[str] = frozenset(),
) -> set[str]:
    """Keys of a recorded example that our answer lacks (after renames)."""
    renames = renames or {}
    return {renames.get(k, k) for k in expected if k not in ignore} - set(actual)
