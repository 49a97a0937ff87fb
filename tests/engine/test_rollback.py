"""run_rollback end to end: memory ports, the real Jira client, the sandboxes over HTTP."""

from __future__ import annotations

from collections import Counter
from typing import Any

from engine.memory import MemoryControl, MemoryEvents, MemoryStore
from engine.ports import RollbackSpec, RunOutcome, SourceItem
from engine.rollback import run_rollback
from tests.engine.test_pipeline_support import (
    TEST_SETTLE_SECONDS,
    Harness,
    ado_comments,
    assert_exactly_once,
    clients,
    issues_by_ado,
    make_spec,
    now_iso,
)

PROJECT = "MIG"


def _rollback(
    sb: Any,
    store: MemoryStore,
    of_run: str,
    *,
    dry_run: bool = False,
    control: MemoryControl | None = None,
    events: MemoryEvents | None = None,
) -> RunOutcome:
    _, jira = clients(sb)
    items = [SourceItem(i, "", "") for i in sorted(store.ledger)]
    spec = RollbackSpec(
        of_run, sb.project_key, dry_run=dry_run, items=items, settle_seconds=TEST_SETTLE_SECONDS
    )
    return run_rollback(
        spec,
        target=jira,
        store=store,
        events=events or MemoryEvents(),
        control=control or MemoryControl(),
    )


def _jira_totals(sb: Any) -> dict[str, int]:
    issues = sb.jira.snapshot()["issues"]
    links = {ln["id"] for i in issues for ln in i["links"]}
    return {
        "issues": len(issues),
        "comments": sum(len(i["comments"]) for i in issues),
        "attachments": sum(len(i["attachments"]) for i in issues),
        "links": len(links),
        "remoteLinks": sum(len(i["remoteLinks"]) for i in issues),
    }


def test_a_full_run_is_rolled_back_to_an_empty_site_then_migrated_again(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    first = h.run(make_spec(sandboxes, run_id="run-1"))
    assert first.status == "COMPLETED", first
    created = _jira_totals(sandboxes)
    assert created["issues"] == first.stats["created"]

    dry_store = h.store.new_run()
    dry = _rollback(sandboxes, dry_store, "run-1", dry_run=True)
    assert dry.status == "COMPLETED", dry
    report = dry_store.report
    assert report is not None and report["dryRun"] is True
    assert report["wouldRemove"] == created
    assert _jira_totals(sandboxes) == created  # a dry run removes nothing
    assert set(dry_store.counts()) == {"SKIPPED"}
    assert dry_store.ledger == h.store.ledger

    store = h.store.new_run()
    events = MemoryEvents()
    done = _rollback(sandboxes, store, "run-1", events=events)
    assert done.status == "COMPLETED", (done, store.report)
    assert sandboxes.jira.snapshot()["issues"] == []
    writes = sandboxes.jira.writes
    assert writes["issues_deleted"] == created["issues"]
    assert writes["bulk_deletes"] >= 1  # the account may: bulk delete
    assert store.ledger == {}
    assert done.stats == {"created": 0, "removed": created["issues"], "skipped": 0, "failed": 0}
    assert store.report is not None
    assert store.report["counts"]["removed"] == created
    assert store.report["verification"]["ok"] is True
    assert events.events[-1] == {"type": "done", "stats": done.stats}
    assert store.phases_seen == [1, 2, 3, 4]

    again = Harness(sandboxes, store.new_run())
    third = again.run(make_spec(sandboxes, run_id="run-3"))
    assert third.status == "COMPLETED", third
    assert third.stats["created"] == created["issues"]
    assert_exactly_once(sandboxes)
    assert _jira_totals(sandboxes) == created


def test_an_incremental_run_is_rolled_back_to_what_the_full_run_left(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    assert h.run(make_spec(sandboxes, run_id="run-1")).status == "COMPLETED"
    before = sandboxes.jira.snapshot()["issues"]
    ado = sandboxes.ado.store
    target = next(
        i for i in sorted(issues_by_ado(sandboxes)) if ado.comments(i, include_deleted=False)
    )
    since = now_iso()
    ado.add_comment(target, "<p>a new comment after the migration</p>")
    ado.add_comment(target, "<p>another one, which a person edits in Jira</p>")
    ado.edit(target, {"System.Title": "Renamed in ADO"})

    inc = h.next_run()
    outcome = inc.run(make_spec(sandboxes, "INCREMENTAL", run_id="run-2", changed_since=since))
    assert outcome.status == "COMPLETED", outcome
    issue = issues_by_ado(sandboxes)[target][0]
    assert len(ado_comments(issue)) == len(ado.comments(target, include_deleted=False))
    # the run also appended the revisions since the full run as a history part
    new_parts = [
        c
        for c in issue["comments"]
        if (c["properties"].get("ado.history") or {}).get("fromRev", 1) > 1
    ]
    assert len(new_parts) == 1
    _, jira = clients(sandboxes)
    edited = ado_comments(issue)[-1]
    jira.http.request(
        "PUT",
        f"{sandboxes.jira_url}/rest/api/3/issue/{issue['key']}/comment/{edited['id']}",
        json_body={"body": edited["body"]},
    ).close()

    store = inc.store.new_run()
    done = _rollback(sandboxes, store, "run-2")
    assert done.status == "COMPLETED", (done, store.report)
    assert store.report is not None
    assert store.report["counts"]["removed"]["comments"] == 1 + len(new_parts)
    assert [(r["kind"], r["id"], r["reason"]) for r in store.report["left"]] == [
        ("comments", edited["id"], "edited since it was written: left alone")
    ]
    assert store.report["counts"]["removed"]["issues"] == 0
    assert any("fields edited" in x["what"] for x in store.report["notReverted"])
    after = {i["key"]: i for i in sandboxes.jira.snapshot()["issues"]}
    assert set(after) == {i["key"] for i in before}
    for old in before:
        kept = [edited["id"]] if old["key"] == issue["key"] else []
        assert Counter(c["id"] for c in after[old["key"]]["comments"]) == Counter(
            [c["id"] for c in old["comments"]] + kept
        ), old["key"]
    assert store.items[target].status == "REMOVED"
    # the ledger forgot the comment: the next run adds it again
    entry = store.ledger[target]
    assert "synced_rev" not in entry.extra and entry.extra.get("resync") is True
    rerun = Harness(sandboxes, store.new_run())
    assert rerun.run(make_spec(sandboxes, run_id="run-4")).status == "COMPLETED"
    assert_exactly_once(sandboxes)
    issue = issues_by_ado(sandboxes)[target][0]
    assert len(ado_comments(issue)) == len(ado.comments(target, include_deleted=False))
    parts = sorted(
        (c["properties"]["ado.history"] for c in issue["comments"] if c not in ado_comments(issue)),
        key=lambda p: int(p["fromRev"]),
    )
    # the part the rollback took off is written again, after the full run's
    assert len(parts) == 2 and parts[1]["fromRev"] == parts[0]["toRev"] + 1
    assert rerun.store.items[target].status == "UPDATED"
    assert edited["id"] in {c["id"] for c in issue["comments"]}  # kept, not written twice


ISSUE_DELETE = "DELETE /rest/api/3/issue/{issueIdOrKey}"
BULK_DELETE = "POST /rest/api/3/bulk/issues/delete"


def _route(sb: Any, route: str) -> int:
    return int(sb.jira.snapshot()["counters"].get(route, 0))


def test_without_bulk_change_issues_go_one_by_one_each_delete_sent_once_despite_lost_answers(
    sandboxes: Any,
) -> None:
    h = Harness(sandboxes)
    assert h.run(make_spec(sandboxes, run_id="run-1")).status == "COMPLETED"
    created = _jira_totals(sandboxes)
    sandboxes.jira.settings.update({"bulk_change_permission": False})
    sandboxes.jira.knobs.update(
        {"lost_answer_p": 0.3, "lost_answer_mode": "mixed", "fault_routes": [ISSUE_DELETE]}
    )
    store = h.store.new_run()
    done = _rollback(sandboxes, store, "run-1")
    assert done.status == "COMPLETED", (done, store.report)
    assert sandboxes.jira.snapshot()["issues"] == []
    counters = sandboxes.jira.snapshot()["counters"]
    assert any(k.startswith("lost:") for k in counters), counters  # answers were lost
    assert _route(sandboxes, ISSUE_DELETE) == created["issues"]  # none sent twice
    assert _route(sandboxes, BULK_DELETE) == 0
    assert store.report is not None
    assert store.report["issueRemoval"]["method"] == "one by one"
    assert "BULK_CHANGE" in store.report["issueRemoval"]["reason"]
    assert store.ledger == {}


def test_a_bulk_delete_whose_answer_is_lost_is_not_submitted_again(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    assert h.run(make_spec(sandboxes, run_id="run-1")).status == "COMPLETED"
    sandboxes.jira.knobs.update(
        {"lost_answer_p": 1.0, "lost_answer_mode": "504", "fault_routes": [BULK_DELETE]}
    )
    store = h.store.new_run()
    done = _rollback(sandboxes, store, "run-1")
    assert done.status == "COMPLETED", (done, store.report)
    assert sandboxes.jira.snapshot()["issues"] == []
    levels = {int(e.extra.get("level") or 0) for e in h.store.ledger.values()}
    assert _route(sandboxes, BULK_DELETE) == len(levels)  # one task per hierarchy level
    assert _route(sandboxes, ISSUE_DELETE) == 0
    assert store.report is not None
    assert store.report["exactlyOnce"]["adopted"], store.report["exactlyOnce"]


def test_what_a_person_changed_is_left_with_its_parents_and_listed(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    assert h.run(make_spec(sandboxes, run_id="run-1")).status == "COMPLETED"
    _, jira = clients(sandboxes)
    by_key = {i["key"]: i for i in sandboxes.jira.snapshot()["issues"]}
    child = next(i for i in by_key.values() if i["fields"].get("parent"))
    other = next(
        i
        for i in by_key.values()
        if not i["fields"].get("parent")
        and i["key"] != child["key"]
        and not any(c["fields"].get("parent") == int(i["id"]) for c in by_key.values())
    )
    unlabelled = next(
        i
        for i in by_key.values()
        if not i["fields"].get("parent")
        and i["key"] != other["key"]
        and not any(c["fields"].get("parent") == int(i["id"]) for c in by_key.values())
    )
    jira.edit_issue(unlabelled["key"], {"labels": []})
    jira.edit_issue(child["key"], {"summary": "edited by a person"})
    jira.add_comment(
        other["key"],
        {
            "type": "doc",
            "version": 1,
            "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "a person's note"}]}
            ],
        },
    )
    keep = {child["key"], other["key"], unlabelled["key"]}
    parent_id = child["fields"]["parent"]
    while parent_id:
        parent = next(i for i in by_key.values() if int(i["id"]) == parent_id)
        keep.add(parent["key"])
        parent_id = parent["fields"].get("parent")

    store = h.store.new_run()
    done = _rollback(sandboxes, store, "run-1")
    assert done.status == "COMPLETED", (done, store.report)
    assert {i["key"] for i in sandboxes.jira.snapshot()["issues"]} == keep
    assert store.report is not None
    left = {row["issue"]: row["reason"] for row in store.report["left"]}
    assert set(left) == keep
    assert "changed after this run's last write" in left[child["key"]]
    assert "changed after this run's last write" in left[other["key"]]
    assert left[unlabelled["key"]].startswith("no longer labelled ado-")
    assert done.stats["skipped"] == len(keep)
    assert {e.jira_key for e in store.ledger.values()} == keep


def test_a_paused_rollback_resumes_where_it_stopped(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    assert h.run(make_spec(sandboxes, run_id="run-1")).status == "COMPLETED"
    created = _jira_totals(sandboxes)
    sandboxes.jira.settings.update({"bulk_change_permission": False})
    sandboxes.jira.knobs.update({"latency_ms": 20})
    store = h.store.new_run()
    control = MemoryControl()

    def pause_once_deleting(polls: int) -> Any:
        if store.phase == 3 and _route(sandboxes, ISSUE_DELETE) >= 10:
            control.on_poll = None
            return "pause"
        return None

    control.on_poll = pause_once_deleting
    paused = _rollback(sandboxes, store, "run-1", control=control)
    assert paused.status == "PAUSED", paused
    left_in_jira = len(sandboxes.jira.snapshot()["issues"])
    assert 0 < left_in_jira < created["issues"]
    assert set(store.counts()) <= {"PENDING", "REMOVED"}
    assert store.plan is not None and store.plan["live"] == ""

    resumed = _rollback(sandboxes, store, "run-1")
    assert resumed.status == "COMPLETED", (resumed, store.report)
    assert sandboxes.jira.snapshot()["issues"] == []
    assert _route(sandboxes, ISSUE_DELETE) == created["issues"]
    assert store.counts() == {"REMOVED": created["issues"]}


def test_a_take_over_looks_before_sending_again_what_the_dead_process_had_open(
    sandboxes: Any,
) -> None:
    h = Harness(sandboxes)
    assert h.run(make_spec(sandboxes, run_id="run-1")).status == "COMPLETED"
    created = _jira_totals(sandboxes)["issues"]
    sandboxes.jira.settings.update({"bulk_change_permission": False})
    store = h.store.new_run()
    control = MemoryControl()
    control.on_poll = lambda polls: "pause" if _route(sandboxes, ISSUE_DELETE) >= 6 else None
    assert _rollback(sandboxes, store, "run-1", control=control).status == "PAUSED"

    # As if the process had died instead: its last removals (done in Jira) and the next
    # ones (not sent) still "sending", the ledger not yet told, the plan still live.
    assert store.plan is not None
    issues = [t for t in store.plan["targets"] if t["kind"] == "issue"]
    done = [t for t in issues if t["state"] == "done"][-3:]
    todo = [t for t in issues if t["state"] == "todo"][:3]
    assert len(done) == 3 and len(todo) == 3
    for t in done + todo:
        t["state"] = "sending"
    for t in done:
        store.ledger[t["ado_id"]] = h.store.ledger[t["ado_id"]]
    store.plan["live"] = "a-dead-process"
    sent = _route(sandboxes, ISSUE_DELETE)

    events = MemoryEvents()
    final = _rollback(sandboxes, store, "run-1", events=events)
    assert final.status == "COMPLETED", (final, store.report)
    assert any(m.startswith("Taking over: 6 removal(s)") for m in events.logs())
    assert sandboxes.jira.snapshot()["issues"] == []
    # the three that had landed were looked up, not deleted again
    assert _route(sandboxes, ISSUE_DELETE) == sent + (created - sent) == created
    assert store.ledger == {}
    assert store.report is not None
    assert store.report["exactlyOnce"]["adopted"].get("rm-issue") == 3
    assert store.report["exactlyOnce"]["resent"].get("rm-issue") == 3
