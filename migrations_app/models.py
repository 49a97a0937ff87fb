"""Tenants, users, projects, runs, per-run items and the project-wide ledger.

State changes of a run go through :mod:`migrations_app.services` (one function per
transition, each a conditional UPDATE); reads go through :mod:`migrations_app.selectors`.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q

from migrations_app.run_digest import ReportDigest


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

    # The parts of the report that the dashboard pages show (mappings, a rollback's
    # counts and first rows), bounded in size; the whole plan and report are in
    # RunDocument, which only the report answers and the engine read.
    report_digest = models.JSONField(default=dict, blank=True, editable=False)

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

    @property
    def digest(self) -> ReportDigest:
        """What the pages show of the run's report (see migrations_app.run_digest)."""
        return ReportDigest.from_json(self.report_digest)


class RunDocument(models.Model):
    """A run's plan and report: the engine's two documents, which grow with the project.

    Kept off the run row so that a status poll, a run list or a page cannot load
    them by accident; written by the engine bridge, read by the engine on resume
    and by the report answers.
    """

    run = models.OneToOneField(
        MigrationRun, on_delete=models.CASCADE, primary_key=True, related_name="document"
    )
    plan = models.JSONField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"plan and report of run {self.run_id}"


class RunPlanItem(models.Model):
    """One item's decisions in a run's plan (the engine's ``PlannedItem``), in creation
    order (``seq``). Written once when the run is planned, read when it resumes; the
    rest of the plan is in :class:`RunDocument`, so its size does not grow with the
    project."""

    run = models.ForeignKey(MigrationRun, on_delete=models.CASCADE, related_name="plan_items")
    seq = models.PositiveIntegerField()
    data = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="plan_item_unique_per_run"),
        ]

    def __str__(self) -> str:
        return f"plan item {self.seq} of run {self.run_id}"


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


# --------------------------------------------------------------------------- webhooks
class Webhook(models.Model):
    """An endpoint of a project that is told about its runs (see migrations_app.webhooks).

    The URL passed the outgoing-call guard when it was saved, and passes it again at
    every connection; the signing secret is stored encrypted and never shown again
    after the create response.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    secret_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "url"], name="webhook_url_unique_in_project"
            ),
        ]
        indexes = [
            # GET /api/projects/{id}/webhooks, and the fan-out to a project's enabled ones.
            models.Index(fields=["project", "created_at"], name="webhook_project_created"),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookEventType(models.TextChoices):
    RUN_STATUS = "run.status"
    RUN_FINISHED = "run.finished"
    PING = "ping"


class WebhookEvent(models.Model):
    """One announcement of a run, whatever number of webhooks hear it.

    ``sequence`` counts a run's announcements from 1; a status is announced only
    when it differs from the run's last announced one (the API and the engine may
    both report a change), and ``run.finished`` at most once per run.
    """

    run = models.ForeignKey(MigrationRun, on_delete=models.CASCADE, related_name="webhook_events")
    sequence = models.PositiveIntegerField()
    type = models.CharField(max_length=16, choices=WebhookEventType.choices)
    status = models.CharField(max_length=16)  # lowercase, as the stream says it
    payload = models.JSONField()  # the delivery body without its deliveryId
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="webhook_event_sequence"),
            models.UniqueConstraint(
                fields=["run"],
                condition=Q(type="run.finished"),
                name="webhook_event_one_finish_per_run",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.status} #{self.sequence} of run {self.run_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One event for one webhook: the exact body sent, its state, its attempts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # deliveryId
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(
        WebhookEvent, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )  # null for a ping
    type = models.CharField(max_length=16, choices=WebhookEventType.choices)
    body = models.TextField()  # the JSON sent, byte for byte the same at every attempt
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField()
    # Held while an attempt is in flight, so that a duplicate message cannot send twice.
    locked_until = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "event"], name="webhook_delivery_once_per_event"
            ),
        ]
        indexes = [
            # GET .../deliveries: a webhook's deliveries, newest first.
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_created"),
            # The sweep: pending deliveries whose next attempt is overdue.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="delivery_sweep_candidates",
            ),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.type} → {self.webhook_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: what came back (or why nothing did), and how long it took."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    url = models.URLField(max_length=2000)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number"),
        ]

    def __str__(self) -> str:
        outcome = self.status_code or self.error[:40] or "-"
        return f"attempt {self.number} of {self.delivery_id}: {outcome}"


# ------------------------------------------------------------- saved connections, schedules
class ProjectConnection(models.Model):
    """The project's saved source (Azure DevOps) and target (Jira) connection.

    Written by :mod:`migrations_app.connections`. The secrets are encrypted like a
    run's (MultiFernet, ``FIELD_ENCRYPTION_KEY``) and are never shown: an empty
    column means "not saved". A start that leaves a secret out takes it from here,
    and only for the origin it was saved with.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="connection"
    )
    ado_base_url = models.CharField(max_length=500)
    ado_org = models.CharField(max_length=200)
    ado_project = models.CharField(max_length=200)
    pat_encrypted = models.TextField(blank=True, default="", editable=False)
    pat_updated_at = models.DateTimeField(null=True, blank=True)
    jira_base_url = models.CharField(max_length=500)
    jira_email = models.CharField(max_length=254)
    jira_project_key = models.CharField(max_length=255)
    api_token_encrypted = models.TextField(blank=True, default="", editable=False)
    api_token_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.ado_org}/{self.ado_project} → {self.jira_project_key}"

    @property
    def has_pat(self) -> bool:
        return bool(self.pat_encrypted)

    @property
    def has_api_token(self) -> bool:
        return bool(self.api_token_encrypted)


class ScheduleStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ENDED = "ENDED"  # the cut-over has passed: no more runs


class SyncSchedule(models.Model):
    """A project's scheduled delta sync: an INCREMENTAL run every interval, from
    ``start_at`` until ``cutover_at``, with the saved connection.

    Written by :mod:`migrations_app.schedules`, which keeps the django-celery-beat
    ``PeriodicTask`` that fires the ticks in step with this row.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="schedule"
    )
    interval_seconds = models.PositiveIntegerField()
    start_at = models.DateTimeField()
    cutover_at = models.DateTimeField()
    status = models.CharField(
        max_length=8, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE
    )
    # The runs' options and filters (migrate_*, *_overrides, area_filter, type_filter).
    options = models.JSONField(default=dict)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    last_tick_at = models.DateTimeField(null=True, blank=True)
    run_count = models.PositiveIntegerField(default=0)
    skip_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        until = f"{self.cutover_at:%Y-%m-%d %H:%M}"
        return f"every {self.interval_seconds} s until {until} ({self.status})"


class TickOutcome(models.TextChoices):
    STARTED = "STARTED"  # an INCREMENTAL run was started
    SKIPPED = "SKIPPED"  # nothing started; the reason says why (a run is active, ...)
    FAILED = "FAILED"  # the run could not be enqueued
    ENDED = "ENDED"  # the cut-over passed; the schedule stopped


class ScheduleTick(models.Model):
    """What one tick of a schedule did, and why (the schedule's history)."""

    schedule = models.ForeignKey(SyncSchedule, on_delete=models.CASCADE, related_name="ticks")
    at = models.DateTimeField()
    outcome = models.CharField(max_length=8, choices=TickOutcome.choices)
    reason = models.TextField(blank=True, default="")
    run = models.ForeignKey(
        MigrationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            # The schedule's recent ticks, newest first (API, project page, pruning).
            models.Index(fields=["schedule", "-at"], name="tick_schedule_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.outcome}"
