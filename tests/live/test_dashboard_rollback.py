"""The dashboard's rollback: the button on the run page, the dry run's counts on the
confirmation page, the rollback itself; and the admin's rollback actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from migrations_app.models import MigrationRun
from tests.platform.documents import with_report

pytestmark = pytest.mark.django_db

DRY_REPORT = {
    "runType": "ROLLBACK",
    "dryRun": True,
    "counts": {
        "planned": {"issues": 12, "comments": 30, "attachments": 4, "links": 7, "remoteLinks": 12},
        "removed": {"issues": 0, "comments": 0, "attachments": 0, "links": 0, "remoteLinks": 0},
        "left": {"issues": 1, "comments": 2, "attachments": 0, "links": 0, "remoteLinks": 1},
        "alreadyGone": {},
        "failed": {},
    },
    "left": [
        {
            "kind": "issues",
            "adoId": 7,
            "issue": "PROJ-7",
            "id": "10007",
            "state": "left",
            "reason": "changed after this run's last write to it: left alone",
        }
    ],
    "issueRemoval": {"method": "bulk delete", "reason": "the account holds BULK_CHANGE"},
    "notReverted": [],
}


@pytest.fixture
def browser(owner: Any) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def run_url(run: Any, suffix: str = "") -> str:
    return f"/projects/{run.project_id}/runs/{run.pk}{suffix}"


def test_a_finished_run_offers_a_rollback_an_active_or_dry_one_does_not(
    browser: Client, make_run: Any
) -> None:
    done = make_run("COMPLETED")
    page = browser.get(run_url(done)).content.decode()
    assert 'id="rollback-start"' in page and run_url(done, "/rollback/preview") in page
    dry = make_run("COMPLETED", dry_run=True)
    assert 'id="rollback-start"' not in browser.get(run_url(dry)).content.decode()
    MigrationRun.objects.filter(pk=dry.pk).delete()
    active = make_run("RUNNING")
    assert 'id="rollback-start"' not in browser.get(run_url(active)).content.decode()


def test_the_button_starts_a_dry_rollback_and_the_page_waits_for_it(
    browser: Client, make_run: Any
) -> None:
    run = make_run("COMPLETED")
    response = browser.post(run_url(run, "/rollback/preview"))
    assert response.status_code == 302 and response["Location"] == run_url(run, "/rollback")
    dry = MigrationRun.objects.get(rollback_of=run)
    assert (dry.type, dry.dry_run, dry.status) == ("ROLLBACK", True, "PENDING")
    page = browser.get(run_url(run, "/rollback")).content.decode()
    assert 'http-equiv="refresh"' in page and "pending" in page
    assert 'id="rollback-button"' not in page  # no confirmation before the counts


def test_the_confirmation_shows_the_dry_runs_counts_and_rolls_back(
    browser: Client, make_run: Any
) -> None:
    run = make_run("COMPLETED")
    dry = with_report(
        make_run("COMPLETED", type="ROLLBACK", dry_run=True, rollback_of=run), DRY_REPORT
    )
    response = browser.get(run_url(run, "/rollback"))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'http-equiv="refresh"' not in page
    assert 'id="rollback-counts"' in page and "Would remove" in page
    summary = response.context["summary"]
    assert [r.planned for r in summary.rows] == [12, 30, 4, 7, 12]
    assert 'id="confirm-total">65<' in page and "PROJ-7" in page
    assert run_url(dry) in page

    response = browser.post(run_url(run, "/rollback"))
    real = MigrationRun.objects.get(rollback_of=run, dry_run=False)
    assert response.status_code == 302 and response["Location"] == run_url(real)
    page = browser.get(run_url(real)).content.decode()
    assert 'id="count-removed"' in page and 'id="rollback-of"' in page
    assert 'id="rolled-back-by"' in browser.get(run_url(run)).content.decode()


def test_a_refused_rollback_is_shown_not_started(browser: Client, make_run: Any) -> None:
    run = make_run("COMPLETED")
    with_report(make_run("COMPLETED", type="ROLLBACK", dry_run=True, rollback_of=run), DRY_REPORT)
    make_run("RUNNING")  # another run of the project holds it
    response = browser.post(run_url(run, "/rollback"))
    assert response.status_code == 400
    assert "Another run of this project is active" in response.content.decode()
    assert not MigrationRun.objects.filter(rollback_of=run, dry_run=False).exists()


def test_a_rollback_runs_page_shows_its_counts(browser: Client, make_run: Any) -> None:
    run = make_run("COMPLETED")
    report = {**DRY_REPORT, "dryRun": False}
    rb = with_report(
        make_run("COMPLETED", type="ROLLBACK", rollback_of=run, success_count=11, skipped_count=1),
        report,
    )
    page = browser.get(run_url(rb)).content.decode()
    assert 'id="rollback-panel"' in page and "Removed" in page
    assert 'id="mappings-panel"' not in page
    state = browser.get(run_url(rb, "/state")).json()
    assert state["removed"] == 11 and state["phaseName"] == "not started"
    assert browser.get(run_url(rb, "/report")).status_code == 200


def test_an_outsider_cannot_roll_back(outsider: Any, make_run: Any) -> None:
    run = make_run("COMPLETED")
    client = Client()
    client.force_login(outsider)
    assert client.post(run_url(run, "/rollback/preview")).status_code == 404
    assert client.get(run_url(run, "/rollback")).status_code == 404
    assert client.post(run_url(run, "/rollback")).status_code == 404
    assert not MigrationRun.objects.filter(rollback_of=run).exists()


@pytest.mark.parametrize(("action", "dry"), [("rollback_runs_dry", True), ("rollback_runs", False)])
def test_the_admin_actions_start_rollbacks(
    admin_client: Client, make_run: Any, action: str, dry: bool
) -> None:
    run = make_run("COMPLETED")
    r = admin_client.post(
        "/admin/migrations_app/migrationrun/", {"action": action, "_selected_action": [str(run.pk)]}
    )
    assert r.status_code == 302
    made = MigrationRun.objects.get(rollback_of=run)
    assert (made.type, made.dry_run) == ("ROLLBACK", dry)


def test_the_admin_action_refuses_an_active_run(admin_client: Client, make_run: Any) -> None:
    run = make_run("RUNNING")
    r = admin_client.post(
        "/admin/migrations_app/migrationrun/",
        {"action": "rollback_runs", "_selected_action": [str(run.pk)]},
        follow=True,
    )
    assert "cancel it or let it finish" in r.content.decode()
    assert not MigrationRun.objects.filter(rollback_of=run).exists()
