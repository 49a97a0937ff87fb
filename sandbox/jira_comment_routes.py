"""The Jira comment routes: add, list (paged, ordered by creation), read, update and
delete an issue's comments, and read a comment's properties by comment id."""

from __future__ import annotations

from sandbox.httpbase import Request, Response, empty_response
from sandbox.jira_routes import JiraRoutes, bool_arg, int_arg, list_arg, ok
from sandbox.jira_state import JiraError


class CommentRoutes(JiraRoutes):
    """Comments and comment properties."""

    def add_comment(self, request: Request) -> Response:
        issue, comment = self.state.add_comment(request.params["issueIdOrKey"], request.json())
        expand = set(list_arg(request, "expand")) | {"properties"}
        with self.state.lock:
            return ok(self.render(request).comment(issue, comment, expand), 201)

    def _comment_expand(self, request: Request) -> set[str]:
        """``expand`` of the comment GETs: the spec documents ``renderedBody`` only."""
        expand = set(list_arg(request, "expand"))
        if not self.settings.comment_properties_in_list:
            expand.discard("properties")
        return expand

    def get_comments(self, request: Request) -> Response:
        start = int_arg(request, "startAt", 0)
        size = int_arg(request, "maxResults", 100, cap=5000)
        order = request.arg("orderBy") or "created"
        if order.lstrip("+-") != "created":
            raise JiraError(400, ["orderBy accepts only created, +created and -created."])
        expand = self._comment_expand(request)
        r = self.render(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            comments = sorted(
                issue.comments, key=lambda c: (c.created, c.id), reverse=order.startswith("-")
            )
            page = [r.comment(issue, c, expand) for c in comments[start : start + size]]
        return ok({"comments": page, "maxResults": size, "startAt": start, "total": len(comments)})

    def get_comment(self, request: Request) -> Response:
        expand = self._comment_expand(request)
        r = self.render(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            comment = self.state.comment(issue, request.params["id"])
            return ok(r.comment(issue, comment, expand))

    def update_comment(self, request: Request) -> Response:
        bool_arg(request, "notifyUsers", True)  # checked; the sandbox notifies no one
        bool_arg(request, "overrideEditableFlag", False)
        issue, comment = self.state.update_comment(
            request.params["issueIdOrKey"], request.params["id"], request.json()
        )
        expand = set(list_arg(request, "expand")) | {"properties"}  # as the create answers
        with self.state.lock:
            return ok(self.render(request).comment(issue, comment, expand))

    def delete_comment(self, request: Request) -> Response:
        self.state.delete_comment(request.params["issueIdOrKey"], request.params["id"])
        return empty_response(204)

    def get_comment_property_keys(self, request: Request) -> Response:
        with self.state.lock:
            _, comment = self.state.comment_by_id(request.params["commentId"])
            return ok(self.render(request).comment_property_keys(comment))

    def get_comment_property(self, request: Request) -> Response:
        key = request.params["propertyKey"]
        with self.state.lock:
            _, comment = self.state.comment_by_id(request.params["commentId"])
            if key not in comment.properties:
                raise JiraError(404, [f"The property with key '{key}' does not exist."])
            return ok({"key": key, "value": comment.properties[key]})
