"""Reads, every one scoped by tenant: another tenant's id answers like a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from migrations_app.engine_bridge import jira_browse_url
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.models import LedgerEntry, MigrationRun, Project, RunItem, RunType, Tenant


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def project_list(*, tenant: Tenant) -> QuerySet[Project]:
    latest = MigrationRun.objects.order_by("-created_at")
    return (
        Project.objects.filter(tenant=tenant)
        .order_by("-created_at")
        .prefetch_related(Prefetch("runs", queryset=latest))
    )


def project_get(*, tenant: Tenant, project_id: Any) -> Project:
    pk = _as_uuid(project_id)
    project = Project.objects.filter(tenant=tenant, pk=pk).first() if pk else None
    if project is None:
        raise ApplicationError(ErrorCode.PROJECT_NOT_FOUND)
    return project


def project_last_run(project: Project) -> MigrationRun | None:
    cached = getattr(project, "_prefetched_objects_cache", {}).get("runs")
    if cached is not None:
        return cached[0] if cached else None
    return project.runs.order_by("-created_at").first()


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
