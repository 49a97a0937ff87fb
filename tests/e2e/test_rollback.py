"""Rollback through the API with a real worker and the sandboxes: a FULL run, its dry
rollback, people changing things, the rollback, a FULL run again; pause and resume;
a worker killed mid-rollback and a second one taking over; bulk delete and one by
one; what may not be rolled back.

"Removed twice" is measured on the Jira sandbox's request counters: every DELETE
(and every bulk delete submitted) must have removed something.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.e2e.support import (
    assert_no_duplicates,
    crosswalk_of,
    done_stats,
    events_of,
    issues_by_ado,
    items_of,
    jira_issues,
    report_of,
    run_to_end,
    start_run,
    status_of,
    wait_final,
    wait_status,
)
from tests.fixtures.platform import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]

ITEMS = 30
ISSUE_DELETE = "DELETE /rest/api/3/issue/{issueIdOrKey}"
BULK_DELETE = "POST /rest/api/3/bulk/issues/delete"
DELETE_ROUTES = (
    ISSUE_DELETE,
    "DELETE /rest/api/3/issue/{issueIdOrKey}/comment/{id}",
    "DELETE /rest/api/3/attachment/{id}",
    "DELETE /rest/api/3/issueLink/{linkId}",
    "DELETE /rest/api/3/issue/{issueIdOrKey}/remotelink/{linkId}",
)


def _requests(boxes: Any, route: str) -> int:
    return int(dict(boxes.jira.counters).get(route, 0))


def _totals(boxes: Any) -> dict[str, int]:
    issues = jira_issues(boxes)
    return {
        "issues": len(issues),
        "comments": sum(len(i["comments"]) for i in issues),
        "attachments": sum(len(i["attachments"]) for i in issues),
        "links": len({ln["id"] for i in issues for ln in i["links"]}),
        "remoteLinks": sum(len(i["remoteLinks"]) for i in issues),
    }


def _rollback(api: Any, run_id: str, *, dry_run: bool) -> dict[str, Any]:
    r = api.post(f"/api/migrations/{run_id}/rollback", {"dry_run": dry_run}, format="json")
    assert r.status_code == 200, r.content
    body = dict(r.json())
    assert body["type"] == "ROLLBACK" and body["rollbackOf"] == run_id
    return body


def _ado_live(boxes: Any) -> set[int]:
    store = boxes.ado.store
    return {i for i in store.live_ids() if store.value(i, "System.State") != "Removed"}


def _as_a_person(boxes: Any) -> requests.Session:
    session = requests.Session()
    session.auth = (boxes.email, boxes.api_token)
    return session


def _ancestors(issue: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    parent = issue["fields"].get("parent")
    while parent:
        out.add(by_id[int(parent)]["key"])
        parent = by_id[int(parent)]["fields"].get("parent")
    return out


def _ledger_ids(project: Any) -> set[int]:
    from migrations_app.models import LedgerEntry

    return set(LedgerEntry.objects.filter(project=project).values_list("ado_id", flat=True))


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-delete", "one-by-one"])
def test_full_then_rollback_then_full_again(
    owner_api, project, celery_worker, make_sandboxes, bulk
):
    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.settings.update({"bulk_change_permission": bulk})
    celery_worker()
    assert jira_issues(boxes) == []  # the site before the run
    full = run_to_end(owner_api, project, boxes)
    assert full["status"] == "COMPLETED", full
    created = _totals(boxes)
    assert created["issues"] == full["successCount"] == len(_ado_live(boxes))

    # the dry run: what would go, per kind; nothing goes
    dry = _rollback(owner_api, full["id"], dry_run=True)
    assert wait_final(owner_api, dry["id"])["status"] == "COMPLETED"
    report = report_of(owner_api, dry["id"])
    assert report["type"] == "ROLLBACK" and report["dryRun"] is True
    assert report["report"]["wouldRemove"] == created
    assert report["report"]["counts"]["left"]["issues"] == 0
    assert _totals(boxes) == created
    assert boxes.jira.writes.get("issues_deleted", 0) == 0
    assert {i["status"] for i in items_of(owner_api, dry["id"])} == {"SKIPPED"}

    # people change things meanwhile: an issue edited, a comment added to another
    issues = jira_issues(boxes)
    by_id = {int(i["id"]): i for i in issues}
    parents = {int(i["fields"]["parent"]) for i in issues if i["fields"].get("parent")}
    edited = next(i for i in issues if i["fields"].get("parent") and int(i["id"]) not in parents)
    commented = next(
        i
        for i in issues
        if not i["fields"].get("parent")
        and int(i["id"]) not in parents
        and i["key"] != edited["key"]
    )
    person = _as_a_person(boxes)
    api = f"{boxes.jira_url}/rest/api/3/issue"
    assert (
        person.put(
            f"{api}/{edited['key']}", json={"fields": {"summary": "Fixed by hand"}}
        ).status_code
        == 204
    )
    note = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "A person's note"}]}
        ],
    }
    assert person.post(f"{api}/{commented['key']}/comment", json={"body": note}).status_code == 201
    kept = {edited["key"], commented["key"]} | _ancestors(edited, by_id)

    rollback = _rollback(owner_api, full["id"], dry_run=False)
    final = wait_final(owner_api, rollback["id"])
    assert final["status"] == "COMPLETED", final
    # Jira as before the run, but for what people changed (and the issues above it)
    assert {i["key"] for i in jira_issues(boxes)} == kept
    after = report_of(owner_api, rollback["id"])["report"]
    left = {row["issue"]: row["reason"] for row in after["left"]}
    assert set(left) == kept
    for key in (edited["key"], commented["key"]):
        assert "changed after this run's last write" in left[key], left
    removed = created["issues"] - len(kept)
    assert after["counts"]["removed"]["issues"] == removed
    assert after["verification"]["ok"] is True
    assert boxes.jira.writes.get("issues_deleted", 0) == removed
    if bulk:
        assert after["issueRemoval"]["method"] == "bulk delete"
        assert _requests(boxes, BULK_DELETE) >= 1 and _requests(boxes, ISSUE_DELETE) == 0
    else:
        assert after["issueRemoval"]["method"] == "one by one"
        assert _requests(boxes, BULK_DELETE) == 0
        assert _requests(boxes, ISSUE_DELETE) == removed  # each sent once
    statuses = [i["status"] for i in items_of(owner_api, rollback["id"])]
    assert statuses.count("REMOVED") == removed and statuses.count("SKIPPED") == len(kept)
    assert final["successCount"] == removed and final["skippedCount"] == len(kept)
    assert done_stats(rollback["id"]) == {
        "created": 0,
        "removed": removed,
        "skipped": len(kept),
        "failed": 0,
    }
    assert [e["status"] for e in events_of(rollback["id"], "status")][-1] == "completed"
    # the ledger and the crosswalk forgot what was removed
    kept_ado = {i for i, v in issues_by_ado(boxes).items() if v[0]["key"] in kept}
    assert _ledger_ids(project) == kept_ado
    walk = crosswalk_of(owner_api, full["id"])
    assert {int(r["ado_id"]) for r in walk} == kept_ado
    assert {r["status"] for r in walk} == {"CREATED"}

    # a FULL run recreates what went, once
    again = run_to_end(owner_api, project, boxes)
    assert again["status"] == "COMPLETED", again
    commented_ado = next(
        i for i, v in issues_by_ado(boxes).items() if v[0]["key"] == commented["key"]
    )
    by_ado = assert_no_duplicates(boxes, ado_ids=_ado_live(boxes) - {commented_ado})
    assert set(by_ado) == _ado_live(boxes)
    assert {by_ado[i]["key"] for i in kept_ado} == kept  # what stayed was not recreated
    assert boxes.jira.writes.get("issues_created", 0) == created["issues"] + removed
    totals = _totals(boxes)
    assert totals["comments"] == created["comments"] + 1
    assert {k: totals[k] for k in ("attachments", "links", "remoteLinks")} == {
        k: created[k] for k in ("attachments", "links", "remoteLinks")
    }


def test_a_paused_rollback_stops_removing_and_resumes_to_the_end(
    owner_api, project, celery_worker, make_sandboxes
):
    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.settings.update({"bulk_change_permission": False})
    celery_worker()
    full = run_to_end(owner_api, project, boxes)
    assert full["status"] == "COMPLETED", full
    created = len(jira_issues(boxes))
    boxes.jira.knobs.update({"latency_ms": 60})

    rollback = _rollback(owner_api, full["id"], dry_run=False)
    wait_for(lambda: _requests(boxes, ISSUE_DELETE) >= 8, timeout=120, interval=0.005)
    requested = time.monotonic()
    r = owner_api.post(f"/api/migrations/{rollback['id']}/pause")
    assert r.status_code == 200 and r.json()["status"] == "PAUSED", r.content
    from migrations_app.models import MigrationRun

    wait_for(
        lambda: MigrationRun.objects.get(pk=rollback["id"]).lease_owner == "",
        timeout=30,
        interval=0.02,
    )
    stopped = _requests(boxes, ISSUE_DELETE)
    assert time.monotonic() - requested <= 5
    time.sleep(2.0)  # watching for an absence: the window is the assertion
    assert _requests(boxes, ISSUE_DELETE) == stopped, "Jira written while paused"
    assert status_of(owner_api, rollback["id"])["status"] == "PAUSED"
    assert 0 < len(jira_issues(boxes)) < created

    r = owner_api.post(f"/api/migrations/{rollback['id']}/resume")
    assert r.status_code == 200 and r.json()["status"] == "RUNNING", r.content
    final = wait_final(owner_api, rollback["id"])
    assert final["status"] == "COMPLETED", final
    assert jira_issues(boxes) == []
    assert _requests(boxes, ISSUE_DELETE) == created == boxes.jira.writes.get("issues_deleted", 0)
    assert _ledger_ids(project) == set()
    statuses = [e["status"] for e in events_of(rollback["id"], "status")]
    assert statuses[-1] == "completed" and "paused" in statuses


@pytest.mark.parametrize("bulk", [False, True], ids=["one-by-one", "bulk-delete"])
def test_a_worker_killed_mid_rollback_is_taken_over_nothing_removed_twice(
    owner_api, project, celery_worker, make_sandboxes, bulk
):
    from migrations_app.models import MigrationRun

    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.settings.update({"bulk_change_permission": bulk, "bulk_delete_ms_per_issue": 150})
    first = celery_worker()
    full = run_to_end(owner_api, project, boxes)
    assert full["status"] == "COMPLETED", full
    created = len(jira_issues(boxes))
    boxes.jira.knobs.update({"latency_ms": 150})

    rollback = _rollback(owner_api, full["id"], dry_run=False)
    if bulk:  # killed while Jira works through the bulk task
        wait_for(
            lambda: boxes.jira.writes.get("issues_deleted", 0) >= 3, timeout=120, interval=0.005
        )
    else:  # killed with deletes in flight
        # some deletes done, more in flight (each held 150 ms by the sandbox)
        wait_for(
            lambda: boxes.jira.writes.get("issues_deleted", 0) >= 1
            and _requests(boxes, ISSUE_DELETE) >= 6,
            timeout=120,
            interval=0.005,
        )
    first.kill()
    dead = MigrationRun.objects.get(pk=rollback["id"])
    assert dead.status == "RUNNING" and dead.current_phase == 3, (dead.status, dead.current_phase)
    assert 0 < len(jira_issues(boxes)) < created or bulk

    second = celery_worker()
    final = wait_final(owner_api, rollback["id"], timeout=240)
    assert final["status"] == "COMPLETED", (final, second.log()[-3000:])
    assert MigrationRun.objects.get(pk=rollback["id"]).lease_owner == ""
    assert jira_issues(boxes) == []  # nothing left behind
    assert boxes.jira.writes.get("issues_deleted", 0) == created
    if bulk:
        assert _requests(boxes, ISSUE_DELETE) == 0
        # one task per hierarchy level, the interrupted one followed, not submitted again
        assert _requests(boxes, BULK_DELETE) <= 3
    else:
        assert _requests(boxes, ISSUE_DELETE) == created  # no DELETE sent twice
    assert sum(_requests(boxes, r) for r in DELETE_ROUTES[1:]) == 0
    logs = [e["message"] for e in events_of(rollback["id"], "log")]
    expected = "Following bulk delete task" if bulk else "Taking over:"
    assert any(m.startswith(expected) for m in logs), logs[-20:]
    assert _ledger_ids(project) == set()
    assert {i["status"] for i in items_of(owner_api, rollback["id"])} == {"REMOVED"}

    again = run_to_end(owner_api, project, boxes)  # and the project can be migrated again
    assert again["status"] == "COMPLETED", again
    assert set(assert_no_duplicates(boxes)) == _ado_live(boxes)


def test_what_may_not_be_rolled_back(
    owner_api, outsider_api, project, celery_worker, make_sandboxes
):
    boxes = make_sandboxes(items=ITEMS, seed=1)
    boxes.jira.knobs.update({"latency_ms": 40})
    boxes.jira.settings.update({"bulk_change_permission": False})  # transitions one by one
    celery_worker()
    run_id = start_run(owner_api, project, boxes)["id"]
    wait_status(owner_api, run_id, "RUNNING")
    r = owner_api.post(f"/api/migrations/{run_id}/rollback", {"dry_run": True}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "ROLLBACK_NOT_ALLOWED", r.content
    r = outsider_api.post(f"/api/migrations/{run_id}/rollback", {"dry_run": True}, format="json")
    assert r.status_code == 404 and r.json()["code"] == "MIGRATION_NOT_FOUND", r.content

    # a cancelled run can be: what it created goes
    wait_for(
        lambda: _requests(boxes, "POST /rest/api/3/issue/{issueIdOrKey}/transitions") >= 5,
        timeout=180,
        interval=0.01,
    )
    assert owner_api.post(f"/api/migrations/{run_id}/cancel").status_code == 200
    from migrations_app.models import MigrationRun

    wait_for(
        lambda: MigrationRun.objects.get(pk=run_id).lease_owner == "", timeout=30, interval=0.02
    )
    assert jira_issues(boxes)
    rollback = _rollback(owner_api, run_id, dry_run=False)
    r = owner_api.post(
        f"/api/migrations/{rollback['id']}/rollback", {"dry_run": True}, format="json"
    )
    assert r.status_code == 409 and r.json()["code"] == "ROLLBACK_NOT_ALLOWED"  # active
    final = wait_final(owner_api, rollback["id"])
    assert final["status"] == "COMPLETED", final
    assert jira_issues(boxes) == []
    r = owner_api.post(
        f"/api/migrations/{rollback['id']}/rollback", {"dry_run": True}, format="json"
    )
    assert r.status_code == 409 and r.json()["code"] == "ROLLBACK_NOT_ALLOWED"  # a rollback
