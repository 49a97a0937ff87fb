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
:mod:`sandbox.jira_bulk`; bulk transition (``POST /bulk/issues/transition``, a task
on the same queue) in :mod:`sandbox.jira_bulk_transition`. ``transition`` in a create
or bulk-create body moves the new issue in the same request (an id not available
from the workflow's initial status refuses that issue). ``updated`` of an
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
  delete and bulk transition answer 403), ``bulk_delete_ms_per_issue`` and
  ``bulk_transition_ms_per_issue`` (the bulk tasks' pace) and
  ``comment_properties_in_list`` (default False, as the spec documents only
  ``renderedBody`` for ``expand`` on ``GET .../comment`` and
  ``GET .../comment/{id}``: ``expand=properties`` is ignored there; True
  honours it). Comment properties are always readable through
  ``GET /rest/api/3/comment/{commentId}/properties[/{propertyKey}]``;
* ``GET/PATCH /_sandbox/jira/limits``: Jira's rate-limit model (per endpoint and
  method, per issue on write, hourly quota; :mod:`sandbox.jira_limits`), off until
  ``{"enabled": true}``; its 429s are counted as ``429 {reason}`` in the counters;
  ``GET /_sandbox/jira/limits/usage``: answers per endpoint and status, 429s per
  reason and endpoint (either limit's), cleared by ``POST .../usage/reset``;
* ``GET /_sandbox/jira/issues`` and ``/_sandbox/jira/issues/{key}``: every
  issue with all fields, status, comments (bodies and properties),
  attachments (name, size, sha256), links, remote links, properties, history
  (each status change; ``onCreate`` marks the one a create request made);
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

This module is the app: authentication, the service's refusal shapes, and the
route tables; the handlers live in one ``sandbox/jira_*_routes`` (or
``jira_platform``, ``jira_agile``, ``jira_control``) module per family.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sandbox import jira_bulk
from sandbox.httpbase import (
    BadRequestBody,
    Knobs,
    Request,
    Response,
    SandboxApp,
    json_response,
)
from sandbox.jira_agile import AgileRoutes
from sandbox.jira_attachment_routes import AttachmentRoutes
from sandbox.jira_bulk_transition import ROUTE as BULK_TRANSITION
from sandbox.jira_bulk_transition import BulkTransitionRoutes
from sandbox.jira_comment_routes import CommentRoutes
from sandbox.jira_control import ControlRoutes, dump
from sandbox.jira_issue_routes import BULK_LIMIT, BULKFETCH_LIMIT, IssueRoutes
from sandbox.jira_limit_routes import LimitRoutes, fresh_limits, refusal, written_issues
from sandbox.jira_limits import EndpointUsage, LimitSettings
from sandbox.jira_link_routes import LinkRoutes
from sandbox.jira_platform import PlatformRoutes
from sandbox.jira_render import Renderer
from sandbox.jira_routes import AGILE, API, JIRA_CONTROL
from sandbox.jira_state import JiraError, JiraState, Settings
from sandbox.people import Person

__all__ = [
    "AGILE",
    "ANONYMOUS_ROUTES",
    "API",
    "BULKFETCH_LIMIT",
    "BULK_LIMIT",
    "JIRA_CONTROL",
    "NOT_AUTHENTICATED",
    "JiraApp",
    "JiraHandler",
]

NOT_AUTHENTICATED = "Client must be authenticated to access this resource."
ANONYMOUS_ROUTES = {f"{API}/serverInfo"}  # Jira Cloud answers serverInfo without auth

JiraHandler = Callable[[Request], Response]


class JiraApp(SandboxApp):
    """The simulated site; its route tables below say which handler serves what."""

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
        limits: LimitSettings | None = None,
    ) -> None:
        super().__init__(knobs)
        # Jira's per-endpoint and per-issue limits (sandbox.jira_limits); off by default.
        self._initial_limits = limits or LimitSettings()
        self.limits = fresh_limits(self._initial_limits)
        self.usage = EndpointUsage()
        self.email = email
        self.api_token = api_token
        me = next((p for p in users if p.jira_address.lower() == email.lower() and p.in_jira), None)
        self._me = me or Person(display_name or "Migration Bot", email)
        self._users, self._project_key = tuple(users), project_key
        self._initial_settings = Settings(
            upload_limit=upload_limit,
            attachments_enabled=attachments_enabled,
            require_story_points=require_story_points,
            comment_properties_in_list=comment_properties_in_list,
        )
        self.settings, self.state = self._fresh_state()
        self._register_platform(PlatformRoutes(self))
        self._register_issue_routes(
            IssueRoutes(self), CommentRoutes(self), AttachmentRoutes(self), LinkRoutes(self)
        )
        self._register_agile(AgileRoutes(self))
        self._register_control(ControlRoutes(self))
        limit_routes = LimitRoutes(self.limits, self.usage)
        self.route("GET", JIRA_CONTROL + "/limits", limit_routes.get, faults=False)
        self.route("PATCH", JIRA_CONTROL + "/limits", limit_routes.patch, faults=False)
        self.route("POST", BULK_TRANSITION, BulkTransitionRoutes(self).submit)
        self.route("GET", JIRA_CONTROL + "/limits/usage", limit_routes.get_usage, faults=False)
        usage_reset = JIRA_CONTROL + "/limits/usage/reset"
        self.route("POST", usage_reset, limit_routes.reset_usage, faults=False)

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
        self.limits.reset(self._initial_limits)
        self.usage.clear()

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

    def limited(self, request: Request) -> Response | None:
        issues = written_issues(self.state, request) if request.method != "GET" else []
        verdict = self.limits.check(request.method, request.route, issues)
        if verdict.reason is not None:
            self.count(f"429 {verdict.reason}")
            return refusal(verdict)
        if verdict.near:
            request.answer_headers["X-RateLimit-NearLimit"] = "true"
        return None

    def decorate(self, request: Request, response: Response) -> Response:
        response.headers.update(request.answer_headers)
        reason = response.headers.get("RateLimit-Reason")
        self.usage.note(request.method, request.route, response.status, reason)
        return response

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

    # ------------------------------------------------------------------ platform
    def _register_platform(self, pf: PlatformRoutes) -> None:
        get = [
            ("/myself", pf.get_myself),
            ("/serverInfo", pf.get_server_info),
            ("/project/{projectIdOrKey}", pf.get_project),
            ("/project/{projectIdOrKey}/statuses", pf.get_project_statuses),
            ("/project/{projectIdOrKey}/components", pf.get_components),
            ("/project/{projectIdOrKey}/versions", pf.get_versions),
            ("/issuetype", pf.get_issue_types),
            ("/issuetype/project", pf.get_project_types),
            ("/issue/createmeta/{projectIdOrKey}/issuetypes", pf.get_createmeta_types),
            (
                "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
                pf.get_createmeta_fields,
            ),
            ("/field", pf.get_fields),
            ("/priority", pf.get_priorities),
            ("/priority/search", pf.search_priorities),
            ("/resolution", pf.get_resolutions),
            ("/status", pf.get_statuses),
            ("/statuscategory", pf.get_status_categories),
            ("/issueLinkType", pf.get_link_types),
            ("/label", pf.get_labels),
            ("/attachment/meta", pf.get_attachment_meta),
            ("/user/search", pf.find_users),
            ("/user/bulk", pf.bulk_users),
            ("/user", pf.get_user),
        ]
        for path, handler in get:
            self.route("GET", API + path, handler)
        self.route("POST", API + "/component", pf.create_component)
        for method in ("GET", "POST"):
            self.route(method, API + "/search", pf.old_search_gone)
            self.route(method, API + "/search/jql", pf.search_jql)

    # ------------------------------------------------------------------ issues
    def _register_issue_routes(
        self,
        issues: IssueRoutes,
        comments: CommentRoutes,
        files: AttachmentRoutes,
        links: LinkRoutes,
    ) -> None:
        issue = API + "/issue/{issueIdOrKey}"
        routes = [
            ("POST", API + "/issue", issues.create_issue),
            ("POST", API + "/issue/bulk", issues.create_issues),
            ("POST", API + "/issue/bulkfetch", issues.bulk_fetch),
            ("GET", issue, issues.get_issue),
            ("PUT", issue, issues.edit_issue),
            ("DELETE", issue, issues.delete_issue),
            ("GET", issue + "/editmeta", issues.get_edit_meta),
            ("GET", issue + "/transitions", issues.get_transitions),
            ("POST", issue + "/transitions", issues.do_transition),
            ("GET", issue + "/comment", comments.get_comments),
            ("POST", issue + "/comment", comments.add_comment),
            ("GET", issue + "/comment/{id}", comments.get_comment),
            ("PUT", issue + "/comment/{id}", comments.update_comment),
            ("DELETE", issue + "/comment/{id}", comments.delete_comment),
            ("GET", API + "/comment/{commentId}/properties", comments.get_comment_property_keys),
            (
                "GET",
                API + "/comment/{commentId}/properties/{propertyKey}",
                comments.get_comment_property,
            ),
            ("POST", issue + "/attachments", files.add_attachments),
            ("GET", API + "/attachment/{id}", files.get_attachment),
            ("DELETE", API + "/attachment/{id}", files.delete_attachment),
            ("GET", API + "/attachment/content/{id}", files.get_attachment_content),
            ("POST", API + "/issueLink", links.link_issues),
            ("GET", API + "/issueLink/{linkId}", links.get_link),
            ("DELETE", API + "/issueLink/{linkId}", links.delete_link),
            ("GET", issue + "/remotelink", links.get_remote_links),
            ("POST", issue + "/remotelink", links.upsert_remote_link),
            ("DELETE", issue + "/remotelink/{linkId}", links.delete_remote_link),
            ("GET", issue + "/properties", issues.get_property_keys),
            ("GET", issue + "/properties/{propertyKey}", issues.get_property),
            ("PUT", issue + "/properties/{propertyKey}", issues.set_property),
            ("DELETE", issue + "/properties/{propertyKey}", issues.delete_property),
        ]
        for method, path, handler in routes:
            self.route(method, path, handler)
        self.route("POST", API + "/bulk/issues/delete", issues.bulk_delete)
        self.route("GET", API + "/bulk/queue/{taskId}", issues.bulk_progress)
        self.route("GET", API + "/mypermissions", issues.my_permissions)

    # ------------------------------------------------------------------ agile
    def _register_agile(self, agile: AgileRoutes) -> None:
        self.route("GET", AGILE + "/board", agile.get_boards)
        self.route("GET", AGILE + "/board/{boardId}/sprint", agile.get_sprints)
        self.route("POST", AGILE + "/sprint", agile.create_sprint)
        self.route("GET", AGILE + "/sprint/{sprintId}", agile.get_sprint)
        self.route("POST", AGILE + "/sprint/{sprintId}", agile.update_sprint)
        self.route("POST", AGILE + "/sprint/{sprintId}/issue", agile.move_to_sprint)

    # ------------------------------------------------------------------ control, inspection
    def _register_control(self, control: ControlRoutes) -> None:
        self.route("GET", JIRA_CONTROL + "/settings", control.get_settings, faults=False)
        self.route("PATCH", JIRA_CONTROL + "/settings", control.patch_settings, faults=False)
        self.route("GET", JIRA_CONTROL + "/issues", control.inspect_issues, faults=False)
        self.route("GET", JIRA_CONTROL + "/issues/{key}", control.inspect_issue, faults=False)
        self.route("GET", JIRA_CONTROL + "/writes", control.get_writes, faults=False)
        self.route("POST", JIRA_CONTROL + "/writes/reset", control.reset_writes, faults=False)
        self.route("POST", JIRA_CONTROL + "/reset", control.reset_site, faults=False)

    # ------------------------------------------------------------------ Python inspection API
    def dump_issue(self, key: str) -> dict[str, Any]:
        """Everything the site holds about one issue, in plain JSON types."""
        with self.state.lock:
            issue = self.state.issue(key)
            return dump(self.state, issue)

    def snapshot(self) -> dict[str, Any]:
        with self.state.lock:
            issues = [dump(self.state, i) for i in self.state.issues.values()]
            return {
                "issues": issues,
                "writes": dict(self.state.writes),
                "counters": dict(self.counters),
                "components": list(self.state.components.values()),
            }

    def issue_keys(self) -> list[str]:
        with self.state.lock:
            return [i.key for i in self.state.issues.values()]
