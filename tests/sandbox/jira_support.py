"""Helpers for the simulated Jira's tests: a live server, and the official specs.

The spec files are third-party data read from ``$SPECS_DIR`` or
``<repo>/../shared/specs``; tests that need them skip with a reason when absent.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from sandbox.httpbase import Knobs, SandboxServer
from sandbox.jira import JiraApp
from sandbox.people import Person

EMAIL, TOKEN = "migrator@example.com", "api-token-123"
PLATFORM = "jira-platform-v3.openapi.json"
AGILE = "jira-software-agile-1.0.openapi.json"
ADF = "adf-v1-full.schema.json"

PEOPLE = [
    Person("Ann Lee", "ann.lee@example.com"),
    Person("Bob Stone", "bob.stone@example.com", email_hidden=True),
    Person("Carl Gone", "carl.gone@example.com", in_jira=False),
    Person("Dana Annand", "dana@example.com"),
]


def specs_dir() -> Path:
    env = os.environ.get("SPECS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "specs"


def spec_path(name: str) -> Path:
    path = specs_dir() / name
    if not path.is_file():
        pytest.skip(f"spec file {name} not found in {specs_dir()} (set SPECS_DIR)")
    return path


@lru_cache(maxsize=4)
def load_spec(name: str) -> dict[str, Any]:
    return json.loads(spec_path(name).read_text(encoding="utf-8"))


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects are JSON Schema plus ``nullable``; turn that into a type list."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _openapi_to_jsonschema(v)
        for k, v in node.items()
        if k not in ("example", "discriminator", "xml", "externalDocs")
    }
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    return out


@lru_cache(maxsize=4)
def _components(name: str) -> dict[str, Any]:
    return _openapi_to_jsonschema(copy.deepcopy(load_spec(name).get("components", {})))


def operation(name: str, method: str, path: str) -> dict[str, Any]:
    spec = load_spec(name)
    item = spec["paths"].get(path)
    assert item is not None, f"{path} is not in {name}"
    op = item.get(method.lower())
    assert op is not None, f"{method} {path} is not in {name}"
    return op


def response_schema(name: str, method: str, path: str, status: int) -> dict[str, Any] | None:
    op = operation(name, method, path)
    response = op["responses"].get(str(status))
    assert response is not None, f"{method} {path} does not declare a {status} response"
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return schema or None  # several 2xx declare {} or nothing


def assert_matches_spec(
    resp: requests.Response, method: str, path: str, status: int | None = None, spec: str = PLATFORM
) -> Any:
    """The status is declared for the operation and the body validates against its schema."""
    expected = status if status is not None else resp.status_code
    assert resp.status_code == expected, resp.text
    schema = response_schema(spec, method, path, expected)
    body = resp.json() if resp.content else None
    if schema is not None:
        root = {**_openapi_to_jsonschema(schema), "components": _components(spec)}
        jsonschema.Draft7Validator(root).validate(body)
    return body


def assert_schema(spec: str, schema_name: str, instance: Any) -> None:
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": _components(spec)}
    jsonschema.Draft7Validator(root).validate(instance)


@lru_cache(maxsize=1)
def stock_adf_validator() -> jsonschema.Draft4Validator:
    """The official schema with jsonschema's own (slow) anyOf, to cross-check the fast one."""
    return jsonschema.Draft4Validator(json.loads(spec_path(ADF).read_text(encoding="utf-8")))


# ---------------------------------------------------------------------- live server
@dataclass
class Site:
    app: JiraApp
    url: str
    http: requests.Session
    anon: requests.Session = field(default_factory=requests.Session)

    @property
    def api(self) -> str:
        return self.url + "/rest/api/3"

    def create(
        self, itype: str = "Task", summary: str = "An issue", **fields: Any
    ) -> dict[str, Any]:
        resp = self.http.post(self.api + "/issue", json=issue_body(itype, summary, **fields))
        assert resp.status_code == 201, resp.text
        return resp.json()


def issue_body(
    itype: str = "Task",
    summary: str = "An issue",
    *,
    properties: list[dict[str, Any]] | None = None,
    transition: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "fields": {
            "project": {"key": "MIG"},
            "issuetype": {"name": itype},
            "summary": summary,
            **fields,
        }
    }
    if properties is not None:
        body["properties"] = properties
    if transition is not None:
        body["transition"] = {"id": transition}
    return body


@contextmanager
def running_site(**kwargs: Any) -> Iterator[Site]:
    kwargs.setdefault("users", PEOPLE)
    app = JiraApp(email=EMAIL, api_token=TOKEN, knobs=kwargs.pop("knobs", Knobs()), **kwargs)
    with SandboxServer(app) as server:
        http = requests.Session()
        http.auth = (EMAIL, TOKEN)
        yield Site(app, server.url, http)
        http.close()


def doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def para(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return {"type": "paragraph", "content": [node]}
