"""POST /api/migrations/project/{projectId}/start: success, validation, guard, 409."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest

from tests.fixtures.platform import API_TOKEN, PAT, start_body

pytestmark = pytest.mark.django_db

SEED_RUN_FIELDS = {
    "id",
    "projectId",
    "status",
    "type",
    "totalItems",
    "successCount",
    "failureCount",
    "progressPercent",
    "startedAt",
    "createdAt",
}


def start(client, project_id, body):
    return client.post(f"/api/migrations/project/{project_id}/start", body, format="json")


def test_it_starts_a_run(owner_api, project, allow_private_targets):
    r = start(owner_api, project.id, start_body())
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= SEED_RUN_FIELDS
    assert body["projectId"] == str(project.id)
    assert body["type"] == "FULL"
    assert body["status"] in ("PENDING", "RUNNING")
    assert body["totalItems"] == body["successCount"] == body["failureCount"] == 0
    assert body["progressPercent"] == 0


def test_it_stores_the_payload_without_secrets(owner_api, project, allow_private_targets):
    from migrations_app import crypto
    from migrations_app.models import MigrationRun

    body = start_body()
    body["enginePayload"]["source"]["type_filter"] = " Bug ,User Story,, Task "
    body["enginePayload"]["source"]["area_filter"] = "Fabrikam\\Web"
    run_id = start(owner_api, project.id, body).json()["id"]
    run = MigrationRun.objects.get(pk=run_id)
    assert run.source["type_filter"] == ["Bug", "User Story", "Task"]
    assert run.source["area_filter"] == "Fabrikam\\Web"
    assert "pat" not in run.source and "api_token" not in run.target
    assert run.options["type_overrides"] == {"Feature": "Epic"}
    assert crypto.decrypt(run.pat_encrypted) == PAT
    assert crypto.decrypt(run.api_token_encrypted) == API_TOKEN
    assert PAT not in run.pat_encrypted


def test_a_teammate_can_start_a_run_of_the_project(teammate_api, project, allow_private_targets):
    assert start(teammate_api, project.id, start_body()).status_code == 200


def test_it_defaults_source_base_url_and_options(owner_api, project, allow_private_targets):
    from migrations_app.models import MigrationRun

    body = start_body()
    del body["enginePayload"]["source"]["base_url"]
    del body["enginePayload"]["options"]
    run_id = start(owner_api, project.id, body).json()["id"]
    run = MigrationRun.objects.get(pk=run_id)
    assert run.source["base_url"] == "https://dev.azure.com"
    assert run.options == {
        "migrate_attachments": True,
        "migrate_comments": True,
        "migrate_links": True,
        "dry_run": False,
        "type_overrides": {},
        "state_overrides": {},
        "sample_size": 10,
        "field_map": {},
        "user_map": {},
        "link_type_map": {},
        "migrate_history": True,
    }


def test_dry_run_and_sample_options_are_kept(owner_api, project, allow_private_targets):
    r = start(owner_api, project.id, start_body(run_type="SAMPLE", dry_run=True, sample_size=25))
    assert r.status_code == 200
    assert r.json()["dryRun"] is True
    assert r.json()["type"] == "SAMPLE"


def test_a_second_start_while_one_is_active_is_409(owner_api, project, allow_private_targets):
    assert start(owner_api, project.id, start_body()).status_code == 200
    r = start(owner_api, project.id, start_body())
    assert r.status_code == 409
    assert r.json()["code"] == "MIGRATION_ALREADY_RUNNING"


@pytest.mark.parametrize("active", ["PENDING", "RUNNING", "PAUSED"])
def test_any_active_run_blocks_a_start(owner_api, project, make_run, allow_private_targets, active):
    make_run(active)
    assert start(owner_api, project.id, start_body()).status_code == 409


@pytest.mark.parametrize("finished", ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"])
def test_a_finished_run_does_not_block(
    owner_api, project, make_run, allow_private_targets, finished
):
    make_run(finished)
    assert start(owner_api, project.id, start_body()).status_code == 200


def test_one_active_run_per_project_not_per_tenant(
    owner_api, project, tenant, allow_private_targets
):
    from migrations_app.models import Project

    other = Project.objects.create(tenant=tenant, name="Second")
    assert start(owner_api, project.id, start_body()).status_code == 200
    assert start(owner_api, other.id, start_body()).status_code == 200


def test_incremental_takes_changes_since_the_last_finished_run(
    owner_api, project, make_run, allow_private_targets
):
    from django.utils import timezone

    from migrations_app.models import MigrationRun

    t0 = timezone.now() - timedelta(days=3)
    t1 = timezone.now() - timedelta(days=1)
    make_run("PARTIAL", started_at=t0, finished_at=t0 + timedelta(hours=1))
    make_run("COMPLETED", started_at=t1, finished_at=t1 + timedelta(hours=1))
    make_run("FAILED", started_at=timezone.now(), finished_at=timezone.now())
    run_id = start(owner_api, project.id, start_body(run_type="INCREMENTAL")).json()["id"]
    assert MigrationRun.objects.get(pk=run_id).changed_since == t1


def test_incremental_without_a_finished_run_behaves_as_full(
    owner_api, project, allow_private_targets
):
    from migrations_app.models import MigrationRun

    run_id = start(owner_api, project.id, start_body(run_type="INCREMENTAL")).json()["id"]
    assert MigrationRun.objects.get(pk=run_id).changed_since is None


def test_another_tenants_project_cannot_be_started(outsider_api, project, allow_private_targets):
    theirs = start(outsider_api, project.id, start_body())
    missing = start(outsider_api, uuid.uuid4(), start_body())
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["code"] == "PROJECT_NOT_FOUND"


def test_a_malformed_project_id_is_404(owner_api, allow_private_targets):
    r = start(owner_api, "nope", start_body())
    assert r.status_code == 404
    assert r.json()["code"] == "PROJECT_NOT_FOUND"


def _with(path: str, value):
    body = start_body()
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("type", "EVERYTHING"),
        ("type", None),
        ("type", KeyError),
        ("enginePayload", KeyError),
        ("enginePayload", "x"),
        ("enginePayload.source", KeyError),
        ("enginePayload.source.org", KeyError),
        ("enginePayload.source.org", ""),
        ("enginePayload.source.org", 5),
        ("enginePayload.source.project", None),
        ("enginePayload.source.pat", KeyError),
        ("enginePayload.source.pat", ["x"]),
        ("enginePayload.source.area_filter", 3),
        ("enginePayload.source.type_filter", ["Bug"]),
        ("enginePayload.source.base_url", "ftp://dev.azure.com"),
        ("enginePayload.source.base_url", "not a url"),
        ("enginePayload.target.base_url", KeyError),
        ("enginePayload.target.base_url", "https://user:pw@127.0.0.1"),
        ("enginePayload.target.email", "not-an-email"),
        ("enginePayload.target.email", 7),
        ("enginePayload.target.api_token", ""),
        ("enginePayload.target.project_key", "12-bad"),
        ("enginePayload.options.dry_run", "yes"),
        ("enginePayload.options.migrate_links", 1),
        ("enginePayload.options.sample_size", 0),
        ("enginePayload.options.sample_size", "10"),
        ("enginePayload.options.sample_size", True),
        ("enginePayload.options.type_overrides", ["Feature"]),
        ("enginePayload.options.state_overrides", "Done"),
        ("enginePayload.options.dryrun", True),
        ("enginePayload.options.field_map", ["Custom.Customer"]),
        ("enginePayload.options.user_map", "someone"),
        ("enginePayload.options.link_type_map", 3),
        ("enginePayload.options.migrate_history", "no"),
    ],
)
def test_it_reports_each_bad_field_by_dotted_path(
    owner_api, project, allow_private_targets, path, value
):
    r = start(owner_api, project.id, _with(path, value))
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert path in body["details"], body["details"]
    assert all(isinstance(m, str) for m in body["details"][path])


def test_override_values_must_be_strings(owner_api, project, allow_private_targets):
    r = start(owner_api, project.id, _with("enginePayload.options.type_overrides", {"Feature": 1}))
    assert r.status_code == 400
    assert "enginePayload.options.type_overrides.Feature" in r.json()["details"]


@pytest.mark.parametrize(
    ("option", "value", "key"),
    [
        ("field_map", {"Custom.Customer": {"values": {}}}, "Custom.Customer"),
        ("field_map", {"Custom.Customer": {"field": "Customer", "colour": 1}}, "Custom.Customer"),
        ("field_map", {"Custom.Customer": {"field": "Customer", "values": [1]}}, "Custom.Customer"),
        ("field_map", {"Custom.Customer": 7}, "Custom.Customer"),
        ("user_map", {"ann@fabrikam.example": 7}, "ann@fabrikam.example"),
        ("link_type_map", {"Affects": ["Blocks"]}, "Affects"),
    ],
)
def test_a_bad_map_entry_is_reported_under_its_key(
    owner_api, project, allow_private_targets, option, value, key
):
    r = start(owner_api, project.id, _with(f"enginePayload.options.{option}", value))
    assert r.status_code == 400, r.content
    details = r.json()["details"]
    assert f"enginePayload.options.{option}.{key}" in details, details


def test_the_maps_reach_the_run_spec(owner_api, project, allow_private_targets):
    from migrations_app.models import MigrationRun
    from migrations_app.runner import build_spec

    body = start_body()
    body["enginePayload"]["options"].update(
        field_map={"Custom.Customer": {"field": "Customer"}, "Custom.Risk": "Risk"},
        user_map={"ann@fabrikam.example": "ann@fabrikam-corp.example"},
        link_type_map={"Affects": "Blocks"},
        migrate_history=False,
    )
    run_id = start(owner_api, project.id, body).json()["id"]
    spec = build_spec(MigrationRun.objects.get(pk=run_id))
    assert spec.field_map == {"Custom.Customer": {"field": "Customer"}, "Custom.Risk": "Risk"}
    assert spec.user_map == {"ann@fabrikam.example": "ann@fabrikam-corp.example"}
    assert spec.link_type_map == {"Affects": "Blocks"}
    assert spec.migrate_history is False


def test_it_reports_every_bad_field_at_once(owner_api, project, allow_private_targets):
    body = start_body()
    body["type"] = "NOPE"
    body["enginePayload"]["source"]["org"] = ""
    body["enginePayload"]["target"]["email"] = "bad"
    r = start(owner_api, project.id, body)
    assert set(r.json()["details"]) == {
        "type",
        "enginePayload.source.org",
        "enginePayload.target.email",
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1",
        "https://10.1.2.3",
        "https://192.168.0.10",
        "https://169.254.169.254/latest",
        "https://[::1]",
        "https://[::ffff:127.0.0.1]",
        "https://224.0.0.1",
        "https://0.0.0.0",
        "https://localhost",
        "http://93.184.216.34",
        "https://nonexistent-host.invalid",
    ],
)
def test_the_guard_refuses_non_public_or_plain_http_targets(owner_api, project, url):
    for field in ("source", "target"):
        r = start(owner_api, project.id, _with(f"enginePayload.{field}.base_url", url))
        assert r.status_code == 400
        assert f"enginePayload.{field}.base_url" in r.json()["details"]


def test_the_guard_accepts_a_public_https_address(owner_api, project):
    body = start_body(ado_url="https://93.184.216.34", jira_url="https://93.184.216.34:8443/")
    r = start(owner_api, project.id, body)
    assert r.status_code == 200, r.json()


def test_allow_private_targets_lets_loopback_and_http_through(owner_api, project, settings):
    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = True
    assert (
        start(owner_api, project.id, start_body(ado_url="http://localhost:8080")).status_code == 200
    )


def test_unresolvable_names_are_refused_even_when_private_targets_are_allowed(
    owner_api, project, allow_private_targets
):
    r = start(owner_api, project.id, start_body(jira_url="https://nonexistent-host.invalid"))
    assert r.status_code == 400
    assert "does not resolve" in r.json()["details"]["enginePayload.target.base_url"][0]


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b"\xff\xfe", "application/json"),
        (b'{"type": NaN}', "application/json"),
    ],
    ids=["truncated", "deeply-nested", "not-utf8", "nan"],
)
def test_malformed_json_is_a_parse_error(owner_api, project, raw, content_type):
    r = owner_api.generic("POST", f"/api/migrations/project/{project.id}/start", raw, content_type)
    assert r.status_code == 400
    assert r.json()["code"] == "PARSE_ERROR"


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"x"', b"1"])
def test_a_body_that_is_not_an_object_is_a_validation_error(owner_api, project, raw):
    r = owner_api.generic(
        "POST", f"/api/migrations/project/{project.id}/start", raw, "application/json"
    )
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"


def test_a_form_body_is_415(owner_api, project):
    r = owner_api.post(f"/api/migrations/project/{project.id}/start", {"type": "FULL"})
    assert r.status_code == 415
    assert r.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_missing_content_type_is_a_validation_error(owner_api, project):
    r = owner_api.generic("POST", f"/api/migrations/project/{project.id}/start", b"{}", "")
    assert r.status_code in (400, 415)
    assert r.json()["code"] in ("VALIDATION_ERROR", "UNSUPPORTED_MEDIA_TYPE")


def test_a_huge_body_is_413_in_shape(owner_api, project, settings):
    body = start_body()
    body["enginePayload"]["source"]["org"] = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    r = start(owner_api, project.id, body)
    assert r.status_code == 413
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_deeply_nested_overrides_do_not_500(owner_api, project, allow_private_targets):
    nested: dict = {}
    node = nested
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    body = copy.deepcopy(start_body())
    body["enginePayload"]["options"]["type_overrides"] = nested
    r = start(owner_api, project.id, body)
    assert r.status_code == 400
