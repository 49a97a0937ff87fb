"""Writes: projects, and the run state machine (one function per transition).

Every transition is a conditional UPDATE that checks the current state, so two
callers racing on one run (API and worker, two workers, the sweep) cannot both
win. Run states::

    PENDING --claim--> RUNNING --pause request--> PAUSED --resume--> RUNNING
    RUNNING --finish--> COMPLETED | PARTIAL | FAILED | CANCELLED
    PENDING | RUNNING | PAUSED --cancel--> CANCELLED
    any active state --fail--> FAILED

A rollback (``run_rollback``) is a new run of type ROLLBACK with the same states,
lease, controls and stream; it takes the project's one active slot like any run.

A worker holds a run through its lease (``lease_owner``, ``lease_expires_at``),
renewed at every engine checkpoint; a run whose lease expired is taken over.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from migrations_app import crypto, dispatch, events
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    Control,
    MigrationRun,
    Project,
    RunStatus,
    RunType,
    Tenant,
    User,
)
from migrations_app.webhooks import announce

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- projects
def project_create(*, tenant: Tenant, name: str, description: str = "") -> Project:
    try:
        with transaction.atomic():
            return Project.objects.create(tenant=tenant, name=name, description=description)
    except IntegrityError as exc:
        raise _duplicate_name(name) from exc


def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    if name is not None:
        project.name = name
    if description is not None:
        project.description = description
    try:
        with transaction.atomic():
            project.save(update_fields=["name", "description"])
    except IntegrityError as exc:
        raise _duplicate_name(project.name) from exc
    return project


def project_delete(*, project: Project) -> None:
    """Delete a project with its runs, items and ledger; refused while a run is active."""
    with transaction.atomic():
        if project.runs.filter(status__in=ACTIVE_STATUSES).exists():
            raise ApplicationError(
                ErrorCode.MIGRATION_ALREADY_RUNNING,
                "The project has an active run; cancel it before deleting the project.",
            )
        project.delete()


def project_forget_target(*, project: Project) -> int:
    """Forget what the project wrote to Jira (its ledger and unsettled writes), for a
    target that starts empty again, such as the demo's new sandbox: without this a FULL
    run would skip every item as already migrated. Runs and their items are kept.
    Refused while a run is active. Returns the number of ledger entries forgotten."""
    with transaction.atomic():
        if project.runs.filter(status__in=ACTIVE_STATUSES).exists():
            raise ApplicationError(
                ErrorCode.MIGRATION_ALREADY_RUNNING,
                "The project has an active run; cancel it before forgetting its target.",
            )
        project.pending_writes.all().delete()
        forgotten, _ = project.ledger.all().delete()
    return forgotten


def _duplicate_name(name: str) -> ApplicationError:
    return ApplicationError(
        ErrorCode.VALIDATION_ERROR,
        details={"name": [f"A project named {name!r} already exists."]},
    )


# --------------------------------------------------------------------------- run: API side
@dataclass(frozen=True)
class StartRequest:
    """A validated start request; ``source`` and ``target`` hold no secrets."""

    run_type: str
    source: dict[str, Any]
    target: dict[str, Any]
    options: dict[str, Any]
    pat: str
    api_token: str


def run_start(*, project: Project, request: StartRequest) -> MigrationRun:
    """Create the run (the database refuses a second active one) and enqueue it on commit."""
    changed_since = None
    if request.run_type == RunType.INCREMENTAL:
        changed_since = _last_finished_start(project)
    try:
        with transaction.atomic():
            run = MigrationRun.objects.create(
                tenant_id=project.tenant_id,
                project=project,
                type=request.run_type,
                status=RunStatus.PENDING,
                dry_run=bool(request.options.get("dry_run", False)),
                source=request.source,
                target=request.target,
                options=request.options,
                pat_encrypted=crypto.encrypt(request.pat),
                api_token_encrypted=crypto.encrypt(request.api_token),
                changed_since=changed_since,
                dispatched_at=timezone.now(),
            )
            events.publish_status(run.id, RunStatus.PENDING)
            _dispatch_on_commit(run.id)
    except IntegrityError as exc:
        raise ApplicationError(
            ErrorCode.MIGRATION_ALREADY_RUNNING,
            "A run of this project is already active (PENDING, RUNNING or PAUSED).",
        ) from exc
    run.refresh_from_db()
    return run


def _last_finished_start(project: Project) -> datetime | None:
    """INCREMENTAL's changed_since: start of the last run that finished COMPLETED or PARTIAL.

    Dry runs do not count: they wrote nothing to Jira, so nothing is migrated since them.
    Nor do rollbacks, nor runs a rollback removed (what they migrated is gone again).
    """
    rolled_back = MigrationRun.objects.filter(
        rollback_of=OuterRef("pk"),
        status__in=[RunStatus.COMPLETED, RunStatus.PARTIAL],
        dry_run=False,
    )
    last = (
        MigrationRun.objects.filter(
            project=project, status__in=[RunStatus.COMPLETED, RunStatus.PARTIAL], dry_run=False
        )
        .exclude(type=RunType.ROLLBACK)
        .filter(~Exists(rolled_back))
        .order_by(F("finished_at").desc(nulls_last=True), "-created_at")
        .values_list("started_at", "created_at")
        .first()
    )
    if last is None:
        return None
    return last[0] or last[1]


def run_rollback(*, run: MigrationRun, dry_run: bool) -> MigrationRun:
    """Start a ROLLBACK run that removes from Jira what ``run`` wrote (engine.rollback).

    Refused (ROLLBACK_NOT_ALLOWED) while ``run`` is active, for a rollback run (roll
    back the migration run itself again instead) and for a dry run (it wrote
    nothing). Another active run of the project: MIGRATION_ALREADY_RUNNING.
    Rolling back a run twice is allowed: the second finds only what the first left.
    """
    _check_rollback_allowed(run)
    try:
        with transaction.atomic():
            rollback = MigrationRun.objects.create(
                tenant_id=run.tenant_id,
                project_id=run.project_id,
                type=RunType.ROLLBACK,
                status=RunStatus.PENDING,
                dry_run=dry_run,
                source=run.source,
                target=run.target,
                options={"dry_run": dry_run},
                pat_encrypted=run.pat_encrypted,
                api_token_encrypted=run.api_token_encrypted,
                rollback_of=run,
                dispatched_at=timezone.now(),
            )
            events.publish_status(rollback.id, RunStatus.PENDING)
            _dispatch_on_commit(rollback.id)
    except IntegrityError as exc:
        _reload(run)
        _check_rollback_allowed(run)  # the run itself became active meanwhile
        raise ApplicationError(
            ErrorCode.MIGRATION_ALREADY_RUNNING,
            "Another run of this project is active (PENDING, RUNNING or PAUSED).",
        ) from exc
    rollback.refresh_from_db()
    return rollback


def _check_rollback_allowed(run: MigrationRun) -> None:
    if run.status in ACTIVE_STATUSES:
        raise ApplicationError(
            ErrorCode.ROLLBACK_NOT_ALLOWED,
            f"The run is {run.status}: cancel it or let it finish before rolling it back.",
            {"runId": str(run.pk), "status": run.status},
        )
    if run.type == RunType.ROLLBACK:
        raise ApplicationError(
            ErrorCode.ROLLBACK_NOT_ALLOWED,
            "A rollback cannot be rolled back; run the migration again to recreate what it "
            "removed.",
            {"runId": str(run.pk), "type": run.type},
        )
    if run.dry_run:
        raise ApplicationError(
            ErrorCode.ROLLBACK_NOT_ALLOWED,
            "A dry run wrote nothing to Jira: there is nothing to roll back.",
            {"runId": str(run.pk), "dryRun": True},
        )


def run_request_pause(*, run: MigrationRun) -> MigrationRun:
    """RUNNING → PAUSED at once; the engine stops at its next checkpoint and releases the lease."""
    with transaction.atomic():
        changed = MigrationRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.PAUSED, control=Control.PAUSE, updated_at=timezone.now()
        )
        if not changed:
            _reload(run)
            raise ApplicationError(
                ErrorCode.MIGRATION_NOT_RUNNING,
                f"Only a RUNNING run can be paused; this one is {run.status}.",
            )
        events.publish_status(run.pk, RunStatus.PAUSED)
    return _reload(run)


def run_resume(*, run: MigrationRun) -> MigrationRun:
    """PAUSED → RUNNING and enqueue: the worker that claims it continues from the checkpoint."""
    with transaction.atomic():
        changed = MigrationRun.objects.filter(pk=run.pk, status=RunStatus.PAUSED).update(
            status=RunStatus.RUNNING,
            control=Control.NONE,
            dispatched_at=timezone.now(),
            finished_at=None,
            updated_at=timezone.now(),
        )
        if not changed:
            _reload(run)
            raise ApplicationError(
                ErrorCode.MIGRATION_NOT_PAUSED,
                f"Only a PAUSED run can be resumed; this one is {run.status}.",
            )
        events.publish_status(run.pk, RunStatus.RUNNING)
        _dispatch_on_commit(run.pk)
    return _reload(run)


def run_cancel(*, run: MigrationRun) -> MigrationRun:
    """Any active state → CANCELLED; a working engine stops at its next checkpoint.

    The end of the run is announced by the engine when it stops (with its counts),
    or here when no worker holds the run (it was queued or paused).
    """
    now = timezone.now()
    with transaction.atomic():
        changed = MigrationRun.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED,
            control=Control.CANCEL,
            status_reason="Cancelled by user.",
            finished_at=now,
            updated_at=now,
        )
        if not changed:
            _reload(run)
            raise ApplicationError(
                ErrorCode.MIGRATION_FINISHED,
                f"The run has already finished ({run.status}); it cannot be cancelled.",
            )
        events.publish_status(run.pk, RunStatus.CANCELLED)
        held = MigrationRun.objects.filter(pk=run.pk, lease_expires_at__gte=now).exists()
        if not held:
            announce.run_finished(run.pk)
    return _reload(run)


def _reload(run: MigrationRun) -> MigrationRun:
    try:
        run.refresh_from_db()
    except MigrationRun.DoesNotExist as exc:
        raise ApplicationError(ErrorCode.MIGRATION_NOT_FOUND) from exc
    return run


# --------------------------------------------------------------------------- dispatch
def _dispatch_on_commit(run_id: uuid.UUID) -> None:
    """Enqueue the run's task once the transaction commits.

    A broker that cannot take the task leaves the run FAILED with the reason
    recorded (never PENDING forever) and raises ENGINE_DISPATCH_FAILED.
    """

    def send() -> None:
        try:
            dispatch.send_run(run_id)
        except Exception as exc:
            reason = f"Could not enqueue the run: {type(exc).__name__}: {exc}"
            logger.error("dispatch of run %s failed: %s", run_id, reason)
            run_fail(run_id, reason=f"ENGINE_DISPATCH_FAILED: {reason}")
            raise ApplicationError(
                ErrorCode.ENGINE_DISPATCH_FAILED,
                "Could not start the migration worker; the run was marked FAILED.",
                {"runId": str(run_id), "reason": reason},
            ) from exc

    transaction.on_commit(send, robust=False)


def dispatch_later(run_id: uuid.UUID | str, countdown: float) -> None:
    """Re-enqueue a run that could not start yet (its project is still held by a stopping run)."""
    try:
        dispatch.send_run(run_id, countdown=countdown)
    except Exception:
        logger.warning("could not re-enqueue run %s; the sweep will", run_id, exc_info=True)


# --------------------------------------------------------------------------- run: worker side
class Claim(enum.Enum):
    CLAIMED = "claimed"
    HELD = "held"  # a live worker holds the lease: this delivery has nothing to do
    PROJECT_BUSY = "project-busy"  # another run of the project still holds a live lease
    GONE = "gone"  # missing, finished or paused: nothing to do


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.MIGRATOR_LEASE_SECONDS)


def run_claim(run_id: uuid.UUID | str, owner: str) -> Claim:
    """Compare-and-set the lease: PENDING, or RUNNING with an expired lease or our own."""
    now = timezone.now()
    other_live_run = MigrationRun.objects.filter(
        project_id=OuterRef("project_id"), lease_expires_at__gt=now
    ).exclude(pk=OuterRef("pk"))
    claimable = (
        MigrationRun.objects.filter(pk=run_id)
        .filter(
            Q(status=RunStatus.PENDING)
            | Q(status=RunStatus.RUNNING)
            & (
                Q(lease_expires_at__isnull=True)
                | Q(lease_expires_at__lt=now)
                | Q(lease_owner=owner)
            )
        )
        .filter(~Exists(other_live_run))
    )
    changed = claimable.update(
        status=RunStatus.RUNNING,
        lease_owner=owner,
        lease_expires_at=_lease_until(now),
        started_at=Coalesce(F("started_at"), now),
        updated_at=now,
    )
    if changed:
        events.publish_status(run_id, RunStatus.RUNNING)
        return Claim.CLAIMED
    run = MigrationRun.objects.filter(pk=run_id).first()
    if run is None or run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
        return Claim.GONE
    if run.status == RunStatus.RUNNING and run.lease_expires_at and run.lease_expires_at >= now:
        return Claim.HELD
    return Claim.PROJECT_BUSY


def run_heartbeat(run_id: uuid.UUID | str, owner: str) -> bool:
    """Renew the lease; False when another worker has taken the run over."""
    now = timezone.now()
    return bool(
        MigrationRun.objects.filter(pk=run_id, lease_owner=owner).update(
            lease_expires_at=_lease_until(now)
        )
    )


def _released() -> dict[str, Any]:
    return {"lease_owner": "", "lease_expires_at": None, "updated_at": timezone.now()}


def run_finish(
    run_id: uuid.UUID | str,
    owner: str,
    *,
    status: str,
    reason: str = "",
    claimed_at: datetime,
) -> str | None:
    """Apply the engine's outcome; returns the run's status, or None when the lease was lost."""
    mine = MigrationRun.objects.filter(pk=run_id, lease_owner=owner)
    now = timezone.now()
    if status == RunStatus.PAUSED:
        return _ack_pause(run_id, owner, claimed_at)
    fields: dict[str, Any] = {
        "status": status,
        "status_reason": reason,
        "finished_at": now,
        "control": Control.NONE,
        **_released(),
    }
    if status in (RunStatus.COMPLETED, RunStatus.PARTIAL):
        fields["progress_percent"] = 100
    with transaction.atomic():
        if mine.filter(status__in=[RunStatus.RUNNING, RunStatus.PAUSED]).update(**fields):
            # The engine has announced both already; these only cover an engine that did not.
            events.publish_status(run_id, status)
            announce.run_finished(run_id)
            return status
    # Cancelled (or failed) by someone else meanwhile: keep that state, drop the lease.
    return _release_keeping_status(run_id, owner)


def _ack_pause(run_id: uuid.UUID | str, owner: str, claimed_at: datetime) -> str | None:
    mine = MigrationRun.objects.filter(pk=run_id, lease_owner=owner)
    if mine.filter(status=RunStatus.PAUSED).update(**_released()):
        return RunStatus.PAUSED
    # Resumed while we were stopping: the resume's task found our lease and left;
    # give the run back to the queue.
    if mine.filter(status=RunStatus.RUNNING, dispatched_at__gt=claimed_at).update(**_released()):
        dispatch_later(run_id, countdown=0)
        return RunStatus.RUNNING
    # The engine paused on its own (no request): record it as paused.
    if mine.filter(status=RunStatus.RUNNING).update(
        status=RunStatus.PAUSED, control=Control.PAUSE, **_released()
    ):
        events.publish_status(run_id, RunStatus.PAUSED)
        return RunStatus.PAUSED
    return _release_keeping_status(run_id, owner)


def _release_keeping_status(run_id: uuid.UUID | str, owner: str) -> str | None:
    if MigrationRun.objects.filter(pk=run_id, lease_owner=owner).update(**_released()):
        return str(MigrationRun.objects.values_list("status", flat=True).get(pk=run_id))
    return None


def run_fail(run_id: uuid.UUID | str, *, reason: str, owner: str | None = None) -> bool:
    """Any active state → FAILED with the reason; with ``owner``, only while we hold the lease."""
    now = timezone.now()
    query = MigrationRun.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES)
    if owner is not None:
        query = query.filter(lease_owner=owner)
    with transaction.atomic():
        changed = query.update(
            status=RunStatus.FAILED,
            status_reason=reason[:4000],
            finished_at=now,
            control=Control.NONE,
            **_released(),
        )
        if changed:
            events.publish_status(run_id, RunStatus.FAILED)
            announce.run_finished(run_id)  # the counts as they stand: nothing more will run
    if not changed and owner is not None:
        MigrationRun.objects.filter(pk=run_id, lease_owner=owner).update(**_released())
    return bool(changed)


# --------------------------------------------------------------------------- sweep
def sweep_stale_runs(limit: int = 100) -> list[uuid.UUID]:
    """Re-enqueue runs that nobody works on: queued ones whose message may be lost,
    and RUNNING ones whose lease expired (their worker died). Never leaves a run
    RUNNING forever. Safe to run from several workers at once (compare-and-set)."""
    now = timezone.now()
    redispatch_before = now - timedelta(seconds=settings.MIGRATOR_REDISPATCH_SECONDS)
    stale = (
        Q(status__in=[RunStatus.PENDING, RunStatus.RUNNING])
        & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        & (
            Q(dispatched_at__isnull=True)
            | Q(dispatched_at__lt=redispatch_before)
            # not dispatched since the lease lapsed
            | Q(lease_expires_at__gt=F("dispatched_at"))
        )
    )
    swept = []
    for run_id in MigrationRun.objects.filter(stale).values_list("pk", flat=True)[:limit]:
        if MigrationRun.objects.filter(stale, pk=run_id).update(dispatched_at=now):
            try:
                dispatch.send_run(run_id)
            except Exception:
                logger.warning("sweep could not enqueue run %s", run_id, exc_info=True)
                continue
            logger.info("sweep re-enqueued run %s", run_id)
            swept.append(run_id)
    return swept


__all__ = [
    "FINISHED_STATUSES",
    "Claim",
    "StartRequest",
    "dispatch_later",
    "project_create",
    "project_delete",
    "project_forget_target",
    "project_update",
    "run_cancel",
    "run_claim",
    "run_fail",
    "run_finish",
    "run_heartbeat",
    "run_request_pause",
    "run_resume",
    "run_rollback",
    "run_start",
    "sweep_stale_runs",
    "tenant_user_ensure",
]


# --------------------------------------------------------------------------- tenants and users
def tenant_user_ensure(
    *, tenant_slug: str, tenant_name: str, username: str, password: str, email: str = ""
) -> str:
    """Create the tenant when missing, then the user in it; a second call changes nothing."""
    with transaction.atomic():
        tenant, tenant_created = Tenant.objects.get_or_create(
            slug=tenant_slug, defaults={"name": tenant_name}
        )
        user = User.objects.select_for_update().filter(username=username).first()
        if user is None:
            User.objects.create_user(
                username=username, password=password, email=email, tenant=tenant
            )
            return f"created user {username} in tenant {tenant_slug}" + (
                " (new tenant)" if tenant_created else ""
            )
        if user.tenant_id != tenant.pk:
            raise ValueError(f"user {username!r} exists in another tenant; refusing to move it")
        changed = []
        if not user.check_password(password):
            user.set_password(password)
            changed.append("password")
        if email and user.email != email:
            user.email = email
            changed.append("email")
        if changed:
            user.save(update_fields=changed)
            return f"updated {', '.join(changed)} of user {username} in tenant {tenant_slug}"
        return f"user {username} in tenant {tenant_slug} unchanged"
