"""Project set-up on the simulated Jira site: components, and sprints on the one
board (created, and issues moved into them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.jira_records import JiraError, Sprint, now_ms, touch
from sandbox.jira_workflow import SPRINT

if TYPE_CHECKING:
    from sandbox.jira_state import JiraState


def create_component(state: JiraState, body: Any) -> dict[str, Any]:
    if not state.settings.manage_components:
        raise JiraError(403, ["You do not have permission to create components in this project."])
    if not isinstance(body, dict):
        raise JiraError(400, ["Request body must be a JSON object."])
    name = body.get("name")
    errors: dict[str, str] = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "The component name must not be empty."
    elif len(name) > 255:
        errors["name"] = "The component name must not exceed 255 characters."
    project = state.project_of(body.get("project", ""))
    if project is None or project.team_managed:  # a team-managed project has no components
        errors["project"] = "The project does not exist."
    with state.lock:
        if not errors and any(
            c["name"].lower() == str(name).lower() for c in state.components.values()
        ):
            errors["name"] = f"A component with the name {name} already exists in this project."
        if errors:
            raise JiraError(400, [], errors)
        cid = str(state.next_id("component"))
        row = {
            "id": cid,
            "name": str(name),
            "description": str(body.get("description") or ""),
            "leadAccountId": body.get("leadAccountId"),
        }
        state.components[cid] = row
        state.writes["components"] += 1
        return row


def create_sprint(state: JiraState, body: Any) -> Sprint:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("name"), str)
        or not body["name"].strip()
    ):
        raise JiraError(400, [], {"name": "The sprint name is required."})
    boards = [p.board_id for p in state.projects]
    if body.get("originBoardId") not in boards:
        raise JiraError(
            400,
            [],
            {"originBoardId": "Board does not exist or you do not have permission to see it."},
        )
    with state.lock:
        sprint = Sprint(
            state.next_id("sprint"),
            body["name"][:255],
            int(body["originBoardId"]),
            goal=str(body.get("goal") or ""),
            start_date=body.get("startDate"),
            end_date=body.get("endDate"),
        )
        state.sprints[sprint.id] = sprint
        state.writes["sprints"] += 1
        return sprint


def move_to_sprint(state: JiraState, sprint_id: str, body: Any) -> None:
    keys = body.get("issues") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        raise JiraError(400, ["Issues must be a non-empty array."])
    if len(keys) > 50:
        raise JiraError(400, ["At most 50 issues can be moved in one operation."])
    with state.lock:
        sprint = state.sprints.get(int(sprint_id)) if sprint_id.isdigit() else None
        if sprint is None:
            raise JiraError(404, ["Sprint does not exist or you do not have permission."])
        if sprint.state == "closed":
            raise JiraError(400, ["Issues can be moved only to open or active sprints."])
        issues = [state.find_issue(k) for k in keys]
        if any(i is None for i in issues):
            raise JiraError(400, ["Some issues do not exist or you cannot see them."])
        now = now_ms()
        for issue in issues:
            assert issue is not None
            if issue.fields.get(SPRINT) != sprint.id:
                issue.fields[SPRINT] = sprint.id
                touch(issue, now)
            state.writes["sprint_moves"] += 1
