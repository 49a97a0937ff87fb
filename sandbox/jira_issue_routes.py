"""The Jira routes of issues themselves: create (one or in bulk), read, edit,
delete, bulk fetch, transitions, entity properties, and the bulk delete task with
the permission check that precedes it."""

from __future__ import annotations

from typing import Any

from sandbox import jira_bulk
from sandbox.httpbase import Request, Response, empty_response
from sandbox.jira_render import FieldSelection
from sandbox.jira_routes import JiraRoutes, bool_arg, list_arg, ok
from sandbox.jira_state import Issue, JiraError

BULK_LIMIT = 50
BULKFETCH_LIMIT = 100


class IssueRoutes(JiraRoutes):
    """Issues, transitions, properties and bulk delete."""

    def bulk_delete(self, request: Request) -> Response:
        task = jira_bulk.submit_bulk_delete(self.state, request.json())
        return ok({"taskId": task.id}, 201)

    def bulk_progress(self, request: Request) -> Response:
        task = jira_bulk.bulk_task(self.state, request.params["taskId"])
        return ok(jira_bulk.render_task(task, self.render(request)))

    def my_permissions(self, request: Request) -> Response:
        project = request.arg("projectId") or request.arg("projectKey")
        keys = list_arg(request, "permissions")
        return ok(jira_bulk.my_permissions(self.state, keys, project))

    def _created(self, request: Request, issue: Issue, transitioned: bool) -> dict[str, Any]:
        """``CreatedIssue``."""
        out: dict[str, Any] = {
            "id": str(issue.id),
            "key": issue.key,
            "self": self.render(request).issue_url(issue),
        }
        if transitioned:  # the spec's example: the transition's own status, 200
            out["transition"] = {
                "status": 200,
                "errorCollection": {"errorMessages": [], "errors": {}},
            }
        return out

    def create_issue(self, request: Request) -> Response:
        issue, transition = self.state.create_issue(request.json())
        return ok(self._created(request, issue, transition is not None), 201)

    def create_issues(self, request: Request) -> Response:
        body = request.json()
        updates = body.get("issueUpdates") if isinstance(body, dict) else None
        if not isinstance(updates, list) or not updates:
            raise JiraError(400, ["Nothing to create. Specify at least one issue in issueUpdates."])
        if len(updates) > BULK_LIMIT:
            raise JiraError(400, [f"You can create at most {BULK_LIMIT} issues in one request."])
        created, errors = [], []
        for number, update in enumerate(updates):
            try:
                issue, transition = self.state.create_issue(update)
            except JiraError as exc:
                errors.append(
                    {
                        "status": exc.status,
                        "failedElementNumber": number,
                        "elementErrors": {**exc.body(), "status": exc.status},
                    }
                )
                continue
            created.append(self._created(request, issue, transition is not None))
        return ok({"issues": created, "errors": errors}, 201 if created else 400)

    def _selection(self, request: Request) -> tuple[FieldSelection, set[str], list[str]]:
        sel = FieldSelection.parse(request.args("fields"), "*all")
        expand = set(list_arg(request, "expand"))
        return sel, expand, list_arg(request, "properties")

    def get_issue(self, request: Request) -> Response:
        sel, expand, props = self._selection(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            return ok(self.render(request).issue(issue, sel, expand=expand, properties=props))

    def get_edit_meta(self, request: Request) -> Response:
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            return ok(self.render(request).edit_meta(issue))

    def edit_issue(self, request: Request) -> Response:
        issue = self.state.edit_issue(request.params["issueIdOrKey"], request.json())
        if request.arg("returnIssue") == "true":
            sel, expand, props = self._selection(request)
            with self.state.lock:
                return ok(self.render(request).issue(issue, sel, expand=expand, properties=props))
        return empty_response(204)

    def delete_issue(self, request: Request) -> Response:
        self.state.delete_issue(
            request.params["issueIdOrKey"], bool_arg(request, "deleteSubtasks", False)
        )
        return empty_response(204)

    def bulk_fetch(self, request: Request) -> Response:
        body = request.json()
        refs = body.get("issueIdsOrKeys") if isinstance(body, dict) else None
        if not isinstance(refs, list) or not refs or len(refs) > BULKFETCH_LIMIT:
            raise JiraError(400, [f"issueIdsOrKeys must hold 1 to {BULKFETCH_LIMIT} issues."])
        sel = FieldSelection.parse(body.get("fields") or [], "*navigable")
        expand = set(body.get("expand") or [])
        props = list(body.get("properties") or [])
        r = self.render(request)
        issues, errors = [], []
        with self.state.lock:
            for ref in refs:
                issue = self.state.find_issue(ref)
                if issue is None:
                    errors.append(
                        {
                            "id": str(ref),
                            "errorMessage": "Issue does not exist or you "
                            "do not have permission to see it.",
                        }
                    )
                else:
                    issues.append(r.issue(issue, sel, expand=expand, properties=props))
        return ok({"issues": issues, "issueErrors": errors})

    def get_transitions(self, request: Request) -> Response:
        wanted = request.arg("transitionId")
        r = self.render(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            found = [
                r.transition(t)
                for t in self.state.transitions_for(issue)
                if wanted in (None, "", t.id)
            ]
        return ok({"expand": "transitions", "transitions": found})

    def do_transition(self, request: Request) -> Response:
        self.state.do_transition(request.params["issueIdOrKey"], request.json())
        return empty_response(204)

    def get_property_keys(self, request: Request) -> Response:
        r = self.render(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            base = f"{r.issue_url(issue)}/properties/"
            return ok({"keys": [{"key": k, "self": base + k} for k in issue.properties]})

    def get_property(self, request: Request) -> Response:
        key = request.params["propertyKey"]
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            if key not in issue.properties:
                raise JiraError(404, [f"The property with key '{key}' does not exist."])
            return ok({"key": key, "value": issue.properties[key]})

    def set_property(self, request: Request) -> Response:
        created = self.state.set_property(
            request.params["issueIdOrKey"], request.params["propertyKey"], request.body
        )
        return empty_response(201 if created else 200)

    def delete_property(self, request: Request) -> Response:
        key = request.params["propertyKey"]
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            if key not in issue.properties:
                raise JiraError(404, [f"The property with key '{key}' does not exist."])
            del issue.properties[key]
        return empty_response(204)
