"""The run state machine and the lease, service by service, on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from migrations_app import services
from migrations_app.services import Claim

pytestmark = pytest.mark.django_db


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_a_pending_run_is_claimed_once(make_run):
    run = make_run("PENDING")
    assert services.run_claim(run.pk, "w1") is Claim.CLAIMED
    assert services.run_claim(run.pk, "w2") is Claim.HELD
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == ("RUNNING", "w1")
    assert run.started_at is not None and run.lease_expires_at > timezone.now()


def test_a_redelivered_task_of_the_same_owner_reclaims(make_run):
    run = make_run("PENDING")
    services.run_claim(run.pk, "w1")
    assert services.run_claim(run.pk, "w1") is Claim.CLAIMED


def test_an_expired_lease_is_taken_over(make_run):
    run = make_run("RUNNING", lease_owner="dead", lease_expires_at=ago(5), started_at=ago(60))
    assert services.run_claim(run.pk, "w2") is Claim.CLAIMED
    run.refresh_from_db()
    assert run.lease_owner == "w2"
    assert run.started_at < ago(30)  # kept from the first claim
    assert services.run_heartbeat(run.pk, "dead") is False


@pytest.mark.parametrize("status", ["PAUSED", "COMPLETED", "CANCELLED", "FAILED"])
def test_paused_and_finished_runs_are_not_claimed(make_run, status):
    run = make_run(status)
    assert services.run_claim(run.pk, "w1") is Claim.GONE


def test_a_missing_run_is_gone():
    import uuid

    assert services.run_claim(uuid.uuid4(), "w1") is Claim.GONE


def test_a_run_waits_while_a_stopping_run_of_its_project_holds_a_lease(make_run):
    make_run(
        "CANCELLED",
        lease_owner="old",
        lease_expires_at=timezone.now() + timedelta(seconds=30),
    )
    run = make_run("PENDING")
    assert services.run_claim(run.pk, "w1") is Claim.PROJECT_BUSY


def test_finish_records_the_outcome_and_releases_the_lease(make_run):
    run = make_run("PENDING")
    services.run_claim(run.pk, "w1")
    assert (
        services.run_finish(run.pk, "w1", status="PARTIAL", reason="", claimed_at=ago(1))
        == "PARTIAL"
    )
    run.refresh_from_db()
    assert (run.status, run.lease_owner, run.progress_percent) == ("PARTIAL", "", 100)
    assert run.finished_at is not None


def test_a_worker_that_lost_its_lease_cannot_finish(make_run):
    run = make_run("RUNNING", lease_owner="w2", lease_expires_at=timezone.now())
    assert services.run_finish(run.pk, "w1", status="COMPLETED", claimed_at=ago(1)) is None
    run.refresh_from_db()
    assert run.status == "RUNNING"


def test_a_cancel_during_the_run_wins_over_a_late_completed(make_run, owner_api):
    run = make_run("PENDING")
    services.run_claim(run.pk, "w1")
    owner_api.post(f"/api/migrations/{run.pk}/cancel")
    assert services.run_finish(run.pk, "w1", status="COMPLETED", claimed_at=ago(1)) == "CANCELLED"
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == ("CANCELLED", "")


def test_the_pause_acknowledgement_releases_the_lease(make_run, owner_api):
    run = make_run("PENDING")
    services.run_claim(run.pk, "w1")
    owner_api.post(f"/api/migrations/{run.pk}/pause")
    assert services.run_finish(run.pk, "w1", status="PAUSED", claimed_at=ago(1)) == "PAUSED"
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == ("PAUSED", "")


def test_a_resume_while_the_worker_was_stopping_gives_the_run_back_to_the_queue(
    make_run, owner_api
):
    run = make_run("PENDING")
    claimed_at = timezone.now()
    services.run_claim(run.pk, "w1")
    owner_api.post(f"/api/migrations/{run.pk}/pause")
    owner_api.post(f"/api/migrations/{run.pk}/resume")
    assert services.run_finish(run.pk, "w1", status="PAUSED", claimed_at=claimed_at) == "RUNNING"
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == ("RUNNING", "")
    assert services.run_claim(run.pk, "w2") is Claim.CLAIMED


def test_fail_records_the_reason(make_run):
    run = make_run("RUNNING", lease_owner="w1")
    assert services.run_fail(run.pk, reason="AuthError: 401", owner="w1")
    run.refresh_from_db()
    assert (run.status, run.status_reason, run.lease_owner) == ("FAILED", "AuthError: 401", "")


def test_the_sweep_takes_stale_runs_and_only_them(make_run, project, tenant):
    from migrations_app.models import Project

    def other(name):
        return Project.objects.create(tenant=tenant, name=name)

    dead = make_run("RUNNING", lease_owner="dead", lease_expires_at=ago(10), dispatched_at=ago(600))
    lost = make_run("PENDING", of=other("b"), dispatched_at=ago(600))
    fresh = make_run("PENDING", of=other("c"), dispatched_at=timezone.now())
    live = make_run(
        "RUNNING",
        of=other("d"),
        lease_owner="w",
        dispatched_at=ago(600),
        lease_expires_at=timezone.now() + timedelta(seconds=30),
    )
    make_run("PAUSED", of=other("e"), dispatched_at=ago(600))
    swept = set(services.sweep_stale_runs())
    assert swept == {dead.pk, lost.pk}
    assert fresh.pk not in swept and live.pk not in swept
    # Dispatched again just now: the next sweep leaves them alone.
    assert services.sweep_stale_runs() == []


def test_incremental_changed_since_ignores_failed_and_cancelled_runs(make_run, project):
    from migrations_app.services import _last_finished_start

    make_run("CANCELLED", started_at=ago(10), finished_at=ago(5))
    assert _last_finished_start(project) is None
    done = make_run("COMPLETED", started_at=ago(100), finished_at=ago(50))
    assert _last_finished_start(project) == done.started_at
