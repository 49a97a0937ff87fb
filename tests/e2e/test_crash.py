"""A worker killed with SIGKILL at several points of a run, then a new worker:
the run is taken over, finishes, and Jira holds everything exactly once.

The kill is aimed by the Jira sandbox's request counters (they count a request
when it arrives, before the sandbox's latency): once the chosen write request
has arrived, the worker dies while it, and its neighbours, are still in flight.
The sandbox then completes them: writes the engine never heard back about,
which the next worker must find and adopt rather than repeat.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.e2e.support import (
    ado_items,
    assert_hierarchy_kept,
    assert_ledger_matches_jira,
    assert_no_duplicates,
    check_against_report,
    done_stats,
    issues_by_ado,
    items_of,
    report_of,
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
JIRA_LATENCY_MS = 40  # every Jira request is in flight for at least this long
KILL_LATENCY_MS = 150  # from the target phase's first request until the kill

BULK = "POST /rest/api/3/issue/bulk"
TRANSITION = "POST /rest/api/3/issue/{issueIdOrKey}/transitions"
BULK_TRANSITION = "POST /rest/api/3/bulk/issues/transition"
COMMENT = "POST /rest/api/3/issue/{issueIdOrKey}/comment"
ATTACH = "POST /rest/api/3/issue/{issueIdOrKey}/attachments"
LINK = "POST /rest/api/3/issueLink"

# (phase, route whose n-th request arrival triggers the kill, n)
CASES = [
    pytest.param(2, BULK, 2, id="phase2-mid-bulk-create"),
    pytest.param(3, TRANSITION, 12, id="phase3-states"),
    pytest.param(3, BULK_TRANSITION, 1, id="phase3-bulk-transition"),
    pytest.param(4, COMMENT, 6, id="phase4-comments"),
    pytest.param(4, ATTACH, 4, id="phase4-attachments"),
    pytest.param(5, LINK, 3, id="phase5-links"),
]

# Filled by the tests, printed at the end of the session with -s (for the report).
MEASURED: list[dict[str, Any]] = []


def _requests(boxes: Any, route: str) -> int:
    return int(dict(boxes.jira.counters).get(route, 0))


@pytest.mark.parametrize(("phase", "route", "nth"), CASES)
def test_a_worker_killed_mid_phase_is_taken_over_without_duplicates(
    owner_api, project, celery_worker, make_sandboxes, phase, route, nth
):
    from migrations_app.models import MigrationRun

    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.knobs.update({"latency_ms": JIRA_LATENCY_MS})
    # per-issue transitions unless the case is about the bulk request
    boxes.jira.settings.update({"bulk_change_permission": route != TRANSITION})
    first = celery_worker()
    run_id = start_run(owner_api, project, boxes, migrate_attachments=True)["id"]

    # Once the phase's first request is seen, every request stays in flight longer: the
    # kill lands inside the phase, and inside requests, even on a loaded machine.
    wait_for(lambda: _requests(boxes, route) >= 1, timeout=180, interval=0.005)
    boxes.jira.knobs.update({"latency_ms": KILL_LATENCY_MS})
    wait_for(lambda: _requests(boxes, route) >= nth, timeout=60, interval=0.005)
    first.kill()
    boxes.jira.knobs.update({"latency_ms": JIRA_LATENCY_MS})
    killed_at = time.monotonic()
    at_kill = writes(boxes)
    dead = MigrationRun.objects.get(pk=run_id)
    assert dead.status == "RUNNING", (dead.status, dead.status_reason)
    # phases 2 to 5 run at once: the run shows the lowest still running
    lowest = 2 if phase in (2, 3, 4, 5) else phase
    assert lowest <= dead.current_phase <= phase, f"killed in phase {dead.current_phase}"
    total = status_of(owner_api, run_id)["totalItems"]
    if phase == 2:
        assert 0 < at_kill["issues_created"] < total, at_kill

    second = celery_worker()
    started_at = time.monotonic()
    owners: dict[str, float] = {}

    def taken_over() -> bool:
        owner = MigrationRun.objects.get(pk=run_id).lease_owner
        if owner and owner != dead.lease_owner and owner not in owners:
            owners[owner] = time.monotonic()
        return bool(owners)

    wait_for(taken_over, timeout=120, interval=0.05)
    at_take_over = writes(boxes)
    final = wait_final(owner_api, run_id, timeout=240)
    done_at = time.monotonic()
    assert final["status"] == "COMPLETED", (final, second.log()[-3000:])

    # Jira: exactly once, and complete
    ado_live = {
        i
        for i in boxes.ado.store.live_ids()
        if boxes.ado.store.value(i, "System.State") != "Removed"
    }
    by_ado = assert_no_duplicates(boxes)  # issues, comments (all ADO's), files
    assert set(by_ado) == ado_live
    assert_ledger_matches_jira(project, boxes)
    after = writes(boxes)
    issues = [i for v in issues_by_ado(boxes).values() for i in v]
    assert after["issues_created"] == len(issues), "an issue was created twice (then removed?)"
    assert after["comments"] == sum(len(i["comments"]) for i in issues)
    assert after["attachments"] == sum(len(i["attachments"]) for i in issues)
    report = report_of(owner_api, run_id)["report"]
    oversized = Counter(a["adoId"] for a in report["problems"]["oversizedAttachments"])
    for ado_id, issue in by_ado.items():
        rec = boxes.ado.store.record(ado_id, "")
        files = [a for a in rec.attachments if not a.inline]
        assert len(issue["attachments"]) >= len(files) - oversized.get(ado_id, 0), issue["key"]
    assert report["verification"]["ok"] is True
    check_against_report(boxes, report, ado_live)  # types and statuses as mapped
    ado = ado_items(boxes)
    for ado_id in ado_live:
        parent = ado[ado_id]["parent"]
        if parent in by_ado:
            assert_hierarchy_kept(by_ado[ado_id], by_ado[parent])

    # API: every item done, counts agree
    items = items_of(owner_api, run_id)
    statuses = Counter(i["status"] for i in items)
    assert set(statuses) <= {"CREATED", "SKIPPED"}, statuses
    assert statuses["CREATED"] == len(ado_live) == final["successCount"]
    assert final["failureCount"] == 0
    stats = done_stats(run_id)
    assert stats["created"] == len(ado_live) and stats["failed"] == 0

    MEASURED.append(
        {
            "case": f"phase{phase}:{route.split('/')[-1]}#{nth}",
            "writes_at_kill": {k: v for k, v in at_kill.items() if v},
            "landed_after_kill": {
                k: at_take_over[k] - at_kill[k] for k in at_kill if at_take_over[k] != at_kill[k]
            },
            "new_worker_ready_s": round(started_at - killed_at, 2),
            "take_over_s": round(min(owners.values()) - killed_at, 2),
            "finish_after_kill_s": round(done_at - killed_at, 2),
        }
    )
    print("\nCRASH", MEASURED[-1])
