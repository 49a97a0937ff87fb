"""Webhook inputs (validate) and outputs (render). The secret is write-only: it
is accepted on create and update, and shown only once, when the server generated it."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from migrations_app import netguard
from migrations_app.api.serializers import (
    ClosedSerializer,
    StrictBooleanField,
    StrictCharField,
    _check_text,
)
from migrations_app.models import DeliveryState, WebhookDelivery, WebhookEventType

URL_HELP = (
    "Where the events are POSTed: an https URL of a host with public addresses only "
    "(unless the server allows private targets), without credentials, query or fragment. "
    "Checked again at every connection."
)
SECRET_HELP = (
    "Write-only signing secret (16 to 200 characters). Left out on create, the server "
    "generates one and returns it once, in the create response only."
)


def guarded_webhook_url(value: str) -> str:
    url = value.strip()
    _check_text(url)
    if any(ch.isspace() for ch in url):
        raise serializers.ValidationError("Enter a valid URL.")
    try:
        netguard.check_url(url)
    except netguard.UnsafeTarget as exc:
        raise serializers.ValidationError(str(exc)) from exc
    return url  # as given: a receiver's path may need its trailing slash


class _WebhookFieldsIn(ClosedSerializer):
    def validate_url(self, value: str) -> str:
        return guarded_webhook_url(value)

    def validate_secret(self, value: str) -> str:
        _check_text(value)
        return value


class WebhookCreateIn(_WebhookFieldsIn):
    url = StrictCharField(max_length=2000, help_text=URL_HELP)
    secret = StrictCharField(
        min_length=16,
        max_length=200,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text=SECRET_HELP,
    )
    enabled = StrictBooleanField(required=False, default=True)


class WebhookPatchIn(_WebhookFieldsIn):
    url = StrictCharField(max_length=2000, required=False, help_text=URL_HELP)
    secret = StrictCharField(
        min_length=16,
        max_length=200,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text="Write-only: replaces the signing secret (16 to 200 characters).",
    )
    enabled = StrictBooleanField(required=False)


class DeliveriesQueryIn(serializers.Serializer):
    state = serializers.ChoiceField(choices=DeliveryState.choices, required=False)


# --------------------------------------------------------------------------- outputs
class WebhookOut(serializers.Serializer):
    id = serializers.UUIDField()
    projectId = serializers.UUIDField(source="project_id")
    url = serializers.CharField()
    enabled = serializers.BooleanField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class WebhookCreatedOut(WebhookOut):
    secret = serializers.CharField(
        required=False,
        help_text="Present only when the server generated the secret: shown here once, "
        "never again. Verify each delivery's X-Migrator-Signature with it.",
    )


class AttemptOut(serializers.Serializer):
    number = serializers.IntegerField(help_text="1 for the first attempt.")
    url = serializers.CharField(help_text="The URL this attempt was sent to.")
    statusCode = serializers.IntegerField(
        source="status_code",
        allow_null=True,
        help_text="The receiver's HTTP status; null "
        "when no answer came (connection refused or dropped, timeout, refused by the guard).",
    )
    error = serializers.CharField(allow_blank=True, help_text="Empty for a 2xx.")
    durationMs = serializers.IntegerField(source="duration_ms")
    startedAt = serializers.DateTimeField(source="started_at")
    finishedAt = serializers.DateTimeField(source="finished_at")


class DeliveryOut(serializers.Serializer):
    id = serializers.UUIDField(help_text="The body's deliveryId (the same at every attempt).")
    webhookId = serializers.UUIDField(source="webhook_id")
    event = serializers.ChoiceField(choices=WebhookEventType.choices, source="type")
    runId = serializers.SerializerMethodField()
    state = serializers.ChoiceField(
        choices=DeliveryState.choices,
        help_text="pending (more attempts to come), delivered (a 2xx) or failed (given up).",
    )
    attemptCount = serializers.IntegerField(source="attempts")
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastError = serializers.CharField(source="last_error", allow_blank=True)
    nextAttemptAt = serializers.SerializerMethodField()
    payload = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    attempts = AttemptOut(many=True, source="attempt_log")

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_runId(self, delivery: WebhookDelivery) -> str | None:
        run_id = delivery.event.run_id if delivery.event_id and delivery.event else None
        return str(run_id) if run_id else None

    @extend_schema_field(
        serializers.DateTimeField(
            allow_null=True, help_text="While pending: when the next attempt is due."
        )
    )
    def get_nextAttemptAt(self, delivery: WebhookDelivery) -> str | None:
        if delivery.state != DeliveryState.PENDING:
            return None
        return str(serializers.DateTimeField().to_representation(delivery.next_attempt_at))

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, delivery: WebhookDelivery) -> Any:
        """The JSON body exactly as sent."""
        return json.loads(delivery.body)
