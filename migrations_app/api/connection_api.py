"""``/api/projects/{id}/connection``: the project's saved source and target connection.

``GET`` shows everything but the secrets, which are write-only (``hasPat``,
``hasApiToken`` say whether they are held, ``patUpdatedAt`` and
``apiTokenUpdatedAt`` when they were last set). ``PUT`` creates or replaces it,
``PATCH`` changes some fields (``{"source": {"pat": "..."}}`` rotates the PAT),
``DELETE`` forgets it. Field names inside ``source`` and ``target`` are those of
the start request's ``enginePayload``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from migrations_app import connections, selectors
from migrations_app.api.negotiation import JsonViewMixin
from migrations_app.api.schema import AUTHED, JSON_BODY, SIZED_BODY, error_responses, uuid_path
from migrations_app.api.serializers import (
    DEFAULT_ADO_BASE_URL,
    ClosedSerializer,
    StrictCharField,
    StrictEmailField,
    all_optional,
    guarded_url,
    project_key_of,
)
from migrations_app.api.views import tenant_of
from migrations_app.errors import ErrorCode
from migrations_app.models import Project, ProjectConnection

SECRET_HELP = "Write-only. Left out: the saved one is kept. null: the saved one is removed."


# --------------------------------------------------------------------------- inputs
class ConnectionSourceIn(ClosedSerializer):
    base_url = StrictCharField(
        max_length=500,
        required=False,
        default=DEFAULT_ADO_BASE_URL,
        help_text="Azure DevOps host (Services, or a Server's root with org = the collection).",
    )
    org = StrictCharField(max_length=200)
    project = StrictCharField(max_length=200)
    pat = StrictCharField(
        max_length=2000,
        write_only=True,
        trim_whitespace=True,
        required=False,
        allow_null=True,
        help_text=f"Personal access token. {SECRET_HELP} Bound to base_url's origin: "
        "another origin needs it again.",
    )

    def validate_base_url(self, value: str) -> str:
        return guarded_url(value)


class ConnectionTargetIn(ClosedSerializer):
    base_url = StrictCharField(max_length=500, help_text="Jira Cloud site, https only.")
    email = StrictEmailField(max_length=254)
    api_token = StrictCharField(
        max_length=2000,
        write_only=True,
        required=False,
        allow_null=True,
        help_text=f"Jira API token. {SECRET_HELP} Bound to base_url's origin: another "
        "origin needs it again.",
    )
    project_key = StrictCharField(max_length=255)

    def validate_base_url(self, value: str) -> str:
        return guarded_url(value)

    def validate_project_key(self, value: str) -> str:
        return project_key_of(value)


class ConnectionIn(ClosedSerializer):
    source = ConnectionSourceIn()  # type: ignore[assignment]  # shadows Field.source
    target = ConnectionTargetIn()


ConnectionSourceChangeIn = all_optional(ConnectionSourceIn, "ConnectionSourceChangeIn")
ConnectionTargetChangeIn = all_optional(ConnectionTargetIn, "ConnectionTargetChangeIn")


class ConnectionChangeIn(ClosedSerializer):
    """A PATCH: only the fields sent change."""

    source = ConnectionSourceChangeIn(required=False)  # type: ignore[assignment]
    target = ConnectionTargetChangeIn(required=False)


def connection_change(data: dict[str, Any]) -> connections.ConnectionChange:
    """Validated ``ConnectionIn`` data → the service's change (secrets apart)."""
    source, target = dict(data.get("source") or {}), dict(data.get("target") or {})
    return connections.ConnectionChange(
        source=source,
        target=target,
        pat=source.pop("pat", connections.KEEP),
        api_token=target.pop("api_token", connections.KEEP),
    )


# --------------------------------------------------------------------------- outputs
class ConnectionSourceOut(serializers.Serializer):
    base_url = serializers.CharField(source="ado_base_url")
    org = serializers.CharField(source="ado_org")
    project = serializers.CharField(source="ado_project")


class ConnectionTargetOut(serializers.Serializer):
    base_url = serializers.CharField(source="jira_base_url")
    email = serializers.CharField(source="jira_email")
    project_key = serializers.CharField(source="jira_project_key")


class ConnectionOut(serializers.Serializer):
    projectId = serializers.UUIDField(source="project_id")
    source = ConnectionSourceOut(source="*")  # type: ignore[assignment]  # shadows Field.source
    target = ConnectionTargetOut(source="*")
    hasPat = serializers.BooleanField(source="has_pat", help_text="A PAT is saved.")
    hasApiToken = serializers.BooleanField(
        source="has_api_token", help_text="A Jira API token is saved."
    )
    patUpdatedAt = serializers.DateTimeField(
        source="pat_updated_at", allow_null=True, help_text="When the PAT was last set."
    )
    apiTokenUpdatedAt = serializers.DateTimeField(
        source="api_token_updated_at", allow_null=True, help_text="When the token was last set."
    )
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


# --------------------------------------------------------------------------- view
NOT_FOUND = (ErrorCode.PROJECT_NOT_FOUND, ErrorCode.CONNECTION_NOT_FOUND)
WRITE_CODES = (ErrorCode.VALIDATION_ERROR, ErrorCode.PARSE_ERROR)


def _project(request: Request, project_id: str) -> Project:
    return selectors.project_get(tenant=tenant_of(request), project_id=project_id)


def _out(connection: ProjectConnection) -> dict[str, Any]:
    return dict(ConnectionOut(connection).data)


def _validated(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ProjectConnectionView(JsonViewMixin, APIView):
    @extend_schema(
        tags=["projects"],
        summary="The project's saved connection (secrets never shown)",
        parameters=[uuid_path("project_id", "Project")],
        responses={200: ConnectionOut, **error_responses(*AUTHED, 404, codes=NOT_FOUND)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        connection = selectors.connection_get(_project(request, project_id))
        return Response(_out(connection))

    @extend_schema(
        tags=["projects"],
        summary="Save (create or replace) the project's connection",
        description=(
            "Every field but the secrets is required (`source.base_url` defaults to "
            f"{DEFAULT_ADO_BASE_URL}). A secret left out keeps the saved one, `null` "
            "removes it. Changing a side's `base_url` to another origin needs that side's "
            "secret again (VALIDATION_ERROR on `source.pat` / `target.api_token`). Answers "
            "201 when the connection is new, 200 when it replaced one."
        ),
        parameters=[uuid_path("project_id", "Project")],
        request=ConnectionIn,
        responses={
            200: ConnectionOut,
            201: ConnectionOut,
            **error_responses(
                *AUTHED, *JSON_BODY, 404, codes=(*WRITE_CODES, ErrorCode.PROJECT_NOT_FOUND)
            ),
        },
    )
    def put(self, request: Request, project_id: str) -> Response:
        project = _project(request, project_id)
        change = connection_change(_validated(request, ConnectionIn))
        connection, created = connections.connection_put(project=project, change=change)
        return Response(_out(connection), status=201 if created else 200)

    @extend_schema(
        tags=["projects"],
        summary="Change some fields of the saved connection, or rotate a secret",
        description=(
            'Only the fields sent change: `{"source": {"pat": "new"}}` rotates the PAT, '
            '`{"target": {"api_token": null}}` removes the token. Changing a side\'s '
            "`base_url` to another origin needs that side's secret in the same request."
        ),
        parameters=[uuid_path("project_id", "Project")],
        request=ConnectionChangeIn,
        responses={
            200: ConnectionOut,
            **error_responses(*AUTHED, *JSON_BODY, 404, codes=(*WRITE_CODES, *NOT_FOUND)),
        },
    )
    def patch(self, request: Request, project_id: str) -> Response:
        project = _project(request, project_id)
        change = connection_change(_validated(request, ConnectionChangeIn))
        connection = connections.connection_patch(project=project, change=change)
        return Response(_out(connection))

    @extend_schema(
        tags=["projects"],
        summary="Forget the saved connection and its secrets",
        description="Runs already started keep their own encrypted copy of the secrets.",
        parameters=[uuid_path("project_id", "Project")],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(*AUTHED, *SIZED_BODY, 404, codes=NOT_FOUND),
        },
    )
    def delete(self, request: Request, project_id: str) -> Response:
        connections.connection_delete(project=_project(request, project_id))
        return Response(status=204)
