"""What a schedule's tick does, on a clock the test controls (the service the beat task
calls, with ``now`` given): start an INCREMENTAL run with the saved connection, skip
and record why while a run is active, ignore duplicates, stop at the cut-over."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.fixtures.platform import API_TOKEN, PAT

T0 = timezone.now().replace(microsecond=0) + timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def connect(project: Any) -> None:
    from migrations_app import connections

    connections.connection_put(
        project=project,
        change=connections.ConnectionChange(
            source={"base_url": "https://dev.azure.com", "org": "contoso", "project": "Fabrikam"},
            target={
                "base_url": "https://acme.atlassian.net",
                "email": "m@example.com",
                "project_key": "PROJ",
            },
            pat=PAT,
            api_token=API_TOKEN,
        ),
    )


def make_schedule(project: Any, *, every: timedelta = MINUTE, days: int = 1, **options: Any):
    from migrations_app import schedules

    connect(project)
    settings = schedules.ScheduleSettings(
        interval_seconds=int(every.total_seconds()),
        start_at=T0,
        cutover_at=T0 + timedelta(days=days),
        options={"migrate_comments": True, "type_filter": [], "area_filter": None, **options},
    )
    return schedules.schedule_put(project=project, settings=settings, now=T0 - MINUTE)[0]


def tick(project: Any, at: datetime) -> Any:
    from migrations_app import schedules

    return schedules.schedule_tick(str(project.pk), now=at)


def ticks(project: Any) -> list[tuple[str, str]]:
    from migrations_app.models import ScheduleTick

    rows = ScheduleTick.objects.filter(schedule_id=project.pk).order_by("at", "pk")
    return [(t.outcome, t.reason) for t in rows]


def finish(run: Any) -> None:
    from migrations_app.models import MigrationRun

    MigrationRun.objects.filter(pk=run.pk).update(status="COMPLETED", finished_at=timezone.now())


@pytest.mark.django_db
def test_a_tick_starts_an_incremental_run_with_the_saved_connection(project):
    from migrations_app import crypto
    from migrations_app.models import MigrationRun, ScheduleTick

    make_schedule(project, type_filter=["Bug"], area_filter="Fabrikam\\Web", migrate_links=False)
    assert tick(project, T0) == "STARTED"
    run = MigrationRun.objects.get(project=project)
    assert (run.type, run.status, run.dry_run) == ("INCREMENTAL", "PENDING", False)
    assert crypto.decrypt(run.pat_encrypted) == PAT
    assert crypto.decrypt(run.api_token_encrypted) == API_TOKEN
    assert run.source["org"] == "contoso" and run.source["type_filter"] == ["Bug"]
    assert run.source["area_filter"] == "Fabrikam\\Web"
    assert run.target["project_key"] == "PROJ"
    assert run.options["migrate_links"] is False and run.options["dry_run"] is False
    assert ScheduleTick.objects.get().run_id == run.pk


@pytest.mark.django_db
def test_ticks_start_a_run_every_interval_and_skip_while_one_is_active(project):
    from migrations_app.models import MigrationRun, SyncSchedule

    make_schedule(project)
    assert tick(project, T0 - timedelta(seconds=1)) is None  # not started yet
    assert tick(project, T0) == "STARTED"
    assert tick(project, T0 + timedelta(seconds=20)) is None  # a duplicate of that tick
    assert tick(project, T0 + MINUTE) == "SKIPPED"  # the first run is still going
    first = MigrationRun.objects.get(project=project)
    finish(first)
    assert tick(project, T0 + 2 * MINUTE) == "STARTED"
    assert MigrationRun.objects.filter(project=project, type="INCREMENTAL").count() == 2
    outcomes = ticks(project)
    assert [o for o, _ in outcomes] == ["STARTED", "SKIPPED", "STARTED"]
    assert f"Run {first.pk} is PENDING" in outcomes[1][1]
    schedule = SyncSchedule.objects.get(project=project)
    assert (schedule.run_count, schedule.skip_count) == (2, 1)


@pytest.mark.django_db
def test_after_the_cut_over_it_ends_once_and_starts_nothing(project):
    from migrations_app.models import MigrationRun, SyncSchedule

    make_schedule(project, days=1)
    cutover = T0 + timedelta(days=1)
    assert tick(project, cutover - MINUTE) == "STARTED"
    finish(MigrationRun.objects.get(project=project))
    assert tick(project, cutover) == "ENDED"
    assert tick(project, cutover + MINUTE) is None
    assert MigrationRun.objects.filter(project=project).count() == 1
    schedule = SyncSchedule.objects.select_related("periodic_task").get(project=project)
    assert schedule.status == "ENDED"
    assert schedule.periodic_task is not None and not schedule.periodic_task.enabled
    assert ticks(project)[-1][0] == "ENDED" and "cut-over" in ticks(project)[-1][1]


@pytest.mark.django_db
def test_a_paused_schedule_ticks_nothing_until_resumed(project):
    from migrations_app import schedules
    from migrations_app.models import MigrationRun

    make_schedule(project)
    schedules.schedule_pause(project=project, now=T0)
    assert tick(project, T0) is None and tick(project, T0 + MINUTE) is None
    assert not MigrationRun.objects.exists() and ticks(project) == []
    schedules.schedule_resume(project=project, now=T0 + MINUTE)
    assert tick(project, T0 + 2 * MINUTE) == "STARTED"


@pytest.mark.django_db
def test_without_a_usable_saved_connection_the_tick_is_skipped_with_the_reason(project):
    from migrations_app import connections
    from migrations_app.models import MigrationRun

    make_schedule(project)
    connections.connection_patch(
        project=project, change=connections.ConnectionChange({}, {}, api_token=None)
    )
    assert tick(project, T0) == "SKIPPED"
    connections.connection_delete(project=project)
    assert tick(project, T0 + MINUTE) == "SKIPPED"
    assert not MigrationRun.objects.exists()
    reasons = [r for _, r in ticks(project)]
    assert "enginePayload.target.api_token" in reasons[0]
    assert "no saved connection" in reasons[1]


@pytest.mark.django_db
def test_an_unknown_or_malformed_project_id_does_nothing(project):
    from migrations_app import schedules

    assert schedules.schedule_tick("not-a-uuid") is None
    assert schedules.schedule_tick("8a0a1c64-0000-4000-8000-000000000000") is None


@pytest.mark.django_db
def test_only_the_newest_ticks_are_kept(project, monkeypatch):
    from migrations_app import schedules
    from migrations_app.models import MigrationRun, ScheduleTick

    monkeypatch.setattr(schedules, "TICKS_KEPT", 3)
    make_schedule(project)
    MigrationRun.objects.create(
        tenant=project.tenant, project=project, type="FULL", status="RUNNING"
    )
    for n in range(5):
        assert tick(project, T0 + n * MINUTE) == "SKIPPED"
    kept = list(ScheduleTick.objects.order_by("at").values_list("at", flat=True))
    assert kept == [T0 + n * MINUTE for n in (2, 3, 4)]


@pytest.mark.django_db(transaction=True)
def test_a_run_the_broker_cannot_take_is_recorded_as_failed(project, broker_down):
    from migrations_app.models import MigrationRun, ScheduleTick

    make_schedule(project)
    assert tick(project, T0) == "FAILED"
    run = MigrationRun.objects.get(project=project)
    assert run.status == "FAILED"
    row = ScheduleTick.objects.get()
    assert row.run_id == run.pk and row.reason.startswith("ENGINE_DISPATCH_FAILED")
    finish(run)  # FAILED is finished already; the next tick tries again
    assert tick(project, T0 + MINUTE) == "FAILED"


@pytest.mark.django_db
def test_the_beat_task_runs_one_tick_now(project):
    from migrations_app.models import SyncSchedule
    from migrations_app.tasks import schedule_tick

    make_schedule(project)
    SyncSchedule.objects.filter(project=project).update(start_at=timezone.now() - MINUTE)
    assert schedule_tick.name == "migrations.schedule_tick"
    assert schedule_tick.run(str(project.pk)) == "STARTED"  # the task's body, in process
    assert schedule_tick.run(str(project.pk)) == "nothing to do"  # a duplicate delivery
