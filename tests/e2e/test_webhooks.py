"""Webhooks end to end: runs started and controlled through the public API, a real
Celery worker delivering to a receiver on loopback, the sandboxes over HTTP.

Three endpoints hear each run: one that accepts, one that fails twice (a 500, then
a dropped connection) before accepting, one that answers 400. Each status change
(the stream's ``status`` events) arrives once as ``run.status``, the end once as
``run.finished``, signed with a fresh timestamp; the delivery log (API and
database) shows every attempt.
"""

from __future__ import annotations

import json
import time
from itertools import pairwise
from typing import Any

import pytest

from tests.e2e.support import events_of, run_to_end, start_run, status_of, wait_final
from tests.fixtures.platform import wait_for
from tests.webhooks.support import add_webhook, valid

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]

BACKOFF = 0.5
WORKER_ENV = {
    "MIGRATOR_WEBHOOK_BACKOFF_SECONDS": str(BACKOFF),
    "MIGRATOR_WEBHOOK_MAX_ATTEMPTS": "4",
    "MIGRATOR_WEBHOOK_TIMEOUT": "5",
}
SECRETS = {
    "ok": "whsec_e2e-accepting-receiver-01",
    "flaky": "whsec_e2e-flaky-receiver-00002",
    "bad": "whsec_e2e-refusing-receiver-03",
}
DELIVERY_TIMEOUT = 120.0


def _hooks(api: Any, project: Any, receiver: Any) -> dict[str, dict[str, Any]]:
    scripts = {"ok": (200,), "flaky": (500, "close", 200), "bad": (400,)}
    return {
        name: add_webhook(api, project, receiver.script(f"/{name}", *answers), secret=SECRETS[name])
        for name, answers in scripts.items()
    }


def _log(api: Any, project: Any, hook: dict[str, Any]) -> list[dict[str, Any]]:
    """The webhook's whole delivery log through the API, oldest event first."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        r = api.get(
            f"/api/projects/{project.id}/webhooks/{hook['id']}/deliveries?page={page}&page_size=2"
        )
        assert r.status_code == 200, r.content
        out.extend(r.json()["results"])
        if not r.json()["next"]:
            return sorted(out, key=lambda d: d["payload"].get("sequence", 0))
        page += 1


def _settled(api: Any, project: Any, hooks: dict[str, dict[str, Any]], count: int) -> Any:
    """Wait until every webhook has ``count`` deliveries, none pending."""

    def done() -> bool:
        logs = [_log(api, project, hook) for hook in hooks.values()]
        return all(len(log) == count and all(d["state"] != "pending" for d in log) for log in logs)

    wait_for(done, timeout=DELIVERY_TIMEOUT, interval=0.5)
    return {name: _log(api, project, hook) for name, hook in hooks.items()}


def _bodies(receiver: Any, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.of(path)]


def _check_receivers(receiver: Any, logs: dict[str, Any], expected: list[tuple[str, str]]):
    # The accepting receiver: each announcement once, in the run's order.
    ok = receiver.of("/ok")
    assert [(b["event"], b["status"]) for b in _bodies(receiver, "/ok")] == expected
    assert len({r.delivery_id for r in ok}) == len(ok)
    for got in ok:
        assert valid(got, SECRETS["ok"], tolerance=300)
        stamp = int(got.headers["X-Migrator-Signature"].split(",")[0].removeprefix("t="))
        assert abs(got.at - stamp) < 30  # signed when sent, not when the change happened
        assert not valid(got, SECRETS["flaky"])  # another webhook's secret does not verify
        assert got.headers["X-Migrator-Delivery"] == json.loads(got.body)["deliveryId"]
    assert all(d["state"] == "delivered" and d["attemptCount"] == 1 for d in logs["ok"])

    # The flaky receiver: every delivery tried three times, the same body each time.
    flaky = receiver.of("/flaky")
    assert len(flaky) == 3 * len(expected)
    for delivery in logs["flaky"]:
        assert delivery["state"] == "delivered" and delivery["attemptCount"] == 3
        codes = [a["statusCode"] for a in delivery["attempts"]]
        assert codes == [500, None, 200], delivery
        assert delivery["attempts"][0]["error"].startswith("HTTP 500")
        assert delivery["attempts"][1]["error"].startswith("connection failed")
        assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3]
        sent = [r for r in flaky if r.delivery_id == delivery["id"]]
        assert len({r.body for r in sent}) == 1
        assert all(valid(r, SECRETS["flaky"]) for r in sent)
        gaps = [b.at - a.at for a, b in pairwise(sent)]
        assert gaps[0] >= BACKOFF * 0.9 and gaps[1] >= 2 * BACKOFF * 0.9, gaps

    # The refusing receiver: one attempt each, recorded as failed.
    assert len(receiver.of("/bad")) == len(expected)
    for delivery in logs["bad"]:
        assert delivery["state"] == "failed" and delivery["attemptCount"] == 1
        assert delivery["attempts"][0]["statusCode"] == 400 and delivery["lastStatusCode"] == 400


def _check_database(hooks: dict[str, dict[str, Any]], expected_count: int) -> None:
    from migrations_app.models import WebhookAttempt, WebhookDelivery

    per_state = {
        name: sorted(
            WebhookDelivery.objects.filter(webhook_id=hook["id"]).values_list("state", flat=True)
        )
        for name, hook in hooks.items()
    }
    assert per_state == {
        "ok": ["delivered"] * expected_count,
        "flaky": ["delivered"] * expected_count,
        "bad": ["failed"] * expected_count,
    }
    flaky_attempts = WebhookAttempt.objects.filter(delivery__webhook_id=hooks["flaky"]["id"])
    assert flaky_attempts.count() == 3 * expected_count
    assert sorted(flaky_attempts.values_list("status_code", flat=True), key=str) == sorted(
        [500, None, 200] * expected_count, key=str
    )


def test_a_full_run_is_announced_once_per_change_signed_and_retried(
    owner_api, project, celery_worker, make_sandboxes, receiver
):
    boxes = make_sandboxes(items=8, seed=3)
    hooks = _hooks(owner_api, project, receiver)
    worker = celery_worker(**WORKER_ENV)
    final = run_to_end(owner_api, project, boxes)
    assert final["status"] == "COMPLETED", final

    expected = [
        ("run.status", "pending"),
        ("run.status", "running"),
        ("run.status", "completed"),
        ("run.finished", "completed"),
    ]
    logs = _settled(owner_api, project, hooks, len(expected))
    _check_receivers(receiver, logs, expected)
    _check_database(hooks, len(expected))

    # The same changes as the stream's status events, and the done event's counts.
    stream = [e["status"] for e in events_of(final["id"], "status")]
    assert [s for e, s in expected if e == "run.status"] == stream
    finished = _bodies(receiver, "/ok")[-1]
    (done,) = events_of(final["id"], "done")
    assert (
        finished["stats"]
        == {"created": 0, "updated": 0, "skipped": 0, "failed": 0} | (done["stats"])
    )
    assert finished["stats"]["created"] == final["successCount"] - final["updatedCount"]
    assert finished["totalItems"] == final["totalItems"] > 0
    assert {b["runId"] for b in _bodies(receiver, "/ok")} == {final["id"]}
    assert {b["projectId"] for b in _bodies(receiver, "/ok")} == {str(project.id)}
    assert [b["sequence"] for b in _bodies(receiver, "/ok")] == [1, 2, 3, 4]
    for secret in SECRETS.values():
        assert secret not in worker.log()


def _released(run_id: str) -> bool:
    from migrations_app.models import MigrationRun

    return MigrationRun.objects.get(pk=run_id).lease_owner == ""


def _held(run_id: str) -> bool:
    from migrations_app.models import MigrationRun

    return MigrationRun.objects.get(pk=run_id).lease_owner != ""


def test_pause_resume_and_cancel_through_the_api_are_announced(
    owner_api, project, celery_worker, make_sandboxes, receiver
):
    boxes = make_sandboxes(items=30, seed=1)
    boxes.jira.knobs.update({"latency_ms": 40})
    hooks = _hooks(owner_api, project, receiver)
    celery_worker(**WORKER_ENV)
    run_id = start_run(owner_api, project, boxes)["id"]

    wait_for(lambda: status_of(owner_api, run_id)["currentPhase"] >= 2, timeout=180, interval=0.05)
    assert owner_api.post(f"/api/migrations/{run_id}/pause").status_code == 200
    wait_for(lambda: _released(run_id), timeout=30, interval=0.05)
    time.sleep(1)  # the engine's own "paused" report is in: it must not be sent again
    assert owner_api.post(f"/api/migrations/{run_id}/resume").status_code == 200
    wait_for(lambda: _held(run_id), timeout=60, interval=0.05)
    assert owner_api.post(f"/api/migrations/{run_id}/cancel").status_code == 200
    assert wait_final(owner_api, run_id)["status"] == "CANCELLED"

    expected = [
        ("run.status", "pending"),
        ("run.status", "running"),
        ("run.status", "paused"),
        ("run.status", "running"),
        ("run.status", "cancelled"),
        ("run.finished", "cancelled"),
    ]
    logs = _settled(owner_api, project, hooks, len(expected))
    _check_receivers(receiver, logs, expected)
    _check_database(hooks, len(expected))
    stream = [e["status"] for e in events_of(run_id, "status")]
    assert stream == ["pending", "running", "paused", "running", "cancelled"]
