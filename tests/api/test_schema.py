"""The OpenAPI schema documents every endpoint, error code and phase; the docs page renders."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    ("post", "/api/auth/token"),
    ("post", "/api/auth/token/refresh"),
    ("get", "/api/projects"),
    ("post", "/api/projects"),
    ("get", "/api/projects/{project_id}"),
    ("patch", "/api/projects/{project_id}"),
    ("delete", "/api/projects/{project_id}"),
    ("post", "/api/migrations/project/{project_id}/start"),
    ("get", "/api/migrations"),
    ("get", "/api/migrations/{run_id}/status"),
    ("post", "/api/migrations/{run_id}/pause"),
    ("post", "/api/migrations/{run_id}/resume"),
    ("post", "/api/migrations/{run_id}/cancel"),
    ("get", "/api/migrations/{run_id}/items"),
    ("get", "/api/migrations/{run_id}/crosswalk.csv"),
    ("get", "/api/migrations/{run_id}/report"),
}


@pytest.fixture
def schema(anon_api):
    r = anon_api.get("/api/schema/?format=json")
    assert r.status_code == 200
    return r.json()


def test_the_schema_is_openapi_3_and_documents_every_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    documented = {(m, p) for p, item in schema["paths"].items() for m in item}
    assert documented >= ENDPOINTS


def test_the_schema_names_every_error_code_and_the_phases(schema):
    import json

    text = json.dumps(schema)
    for code in [
        "MIGRATION_NOT_FOUND",
        "MIGRATION_NOT_PAUSED",
        "MIGRATION_ALREADY_RUNNING",
        "ENGINE_DISPATCH_FAILED",
        "VALIDATION_ERROR",
        "NOT_AUTHENTICATED",
        "PROJECT_NOT_FOUND",
        "MIGRATION_NOT_RUNNING",
        "MIGRATION_FINISHED",
    ]:
        assert code in text, code
    assert "discover and plan" in text and "verify" in text


def test_the_start_operation_documents_its_error_statuses(schema):
    responses = schema["paths"]["/api/migrations/project/{project_id}/start"]["post"]["responses"]
    assert {"200", "400", "401", "404", "409", "502"} <= set(responses)
    ref = responses["409"]["content"]["application/json"]["schema"]["$ref"]
    error = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(error["required"]) == {"code", "message", "details"}


def test_secrets_are_write_only_in_the_schema(schema):
    components = schema["components"]["schemas"]
    run_out = components["RunOut"]["properties"]
    assert "pat" not in run_out and "api_token" not in run_out
    assert "pat" in components["SourceInRequest"]["properties"]


def test_the_docs_page_lists_the_endpoints_without_the_cdn(anon_api):
    r = anon_api.get("/api/docs/")
    assert r.status_code == 200
    page = r.content.decode()
    assert "/api/migrations/project/{project_id}/start" in page
    assert "/api/schema/" in page


def test_an_error_outside_the_views_is_a_500_in_shape(rf):
    from migrations_app.api.errors import handler500

    r = handler500(rf.get("/api/projects"))
    assert r.status_code == 500
    import json

    assert json.loads(r.content)["code"] == "INTERNAL_ERROR"
