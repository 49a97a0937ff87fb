"""Helpers for the webhook tests (no tests here)."""

from __future__ import annotations

import json
import time
from typing import Any

from migrations_app.webhooks import signing


def add_webhook(api: Any, project: Any, url: str, **fields: Any) -> dict[str, Any]:
    """POST a webhook through the API; asserts 201, returns the JSON (with ``secret``)."""
    r = api.post(f"/api/projects/{project.id}/webhooks", {"url": url, **fields}, format="json")
    assert r.status_code == 201, r.content
    return dict(r.json())


def deliveries_of(webhook_id: str) -> list[Any]:
    """The webhook's deliveries in the order their events happened."""
    from migrations_app.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(webhook_id=webhook_id).select_related("event")
    return sorted(rows, key=lambda d: (d.event.sequence if d.event else 0, d.created_at))


def payloads_of(webhook_id: str) -> list[dict[str, Any]]:
    return [json.loads(d.body) for d in deliveries_of(webhook_id)]


def announced(webhook_id: str) -> list[tuple[str, str]]:
    """(event, status) of each delivery, in order."""
    return [(p["event"], p["status"]) for p in payloads_of(webhook_id)]


def drive(delivery_id: Any, timeout: float = 30.0) -> None:
    """Make the delivery's attempts in this process, as the task would, waiting the backoff."""
    from migrations_app.webhooks.services import delivery_attempt

    deadline = time.monotonic() + timeout
    while (delay := delivery_attempt(delivery_id)) is not None:
        assert time.monotonic() + delay < deadline, "the delivery did not settle in time"
        time.sleep(delay)


def valid(received: Any, secret: str, **kwargs: Any) -> bool:
    header = received.headers.get(signing.HEADER, "")
    return signing.verify(secret, received.body, header, **kwargs)
