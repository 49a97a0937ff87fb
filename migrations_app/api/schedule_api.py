"""``/api/projects/{id}/schedule``: the project's scheduled delta sync.

Every ``intervalMinutes`` from ``startAt`` until ``cutoverAt`` an INCREMENTAL run
starts with the project's saved connection; a tick while a run of the project is
active is skipped, and the skip is recorded with its reason (``recentTicks``).
``POST .../pause`` and ``.../resume`` stop and restart the ticks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from migrations_app import schedules, selectors
from migrations_app.api.negotiation import JsonViewMixin
from migrations_app.api.schema import AUTHED, JSON_BODY, SIZED_BODY, error_responses, uuid_path
from migrations_app.api.serializers import (
    ClosedSerializer,
    MapOptionsIn,
    NameMapField,
    StrictBooleanField,
    StrictCharField,
    all_optional,
)
from migrations_app.api.views import tenant_of
from migrations_app.errors import ErrorCode
from migrations_app.models import Project, ScheduleStatus, SyncSchedule, TickOutcome

MAX_INTERVAL_MINUTES = 7 * 24 * 60


# --------------------------------------------------------------------------- inputs
class StrictNumberField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError("Must be a number.")
        return float(super().to_internal_value(data))


class StrictDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            raise serializers.ValidationError("Must be an ISO 8601 date-time string.")
        return super().to_internal_value(value)


class ScheduleOptionsIn(MapOptionsIn):
    """The scheduled runs' options (as in enginePayload.options) and source filters."""

    migrate_attachments = StrictBooleanField(required=False, default=True)
    migrate_comments = StrictBooleanField(required=False, default=True)
    migrate_links = StrictBooleanField(required=False, default=True)
    type_overrides = NameMapField(
        required=False, default=dict, help_text="ADO work item type → Jira issue type."
    )
    state_overrides = NameMapField(
        required=False, default=dict, help_text="ADO state → Jira status."
    )
    area_filter = StrictCharField(
        max_length=1000,
        required=False,
        allow_null=True,
        default=None,
        help_text="As enginePayload.source.area_filter.",
    )
    type_filter = StrictCharField(
        max_length=2000,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="As enginePayload.source.type_filter (comma-separated).",
    )

    def validate_type_filter(self, value: str | None) -> list[str]:
        return [name.strip() for name in (value or "").split(",") if name.strip()]

    def validate_area_filter(self, value: str | None) -> str | None:
        return value.strip() or None if value else None


def _interval_help() -> str:
    return (
        "Minutes between runs: at least 1 (the server's MIGRATOR_SCHEDULE_MIN_SECONDS), "
        f"at most {MAX_INTERVAL_MINUTES} (a week); fractions of a minute are allowed "
        "down to the server's minimum."
    )


class ScheduleIn(ClosedSerializer):
    intervalMinutes = StrictNumberField(help_text=_interval_help())
    startAt = StrictDateTimeField(
        required=False, help_text="When the first run starts. Default: now."
    )
    cutoverAt = StrictDateTimeField(
        help_text="No run starts at or after this; later than startAt, in the future."
    )
    options = ScheduleOptionsIn(required=False)

    def validate_intervalMinutes(self, value: float) -> float:
        seconds = round(value * 60)
        minimum = settings.MIGRATOR_SCHEDULE_MIN_SECONDS
        if seconds < minimum:
            raise serializers.ValidationError(
                f"At least {minimum / 60:g} minute(s) ({minimum} s) between runs."
            )
        if value > MAX_INTERVAL_MINUTES:
            raise serializers.ValidationError(f"At most {MAX_INTERVAL_MINUTES} minutes (a week).")
        return value


ScheduleOptionsChangeIn = all_optional(ScheduleOptionsIn, "ScheduleOptionsChangeIn")
ScheduleChangeIn = all_optional(
    ScheduleIn, "ScheduleChangeIn", overrides={"options": ScheduleOptionsChangeIn(required=False)}
)
ScheduleChangeIn.__doc__ = "A PATCH: only the fields sent change (options merge)."


def settings_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Validated ScheduleIn / ScheduleChangeIn data → ScheduleSettings keyword arguments."""
    names = {"startAt": "start_at", "cutoverAt": "cutover_at", "options": "options"}
    out = {names[k]: v for k, v in data.items() if k in names}
    if "options" in out:
        out["options"] = dict(out["options"])
    if "intervalMinutes" in data:
        out["interval_seconds"] = round(data["intervalMinutes"] * 60)
    return out


# --------------------------------------------------------------------------- outputs
class ScheduleTickOut(serializers.Serializer):
    at = serializers.DateTimeField()
    outcome = serializers.ChoiceField(
        choices=TickOutcome.choices,
        help_text="STARTED a run; SKIPPED (reason says why: a run was active, no usable "
        "saved connection); FAILED to enqueue; ENDED at the cut-over.",
    )
    reason = serializers.CharField(allow_blank=True)
    runId = serializers.UUIDField(source="run_id", allow_null=True)


class ScheduleOut(serializers.Serializer):
    projectId = serializers.UUIDField(source="project_id")
    status = serializers.ChoiceField(
        choices=ScheduleStatus.choices,
        help_text="ACTIVE (ticking), PAUSED, or ENDED (the cut-over has passed).",
    )
    intervalMinutes = serializers.FloatField()
    startAt = serializers.DateTimeField(source="start_at")
    cutoverAt = serializers.DateTimeField(source="cutover_at")
    nextTickAt = serializers.DateTimeField(
        allow_null=True, help_text="About when the next tick comes; null unless ACTIVE."
    )
    options = serializers.DictField(child=serializers.JSONField())
    lastTickAt = serializers.DateTimeField(source="last_tick_at", allow_null=True)
    runCount = serializers.IntegerField(source="run_count", help_text="Runs started.")
    skipCount = serializers.IntegerField(source="skip_count", help_text="Ticks skipped.")
    recentTicks = ScheduleTickOut(many=True, help_text="The last 20 ticks, newest first.")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


def schedule_out(schedule: SyncSchedule) -> dict[str, Any]:
    now = timezone.now()
    schedule = selectors.schedule_get(schedule.project)  # fresh, with its beat entry
    options = dict(schedule.options)
    # As the input takes it: a comma-separated string (stored as a list).
    options["type_filter"] = ", ".join(options.get("type_filter") or []) or None
    return dict(
        ScheduleOut(
            {
                **{f.attname: getattr(schedule, f.attname) for f in SyncSchedule._meta.fields},
                "options": options,
                "status": selectors.schedule_status(schedule, now),
                "intervalMinutes": schedule.interval_seconds / 60,
                "nextTickAt": selectors.schedule_next_tick(schedule, now),
                "recentTicks": selectors.schedule_recent_ticks(schedule),
            }
        ).data
    )


# --------------------------------------------------------------------------- views
NOT_FOUND = (ErrorCode.PROJECT_NOT_FOUND, ErrorCode.SCHEDULE_NOT_FOUND)
WRITE_CODES = (ErrorCode.VALIDATION_ERROR, ErrorCode.PARSE_ERROR)


def _project(request: Request, project_id: str) -> Project:
    return selectors.project_get(tenant=tenant_of(request), project_id=project_id)


def _validated(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ProjectScheduleView(JsonViewMixin, APIView):
    @extend_schema(
        tags=["projects"],
        summary="The project's scheduled delta sync, with its recent ticks",
        parameters=[uuid_path("project_id", "Project")],
        responses={200: ScheduleOut, **error_responses(*AUTHED, 404, codes=NOT_FOUND)},
    )
    def get(self, request: Request, project_id: str) -> Response:
        return Response(schedule_out(selectors.schedule_get(_project(request, project_id))))

    @extend_schema(
        tags=["projects"],
        summary="Create or replace the project's schedule",
        description=(
            "Needs the project's saved connection with both secrets (VALIDATION_ERROR on "
            "`connection` otherwise). A paused schedule stays paused; an ended one starts "
            "again (its cut-over must be in the future). Answers 201 when the schedule is "
            "new, 200 when it replaced one."
        ),
        parameters=[uuid_path("project_id", "Project")],
        request=ScheduleIn,
        responses={
            200: ScheduleOut,
            201: ScheduleOut,
            **error_responses(
                *AUTHED, *JSON_BODY, 404, codes=(*WRITE_CODES, ErrorCode.PROJECT_NOT_FOUND)
            ),
        },
    )
    def put(self, request: Request, project_id: str) -> Response:
        project = _project(request, project_id)
        data = _validated(request, ScheduleIn)
        data.setdefault("startAt", timezone.now())
        if "options" not in data:
            defaults = ScheduleOptionsIn(data={})
            defaults.is_valid(raise_exception=True)
            data["options"] = dict(defaults.validated_data)
        settings_ = schedules.ScheduleSettings(**settings_changes(data))
        schedule, created = schedules.schedule_put(project=project, settings=settings_)
        return Response(schedule_out(schedule), status=201 if created else 200)

    @extend_schema(
        tags=["projects"],
        summary="Change some settings of the schedule",
        description="Only the fields sent change; `options` are merged. A later `cutoverAt` "
        "starts an ended schedule again.",
        parameters=[uuid_path("project_id", "Project")],
        request=ScheduleChangeIn,
        responses={
            200: ScheduleOut,
            **error_responses(*AUTHED, *JSON_BODY, 404, codes=(*WRITE_CODES, *NOT_FOUND)),
        },
    )
    def patch(self, request: Request, project_id: str) -> Response:
        project = _project(request, project_id)
        changes = settings_changes(_validated(request, ScheduleChangeIn))
        schedule = schedules.schedule_patch(project=project, changes=changes)
        return Response(schedule_out(schedule))

    @extend_schema(
        tags=["projects"],
        summary="Delete the schedule and its history",
        description="Runs it started are kept.",
        parameters=[uuid_path("project_id", "Project")],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(*AUTHED, *SIZED_BODY, 404, codes=NOT_FOUND),
        },
    )
    def delete(self, request: Request, project_id: str) -> Response:
        schedules.schedule_delete(project=_project(request, project_id))
        return Response(status=204)


def _control_schema(summary: str, description: str) -> Any:
    return extend_schema(
        tags=["projects"],
        summary=summary,
        description=description,
        parameters=[uuid_path("project_id", "Project")],
        request=None,
        responses={
            200: ScheduleOut,
            **error_responses(
                *AUTHED, *SIZED_BODY, 404, 409, codes=(*NOT_FOUND, ErrorCode.SCHEDULE_ENDED)
            ),
        },
    )


class ProjectSchedulePauseView(JsonViewMixin, APIView):
    @_control_schema(
        "Pause the schedule",
        "No tick starts a run until it is resumed; a run already started goes on. Pausing a "
        "paused schedule changes nothing. SCHEDULE_ENDED once the cut-over has passed.",
    )
    def post(self, request: Request, project_id: str) -> Response:
        schedule = schedules.schedule_pause(project=_project(request, project_id))
        return Response(schedule_out(schedule))


class ProjectScheduleResumeView(JsonViewMixin, APIView):
    @_control_schema(
        "Resume a paused schedule",
        "The next tick comes an interval after the last one (at once after a longer "
        "pause), then at the interval. Resuming an active schedule changes nothing. "
        "SCHEDULE_ENDED once the cut-over has passed (PATCH a later cutoverAt instead).",
    )
    def post(self, request: Request, project_id: str) -> Response:
        schedule = schedules.schedule_resume(project=_project(request, project_id))
        return Response(schedule_out(schedule))
