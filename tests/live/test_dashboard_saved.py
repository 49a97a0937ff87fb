"""The project page's saved connection and schedule sections, and a start form that
no longer needs the secrets the project holds."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from migrations_app.models import MigrationRun, ProjectConnection, SyncSchedule
from tests.fixtures.platform import API_TOKEN, PAT
from tests.live.test_dashboard import start_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private_targets")]

NEW_PAT = "ado-pat-ROTATED-from-the-page"


@pytest.fixture
def browser(owner: Any) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def connection_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "connection-ado_base_url": "http://127.0.0.1:9",
        "connection-org": "contoso",
        "connection-ado_project": "Fabrikam",
        "connection-pat": PAT,
        "connection-jira_base_url": "http://127.0.0.1:9",
        "connection-email": "migrator@example.com",
        "connection-api_token": API_TOKEN,
        "connection-project_key": "proj",
    }
    data.update({f"connection-{k}": v for k, v in overrides.items()})
    return data


def decrypted(project: Any) -> tuple[str, str]:
    from migrations_app import crypto

    row = ProjectConnection.objects.get(project=project)
    return crypto.decrypt(row.pat_encrypted), crypto.decrypt(row.api_token_encrypted)


def save(browser: Client, project: Any, **overrides: Any) -> Any:
    return browser.post(f"/projects/{project.pk}/connection", connection_form(**overrides))


def test_the_project_page_offers_to_save_a_connection_and_a_schedule(browser, project):
    page = browser.get(f"/projects/{project.pk}").content.decode()
    assert "Saved connection" in page and "No connection saved" in page
    assert "Scheduled delta sync" in page and "No schedule" in page


def test_saving_the_connection_from_the_page_never_shows_the_secrets(browser, project):
    response = save(browser, project)
    assert response.status_code == 302
    assert decrypted(project) == (PAT, API_TOKEN)
    page = browser.get(f"/projects/{project.pk}").content.decode()
    assert 'value="contoso"' in page and "PAT saved, Jira API token saved" in page
    row = ProjectConnection.objects.get(project=project)
    for secret in (PAT, API_TOKEN, row.pat_encrypted, row.api_token_encrypted):
        assert secret not in page


def test_blank_secrets_keep_the_saved_ones_and_a_new_one_rotates(browser, project):
    save(browser, project)
    assert save(browser, project, pat="", api_token="").status_code == 302
    assert decrypted(project) == (PAT, API_TOKEN)
    save(browser, project, pat=NEW_PAT, api_token="")
    assert decrypted(project) == (NEW_PAT, API_TOKEN)


def test_the_apis_errors_show_on_the_connection_fields(browser, project):
    save(browser, project)
    response = save(
        browser, project, org="", project_key="1-bad", ado_base_url="http://127.0.0.2:9", pat=""
    )
    assert response.status_code == 400
    errors = response.context["connection_form"].errors
    assert "This field may not be blank." in errors["org"]
    assert any("project key" in e for e in errors["project_key"])
    response = save(browser, project, ado_base_url="http://127.0.0.2:9", pat="")
    errors = response.context["connection_form"].errors
    assert any("send it again" in e for e in errors["pat"])  # bound to its origin
    assert PAT not in response.content.decode()


def test_removing_the_connection(browser, project):
    save(browser, project)
    assert browser.post(f"/projects/{project.pk}/connection/delete").status_code == 302
    assert not ProjectConnection.objects.exists()


def test_the_start_form_uses_the_saved_secrets_when_left_blank(browser, project):
    save(browser, project)
    page = browser.get(f"/projects/{project.pk}").content.decode()
    assert "Leave blank to use the project&#x27;s saved PAT." in page
    response = browser.post(f"/projects/{project.pk}/start", start_form(pat="", api_token=""))
    assert response.status_code == 302, response.content
    from migrations_app import crypto

    run = MigrationRun.objects.get(project=project)
    assert crypto.decrypt(run.pat_encrypted) == PAT
    assert crypto.decrypt(run.api_token_encrypted) == API_TOKEN


def test_without_a_saved_connection_blank_secrets_are_errors_on_their_fields(browser, project):
    response = browser.post(f"/projects/{project.pk}/start", start_form(pat="", api_token=""))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["pat"] and errors["api_token"]
    assert not MigrationRun.objects.exists()


def test_scheduling_pausing_resuming_and_deleting_from_the_page(browser, project):
    save(browser, project)
    form = {
        "schedule-interval_minutes": "30",
        "schedule-start_at": "",
        "schedule-cutover_at": "2099-01-01T12:00",
    }
    assert browser.post(f"/projects/{project.pk}/schedule", form).status_code == 302
    schedule = SyncSchedule.objects.get(project=project)
    assert schedule.interval_seconds == 1800 and schedule.status == "ACTIVE"
    page = browser.get(f"/projects/{project.pk}").content.decode()
    assert "every 30 minute(s)" in page and "Pause schedule" in page
    browser.post(f"/projects/{project.pk}/schedule/pause")
    assert SyncSchedule.objects.get(project=project).status == "PAUSED"
    assert "Resume schedule" in browser.get(f"/projects/{project.pk}").content.decode()
    browser.post(f"/projects/{project.pk}/schedule/resume")
    assert SyncSchedule.objects.get(project=project).status == "ACTIVE"
    form["schedule-interval_minutes"] = "45"
    browser.post(f"/projects/{project.pk}/schedule", form)  # changes the existing one
    assert SyncSchedule.objects.get(project=project).interval_seconds == 2700
    browser.post(f"/projects/{project.pk}/schedule/delete")
    assert not SyncSchedule.objects.exists()


def test_a_new_schedule_takes_the_last_runs_options(browser, project, make_run):
    save(browser, project)
    run = make_run("COMPLETED")
    run.options = {"migrate_links": False, "type_overrides": {"Bug": "Task"}}
    run.save(update_fields=["options"])
    form = {"schedule-interval_minutes": "10", "schedule-cutover_at": "2099-01-01T12:00"}
    browser.post(f"/projects/{project.pk}/schedule", form)
    options = SyncSchedule.objects.get(project=project).options
    assert options["migrate_links"] is False and options["type_overrides"] == {"Bug": "Task"}


def test_schedule_errors_show_on_their_fields(browser, project):
    form = {"schedule-interval_minutes": "0", "schedule-cutover_at": ""}
    response = browser.post(f"/projects/{project.pk}/schedule", form)
    assert response.status_code == 400
    errors = response.context["schedule_form"].errors
    assert errors["interval_minutes"] and errors["cutover_at"]
    form = {"schedule-interval_minutes": "10", "schedule-cutover_at": "2099-01-01T12:00"}
    response = browser.post(f"/projects/{project.pk}/schedule", form)  # no connection yet
    assert response.status_code == 400
    assert "saved connection" in str(response.context["schedule_form"].non_field_errors())


def test_another_tenants_project_pages_answer_404(project, outsider):
    client = Client()
    client.force_login(outsider)
    for path in ("connection", "connection/delete", "schedule", "schedule/pause"):
        assert client.post(f"/projects/{project.pk}/{path}", {}).status_code == 404, path


def test_saving_the_schedule_again_changes_only_what_was_edited(browser, project):
    from datetime import UTC, datetime

    save(browser, project)
    cutover = datetime(2099, 1, 1, 12, 0, 42, tzinfo=UTC)  # seconds the page does not show
    form = {"schedule-interval_minutes": "30", "schedule-cutover_at": "2099-01-01T12:00"}
    browser.post(f"/projects/{project.pk}/schedule", form)
    SyncSchedule.objects.filter(project=project).update(cutover_at=cutover)
    page = browser.get(f"/projects/{project.pk}")
    shown = page.context["schedule_form"].initial
    form = {f"schedule-{name}": value for name, value in shown.items()}
    form["schedule-interval_minutes"] = "20"
    assert browser.post(f"/projects/{project.pk}/schedule", form).status_code == 302
    schedule = SyncSchedule.objects.get(project=project)
    assert schedule.interval_seconds == 1200 and schedule.cutover_at == cutover
