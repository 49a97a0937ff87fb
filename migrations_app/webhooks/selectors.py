"""Reads, scoped by tenant through the project: another tenant's ids answer like missing ones."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.models import Project, Tenant, Webhook, WebhookAttempt, WebhookDelivery
from migrations_app.selectors import _as_uuid, project_get


def webhook_list(*, project: Project) -> QuerySet[Webhook]:
    return Webhook.objects.filter(project=project).order_by("created_at")


def webhook_get(*, tenant: Tenant, project_id: Any, webhook_id: Any) -> Webhook:
    """PROJECT_NOT_FOUND for a project the tenant does not have, then WEBHOOK_NOT_FOUND."""
    project = project_get(tenant=tenant, project_id=project_id)
    pk = _as_uuid(webhook_id)
    webhook = Webhook.objects.filter(project=project, pk=pk).first() if pk else None
    if webhook is None:
        raise ApplicationError(ErrorCode.WEBHOOK_NOT_FOUND)
    return webhook


def delivery_list(*, webhook: Webhook, state: str | None = None) -> QuerySet[WebhookDelivery]:
    """The webhook's deliveries, newest first, each with its attempts in order."""
    deliveries = WebhookDelivery.objects.filter(webhook=webhook)
    if state:
        deliveries = deliveries.filter(state=state)
    attempts = WebhookAttempt.objects.order_by("number")
    return (
        deliveries.select_related("event")
        .prefetch_related(Prefetch("attempt_log", queryset=attempts))
        .order_by("-created_at", "-pk")
    )
