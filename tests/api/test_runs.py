"""Run endpoints: list, status, pause, resume, cancel, items, crosswalk, report."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from tests.platform.documents import with_report

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- list
def test_it_lists_a_projects_runs_most_recent_first(owner_api, project, make_run):
    old = make_run("COMPLETED")
    new = make_run("RUNNING")
    r = owner_api.get(f"/api/migrations?projectId={project.id}")
    assert r.status_code == 200
    assert [run["id"] for run in r.json()] == [str(new.id), str(old.id)]
    assert r.json()[0]["projectId"] == str(project.id)


def test_it_filters_runs_by_status(owner_api, project, make_run):
    make_run("COMPLETED")
    failed = make_run("FAILED")
    r = owner_api.get(f"/api/migrations?projectId={project.id}&status=FAILED")
    assert [run["id"] for run in r.json()] == [str(failed.id)]


def test_project_id_is_required(owner_api):
    r = owner_api.get("/api/migrations")
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert "projectId" in r.json()["details"]


@pytest.mark.parametrize("query", ["projectId=nope", "projectId=", "status=RUNNING"])
def test_a_bad_project_id_is_a_validation_error(owner_api, query):
    r = owner_api.get(f"/api/migrations?{query}")
    assert r.status_code == 400
    assert "projectId" in r.json()["details"]


def test_an_unknown_status_filter_is_a_validation_error(owner_api, project):
    r = owner_api.get(f"/api/migrations?projectId={project.id}&status=DONE")
    assert r.status_code == 400
    assert "status" in r.json()["details"]


def test_outsider_cannot_list_another_tenants_runs(outsider_api, project, make_run):
    make_run("RUNNING")
    theirs = outsider_api.get(f"/api/migrations?projectId={project.id}")
    missing = outsider_api.get(f"/api/migrations?projectId={uuid.uuid4()}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["code"] == "PROJECT_NOT_FOUND"


# --------------------------------------------------------------------------- status
def test_it_reports_the_status_in_the_seed_shape(teammate_api, make_run):
    run = make_run(
        "RUNNING",
        total_count=5000,
        success_count=2341,
        failure_count=3,
        progress_percent=47,
        current_phase=2,
    )
    r = teammate_api.get(f"/api/migrations/{run.id}/status")
    assert r.status_code == 200
    body = r.json()
    assert {
        "id",
        "status",
        "totalItems",
        "successCount",
        "failureCount",
        "skippedCount",
        "progressPercent",
        "currentPhase",
        "startedAt",
    } <= set(body)
    assert (body["totalItems"], body["successCount"], body["failureCount"]) == (5000, 2341, 3)
    assert (body["progressPercent"], body["currentPhase"]) == (47, 2)


@pytest.mark.parametrize("suffix", ["status", "items", "report", "crosswalk.csv"])
def test_another_tenants_run_answers_like_a_missing_one(outsider_api, make_run, suffix):
    run = make_run("RUNNING")
    theirs = outsider_api.get(f"/api/migrations/{run.id}/{suffix}")
    missing = outsider_api.get(f"/api/migrations/{uuid.uuid4()}/{suffix}")
    malformed = outsider_api.get(f"/api/migrations/not-a-uuid/{suffix}")
    assert theirs.status_code == missing.status_code == malformed.status_code == 404
    assert theirs.json() == missing.json() == malformed.json()
    assert theirs.json()["code"] == "MIGRATION_NOT_FOUND"


# --------------------------------------------------------------------------- pause, resume, cancel
def test_pause_answers_paused_and_sets_the_control_flag(owner_api, make_run):
    run = make_run("RUNNING")
    r = owner_api.post(f"/api/migrations/{run.id}/pause")
    assert r.status_code == 200
    assert r.json() == {"id": str(run.id), "status": "PAUSED"}
    run.refresh_from_db()
    assert (run.status, run.control) == ("PAUSED", "pause")


@pytest.mark.parametrize("status", ["PENDING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"])
def test_pausing_a_run_that_is_not_running_is_refused(owner_api, make_run, status):
    run = make_run(status)
    r = owner_api.post(f"/api/migrations/{run.id}/pause")
    assert r.status_code == 400
    assert r.json()["code"] == "MIGRATION_NOT_RUNNING"


def test_resume_answers_running_and_clears_the_flag(owner_api, make_run):
    run = make_run("PAUSED", control="pause")
    r = owner_api.post(f"/api/migrations/{run.id}/resume")
    assert r.status_code == 200
    assert r.json() == {"id": str(run.id), "status": "RUNNING"}
    run.refresh_from_db()
    assert (run.status, run.control) == ("RUNNING", "none")


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "COMPLETED", "PARTIAL", "CANCELLED"])
def test_resuming_a_run_that_is_not_paused_is_refused(owner_api, make_run, status):
    run = make_run(status)
    r = owner_api.post(f"/api/migrations/{run.id}/resume")
    assert r.status_code == 400
    assert r.json()["code"] == "MIGRATION_NOT_PAUSED"


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "PAUSED"])
def test_cancel_answers_cancelled(owner_api, make_run, status):
    run = make_run(status)
    r = owner_api.post(f"/api/migrations/{run.id}/cancel")
    assert r.status_code == 200
    assert r.json() == {"id": str(run.id), "status": "CANCELLED"}
    run.refresh_from_db()
    assert (run.status, run.control) == ("CANCELLED", "cancel")
    assert run.finished_at is not None


@pytest.mark.parametrize("status", ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"])
def test_cancelling_a_finished_run_is_refused(owner_api, make_run, status):
    run = make_run(status)
    r = owner_api.post(f"/api/migrations/{run.id}/cancel")
    assert r.status_code == 400
    assert r.json()["code"] == "MIGRATION_FINISHED"


@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_outsider_cannot_control_another_tenants_run(outsider_api, make_run, action):
    run = make_run("RUNNING" if action != "resume" else "PAUSED")
    r = outsider_api.post(f"/api/migrations/{run.id}/{action}")
    assert r.status_code == 404
    assert r.json()["code"] == "MIGRATION_NOT_FOUND"
    before = run.status
    run.refresh_from_db()
    assert run.status == before


def test_pause_then_resume_then_cancel(teammate_api, make_run):
    run = make_run("RUNNING")
    assert teammate_api.post(f"/api/migrations/{run.id}/pause").json()["status"] == "PAUSED"
    assert teammate_api.post(f"/api/migrations/{run.id}/resume").json()["status"] == "RUNNING"
    assert teammate_api.post(f"/api/migrations/{run.id}/cancel").json()["status"] == "CANCELLED"
    assert teammate_api.get(f"/api/migrations/{run.id}/status").json()["status"] == "CANCELLED"


def test_control_endpoints_refuse_get(owner_api, make_run):
    run = make_run("RUNNING")
    r = owner_api.get(f"/api/migrations/{run.id}/pause")
    assert r.status_code == 405
    assert r.json()["code"] == "METHOD_NOT_ALLOWED"


# --------------------------------------------------------------------------- items
def _items(run, n, status="CREATED"):
    from migrations_app.models import RunItem

    RunItem.objects.bulk_create(
        RunItem(
            run=run,
            ado_id=1000 + i,
            ado_type="Bug",
            ado_url=f"https://dev.azure.com/x/_apis/wit/workItems/{1000 + i}",
            jira_key=f"PROJ-{i}",
            jira_url=f"https://acme.atlassian.net/browse/PROJ-{i}",
            status=status,
        )
        for i in range(n)
    )


def test_it_pages_items(owner_api, make_run):
    run = make_run("RUNNING")
    _items(run, 120)
    r = owner_api.get(f"/api/migrations/{run.id}/items?page_size=50&page=2")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 120
    assert len(body["results"]) == 50
    assert body["results"][0]["adoId"] == 1050
    assert set(body["results"][0]) == {
        "adoId",
        "adoType",
        "adoUrl",
        "jiraKey",
        "jiraUrl",
        "status",
        "error",
        "attempts",
        "updatedAt",
    }
    assert "page=3" in body["next"] and "page" in body["previous"]


def test_page_size_is_capped_at_500(owner_api, make_run):
    run = make_run("RUNNING")
    _items(run, 600)
    assert (
        len(owner_api.get(f"/api/migrations/{run.id}/items?page_size=10000").json()["results"])
        == 500
    )


def test_it_filters_items_by_status(owner_api, make_run):
    from migrations_app.models import RunItem

    run = make_run("PARTIAL")
    _items(run, 3)
    RunItem.objects.create(
        run=run, ado_id=9, ado_type="Task", status="FAILED", error="400: bad field"
    )
    body = owner_api.get(f"/api/migrations/{run.id}/items?status=FAILED").json()
    assert [i["adoId"] for i in body["results"]] == [9]
    assert body["results"][0]["jiraKey"] is None
    assert body["results"][0]["error"] == "400: bad field"


def test_an_unknown_item_status_is_a_validation_error(owner_api, make_run):
    run = make_run("RUNNING")
    r = owner_api.get(f"/api/migrations/{run.id}/items?status=WEIRD")
    assert r.status_code == 400
    assert "status" in r.json()["details"]


@pytest.mark.parametrize("page", ["999", "abc", "0", "-1"])
def test_a_page_out_of_range_is_404_in_shape(owner_api, make_run, page):
    run = make_run("RUNNING")
    _items(run, 3)
    r = owner_api.get(f"/api/migrations/{run.id}/items?page={page}")
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"


# --------------------------------------------------------------------------- crosswalk
def test_the_crosswalk_lists_every_item_the_project_has_migrated(owner_api, project, make_run):
    from migrations_app.models import LedgerEntry, RunItem

    first = make_run("PARTIAL")
    RunItem.objects.create(
        run=first,
        ado_id=1,
        ado_type="Epic",
        ado_url="https://a/1",
        jira_key="PROJ-1",
        status="CREATED",
    )
    RunItem.objects.create(
        run=first, ado_id=2, ado_type="Bug", ado_url="https://a/2", status="FAILED"
    )
    second = make_run("RUNNING")
    RunItem.objects.create(
        run=second,
        ado_id=2,
        ado_type="Bug",
        ado_url="https://a/2",
        jira_key="PROJ-2",
        status="CREATED",
    )
    RunItem.objects.create(
        run=second,
        ado_id=1,
        ado_type="Epic",
        ado_url="https://a/1",
        jira_key="PROJ-1",
        status="UPDATED",
    )
    LedgerEntry.objects.create(project=project, ado_id=1, jira_key="PROJ-1", jira_id="10001")
    LedgerEntry.objects.create(project=project, ado_id=2, jira_key="PROJ-2", jira_id="10002")

    r = owner_api.get(f"/api/migrations/{first.id}/crosswalk.csv")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert rows[0] == ["ado_id", "ado_type", "ado_url", "jira_key", "jira_url", "status"]
    assert rows[1:] == [
        [
            "1",
            "Epic",
            "https://a/1",
            "PROJ-1",
            "https://acme.atlassian.net/browse/PROJ-1",
            "UPDATED",
        ],
        [
            "2",
            "Bug",
            "https://a/2",
            "PROJ-2",
            "https://acme.atlassian.net/browse/PROJ-2",
            "CREATED",
        ],
    ]


def test_the_crosswalk_of_a_fresh_project_is_just_the_header(owner_api, make_run):
    run = make_run("PENDING")
    r = owner_api.get(f"/api/migrations/{run.id}/crosswalk.csv", HTTP_ACCEPT="text/csv")
    assert (
        b"".join(r.streaming_content).decode().strip()
        == "ado_id,ado_type,ado_url,jira_key,jira_url,status"
    )


def test_crosswalk_errors_are_json_even_when_csv_is_asked(owner_api):
    r = owner_api.get(f"/api/migrations/{uuid.uuid4()}/crosswalk.csv", HTTP_ACCEPT="text/csv")
    assert r.status_code == 404
    assert r.json()["code"] == "MIGRATION_NOT_FOUND"


# --------------------------------------------------------------------------- report
def test_it_serves_the_report_with_run_metadata(owner_api, make_run):
    report = {
        "mappings": {"types": {"Feature": {"to": "Epic", "source": "override"}}},
        "problems": [],
    }
    run = with_report(make_run("COMPLETED", current_phase=6), report)
    r = owner_api.get(f"/api/migrations/{run.id}/report")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == str(run.id)
    assert body["status"] == "COMPLETED"
    assert body["report"] == report
    assert body["phases"]["1"] == "discover and plan"


def test_the_report_is_null_until_the_engine_writes_it(owner_api, make_run):
    run = make_run("PENDING")
    assert owner_api.get(f"/api/migrations/{run.id}/report").json()["report"] is None


# --------------------------------------------------------------------------- unknown URLs
@pytest.mark.parametrize("url", ["/api/nothing", "/api/migrations/x/y/z", "/api/projects/a/b"])
def test_unknown_api_urls_are_404_in_shape(owner_api, url):
    r = owner_api.get(url)
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"


def test_unknown_api_urls_are_404_in_shape_without_auth(anon_api, db):
    r = anon_api.post("/api/nothing/here", {}, format="json")
    assert r.status_code == 404
    assert set(r.json()) == {"code", "message", "details"}
