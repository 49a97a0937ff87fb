"""Enqueueing for real: dispatch failures and the concurrent-start race (committed rows)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.fixtures.platform import start_body

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, project_id, body=None):
    return client.post(
        f"/api/migrations/project/{project_id}/start", body or start_body(), format="json"
    )


def test_a_broker_that_cannot_take_the_task_is_502_and_the_run_is_left_failed(
    owner_api, project, allow_private_targets, broker_down
):
    from migrations_app.models import MigrationRun

    r = start(owner_api, project.id)
    assert r.status_code == 502
    body = r.json()
    assert body["code"] == "ENGINE_DISPATCH_FAILED"
    run = MigrationRun.objects.get(pk=body["details"]["runId"])
    assert run.status == "FAILED"
    assert run.status_reason.startswith("ENGINE_DISPATCH_FAILED")
    assert run.finished_at is not None
    # Not left active: the next attempt is another 502, not MIGRATION_ALREADY_RUNNING.
    assert start(owner_api, project.id).status_code == 502


def test_a_resume_the_broker_cannot_take_leaves_the_run_failed(owner_api, make_run, broker_down):
    run = make_run("PAUSED", control="pause")
    r = owner_api.post(f"/api/migrations/{run.id}/resume")
    assert r.status_code == 502
    assert r.json()["code"] == "ENGINE_DISPATCH_FAILED"
    run.refresh_from_db()
    assert run.status == "FAILED"
    assert "ENGINE_DISPATCH_FAILED" in run.status_reason


def test_a_start_enqueues_the_run_after_commit(owner_api, project, allow_private_targets):
    from migrations_app.models import MigrationRun

    r = start(owner_api, project.id)
    assert r.status_code == 200
    run = MigrationRun.objects.get(pk=r.json()["id"])
    assert run.status == "PENDING"
    assert run.dispatched_at is not None


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a real race needs concurrent writers: SQLite serialises every write "
    "(run with DATABASE_URL=postgres://... to exercise it)",
)
def test_two_concurrent_starts_give_one_run_and_one_409(api, owner, tenant, allow_private_targets):
    from django.db import connections

    from migrations_app.models import MigrationRun, Project

    for round_ in range(5):
        project = Project.objects.create(tenant=tenant, name=f"race-{round_}")
        barrier = threading.Barrier(2)
        results: list[int] = []

        def racer(barrier: threading.Barrier, project_id, results: list[int]) -> None:
            client = api(owner)
            barrier.wait()
            try:
                results.append(start(client, project_id).status_code)
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=racer, args=(barrier, project.id, results)) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) == [200, 409], results
        assert MigrationRun.objects.filter(project=project).count() == 1


def test_a_rollback_the_broker_cannot_take_is_502_and_left_failed(owner_api, make_run, broker_down):
    from migrations_app.models import MigrationRun

    run = make_run("COMPLETED")
    r = owner_api.post(f"/api/migrations/{run.id}/rollback", {"dry_run": False}, format="json")
    assert r.status_code == 502
    assert r.json()["code"] == "ENGINE_DISPATCH_FAILED"
    made = MigrationRun.objects.get(pk=r.json()["details"]["runId"])
    assert made.type == "ROLLBACK" and made.status == "FAILED"
