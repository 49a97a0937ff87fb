"""Test case steps and parameters in the description (engine.testcase_content)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.adf_nodes import adf_char_length
from engine.content import DESCRIPTION_BUDGET, ContentContext, issue_content
from engine.errors import TransientError
from engine.mapping import suggest_type_mappings
from engine.model import IssueType, WorkItem
from engine.testcase_content import (
    F_DATA_SOURCE,
    F_PARAMETERS,
    F_STEPS,
    ROWS_PER_TABLE,
    SharedSteps,
    case_section,
)
from sandbox.dataset_steps import data_source_xml, parameters_xml, steps_xml
from tests.engine.adf_schema import assert_valid_adf

SHARED = steps_xml([("Accept the cookie banner", "The banner is gone"), ("Close tips", "")])
CASE = steps_xml(
    [("Sign in as @user", 'The <home> page & "menu" show'), 31, ("Log out", "Signed out")]
)


def item(fields: Mapping[str, Any], ident: int = 7) -> WorkItem:
    base = {"System.Title": "Checkout works", "System.AreaPath": "Fab"}
    return WorkItem(ident, 1, "Test Case", "Checkout works", "Design", "u", {**base, **fields})


def context(shared: Mapping[int, str]) -> ContentContext:
    return ContentContext(
        ado_web_url="https://dev.azure.com/fab/p",
        jira_base_url="https://fab.atlassian.net",
        screen_fields={"summary", "description", "labels"},
        shared_steps=shared,
    )


def tables(document: dict[str, Any]) -> list[list[list[str]]]:
    def cell_text(cell: dict[str, Any]) -> str:
        return "".join(
            n.get("text", "") for block in cell["content"] for n in block.get("content", [])
        )

    return [
        [[cell_text(c) for c in row["content"]] for row in node["content"]]
        for node in document["content"]
        if node["type"] == "table"
    ]


class Loader:
    def __init__(self, xml: Mapping[int, str], fail: bool = False) -> None:
        self.xml, self.fail = xml, fail
        self.calls: list[list[int]] = []

    def __call__(self, ids: Sequence[int]) -> Mapping[int, str]:
        self.calls.append(list(ids))
        if self.fail:
            raise TransientError("ADO answered 503")
        return {i: self.xml[i] for i in ids if i in self.xml}


def test_steps_and_parameters_become_tables_with_shared_steps_expanded() -> None:
    names = ["user", "password"]
    fields = {
        F_STEPS: CASE,
        F_PARAMETERS: parameters_xml(names),
        F_DATA_SOURCE: data_source_xml(names, [["alice", "p&ss"], ["bob", ""]]),
    }
    loader = Loader({31: SHARED})
    out = issue_content(item(fields), context(SharedSteps(loader)))
    document = out.fields["description"]
    assert_valid_adf(document)
    steps, params = tables(document)
    assert steps == [
        ["#", "Action", "Expected result"],
        ["1", "Sign in as @user", 'The <home> page & "menu" show'],
        ["2", "Shared steps #31", ""],
        ["2.1", "Accept the cookie banner", "The banner is gone"],
        ["2.2", "Close tips", ""],
        ["3", "Log out", "Signed out"],
    ]
    assert params == [["user", "password"], ["alice", "p&ss"], ["bob", ""]]
    assert {"test-steps", "shared-steps", "test-parameters"} <= out.rules
    assert loader.calls == [[31]]
    assert not [n for n in out.notes if n.startswith(("test-", "shared-"))]


def test_shared_steps_are_read_once_and_remembered_ones_not_at_all() -> None:
    loader = Loader({31: SHARED})
    shared = SharedSteps(loader)
    for ident in (7, 8, 9):
        case_section(item({F_STEPS: CASE}, ident), shared)
    assert loader.calls == [[31]]
    remembered = SharedSteps(Loader({}))
    remembered.remember(WorkItem(31, 1, "Shared Steps", "s", "Active", "u", {F_STEPS: SHARED}))
    section = case_section(item({F_STEPS: CASE}), remembered)
    assert len(tables({"content": section.blocks})[0]) == 6


def test_missing_or_unreadable_shared_steps_are_notes() -> None:
    gone = case_section(item({F_STEPS: CASE}), SharedSteps(Loader({})))
    assert gone.notes == ["shared-steps: shared steps #31 not found; its steps are not listed"]
    failing = Loader({31: SHARED}, fail=True)
    shared = SharedSteps(failing)
    down = case_section(item({F_STEPS: CASE}), shared)
    assert "could not be read (ADO answered 503)" in down.notes[0]
    failing.fail = False
    again = case_section(item({F_STEPS: CASE}), shared)  # a failure is not remembered
    assert not again.notes and len(failing.calls) == 2
    rows = tables({"content": gone.blocks})[0]
    assert rows[2] == ["2", "Shared steps #31 (its steps were not available)", ""]


def test_bad_steps_xml_is_a_note_and_the_issue_still_gets_its_description() -> None:
    bad = {F_STEPS: '<!DOCTYPE x [<!ENTITY a "b">]><steps>&a;</steps>', F_PARAMETERS: "<p"}
    out = issue_content(item(bad), context({}))
    assert_valid_adf(out.fields["description"])
    assert "test-steps: declaration: XML with a DOCTYPE or entity declaration refused" in out.notes
    assert any(n.startswith("test-parameters: malformed") for n in out.notes)
    assert "test-steps" not in out.rules


def test_items_without_test_fields_are_untouched() -> None:
    section = case_section(item({"System.Description": "<p>x</p>"}), SharedSteps(Loader({})))
    assert section.blocks == [] and not section.rules and not section.notes


def test_many_steps_are_split_into_tables_and_cut_within_the_budget() -> None:
    text = "Fill in the long form field " * 12
    rows: list[tuple[str, str] | int] = [(f"{text}{n}", f"Saved {n}") for n in range(600)]
    out = issue_content(item({F_STEPS: steps_xml(rows)}), context({}))
    document = out.fields["description"]
    assert_valid_adf(document)
    assert adf_char_length(document) <= DESCRIPTION_BUDGET
    kept = tables(document)
    assert kept and all(len(t) <= ROWS_PER_TABLE + 1 for t in kept)
    assert "description-cut" in out.rules
    assert out.overflow_text is not None and "Saved 599" in out.overflow_text


def test_test_types_map_to_a_standard_jira_type_by_name() -> None:
    types = [
        IssueType("1", "Epic", False, 1),
        IssueType("2", "Story", False, 0),
        IssueType("3", "Task", False, 0),
        IssueType("4", "Sub-task", True, -1),
    ]
    found, errors = suggest_type_mappings(["Test Case", "Shared Steps"], types, {}, [])
    assert not errors
    assert {m.jira_type for m in found.values()} == {"Task"}
    assert all(m.confidence >= 0.9 for m in found.values())
