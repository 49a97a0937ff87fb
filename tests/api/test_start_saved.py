"""POST .../start with the project's saved connection: what is left out comes from
it, inline values win, a saved secret goes to its own origin only, and a field that
neither gives is a VALIDATION_ERROR naming it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.platform import API_TOKEN, PAT, start_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private_targets")]

INLINE_PAT = "ado-pat-INLINE-0e5d7c"
INLINE_TOKEN = "jira-token-INLINE-9a4b1f"


def start(api: Any, project: Any, body: dict[str, Any]) -> Any:
    return api.post(f"/api/migrations/project/{project.id}/start", body, format="json")


def save_connection(api: Any, project: Any, **secrets: Any) -> None:
    source = {"base_url": "http://127.0.0.1:9", "org": "saved-org", "project": "Saved", "pat": PAT}
    target = {
        "base_url": "http://127.0.0.1:9",
        "email": "saved@example.com",
        "api_token": API_TOKEN,
        "project_key": "SAVED",
    }
    for name, value in secrets.items():
        (source if name == "pat" else target)[name] = value
    source = {k: v for k, v in source.items() if v is not KeyError}
    target = {k: v for k, v in target.items() if v is not KeyError}
    r = api.put(
        f"/api/projects/{project.id}/connection",
        {"source": source, "target": target},
        format="json",
    )
    assert r.status_code == 201, r.content


def stored(run_id: str) -> tuple[Any, str, str]:
    from migrations_app import crypto
    from migrations_app.models import MigrationRun

    run = MigrationRun.objects.get(pk=run_id)
    return run, crypto.decrypt(run.pat_encrypted), crypto.decrypt(run.api_token_encrypted)


def without(body: dict[str, Any], *paths: str) -> dict[str, Any]:
    for path in paths:
        node = body["enginePayload"]
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        del node[last]
    return body


def test_a_start_without_secrets_uses_the_saved_ones(owner_api, project):
    save_connection(owner_api, project)
    body = without(start_body(), "source.pat", "target.api_token")
    r = start(owner_api, project, body)
    assert r.status_code == 200, r.content
    run, pat, token = stored(r.json()["id"])
    assert (pat, token) == (PAT, API_TOKEN)
    assert run.source["org"] == "contoso"  # the inline fields are kept
    assert "pat" not in run.source and "api_token" not in run.target


def test_a_start_with_no_source_or_target_takes_the_whole_saved_connection(owner_api, project):
    save_connection(owner_api, project)
    r = start(owner_api, project, {"type": "FULL", "enginePayload": {}})
    assert r.status_code == 200, r.content
    run, pat, token = stored(r.json()["id"])
    assert (pat, token) == (PAT, API_TOKEN)
    assert run.source == {
        "base_url": "http://127.0.0.1:9",
        "org": "saved-org",
        "project": "Saved",
        "area_filter": None,
        "type_filter": [],
    }
    assert run.target == {
        "base_url": "http://127.0.0.1:9",
        "email": "saved@example.com",
        "project_key": "SAVED",
    }
    assert run.options["migrate_comments"] is True  # options still default


def test_a_side_without_its_secret_is_completed_field_by_field(owner_api, project):
    save_connection(owner_api, project)
    body = {
        "type": "FULL",
        "enginePayload": {
            "source": {"project": "Other", "type_filter": "Bug"},
            "target": {"project_key": "ops"},
        },
    }
    run, _, _ = stored(start(owner_api, project, body).json()["id"])
    assert (run.source["org"], run.source["project"]) == ("saved-org", "Other")
    assert run.source["type_filter"] == ["Bug"]
    assert (run.target["email"], run.target["project_key"]) == ("saved@example.com", "OPS")


def test_inline_secrets_win_over_the_saved_ones(owner_api, project):
    save_connection(owner_api, project)
    body = start_body(pat=INLINE_PAT, api_token=INLINE_TOKEN)
    run, pat, token = stored(start(owner_api, project, body).json()["id"])
    assert (pat, token) == (INLINE_PAT, INLINE_TOKEN)
    assert run.source["org"] == "contoso"  # the inline side is used as given


def test_an_inline_side_is_used_as_given_even_where_it_leaves_fields_out(owner_api, project):
    save_connection(owner_api, project)
    body = without(start_body(), "source.org", "source.base_url")
    r = start(owner_api, project, body)
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"enginePayload.source.org"}
    # the seed's form: no base_url means Azure DevOps Services, not the saved host
    del body["enginePayload"]["source"]
    body["enginePayload"]["source"] = {"org": "contoso", "project": "Fabrikam", "pat": INLINE_PAT}
    run, pat, _ = stored(start(owner_api, project, body).json()["id"])
    assert run.source["base_url"] == "https://dev.azure.com" and pat == INLINE_PAT


def test_one_side_saved_secret_the_other_inline(owner_api, project):
    save_connection(owner_api, project)
    body = without(start_body(api_token=INLINE_TOKEN), "source.pat")
    _, pat, token = stored(start(owner_api, project, body).json()["id"])
    assert (pat, token) == (PAT, INLINE_TOKEN)


def test_a_saved_secret_is_not_sent_to_another_origin(owner_api, project):
    save_connection(owner_api, project)
    body = without(
        start_body(ado_url="http://127.0.0.2:9", jira_url="http://127.0.0.1:10"),
        "source.pat",
        "target.api_token",
    )
    r = start(owner_api, project, body)
    assert r.status_code == 400
    details = r.json()["details"]
    assert set(details) == {"enginePayload.source.pat", "enginePayload.target.api_token"}
    assert "http://127.0.0.1:9" in details["enginePayload.source.pat"][0]


@pytest.mark.parametrize(
    ("left_out", "named"),
    [
        (("source.pat",), {"enginePayload.source.pat"}),
        (("target.api_token",), {"enginePayload.target.api_token"}),
        (("source",), {"enginePayload.source"}),
        (("source.pat", "source.org"), {"enginePayload.source.pat", "enginePayload.source.org"}),
    ],
)
def test_a_start_that_has_neither_names_the_missing_field(owner_api, project, left_out, named):
    r = start(owner_api, project, without(start_body(), *left_out))
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert set(r.json()["details"]) == named


def test_a_saved_connection_without_a_secret_names_it(owner_api, project):
    save_connection(owner_api, project, api_token=KeyError)
    r = start(owner_api, project, {"type": "FULL", "enginePayload": {}})
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"enginePayload.target.api_token"}
    assert "holds no api_token" in r.json()["details"]["enginePayload.target.api_token"][0]


def test_another_tenants_saved_connection_is_never_used(owner_api, outsider_api, project, outsider):
    from migrations_app.models import Project

    save_connection(owner_api, project)
    r = start(outsider_api, project, {"type": "FULL", "enginePayload": {}})
    assert r.status_code == 404 and r.json()["code"] == "PROJECT_NOT_FOUND"
    theirs = Project.objects.create(tenant=outsider.tenant, name=project.name)
    r = start(outsider_api, theirs, {"type": "FULL", "enginePayload": {}})
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"enginePayload.source", "enginePayload.target"}
