"""Writes: a project's scheduled delta sync, the beat entry kept in step with it,
and what each tick does.

A schedule starts an INCREMENTAL run with the project's saved connection every
``interval_seconds``, from ``start_at`` until ``cutover_at``. States::

    ACTIVE --pause--> PAUSED --resume--> ACTIVE
    ACTIVE --a tick at or after the cut-over--> ENDED
    ENDED --PUT or PATCH with a later cutoverAt--> ACTIVE

``celery beat`` (django-celery-beat's DatabaseScheduler) fires the ticks: each
schedule owns one ``PeriodicTask`` on an ``IntervalSchedule``, saved by
:func:`sync_periodic_task` whenever the schedule changes (saving it, not a bulk
UPDATE, is what tells a running beat to reload). The task calls
:func:`schedule_tick`, which decides on the database's state only, so beat
firing twice, a redelivered message or a tick after a pause does no harm: a
tick less than half an interval after the previous one is a duplicate and does
nothing, and a tick of a paused or ended schedule does nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from migrations_app import connections, selectors, services
from migrations_app.errors import ApplicationError, ErrorCode, invalid
from migrations_app.models import (
    Project,
    RunType,
    ScheduleStatus,
    ScheduleTick,
    SyncSchedule,
    TickOutcome,
)

logger = logging.getLogger(__name__)

TICK_TASK = "migrations.schedule_tick"
TICKS_KEPT = 200  # per schedule; older ones are pruned
# Options of the scheduled runs that go to the source, not to enginePayload.options.
FILTERS = ("area_filter", "type_filter")


@dataclass(frozen=True)
class ScheduleSettings:
    interval_seconds: int
    start_at: datetime
    cutover_at: datetime
    options: Mapping[str, Any]  # migrate_*, *_overrides, area_filter, type_filter


# --------------------------------------------------------------------------- writes
def schedule_put(
    *, project: Project, settings: ScheduleSettings, now: datetime | None = None
) -> tuple[SyncSchedule, bool]:
    """Create or replace the schedule; returns it and whether it is new. A paused
    schedule stays paused; an ended one is active again (its cut-over is later now)."""
    now = now or timezone.now()
    _check(settings, now, cutover_changed=True)
    if not selectors.connection_ready(project):
        raise invalid(
            {
                "connection": [
                    "The project has no saved connection with both secrets; save it first "
                    f"(PUT /api/projects/{project.pk}/connection)."
                ]
            }
        )
    try:
        return _put(project, settings)
    except IntegrityError:
        return _put(project, settings)  # another PUT created it meanwhile: this one replaces it


def _put(project: Project, settings: ScheduleSettings) -> tuple[SyncSchedule, bool]:
    with transaction.atomic():
        saved = SyncSchedule.objects.select_for_update().filter(project=project).first()
        schedule = saved or SyncSchedule(project=project)
        _assign(schedule, settings)
        if schedule.status == ScheduleStatus.ENDED:
            schedule.status = ScheduleStatus.ACTIVE
        schedule.save()
        sync_periodic_task(schedule)
    return schedule, saved is None


def schedule_patch(
    *, project: Project, changes: Mapping[str, Any], now: datetime | None = None
) -> SyncSchedule:
    """Change some settings (keys of :class:`ScheduleSettings`; ``options`` merge)."""
    now = now or timezone.now()
    with transaction.atomic():
        schedule = SyncSchedule.objects.select_for_update().filter(project=project).first()
        if schedule is None:
            raise ApplicationError(ErrorCode.SCHEDULE_NOT_FOUND)
        current = _settings_of(schedule)
        updated = replace(
            current,
            **{k: v for k, v in changes.items() if k != "options"},
            options={**current.options, **changes.get("options", {})},
        )
        _check(updated, now, cutover_changed="cutover_at" in changes)
        _assign(schedule, updated)
        if schedule.status == ScheduleStatus.ENDED and "cutover_at" in changes:
            schedule.status = ScheduleStatus.ACTIVE
        schedule.save()
        sync_periodic_task(schedule)
    return schedule


def schedule_pause(*, project: Project, now: datetime | None = None) -> SyncSchedule:
    """ACTIVE → PAUSED (no tick starts anything until resumed); PAUSED stays PAUSED."""
    return _transition(project, to=ScheduleStatus.PAUSED, now=now or timezone.now())


def schedule_resume(*, project: Project, now: datetime | None = None) -> SyncSchedule:
    """PAUSED → ACTIVE: the next tick comes an interval after the last one (at once
    after a longer pause). ACTIVE stays ACTIVE."""
    return _transition(project, to=ScheduleStatus.ACTIVE, now=now or timezone.now())


def schedule_delete(*, project: Project) -> None:
    """Delete the schedule, its ticks and its beat entry (see :func:`drop_periodic_task`)."""
    deleted, _ = SyncSchedule.objects.filter(project=project).delete()
    if not deleted:
        raise ApplicationError(ErrorCode.SCHEDULE_NOT_FOUND)


def _transition(project: Project, *, to: ScheduleStatus, now: datetime) -> SyncSchedule:
    with transaction.atomic():
        schedule = SyncSchedule.objects.select_for_update().filter(project=project).first()
        if schedule is None:
            raise ApplicationError(ErrorCode.SCHEDULE_NOT_FOUND)
        if schedule.status != ScheduleStatus.ENDED and now >= schedule.cutover_at:
            _set_status(schedule, ScheduleStatus.ENDED)
        if schedule.status != ScheduleStatus.ENDED:
            if schedule.status != to:
                _set_status(schedule, to)
            return schedule
    # Outside the transaction: a schedule found past its cut-over stays ENDED.
    raise ApplicationError(
        ErrorCode.SCHEDULE_ENDED,
        f"The cut-over ({schedule.cutover_at.isoformat()}) has passed; PATCH a later "
        "cutoverAt to schedule runs again.",
    )


def _set_status(schedule: SyncSchedule, status: ScheduleStatus) -> None:
    schedule.status = status
    schedule.save(update_fields=["status", "updated_at"])
    sync_periodic_task(schedule)


def _check(settings: ScheduleSettings, now: datetime, *, cutover_changed: bool) -> None:
    errors: dict[str, list[str]] = {}
    if settings.cutover_at <= settings.start_at:
        errors["cutoverAt"] = ["The cut-over must be later than startAt."]
    elif cutover_changed and settings.cutover_at <= now:
        errors["cutoverAt"] = ["The cut-over must be in the future."]
    if errors:
        raise invalid(errors)


def _assign(schedule: SyncSchedule, settings: ScheduleSettings) -> None:
    schedule.interval_seconds = settings.interval_seconds
    schedule.start_at = settings.start_at
    schedule.cutover_at = settings.cutover_at
    schedule.options = dict(settings.options)


def _settings_of(schedule: SyncSchedule) -> ScheduleSettings:
    return ScheduleSettings(
        interval_seconds=schedule.interval_seconds,
        start_at=schedule.start_at,
        cutover_at=schedule.cutover_at,
        options=dict(schedule.options),
    )


# --------------------------------------------------------------------------- the beat entry
def periodic_task_name(schedule: SyncSchedule) -> str:
    return f"delta-sync {schedule.project_id}"


def sync_periodic_task(schedule: SyncSchedule) -> PeriodicTask:
    """Make the schedule's PeriodicTask match it: interval, start, enabled while ACTIVE.

    A tick message not taken within one interval expires (the next one will come):
    ticks do not pile up behind a busy or stopped worker.
    """
    interval = IntervalSchedule.objects.filter(
        every=schedule.interval_seconds, period=IntervalSchedule.SECONDS
    ).first() or IntervalSchedule.objects.create(
        every=schedule.interval_seconds, period=IntervalSchedule.SECONDS
    )
    name = periodic_task_name(schedule)
    task = (
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).first()
        or PeriodicTask.objects.filter(name=name).first()
        or PeriodicTask(name=name)
    )
    task.task = TICK_TASK
    task.interval = interval
    task.crontab = task.solar = task.clocked = None
    task.args = json.dumps([str(schedule.project_id)])
    task.kwargs = "{}"
    task.start_time = schedule.start_at
    task.expire_seconds = schedule.interval_seconds
    task.enabled = schedule.status == ScheduleStatus.ACTIVE
    task.one_off = False
    task.description = f"Scheduled INCREMENTAL runs of project {schedule.project_id}"
    task.save()  # its pre_save signal tells a running beat to reload
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task = task
        SyncSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
    return task


def drop_periodic_task(sender: Any, instance: SyncSchedule, **_: Any) -> None:
    """A deleted schedule (by the API, the admin or its project's deletion) takes its
    beat entry with it. Connected to ``post_delete`` (apps.py): a cascade from the
    project's deletion runs no service."""
    PeriodicTask.objects.filter(
        Q(pk=instance.periodic_task_id) | Q(name=periodic_task_name(instance))
    ).delete()


# --------------------------------------------------------------------------- ticks
def schedule_tick(project_id: str, *, now: datetime | None = None) -> TickOutcome | None:
    """One beat tick: start an INCREMENTAL run with the saved connection, or record
    why not (a run is active, no usable connection), or end the schedule at its
    cut-over. None when the tick has nothing to do (paused, ended, not started
    yet, a duplicate)."""
    now = now or timezone.now()
    try:
        pk = uuid.UUID(str(project_id))
    except ValueError:
        return None
    schedule = SyncSchedule.objects.filter(pk=pk).select_related("project").first()
    if schedule is None or schedule.status != ScheduleStatus.ACTIVE or now < schedule.start_at:
        return None
    if now >= schedule.cutover_at:
        return _end(schedule, now)
    half = timedelta(seconds=schedule.interval_seconds / 2)
    claimed = (
        SyncSchedule.objects.filter(pk=schedule.pk, status=ScheduleStatus.ACTIVE)
        .filter(Q(last_tick_at__isnull=True) | Q(last_tick_at__lte=now - half))
        .update(last_tick_at=now)
    )
    if not claimed:
        return None
    return _start_or_skip(schedule, now)


def _start_or_skip(schedule: SyncSchedule, now: datetime) -> TickOutcome:
    project = schedule.project
    active = selectors.project_active_run(project)
    if active is not None:
        return _record(
            schedule,
            now,
            TickOutcome.SKIPPED,
            f"Run {active.pk} is {active.status}: a project has one active run at a time.",
        )
    try:
        request = connections.resolve_start(
            project=project, run_type=RunType.INCREMENTAL, payload=_payload(schedule)
        )
        run = services.run_start(project=project, request=request)
    except ApplicationError as exc:
        if exc.code == ErrorCode.MIGRATION_ALREADY_RUNNING:
            return _record(schedule, now, TickOutcome.SKIPPED, exc.message)
        if exc.code == ErrorCode.VALIDATION_ERROR:
            problems = "; ".join(f"{path}: {' '.join(m)}" for path, m in exc.details.items())
            reason = f"The saved connection cannot start a run ({problems})."
            return _record(schedule, now, TickOutcome.SKIPPED, reason)
        logger.warning("schedule of project %s: run not started: %s", project.pk, exc.message)
        reason = f"{exc.code.value}: {exc.message}"
        return _record(schedule, now, TickOutcome.FAILED, reason, run_id=exc.details.get("runId"))
    return _record(schedule, now, TickOutcome.STARTED, "", run_id=run.pk)


def _payload(schedule: SyncSchedule) -> dict[str, Any]:
    options = {k: v for k, v in schedule.options.items() if k not in FILTERS}
    source = {k: schedule.options.get(k) for k in FILTERS}
    source["type_filter"] = list(source["type_filter"] or [])
    return {"source": source, "options": {**options, "dry_run": False}}


def _end(schedule: SyncSchedule, now: datetime) -> TickOutcome | None:
    with transaction.atomic():
        ended = SyncSchedule.objects.filter(pk=schedule.pk, status=ScheduleStatus.ACTIVE).update(
            status=ScheduleStatus.ENDED, last_tick_at=now, updated_at=now
        )
        if not ended:
            return None
        schedule.status = ScheduleStatus.ENDED
        sync_periodic_task(schedule)
    reason = f"The cut-over ({schedule.cutover_at.isoformat()}) has passed; no more runs."
    return _record(schedule, now, TickOutcome.ENDED, reason)


def _record(
    schedule: SyncSchedule,
    now: datetime,
    outcome: TickOutcome,
    reason: str,
    *,
    run_id: Any = None,
) -> TickOutcome:
    ScheduleTick.objects.create(
        schedule_id=schedule.pk, at=now, outcome=outcome, reason=reason[:2000], run_id=run_id
    )
    counter = {TickOutcome.STARTED: "run_count", TickOutcome.SKIPPED: "skip_count"}.get(outcome)
    if counter:
        SyncSchedule.objects.filter(pk=schedule.pk).update(**{counter: F(counter) + 1})
    old = list(
        ScheduleTick.objects.filter(schedule_id=schedule.pk)
        .order_by("-at", "-pk")
        .values_list("pk", flat=True)[TICKS_KEPT : TICKS_KEPT + 500]
    )
    if old:
        ScheduleTick.objects.filter(pk__in=old).delete()
    logger.info("schedule of project %s: %s %s", schedule.pk, outcome.value, reason)
    return outcome
