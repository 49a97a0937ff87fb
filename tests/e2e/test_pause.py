"""Pause, resume and cancel through the API, with a real worker and the sandboxes.

The Jira sandbox is watched by a thread (:class:`WriteWatcher`) that notes when
write requests arrive and writes land, so "no Jira write after the pause" is
measured, not assumed: the last write request must arrive within 2 s of the pause
request (contract 7), and none may arrive while the run is paused.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.support import (
    WriteWatcher,
    assert_ledger_matches_jira,
    assert_no_duplicates,
    events_of,
    issues_by_ado,
    items_of,
    run_to_end,
    start_run,
    status_of,
    wait_final,
    writes,
)
from tests.fixtures.platform import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]

ITEMS = 30
JIRA_LATENCY_MS = 40
QUIET_SECONDS = 3.0  # how long a paused run is watched for writes
STOP_LIMIT = 2.0  # contract: no Jira write after the current step, within 2 s

BULK = "POST /rest/api/3/issue/bulk"
TRANSITION = "POST /rest/api/3/issue/{issueIdOrKey}/transitions"
COMMENT = "POST /rest/api/3/issue/{issueIdOrKey}/comment"

# Filled by the tests, printed with -s (for the report).
PAUSE_TO_STOP: list[float] = []
PAUSE_TO_RELEASE: list[float] = []


def _requests(boxes: Any, route: str) -> int:
    return int(dict(boxes.jira.counters).get(route, 0))


def _arrived(boxes: Any, route: str, nth: int) -> Callable[[], bool]:
    return lambda: _requests(boxes, route) >= nth


def _released(run_id: str) -> bool:
    from migrations_app.models import MigrationRun

    return MigrationRun.objects.get(pk=run_id).lease_owner == ""


def _stop_and_check_quiet(
    api: Any, run_id: str, watcher: WriteWatcher, requested: float, status: str
) -> tuple[float, float]:
    """After a pause/cancel request at ``requested``: wait until the engine let go of the
    run, check nothing is written for QUIET_SECONDS more, return (last write - request,
    release - request)."""
    wait_for(lambda: _released(run_id), timeout=30, interval=0.02)
    released = time.monotonic()
    quiet_from = time.monotonic()
    time.sleep(QUIET_SECONDS)  # watching for an absence: the window is the assertion
    late = watcher.changes_after(quiet_from)
    assert not late, f"Jira written while {status}: {late}"
    assert status_of(api, run_id)["status"] == status
    last = max((c[0] for c in watcher.changes_after(requested)), default=requested)
    stop = last - requested
    assert stop <= STOP_LIMIT, f"last Jira write {stop:.2f} s after the {status} request"
    return stop, released - requested


def test_pause_stops_writes_within_two_seconds_and_resume_completes_once(
    owner_api, project, celery_worker, make_sandboxes
):
    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.knobs.update({"latency_ms": JIRA_LATENCY_MS})
    boxes.jira.settings.update({"bulk_change_permission": False})  # transitions one by one
    celery_worker()
    run_id = start_run(owner_api, project, boxes)["id"]
    # Pause points: bulk creates in flight, transitions, comments and attachments.
    points = [(BULK, 2, 2), (TRANSITION, 10, 3), (COMMENT, 5, 4)]

    with WriteWatcher(boxes) as watcher:
        for route, nth, phase in points:
            wait_for(_arrived(boxes, route, nth), timeout=180, interval=0.005)
            requested = time.monotonic()
            r = owner_api.post(f"/api/migrations/{run_id}/pause")
            assert r.status_code == 200, r.content
            assert r.json() == {"id": run_id, "status": "PAUSED"}
            stop, release = _stop_and_check_quiet(owner_api, run_id, watcher, requested, "PAUSED")
            PAUSE_TO_STOP.append(stop)
            PAUSE_TO_RELEASE.append(release)
            # stopped in that phase, or at the checkpoint that opens the next one; phases
            # 2 to 5 run at once and the run shows the lowest still running
            lowest = 2 if phase in (2, 3, 4, 5) else phase
            assert lowest <= status_of(owner_api, run_id)["currentPhase"] <= phase + 1
            # No half-written item: what Jira holds, the ledger knows.
            assert_no_duplicates(boxes, comments=False)
            assert_ledger_matches_jira(project, boxes, strict=True)
            assert not any(i["status"] == "FAILED" for i in items_of(owner_api, run_id))
            again = owner_api.post(f"/api/migrations/{run_id}/pause")
            assert again.status_code == 400 and again.json()["code"] == "MIGRATION_NOT_RUNNING"

            r = owner_api.post(f"/api/migrations/{run_id}/resume")
            assert r.status_code == 200, r.content
            assert r.json() == {"id": run_id, "status": "RUNNING"}

        final = wait_final(owner_api, run_id)
    assert final["status"] == "COMPLETED", final
    ado_live = {
        i
        for i in boxes.ado.store.live_ids()
        if boxes.ado.store.value(i, "System.State") != "Removed"
    }
    by_ado = assert_no_duplicates(boxes)
    assert set(by_ado) == ado_live
    assert_ledger_matches_jira(project, boxes, strict=True)
    assert writes(boxes)["issues_created"] == len(ado_live)
    statuses = [e["status"] for e in events_of(run_id, "status")]
    # The API announces a pause (and a resume) at once, the engine again when it has
    # stopped (and the worker when it claims the run): the stream says each change once.
    assert statuses == ["pending", "running", *["paused", "running"] * len(points), "completed"], (
        statuses
    )
    print(
        f"\nPAUSE last write after request: {[round(x, 3) for x in PAUSE_TO_STOP]} "
        f"(median {statistics.median(PAUSE_TO_STOP):.3f}, max {max(PAUSE_TO_STOP):.3f}); "
        f"lease released after: {[round(x, 3) for x in PAUSE_TO_RELEASE]}"
    )


def test_cancel_stops_for_good_and_keeps_what_was_migrated(
    owner_api, project, celery_worker, make_sandboxes
):
    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.knobs.update({"latency_ms": JIRA_LATENCY_MS})
    boxes.jira.settings.update({"bulk_change_permission": False})  # transitions one by one
    celery_worker()
    run_id = start_run(owner_api, project, boxes)["id"]

    with WriteWatcher(boxes) as watcher:
        wait_for(lambda: _requests(boxes, TRANSITION) >= 10, timeout=180, interval=0.005)
        requested = time.monotonic()
        r = owner_api.post(f"/api/migrations/{run_id}/cancel")
        assert r.status_code == 200, r.content
        assert r.json() == {"id": run_id, "status": "CANCELLED"}
        stop, release = _stop_and_check_quiet(owner_api, run_id, watcher, requested, "CANCELLED")
    print(f"\nCANCEL last write after request: {stop:.3f} s; lease released after {release:.3f} s")

    final = status_of(owner_api, run_id)
    assert final["status"] == "CANCELLED" and final["finishedAt"]
    kept = issues_by_ado(boxes)
    assert kept, "what was migrated stays in Jira"
    assert_no_duplicates(boxes, comments=False)
    assert_ledger_matches_jira(project, boxes, strict=True)
    assert [e["status"] for e in events_of(run_id, "status")][-1] == "cancelled"
    for verb, code in (
        ("resume", "MIGRATION_NOT_PAUSED"),
        ("cancel", "MIGRATION_FINISHED"),
        ("pause", "MIGRATION_NOT_RUNNING"),
    ):
        r = owner_api.post(f"/api/migrations/{run_id}/{verb}")
        assert r.status_code == 400 and r.json()["code"] == code, (verb, r.content)

    # A new run finishes the job: adopts what the cancelled run left, duplicates nothing.
    created = writes(boxes)["issues_created"]
    rest = run_to_end(owner_api, project, boxes)
    assert rest["status"] == "COMPLETED", rest
    ado_live = {
        i
        for i in boxes.ado.store.live_ids()
        if boxes.ado.store.value(i, "System.State") != "Removed"
    }
    assert set(assert_no_duplicates(boxes)) == ado_live
    assert writes(boxes)["issues_created"] == created + len(ado_live) - len(kept)
    assert_ledger_matches_jira(project, boxes, strict=True)


@pytest.mark.parametrize("verb", ["pause", "cancel"])
def test_a_stop_during_a_429_storm_is_prompt(
    owner_api, project, celery_worker, make_sandboxes, verb
):
    """Requests waiting out a long Retry-After, or about to be retried, give up at once."""
    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.knobs.update({"latency_ms": JIRA_LATENCY_MS})
    boxes.jira.settings.update({"bulk_change_permission": False})  # transitions one by one
    celery_worker()
    run_id = start_run(owner_api, project, boxes)["id"]
    wait_for(_arrived(boxes, TRANSITION, 5), timeout=180, interval=0.005)
    # the storm: most requests refused with a Retry-After longer than the stop limit
    boxes.jira.knobs.update({"p429": 0.8, "retry_after_sec": 6.0})
    raging = _requests(boxes, TRANSITION) + 2  # requests refused and retried
    wait_for(_arrived(boxes, TRANSITION, raging), timeout=120, interval=0.005)
    with WriteWatcher(boxes) as watcher:
        requested = time.monotonic()
        r = owner_api.post(f"/api/migrations/{run_id}/{verb}")
        assert r.status_code == 200, r.content
        status = "PAUSED" if verb == "pause" else "CANCELLED"
        stop, release = _stop_and_check_quiet(owner_api, run_id, watcher, requested, status)
    print(f"\n{verb.upper()} in a 429 storm: last write {stop:.3f} s, released {release:.3f} s")
    assert release <= STOP_LIMIT + 1.0, f"the worker held the run {release:.2f} s"
    boxes.jira.knobs.update({"p429": 0.0})
    assert_no_duplicates(boxes, comments=False)
    assert_ledger_matches_jira(project, boxes, strict=True)
    if verb == "pause":
        assert owner_api.post(f"/api/migrations/{run_id}/resume").status_code == 200
        final = wait_final(owner_api, run_id)
        assert final["status"] == "COMPLETED", final
        assert_no_duplicates(boxes)
