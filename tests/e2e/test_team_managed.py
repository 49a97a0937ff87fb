"""A FULL run into the team-managed project (``TEAM``) the Jira sandbox serves beside
the company-managed one: through the public API, a real Celery worker, the sandboxes
over HTTP (as tests/e2e/test_fidelity.py runs them).

Checked in the Jira sandbox: every item in the project, the hierarchy by ``parent``
on every level, story points in "Story point estimate", the statuses reached, areas
as labels (the project has no components), and the test cases' steps and parameters
as tables in their descriptions (shared steps expanded), every description ADF valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from engine.adf import html_to_blocks
from engine.adf_nodes import adf_to_text
from engine.teststeps import parse_parameters, parse_steps
from sandbox.dataset_steps import F_DATA_SOURCE, F_PARAMETERS, F_STEPS
from sandbox.jira_team import TEAM_KEY
from sandbox.runner import Options, start
from tests.e2e.support import check_against_report
from tests.e2e.test_fidelity import ITEMS, Run, _migrate
from tests.engine.adf_schema import assert_valid_adf
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
POINTS = "customfield_10040"  # "Story point estimate"


class TeamHandle(SandboxHandle):
    """The same sandboxes, aimed at the team-managed project."""

    @property
    def project_key(self) -> str:
        return TEAM_KEY


@pytest.fixture(scope="module")
def team(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    boxes = TeamHandle(start(Options(items=ITEMS, seed=1)))
    with django_db_blocker.unblock(), override_settings(MIGRATOR_ALLOW_PRIVATE_TARGETS=True):
        try:
            result, cleanup = _migrate(tmp_path_factory.mktemp("team"), boxes)
            try:
                yield result
            finally:
                cleanup()
        finally:
            boxes.running.stop()


def _state(run: Run) -> Any:
    return run.boxes.jira.state  # type: ignore[union-attr]


def _cells(table: dict[str, Any]) -> list[list[str]]:
    return [
        [adf_to_text({"content": c["content"]}).strip() for c in r["content"]]
        for r in table["content"]
    ]


def _html_text(html: str) -> str:
    return adf_to_text({"content": html_to_blocks(html)}).strip()


def _tables_after(document: dict[str, Any], title: str) -> list[dict[str, Any]]:
    """The tables that follow the heading ``title`` (up to the next heading)."""
    out, inside = [], False
    for node in document["content"]:
        if node["type"] == "heading":
            inside = "".join(n.get("text", "") for n in node.get("content", [])) == title
        elif inside and node["type"] == "table":
            out.append(node)
    return out


def test_the_run_completes_with_every_item_in_the_team_project(team: Run) -> None:
    assert team.final["status"] == "COMPLETED", team.final
    assert team.report["verification"]["ok"] is True
    written = {i["adoId"] for i in team.items if i["status"] == "CREATED"}
    assert written and set(team.keys) == written
    assert all(key.startswith(f"{TEAM_KEY}-") for key in team.keys.values())
    check_against_report(team.boxes, team.report, written)  # types and statuses reached
    issues = [_state(team).issue(k) for k in team.keys.values()]
    assert {i.type.id for i in issues} <= set(_state(team).projects[1].types)


def test_hierarchy_is_parent_on_every_level(team: Run) -> None:
    state = _state(team)
    levels_with_parent: set[int] = set()
    for ado_id, key in team.keys.items():
        parent = team.work_items[ado_id].parent_id
        if parent is None or parent not in team.keys:
            continue
        issue, parent_issue = state.issue(key), state.issue(team.keys[parent])
        if parent_issue.type.level == issue.type.level + 1:  # Jira can nest these
            assert issue.fields.get("parent") == parent_issue.id, (ado_id, key)
            levels_with_parent.add(issue.type.level)
    assert levels_with_parent == {0, -1}  # stories under epics, subtasks under stories


def test_story_points_go_to_story_point_estimate(team: Run) -> None:
    state = _state(team)
    stories = [
        (ado_id, key)
        for ado_id, key in team.keys.items()
        if team.work_items[ado_id].type == "User Story"
    ]
    assert stories
    for ado_id, key in stories:
        points = team.work_items[ado_id].fields.get("Microsoft.VSTS.Scheduling.StoryPoints")
        assert state.issue(key).fields.get(POINTS) == points
    assert team.report["fidelity"]["story-points"]["items"] >= len(stories)


def test_areas_become_labels_in_a_project_without_components(team: Run) -> None:
    state = _state(team)
    for key in team.keys.values():
        issue = state.issue(key)
        assert "components" not in issue.fields
        assert any(label.startswith("area-") for label in issue.fields["labels"])
    assert state.components == {}


def test_every_description_is_valid_adf(team: Run) -> None:
    for key in team.keys.values():
        assert_valid_adf(_state(team).issue(key).fields["description"])


def test_test_cases_show_their_steps_with_shared_steps_expanded_and_parameters(
    team: Run,
) -> None:
    data = team.dataset
    shared = {i: data.item(i).fields[F_STEPS] for i in data.shared_steps_ids}
    cases = [i for i in team.keys if team.work_items[i].type == "Test Case"]
    assert len(cases) >= 8
    expanded = with_parameters = 0
    for ado_id in cases:
        fields = team.work_items[ado_id].fields
        description = _state(team).issue(team.keys[ado_id]).fields["description"]
        steps = parse_steps(fields[F_STEPS], shared).steps
        rows = [row for table in _tables_after(description, "Steps") for row in _cells(table)[1:]]
        assert [row[0] for row in rows] == [s.number for s in steps]
        for row, step in zip(rows, steps, strict=True):
            if step.kind == "shared":
                assert row[1] == f"Shared steps #{step.shared_id}"
                expanded += 1
                continue
            assert row[1:] == [_html_text(step.action_html), _html_text(step.expected_html)]
        params = parse_parameters(fields.get(F_PARAMETERS), fields.get(F_DATA_SOURCE))
        if params.names:
            (table,) = _tables_after(description, "Parameters")
            cells = _cells(table)
            assert cells[0] == params.names
            assert cells[1:] == [[r[n] for n in params.names] for r in params.rows]
            with_parameters += 1
    assert expanded >= 1 and with_parameters >= 1
    fidelity = team.report["fidelity"]
    assert fidelity["test-steps"]["items"] >= len(cases)
    assert fidelity["shared-steps"]["items"] >= 1 and fidelity["test-parameters"]["items"] >= 1


def test_the_role_test_case_reads_as_in_azure_devops(team: Run) -> None:
    role = team.role("test_case")
    description = _state(team).issue(team.keys[role]).fields["description"]
    rows = [row for table in _tables_after(description, "Steps") for row in _cells(table)]
    assert rows[0] == ["#", "Action", "Expected result"]
    assert rows[1] == ["1", "Sign in as @user with @password", 'The <home> page & "menu" show']
    shared_rows = [r for r in rows if r[1].startswith("Shared steps #")]
    assert shared_rows and "not available" not in shared_rows[0][1]
    number = shared_rows[0][0]
    assert any(r[0] == f"{number}.1" and r[1].startswith("Accept the ") for r in rows)
