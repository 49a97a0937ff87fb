"""Real Celery workers on the test database: take-over after SIGKILL, pause/resume,
cancel, and the start-up sweep. The engine is a slow stand-in driving the real
ports (tests.platform.slowengine); the same take-over against the real engine
and the sandboxes is in test_worker_real_engine.py."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.fixtures.platform import start_body, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ITEMS = 30
SLOW = {
    "MIGRATOR_ENGINE_PACKAGE": "tests.platform.slowengine",
    "SLOWENGINE_ITEMS": str(ITEMS),
    "SLOWENGINE_DELAY": "0.1",
}


def _run(run_id):
    from migrations_app.models import MigrationRun

    return MigrationRun.objects.get(pk=run_id)


def _done_items(run_id) -> int:
    from migrations_app.models import RunItem

    return RunItem.objects.filter(run_id=run_id, status="CREATED").count()


def _start(client, project) -> str:
    r = client.post(f"/api/migrations/project/{project.id}/start", start_body(), format="json")
    assert r.status_code == 200, r.content
    return r.json()["id"]


def test_a_killed_workers_run_is_taken_over_and_finishes(
    owner_api, project, celery_worker, allow_private_targets
):
    from migrations_app.models import LedgerEntry

    first = celery_worker(**SLOW)
    run_id = _start(owner_api, project)
    wait_for(lambda: _done_items(run_id) >= 3, timeout=30)
    before = _run(run_id)
    assert before.status == "RUNNING"
    dead_owner = before.lease_owner
    assert dead_owner

    first.kill()
    assert _run(run_id).status == "RUNNING"  # nobody told the database
    assert _run(run_id).lease_owner == dead_owner

    celery_worker(**SLOW)
    owners: set[str] = set()

    def finished() -> bool:
        run = _run(run_id)
        if run.lease_owner:
            owners.add(run.lease_owner)
        return run.status not in ("PENDING", "RUNNING")

    wait_for(finished, timeout=90, interval=0.05)
    after = _run(run_id)
    assert after.status == "COMPLETED", (after.status, after.status_reason)
    assert owners - {dead_owner}, "another worker should have held the lease"
    assert after.lease_owner == "" and after.lease_expires_at is None
    assert _done_items(run_id) == ITEMS
    assert LedgerEntry.objects.filter(project=project).count() == ITEMS
    assert (after.success_count, after.progress_percent) == (ITEMS, 100)


def test_pause_stops_the_worker_and_resume_finishes_the_run(
    owner_api, project, celery_worker, allow_private_targets
):
    celery_worker(**SLOW)
    run_id = _start(owner_api, project)
    wait_for(lambda: _done_items(run_id) >= 2, timeout=30)

    paused_at = timezone.now()
    assert owner_api.post(f"/api/migrations/{run_id}/pause").json()["status"] == "PAUSED"
    # The engine acknowledges at its next checkpoint and releases the lease.
    wait_for(lambda: _run(run_id).lease_owner == "", timeout=5)
    released_after = (timezone.now() - paused_at).total_seconds()
    assert released_after < 2.0
    frozen = _done_items(run_id)
    assert frozen < ITEMS
    time.sleep(0.5)
    assert _done_items(run_id) == frozen  # nothing written while paused
    assert _run(run_id).status == "PAUSED"

    assert owner_api.post(f"/api/migrations/{run_id}/resume").json()["status"] == "RUNNING"
    wait_for(lambda: _run(run_id).status == "COMPLETED", timeout=60)
    assert _done_items(run_id) == ITEMS


def test_cancel_stops_the_worker_and_keeps_the_run_cancelled(
    owner_api, project, celery_worker, allow_private_targets
):
    celery_worker(**SLOW)
    run_id = _start(owner_api, project)
    wait_for(lambda: _done_items(run_id) >= 2, timeout=30)
    assert owner_api.post(f"/api/migrations/{run_id}/cancel").json()["status"] == "CANCELLED"
    wait_for(lambda: _run(run_id).lease_owner == "", timeout=5)
    run = _run(run_id)
    assert run.status == "CANCELLED"
    assert _done_items(run_id) < ITEMS
    # The project is free again.
    assert (
        owner_api.post(
            f"/api/migrations/project/{project.id}/start", start_body(), format="json"
        ).status_code
        == 200
    )


def test_the_start_up_sweep_picks_up_a_run_whose_message_was_lost(project, make_run, celery_worker):
    stale = timezone.now() - timedelta(minutes=10)
    run = make_run("PENDING", dispatched_at=stale)  # enqueued by nobody
    celery_worker(**{**SLOW, "SLOWENGINE_ITEMS": "3", "SLOWENGINE_DELAY": "0.01"})
    wait_for(lambda: _run(run.id).status == "COMPLETED", timeout=30)


def test_an_engine_failure_marks_the_run_failed_with_the_reason(
    owner_api, project, celery_worker, allow_private_targets
):
    celery_worker(MIGRATOR_ENGINE_PACKAGE="tests.platform.no_such_engine")
    run_id = _start(owner_api, project)
    wait_for(lambda: _run(run_id).status == "FAILED", timeout=30)
    run = _run(run_id)
    assert "No module named" in run.status_reason
    assert run.lease_owner == ""
