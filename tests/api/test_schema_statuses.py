"""Each operation in the OpenAPI schema documents every status its view can answer.

Two angles: rules read off the schema (what any operation of a kind can answer),
and probes that send each operation the requests that make views fail in generic
ways, asserting every status that comes back is documented, in the error shape.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

BODY_METHODS = {"post", "put", "patch", "delete"}
AUTH_PATHS = {"/api/auth/token", "/api/auth/token/refresh"}
# Answers CSV, and errors in JSON whatever Accept says: it cannot answer 406.
NEGOTIATION_FREE = {("get", "/api/migrations/{run_id}/crosswalk.csv")}


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return dict(response.json())


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def documented(op: dict[str, Any]) -> set[int]:
    return {int(status) for status in op["responses"]}


def required_statuses(method: str, path: str, op: dict[str, Any]) -> set[int]:
    """What a view of this kind can answer, whatever it does."""
    need: set[int] = set()
    if op.get("security"):
        need |= {401, 403}  # no or a bad token; a user in no tenant
    if path in AUTH_PATHS:
        need |= {400, 401, 429}  # missing fields; bad credentials; throttled
    if (method, path) not in NEGOTIATION_FREE:
        need.add(406)  # an Accept (or ?format=) JSON cannot satisfy
    if method in BODY_METHODS:
        need.add(413)  # every body is size-checked first
    if "requestBody" in op:
        need |= {400, 415}  # invalid or malformed JSON; not JSON
    if any(p["in"] == "path" for p in op.get("parameters", [])):
        need.add(404)  # a missing, malformed or another tenant's id
    return need


def test_every_operation_documents_the_statuses_of_its_kind(schema: dict[str, Any]) -> None:
    missing = {
        f"{method.upper()} {path}": sorted(required_statuses(method, path, op) - documented(op))
        for method, path, op in operations(schema)
    }
    assert {op: statuses for op, statuses in missing.items() if statuses} == {}


def test_the_operations_with_specific_errors_document_them(schema: dict[str, Any]) -> None:
    paths = schema["paths"]

    def statuses(method: str, path: str) -> set[int]:
        return documented(paths[path][method])

    assert {400, 409, 502} <= statuses("post", "/api/migrations/project/{project_id}/start")
    assert 502 in statuses("post", "/api/migrations/{run_id}/resume")
    assert 409 in statuses("delete", "/api/projects/{project_id}")
    for action in ("pause", "resume", "cancel"):  # not RUNNING / not PAUSED / finished
        assert 400 in statuses("post", f"/api/migrations/{{run_id}}/{action}")
    for method, path in (("post", "/api/projects"), ("patch", "/api/projects/{project_id}")):
        assert 400 in statuses(method, path)  # a duplicate name, bad fields
    for path in AUTH_PATHS:
        assert 429 in statuses("post", path)
    assert {400, 404} <= statuses("get", "/api/migrations")  # projectId missing / unknown
    assert {400, 404} <= statuses("get", "/api/migrations/{run_id}/items")  # filter / page
    hooks = "/api/projects/{project_id}/webhooks"
    for method, path in (("post", hooks), ("patch", hooks + "/{webhook_id}")):
        assert 400 in statuses(method, path)  # a guarded URL, a short secret
    assert {400, 404} <= statuses("get", hooks + "/{webhook_id}/deliveries")
    assert 202 in statuses("post", hooks + "/{webhook_id}/test")
    # a bad body; another tenant's run; active / a rollback / a dry run; the broker is down
    assert {400, 404, 409, 502} <= statuses("post", "/api/migrations/{run_id}/rollback")


def test_every_error_response_is_the_error_component(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            component = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            assert set(component["required"]) == {"code", "message", "details"}, (method, path)
            assert response["description"], (method, path, status)


# --------------------------------------------------------------------------- probes
def bearer(user: Any) -> dict[str, str]:
    from rest_framework_simplejwt.tokens import RefreshToken

    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def probes(method: str, op: dict[str, Any], owner: Any, operator: Any) -> list[dict[str, Any]]:
    """Requests that fail in the generic ways, as ``Client.generic`` keyword sets."""
    sent: list[dict[str, Any]] = [
        {},  # no credentials
        {"headers": {"Authorization": "Bearer not-a-jwt"}},
        {"headers": bearer(operator)},  # in no tenant
        {"headers": {**bearer(owner), "Accept": "text/html"}},
        {"headers": bearer(owner), "QUERY_STRING": "format=xml"},
        {"headers": bearer(owner)},  # unknown ids
    ]
    if method in BODY_METHODS:
        sent.append(
            {"headers": bearer(owner), "data": "x" * 1_100_000, "content_type": "application/json"}
        )
    if "requestBody" in op:
        sent += [
            {"headers": bearer(owner), "data": b"{not json", "content_type": "application/json"},
            {"headers": bearer(owner), "data": b"[1]", "content_type": "application/json"},
            {"headers": bearer(owner), "data": b"a=1", "content_type": "text/plain"},
        ]
    return sent


def test_every_status_an_operation_answers_to_generic_failures_is_documented(
    schema: dict[str, Any], owner: Any
) -> None:
    from migrations_app.models import User

    operator = User.objects.create_user(username="operator", password="x")  # no tenant
    undocumented: dict[str, set[int]] = {}
    for method, path, op in operations(schema):
        url = re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), path)  # unknown ids
        if "parameters" in op and any(p["name"] == "projectId" for p in op["parameters"]):
            url += f"?projectId={uuid.uuid4()}"
        for kwargs in probes(method, op, owner, operator):
            response = Client().generic(method.upper(), url, **kwargs)
            status = response.status_code
            if status >= 400:
                body = json.loads(response.content)
                assert set(body) == {"code", "message", "details"}, (method, path, body)
            if status not in documented(op):
                undocumented.setdefault(f"{method.upper()} {path}", set()).add(status)
    assert undocumented == {}
