"""Delivery attempts against a real receiver on loopback, made in this process the
way the task makes them (``delivery_attempt``, waiting out each backoff)."""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.utils import timezone

from engine import netpolicy
from tests.webhooks.support import add_webhook, deliveries_of, drive, valid

pytestmark = pytest.mark.django_db

SECRET = "whsec_delivery-test-secret-42"


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.MIGRATOR_WEBHOOK_BACKOFF_SECONDS = 0.2
    settings.MIGRATOR_WEBHOOK_MAX_ATTEMPTS = 4
    settings.MIGRATOR_WEBHOOK_TIMEOUT = 1.0


def _announce_pause(api: Any, make_run: Any) -> Any:
    run = make_run("RUNNING")
    assert api.post(f"/api/migrations/{run.id}/pause").status_code == 200
    return run


def _only_delivery(webhook: dict[str, Any]) -> Any:
    (delivery,) = deliveries_of(webhook["id"])
    return delivery


def _attempts(delivery: Any) -> list[tuple[int | None, str]]:
    return [(a.status_code, a.error) for a in delivery.attempt_log.order_by("number")]


@pytest.mark.usefixtures("allow_private_targets")
def test_a_failing_receiver_is_retried_with_backoff_until_it_accepts(
    owner_api, project, make_run, receiver
):
    url = receiver.script("/flaky", 500, "close", 200)
    webhook = add_webhook(owner_api, project, url, secret=SECRET)
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)

    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 3
    (first, e1), (second, e2), (third, e3) = _attempts(delivery)
    assert (first, second, third) == (500, None, 200)
    assert e1.startswith("HTTP 500") and "receiver says no" in e1
    assert e2.startswith("connection failed") and e3 == ""
    got = receiver.of("/flaky")
    assert len(got) == 3
    assert len({r.body for r in got}) == 1  # the same body at every attempt
    assert all(r.delivery_id == str(delivery.id) for r in got)
    assert json.loads(got[0].body)["deliveryId"] == str(delivery.id)
    assert all(valid(r, SECRET, tolerance=5) for r in got)  # each signed when sent
    assert not any(valid(r, "whsec_not-the-right-secret") for r in got)
    gaps = [b.at - a.at for a, b in pairwise(got)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps  # the wait doubles


@pytest.mark.usefixtures("allow_private_targets")
def test_a_receiver_answering_4xx_is_not_retried(owner_api, project, make_run, receiver):
    webhook = add_webhook(owner_api, project, receiver.script("/bad", 400))
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 1
    assert _attempts(delivery) == [(400, "HTTP 400: receiver says no")]
    assert len(receiver.of("/bad")) == 1


@pytest.mark.usefixtures("allow_private_targets")
def test_it_gives_up_after_the_last_attempt(owner_api, project, make_run, receiver):
    webhook = add_webhook(owner_api, project, receiver.script("/down", 503))
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 4
    assert [code for code, _ in _attempts(delivery)] == [503, 503, 503, 503]


@pytest.mark.usefixtures("allow_private_targets")
def test_a_timeout_is_retried(owner_api, project, make_run, receiver):
    webhook = add_webhook(owner_api, project, receiver.script("/slow", ("sleep", 2.0), 200))
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == "delivered"
    (code, error), ok = _attempts(delivery)
    assert code is None and error.startswith("timed out") and ok == (200, "")


@pytest.mark.usefixtures("allow_private_targets")
def test_a_redirect_is_not_followed(owner_api, project, make_run, receiver):
    elsewhere = receiver.url("/elsewhere")
    webhook = add_webhook(
        owner_api, project, receiver.script("/moved", (302, {"Location": elsewhere}))
    )
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == "failed"
    assert _attempts(delivery)[0][1].startswith(f"HTTP 302 (redirect to {elsewhere}")
    assert receiver.of("/elsewhere") == []


@pytest.mark.usefixtures("allow_private_targets")
def test_retry_after_is_honoured_when_longer_than_the_backoff(
    owner_api, project, make_run, receiver
):
    webhook = add_webhook(
        owner_api, project, receiver.script("/busy", (429, {"Retry-After": "1"}), 200)
    )
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)
    first, second = receiver.of("/busy")
    assert second.at - first.at >= 1.0


@pytest.mark.usefixtures("allow_private_targets")
def test_a_duplicate_message_sends_nothing_twice(owner_api, project, make_run, receiver):
    from migrations_app.models import WebhookDelivery
    from migrations_app.webhooks.services import delivery_attempt

    webhook = add_webhook(owner_api, project, receiver.url("/once"))
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    # Another attempt in flight holds the delivery: this message does nothing.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() + timedelta(minutes=1)
    )
    assert delivery_attempt(delivery.id) is None
    assert receiver.of("/once") == []
    WebhookDelivery.objects.filter(pk=delivery.pk).update(locked_until=None)
    assert delivery_attempt(delivery.id) is None  # delivered
    assert delivery_attempt(delivery.id) is None  # a redelivered message: nothing left
    assert len(receiver.of("/once")) == 1


@pytest.mark.usefixtures("allow_private_targets")
def test_pending_deliveries_of_a_disabled_webhook_are_given_up_unsent(
    owner_api, project, make_run, receiver
):
    webhook = add_webhook(owner_api, project, receiver.url("/off"))
    _announce_pause(owner_api, make_run)
    r = owner_api.patch(
        f"/api/projects/{project.id}/webhooks/{webhook['id']}", {"enabled": False}, format="json"
    )
    assert r.status_code == 200
    delivery = _only_delivery(webhook)
    drive(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 0
    assert "disabled" in delivery.last_error
    assert receiver.of("/off") == []


@pytest.mark.usefixtures("allow_private_targets")
def test_a_new_secret_signs_the_next_attempts(owner_api, project, make_run, receiver):
    webhook = add_webhook(owner_api, project, receiver.url("/rotate"), secret=SECRET)
    new_secret = "whsec_the-rotated-secret-0001"
    owner_api.patch(
        f"/api/projects/{project.id}/webhooks/{webhook['id']}",
        {"secret": new_secret},
        format="json",
    )
    _announce_pause(owner_api, make_run)
    drive(_only_delivery(webhook).id)
    (got,) = receiver.of("/rotate")
    assert valid(got, new_secret) and not valid(got, SECRET)


@pytest.mark.usefixtures("allow_private_targets")
def test_a_ping_is_delivered_signed(owner_api, project, receiver):
    webhook = add_webhook(owner_api, project, receiver.url("/ping"), secret=SECRET)
    r = owner_api.post(f"/api/projects/{project.id}/webhooks/{webhook['id']}/test")
    assert r.status_code == 202, r.content
    assert r.json()["event"] == "ping" and r.json()["state"] == "pending"
    drive(r.json()["id"])
    (got,) = receiver.of("/ping")
    assert valid(got, SECRET)
    body = json.loads(got.body)
    assert body["event"] == "ping" and body["webhookId"] == webhook["id"]
    assert got.headers["X-Migrator-Event"] == "ping"
    assert got.headers["Content-Type"] == "application/json"


# --------------------------------------------------------------------------- the guard
PUBLIC = ipaddress.ip_address("93.184.216.34")
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_connect_time(
    owner_api, project, make_run, receiver, monkeypatch, settings
):
    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = False
    answers = {"hooks.example": PUBLIC}
    monkeypatch.setattr(netpolicy, "lookup", lambda host: [answers[host]])
    url = f"https://hooks.example:{receiver.port}/hook"
    webhook = add_webhook(owner_api, project, url)  # the check on save sees a public address
    answers["hooks.example"] = LOOPBACK  # DNS rebinding
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)

    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 1  # not retried
    ((code, error),) = _attempts(delivery)
    assert code is None
    assert "outgoing-call guard" in error and "127.0.0.1" in error and "hooks.example" in error
    assert receiver.connections == 0  # not one byte reached it
    r = owner_api.get(f"/api/projects/{project.id}/webhooks/{webhook['id']}/deliveries")
    (logged,) = r.json()["results"]
    assert logged["state"] == "failed" and logged["attempts"][0]["statusCode"] is None
    assert "127.0.0.1" in logged["attempts"][0]["error"]


def test_plain_http_is_refused_at_connect_time_once_private_targets_are_off(
    owner_api, project, make_run, receiver, settings
):
    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = True
    webhook = add_webhook(owner_api, project, receiver.url("/plain"))
    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = False
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    drive(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == "failed"
    assert "plain http" in delivery.last_error and receiver.connections == 0


def test_backoff_doubles_and_a_long_retry_after_is_capped(settings):
    from migrations_app.webhooks.services import backoff_seconds

    settings.MIGRATOR_WEBHOOK_BACKOFF_SECONDS = 20
    waits = [backoff_seconds(n) for n in range(1, 6)]
    for wait, base in zip(waits, [20, 40, 80, 160, 320], strict=True):
        assert base <= wait <= base * 1.1
    assert sum(waits) <= 620 * 1.1  # six attempts in about ten minutes (620 s + jitter)
    assert backoff_seconds(1, retry_after=90) == 90
    assert backoff_seconds(1, retry_after=86_400) == 600


@pytest.mark.usefixtures("allow_private_targets")
def test_overdue_deliveries_are_enqueued_again_by_the_sweep(owner_api, project, make_run, settings):
    from migrations_app.models import WebhookDelivery
    from migrations_app.webhooks.services import sweep_deliveries

    settings.MIGRATOR_REDISPATCH_SECONDS = 60
    webhook = add_webhook(owner_api, project, "http://127.0.0.1:9/lost")
    _announce_pause(owner_api, make_run)
    delivery = _only_delivery(webhook)
    assert sweep_deliveries() == []  # just enqueued: not overdue
    long_ago = timezone.now() - timedelta(minutes=5)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=long_ago, dispatched_at=long_ago
    )
    assert sweep_deliveries() == [delivery.pk]
    # dispatched again just now (to the test queue, which the worker fixture purges)
    assert sweep_deliveries() == []
