"""The slice of Jira's agile API the migrator uses: the project's scrum board,
its sprints (create, read, start and complete) and moving issues into a sprint."""

from __future__ import annotations

from typing import Any

from sandbox.httpbase import Request, Response, empty_response
from sandbox.jira_routes import AGILE, JiraRoutes, int_arg, list_arg, ok, page_of
from sandbox.jira_state import JiraError


class AgileRoutes(JiraRoutes):
    """Boards and sprints."""

    def get_boards(self, request: Request) -> Response:
        wanted = request.arg("projectKeyOrId")
        r = self.render(request)
        chosen = self.state.project_of(wanted) if wanted is not None else None
        boards = [
            {
                "id": p.board_id,
                "name": f"{p.key} board",
                "type": "scrum",
                "self": f"{r.base}{AGILE}/board/{p.board_id}",
                "location": {
                    "projectId": int(p.id),
                    "projectKey": p.key,
                    "projectName": p.name,
                    "projectTypeKey": "software",
                    "displayName": f"{p.name} ({p.key})",
                },
            }
            for p in self.state.projects
            if wanted is None or p is chosen
        ]
        if not self.settings.scrum_board:
            boards = []
        start, size = int_arg(request, "startAt", 0), int_arg(request, "maxResults", 50)
        page = page_of(boards, start, size, "")
        page.pop("self")  # the agile API's pages carry no self link
        return ok(page)

    def get_sprints(self, request: Request) -> Response:
        board_ids = [str(p.board_id) for p in self.state.projects]
        if request.params["boardId"] not in board_ids or not self.settings.scrum_board:
            raise JiraError(404, ["Board does not exist or you do not have permission to see it."])
        board = int(request.params["boardId"])
        states = set(list_arg(request, "state"))
        r = self.render(request)
        with self.state.lock:
            sprints = [
                r.sprint(s)
                for s in self.state.sprints.values()
                if s.board_id == board and (not states or s.state in states)
            ]
        start, size = int_arg(request, "startAt", 0), int_arg(request, "maxResults", 50)
        page = page_of(sprints, start, size, "")
        page.pop("self")
        return ok(page)

    def _sprint(self, request: Request) -> Any:
        sid = request.params["sprintId"]
        sprint = self.state.sprints.get(int(sid)) if sid.isdigit() else None
        if sprint is None:
            raise JiraError(404, ["Sprint does not exist or you do not have permission."])
        return sprint

    def create_sprint(self, request: Request) -> Response:
        sprint = self.state.create_sprint(request.json())
        return ok(self.render(request).sprint(sprint), 201)

    def get_sprint(self, request: Request) -> Response:
        with self.state.lock:
            return ok(self.render(request).sprint(self._sprint(request)))

    def update_sprint(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise JiraError(400, ["Request body must be a JSON object."])
        with self.state.lock:
            sprint = self._sprint(request)
            _update_sprint(sprint, body)
            return ok(self.render(request).sprint(sprint))

    def move_to_sprint(self, request: Request) -> Response:
        self.state.move_to_sprint(request.params["sprintId"], request.json())
        return empty_response(204)


def _update_sprint(sprint: Any, body: dict[str, Any]) -> None:
    # partiallyUpdateSprint: a sprint is started (future -> active, with both dates) and
    # completed (active -> closed); "other changes to state are not allowed", and a closed
    # sprint keeps everything but its name and goal.
    state = body.get("state", sprint.state)
    allowed = {("future", "active"), ("active", "closed")}
    if state != sprint.state and (sprint.state, state) not in allowed:
        raise JiraError(400, [f"A sprint cannot move from {sprint.state} to {state}."])
    for key, attr in (
        ("name", "name"),
        ("goal", "goal"),
        ("startDate", "start_date"),
        ("endDate", "end_date"),
    ):
        if key in body and (sprint.state != "closed" or key in ("name", "goal")):
            setattr(sprint, attr, body[key])
    if state == "active" and not (sprint.start_date and sprint.end_date):
        raise JiraError(400, ["A sprint needs a start date and an end date to start."])
    sprint.state = state
