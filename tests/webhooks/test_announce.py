"""Which deliveries a run's life creates: every status change once, whoever reports
it (the API, the worker's services, the engine's events), and its end once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from tests.fixtures.platform import start_body
from tests.webhooks.support import add_webhook, announced, deliveries_of, payloads_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private_targets")]

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def webhook(owner_api: Any, project: Any) -> dict[str, Any]:
    return add_webhook(owner_api, project, HOOK)


def _sink(run_id: Any) -> Any:
    from migrations_app.engine_bridge import DjangoEventSink, Scrubber

    return DjangoEventSink(run_id, Scrubber([]), min_interval=0)


def test_each_status_change_is_announced_once_whoever_reports_it(
    owner_api, project, webhook, django_capture_on_commit_callbacks
):
    from migrations_app import services

    with django_capture_on_commit_callbacks(execute=False):  # no broker needed
        r = owner_api.post(
            f"/api/migrations/project/{project.id}/start", start_body(), format="json"
        )
        run_id = r.json()["id"]
        claimed_at = timezone.now()
        assert services.run_claim(run_id, "w1") is services.Claim.CLAIMED
        _sink(run_id).status("running")  # the engine says it too
        assert owner_api.post(f"/api/migrations/{run_id}/pause").status_code == 200
        _sink(run_id).status("paused")  # the engine, once it has stopped
        assert services.run_finish(run_id, "w1", status="PAUSED", claimed_at=claimed_at)
        assert owner_api.post(f"/api/migrations/{run_id}/resume").status_code == 200
        assert services.run_claim(run_id, "w2") is services.Claim.CLAIMED  # the worker again
        _sink(run_id).status("completed")
        _sink(run_id).done({"created": 3, "skipped": 1, "failed": 0})
        services.run_finish(run_id, "w2", status="COMPLETED", claimed_at=claimed_at)

    assert announced(webhook["id"]) == [
        ("run.status", "pending"),
        ("run.status", "running"),
        ("run.status", "paused"),
        ("run.status", "running"),
        ("run.status", "completed"),
        ("run.finished", "completed"),
    ]
    payloads = payloads_of(webhook["id"])
    assert [p["sequence"] for p in payloads] == [1, 2, 3, 4, 5, 6]
    assert payloads[-1]["stats"] == {"created": 3, "updated": 0, "skipped": 1, "failed": 0}


def test_the_payload_has_the_documented_fields(owner_api, project, webhook, make_run):
    run = make_run("RUNNING", total_count=7, success_count=4, updated_count=1, skipped_count=2)
    owner_api.post(f"/api/migrations/{run.id}/pause")
    (delivery,) = deliveries_of(webhook["id"])
    (payload,) = payloads_of(webhook["id"])
    assert list(payload) == [
        "event",
        "deliveryId",
        "runId",
        "projectId",
        "runType",
        "dryRun",
        "status",
        "sequence",
        "stats",
        "totalItems",
        "occurredAt",
    ]
    assert payload["deliveryId"] == str(delivery.id)
    assert payload["runId"] == str(run.id) and payload["projectId"] == str(project.id)
    assert payload["status"] == "paused" and payload["event"] == "run.status"
    assert payload["runType"] == "FULL" and payload["dryRun"] is False
    assert payload["stats"] == {"created": 3, "updated": 1, "skipped": 2, "failed": 0}
    assert payload["totalItems"] == 7
    assert payload["occurredAt"].endswith("Z")


def test_cancelling_a_paused_run_announces_its_end_at_once(owner_api, webhook, make_run):
    run = make_run("PAUSED", success_count=2)
    assert owner_api.post(f"/api/migrations/{run.id}/cancel").status_code == 200
    assert announced(webhook["id"]) == [
        ("run.status", "cancelled"),
        ("run.finished", "cancelled"),
    ]
    assert payloads_of(webhook["id"])[-1]["stats"]["created"] == 2


def test_cancelling_a_run_a_worker_holds_leaves_the_end_to_the_engine(owner_api, webhook, make_run):
    run = make_run(
        "RUNNING", lease_owner="w1", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    owner_api.post(f"/api/migrations/{run.id}/cancel")
    assert announced(webhook["id"]) == [("run.status", "cancelled")]
    _sink(run.id).status("cancelled")
    _sink(run.id).done({"created": 5, "skipped": 0, "failed": 1})
    assert announced(webhook["id"]) == [
        ("run.status", "cancelled"),
        ("run.finished", "cancelled"),
    ]
    assert payloads_of(webhook["id"])[-1]["stats"] == {
        "created": 5,
        "updated": 0,
        "skipped": 0,
        "failed": 1,
    }


def test_a_run_that_fails_to_dispatch_announces_failed_and_its_end(webhook, make_run):
    from migrations_app import services

    run = make_run("PENDING")
    assert services.run_fail(run.id, reason="ENGINE_DISPATCH_FAILED: broker down")
    assert announced(webhook["id"]) == [("run.status", "failed"), ("run.finished", "failed")]


def test_the_end_is_announced_once_even_if_reported_twice(webhook, make_run):
    run = make_run("RUNNING")
    for _ in range(2):
        _sink(run.id).status("partial")
        _sink(run.id).done({"created": 1, "skipped": 0, "failed": 1})
    assert announced(webhook["id"]) == [("run.status", "partial"), ("run.finished", "partial")]


def test_disabled_webhooks_and_other_projects_hear_nothing(
    owner_api, project, webhook, make_run, tenant
):
    from migrations_app.models import Project

    quiet = add_webhook(owner_api, project, "http://127.0.0.1:9/quiet", enabled=False)
    other = Project.objects.create(tenant=tenant, name="Other")
    elsewhere = add_webhook(owner_api, other, "http://127.0.0.1:9/other")
    run = make_run("RUNNING")
    owner_api.post(f"/api/migrations/{run.id}/pause")
    assert announced(webhook["id"]) == [("run.status", "paused")]
    assert announced(quiet["id"]) == [] and announced(elsewhere["id"]) == []


def test_a_transition_rolled_back_announces_nothing(webhook, make_run):
    from migrations_app import events

    run = make_run("RUNNING")
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish_status(run.id, "PAUSED")
        raise RuntimeError("the transition failed")
    assert deliveries_of(webhook["id"]) == []


def test_deliveries_are_enqueued_when_the_transaction_commits(
    owner_api, webhook, make_run, django_capture_on_commit_callbacks
):
    from migrations_app.webhooks import announce

    run = make_run("RUNNING")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        owner_api.post(f"/api/migrations/{run.id}/pause")
        (delivery,) = deliveries_of(webhook["id"])  # written in the transition's transaction
    enqueued = [c.args for c in callbacks if getattr(c, "func", None) is announce.enqueue]
    assert enqueued == [(delivery.id,)]


def test_the_sweep_announces_an_end_nobody_reported(webhook, make_run, settings):
    from migrations_app.webhooks.services import sweep_deliveries

    settings.MIGRATOR_REDISPATCH_SECONDS = 0
    long_ago = timezone.now() - timedelta(minutes=5)
    run = make_run("RUNNING", lease_owner="dead-worker", lease_expires_at=long_ago)
    _sink(run.id).status("cancelled")  # a cancel, then the worker died before its report
    type(run).objects.filter(pk=run.pk).update(status="CANCELLED", finished_at=long_ago)
    sweep_deliveries()
    sweep_deliveries()
    assert announced(webhook["id"]) == [
        ("run.status", "cancelled"),
        ("run.finished", "cancelled"),
    ]


def test_runs_from_before_webhooks_are_not_announced_by_the_sweep(webhook, make_run, settings):
    from migrations_app.webhooks.services import sweep_deliveries

    settings.MIGRATOR_REDISPATCH_SECONDS = 0
    make_run("COMPLETED", finished_at=timezone.now() - timedelta(days=3))
    sweep_deliveries()
    assert deliveries_of(webhook["id"]) == []
