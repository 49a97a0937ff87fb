"""The Jira sandbox's control and inspection routes (``/_sandbox/jira/...``: no auth,
no faults): settings, every issue as plain JSON, write counters, and a reset."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sandbox.httpbase import Request, Response, empty_response
from sandbox.jira_render import jira_time
from sandbox.jira_routes import JiraRoutes, ok
from sandbox.jira_state import Issue, JiraError, JiraState
from sandbox.jira_workflow import LINK_TYPES, RESOLUTIONS, STATUSES


class ControlRoutes(JiraRoutes):
    """Settings, inspection, write counters and reset."""

    def get_settings(self, request: Request) -> Response:
        return ok(asdict(self.settings))

    def patch_settings(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise JiraError(400, ["expected an object"])
        with self.state.lock:
            try:
                unknown = self.settings.update(body)
            except (TypeError, ValueError) as exc:
                raise JiraError(400, [str(exc)]) from exc
        if unknown:
            raise JiraError(400, [f"unknown settings: {', '.join(unknown)}"])
        return ok(asdict(self.settings))

    def inspect_issues(self, request: Request) -> Response:
        return ok(self.app.snapshot())

    def inspect_issue(self, request: Request) -> Response:
        with self.state.lock:
            issue = self.state.issue(request.params["key"])
            return ok(self.app.dump_issue(issue.key))

    def get_writes(self, request: Request) -> Response:
        return ok(self.app.writes)

    def reset_writes(self, request: Request) -> Response:
        with self.state.lock:
            self.state.writes.clear()
        return empty_response(204)

    def reset_site(self, request: Request) -> Response:
        self.app.reset()
        return empty_response(204)


def dump(state: JiraState, issue: Issue) -> dict[str, Any]:
    status = STATUSES[issue.status_id]
    return {
        "id": str(issue.id),
        "key": issue.key,
        "issuetype": issue.type.name,
        "status": status.name,
        "statusCategory": status.category,
        "resolution": RESOLUTIONS[issue.resolution_id]["name"] if issue.resolution_id else None,
        "fields": dict(issue.fields),
        "creator": issue.creator,
        "created": jira_time(issue.created),
        "updated": jira_time(issue.updated),
        "properties": dict(issue.properties),
        "comments": [
            {
                "id": str(c.id),
                "body": c.body,
                "properties": dict(c.properties),
                "author": c.author,
                "created": jira_time(c.created),
                "updated": jira_time(c.updated),
            }
            for c in issue.comments
        ],
        "attachments": [
            {
                "id": str(a.id),
                "filename": a.filename,
                "size": a.size,
                "sha256": a.sha256,
                "mimeType": a.mime_type,
            }
            for a in (state.attachments[x] for x in issue.attachment_ids)
        ],
        "links": [
            {
                "id": str(ln.id),
                "type": LINK_TYPES[ln.type_id]["name"],
                "inward": state.issues[ln.inward_id].key,
                "outward": state.issues[ln.outward_id].key,
            }
            for ln in state.links_of(issue)
        ],
        "remoteLinks": [
            {"id": rl.id, "globalId": rl.global_id, **rl.body} for rl in issue.remote_links
        ],
        "history": list(issue.history),
    }
