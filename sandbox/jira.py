"""Simulated Jira Cloud (REST API v3 and a slice of the agile API 1.0).

Serve it with :class:`sandbox.httpbase.SandboxServer`::

    app = JiraApp(email="bot@example.com", api_token="t0k3n", users=people)
    with SandboxServer(app) as server:
        ...  # http://127.0.0.1:PORT/rest/api/3/myself with Basic bot@example.com:t0k3n

Optional constructor extras (all keyword, with defaults): ``display_name`` of
the API user, ``require_story_points`` (makes Story Points required on Story
only), ``attachments_enabled``, ``comment_properties_in_list``.

Deletes (issue, comment, attachment, issue link, remote link) answer as the
spec documents; an issue's key is never handed out again. Bulk delete
(``POST /bulk/issues/delete``, an asynchronous task followed with
``GET /bulk/queue/{taskId}``) and ``GET /mypermissions`` are in
:mod:`sandbox.jira_bulk`. ``updated`` of an
issue moves on (by at least a millisecond, so the change always shows) with
every change: edit, transition, sprint move, comment add/edit/delete,
attachment add/delete, link add/delete (on both issues), remote link
add/update/delete. Entity properties are not issue fields and leave it alone.

Control and inspection routes (no auth, no faults, no latency):

* ``GET/PATCH /_sandbox/knobs``, ``GET /_sandbox/counters`` (from httpbase;
  the knobs that lose answers or hold writes are described on
  :class:`sandbox.httpbase.Knobs`; ``slow_bulk_ms_per_issue`` slows
  ``POST /rest/api/3/issue/bulk`` by that many ms per issue);
* ``GET/PATCH /_sandbox/jira/settings``: ``upload_limit`` (bytes, per file),
  ``attachments_enabled``, ``require_story_points``, ``max_files_per_upload``,
  ``manage_components``, ``scrum_board``, ``delete_permission`` (False: deletes
  are refused as for a user without the Delete permissions),
  ``bulk_change_permission`` (False: no global Bulk change permission, so bulk
  delete answers 403), ``bulk_delete_ms_per_issue`` (the bulk task's pace) and
  ``comment_properties_in_list`` (default False, as the spec documents only
  ``renderedBody`` for ``expand`` on ``GET .../comment`` and
  ``GET .../comment/{id}``: ``expand=properties`` is ignored there; True
  honours it). Comment properties are always readable through
  ``GET /rest/api/3/comment/{commentId}/properties[/{propertyKey}]``;
* ``GET /_sandbox/jira/issues`` and ``/_sandbox/jira/issues/{key}``: every
  issue with all fields, status, comments (bodies and properties),
  attachments (name, size, sha256), links, remote links, properties, history;
* ``GET /_sandbox/jira/writes``: counters of creates, edits, transitions,
  comments, attachments, links..., and of deletes (``issues_deleted``, which
  counts sub-tasks deleted with their parent; ``comments_deleted``,
  ``attachments_deleted``, ``links_deleted``, ``remote_links_deleted``, which
  count the delete routes only, not what an issue delete takes with it;
  ``bulk_deletes``, bulk delete tasks submitted, whose issues count in
  ``issues_deleted``) (``POST /_sandbox/jira/writes/reset``);
* ``POST /_sandbox/jira/reset`` (or :meth:`JiraApp.reset`): an empty site again,
  with default knobs, settings and counters.

The same views are available in Python: :meth:`JiraApp.snapshot`,
:meth:`JiraApp.dump_issue`, :attr:`JiraApp.writes`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sandbox import jira_bulk, jira_multipart, jira_search
from sandbox.httpbase import (
    CONTROL_PREFIX,
    BadRequestBody,
    Knobs,
    Request,
    Response,
    SandboxApp,
    empty_response,
    json_response,
)
from sandbox.jira_render import FieldSelection, Renderer, jira_time
from sandbox.jira_state import Issue, JiraError, JiraState, Settings
from sandbox.jira_workflow import (
    FIELDS,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    VERSIONS,
)
from sandbox.people import Person

API = "/rest/api/3"
AGILE = "/rest/agile/1.0"
JIRA_CONTROL = CONTROL_PREFIX + "/jira"
NOT_AUTHENTICATED = "Client must be authenticated to access this resource."
ANONYMOUS_ROUTES = {f"{API}/serverInfo"}  # Jira Cloud answers serverInfo without auth
BULK_LIMIT = 50
BULKFETCH_LIMIT = 100

JiraHandler = Callable[[Request], Response]


def _ok(obj: Any, status: int = 200) -> Response:
    return json_response(status, obj)


def _int_arg(request: Request, name: str, default: int, cap: int | None = None) -> int:
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise JiraError(400, [f"The '{name}' parameter must be a number."]) from exc
    if value < 0:
        raise JiraError(400, [f"The '{name}' parameter must not be negative."])
    return min(value, cap) if cap is not None else value


def _bool_arg(request: Request, name: str, default: bool) -> bool:
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    value = str(raw).lower()
    if value not in ("true", "false"):
        raise JiraError(400, [f"The '{name}' parameter must be true or false."])
    return value == "true"


def _list_arg(request: Request, name: str) -> list[str]:
    return [v.strip() for raw in request.args(name) for v in raw.split(",") if v.strip()]


def _page(values: list[Any], start: int, size: int, url: str) -> dict[str, Any]:
    """A ``PageBean*`` object."""
    chunk = values[start : start + size]
    return {
        "self": url,
        "maxResults": size,
        "startAt": start,
        "total": len(values),
        "isLast": start + size >= len(values),
        "values": chunk,
    }


class JiraApp(SandboxApp):
    name = "jira"

    def __init__(
        self,
        *,
        email: str,
        api_token: str,
        project_key: str = "MIG",
        users: Sequence[Person] = (),
        upload_limit: int = 10 * 1024 * 1024,
        knobs: Knobs | None = None,
        display_name: str | None = None,
        require_story_points: bool = False,
        attachments_enabled: bool = True,
        comment_properties_in_list: bool = False,
    ) -> None:
        super().__init__(knobs)
        self.email = email
        self.api_token = api_token
        me = next((p for p in users if p.email.lower() == email.lower() and p.in_jira), None)
        self._me = me or Person(display_name or "Migration Bot", email)
        self._users, self._project_key = tuple(users), project_key
        self._initial_settings = Settings(
            upload_limit=upload_limit,
            attachments_enabled=attachments_enabled,
            require_story_points=require_story_points,
            comment_properties_in_list=comment_properties_in_list,
        )
        self.settings, self.state = self._fresh_state()
        self._register_platform()
        self._register_issue_routes()
        self._register_agile()
        self._register_control()

    # ------------------------------------------------------------------ plumbing
    def route(self, method: str, path: str, handler: JiraHandler, *, faults: bool = True) -> None:
        """Register ``handler``; a :class:`JiraError` it raises becomes Jira's error body."""

        def guarded(request: Request) -> Response:
            try:
                return handler(request)
            except JiraError as exc:
                return json_response(exc.status, jira_bulk.bulk_error_body(exc) or exc.body())

        self.add_route(method, path, guarded, faults=faults)

    def _fresh_state(self) -> tuple[Settings, JiraState]:
        settings = Settings(**asdict(self._initial_settings))
        state = JiraState(
            project_key=self._project_key, me=self._me, users=self._users, settings=settings
        )
        return settings, state

    def reset(self) -> None:
        """Back to an empty site: no issues, default knobs and settings, zero counters."""
        self.knobs.update(asdict(Knobs()))
        with self._counter_lock:
            self.counters.clear()
        self.settings, self.state = self._fresh_state()

    def render(self, request: Request) -> Renderer:
        host = request.headers.get("Host") or "127.0.0.1"
        return Renderer(self.state, f"http://{host}")

    @property
    def writes(self) -> dict[str, int]:
        with self.state.lock:
            return dict(self.state.writes)

    # ------------------------------------------------------------------ hooks
    def authenticate(self, request: Request) -> Response | None:
        if request.route in ANONYMOUS_ROUTES:
            return None
        header = request.headers.get("Authorization") or ""
        if not header:
            return self._unauthorised(anonymous=True)
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return self._unauthorised(anonymous=False)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            user, _, token = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return self._unauthorised(anonymous=False)
        if user.lower() != self.email.lower() or token != self.api_token:
            return self._unauthorised(anonymous=False)
        return None

    def _unauthorised(self, *, anonymous: bool) -> Response:
        # Jira Cloud's gateway answers plain text; failed credentials also carry
        # X-Seraph-LoginReason, which clients use to tell "bad token" from "no token".
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "WWW-Authenticate": 'Basic realm="protected-area"',
        }
        if not anonymous:
            headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        return Response(401, NOT_AUTHENTICATED.encode(), headers)

    def throttled(self, request: Request, reason: str) -> Response:
        retry = max(1, math.ceil(self.knobs.retry_after_sec))
        reset = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry + 59)
        writes_issue = request.method != "GET" and "{issueIdOrKey}" in request.route
        why = (
            "jira-per-issue-on-write" if reason == "random" and writes_issue else "jira-burst-based"
        )
        limit = int(self.knobs.rate_limit_per_sec) or 100
        headers = {
            "Retry-After": str(retry),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-NearLimit": "true",
            # Jira documents minute precision (yyyy-MM-ddTHH:mmZ); rounded up, never early.
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
            "RateLimit-Reason": why,
        }
        return json_response(
            429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers
        )

    def server_error(self, request: Request, status: int) -> Response:
        headers = (
            {"Retry-After": str(max(1, math.ceil(self.knobs.retry_after_sec)))}
            if status == 503
            else {}
        )
        message = "Service Unavailable" if status == 503 else "Internal server error"
        return json_response(status, {"errorMessages": [message], "errors": {}}, headers)

    def not_found(self, request: Request) -> Response:
        return json_response(
            404, {"errorMessages": ["null for uri: " + request.path], "errors": {}}
        )

    def method_not_allowed(self, request: Request) -> Response:
        return json_response(405, {"errorMessages": ["Method Not Allowed"], "errors": {}})

    def bad_body(self, request: Request, exc: BadRequestBody) -> Response:
        return json_response(
            400,
            {"errorMessages": [f"Unexpected character in the request body: {exc}"], "errors": {}},
        )

    def bulk_size(self, request: Request) -> int:
        """Issues in a bulk create, for the ``slow_bulk_ms_per_issue`` knob."""
        if request.method != "POST" or request.route != API + "/issue/bulk":
            return 0
        try:
            body = request.json()
        except BadRequestBody:
            return 0  # the handler refuses it; nothing to slow down
        updates = body.get("issueUpdates") if isinstance(body, dict) else None
        return len(updates) if isinstance(updates, list) else 0

    # ------------------------------------------------------------------ platform: metadata
    def _register_platform(self) -> None:
        get = [
            ("/myself", self.get_myself),
            ("/serverInfo", self.get_server_info),
            ("/project/{projectIdOrKey}", self.get_project),
            ("/project/{projectIdOrKey}/statuses", self.get_project_statuses),
            ("/project/{projectIdOrKey}/components", self.get_components),
            ("/project/{projectIdOrKey}/versions", self.get_versions),
            ("/issuetype", self.get_issue_types),
            ("/issuetype/project", self.get_project_types),
            ("/issue/createmeta/{projectIdOrKey}/issuetypes", self.get_createmeta_types),
            (
                "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
                self.get_createmeta_fields,
            ),
            ("/field", self.get_fields),
            ("/priority", self.get_priorities),
            ("/priority/search", self.search_priorities),
            ("/resolution", self.get_resolutions),
            ("/status", self.get_statuses),
            ("/statuscategory", self.get_status_categories),
            ("/issueLinkType", self.get_link_types),
            ("/label", self.get_labels),
            ("/attachment/meta", self.get_attachment_meta),
            ("/user/search", self.find_users),
            ("/user/bulk", self.bulk_users),
            ("/user", self.get_user),
        ]
        for path, handler in get:
            self.route("GET", API + path, handler)
        self.route("POST", API + "/component", self.create_component)
        for method in ("GET", "POST"):
            self.route(method, API + "/search", self.old_search_gone)
            self.route(method, API + "/search/jql", self.search_jql)

    def get_myself(self, request: Request) -> Response:
        return _ok(self.render(request).user(self.state.me, full=True))

    def get_server_info(self, request: Request) -> Response:
        base = self.render(request).base
        now = dt.datetime.now(dt.UTC)
        return _ok(
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

    def _project_or_404(self, ref: str) -> None:
        if not self.state.project_matches(ref):
            raise JiraError(404, [f"No project could be found with key '{ref}'."])

    def get_project(self, request: Request) -> Response:
        self._project_or_404(request.params["projectIdOrKey"])
        with self.state.lock:
            return _ok(self.render(request).project())

    def get_project_statuses(self, request: Request) -> Response:
        self._project_or_404(request.params["projectIdOrKey"])
        r = self.render(request)
        return _ok(
            [
                {
                    "self": f"{r.api}/issuetype/{t.id}",
                    "id": t.id,
                    "name": t.name,
                    "subtask": t.subtask,
                    "statuses": [r.status(STATUSES[s]) for s in t.workflow.statuses()],
                }
                for t in ISSUE_TYPES.values()
            ]
        )

    def get_components(self, request: Request) -> Response:
        self._project_or_404(request.params["projectIdOrKey"])
        r = self.render(request)
        with self.state.lock:
            return _ok([r.component(c, full=True) for c in self.state.components.values()])

    def create_component(self, request: Request) -> Response:
        row = self.state.create_component(request.json())
        return _ok(self.render(request).component(row, full=True), 201)

    def get_versions(self, request: Request) -> Response:
        self._project_or_404(request.params["projectIdOrKey"])
        r = self.render(request)
        return _ok([r.version(v) for v in VERSIONS])

    def get_issue_types(self, request: Request) -> Response:
        r = self.render(request)
        return _ok([r.issue_type(t) for t in ISSUE_TYPES.values()])

    def get_project_types(self, request: Request) -> Response:
        project_id = request.arg("projectId")
        if not project_id:
            raise JiraError(400, ["The projectId parameter is required."])
        if project_id != self.state.project_id:
            raise JiraError(
                404, ["The project is not found or the user does not have permission to view it."]
            )
        return self.get_issue_types(request)

    def get_createmeta_types(self, request: Request) -> Response:
        self._project_or_404(request.params["projectIdOrKey"])
        start = _int_arg(request, "startAt", 0)
        size = _int_arg(request, "maxResults", 50, cap=200)
        r = self.render(request)
        types = [r.meta_issue_type(t) for t in ISSUE_TYPES.values()]
        return _ok(
            {
                "issueTypes": types[start : start + size],
                "maxResults": size,
                "startAt": start,
                "total": len(types),
            }
        )

    def get_createmeta_fields(self, request: Request) -> Response:
        self._project_or_404(request.params["projectIdOrKey"])
        itype = ISSUE_TYPES.get(request.params["issueTypeId"])
        if itype is None:
            raise JiraError(400, ["The issue type ID is invalid."])
        start = _int_arg(request, "startAt", 0)
        size = _int_arg(request, "maxResults", 50, cap=200)
        r = self.render(request)
        with self.state.lock:
            fields = [r.meta_field(FIELDS[f], itype) for f in itype.screen]
        return _ok(
            {
                "fields": fields[start : start + size],
                "maxResults": size,
                "startAt": start,
                "total": len(fields),
            }
        )

    def get_fields(self, request: Request) -> Response:
        r = self.render(request)
        return _ok([r.field(f) for f in FIELDS.values()])

    def get_priorities(self, request: Request) -> Response:
        r = self.render(request)
        return _ok([r.priority(p) for p in PRIORITIES])

    def search_priorities(self, request: Request) -> Response:
        r = self.render(request)
        values = [r.priority(p) for p in PRIORITIES]
        start, size = _int_arg(request, "startAt", 0), _int_arg(request, "maxResults", 50)
        return _ok(_page(values, start, size, f"{r.api}/priority/search"))

    def get_resolutions(self, request: Request) -> Response:
        r = self.render(request)
        return _ok([r.resolution(x) for x in RESOLUTIONS])

    def get_statuses(self, request: Request) -> Response:
        r = self.render(request)
        return _ok([r.status(s) for s in STATUSES.values()])

    def get_status_categories(self, request: Request) -> Response:
        r = self.render(request)
        return _ok(
            [{"self": f"{r.api}/statuscategory/{c['id']}", **c} for c in STATUS_CATEGORIES.values()]
        )

    def get_link_types(self, request: Request) -> Response:
        r = self.render(request)
        return _ok({"issueLinkTypes": [r.link_type(lid) for lid in LINK_TYPES]})

    def get_labels(self, request: Request) -> Response:
        with self.state.lock:
            labels = sorted(
                {lb for i in self.state.issues.values() for lb in i.fields.get("labels", [])}
            )
        start, size = _int_arg(request, "startAt", 0), _int_arg(request, "maxResults", 1000)
        return _ok(_page(labels, start, size, self.render(request).api + "/label"))

    def get_attachment_meta(self, request: Request) -> Response:
        return _ok(
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
        start = _int_arg(request, "startAt", 0)
        size = _int_arg(request, "maxResults", 50, cap=1000)
        found = [
            p
            for p in self._visible_users()
            if (not account or p.jira_account_id == account)
            and (not query or _user_matches(p, query))
        ]
        r = self.render(request)
        return _ok([r.user(p) for p in found[start : start + size]])

    def get_user(self, request: Request) -> Response:
        person = self.state.user(request.arg("accountId"))
        if person is None:
            raise JiraError(
                404, ["Specified user does not exist or you do not have required permissions"]
            )
        return _ok(self.render(request).user(person, full=True))

    def bulk_users(self, request: Request) -> Response:
        ids = request.args("accountId")
        if not ids:
            raise JiraError(400, ["The accountId parameter is required."])
        r = self.render(request)
        found = [r.user(p) for p in (self.state.user(a) for a in ids) if p is not None]
        start, size = _int_arg(request, "startAt", 0), _int_arg(request, "maxResults", 10)
        return _ok(_page(found, start, size, f"{r.api}/user/bulk"))

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
                "fields": _list_arg(request, "fields"),
                "expand": request.arg("expand"),
                "properties": _list_arg(request, "properties"),
            }
        return _ok(jira_search.search(self.state, self.render(request), req))

    # ------------------------------------------------------------------ issues
    def _register_issue_routes(self) -> None:
        issue = API + "/issue/{issueIdOrKey}"
        routes = [
            ("POST", API + "/issue", self.create_issue),
            ("POST", API + "/issue/bulk", self.create_issues),
            ("POST", API + "/issue/bulkfetch", self.bulk_fetch),
            ("GET", issue, self.get_issue),
            ("PUT", issue, self.edit_issue),
            ("DELETE", issue, self.delete_issue),
            ("GET", issue + "/transitions", self.get_transitions),
            ("POST", issue + "/transitions", self.do_transition),
            ("GET", issue + "/comment", self.get_comments),
            ("POST", issue + "/comment", self.add_comment),
            ("GET", issue + "/comment/{id}", self.get_comment),
            ("PUT", issue + "/comment/{id}", self.update_comment),
            ("DELETE", issue + "/comment/{id}", self.delete_comment),
            ("GET", API + "/comment/{commentId}/properties", self.get_comment_property_keys),
            (
                "GET",
                API + "/comment/{commentId}/properties/{propertyKey}",
                self.get_comment_property,
            ),
            ("POST", issue + "/attachments", self.add_attachments),
            ("GET", API + "/attachment/{id}", self.get_attachment),
            ("DELETE", API + "/attachment/{id}", self.delete_attachment),
            ("GET", API + "/attachment/content/{id}", self.get_attachment_content),
            ("POST", API + "/issueLink", self.link_issues),
            ("GET", API + "/issueLink/{linkId}", self.get_link),
            ("DELETE", API + "/issueLink/{linkId}", self.delete_link),
            ("GET", issue + "/remotelink", self.get_remote_links),
            ("POST", issue + "/remotelink", self.upsert_remote_link),
            ("DELETE", issue + "/remotelink/{linkId}", self.delete_remote_link),
            ("GET", issue + "/properties", self.get_property_keys),
            ("GET", issue + "/properties/{propertyKey}", self.get_property),
            ("PUT", issue + "/properties/{propertyKey}", self.set_property),
            ("DELETE", issue + "/properties/{propertyKey}", self.delete_property),
        ]
        for method, path, handler in routes:
            self.route(method, path, handler)
        self.route("POST", API + "/bulk/issues/delete", self.bulk_delete)
        self.route("GET", API + "/bulk/queue/{taskId}", self.bulk_progress)
        self.route("GET", API + "/mypermissions", self.my_permissions)

    def bulk_delete(self, request: Request) -> Response:
        task = jira_bulk.submit_bulk_delete(self.state, request.json())
        return _ok({"taskId": task.id}, 201)

    def bulk_progress(self, request: Request) -> Response:
        task = jira_bulk.bulk_task(self.state, request.params["taskId"])
        return _ok(jira_bulk.render_task(task, self.render(request)))

    def my_permissions(self, request: Request) -> Response:
        project = request.arg("projectId") or request.arg("projectKey")
        keys = _list_arg(request, "permissions")
        return _ok(jira_bulk.my_permissions(self.state, keys, project))

    def _created(self, request: Request, issue: Issue, transitioned: bool) -> dict[str, Any]:
        """``CreatedIssue``."""
        out: dict[str, Any] = {
            "id": str(issue.id),
            "key": issue.key,
            "self": self.render(request).issue_url(issue),
        }
        if transitioned:
            out["transition"] = {
                "status": 204,
                "errorCollection": {"errorMessages": [], "errors": {}},
            }
        return out

    def create_issue(self, request: Request) -> Response:
        issue, transition = self.state.create_issue(request.json())
        return _ok(self._created(request, issue, transition is not None), 201)

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
        return _ok({"issues": created, "errors": errors}, 201 if created else 400)

    def _selection(self, request: Request) -> tuple[FieldSelection, set[str], list[str]]:
        sel = FieldSelection.parse(request.args("fields"), "*all")
        expand = set(_list_arg(request, "expand"))
        return sel, expand, _list_arg(request, "properties")

    def get_issue(self, request: Request) -> Response:
        sel, expand, props = self._selection(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            return _ok(self.render(request).issue(issue, sel, expand=expand, properties=props))

    def edit_issue(self, request: Request) -> Response:
        issue = self.state.edit_issue(request.params["issueIdOrKey"], request.json())
        if request.arg("returnIssue") == "true":
            sel, expand, props = self._selection(request)
            with self.state.lock:
                return _ok(self.render(request).issue(issue, sel, expand=expand, properties=props))
        return empty_response(204)

    def delete_issue(self, request: Request) -> Response:
        self.state.delete_issue(
            request.params["issueIdOrKey"], _bool_arg(request, "deleteSubtasks", False)
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
        return _ok({"issues": issues, "issueErrors": errors})

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
        return _ok({"expand": "transitions", "transitions": found})

    def do_transition(self, request: Request) -> Response:
        self.state.do_transition(request.params["issueIdOrKey"], request.json())
        return empty_response(204)

    # ------------------------------------------------------------------ comments
    def add_comment(self, request: Request) -> Response:
        issue, comment = self.state.add_comment(request.params["issueIdOrKey"], request.json())
        expand = set(_list_arg(request, "expand")) | {"properties"}
        with self.state.lock:
            return _ok(self.render(request).comment(issue, comment, expand), 201)

    def _comment_expand(self, request: Request) -> set[str]:
        """``expand`` of the comment GETs: the spec documents ``renderedBody`` only."""
        expand = set(_list_arg(request, "expand"))
        if not self.settings.comment_properties_in_list:
            expand.discard("properties")
        return expand

    def get_comments(self, request: Request) -> Response:
        start = _int_arg(request, "startAt", 0)
        size = _int_arg(request, "maxResults", 100, cap=5000)
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
        return _ok({"comments": page, "maxResults": size, "startAt": start, "total": len(comments)})

    def get_comment(self, request: Request) -> Response:
        expand = self._comment_expand(request)
        r = self.render(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            comment = self.state.comment(issue, request.params["id"])
            return _ok(r.comment(issue, comment, expand))

    def update_comment(self, request: Request) -> Response:
        _bool_arg(request, "notifyUsers", True)  # checked; the sandbox notifies no one
        _bool_arg(request, "overrideEditableFlag", False)
        issue, comment = self.state.update_comment(
            request.params["issueIdOrKey"], request.params["id"], request.json()
        )
        expand = set(_list_arg(request, "expand")) | {"properties"}  # as the create answers
        with self.state.lock:
            return _ok(self.render(request).comment(issue, comment, expand))

    def delete_comment(self, request: Request) -> Response:
        self.state.delete_comment(request.params["issueIdOrKey"], request.params["id"])
        return empty_response(204)

    def get_comment_property_keys(self, request: Request) -> Response:
        with self.state.lock:
            _, comment = self.state.comment_by_id(request.params["commentId"])
            return _ok(self.render(request).comment_property_keys(comment))

    def get_comment_property(self, request: Request) -> Response:
        key = request.params["propertyKey"]
        with self.state.lock:
            _, comment = self.state.comment_by_id(request.params["commentId"])
            if key not in comment.properties:
                raise JiraError(404, [f"The property with key '{key}' does not exist."])
            return _ok({"key": key, "value": comment.properties[key]})

    # ------------------------------------------------------------------ attachments
    def add_attachments(self, request: Request) -> Response:
        token = (request.headers.get("X-Atlassian-Token") or "").lower()
        if token not in ("no-check", "nocheck"):
            return Response(403, b"XSRF check failed", {"Content-Type": "text/plain"})
        if not self.settings.attachments_enabled:
            raise JiraError(403, ["Attachments are disabled."])
        try:
            parts = jira_multipart.parse(request.body, request.headers)
        except jira_multipart.MultipartError as exc:
            raise JiraError(400, [f"Invalid multipart request: {exc}"]) from exc
        files = [
            (p.filename or "attachment", p.content_type, p.data) for p in parts if p.name == "file"
        ]
        if not files:
            raise JiraError(400, ["No file was attached: send multipart parts named 'file'."])
        created = self.state.add_attachments(request.params["issueIdOrKey"], files)
        r = self.render(request)
        with self.state.lock:
            return _ok([r.attachment(a) for a in created])

    def get_attachment(self, request: Request) -> Response:
        att = self.state.attachment(request.params["id"])
        with self.state.lock:
            # AttachmentMetadata carries the id as a number (Attachment as a string).
            return _ok({**self.render(request).attachment(att), "id": att.id, "properties": {}})

    def delete_attachment(self, request: Request) -> Response:
        self.state.delete_attachment(request.params["id"])
        return empty_response(204)

    def get_attachment_content(self, request: Request) -> Response:
        att = self.state.attachment(request.params["id"])
        disposition = f'attachment; filename="{att.filename}"'
        return Response(
            200, att.data, {"Content-Type": att.mime_type, "Content-Disposition": disposition}
        )

    # ------------------------------------------------------------------ links, remote links
    def link_issues(self, request: Request) -> Response:
        self.state.link_issues(request.json())
        return empty_response(201)

    def get_link(self, request: Request) -> Response:
        with self.state.lock:
            link_id = request.params["linkId"]
            link = self.state.links.get(int(link_id)) if link_id.isdigit() else None
            if link is None:
                raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
            return _ok(self.render(request).link(link))

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
            return _ok(links)
        if not links:
            raise JiraError(404, ["No remote link with the given globalId exists."])
        return _ok(links[0])

    def upsert_remote_link(self, request: Request) -> Response:
        issue_ref = request.params["issueIdOrKey"]
        link, created = self.state.upsert_remote_link(issue_ref, request.json())
        issue = self.state.issue(issue_ref)
        url = f"{self.render(request).issue_url(issue)}/remotelink/{link.id}"
        return _ok({"id": link.id, "self": url}, 201 if created else 200)

    def delete_remote_link(self, request: Request) -> Response:
        self.state.delete_remote_link(request.params["issueIdOrKey"], request.params["linkId"])
        return empty_response(204)

    # ------------------------------------------------------------------ properties
    def get_property_keys(self, request: Request) -> Response:
        r = self.render(request)
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            base = f"{r.issue_url(issue)}/properties/"
            return _ok({"keys": [{"key": k, "self": base + k} for k in issue.properties]})

    def get_property(self, request: Request) -> Response:
        key = request.params["propertyKey"]
        with self.state.lock:
            issue = self.state.issue(request.params["issueIdOrKey"])
            if key not in issue.properties:
                raise JiraError(404, [f"The property with key '{key}' does not exist."])
            return _ok({"key": key, "value": issue.properties[key]})

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

    # ------------------------------------------------------------------ agile
    def _register_agile(self) -> None:
        self.route("GET", AGILE + "/board", self.get_boards)
        self.route("GET", AGILE + "/board/{boardId}/sprint", self.get_sprints)
        self.route("POST", AGILE + "/sprint", self.create_sprint)
        self.route("GET", AGILE + "/sprint/{sprintId}", self.get_sprint)
        self.route("POST", AGILE + "/sprint/{sprintId}", self.update_sprint)
        self.route("POST", AGILE + "/sprint/{sprintId}/issue", self.move_to_sprint)

    def get_boards(self, request: Request) -> Response:
        wanted = request.arg("projectKeyOrId")
        r = self.render(request)
        board = {
            "id": self.state.board_id,
            "name": f"{self.state.project_key} board",
            "type": "scrum",
            "self": f"{r.base}{AGILE}/board/{self.state.board_id}",
            "location": {
                "projectId": int(self.state.project_id),
                "projectKey": self.state.project_key,
                "projectName": self.state.project_name,
                "projectTypeKey": "software",
                "displayName": f"{self.state.project_name} ({self.state.project_key})",
            },
        }
        boards = [board] if wanted is None or self.state.project_matches(wanted) else []
        if not self.settings.scrum_board:
            boards = []
        start, size = _int_arg(request, "startAt", 0), _int_arg(request, "maxResults", 50)
        page = _page(boards, start, size, "")
        page.pop("self")  # the agile API's pages carry no self link
        return _ok(page)

    def get_sprints(self, request: Request) -> Response:
        if request.params["boardId"] != str(self.state.board_id) or not self.settings.scrum_board:
            raise JiraError(404, ["Board does not exist or you do not have permission to see it."])
        states = set(_list_arg(request, "state"))
        r = self.render(request)
        with self.state.lock:
            sprints = [
                r.sprint(s) for s in self.state.sprints.values() if not states or s.state in states
            ]
        start, size = _int_arg(request, "startAt", 0), _int_arg(request, "maxResults", 50)
        page = _page(sprints, start, size, "")
        page.pop("self")
        return _ok(page)

    def _sprint(self, request: Request) -> Any:
        sid = request.params["sprintId"]
        sprint = self.state.sprints.get(int(sid)) if sid.isdigit() else None
        if sprint is None:
            raise JiraError(404, ["Sprint does not exist or you do not have permission."])
        return sprint

    def create_sprint(self, request: Request) -> Response:
        sprint = self.state.create_sprint(request.json())
        return _ok(self.render(request).sprint(sprint), 201)

    def get_sprint(self, request: Request) -> Response:
        with self.state.lock:
            return _ok(self.render(request).sprint(self._sprint(request)))

    def update_sprint(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise JiraError(400, ["Request body must be a JSON object."])
        with self.state.lock:
            sprint = self._sprint(request)
            _update_sprint(sprint, body)
            return _ok(self.render(request).sprint(sprint))

    def move_to_sprint(self, request: Request) -> Response:
        self.state.move_to_sprint(request.params["sprintId"], request.json())
        return empty_response(204)

    # ------------------------------------------------------------------ control, inspection
    def _register_control(self) -> None:
        self.route("GET", JIRA_CONTROL + "/settings", self.get_settings, faults=False)
        self.route("PATCH", JIRA_CONTROL + "/settings", self.patch_settings, faults=False)
        self.route("GET", JIRA_CONTROL + "/issues", self.inspect_issues, faults=False)
        self.route("GET", JIRA_CONTROL + "/issues/{key}", self.inspect_issue, faults=False)
        self.route("GET", JIRA_CONTROL + "/writes", self.get_writes, faults=False)
        self.route("POST", JIRA_CONTROL + "/writes/reset", self.reset_writes, faults=False)
        self.route("POST", JIRA_CONTROL + "/reset", self.reset_site, faults=False)

    def get_settings(self, request: Request) -> Response:
        return _ok(asdict(self.settings))

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
        return _ok(asdict(self.settings))

    def inspect_issues(self, request: Request) -> Response:
        return _ok(self.snapshot())

    def inspect_issue(self, request: Request) -> Response:
        with self.state.lock:
            issue = self.state.issue(request.params["key"])
            return _ok(self.dump_issue(issue.key))

    def get_writes(self, request: Request) -> Response:
        return _ok(self.writes)

    def reset_writes(self, request: Request) -> Response:
        with self.state.lock:
            self.state.writes.clear()
        return empty_response(204)

    def reset_site(self, request: Request) -> Response:
        self.reset()
        return empty_response(204)

    # ------------------------------------------------------------------ Python inspection API
    def dump_issue(self, key: str) -> dict[str, Any]:
        """Everything the site holds about one issue, in plain JSON types."""
        with self.state.lock:
            issue = self.state.issue(key)
            return _dump(self.state, issue)

    def snapshot(self) -> dict[str, Any]:
        with self.state.lock:
            issues = [_dump(self.state, i) for i in self.state.issues.values()]
            return {
                "issues": issues,
                "writes": dict(self.state.writes),
                "counters": dict(self.counters),
                "components": list(self.state.components.values()),
            }

    def issue_keys(self) -> list[str]:
        with self.state.lock:
            return [i.key for i in self.state.issues.values()]


def _user_matches(person: Person, query: str) -> bool:
    # Jira matches the start of the display name or of any of its words, and the
    # email address only when the user lets it be seen.
    name = person.display_name.lower()
    if name.startswith(query) or any(w.startswith(query) for w in name.split()):
        return True
    return not person.email_hidden and person.email.lower().startswith(query)


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


def _dump(state: JiraState, issue: Issue) -> dict[str, Any]:
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
