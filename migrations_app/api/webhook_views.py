"""Webhooks of a project, their pings and delivery logs: each view parses input,
calls one service or selector, renders output."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from migrations_app import selectors
from migrations_app.api import webhook_serializers as ws
from migrations_app.api.negotiation import JsonViewMixin
from migrations_app.api.schema import AUTHED, JSON_BODY, SIZED_BODY, error_responses, uuid_path
from migrations_app.api.views import ItemsPagination, _validated, tenant_of
from migrations_app.errors import ErrorCode
from migrations_app.models import DeliveryState, Webhook
from migrations_app.webhooks import selectors as webhook_selectors
from migrations_app.webhooks import services as webhook_services

TAG = "webhooks"
PROJECT_PATH = uuid_path("project_id", "Project")
WEBHOOK_PATHS = [PROJECT_PATH, uuid_path("webhook_id", "Webhook")]
NOT_FOUND = (ErrorCode.PROJECT_NOT_FOUND, ErrorCode.WEBHOOK_NOT_FOUND)
INPUT_CODES = (ErrorCode.VALIDATION_ERROR, ErrorCode.PARSE_ERROR)

EVENTS_TEXT = (
    "Every status change of a run of the project (pending, running, paused, completed, "
    "partial, failed, cancelled: the stream's `status` events, once each) is POSTed as "
    "`run.status`, and the end of the run once as `run.finished`, with the counts. Bodies "
    "are signed: `X-Migrator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
    '"<t>.<raw body>" keyed with the secret>` (see the README).'
)


def _webhook(request: Request, project_id: str, webhook_id: str) -> Webhook:
    return webhook_selectors.webhook_get(
        tenant=tenant_of(request), project_id=project_id, webhook_id=webhook_id
    )


class ProjectWebhooksView(JsonViewMixin, APIView):
    @extend_schema(
        tags=[TAG],
        summary="List the project's webhooks, oldest first",
        parameters=[PROJECT_PATH],
        responses={
            200: ws.WebhookOut(many=True),
            **error_responses(*AUTHED, 404, codes=(ErrorCode.PROJECT_NOT_FOUND,)),
        },
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(tenant=tenant_of(request), project_id=project_id)
        webhooks = webhook_selectors.webhook_list(project=project)
        return Response(ws.WebhookOut(webhooks, many=True).data)

    @extend_schema(
        tags=[TAG],
        summary="Add a webhook to the project",
        description=(
            f"{EVENTS_TEXT} The URL must be https with public addresses (unless the server "
            "allows private targets); a URL the project already has, or more than "
            f"{webhook_services.MAX_WEBHOOKS_PER_PROJECT} webhooks, is a VALIDATION_ERROR. "
            "Without `secret` the server generates one and returns it in this response only."
        ),
        parameters=[PROJECT_PATH],
        request=ws.WebhookCreateIn,
        responses={
            201: ws.WebhookCreatedOut,
            **error_responses(
                *AUTHED, *JSON_BODY, 404, codes=(*INPUT_CODES, ErrorCode.PROJECT_NOT_FOUND)
            ),
        },
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(tenant=tenant_of(request), project_id=project_id)
        data = _validated(ws.WebhookCreateIn, request.data)
        created = webhook_services.webhook_create(project=project, **data)
        body = dict(ws.WebhookOut(created.webhook).data)
        if created.secret is not None:
            body["secret"] = created.secret
        return Response(body, status=201)


class WebhookDetailView(JsonViewMixin, APIView):
    @extend_schema(
        tags=[TAG],
        summary="Get a webhook (never its secret)",
        parameters=WEBHOOK_PATHS,
        responses={200: ws.WebhookOut, **error_responses(*AUTHED, 404, codes=NOT_FOUND)},
    )
    def get(self, request: Request, project_id: str, webhook_id: str) -> Response:
        return Response(ws.WebhookOut(_webhook(request, project_id, webhook_id)).data)

    @extend_schema(
        tags=[TAG],
        summary="Change a webhook's URL, replace its secret, enable or disable it",
        description="A disabled webhook gets no new deliveries; pending ones are given up "
        "at their next attempt, unsent.",
        parameters=WEBHOOK_PATHS,
        request=ws.WebhookPatchIn,
        responses={
            200: ws.WebhookOut,
            **error_responses(*AUTHED, *JSON_BODY, 404, codes=(*INPUT_CODES, *NOT_FOUND)),
        },
    )
    def patch(self, request: Request, project_id: str, webhook_id: str) -> Response:
        webhook = _webhook(request, project_id, webhook_id)
        data = _validated(ws.WebhookPatchIn, request.data)
        webhook = webhook_services.webhook_update(webhook=webhook, **data)
        return Response(ws.WebhookOut(webhook).data)

    @extend_schema(
        tags=[TAG],
        summary="Delete a webhook with its delivery log",
        parameters=WEBHOOK_PATHS,
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(*AUTHED, *SIZED_BODY, 404, codes=NOT_FOUND),
        },
    )
    def delete(self, request: Request, project_id: str, webhook_id: str) -> Response:
        webhook_services.webhook_delete(webhook=_webhook(request, project_id, webhook_id))
        return Response(status=204)


class WebhookTestView(JsonViewMixin, APIView):
    @extend_schema(
        tags=[TAG],
        summary="Send a ping to the webhook",
        description="Queues a signed `ping` delivery (`{event, deliveryId, webhookId, "
        "projectId, occurredAt}`), retried like any other, even while the webhook is "
        "disabled; answers 202 with the delivery (follow it in the delivery log).",
        parameters=WEBHOOK_PATHS,
        request=None,
        responses={
            202: ws.DeliveryOut,
            **error_responses(*AUTHED, *SIZED_BODY, 404, codes=NOT_FOUND),
        },
    )
    def post(self, request: Request, project_id: str, webhook_id: str) -> Response:
        delivery = webhook_services.webhook_ping(webhook=_webhook(request, project_id, webhook_id))
        return Response(ws.DeliveryOut(delivery).data, status=202)


class WebhookDeliveriesView(JsonViewMixin, ListAPIView):
    serializer_class = ws.DeliveryOut
    pagination_class = ItemsPagination

    def get_queryset(self) -> Any:
        webhook = _webhook(self.request, self.kwargs["project_id"], self.kwargs["webhook_id"])
        query = _validated(ws.DeliveriesQueryIn, self.request.query_params)
        return webhook_selectors.delivery_list(webhook=webhook, state=query.get("state"))

    @extend_schema(
        tags=[TAG],
        summary="The webhook's delivery log, newest first, each with every attempt",
        description="Page-number pagination as the items endpoint (`page`, `page_size` up "
        "to 500). The secret and the signature are not logged.",
        parameters=[
            *WEBHOOK_PATHS,
            OpenApiParameter("state", str, enum=[c.value for c in DeliveryState]),
        ],
        responses={
            200: ws.DeliveryOut(many=True),
            **error_responses(
                *AUTHED,
                400,
                404,
                codes=(ErrorCode.VALIDATION_ERROR, *NOT_FOUND, ErrorCode.NOT_FOUND),
            ),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
