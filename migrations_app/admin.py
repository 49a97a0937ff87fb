"""Operator admin: tenants, users, projects, runs (items inline), items, webhooks
and their delivery log (attempts inline).

Credentials never appear: the encrypted columns are excluded from every form and
list (not even the ciphertext is shown). Pause, resume, cancel and rollback call the
same services as the API.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from migrations_app import schedules, services
from migrations_app.errors import ApplicationError
from migrations_app.models import (
    MigrationRun,
    PendingWrite,
    Project,
    ProjectConnection,
    RunDocument,
    RunItem,
    ScheduleTick,
    SyncSchedule,
    Tenant,
    User,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)

SECRET_FIELDS = ("pat_encrypted", "api_token_encrypted")
WEBHOOK_SECRET_FIELDS = ("secret_encrypted",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "tenant", "is_staff", "is_active")
    list_filter = ("tenant", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email", "tenant__slug")
    list_select_related = ("tenant",)
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Tenant", {"fields": ("tenant",)}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("Tenant", {"fields": ("tenant",)}))


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "created_at")
    list_filter = ("tenant",)
    search_fields = ("name", "description", "tenant__slug")
    list_select_related = ("tenant",)
    readonly_fields = ("id", "created_at")


class RunItemInline(admin.TabularInline):
    model = RunItem
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ("ado_id", "ado_type", "jira_key", "status", "attempts", "error", "updated_at")
    readonly_fields = fields
    ordering = ("ado_id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RunItem]:
        return super().get_queryset(request).order_by("ado_id")


def _apply(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    runs: QuerySet[MigrationRun],
    service: Any,
    verb: str,
) -> None:
    done = 0
    for run in runs:
        try:
            service(run=run)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{run.id}: {exc.message}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{verb} {done} run(s).", messages.SUCCESS)


@admin.action(description="Pause selected runs")
def pause_runs(modeladmin: admin.ModelAdmin, request: HttpRequest, runs: QuerySet) -> None:
    _apply(modeladmin, request, runs, services.run_request_pause, "Paused")


@admin.action(description="Resume selected runs")
def resume_runs(modeladmin: admin.ModelAdmin, request: HttpRequest, runs: QuerySet) -> None:
    _apply(modeladmin, request, runs, services.run_resume, "Resumed")


@admin.action(description="Cancel selected runs")
def cancel_runs(modeladmin: admin.ModelAdmin, request: HttpRequest, runs: QuerySet) -> None:
    _apply(modeladmin, request, runs, services.run_cancel, "Cancelled")


@admin.action(description="Roll back selected runs: dry run (count what would be removed)")
def rollback_runs_dry(modeladmin: admin.ModelAdmin, request: HttpRequest, runs: QuerySet) -> None:
    _apply(
        modeladmin,
        request,
        runs,
        partial(services.run_rollback, dry_run=True),
        "Started a dry rollback of",
    )


@admin.action(description="Roll back selected runs: remove what they created in Jira")
def rollback_runs(modeladmin: admin.ModelAdmin, request: HttpRequest, runs: QuerySet) -> None:
    _apply(
        modeladmin,
        request,
        runs,
        partial(services.run_rollback, dry_run=False),
        "Started a rollback of",
    )


@admin.register(MigrationRun)
class MigrationRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "tenant",
        "type",
        "status",
        "progress_percent",
        "total_count",
        "failure_count",
        "created_at",
    )
    list_filter = ("status", "type", "tenant", "dry_run")
    raw_id_fields = ("rollback_of",)
    search_fields = ("id", "project__name", "tenant__slug", "status_reason")
    list_select_related = ("project", "tenant")
    date_hierarchy = "created_at"
    exclude = SECRET_FIELDS
    actions = [pause_runs, resume_runs, cancel_runs, rollback_runs_dry, rollback_runs]
    inlines = [RunItemInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Runs change only through the services (API, actions, worker).
        return [f.name for f in MigrationRun._meta.fields if f.name not in SECRET_FIELDS]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RunDocument)
class RunDocumentAdmin(admin.ModelAdmin):
    """A run's plan and report, read-only; the list shows no document (they are large)."""

    list_display = ("run", "updated_at")
    list_select_related = ("run",)
    search_fields = ("=run__id",)
    raw_id_fields = ("run",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RunDocument]:
        queryset: QuerySet[RunDocument] = super().get_queryset(request)
        # The change page shows the documents; the list needs none of them.
        on_change_page = "object_id" in getattr(request.resolver_match, "kwargs", {})
        return queryset if on_change_page else queryset.defer("plan", "report")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in RunDocument._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RunItem)
class RunItemAdmin(admin.ModelAdmin):
    list_display = ("ado_id", "ado_type", "jira_key", "status", "attempts", "run", "updated_at")
    list_filter = ("status", "run__tenant", "run__type")
    search_fields = ("=ado_id", "jira_key", "ado_type", "error")
    list_select_related = ("run",)
    raw_id_fields = ("run",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in RunItem._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PendingWrite)
class PendingWriteAdmin(admin.ModelAdmin):
    """Jira writes whose outcome is unknown, held until their deadline (read-only)."""

    list_display = ("key", "project", "ado_id", "since", "deadline", "updated_at")
    list_filter = ("project__tenant",)
    search_fields = ("key", "=ado_id")
    list_select_related = ("project",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in PendingWrite._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --------------------------------------------------------------------------- webhooks
def _read_only(model: Any) -> list[str]:
    return [f.name for f in model._meta.fields if f.name not in WEBHOOK_SECRET_FIELDS]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Webhooks are managed through the API (their URL passes the guard there); here
    they can be looked at and deleted. The secret is not shown, not even encrypted."""

    list_display = ("url", "project", "enabled", "created_at", "updated_at")
    list_filter = ("enabled", "project__tenant")
    search_fields = ("url", "project__name")
    list_select_related = ("project",)
    exclude = WEBHOOK_SECRET_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return _read_only(Webhook)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("number", "url", "status_code", "error", "duration_ms", "started_at", "finished_at")
    readonly_fields = fields
    ordering = ("number",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log (read-only): the body sent, the state, every attempt."""

    list_display = ("id", "type", "state", "attempts", "last_status_code", "webhook", "created_at")
    list_filter = ("state", "type", "webhook__project__tenant")
    search_fields = ("=id", "webhook__url", "last_error")
    list_select_related = ("webhook",)
    raw_id_fields = ("webhook", "event")
    inlines = [WebhookAttemptInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return _read_only(WebhookDelivery)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ------------------------------------------------------------- saved connections, schedules
@admin.register(ProjectConnection)
class ProjectConnectionAdmin(admin.ModelAdmin):
    """Saved connections, read-only: the secrets show only as "saved" or not, and
    changes go through the API or the dashboard (which validate and encrypt)."""

    list_display = ("project", "ado_org", "ado_project", "jira_project_key", "has_pat",
                    "has_api_token", "updated_at")  # fmt: skip
    list_filter = ("project__tenant",)
    search_fields = ("project__name", "ado_org", "ado_project", "jira_project_key")
    list_select_related = ("project",)
    exclude = SECRET_FIELDS

    @admin.display(boolean=True, description="PAT saved")
    def has_pat(self, obj: ProjectConnection) -> bool:
        return obj.has_pat

    @admin.display(boolean=True, description="API token saved")
    def has_api_token(self, obj: ProjectConnection) -> bool:
        return obj.has_api_token

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [f.name for f in ProjectConnection._meta.fields if f.name not in SECRET_FIELDS]
        return [*fields, "has_pat", "has_api_token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ScheduleTickInline(admin.TabularInline):
    model = ScheduleTick
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("at", "outcome", "reason", "run")
    readonly_fields = fields
    ordering = ("-at",)


def _schedule_action(service: Any, name: str, description: str, verb: str) -> Any:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, rows: QuerySet) -> None:
        done = 0
        for schedule in rows.select_related("project"):
            try:
                service(project=schedule.project)
                done += 1
            except ApplicationError as exc:
                modeladmin.message_user(
                    request, f"{schedule.project}: {exc.message}", messages.WARNING
                )
        if done:
            modeladmin.message_user(request, f"{verb} {done} schedule(s).", messages.SUCCESS)

    action.__name__ = name
    return admin.action(description=description)(action)


@admin.register(SyncSchedule)
class SyncScheduleAdmin(admin.ModelAdmin):
    """Schedules with their ticks; pause and resume call the same services as the API
    (which keep the beat entry in step), so the settings themselves are read-only."""

    list_display = ("project", "status", "interval_seconds", "start_at", "cutover_at",
                    "last_tick_at", "run_count", "skip_count")  # fmt: skip
    list_filter = ("status", "project__tenant")
    search_fields = ("project__name",)
    list_select_related = ("project",)
    inlines = [ScheduleTickInline]
    actions = [
        _schedule_action(
            schedules.schedule_pause, "pause_schedules", "Pause selected schedules", "Paused"
        ),
        _schedule_action(
            schedules.schedule_resume, "resume_schedules", "Resume selected schedules", "Resumed"
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in SyncSchedule._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# The read-only view of a run's live events (django-eventstream's table).
from migrations_app.live import admin as _live_admin  # noqa: E402, F401
