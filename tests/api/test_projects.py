"""Projects CRUD, tenant isolation, and lastRun."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db


def test_it_creates_a_project(owner_api):
    r = owner_api.post("/api/projects", {"name": "Boards", "description": "ADO"}, format="json")
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "name", "description", "createdAt", "lastRun"}
    assert body["name"] == "Boards"
    assert body["lastRun"] is None
    uuid.UUID(body["id"])


def test_it_lists_only_the_tenants_projects(owner_api, teammate_api, outsider_api, project):
    assert [p["id"] for p in owner_api.get("/api/projects").json()] == [str(project.id)]
    assert [p["id"] for p in teammate_api.get("/api/projects").json()] == [str(project.id)]
    assert outsider_api.get("/api/projects").json() == []


def test_a_teammate_sees_the_project(teammate_api, project):
    r = teammate_api.get(f"/api/projects/{project.id}")
    assert r.status_code == 200
    assert r.json()["name"] == "Contoso Boards"


def test_it_shows_the_last_run(owner_api, project, make_run):
    make_run("COMPLETED")
    latest = make_run("RUNNING")
    body = owner_api.get(f"/api/projects/{project.id}").json()
    assert body["lastRun"]["id"] == str(latest.id)
    assert body["lastRun"]["status"] == "RUNNING"
    assert owner_api.get("/api/projects").json()[0]["lastRun"]["id"] == str(latest.id)


def test_another_tenants_project_answers_like_a_missing_one(outsider_api, project):
    theirs = outsider_api.get(f"/api/projects/{project.id}")
    missing = outsider_api.get(f"/api/projects/{uuid.uuid4()}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["code"] == "PROJECT_NOT_FOUND"


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "%00", "' OR 1=1 --"])
def test_a_malformed_project_id_is_404_in_shape(owner_api, bad_id):
    r = owner_api.get(f"/api/projects/{bad_id}")
    assert r.status_code == 404
    assert r.json()["code"] == "PROJECT_NOT_FOUND"


def test_outsider_cannot_patch_or_delete(outsider_api, project):
    assert (
        outsider_api.patch(f"/api/projects/{project.id}", {"name": "x"}, format="json").status_code
        == 404
    )
    assert outsider_api.delete(f"/api/projects/{project.id}").status_code == 404
    project.refresh_from_db()
    assert project.name == "Contoso Boards"


def test_it_patches_name_and_description(owner_api, project):
    r = owner_api.patch(f"/api/projects/{project.id}", {"description": "new"}, format="json")
    assert r.status_code == 200
    assert r.json()["description"] == "new"
    assert r.json()["name"] == "Contoso Boards"


def test_it_deletes_a_project(owner_api, project, make_run):
    make_run("COMPLETED")
    assert owner_api.delete(f"/api/projects/{project.id}").status_code == 204
    assert owner_api.get(f"/api/projects/{project.id}").status_code == 404


def test_it_refuses_to_delete_a_project_with_an_active_run(owner_api, project, make_run):
    make_run("PAUSED")
    r = owner_api.delete(f"/api/projects/{project.id}")
    assert r.status_code == 409
    assert r.json()["code"] == "MIGRATION_ALREADY_RUNNING"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 42}, "name"),
        ({"name": ["x"]}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_it_validates_project_fields(owner_api, body, field):
    r = owner_api.post("/api/projects", body, format="json")
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert field in r.json()["details"]


def test_project_names_are_unique_within_a_tenant(owner_api, outsider_api, project):
    r = owner_api.post("/api/projects", {"name": "Contoso Boards"}, format="json")
    assert r.status_code == 400
    assert "name" in r.json()["details"]
    # Another tenant may use the same name.
    assert (
        outsider_api.post("/api/projects", {"name": "Contoso Boards"}, format="json").status_code
        == 201
    )


def test_put_is_not_allowed(owner_api, project):
    r = owner_api.put(f"/api/projects/{project.id}", {"name": "x"}, format="json")
    assert r.status_code == 405
    assert r.json()["code"] == "METHOD_NOT_ALLOWED"
