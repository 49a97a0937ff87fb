"""Type and state mapping rules (pure)."""

from __future__ import annotations

import pytest

from engine.mapping import (
    PORTFOLIO,
    PORTFOLIO_TOP,
    REQUIREMENT,
    TASK,
    WorkflowGraph,
    ado_backlog_level,
    check_state_overrides,
    map_state,
    nearest_status,
    state_category,
    suggest_state_mappings,
    suggest_type_mappings,
)
from engine.model import IssueType, StateInfo, Status, Transition, WorkItemType

EPIC = IssueType("10000", "Epic", False, 1)
STORY = IssueType("10001", "Story", False, 0)
TASK_T = IssueType("10002", "Task", False, 0)
BUG = IssueType("10003", "Bug", False, 0)
SUBTASK = IssueType("10004", "Sub-task", True, -1)
INITIATIVE = IssueType("10005", "Initiative", False, 2)
CLASSIC = [EPIC, STORY, TASK_T, BUG, SUBTASK]

TODO = Status("10000", "To Do", "new")
PROGRESS = Status("3", "In Progress", "indeterminate")
REVIEW = Status("10001", "In Review", "indeterminate")
DONE = Status("10002", "Done", "done")
WONT = Status("10003", "Won't Do", "done")
OPEN = Status("1", "Open", "new")
RESOLVED = Status("5", "Resolved", "done")
CLOSED = Status("6", "Closed", "done")
STORY_FLOW = [TODO, PROGRESS, REVIEW, DONE, WONT]
BUG_FLOW = [OPEN, PROGRESS, RESOLVED, CLOSED]

AGILE = ["Epic", "Feature", "User Story", "Task", "Bug", "Issue"]


def test_it_infers_backlog_levels_from_known_names() -> None:
    assert ado_backlog_level("Epic")[0] == PORTFOLIO_TOP
    assert ado_backlog_level("Feature")[0] == PORTFOLIO
    for name in ("User Story", "Product Backlog Item", "Requirement", "Bug", "Issue"):
        assert ado_backlog_level(name)[0] == REQUIREMENT
    assert ado_backlog_level("task")[0] == TASK


def test_it_infers_custom_type_levels_from_the_hierarchy() -> None:
    assert ado_backlog_level("Initiative X", [("User Story", "Initiative X")])[0] == PORTFOLIO
    assert ado_backlog_level("Checklist", [("Checklist", "Bug")])[0] == TASK
    level, reason = ado_backlog_level("Risk")
    assert level == REQUIREMENT and "custom" in reason


def test_it_maps_the_agile_process_onto_a_classic_project() -> None:
    mappings, errors = suggest_type_mappings(AGILE, CLASSIC)
    assert errors == []
    got = {k: v.jira_type for k, v in mappings.items()}
    assert got == {
        "Epic": "Epic",
        "Feature": "Epic",
        "User Story": "Story",
        "Task": "Sub-task",
        "Bug": "Bug",
        "Issue": "Task",
    }
    for mapping in mappings.values():
        assert mapping.source == "automatic"
        assert 0 < mapping.confidence <= 1
        assert mapping.reason
    assert mappings["Bug"].confidence == 1.0
    # Epic shares the only portfolio level with Feature: lower confidence.
    assert mappings["Epic"].confidence < mappings["Feature"].confidence
    assert mappings["Task"].standalone_type == "Task"


def test_feature_takes_epic_and_epic_goes_up_when_the_project_has_a_higher_level() -> None:
    mappings, _ = suggest_type_mappings(AGILE, [*CLASSIC, INITIATIVE])
    assert mappings["Feature"].jira_type == "Epic"
    assert mappings["Epic"].jira_type == "Initiative"


def test_feature_alone_maps_to_epic() -> None:
    mappings, _ = suggest_type_mappings(["Feature", "User Story"], CLASSIC)
    assert mappings["Feature"].jira_type == "Epic"


def test_feature_becomes_a_story_when_the_project_has_no_epic_level() -> None:
    mappings, _ = suggest_type_mappings(["Feature", "Task"], [STORY, TASK_T, BUG])
    assert mappings["Feature"].jira_type == "Story"
    assert mappings["Task"].jira_type == "Task"  # no sub-task level


def test_type_overrides_win_case_insensitively() -> None:
    mappings, errors = suggest_type_mappings(AGILE, CLASSIC, {"feature": "story", "Bug": "Task"})
    assert errors == []
    assert mappings["Feature"].jira_type == "Story"
    assert mappings["Feature"].source == "override"
    assert mappings["Feature"].confidence == 1.0
    assert mappings["Bug"].jira_type == "Task"


def test_an_override_to_a_missing_type_is_a_preflight_error() -> None:
    mappings, errors = suggest_type_mappings(AGILE, CLASSIC, {"Feature": "Capability"})
    assert "Feature" not in mappings
    assert len(errors) == 1 and "Capability" in errors[0]


def test_states_map_by_category_then_name() -> None:
    def status(state: str, category: str, flow: list[Status]) -> str:
        mapping, problem = map_state("X", state, category, "Story", flow)
        assert problem is None and mapping is not None
        return mapping.jira_status

    assert status("New", "Proposed", STORY_FLOW) == "To Do"
    assert status("Active", "InProgress", STORY_FLOW) == "In Progress"
    assert status("Resolved", "Resolved", STORY_FLOW) == "Done"
    assert status("Closed", "Completed", STORY_FLOW) == "Done"
    assert status("Removed", "Removed", STORY_FLOW) == "Won't Do"
    assert status("Mitigated", "Resolved", STORY_FLOW) == "Done"
    assert status("New", "Proposed", BUG_FLOW) == "Open"
    assert status("Resolved", "Resolved", BUG_FLOW) == "Resolved"
    assert status("Closed", "Completed", BUG_FLOW) == "Closed"


def test_state_overrides_win_where_the_workflow_has_the_status() -> None:
    mapping, problem = map_state(
        "User Story", "Resolved", "Resolved", "Story", STORY_FLOW, {"resolved": "In Review"}
    )
    assert mapping is not None and problem is None
    assert (mapping.jira_status, mapping.source) == ("In Review", "override")
    mapping, problem = map_state(
        "Bug", "Resolved", "Resolved", "Bug", BUG_FLOW, {"Resolved": "In Review"}
    )
    assert mapping is not None and mapping.source == "automatic"
    assert problem is not None and "Bug" in problem


def test_an_override_to_a_status_the_project_lacks_is_a_preflight_error() -> None:
    statuses = {"10001": STORY_FLOW, "10003": BUG_FLOW}
    assert check_state_overrides({"Resolved": "Done"}, statuses) == []
    errors = check_state_overrides({"Resolved": "Verified"}, statuses)
    assert len(errors) == 1 and "Verified" in errors[0]


def test_state_mappings_cover_every_state_of_mapped_types() -> None:
    wit = WorkItemType(
        "Bug",
        "Microsoft.VSTS.WorkItemTypes.Bug",
        [StateInfo("New", "Proposed"), StateInfo("Closed", "Completed")],
    )
    types, _ = suggest_type_mappings(["Bug"], CLASSIC)
    out, problems = suggest_state_mappings([wit], types, {"10003": BUG_FLOW})
    assert [(m.ado_state, m.jira_status) for m in out] == [("New", "Open"), ("Closed", "Closed")]
    assert problems == []


@pytest.mark.parametrize(("state", "category"), [("Closed", "Completed"), ("Weird", "InProgress")])
def test_state_category_falls_back_to_the_name(state: str, category: str) -> None:
    assert state_category(None, state) == category


# --------------------------------------------------------------------------- workflow walk
def _t(tid: str, to: Status) -> Transition:
    return Transition(tid, f"to {to.name}", to)


def test_the_walk_follows_a_known_path_breadth_first() -> None:
    graph = WorkflowGraph()
    graph.learn("S", "To Do", [_t("21", PROGRESS), _t("51", WONT)])
    graph.learn("S", "In Progress", [_t("31", REVIEW), _t("11", TODO)])
    graph.learn("S", "In Review", [_t("41", DONE)])
    step, why = graph.next_step("S", "To Do", DONE)
    assert (step and step.id, why) == ("21", "path")
    assert graph.next_step("S", "Done", DONE) == (None, "arrived")


def test_the_walk_explores_towards_the_target_category_first() -> None:
    graph = WorkflowGraph()
    graph.learn("S", "To Do", [_t("51", WONT), _t("21", PROGRESS)])
    step, why = graph.next_step("S", "To Do", REVIEW)
    assert why == "explore" and step is not None and step.to == PROGRESS


def test_an_unreachable_target_is_reported_and_the_nearest_status_offered() -> None:
    graph = WorkflowGraph()
    graph.learn("S", "To Do", [_t("21", PROGRESS)])
    graph.learn("S", "In Progress", [_t("11", TODO)])
    assert graph.next_step("S", "To Do", DONE) == (None, "unreachable")
    reachable = [s for s in STORY_FLOW if s.name.lower() in graph.reachable("S", "To Do")]
    assert nearest_status(reachable, DONE) == PROGRESS
    assert nearest_status([TODO, WONT, PROGRESS], DONE) == WONT
