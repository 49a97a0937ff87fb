"""The Jira routes of issue links and remote links."""

from __future__ import annotations

from sandbox.httpbase import Request, Response, empty_response
from sandbox.jira_routes import JiraRoutes, ok
from sandbox.jira_state import JiraError


class LinkRoutes(JiraRoutes):
    """Issue links and remote links."""

    def link_issues(self, request: Request) -> Response:
        self.state.link_issues(request.json())
        return empty_response(201)

    def get_link(self, request: Request) -> Response:
        with self.state.lock:
            link_id = request.params["linkId"]
            link = self.state.links.get(int(link_id)) if link_id.isdigit() else None
            if link is None:
                raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
            return ok(self.render(request).link(link))

    def delete_link(self, request: Request) -> Response:
        self.state.delete_link(request.params["linkId"])
        return empty_response(204)

    def get_remote_links(self, request: Request) -> Response:
        wanted = request.arg("globalId")
        r = self.render(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            links = [
                r.remote_link(issue, rl)
                for rl in issue.remote_links
                if wanted is None or rl.global_id == wanted
            ]
        if wanted is None:
            return ok(links)
        if not links:
            raise JiraError(404, ["No remote link with the given globalId exists."])
        return ok(links[0])

    def upsert_remote_link(self, request: Request) -> Response:
        issue_ref = request.params["issueIdOrKey"]
        link, created = self.state.upsert_remote_link(issue_ref, request.json())
        issue = self.state.issue(issue_ref)
        url = f"{self.render(request).issue_url(issue)}/remotelink/{link.id}"
        return ok({"id": link.id, "self": url}, 201 if created else 200)

    def delete_remote_link(self, request: Request) -> Response:
        self.state.delete_remote_link(request.params["issueIdOrKey"], request.params["linkId"])
        return empty_response(204)
