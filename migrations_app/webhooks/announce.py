"""A run's status changes and its end, turned into webhook events and deliveries.

Called from :mod:`migrations_app.events` (``publish_status``, ``publish_done``), the
one place every status change is announced, whichever process makes it (the web
process for start, pause, resume and cancel; a worker for running, paused and the
finished states). The API and the engine sometimes both report one change, so:

- a status is recorded only when it differs from the run's last recorded status,
  and ``run.finished`` at most once per run (the run row is locked meanwhile,
  and unique constraints back it up): each change is delivered once;
- the event and its deliveries are written in the caller's transaction (they
  exist exactly when the change does), and the delivery tasks are enqueued when
  it commits, never inside it;
- a failure here is logged and never breaks the transition; a delivery whose
  task could not be enqueued is picked up by the sweep.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from migrations_app import dispatch
from migrations_app.models import (
    MigrationRun,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
)

logger = logging.getLogger(__name__)

STAT_KEYS = ("created", "updated", "skipped", "failed")


def status_changed(run_id: uuid.UUID | str, status: str) -> None:
    """Announce ``status`` (any case) unless it is the run's last announced status."""
    _record(run_id, WebhookEventType.RUN_STATUS, status=status.lower())


def run_finished(run_id: uuid.UUID | str, stats: Mapping[str, int] | None = None) -> None:
    """Announce the end of the run once, with ``stats`` (the engine's) or the stored counts."""
    _record(run_id, WebhookEventType.RUN_FINISHED, stats=stats)


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the API renders times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def delivery_body(payload: Mapping[str, Any], delivery_id: uuid.UUID) -> str:
    """The JSON sent: ``event`` and ``deliveryId`` first, then the event's fields."""
    ordered = {"event": payload["event"], "deliveryId": str(delivery_id), **payload}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def enqueue(delivery_id: uuid.UUID | str, countdown: float | None = None) -> None:
    """Send the delivery's task; a broker that refuses it leaves the delivery to the sweep."""
    try:
        dispatch.send_webhook_delivery(delivery_id, countdown=countdown)
    except Exception:
        logger.warning(
            "could not enqueue webhook delivery %s; the sweep will", delivery_id, exc_info=True
        )


# --------------------------------------------------------------------------- recording
def _record(
    run_id: uuid.UUID | str,
    kind: WebhookEventType,
    *,
    status: str = "",
    stats: Mapping[str, int] | None = None,
) -> None:
    try:
        with transaction.atomic():
            created = _record_locked(run_id, kind, status=status, stats=stats)
    except DatabaseError:
        logger.exception("could not record webhook event %s of run %s", kind.value, run_id)
        return
    for delivery_id in created:
        transaction.on_commit(partial(enqueue, delivery_id))


def _record_locked(
    run_id: uuid.UUID | str,
    kind: WebhookEventType,
    *,
    status: str,
    stats: Mapping[str, int] | None,
) -> list[uuid.UUID]:
    # The lock orders concurrent announcements of one run (PostgreSQL; SQLite
    # serialises writing transactions anyway).
    run = MigrationRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        return []
    events = WebhookEvent.objects.filter(run=run)
    last_status = (
        events.filter(type=WebhookEventType.RUN_STATUS)
        .order_by("-sequence")
        .values_list("status", flat=True)
        .first()
    )
    if kind == WebhookEventType.RUN_STATUS:
        if status == last_status:
            return []
    else:
        if events.filter(type=WebhookEventType.RUN_FINISHED).exists():
            return []
        status = last_status or run.status.lower()
    sequence = (events.order_by("-sequence").values_list("sequence", flat=True).first() or 0) + 1
    now = timezone.now()
    payload = {
        "event": kind.value,
        "runId": str(run.pk),
        "projectId": str(run.project_id),
        "runType": run.type,
        "dryRun": run.dry_run,
        "status": status,
        "sequence": sequence,
        "stats": _stats(run, stats),
        "totalItems": run.total_count,
        "occurredAt": timestamp(now),
    }
    event = WebhookEvent.objects.create(
        run=run, sequence=sequence, type=kind, status=status, payload=payload, occurred_at=now
    )
    return _fan_out(event, now)


def _stats(run: MigrationRun, given: Mapping[str, int] | None) -> dict[str, int]:
    if given is not None:
        return {key: int(given.get(key, 0)) for key in STAT_KEYS}
    return {
        "created": run.success_count - run.updated_count,
        "updated": run.updated_count,
        "skipped": run.skipped_count,
        "failed": run.failure_count,
    }


def _fan_out(event: WebhookEvent, now: datetime) -> list[uuid.UUID]:
    webhooks = Webhook.objects.filter(project_id=event.run.project_id, enabled=True)
    deliveries = []
    for webhook_id in webhooks.order_by("created_at").values_list("pk", flat=True):
        delivery_id = uuid.uuid4()
        deliveries.append(
            WebhookDelivery(
                id=delivery_id,
                webhook_id=webhook_id,
                event=event,
                type=event.type,
                body=delivery_body(event.payload, delivery_id),
                next_attempt_at=now,
                dispatched_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    return [d.id for d in deliveries]
