"""The admin: every page renders, filters work, actions call the services."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/migrations_app/tenant/",
        "/admin/migrations_app/user/",
        "/admin/migrations_app/project/",
        "/admin/migrations_app/migrationrun/",
        "/admin/migrations_app/migrationrun/?status__exact=RUNNING&type__exact=FULL",
        "/admin/migrations_app/migrationrun/?q=Contoso",
        "/admin/migrations_app/runitem/?status__exact=FAILED",
        "/admin/migrations_app/runitem/?q=123",
        "/admin/migrations_app/runitem/?q=PROJ-1",
        "/admin/migrations_app/rundocument/",
    ],
)
def test_admin_pages_render(admin_client, make_run, url):
    from migrations_app.models import RunItem

    run = make_run("RUNNING")
    RunItem.objects.create(run=run, ado_id=123, ado_type="Bug", jira_key="PROJ-1", status="FAILED")
    assert admin_client.get(url).status_code == 200


def test_the_run_change_page_shows_items_inline_and_no_secret_fields(admin_client, make_run):
    from migrations_app.models import RunItem

    run = make_run("RUNNING")
    RunItem.objects.create(run=run, ado_id=123, ado_type="Bug", jira_key="PROJ-1", status="CREATED")
    page = admin_client.get(f"/admin/migrations_app/migrationrun/{run.pk}/change/").content.decode()
    assert "PROJ-1" in page
    assert "pat_encrypted" not in page and "api_token_encrypted" not in page


def test_a_runs_report_is_shown_on_its_document_page_only(admin_client, make_run):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.platform.documents import with_report

    run = with_report(make_run("COMPLETED"), {"problems": {"marker": "found-it"}})
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/migrations_app/rundocument/").status_code == 200
    assert not any('"report"' in q["sql"] for q in queries.captured_queries)
    page = admin_client.get(f"/admin/migrations_app/rundocument/{run.pk}/change/")
    assert "found-it" in page.content.decode()


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        ("pause_runs", "RUNNING", "PAUSED"),
        ("resume_runs", "PAUSED", "RUNNING"),
        ("cancel_runs", "RUNNING", "CANCELLED"),
    ],
)
def test_admin_actions_call_the_services(admin_client, make_run, action, before, after):
    run = make_run(before)
    r = admin_client.post(
        "/admin/migrations_app/migrationrun/",
        {"action": action, "_selected_action": [str(run.pk)]},
    )
    assert r.status_code == 302
    run.refresh_from_db()
    assert run.status == after


def test_an_action_that_does_not_apply_warns_and_changes_nothing(admin_client, make_run):
    run = make_run("COMPLETED")
    r = admin_client.post(
        "/admin/migrations_app/migrationrun/",
        {"action": "cancel_runs", "_selected_action": [str(run.pk)]},
        follow=True,
    )
    assert "already finished" in r.content.decode()
    run.refresh_from_db()
    assert run.status == "COMPLETED"
