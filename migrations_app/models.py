"""Tenants, users, projects, runs, per-run items and the project-wide ledger.

State changes of a run go through :mod:`migrations_app.services` (one function per
transition, each a conditional UPDATE); reads go through :mod:`migrations_app.selectors`.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class Tenant(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class User(AbstractUser):
    # Null only for operators (superusers) who work in the admin, not the API.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="project_name_unique_in_tenant"
            ),
        ]
        indexes = [
            # GET /api/projects: a tenant's projects, newest first.
            models.Index(fields=["tenant", "-created_at"], name="project_tenant_created"),
        ]

    def __str__(self) -> str:
        return self.name


class RunType(models.TextChoices):
    FULL = "FULL"
    SAMPLE = "SAMPLE"
    INCREMENTAL = "INCREMENTAL"
    # Removes from Jira what the run ``rollback_of`` wrote (engine.rollback); started by
    # POST /api/migrations/{runId}/rollback, never by the start endpoint.
    ROLLBACK = "ROLLBACK"


# The types the start endpoint and the start form accept (the seed's three).
MIGRATION_TYPES = (RunType.FULL, RunType.SAMPLE, RunType.INCREMENTAL)


class RunStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED)
FINISHED_STATUSES = (
    RunStatus.COMPLETED,
    RunStatus.PARTIAL,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
)


class Control(models.TextChoices):
    NONE = "none"
    PAUSE = "pause"
    CANCEL = "cancel"


class MigrationRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="runs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    type = models.CharField(max_length=16, choices=RunType.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    status_reason = models.TextField(blank=True, default="")
    dry_run = models.BooleanField(default=False)

    # The request's payload without secrets (pat and api_token live encrypted below).
    source = models.JSONField(default=dict)
    target = models.JSONField(default=dict)
    options = models.JSONField(default=dict)
    pat_encrypted = models.TextField(editable=False)
    api_token_encrypted = models.TextField(editable=False)
    changed_since = models.DateTimeField(null=True, blank=True)
    # ROLLBACK runs: the run whose writes they remove.
    rollback_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rollbacks"
    )

    total_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    current_phase = models.PositiveSmallIntegerField(default=0)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    speed = models.FloatField(default=0.0)  # items per second, as last reported

    control = models.CharField(max_length=8, choices=Control.choices, default=Control.NONE)
    lease_owner = models.CharField(max_length=255, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    plan = models.JSONField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)

    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One active run per project, enforced by the database: two concurrent
            # starts give one run and one IntegrityError (MIGRATION_ALREADY_RUNNING).
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status__in=["PENDING", "RUNNING", "PAUSED"]),
                name="run_one_active_per_project",
            ),
        ]
        indexes = [
            # GET /api/migrations?projectId=: a project's runs, most recent first;
            # also lastRun of a project and INCREMENTAL's last finished run.
            models.Index(fields=["project", "-created_at"], name="run_project_created"),
            # The sweep: queued or running runs whose lease expired.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status__in=["PENDING", "RUNNING"]),
                name="run_sweep_candidates",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} run {self.id} ({self.status})"


class ItemStatus(models.TextChoices):
    PENDING = "PENDING"
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    # ROLLBACK runs only: what the rolled-back run wrote for the item was removed.
    REMOVED = "REMOVED"


class RunItem(models.Model):
    run = models.ForeignKey(MigrationRun, on_delete=models.CASCADE, related_name="items")
    ado_id = models.BigIntegerField()
    ado_type = models.CharField(max_length=128, blank=True, default="")
    ado_url = models.URLField(max_length=1000, blank=True, default="")
    jira_key = models.CharField(max_length=64, blank=True, default="")
    jira_id = models.CharField(max_length=64, blank=True, default="")
    jira_url = models.URLField(max_length=1000, blank=True, default="")
    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "ado_id"], name="item_unique_per_run"),
        ]
        indexes = [
            # GET /items?status=: a run's items of one status, in ADO id order.
            models.Index(fields=["run", "status", "ado_id"], name="item_run_status"),
            # The crosswalk: the latest item row of an ADO id across a project's runs.
            models.Index(fields=["ado_id", "-updated_at"], name="item_ado_latest"),
        ]

    def __str__(self) -> str:
        return f"ADO #{self.ado_id} → {self.jira_key or '-'} ({self.status})"


class LedgerEntry(models.Model):
    """What a project has written to Jira for one ADO item, across all its runs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ledger")
    ado_id = models.BigIntegerField()
    jira_key = models.CharField(max_length=64)
    jira_id = models.CharField(max_length=64)
    ado_rev = models.PositiveIntegerField(default=0)
    comments = models.JSONField(default=dict)  # ADO comment id -> Jira comment id
    attachments = models.JSONField(default=dict)  # ADO attachment id -> Jira attachment id
    links = models.JSONField(default=list)  # stable keys of links created
    state = models.CharField(max_length=128, blank=True, default="")
    # The engine's own bookkeeping (write intents, per-phase steps), saved verbatim.
    extra = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "ado_id"], name="ledger_unique_per_project"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"ADO #{self.ado_id} → {self.jira_key}"


class PendingWrite(models.Model):
    """A Jira write of the project whose outcome is unknown (the engine's settle book).

    Not re-sent before ``deadline``: until then Jira may still apply it. Project-wide
    so that a paused, cancelled, taken-over or next run honours it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pending_writes")
    key = models.CharField(max_length=300)
    ado_id = models.BigIntegerField(null=True, blank=True)
    since = models.FloatField()  # epoch seconds
    deadline = models.FloatField()  # epoch seconds
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="pending_write_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} (until {self.deadline:.0f})"
