"""The Jira platform API's read routes: server, project and process metadata
(issue types, create metadata, fields, priorities, statuses, link types, labels),
users, and search (``/search/jql``; the removed ``/search`` answers 410)."""

from __future__ import annotations

import datetime as dt

from sandbox import jira_search
from sandbox.httpbase import Request, Response, json_response
from sandbox.jira_routes import JiraRoutes, int_arg, list_arg, ok, page_of
from sandbox.jira_state import JiraError
from sandbox.jira_team import ProjectDef
from sandbox.jira_workflow import (
    FIELDS,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    VERSIONS,
)
from sandbox.people import Person


class PlatformRoutes(JiraRoutes):
    """Metadata, users and search."""

    def get_myself(self, request: Request) -> Response:
        return ok(self.render(request).user(self.state.me, full=True))

    def get_server_info(self, request: Request) -> Response:
        base = self.render(request).base
        now = dt.datetime.now(dt.UTC)
        return ok(
            {
                "baseUrl": base,
                "displayUrl": base,
                "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud",
                "buildNumber": 100280,
                "buildDate": "2026-01-01T00:00:00.000+0000",
                "serverTime": now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                "scmInfo": "sandbox",
                "serverTitle": "Jira (sandbox)",
            }
        )

    def _project_or_404(self, ref: str) -> ProjectDef:
        project = self.state.project_of(ref)
        if project is None:
            raise JiraError(404, [f"No project could be found with key '{ref}'."])
        return project

    def get_project(self, request: Request) -> Response:
        project = self._project_or_404(request.params["projectIdOrKey"])
        with self.state.lock:
            return ok(self.render(request).project(project))

    def get_project_statuses(self, request: Request) -> Response:
        project = self._project_or_404(request.params["projectIdOrKey"])
        r = self.render(request)
        return ok(
            [
                {
                    "self": f"{r.api}/issuetype/{t.id}",
                    "id": t.id,
                    "name": t.name,
                    "subtask": t.subtask,
                    "statuses": [r.status(STATUSES[s]) for s in t.workflow.statuses()],
                }
                for t in project.types.values()
            ]
        )

    def get_components(self, request: Request) -> Response:
        project = self._project_or_404(request.params["projectIdOrKey"])
        r = self.render(request)
        if project.team_managed:
            return ok([])  # components are the company-managed project's
        with self.state.lock:
            return ok([r.component(c, full=True) for c in self.state.components.values()])

    def create_component(self, request: Request) -> Response:
        row = self.state.create_component(request.json())
        return ok(self.render(request).component(row, full=True), 201)

    def get_versions(self, request: Request) -> Response:
        project = self._project_or_404(request.params["projectIdOrKey"])
        r = self.render(request)
        return ok([] if project.team_managed else [r.version(v) for v in VERSIONS])

    def get_issue_types(self, request: Request) -> Response:
        r = self.render(request)
        return ok([r.issue_type(t) for p in self.state.projects for t in p.types.values()])

    def get_project_types(self, request: Request) -> Response:
        project_id = request.arg("projectId")
        if not project_id:
            raise JiraError(400, ["The projectId parameter is required."])
        project = next((p for p in self.state.projects if p.id == project_id), None)
        if project is None:
            raise JiraError(
                404, ["The project is not found or the user does not have permission to view it."]
            )
        r = self.render(request)
        return ok([r.issue_type(t) for t in project.types.values()])

    def get_createmeta_types(self, request: Request) -> Response:
        project = self._project_or_404(request.params["projectIdOrKey"])
        start = int_arg(request, "startAt", 0)
        size = int_arg(request, "maxResults", 50, cap=200)
        r = self.render(request)
        types = [r.meta_issue_type(t) for t in project.types.values()]
        return ok(
            {
                "issueTypes": types[start : start + size],
                "maxResults": size,
                "startAt": start,
                "total": len(types),
            }
        )

    def get_createmeta_fields(self, request: Request) -> Response:
        project = self._project_or_404(request.params["projectIdOrKey"])
        itype = project.types.get(request.params["issueTypeId"])
        if itype is None:
            raise JiraError(400, ["The issue type ID is invalid."])
        start = int_arg(request, "startAt", 0)
        size = int_arg(request, "maxResults", 50, cap=200)
        r = self.render(request)
        with self.state.lock:
            fields = [r.meta_field(FIELDS[f], itype) for f in itype.screen]
        return ok(
            {
                "fields": fields[start : start + size],
                "maxResults": size,
                "startAt": start,
                "total": len(fields),
            }
        )

    def get_fields(self, request: Request) -> Response:
        r = self.render(request)
        return ok([r.field(f) for f in FIELDS.values()])

    def get_priorities(self, request: Request) -> Response:
        r = self.render(request)
        return ok([r.priority(p) for p in PRIORITIES])

    def search_priorities(self, request: Request) -> Response:
        r = self.render(request)
        values = [r.priority(p) for p in PRIORITIES]
        start, size = int_arg(request, "startAt", 0), int_arg(request, "maxResults", 50)
        return ok(page_of(values, start, size, f"{r.api}/priority/search"))

    def get_resolutions(self, request: Request) -> Response:
        r = self.render(request)
        return ok([r.resolution(x) for x in RESOLUTIONS])

    def get_statuses(self, request: Request) -> Response:
        r = self.render(request)
        return ok([r.status(s) for s in STATUSES.values()])

    def get_status_categories(self, request: Request) -> Response:
        r = self.render(request)
        return ok(
            [{"self": f"{r.api}/statuscategory/{c['id']}", **c} for c in STATUS_CATEGORIES.values()]
        )

    def get_link_types(self, request: Request) -> Response:
        r = self.render(request)
        return ok({"issueLinkTypes": [r.link_type(lid) for lid in LINK_TYPES]})

    def get_labels(self, request: Request) -> Response:
        with self.state.lock:
            labels = sorted(
                {lb for i in self.state.issues.values() for lb in i.fields.get("labels", [])}
            )
        start, size = int_arg(request, "startAt", 0), int_arg(request, "maxResults", 1000)
        return ok(page_of(labels, start, size, self.render(request).api + "/label"))

    def get_attachment_meta(self, request: Request) -> Response:
        return ok(
            {
                "enabled": self.settings.attachments_enabled,
                "uploadLimit": self.settings.upload_limit,
            }
        )

    # ------------------------------------------------------------------ platform: users
    def _visible_users(self) -> list[Person]:
        return sorted(self.state.users.values(), key=lambda p: p.display_name.lower())

    def find_users(self, request: Request) -> Response:
        query = (request.arg("query") or "").strip().lower()
        account = request.arg("accountId")
        if not query and not account:
            raise JiraError(400, ["The query parameter or the accountId parameter is required."])
        start = int_arg(request, "startAt", 0)
        size = int_arg(request, "maxResults", 50, cap=1000)
        found = [
            p
            for p in self._visible_users()
            if (not account or p.jira_account_id == account)
            and (not query or _user_matches(p, query))
        ]
        r = self.render(request)
        return ok([r.user(p) for p in found[start : start + size]])

    def get_user(self, request: Request) -> Response:
        person = self.state.user(request.arg("accountId"))
        if person is None:
            raise JiraError(
                404, ["Specified user does not exist or you do not have required permissions"]
            )
        return ok(self.render(request).user(person, full=True))

    def bulk_users(self, request: Request) -> Response:
        ids = request.args("accountId")
        if not ids:
            raise JiraError(400, ["The accountId parameter is required."])
        r = self.render(request)
        found = [r.user(p) for p in (self.state.user(a) for a in ids) if p is not None]
        start, size = int_arg(request, "startAt", 0), int_arg(request, "maxResults", 10)
        return ok(page_of(found, start, size, f"{r.api}/user/bulk"))

    # ------------------------------------------------------------------ platform: search
    def old_search_gone(self, request: Request) -> Response:
        return json_response(
            410,
            {
                "errorMessages": [
                    "The requested API has been removed. Please migrate to the "
                    "/rest/api/3/search/jql API. A full migration guideline is available at "
                    "https://developer.atlassian.com/changelog/#CHANGE-2046"
                ],
                "errors": {},
            },
        )

    def search_jql(self, request: Request) -> Response:
        if request.method == "POST":
            req = jira_search.parse_request(request.json())
        else:
            req = {
                "jql": request.arg("jql"),
                "nextPageToken": request.arg("nextPageToken"),
                "maxResults": request.arg("maxResults"),
                "fields": list_arg(request, "fields"),
                "expand": request.arg("expand"),
                "properties": list_arg(request, "properties"),
            }
        return ok(jira_search.search(self.state, self.render(request), req))


def _user_matches(person: Person, query: str) -> bool:
    # Jira matches the start of the display name or of any of its words, and the
    # email address only when the user lets it be seen.
    name = person.display_name.lower()
    if name.startswith(query) or any(w.startswith(query) for w in name.split()):
        return True
    return not person.email_hidden and person.jira_address.lower().startswith(query)
