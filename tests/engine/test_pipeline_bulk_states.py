"""Phase 3 with bulk transitions and transitions riding on create, against the sandboxes.

The same dataset is migrated with and without the global Bulk change permission:
Jira ends in the same statuses either way; with it, the statuses are reached in a
few bulk requests; without it, one issue at a time. In both, transition ids are
looked up once per (issue type, status), and the first step of an item's path
rides in its create request when the run knows it.
"""

from __future__ import annotations

from typing import Any

from engine.pipeline.runplan import RunPlan
from tests.engine.test_pipeline_plan_versions import PauseAtPhase2
from tests.engine.test_pipeline_support import (
    Harness,
    assert_complete,
    assert_exactly_once,
    issues_by_ado,
    make_spec,
)

API = "/rest/api/3"
BULK_TRANSITION = f"POST {API}/bulk/issues/transition"
QUEUE = f"GET {API}/bulk/queue/{{taskId}}"
TRANSITION = f"POST {API}/issue/{{issueIdOrKey}}/transitions"
TRANSITIONS_GET = f"GET {API}/issue/{{issueIdOrKey}}/transitions"
ISSUE_GET = f"GET {API}/issue/{{issueIdOrKey}}"
ITEMS, SEED = 60, 11


def _migrate(make_sandboxes: Any, *, bulk: bool, **knobs: Any) -> tuple[Any, Harness]:
    sb = make_sandboxes(items=ITEMS, seed=SEED, **knobs)
    sb.jira.settings.update({"bulk_change_permission": bulk})
    h = Harness(sb)
    outcome = h.run(make_spec(sb))
    assert outcome.status == "COMPLETED", outcome
    assert_complete(sb, h.store)
    return sb, h


def _statuses(sb: Any) -> dict[int, str]:
    return {ado_id: issues[0]["status"] for ado_id, issues in issues_by_ado(sb).items()}


def _counters(sb: Any) -> dict[str, int]:
    return dict(sb.jira.snapshot()["counters"])


def _pairs(sb: Any) -> int:
    """(issue type, status) pairs the migrated issues passed through."""
    seen = set()
    for issues in issues_by_ado(sb).values():
        issue = issues[0]
        kind = issue["issuetype"]
        seen.add((kind, issue["status"]))
        seen.update((kind, h["from"]) for h in issue["history"])
    return len(seen)


def test_bulk_when_permitted_and_per_issue_when_not_reach_the_same_statuses(
    make_sandboxes: Any,
) -> None:
    bulk_sb, _ = _migrate(make_sandboxes, bulk=True)
    single_sb, _ = _migrate(make_sandboxes, bulk=False)
    assert _statuses(bulk_sb) == _statuses(single_sb)
    moved = {k: v for k, v in _statuses(bulk_sb).items() if v not in ("To Do", "Open")}
    assert len(moved) > 10

    bulk, single = _counters(bulk_sb), _counters(single_sb)
    assert bulk.get(BULK_TRANSITION, 0) >= 1 and bulk.get(QUEUE, 0) >= 1
    assert bulk.get(TRANSITION, 0) == 0  # nothing failed in a bulk task here
    assert bulk_sb.jira.writes.get("bulk_notifications", 0) == 0  # nobody notified
    assert single.get(BULK_TRANSITION, 0) == 0 and single.get(TRANSITION, 0) > 10
    # a bulk request per round, not per issue; far fewer requests for the same moves
    assert bulk[BULK_TRANSITION] < single[TRANSITION] / 3
    # transition ids learned once per (type, status), not read per issue
    for counters, sb in ((bulk, bulk_sb), (single, single_sb)):
        assert counters.get(TRANSITIONS_GET, 0) <= _pairs(sb), counters
    assert_exactly_once(bulk_sb)


def test_the_first_step_rides_in_the_create_request(make_sandboxes: Any) -> None:
    sb, h = _migrate(make_sandboxes, bulk=False)
    counters = _counters(sb)
    transitions = sb.jira.writes["transitions"]
    rode = transitions - counters.get(TRANSITION, 0)
    assert rode > 5, (transitions, counters.get(TRANSITION))
    # each of those is an issue's first move, made by its create request
    at_create = sum(
        1
        for issues in issues_by_ado(sb).values()
        for move in issues[0]["history"]
        if move.get("onCreate")
    )
    assert at_create == rode
    # the ledger knew where those issues were: phase 3 read no status of its own
    assert counters.get(ISSUE_GET, 0) <= 5 * 2  # one initial-status read per type (and few)
    ledger_states = {e.ado_id: e.state for e in h.store.ledger.values()}
    assert ledger_states == {i: s for i, s in _statuses(sb).items() if i in ledger_states}


def test_a_lost_answer_to_a_bulk_transition_settles_and_repeats_nothing(
    make_sandboxes: Any,
) -> None:
    sb = make_sandboxes(
        items=20,
        seed=SEED,
        jira_knobs={
            "lost_answer_p": 1.0,
            "lost_answer_mode": "504",
            "fault_routes": [BULK_TRANSITION],
        },
    )
    h = Harness(sb)
    outcome = h.run(make_spec(sb, settle_seconds=2.0))
    assert outcome.status == "COMPLETED", outcome
    assert_complete(sb, h.store)
    counters = _counters(sb)
    sent = counters.get(BULK_TRANSITION, 0)  # each round's items then settled
    assert sent >= 1 and counters.get(f"lost:504 {BULK_TRANSITION}") == sent
    assert h.store.report is not None
    once = h.store.report["exactlyOnce"]
    ambiguous = once["ambiguous"].get("transition", 0)
    assert ambiguous >= 1, once
    assert once["adopted"].get("transition", 0) == ambiguous, once
    assert not once["resent"], once
    # the lost request moved each of its issues once, and none was moved again by hand
    with sb.jira.state.lock:
        tasks = list(sb.jira.state.bulk_tasks.values())
    assert len(tasks) == sent and sum(len(t.selected) for t in tasks) == ambiguous
    assert sum(len(t.processed) for t in tasks) == ambiguous
    assert h.store.unsettled == {}


def test_a_resumed_run_does_not_ask_again_for_the_transitions_it_learned(
    make_sandboxes: Any,
) -> None:
    sb = make_sandboxes(items=ITEMS, seed=SEED)
    sb.jira.settings.update({"bulk_change_permission": False})
    store = PauseAtPhase2(at=3)  # once phase 2 has made every issue
    h = Harness(sb, store=store, control=store.control)
    assert h.run(make_spec(sb, run_id="learn")).status == "PAUSED"
    assert h.store.plan is not None
    saved = RunPlan.from_dict(h.store.plan, h.store.plan_items)
    known = {(t, s) for t, by in saved.workflows.items() for s in by}
    assert known and saved.initial_status  # the pause saved what the run had learned
    asked_before = _counters(sb).get(TRANSITIONS_GET, 0)
    assert asked_before == len(known)

    h.control.request("run")
    assert h.run(make_spec(sb, run_id="learn")).status == "COMPLETED"
    assert_complete(sb, h.store)
    assert_exactly_once(sb)
    asked_after = _counters(sb).get(TRANSITIONS_GET, 0) - asked_before
    final = RunPlan.from_dict(h.store.plan, h.store.plan_items)
    learned = {(t, s) for t, by in final.workflows.items() for s in by}
    assert known <= learned
    # only the (type, status) pairs the first run had not seen are asked about
    assert asked_after == len(learned - known), (asked_after, len(known), len(learned))
