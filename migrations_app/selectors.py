"""Reads, every one scoped by tenant: another tenant's id answers like a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from migrations_app.engine_bridge import jira_browse_url
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.models import (
    ACTIVE_STATUSES,
    LedgerEntry,
    MigrationRun,
    Project,
    ProjectConnection,
    RunDocument,
    RunItem,
    RunType,
    ScheduleStatus,
    ScheduleTick,
    SyncSchedule,
    Tenant,
)


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def project_list(*, tenant: Tenant) -> QuerySet[Project]:
    # Only each project's latest run (a sliced prefetch, one query): a project with
    # years of scheduled syncs lists as cheaply as a new one.
    latest = MigrationRun.objects.order_by("-created_at")[:1]
    return (
        Project.objects.filter(tenant=tenant)
        .order_by("-created_at")
        .prefetch_related(Prefetch("runs", queryset=latest, to_attr="latest_runs"))
    )


def project_get(*, tenant: Tenant, project_id: Any) -> Project:
    pk = _as_uuid(project_id)
    project = Project.objects.filter(tenant=tenant, pk=pk).first() if pk else None
    if project is None:
        raise ApplicationError(ErrorCode.PROJECT_NOT_FOUND)
    return project


def project_last_run(project: Project) -> MigrationRun | None:
    cached = getattr(project, "latest_runs", None)
    if cached is not None:
        return cached[0] if cached else None
    return project.runs.order_by("-created_at").first()


def project_active_run(project: Project) -> MigrationRun | None:
    return project.runs.filter(status__in=ACTIVE_STATUSES).first()


# --------------------------------------------------------------------------- saved settings
def connection_find(project: Project) -> ProjectConnection | None:
    return ProjectConnection.objects.filter(project=project).first()


def connection_get(project: Project) -> ProjectConnection:
    connection = connection_find(project)
    if connection is None:
        raise ApplicationError(ErrorCode.CONNECTION_NOT_FOUND)
    return connection


def connection_ready(project: Project) -> bool:
    """Whether a run can start with nothing but the saved connection (both secrets held)."""
    return (
        ProjectConnection.objects.filter(project=project)
        .exclude(pat_encrypted="")
        .exclude(api_token_encrypted="")
        .exists()
    )


def schedule_find(project: Project) -> SyncSchedule | None:
    return SyncSchedule.objects.filter(project=project).select_related("periodic_task").first()


def schedule_get(project: Project) -> SyncSchedule:
    schedule = schedule_find(project)
    if schedule is None:
        raise ApplicationError(ErrorCode.SCHEDULE_NOT_FOUND)
    return schedule


def schedule_recent_ticks(schedule: SyncSchedule, limit: int = 20) -> list[ScheduleTick]:
    return list(
        ScheduleTick.objects.filter(schedule=schedule)
        .select_related("run")
        .order_by("-at", "-pk")[:limit]
    )


def schedule_status(schedule: SyncSchedule, now: datetime) -> str:
    """ENDED as soon as the cut-over has passed, even before a tick has recorded it."""
    if schedule.status == ScheduleStatus.ACTIVE and now >= schedule.cutover_at:
        return ScheduleStatus.ENDED
    return str(schedule.status)


def schedule_next_tick(schedule: SyncSchedule, now: datetime) -> datetime | None:
    """When beat should fire next (about: it fires an interval after its last firing);
    None unless ACTIVE. A tick at or after the cut-over ends the schedule."""
    if schedule_status(schedule, now) != ScheduleStatus.ACTIVE:
        return None
    if now < schedule.start_at:
        return schedule.start_at
    task = schedule.periodic_task
    last = (task.last_run_at if task is not None else None) or schedule.last_tick_at
    if last is None:
        return now
    return max(now, last + timedelta(seconds=schedule.interval_seconds))


# --------------------------------------------------------------------------- runs
def run_get(*, tenant: Tenant, run_id: Any) -> MigrationRun:
    pk = _as_uuid(run_id)
    run = MigrationRun.objects.filter(tenant=tenant, pk=pk).first() if pk else None
    if run is None:
        raise ApplicationError(ErrorCode.MIGRATION_NOT_FOUND)
    return run


def run_list(*, tenant: Tenant, project_id: Any, status: str | None = None) -> QuerySet:
    project = project_get(tenant=tenant, project_id=project_id)
    runs = MigrationRun.objects.filter(tenant=tenant, project=project)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at")


def run_items(*, run: MigrationRun, status: str | None = None) -> QuerySet[RunItem]:
    items = RunItem.objects.filter(run=run)
    if status:
        items = items.filter(status=status)
    return items.order_by("ado_id")


def run_item_find(*, run: MigrationRun, ado_id: int) -> RunItem | None:
    return RunItem.objects.filter(run=run, ado_id=ado_id).first()


def run_report(*, run: MigrationRun) -> dict[str, Any] | None:
    """The run's whole report (the one read that loads it; pages use the run's digest)."""
    report = RunDocument.objects.filter(run=run).values_list("report", flat=True).first()
    return report if isinstance(report, dict) else None


def rollback_preview(*, run: MigrationRun) -> MigrationRun | None:
    """The latest dry rollback of ``run`` (its report holds what a rollback would remove)."""
    return run.rollbacks.filter(dry_run=True).order_by("-created_at").first()


def rollbacks_of(*, run: MigrationRun) -> list[MigrationRun]:
    """The rollbacks of ``run`` that remove things (not dry runs), newest first."""
    return list(run.rollbacks.filter(dry_run=False).order_by("-created_at"))


CROSSWALK_COLUMNS = ("ado_id", "ado_type", "ado_url", "jira_key", "jira_url", "status")


def crosswalk_rows(*, run: MigrationRun) -> Iterator[tuple[Any, ...]]:
    """Every item the run's project has migrated so far (its ledger), with the
    type, URL and status of the item's latest row in any of the project's runs."""
    # a rollback's rows say what it removed, not what the item is in Jira
    latest = (
        RunItem.objects.filter(run__project_id=run.project_id, ado_id=OuterRef("ado_id"))
        .exclude(run__type=RunType.ROLLBACK)
        .order_by("-updated_at", "-pk")
    )
    rows = (
        LedgerEntry.objects.filter(project_id=run.project_id)
        .annotate(
            item_type=Subquery(latest.values("ado_type")[:1]),
            item_url=Subquery(latest.values("ado_url")[:1]),
            item_status=Subquery(latest.values("status")[:1]),
        )
        .order_by("ado_id")
        .values_list("ado_id", "item_type", "item_url", "jira_key", "item_status")
    )
    base = str(run.target.get("base_url", ""))
    for ado_id, ado_type, ado_url, jira_key, status in rows.iterator(chunk_size=2000):
        yield (
            ado_id,
            ado_type or "",
            ado_url or "",
            jira_key,
            jira_browse_url(base, jira_key),
            status or "CREATED",
        )
