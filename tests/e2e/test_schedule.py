"""Scheduled delta syncs end to end: INCREMENTAL runs at the schedule's interval with
the saved connection against the sandboxes, a skip (recorded) while a run is active,
nothing after the cut-over. First on a clock the test controls (the tick service
the beat task calls), then with a real ``celery beat`` and real workers."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.e2e.support import assert_ledger_matches_jira, assert_no_duplicates, wait_final
from tests.fixtures.platform import ROOT, WorkerFactory, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]


def save_connection(api: Any, project: Any, boxes: Any) -> None:
    body = {
        "source": {
            "base_url": boxes.ado_url,
            "org": boxes.org,
            "project": boxes.project,
            "pat": boxes.pat,
        },
        "target": {
            "base_url": boxes.jira_url,
            "email": boxes.email,
            "project_key": boxes.project_key,
            "api_token": boxes.api_token,
        },
    }
    assert api.put(f"/api/projects/{project.id}/connection", body, format="json").status_code == 201


def put_schedule(api: Any, project: Any, minutes: float, start: datetime, end: datetime) -> Any:
    body = {"intervalMinutes": minutes, "startAt": start.isoformat(), "cutoverAt": end.isoformat()}
    r = api.put(f"/api/projects/{project.id}/schedule", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def schedule_of(api: Any, project: Any) -> dict[str, Any]:
    r = api.get(f"/api/projects/{project.id}/schedule")
    assert r.status_code == 200, r.content
    return dict(r.json())


def tick(project: Any, at: datetime) -> Any:
    from migrations_app import schedules

    return schedules.schedule_tick(str(project.id), now=at)


def runs_of(project: Any) -> list[Any]:
    from migrations_app.models import MigrationRun

    return list(MigrationRun.objects.filter(project=project).order_by("created_at"))


# --------------------------------------------------------------------------- a clock we control
def test_a_schedule_syncs_at_its_interval_skips_while_a_run_is_active_and_stops_at_cutover(
    owner_api, project, celery_worker, make_sandboxes
):
    from migrations_app import crypto

    boxes = make_sandboxes(items=16, seed=5)
    save_connection(owner_api, project, boxes)
    t0 = timezone.now()
    minute = timedelta(minutes=1)
    cutover = t0 + 10 * minute
    put_schedule(owner_api, project, 1, t0, cutover)

    assert tick(project, t0) == "STARTED"
    # No worker yet, so the first run is surely still active at the next tick.
    assert tick(project, t0 + minute) == "SKIPPED"
    (first,) = runs_of(project)
    assert first.type == "INCREMENTAL"
    assert crypto.decrypt(first.pat_encrypted) == boxes.pat  # the saved secrets
    assert crypto.decrypt(first.api_token_encrypted) == boxes.api_token

    celery_worker()
    done = wait_final(owner_api, str(first.id))
    assert done["status"] == "COMPLETED", done
    assert done["successCount"] > 0  # no earlier finished run: it behaves as FULL

    ado = boxes.ado.store
    story = next(
        i for i in sorted(ado.live_ids()) if ado.value(i, "System.WorkItemType") == "User Story"
    )
    boxes.ado.edit_item(story, title="Changed between two syncs")
    assert tick(project, t0 + 2 * minute) == "STARTED"
    second = runs_of(project)[-1]
    delta = wait_final(owner_api, str(second.id))
    assert (second.type, delta["status"]) == ("INCREMENTAL", "COMPLETED"), delta
    assert delta["totalItems"] == 1 and delta["updatedCount"] == 1
    assert_no_duplicates(boxes)
    assert_ledger_matches_jira(project, boxes)

    assert tick(project, cutover) == "ENDED"
    assert tick(project, cutover + minute) is None
    assert len(runs_of(project)) == 2
    shown = schedule_of(owner_api, project)
    assert shown["status"] == "ENDED" and shown["nextTickAt"] is None
    assert (shown["runCount"], shown["skipCount"]) == (2, 1)
    outcomes = [t["outcome"] for t in reversed(shown["recentTicks"])]
    assert outcomes == ["STARTED", "SKIPPED", "STARTED", "ENDED"]
    skipped = shown["recentTicks"][2]
    assert f"Run {first.id}" in skipped["reason"] and "active run" in skipped["reason"]


# --------------------------------------------------------------------------- real celery beat
class BeatProcess:
    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc, self.log_path = proc, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def celery_beat(
    celery_worker: WorkerFactory, tmp_path: Path
) -> Iterator[Callable[[], BeatProcess]]:
    """``celery_beat()`` starts ``celery beat`` with the database scheduler on the test
    database (the workers' environment); killed at teardown, before the database is."""
    started: list[BeatProcess] = []

    def start() -> BeatProcess:
        log_path = tmp_path / f"beat-{len(started)}.log"
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "migrator_site",
            "beat",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--max-interval",
            "1",
            "--loglevel",
            "INFO",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=celery_worker.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        beat = BeatProcess(proc, log_path)
        started.append(beat)
        wait_for(lambda: "beat: Starting" in beat.log() or proc.poll() is not None, timeout=60)
        if proc.poll() is not None:
            raise RuntimeError(f"celery beat did not start:\n{beat.log()[-4000:]}")
        return beat

    try:
        yield start
    finally:
        for beat in started:
            beat.stop()


def test_celery_beat_and_workers_run_the_schedule_until_the_cutover(
    owner_api, project, celery_worker, celery_beat, make_sandboxes, settings
):
    from django_celery_beat.models import PeriodicTask

    from migrations_app.models import ScheduleTick

    settings.MIGRATOR_SCHEDULE_MIN_SECONDS = 1
    interval = 3.0
    boxes = make_sandboxes(items=8, seed=11)
    save_connection(owner_api, project, boxes)
    # Two solo workers: one runs a migration while the other takes the ticks.
    celery_worker()
    celery_worker()
    beat = celery_beat()
    start = timezone.now()
    put_schedule(owner_api, project, interval / 60, start, start + timedelta(minutes=10))

    def finished_runs() -> list[Any]:
        return [r for r in runs_of(project) if r.status in ("COMPLETED", "PARTIAL", "FAILED")]

    try:
        wait_for(lambda: len(finished_runs()) >= 2, timeout=180, interval=0.5)
        # Bring the cut-over close: the first tick after it ends the schedule.
        cutover = timezone.now() + timedelta(seconds=interval)
        r = owner_api.patch(
            f"/api/projects/{project.id}/schedule",
            {"cutoverAt": cutover.isoformat()},
            format="json",
        )
        assert r.status_code == 200, r.content
        wait_for(
            lambda: ScheduleTick.objects.filter(outcome="ENDED").exists(), timeout=90, interval=0.5
        )
    except AssertionError:
        raise AssertionError(f"beat log:\n{beat.log()[-3000:]}") from None

    runs = runs_of(project)
    assert {r.type for r in runs} == {"INCREMENTAL"}
    for run in runs:
        final = wait_final(owner_api, str(run.id))
        assert final["status"] == "COMPLETED", final
    assert all(run.created_at < cutover for run in runs)
    ticks = list(ScheduleTick.objects.order_by("at"))
    assert ticks[-1].outcome == "ENDED" and ticks[-1].at >= cutover
    assert {t.outcome for t in ticks} <= {"STARTED", "SKIPPED", "ENDED"}
    assert all("active run" in t.reason for t in ticks if t.outcome == "SKIPPED")
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(ticks)]
    assert all(gap >= interval / 2 for gap in gaps), gaps  # no tick acted twice
    assert not PeriodicTask.objects.get(task="migrations.schedule_tick").enabled
    assert schedule_of(owner_api, project)["status"] == "ENDED"
    assert_no_duplicates(boxes)

    # After the cut-over, beat starts nothing more: watch two intervals go by.
    count = len(runs)
    deadline = time.monotonic() + 2 * interval
    while time.monotonic() < deadline:
        assert len(runs_of(project)) == count
        time.sleep(0.2)
