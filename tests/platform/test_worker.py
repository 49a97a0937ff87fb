"""Real Celery workers on the test database running the real engine against the
sandboxes: take-over after SIGKILL, pause/resume, cancel, the start-up sweep, and
failures (credentials refused, a rollback of a deleted run). The sandboxes add a
per-request latency so that a run lasts long enough to be interrupted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.e2e.support import body_for
from tests.fixtures.platform import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]

ITEMS = 40
LATENCY_MS = 25  # per request, both sandboxes: a run of ITEMS takes several seconds
FINISHED = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED")


def _run(run_id: Any) -> Any:
    from migrations_app.models import MigrationRun

    return MigrationRun.objects.get(pk=run_id)


def _created(run_id: Any) -> int:
    from migrations_app.models import RunItem

    return RunItem.objects.filter(run_id=run_id, status="CREATED").count()


def _start(client: Any, project: Any, boxes: Any, **options: Any) -> str:
    body = body_for(boxes, migrate_attachments=False, **options)
    r = client.post(f"/api/migrations/project/{project.id}/start", body, format="json")
    assert r.status_code == 200, r.content
    return str(r.json()["id"])


def _slow_boxes(make_sandboxes: Any) -> Any:
    return make_sandboxes(items=ITEMS, latency_ms=LATENCY_MS)


def _assert_every_item_settled(run: Any) -> None:
    """Each planned item has one row, none left PENDING, and the counters match the rows."""
    from migrations_app.models import RunItem

    rows = RunItem.objects.filter(run_id=run.pk)
    assert run.total_count > 0 and rows.count() == run.total_count
    assert not rows.filter(status="PENDING").exists()
    assert run.success_count == rows.filter(status__in=("CREATED", "UPDATED")).count() > 0


def _assert_one_issue_per_ledger_entry(boxes: Any, project: Any) -> None:
    from migrations_app.models import LedgerEntry

    keys = list(LedgerEntry.objects.filter(project=project).values_list("jira_key", flat=True))
    assert len(keys) == len(set(keys))
    assert len(boxes.jira.state.issues) == len(keys), "one Jira issue per migrated ADO item"


def test_a_killed_workers_run_is_taken_over_and_finishes(
    owner_api, project, celery_worker, make_sandboxes
):
    boxes = _slow_boxes(make_sandboxes)
    first = celery_worker()
    run_id = _start(owner_api, project, boxes)
    wait_for(lambda: _created(run_id) >= 1, timeout=120)
    before = _run(run_id)
    assert before.status == "RUNNING"
    dead_owner = before.lease_owner
    assert dead_owner

    first.kill()
    assert _run(run_id).status == "RUNNING"  # nobody told the database
    assert _run(run_id).lease_owner == dead_owner

    celery_worker()
    owners: set[str] = set()

    def finished() -> bool:
        run = _run(run_id)
        if run.lease_owner:
            owners.add(run.lease_owner)
        return run.status in FINISHED

    wait_for(finished, timeout=240, interval=0.05)
    after = _run(run_id)
    assert after.status == "COMPLETED", (after.status, after.status_reason)
    assert owners - {dead_owner}, "another worker should have held the lease"
    assert after.lease_owner == "" and after.lease_expires_at is None
    _assert_every_item_settled(after)
    assert after.progress_percent == 100
    _assert_one_issue_per_ledger_entry(boxes, project)


def test_pause_releases_the_run_and_resume_finishes_it(
    owner_api, project, celery_worker, make_sandboxes
):
    boxes = _slow_boxes(make_sandboxes)
    celery_worker()
    run_id = _start(owner_api, project, boxes)
    wait_for(lambda: _created(run_id) >= 1, timeout=120)

    assert owner_api.post(f"/api/migrations/{run_id}/pause").json()["status"] == "PAUSED"
    # The engine acknowledges at its next checkpoint and releases the lease.
    wait_for(lambda: _run(run_id).lease_owner == "", timeout=30, interval=0.02)
    paused = _run(run_id)
    assert paused.status == "PAUSED"
    assert paused.lease_expires_at is None

    assert owner_api.post(f"/api/migrations/{run_id}/resume").json()["status"] == "RUNNING"
    wait_for(lambda: _run(run_id).status in FINISHED, timeout=240)
    after = _run(run_id)
    assert after.status == "COMPLETED", (after.status, after.status_reason)
    _assert_every_item_settled(after)
    _assert_one_issue_per_ledger_entry(boxes, project)


def test_cancel_stops_the_worker_and_keeps_the_run_cancelled(
    owner_api, project, celery_worker, make_sandboxes
):
    boxes = _slow_boxes(make_sandboxes)
    celery_worker()
    run_id = _start(owner_api, project, boxes)
    wait_for(lambda: _run(run_id).status == "RUNNING", timeout=120)
    assert owner_api.post(f"/api/migrations/{run_id}/cancel").json()["status"] == "CANCELLED"
    wait_for(lambda: _run(run_id).lease_owner == "", timeout=30, interval=0.02)
    run = _run(run_id)
    assert run.status == "CANCELLED"
    assert _created(run_id) < ITEMS
    # The project is free again.
    assert (
        owner_api.post(
            f"/api/migrations/project/{project.id}/start", body_for(boxes), format="json"
        ).status_code
        == 200
    )


def test_the_start_up_sweep_picks_up_a_run_whose_message_was_lost(
    project, celery_worker, make_sandboxes
):
    from migrations_app import crypto
    from migrations_app.models import MigrationRun

    boxes = make_sandboxes(items=3)
    run = MigrationRun.objects.create(  # enqueued by nobody, long ago
        tenant=project.tenant,
        project=project,
        type="FULL",
        status="PENDING",
        source={"base_url": boxes.ado_url, "org": boxes.org, "project": boxes.project},
        target={
            "base_url": boxes.jira_url,
            "email": boxes.email,
            "project_key": boxes.project_key,
        },
        options={"migrate_attachments": False},
        pat_encrypted=crypto.encrypt(boxes.pat),
        api_token_encrypted=crypto.encrypt(boxes.api_token),
        dispatched_at=timezone.now() - timedelta(minutes=10),
    )
    celery_worker()
    wait_for(lambda: _run(run.id).status in FINISHED, timeout=120)
    assert _run(run.id).status == "COMPLETED", _run(run.id).status_reason
    assert _created(run.id) == 3


def test_refused_jira_credentials_fail_the_run_with_the_reason_and_no_secret(
    owner_api, project, celery_worker, make_sandboxes
):
    boxes = make_sandboxes(items=3)
    celery_worker()
    body = body_for(boxes)
    wrong = "not-the-token-0123456789"
    body["enginePayload"]["target"]["api_token"] = wrong
    r = owner_api.post(f"/api/migrations/project/{project.id}/start", body, format="json")
    assert r.status_code == 200, r.content
    run_id = r.json()["id"]
    wait_for(lambda: _run(run_id).status in FINISHED, timeout=120)
    run = _run(run_id)
    assert run.status == "FAILED"
    assert "credentials refused" in run.status_reason
    assert wrong not in run.status_reason
    assert run.lease_owner == ""
    assert len(boxes.jira.state.issues) == 0  # nothing was written


def test_an_engine_failure_marks_the_run_failed_with_the_reason(project, make_run, celery_worker):
    from migrations_app import dispatch

    # A rollback whose run was deleted: the worker refuses it before any request.
    run = make_run("PENDING", type="ROLLBACK", rollback_of=None)
    celery_worker()
    dispatch.send_run(run.id)
    wait_for(lambda: _run(run.id).status == "FAILED", timeout=60)
    run = _run(run.id)
    assert "no longer exists" in run.status_reason
    assert run.lease_owner == ""
