"""/api/projects/{id}/connection: CRUD, write-only secrets, rotation, origin binding,
validation by dotted path, tenant isolation."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from django.db import connection as db

from tests.fixtures.platform import API_TOKEN, PAT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private_targets")]

NEW_PAT = "ado-pat-ROTATED-71d0c3aa9e"
NEW_TOKEN = "jira-token-ROTATED-5b2e9f4c11"
SECRETS = (PAT, API_TOKEN, NEW_PAT, NEW_TOKEN)


def url(project: Any) -> str:
    return f"/api/projects/{project.id}/connection"


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": {
            "base_url": "http://127.0.0.1:9",
            "org": "contoso",
            "project": "Fabrikam",
            "pat": PAT,
        },
        "target": {
            "base_url": "http://127.0.0.1:9",
            "email": "migrator@example.com",
            "api_token": API_TOKEN,
            "project_key": "proj",
        },
    }
    for path, value in overrides.items():
        side, field = path.split("__")
        if value is KeyError:
            del data[side][field]
        else:
            data[side][field] = value
    return data


def saved(project: Any) -> Any:
    from migrations_app.models import ProjectConnection

    return ProjectConnection.objects.get(project=project)


def decrypted(project: Any) -> tuple[str, str]:
    from migrations_app import crypto

    row = saved(project)
    return crypto.decrypt(row.pat_encrypted), crypto.decrypt(row.api_token_encrypted)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --------------------------------------------------------------------------- CRUD
def test_put_creates_it_and_get_shows_everything_but_the_secrets(owner_api, project):
    r = owner_api.put(url(project), body(), format="json")
    assert r.status_code == 201, r.content
    shown = owner_api.get(url(project))
    assert shown.status_code == 200
    out = shown.json()
    assert out == r.json()
    assert set(out) == {
        "projectId",
        "source",
        "target",
        "hasPat",
        "hasApiToken",
        "patUpdatedAt",
        "apiTokenUpdatedAt",
        "createdAt",
        "updatedAt",
    }
    assert out["source"] == {
        "base_url": "http://127.0.0.1:9",
        "org": "contoso",
        "project": "Fabrikam",
    }
    assert out["target"] == {
        "base_url": "http://127.0.0.1:9",
        "email": "migrator@example.com",
        "project_key": "PROJ",
    }
    assert out["hasPat"] is out["hasApiToken"] is True
    assert out["patUpdatedAt"] and out["apiTokenUpdatedAt"]
    assert decrypted(project) == (PAT, API_TOKEN)
    assert_no_secret(r.content.decode() + shown.content.decode())


def test_a_project_without_one_answers_connection_not_found(owner_api, project):
    for method in ("get", "patch", "delete"):
        r = getattr(owner_api, method)(url(project), {}, format="json")
        assert r.status_code == 404, (method, r.content)
        assert r.json()["code"] == "CONNECTION_NOT_FOUND"


def test_put_again_replaces_it_and_keeps_secrets_left_out(owner_api, project):
    owner_api.put(url(project), body(), format="json")
    r = owner_api.put(
        url(project),
        body(source__pat=KeyError, target__api_token=KeyError, source__org="northwind"),
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["source"]["org"] == "northwind"
    assert r.json()["hasPat"] and r.json()["hasApiToken"]
    assert decrypted(project) == (PAT, API_TOKEN)


def test_put_without_secrets_saves_the_rest(owner_api, project):
    r = owner_api.put(
        url(project), body(source__pat=KeyError, target__api_token=KeyError), format="json"
    )
    assert r.status_code == 201
    assert r.json()["hasPat"] is r.json()["hasApiToken"] is False
    assert r.json()["patUpdatedAt"] is None


def test_source_base_url_defaults_to_azure_devops_services(owner_api, project):
    r = owner_api.put(url(project), body(source__base_url=KeyError), format="json")
    assert r.json()["source"]["base_url"] == "https://dev.azure.com"


def test_delete_forgets_it(owner_api, project):
    owner_api.put(url(project), body(), format="json")
    assert owner_api.delete(url(project)).status_code == 204
    assert owner_api.get(url(project)).json()["code"] == "CONNECTION_NOT_FOUND"
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM migrations_app_projectconnection")
        assert cursor.fetchone()[0] == 0


def test_deleting_the_project_deletes_its_connection(owner_api, project):
    from migrations_app.models import ProjectConnection

    owner_api.put(url(project), body(), format="json")
    assert owner_api.delete(f"/api/projects/{project.id}").status_code == 204
    assert not ProjectConnection.objects.exists()


def test_a_teammate_can_read_and_change_it(owner_api, teammate_api, project):
    owner_api.put(url(project), body(), format="json")
    assert teammate_api.get(url(project)).status_code == 200
    r = teammate_api.patch(url(project), {"target": {"project_key": "ops"}}, format="json")
    assert r.status_code == 200 and r.json()["target"]["project_key"] == "OPS"


# --------------------------------------------------------------------------- secrets
def test_patch_rotates_a_secret_and_only_that(owner_api, project):
    first = owner_api.put(url(project), body(), format="json").json()
    r = owner_api.patch(url(project), {"source": {"pat": NEW_PAT}}, format="json")
    assert r.status_code == 200, r.content
    out = r.json()
    assert decrypted(project) == (NEW_PAT, API_TOKEN)
    assert out["patUpdatedAt"] > first["patUpdatedAt"]
    assert out["apiTokenUpdatedAt"] == first["apiTokenUpdatedAt"]
    assert {k: out[k] for k in ("source", "target")} == {k: first[k] for k in ("source", "target")}
    owner_api.patch(url(project), {"target": {"api_token": NEW_TOKEN}}, format="json")
    assert decrypted(project) == (NEW_PAT, NEW_TOKEN)
    assert_no_secret(r.content.decode())


def test_null_removes_a_saved_secret(owner_api, project):
    owner_api.put(url(project), body(), format="json")
    r = owner_api.patch(url(project), {"target": {"api_token": None}}, format="json")
    assert r.json()["hasApiToken"] is False and r.json()["apiTokenUpdatedAt"] is None
    assert r.json()["hasPat"] is True
    assert saved(project).api_token_encrypted == ""


def test_the_secrets_are_stored_encrypted_and_never_in_plain(owner_api, project):
    owner_api.put(url(project), body(), format="json")
    owner_api.patch(url(project), {"source": {"pat": NEW_PAT}}, format="json")
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM migrations_app_projectconnection")
        assert_no_secret(json.dumps(cursor.fetchall(), default=str))


def test_moving_a_side_to_another_origin_needs_its_secret_again(owner_api, project):
    owner_api.put(url(project), body(), format="json")
    moved = {"source": {"base_url": "http://127.0.0.2:9"}}
    r = owner_api.patch(url(project), moved, format="json")
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"source.pat"}
    assert saved(project).ado_base_url == "http://127.0.0.1:9"  # nothing changed
    # another path on the same origin keeps the PAT; with the PAT, any origin
    same = owner_api.patch(
        url(project), {"source": {"base_url": "http://127.0.0.1:9/tfs/"}}, format="json"
    )
    assert same.status_code == 200 and same.json()["hasPat"]
    moved["source"]["pat"] = NEW_PAT
    assert owner_api.patch(url(project), moved, format="json").status_code == 200
    assert decrypted(project)[0] == NEW_PAT


def test_secrets_are_write_only_in_the_schema(anon_api):
    schema = anon_api.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    out = json.dumps(components["ConnectionOut"])
    assert '"pat"' not in out and '"api_token"' not in out
    assert "pat" in components["ConnectionSourceInRequest"]["properties"]
    assert "api_token" in components["ConnectionTargetInRequest"]["properties"]


def test_no_response_or_admin_page_holds_a_saved_secret(owner_api, project, admin_client):
    bodies = [owner_api.put(url(project), body(), format="json").content.decode()]
    bodies.append(
        owner_api.patch(url(project), {"source": {"pat": NEW_PAT}}, format="json").content.decode()
    )
    for path in (url(project), f"/api/projects/{project.id}", "/api/projects"):
        bodies.append(owner_api.get(path).content.decode())
    row = saved(project)
    for page in (
        "/admin/migrations_app/projectconnection/",
        f"/admin/migrations_app/projectconnection/{project.pk}/change/",
    ):
        response = admin_client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        assert row.pat_encrypted not in text and row.api_token_encrypted not in text
        assert "pat_encrypted" not in text
        bodies.append(text)
    for text in bodies:
        assert_no_secret(text)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("source.org", KeyError),
        ("source.org", ""),
        ("source.project", 5),
        ("source.pat", ""),
        ("source.pat", ["x"]),
        ("source.base_url", "ftp://dev.azure.com"),
        ("source.base_url", "https://user:pw@127.0.0.1"),
        ("source.color", "blue"),
        ("target.base_url", KeyError),
        ("target.base_url", "not a url"),
        ("target.email", "not-an-email"),
        ("target.api_token", 7),
        ("target.project_key", "12-bad"),
    ],
)
def test_put_reports_each_bad_field_by_dotted_path(owner_api, project, path, value):
    data = copy.deepcopy(body())
    side, field = path.split(".")
    if value is KeyError:
        del data[side][field]
    else:
        data[side][field] = value
    r = owner_api.put(url(project), data, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert path in r.json()["details"], r.json()["details"]


def test_put_needs_both_sides(owner_api, project):
    r = owner_api.put(url(project), {"source": body()["source"]}, format="json")
    assert r.status_code == 400 and set(r.json()["details"]) == {"target"}


def test_patch_validates_what_it_sends(owner_api, project):
    owner_api.put(url(project), body(), format="json")
    r = owner_api.patch(
        url(project), {"target": {"email": "nope"}, "source": {"org": ""}}, format="json"
    )
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"target.email", "source.org"}
    r = owner_api.patch(url(project), {"target": None}, format="json")
    assert r.status_code == 400 and "target" in r.json()["details"]


def test_the_guard_refuses_private_targets_unless_allowed(owner_api, project, settings):
    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = False
    r = owner_api.put(url(project), body(target__base_url="https://10.0.0.1"), format="json")
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"source.base_url", "target.base_url"}


# --------------------------------------------------------------------------- tenants
def test_another_tenants_project_answers_like_a_missing_one(owner_api, outsider_api, project):
    owner_api.put(url(project), body(), format="json")
    missing = f"/api/projects/{uuid.uuid4()}/connection"
    for method, data in (("get", None), ("put", body()), ("patch", {}), ("delete", None)):
        theirs = getattr(outsider_api, method)(url(project), data, format="json")
        nothing = getattr(outsider_api, method)(missing, data, format="json")
        assert theirs.status_code == nothing.status_code == 404, method
        assert theirs.json() == nothing.json()
        assert theirs.json()["code"] == "PROJECT_NOT_FOUND"
    assert decrypted(project) == (PAT, API_TOKEN)  # untouched


def test_it_needs_a_token(anon_api, project):
    assert anon_api.get(url(project)).status_code == 401
