"""The REST API: each view parses input, calls one service or selector, renders output."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from migrations_app import connections, selectors, services
from migrations_app.api import serializers as s
from migrations_app.api.negotiation import JsonViewMixin
from migrations_app.api.schema import (
    AUTHED,
    JSON_BODY,
    SIZED_BODY,
    error_responses,
    uuid_path,
)
from migrations_app.errors import ErrorCode
from migrations_app.exports import crosswalk_response
from migrations_app.models import ItemStatus, MigrationRun, Project, RunStatus, Tenant
from migrations_app.phases import phases_of

NOT_FOUND_PROJECT = (ErrorCode.PROJECT_NOT_FOUND,)
NOT_FOUND_RUN = (ErrorCode.MIGRATION_NOT_FOUND,)


def tenant_of(request: Request) -> Tenant:
    tenant = request.user.tenant  # type: ignore[union-attr]
    assert tenant is not None  # IsTenantMember guarantees it
    return tenant


def _validated(serializer_class: type[s.serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _project_out(project: Project) -> dict[str, Any]:
    project.last_run = selectors.project_last_run(project)  # type: ignore[attr-defined]
    return dict(s.ProjectOut(project).data)


# --------------------------------------------------------------------------- projects
class ProjectListView(JsonViewMixin, APIView):
    @extend_schema(
        tags=["projects"],
        summary="List the tenant's projects, newest first",
        responses={200: s.ProjectOut(many=True), **error_responses(*AUTHED)},
    )
    def get(self, request: Request) -> Response:
        projects = selectors.project_list(tenant=tenant_of(request))
        return Response([_project_out(p) for p in projects])

    @extend_schema(
        tags=["projects"],
        summary="Create a project",
        description="A name already used in the tenant is a VALIDATION_ERROR on `name`.",
        request=s.ProjectCreateIn,
        responses={201: s.ProjectOut, **error_responses(*AUTHED, *JSON_BODY)},
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.ProjectCreateIn, request.data)
        project = services.project_create(tenant=tenant_of(request), **data)
        return Response(_project_out(project), status=201)


class ProjectDetailView(JsonViewMixin, APIView):
    @extend_schema(
        tags=["projects"],
        summary="Get a project",
        parameters=[uuid_path("project_id", "Project")],
        responses={
            200: s.ProjectOut,
            **error_responses(*AUTHED, 404, codes=NOT_FOUND_PROJECT),
        },
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(tenant=tenant_of(request), project_id=project_id)
        return Response(_project_out(project))

    @extend_schema(
        tags=["projects"],
        summary="Rename a project or change its description",
        description="A name already used in the tenant is a VALIDATION_ERROR on `name`.",
        parameters=[uuid_path("project_id", "Project")],
        request=s.ProjectPatchIn,
        responses={
            200: s.ProjectOut,
            **error_responses(*AUTHED, *JSON_BODY, 404, codes=NOT_FOUND_PROJECT),
        },
    )
    def patch(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(tenant=tenant_of(request), project_id=project_id)
        data = _validated(s.ProjectPatchIn, request.data)
        project = services.project_update(project=project, **data)
        return Response(_project_out(project))

    @extend_schema(
        tags=["projects"],
        summary="Delete a project with its runs, items and crosswalk",
        description="Refused with MIGRATION_ALREADY_RUNNING while a run is active.",
        parameters=[uuid_path("project_id", "Project")],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(
                *AUTHED,
                *SIZED_BODY,
                404,
                409,
                codes=(ErrorCode.PROJECT_NOT_FOUND, ErrorCode.MIGRATION_ALREADY_RUNNING),
            ),
        },
    )
    def delete(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(tenant=tenant_of(request), project_id=project_id)
        services.project_delete(project=project)
        return Response(status=204)


# --------------------------------------------------------------------------- runs
class MigrationStartView(JsonViewMixin, APIView):
    @extend_schema(
        tags=["migrations"],
        summary="Start a migration run for a project",
        description=(
            "Creates the run (PENDING until a worker claims it, then RUNNING) and enqueues "
            "it. `pat` and `api_token` are write-only: stored encrypted, never returned. "
            "`source.base_url` and `target.base_url` must be https hosts with public "
            "addresses (unless the server allows private targets).\n\n"
            "**Saved connection.** A side (`source`, `target`) that carries its secret is "
            "used as given, as in the seed. A side without it, or left out altogether, is "
            "completed from the project's saved connection (`/api/projects/{id}/connection`): "
            "each connection field it leaves out is the saved one, and the saved secret is "
            "used only while the side points at the origin it was saved for. A field that "
            "neither gives is a `VALIDATION_ERROR` naming it "
            "(`enginePayload.source.pat`)."
        ),
        parameters=[uuid_path("project_id", "Project")],
        request=s.StartIn,
        responses={
            200: s.RunOut,
            **error_responses(
                *AUTHED,
                *JSON_BODY,
                404,
                409,
                502,
                codes=(
                    ErrorCode.VALIDATION_ERROR,
                    ErrorCode.PARSE_ERROR,
                    ErrorCode.PROJECT_NOT_FOUND,
                    ErrorCode.MIGRATION_ALREADY_RUNNING,
                    ErrorCode.ENGINE_DISPATCH_FAILED,
                ),
            ),
        },
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(tenant=tenant_of(request), project_id=project_id)
        data = _validated(s.StartIn, request.data)
        start = connections.resolve_start(
            project=project, run_type=data["type"], payload=data["enginePayload"]
        )
        run = services.run_start(project=project, request=start)
        return Response(s.RunOut(run).data)


class MigrationListView(JsonViewMixin, APIView):
    @extend_schema(
        tags=["migrations"],
        summary="List a project's runs, most recent first",
        parameters=[
            OpenApiParameter("projectId", OpenApiTypes.UUID, required=True),
            OpenApiParameter("status", str, enum=[c.value for c in RunStatus]),
        ],
        responses={
            200: s.RunOut(many=True),
            **error_responses(
                *AUTHED,
                400,
                404,
                codes=(ErrorCode.VALIDATION_ERROR, ErrorCode.PROJECT_NOT_FOUND),
            ),
        },
    )
    def get(self, request: Request) -> Response:
        query = _validated(s.RunListQueryIn, request.query_params)
        runs = selectors.run_list(
            tenant=tenant_of(request), project_id=query["projectId"], status=query.get("status")
        )
        return Response(s.RunOut(runs, many=True).data)


class RunView(JsonViewMixin, APIView):
    def run(self, request: Request, run_id: str) -> MigrationRun:
        return selectors.run_get(tenant=tenant_of(request), run_id=run_id)


class MigrationStatusView(RunView):
    @extend_schema(
        tags=["migrations"],
        summary="Current status and progress counts of a run",
        parameters=[uuid_path("run_id", "Run")],
        responses={
            200: s.RunStatusOut,
            **error_responses(*AUTHED, 404, codes=NOT_FOUND_RUN),
        },
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(s.RunStatusOut(self.run(request, run_id)).data)


def _control_schema(summary: str, description: str, code: ErrorCode) -> Any:
    return extend_schema(
        tags=["migrations"],
        summary=summary,
        description=description,
        parameters=[uuid_path("run_id", "Run")],
        request=None,
        responses={
            200: s.RunControlOut,
            **error_responses(
                *AUTHED,
                *SIZED_BODY,
                400,
                404,
                # Only resume enqueues the run again.
                *([502] if code == ErrorCode.MIGRATION_NOT_PAUSED else []),
                codes=(code, ErrorCode.MIGRATION_NOT_FOUND, ErrorCode.ENGINE_DISPATCH_FAILED),
            ),
        },
    )


class MigrationPauseView(RunView):
    @_control_schema(
        "Pause a RUNNING run",
        "Answers PAUSED at once; the engine stops at its next checkpoint (within seconds) "
        "with no half-written item.",
        ErrorCode.MIGRATION_NOT_RUNNING,
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = services.run_request_pause(run=self.run(request, run_id))
        return Response(s.RunControlOut(run).data)


class MigrationResumeView(RunView):
    @_control_schema(
        "Resume a PAUSED run",
        "Continues from the last checkpoint; nothing is duplicated.",
        ErrorCode.MIGRATION_NOT_PAUSED,
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = services.run_resume(run=self.run(request, run_id))
        return Response(s.RunControlOut(run).data)


class MigrationCancelView(RunView):
    @_control_schema(
        "Cancel an active run (cannot be undone)",
        "Items already migrated to Jira are not removed.",
        ErrorCode.MIGRATION_FINISHED,
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = services.run_cancel(run=self.run(request, run_id))
        return Response(s.RunControlOut(run).data)


class MigrationRollbackView(RunView):
    @extend_schema(
        tags=["migrations"],
        summary="Roll a run back: remove from Jira what it created (or, dry, count it)",
        description=(
            "Starts a ROLLBACK run (answered like a start: 200 with the new run, PENDING "
            "until a worker claims it; status, stream, pause, resume, cancel and report as "
            "for any run). It removes the issues the run created and, on issues it updated, "
            "the comments, attachments, links and remote links it added; fields it edited "
            "are listed, not reverted. Only what the migration account created and nobody "
            "changed since is removed; the rest is listed in the report with the reason. "
            "`dry_run: true` removes nothing: its report's `counts.planned` (`wouldRemove`) "
            "gives what would be removed, per kind. The project's ledger and crosswalk "
            "forget what was removed, so a later FULL run recreates it. "
            "ROLLBACK_NOT_ALLOWED while the run is active, for a rollback run and for a dry "
            "run; MIGRATION_ALREADY_RUNNING while another run of the project is active."
        ),
        parameters=[uuid_path("run_id", "Run to roll back")],
        request=s.RollbackIn,
        responses={
            200: s.RunOut,
            **error_responses(
                *AUTHED,
                *JSON_BODY,
                404,
                409,
                502,
                codes=(
                    ErrorCode.VALIDATION_ERROR,
                    ErrorCode.PARSE_ERROR,
                    ErrorCode.MIGRATION_NOT_FOUND,
                    ErrorCode.ROLLBACK_NOT_ALLOWED,
                    ErrorCode.MIGRATION_ALREADY_RUNNING,
                    ErrorCode.ENGINE_DISPATCH_FAILED,
                ),
            ),
        },
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = self.run(request, run_id)
        data = _validated(s.RollbackIn, request.data)
        rollback = services.run_rollback(run=run, dry_run=data["dry_run"])
        return Response(s.RunOut(rollback).data)


class ItemsPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class MigrationItemsView(JsonViewMixin, ListAPIView):
    serializer_class = s.ItemOut
    pagination_class = ItemsPagination

    def get_queryset(self) -> Any:
        run = selectors.run_get(tenant=tenant_of(self.request), run_id=self.kwargs["run_id"])
        query = _validated(s.ItemsQueryIn, self.request.query_params)
        return selectors.run_items(run=run, status=query.get("status"))

    @extend_schema(
        tags=["migrations"],
        summary="One row per work item of the run, in ADO id order",
        parameters=[
            uuid_path("run_id", "Run"),
            OpenApiParameter("status", str, enum=[c.value for c in ItemStatus]),
        ],
        responses={
            200: s.ItemOut(many=True),
            **error_responses(
                *AUTHED,
                400,
                404,
                codes=(
                    ErrorCode.VALIDATION_ERROR,
                    ErrorCode.MIGRATION_NOT_FOUND,
                    ErrorCode.NOT_FOUND,
                ),
            ),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class MigrationCrosswalkView(RunView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # Errors are always JSON, whatever Accept says (so never 406); the CSV itself
        # bypasses DRF's renderers.
        return (JSONRenderer(), JSONRenderer.media_type)

    @extend_schema(
        tags=["migrations"],
        summary="ADO id → Jira key for every item the run's project has migrated so far",
        parameters=[uuid_path("run_id", "Run")],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Columns, in order: ado_id,ado_type,ado_url,jira_key,jira_url,status",
            ),
            **error_responses(401, 403, 404, codes=NOT_FOUND_RUN),
        },
    )
    def get(self, request: Request, run_id: str) -> StreamingHttpResponse:
        run = self.run(request, run_id)
        return crosswalk_response(run)


class MigrationReportView(RunView):
    @extend_schema(
        tags=["migrations"],
        summary="The run's report with its metadata",
        parameters=[uuid_path("run_id", "Run")],
        responses={200: s.ReportOut, **error_responses(*AUTHED, 404, codes=NOT_FOUND_RUN)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = self.run(request, run_id)
        run.phases = phases_of(run.type)  # type: ignore[attr-defined]
        run.report = selectors.run_report(run=run)  # type: ignore[attr-defined]
        return Response(s.ReportOut(run).data)
