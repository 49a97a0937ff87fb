"""The data of ``make demo``, set up the same way however many times it runs.

Each ``make demo`` starts new sandboxes (new ports, an empty Jira site), so
:func:`setup_demo` brings the one demo project up to date instead of creating
another: the demo tenant and user, the project (found by name), the saved
connection pointing at the new sandboxes, and a schedule of delta syncs. Runs an
earlier demo left active are cancelled (their sandboxes are gone), and the
project forgets what it wrote to the previous, now vanished, Jira site.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from migrations_app import connections, schedules, services
from migrations_app.models import ACTIVE_STATUSES, Project, Tenant

TENANT = "demo"
USERNAME, PASSWORD, EMAIL = "demo", "demo-password", "demo@example.com"
PROJECT_NAME = "Demo: Fabrikam to Jira"
PROJECT_DESCRIPTION = "Sandbox organisation into the sandbox Jira site"
SCHEDULE_INTERVAL = timedelta(minutes=2)
SCHEDULE_LENGTH = timedelta(days=1)
SCHEDULE_OPTIONS: dict[str, Any] = {
    "migrate_attachments": True,
    "migrate_comments": True,
    "migrate_links": True,
    "type_overrides": {},
    "state_overrides": {},
    "area_filter": None,
    "type_filter": [],
}


@dataclass(frozen=True)
class SandboxConnection:
    """What the sandbox prints on its JSON line (``manage.py sandbox``)."""

    ado_base_url: str
    org: str
    project: str
    pat: str
    jira_base_url: str
    email: str
    api_token: str
    project_key: str

    @classmethod
    def from_line(cls, line: Mapping[str, Any]) -> SandboxConnection:
        return cls(**{name: str(line[name]) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DemoSetup:
    project_id: uuid.UUID
    project_created: bool
    cancelled_runs: list[uuid.UUID] = field(default_factory=list)
    ledger_forgotten: int = 0


def setup_demo(sandbox: SandboxConnection, *, now: datetime | None = None) -> DemoSetup:
    now = now or timezone.now()
    services.tenant_user_ensure(
        tenant_slug=TENANT, tenant_name="Demo", username=USERNAME, password=PASSWORD, email=EMAIL
    )
    tenant = Tenant.objects.get(slug=TENANT)
    project = Project.objects.filter(tenant=tenant, name=PROJECT_NAME).first()
    created = project is None
    if project is None:
        project = services.project_create(
            tenant=tenant, name=PROJECT_NAME, description=PROJECT_DESCRIPTION
        )
    cancelled = [
        services.run_cancel(run=run).pk for run in project.runs.filter(status__in=ACTIVE_STATUSES)
    ]
    forgotten = services.project_forget_target(project=project)
    connections.connection_put(project=project, change=_connection_of(sandbox))
    schedules.schedule_put(
        project=project,
        settings=schedules.ScheduleSettings(
            interval_seconds=int(SCHEDULE_INTERVAL.total_seconds()),
            # The demo's own FULL run starts first; the first tick comes one interval later.
            start_at=now + SCHEDULE_INTERVAL,
            cutover_at=now + SCHEDULE_LENGTH,
            options=SCHEDULE_OPTIONS,
        ),
        now=now,
    )
    return DemoSetup(project.pk, created, cancelled, forgotten)


def _connection_of(sandbox: SandboxConnection) -> connections.ConnectionChange:
    return connections.ConnectionChange(
        source={"base_url": sandbox.ado_base_url, "org": sandbox.org, "project": sandbox.project},
        target={
            "base_url": sandbox.jira_base_url,
            "email": sandbox.email,
            "project_key": sandbox.project_key.upper(),
        },
        pat=sandbox.pat,
        api_token=sandbox.api_token,
    )
