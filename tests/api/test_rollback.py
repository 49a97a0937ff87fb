"""POST /api/migrations/{runId}/rollback: what may be rolled back, the body, the new run."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db


def rollback(client, run_id, body=None):
    return client.post(
        f"/api/migrations/{run_id}/rollback",
        {"dry_run": False} if body is None else body,
        format="json",
    )


@pytest.mark.parametrize("status", ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"])
def test_it_starts_a_rollback_run_of_a_finished_run(owner_api, make_run, status):
    from migrations_app.models import MigrationRun

    run = make_run(status)
    r = rollback(owner_api, run.pk, {"dry_run": True})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["type"] == "ROLLBACK" and body["dryRun"] is True
    assert body["rollbackOf"] == str(run.pk) and body["projectId"] == str(run.project_id)
    assert body["status"] == "PENDING" and body["id"] != str(run.pk)
    made = MigrationRun.objects.get(pk=body["id"])
    assert made.target == run.target and made.api_token_encrypted == run.api_token_encrypted
    assert made.rollback_of_id == run.pk
    listed = owner_api.get(f"/api/migrations?projectId={run.project_id}").json()
    assert listed[0]["id"] == body["id"] and listed[0]["rollbackOf"] == str(run.pk)
    assert listed[1]["rollbackOf"] is None


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "PAUSED"])
def test_an_active_run_cannot_be_rolled_back(owner_api, make_run, status):
    run = make_run(status)
    r = rollback(owner_api, run.pk)
    assert r.status_code == 409
    assert r.json()["code"] == "ROLLBACK_NOT_ALLOWED"
    assert r.json()["details"] == {"runId": str(run.pk), "status": status}


def test_a_rollback_and_a_dry_run_cannot_be_rolled_back(owner_api, make_run):
    done = make_run("COMPLETED", type="ROLLBACK")
    dry = make_run("COMPLETED", dry_run=True)
    for run in (done, dry):
        r = rollback(owner_api, run.pk)
        assert r.status_code == 409 and r.json()["code"] == "ROLLBACK_NOT_ALLOWED", r.content


def test_another_active_run_of_the_project_blocks_a_rollback(owner_api, make_run):
    finished = make_run("COMPLETED")
    make_run("RUNNING")
    r = rollback(owner_api, finished.pk)
    assert r.status_code == 409 and r.json()["code"] == "MIGRATION_ALREADY_RUNNING"


def test_a_second_rollback_waits_for_the_first_to_finish(owner_api, make_run):
    run = make_run("COMPLETED")
    assert rollback(owner_api, run.pk, {"dry_run": True}).status_code == 200
    r = rollback(owner_api, run.pk)
    assert r.status_code == 409 and r.json()["code"] == "MIGRATION_ALREADY_RUNNING"


@pytest.mark.parametrize("suffix", ["", "?x=1"])
def test_another_tenants_run_answers_like_a_missing_one(outsider_api, make_run, suffix):
    run = make_run("COMPLETED")
    for run_id in (run.pk, uuid.uuid4(), "not-a-uuid"):
        r = outsider_api.post(
            f"/api/migrations/{run_id}/rollback{suffix}", {"dry_run": True}, format="json"
        )
        assert r.status_code == 404, r.content
        assert r.json()["code"] in ("MIGRATION_NOT_FOUND", "NOT_FOUND")
    assert (
        outsider_api.post(
            f"/api/migrations/{run.pk}/rollback", {"dry_run": True}, format="json"
        ).json()["code"]
        == "MIGRATION_NOT_FOUND"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "dry_run"),
        ({"dry_run": "true"}, "dry_run"),
        ({"dry_run": 1}, "dry_run"),
        ({"dry_run": True, "dryRun": True}, "dryRun"),
        ({"dry_run": True, "force": True}, "force"),
    ],
)
def test_the_body_is_strict(owner_api, make_run, body, field):
    run = make_run("COMPLETED")
    r = rollback(owner_api, run.pk, body)
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert field in r.json()["details"]


def test_a_malformed_body_and_get_are_refused_in_shape(owner_api, make_run):
    run = make_run("COMPLETED")
    r = owner_api.post(
        f"/api/migrations/{run.pk}/rollback", "{nope", content_type="application/json"
    )
    assert r.status_code == 400 and r.json()["code"] == "PARSE_ERROR"
    r = owner_api.get(f"/api/migrations/{run.pk}/rollback")
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"


def test_the_rollback_run_is_controlled_like_any_run(owner_api, make_run):
    from migrations_app.models import MigrationRun

    run = make_run("COMPLETED")
    rb = rollback(owner_api, run.pk).json()
    MigrationRun.objects.filter(pk=rb["id"]).update(status="RUNNING")
    assert owner_api.post(f"/api/migrations/{rb['id']}/pause").json()["status"] == "PAUSED"
    assert owner_api.post(f"/api/migrations/{rb['id']}/cancel").json()["status"] == "CANCELLED"
    status = owner_api.get(f"/api/migrations/{rb['id']}/status").json()
    assert status["status"] == "CANCELLED"
    report = owner_api.get(f"/api/migrations/{rb['id']}/report").json()
    assert report["type"] == "ROLLBACK" and report["rollbackOf"] == str(run.pk)
    assert report["phases"]["3"] == "remove issues"


def test_rollback_is_not_a_start_type(owner_api, project, allow_private_targets):
    from tests.fixtures.platform import start_body

    r = owner_api.post(
        f"/api/migrations/project/{project.id}/start",
        start_body(run_type="ROLLBACK"),
        format="json",
    )
    assert r.status_code == 400 and "type" in r.json()["details"]


def test_incremental_skips_rolled_back_runs(project, make_run):
    from datetime import timedelta

    from django.utils import timezone

    from migrations_app.services import _last_finished_start

    now = timezone.now()
    first = make_run(
        "COMPLETED", started_at=now - timedelta(hours=3), finished_at=now - timedelta(hours=3)
    )
    second = make_run(
        "COMPLETED", started_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=2)
    )
    assert _last_finished_start(project) == second.started_at
    make_run(
        "COMPLETED",
        type="ROLLBACK",
        rollback_of=second,
        dry_run=True,
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(hours=1),
    )
    assert _last_finished_start(project) == second.started_at  # a dry rollback removed nothing
    make_run("COMPLETED", type="ROLLBACK", rollback_of=second, started_at=now, finished_at=now)
    assert _last_finished_start(project) == first.started_at
