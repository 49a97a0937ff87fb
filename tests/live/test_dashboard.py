"""Dashboard pages (session login): tenant scoping, forms calling the services with
the API's validation, the run page's server-rendered state and stream wiring."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from migrations_app import events
from migrations_app.live import tokens
from migrations_app.models import MigrationRun, Project, RunItem
from tests.fixtures.platform import API_TOKEN, PAT
from tests.platform.documents import with_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(owner: Any) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def run_url(run: Any, suffix: str = "") -> str:
    return f"/projects/{run.project_id}/runs/{run.pk}{suffix}"


def start_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "type": "FULL",
        "ado_base_url": "http://127.0.0.1:9",
        "org": "contoso",
        "ado_project": "Fabrikam",
        "pat": PAT,
        "jira_base_url": "http://127.0.0.1:9",
        "email": "migrator@example.com",
        "api_token": API_TOKEN,
        "project_key": "proj",
        "migrate_comments": "on",
        "migrate_attachments": "on",
        "migrate_links": "on",
        "type_overrides": "Feature = Epic",
        "state_overrides": "Resolved = Done",
    }
    data.update(overrides)
    return data


# --------------------------------------------------------------------------- access
def test_pages_need_a_login(project: Any) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_login_page_logs_in(owner: Any) -> None:
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_it_shows_only_the_tenants_projects(
    browser: Client, project: Any, other_tenant: Any
) -> None:
    Project.objects.create(tenant=other_tenant, name="Globex secret project")
    page = browser.get("/").content.decode()
    assert "Contoso Boards" in page
    assert "Globex secret project" not in page


def test_another_tenants_project_and_run_answer_404(
    outsider: Any, project: Any, make_run: Any
) -> None:
    run = make_run("RUNNING")
    client = Client()
    client.force_login(outsider)
    assert client.get(f"/projects/{project.pk}").status_code == 404
    assert client.get(run_url(run)).status_code == 404
    assert client.post(run_url(run, "/pause")).status_code == 404
    assert client.post(run_url(run, "/stream-token")).status_code == 404
    assert MigrationRun.objects.get(pk=run.pk).status == "RUNNING"


# --------------------------------------------------------------------------- projects
def test_it_creates_a_project(browser: Client, tenant: Any) -> None:
    response = browser.post("/", {"name": "New one", "description": "d"})
    project = Project.objects.get(name="New one", tenant=tenant)
    assert response["Location"] == f"/projects/{project.pk}"


def test_a_duplicate_project_name_is_shown_on_the_field(browser: Client, project: Any) -> None:
    response = browser.post("/", {"name": project.name})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


# --------------------------------------------------------------------------- starting runs
def test_it_starts_a_run_through_the_service(
    browser: Client, project: Any, allow_private_targets: None
) -> None:
    response = browser.post(f"/projects/{project.pk}/start", start_form())
    run = MigrationRun.objects.get(project=project)
    assert response["Location"] == run_url(run)
    assert (run.type, run.status, run.dry_run) == ("FULL", "PENDING", False)
    assert run.target["project_key"] == "PROJ"
    assert run.options["type_overrides"] == {"Feature": "Epic"}
    assert run.options["state_overrides"] == {"Resolved": "Done"}
    assert PAT not in str(run.source) and API_TOKEN not in str(run.target)


def test_it_starts_a_run_with_the_field_user_and_link_maps(
    browser: Client, project: Any, allow_private_targets: None
) -> None:
    form = start_form(
        field_map='{"Custom.Customer": {"field": "Customer"}}',
        user_map="ann@fabrikam.example = ann@fabrikam-corp.example",
        link_type_map="Affects = Blocks",
        migrate_history="on",
    )
    browser.post(f"/projects/{project.pk}/start", form)
    run = MigrationRun.objects.get(project=project)
    assert run.options["field_map"] == {"Custom.Customer": {"field": "Customer"}}
    assert run.options["user_map"] == {"ann@fabrikam.example": "ann@fabrikam-corp.example"}
    assert run.options["link_type_map"] == {"Affects": "Blocks"}
    assert run.options["migrate_history"] is True
    page = browser.get(f"/projects/{project.pk}").content.decode()
    assert "Custom.Customer" in page and "Affects = Blocks" in page  # the rerun's defaults


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "Not valid JSON"),
        ('["Custom.Customer"]', "JSON object"),
        ('{"Custom.Customer": {"values": {}}}', "names no Jira field"),  # the API's check
    ],
)
def test_a_bad_field_map_is_shown_on_its_field(
    browser: Client, project: Any, allow_private_targets: None, text: str, says: str
) -> None:
    response = browser.post(f"/projects/{project.pk}/start", start_form(field_map=text))
    assert response.status_code == 400
    assert any(says in e for e in response.context["form"].errors["field_map"])
    assert not MigrationRun.objects.exists()


def test_preview_starts_a_sample_dry_run(
    browser: Client, project: Any, allow_private_targets: None
) -> None:
    browser.post(f"/projects/{project.pk}/start", {**start_form(), "preview": "1"})
    run = MigrationRun.objects.get(project=project)
    assert (run.type, run.dry_run) == ("SAMPLE", True)


def test_it_shows_the_apis_validation_errors_per_field(browser: Client, project: Any) -> None:
    form = start_form(
        org="", project_key="1-bad", ado_base_url="http://10.0.0.1", type_overrides="x"
    )
    response = browser.post(f"/projects/{project.pk}/start", form)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "This field may not be blank." in errors["org"]
    assert any("project key" in e for e in errors["project_key"])
    assert errors["ado_base_url"]  # private targets are refused, as by the API
    assert "Line 1" in errors["type_overrides"][0]
    assert not MigrationRun.objects.exists()
    assert PAT not in response.content.decode()  # secrets are not echoed back


def test_a_second_active_run_is_refused_on_the_form(
    browser: Client, project: Any, make_run: Any, allow_private_targets: None
) -> None:
    make_run("RUNNING")
    response = browser.post(f"/projects/{project.pk}/start", start_form())
    assert response.status_code == 400
    assert "already active" in response.content.decode()


def test_the_project_page_shows_the_last_reports_mappings(
    browser: Client, project: Any, make_run: Any
) -> None:
    with_report(
        make_run("COMPLETED"),
        {
            "typeMappings": [
                {
                    "adoType": "User Story",
                    "jiraType": "Story",
                    "source": "automatic",
                    "reason": "same name",
                    "confidence": 0.95,
                },
            ],
            "stateMappings": [],
        },
    )
    page = browser.get(f"/projects/{project.pk}").content.decode()
    assert "Suggested mappings" in page and "User Story" in page and "same name" in page
    assert 'value="contoso"' in page  # the form starts from the last run's settings


def test_the_project_page_offers_the_last_dry_runs_field_map_suggestions(
    browser: Client, project: Any, make_run: Any
) -> None:
    suggested = {"Custom.Customer": {"field": "customfield_10053"}}
    with_report(
        make_run("COMPLETED", dry_run=True),
        {
            "typeMappings": [],
            "stateMappings": [],
            "fieldMap": {
                "suggestions": [
                    {
                        "adoField": "Custom.Customer",
                        "adoName": "Customer",
                        "jiraField": "customfield_10053",
                        "jiraName": "Customer",
                        "reason": "same name; string to text",
                        "confidence": 0.95,
                        "values": {},
                        "unmatchedValues": [],
                    }
                ],
                "suggestedFieldMap": suggested,
            },
        },
    )
    page = browser.get(f"/projects/{project.pk}").content.decode()
    assert "Suggested field map" in page and "same name; string to text" in page
    form = browser.get(f"/projects/{project.pk}").context["form"]
    assert not form.initial.get("field_map")  # nothing carried unless asked
    used = browser.get(f"/projects/{project.pk}?field_map=suggested").context["form"]
    assert json.loads(used.initial["field_map"]) == suggested


# --------------------------------------------------------------------------- run page
def test_the_run_page_renders_state_and_wires_the_stream(
    browser: Client, owner: Any, make_run: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = make_run("RUNNING", total_count=10, current_phase=2)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_log(run.pk, "✓ ADO #1 [Task] → PROJ-1")
        events.publish_progress(run.pk, 1, 10, 2.5)
    RunItem.objects.create(
        run=run, ado_id=7, ado_type="Bug", status="FAILED", error="Jira refused: summary too long",
        ado_url="https://dev.azure.com/contoso/Fabrikam/_workitems/edit/7",
    )  # fmt: skip
    page = browser.get(run_url(run)).content.decode()
    assert "✓ ADO #1 [Task] → PROJ-1" in page
    assert "Jira refused: summary too long" in page
    assert "create issues" in page  # phase 2, named
    assert f'data-last-event-id="run-{run.pk}:2"' in page
    token = re.search(r'data-stream-token="([^"]+)"', page)
    assert token is not None
    grant = tokens.read(token.group(1))
    assert (grant.user_id, grant.run_id) == (owner.pk, str(run.pk))
    assert PAT not in page and API_TOKEN not in page


def test_pause_resume_and_cancel_call_the_services(browser: Client, make_run: Any) -> None:
    run = make_run("RUNNING")
    json_accept: dict[str, Any] = {"headers": {"Accept": "application/json"}}
    assert browser.post(run_url(run, "/pause"), **json_accept).json()["status"] == "PAUSED"
    again = browser.post(run_url(run, "/pause"), **json_accept)
    assert again.status_code == 400
    assert again.json()["code"] == "MIGRATION_NOT_RUNNING"
    response = browser.post(run_url(run, "/resume"))  # a plain form post redirects back
    assert response.status_code == 302
    assert MigrationRun.objects.get(pk=run.pk).status == "RUNNING"
    assert browser.post(run_url(run, "/cancel"), **json_accept).json()["status"] == "CANCELLED"


def test_the_page_mints_fresh_stream_tokens(browser: Client, owner: Any, make_run: Any) -> None:
    run = make_run("RUNNING")
    body = browser.post(run_url(run, "/stream-token")).json()
    assert body["expiresIn"] == 300
    assert tokens.read(body["token"]).run_id == str(run.pk)


def test_state_item_report_and_crosswalk_pages(browser: Client, make_run: Any) -> None:
    run = with_report(make_run("PARTIAL"), {"typeMappings": [], "counts": {"Bug": 1}})
    RunItem.objects.create(run=run, ado_id=7, ado_type="Bug", status="FAILED", error="refused")
    state = browser.get(run_url(run, "/state")).json()
    assert state["status"] == "PARTIAL" and state["active"] is False
    assert "refused" in browser.get(run_url(run, "/items/7")).content.decode()
    assert browser.get(run_url(run, "/items/8")).status_code == 404
    assert "&quot;counts&quot;" in browser.get(run_url(run, "/report")).content.decode()
    csv: Any = browser.get(run_url(run, "/crosswalk.csv"))
    assert b"".join(csv.streaming_content).startswith(b"ado_id,ado_type,ado_url,jira_key")
    assert "failed-panel" in browser.get(run_url(run, "/panels")).content.decode()


def test_the_admin_lists_a_runs_events_read_only(
    make_run: Any, admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    run = make_run("RUNNING")
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_log(run.pk, "hello from the run")
    page = admin_client.get(
        "/admin/django_eventstream/event/", {"channel": f"run-{run.pk}"}
    ).content.decode()
    assert "hello from the run" in page
    assert "Add event" not in page
