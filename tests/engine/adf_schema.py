"""Validate ADF documents against the Atlassian ADF JSON Schema (draft-04).

The schema is third-party data kept outside the repo: it is read from
``$SPECS_DIR`` or ``<repo>/../shared/specs``; tests skip with a reason when absent.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

REPO = Path(__file__).resolve().parents[2]
SCHEMA_NAME = "adf-v1-full.schema.json"


def specs_dir() -> Path:
    return Path(os.environ.get("SPECS_DIR") or REPO.parent / "shared" / "specs")


def specs_path(*parts: str) -> Path:
    """A path in the specs folder; skips the calling test when it is missing."""
    path = specs_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"spec data {path} not found (set SPECS_DIR to the shared specs folder)")
    return path


@functools.cache
def _validator(path: Path) -> Draft4Validator:
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def validator() -> Draft4Validator:
    return _validator(specs_path(SCHEMA_NAME))


def adf_errors(doc: Any) -> list[str]:
    """Readable schema errors, deepest first (anyOf failures otherwise hide the cause)."""
    errors = sorted(validator().iter_errors(doc), key=lambda e: -len(e.absolute_path))
    messages = []
    for error in errors:
        path = "/".join(str(p) for p in error.absolute_path)
        messages.append(f"{path}: {error.message[:300]}")
        messages.extend(
            f"  {'/'.join(map(str, c.absolute_path))}: {c.message[:200]}"
            for c in (error.context or [])[:5]
        )
    return messages


def assert_valid_adf(doc: Any) -> None:
    """Fail with the schema's complaints when ``doc`` is not a valid ADF document."""
    errors = adf_errors(doc)
    assert not errors, "invalid ADF:\n" + "\n".join(errors) + "\n" + json.dumps(doc)[:2000]
