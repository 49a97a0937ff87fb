"""Writes: a project's webhooks, and the attempts that deliver their events.

A delivery is ``pending`` until an attempt gets a 2xx (``delivered``) or it is
given up (``failed``): after a refusal that another try would not change (a 4xx
other than 429, a 3xx, the outgoing-call guard), or after
``MIGRATOR_WEBHOOK_MAX_ATTEMPTS`` attempts. Connection errors, timeouts, 429 and
5xx are tried again after ``MIGRATOR_WEBHOOK_BACKOFF_SECONDS``, doubling each time
(a longer ``Retry-After`` wins, up to ten minutes). Each attempt is claimed with
a compare-and-set, so a duplicate task message never sends twice.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from engine.netpolicy import AddressPolicy
from migrations_app import crypto
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.models import (
    FINISHED_STATUSES,
    DeliveryState,
    MigrationRun,
    Project,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
)
from migrations_app.webhooks import announce, signing, transport

logger = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_PROJECT = 20
RETRY_AFTER_CAP_SECONDS = 600.0
USER_AGENT = "ado-jira-migrator-webhooks/1"


# --------------------------------------------------------------------------- webhooks
@dataclass(frozen=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str | None  # the generated secret, shown once; None when the caller chose it


def webhook_create(
    *, project: Project, url: str, secret: str | None = None, enabled: bool = True
) -> CreatedWebhook:
    """Create a webhook (the URL already passed the guard); generate the secret if none."""
    generated = None if secret else signing.generate_secret()
    with transaction.atomic():
        # Lock the project so two creates cannot both pass the limit.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        if Webhook.objects.filter(project=project).count() >= MAX_WEBHOOKS_PER_PROJECT:
            raise ApplicationError(
                ErrorCode.VALIDATION_ERROR,
                details={"body": [f"A project has at most {MAX_WEBHOOKS_PER_PROJECT} webhooks."]},
            )
        try:
            with transaction.atomic():
                webhook = Webhook.objects.create(
                    project=project,
                    url=url,
                    secret_encrypted=crypto.encrypt(secret or generated or ""),
                    enabled=enabled,
                )
        except IntegrityError as exc:
            raise _duplicate_url(url) from exc
    return CreatedWebhook(webhook, generated)


def webhook_update(
    *,
    webhook: Webhook,
    url: str | None = None,
    secret: str | None = None,
    enabled: bool | None = None,
) -> Webhook:
    """Change the URL, replace the secret, or enable/disable; disabling drops nothing
    already pending (those deliveries fail at their next attempt, unsent)."""
    fields = ["updated_at"]
    if url is not None:
        webhook.url = url
        fields.append("url")
    if secret is not None:
        webhook.secret_encrypted = crypto.encrypt(secret)
        fields.append("secret_encrypted")
    if enabled is not None:
        webhook.enabled = enabled
        fields.append("enabled")
    try:
        with transaction.atomic():
            webhook.save(update_fields=fields)
    except IntegrityError as exc:
        raise _duplicate_url(webhook.url) from exc
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete the webhook with its delivery log."""
    webhook.delete()


def webhook_ping(*, webhook: Webhook) -> WebhookDelivery:
    """Queue a ``ping`` delivery (sent even while the webhook is disabled)."""
    now = timezone.now()
    delivery_id = uuid.uuid4()
    payload = {
        "event": WebhookEventType.PING.value,
        "webhookId": str(webhook.pk),
        "projectId": str(webhook.project_id),
        "occurredAt": announce.timestamp(now),
    }
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            id=delivery_id,
            webhook=webhook,
            type=WebhookEventType.PING,
            body=announce.delivery_body(payload, delivery_id),
            next_attempt_at=now,
            dispatched_at=now,
        )
        transaction.on_commit(lambda: announce.enqueue(delivery_id))
    return delivery


def _duplicate_url(url: str) -> ApplicationError:
    return ApplicationError(
        ErrorCode.VALIDATION_ERROR,
        details={"url": [f"The project already has a webhook for {url}."]},
    )


# --------------------------------------------------------------------------- attempts
def delivery_attempt(delivery_id: uuid.UUID | str) -> float | None:
    """Make the delivery's next attempt when it is due.

    Returns the seconds until the next attempt should be made, or None when there
    is nothing more to do (delivered, given up, unknown, or another attempt of it
    is in flight). The Celery task's one call.
    """
    now = timezone.now()
    pk = _as_uuid(delivery_id)
    if pk is None:
        return None
    delivery = (
        WebhookDelivery.objects.filter(pk=pk, state=DeliveryState.PENDING)
        .select_related("webhook")
        .first()
    )
    if delivery is None:
        return None
    if delivery.next_attempt_at > now:
        return (delivery.next_attempt_at - now).total_seconds()
    webhook = delivery.webhook
    if not webhook.enabled and delivery.type != WebhookEventType.PING:
        _give_up(delivery, "not sent: the webhook is disabled")
        return None
    number = delivery.attempts + 1
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery.pk,
            state=DeliveryState.PENDING,
            attempts=delivery.attempts,
            next_attempt_at__lte=now,
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(attempts=number, locked_until=now + _attempt_budget(), updated_at=now)
    )
    if not claimed:
        return None
    outcome = _send(webhook, delivery)
    return _record_attempt(delivery, number, webhook.url, outcome)


def _send(webhook: Webhook, delivery: WebhookDelivery) -> transport.Outcome:
    body = delivery.body.encode("utf-8")
    try:
        secret = crypto.decrypt(webhook.secret_encrypted)
    except InvalidToken:
        return transport.Outcome(
            None,
            "not sent: the secret cannot be decrypted with FIELD_ENCRYPTION_KEY; set a new secret",
            retryable=False,
            started_at=timezone.now(),
            duration_ms=0,
        )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Migrator-Event": delivery.type,
        "X-Migrator-Delivery": str(delivery.pk),
        signing.HEADER: signing.sign(secret, body),
    }
    return transport.post(
        webhook.url,
        body,
        headers,
        policy=address_policy(),
        timeout=settings.MIGRATOR_WEBHOOK_TIMEOUT,
    )


def _record_attempt(
    delivery: WebhookDelivery, number: int, url: str, outcome: transport.Outcome
) -> float | None:
    now = timezone.now()
    fields: dict[str, Any] = {
        "locked_until": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "updated_at": now,
    }
    delay: float | None = None
    if outcome.delivered:
        fields.update(state=DeliveryState.DELIVERED, finished_at=now)
    elif outcome.retryable and number < settings.MIGRATOR_WEBHOOK_MAX_ATTEMPTS:
        delay = backoff_seconds(number, outcome.retry_after)
        fields.update(next_attempt_at=now + timedelta(seconds=delay), dispatched_at=now)
    else:
        fields.update(state=DeliveryState.FAILED, finished_at=now)
    try:
        with transaction.atomic():
            WebhookAttempt.objects.create(
                delivery=delivery,
                number=number,
                url=url,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                started_at=outcome.started_at,
                finished_at=outcome.finished_at,
            )
            WebhookDelivery.objects.filter(pk=delivery.pk, attempts=number).update(**fields)
    except IntegrityError:  # the webhook (or its project) was deleted meanwhile
        logger.info("webhook delivery %s is gone; attempt %d not recorded", delivery.pk, number)
        return None
    if not outcome.delivered:
        logger.info(
            "webhook delivery %s attempt %d: %s%s",
            delivery.pk,
            number,
            outcome.error,
            f"; next in {delay:.1f} s" if delay is not None else "; given up",
        )
    return delay


def _give_up(delivery: WebhookDelivery, reason: str) -> None:
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        state=DeliveryState.FAILED, last_error=reason, finished_at=now, updated_at=now
    )


def backoff_seconds(attempts_made: int, retry_after: float | None = None) -> float:
    """The wait before attempt ``attempts_made + 1``: doubling, with up to 10 % jitter."""
    base = float(settings.MIGRATOR_WEBHOOK_BACKOFF_SECONDS)
    delay = base * 2 ** (attempts_made - 1) * (1 + random.random() * 0.1)
    if retry_after:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


def address_policy() -> AddressPolicy:
    """The connect-time guard: the rules the URL passed when it was saved."""
    allow = settings.MIGRATOR_ALLOW_PRIVATE_TARGETS
    return AddressPolicy(
        allow_private=allow, allow_http=allow, dns_timeout=settings.MIGRATOR_DNS_TIMEOUT
    )


def _attempt_budget() -> timedelta:
    """Longer than any attempt can take (resolution, connect, read), with a margin."""
    timeout = float(settings.MIGRATOR_WEBHOOK_TIMEOUT)
    return timedelta(seconds=settings.MIGRATOR_DNS_TIMEOUT + min(timeout, 5.0) + timeout + 30)


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


# --------------------------------------------------------------------------- sweep
def sweep_deliveries(limit: int = 100) -> list[uuid.UUID]:
    """Re-enqueue pending deliveries whose task is overdue (lost message, broker down
    when it was enqueued); announce the end of finished runs that no one announced
    (a worker that died between a cancel and its report). Safe from several workers."""
    now = timezone.now()
    before = now - timedelta(seconds=settings.MIGRATOR_REDISPATCH_SECONDS)
    _announce_unreported_ends(before, now, limit)
    stale = (
        Q(state=DeliveryState.PENDING, next_attempt_at__lt=before)
        & (Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=before))
    )
    swept = []
    for pk in WebhookDelivery.objects.filter(stale).values_list("pk", flat=True)[:limit]:
        if WebhookDelivery.objects.filter(stale, pk=pk).update(dispatched_at=now):
            announce.enqueue(pk)
            swept.append(pk)
    return swept


def _announce_unreported_ends(before: Any, now: Any, limit: int) -> None:
    events = WebhookEvent.objects.filter(run=OuterRef("pk"))
    runs = (
        MigrationRun.objects.filter(status__in=FINISHED_STATUSES, finished_at__lt=before)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Exists(events))  # runs announced since webhooks exist, not older ones
        .exclude(Exists(events.filter(type=WebhookEventType.RUN_FINISHED)))
    )
    for run_id in runs.values_list("pk", flat=True)[:limit]:
        announce.run_finished(run_id)
