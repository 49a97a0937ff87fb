"""``/rest/api/3/search/jql``: JQL subset, ``nextPageToken`` paging, no ``total``."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from sandbox import jira_jql
from sandbox.jira_render import FieldSelection, Renderer
from sandbox.jira_state import Issue, JiraError, JiraState
from sandbox.jira_workflow import FIELDS, STATUS_CATEGORIES, STATUSES

UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
BAD_TOKEN = "The provided next page token is invalid or expired."
REQUEST_KEYS = {
    "jql",
    "nextPageToken",
    "maxResults",
    "fields",
    "expand",
    "properties",
    "fieldsByKeys",
    "reconcileIssues",
    "failFast",
}
DEFAULT_PAGE = 50
MAX_LIGHT_PAGE = 5000  # "returns max 5000 issues" when only id/key are requested
MAX_HEAVY_PAGE = 100


def row_of(issue: Issue, state: JiraState) -> jira_jql.Row:
    status = STATUSES[issue.status_id]
    parent = issue.fields.get("parent")
    return {
        "id": str(issue.id),
        "id_num": issue.id,
        "key": issue.key,
        "key_num": issue.number,
        "project": state.project_of_type(issue.type).key,
        "labels": issue.fields.get("labels", []),
        "issuetype": issue.type.id,
        "status": status.name.lower(),
        "statusCategory": status.category,
        "parent": str(parent) if parent else None,
        "assignee": issue.fields.get("assignee"),
        "reporter": issue.fields.get("reporter"),
        "summary": issue.fields.get("summary", ""),
        "created": issue.created,
        "updated": issue.updated,
        "issue": issue,
    }


class _Resolver:
    """Turns JQL literals into the values rows hold; refuses unknown ones as Jira does."""

    def __init__(self, state: JiraState) -> None:
        self.state = state

    def __call__(self, field: str, literal: str) -> str:
        method = getattr(self, "_" + field.lower(), None)
        return method(literal) if method else literal

    def _missing(self, field: str, literal: str) -> jira_jql.JqlError:
        return jira_jql.JqlError(f"The value '{literal}' does not exist for the field '{field}'.")

    def _project(self, literal: str) -> str:
        project = self.state.project_of(literal)
        if project is None:
            raise self._missing("project", literal)
        return project.key

    def _issue(self, literal: str, field: str) -> Issue:
        issue = self.state.find_issue(literal)
        if issue is None:
            raise jira_jql.JqlError(
                f"An issue with key '{literal}' does not exist for field '{field}'."
            )
        return issue

    def _key(self, literal: str) -> str:
        return self._issue(literal, "key").key

    def _id(self, literal: str) -> str:
        return str(self._issue(literal, "id").id)

    def _parent(self, literal: str) -> str:
        return str(self._issue(literal, "parent").id)

    def _issuetype(self, literal: str) -> str:
        for itype in (t for p in self.state.projects for t in p.types.values()):
            if literal in (itype.id,) or literal.lower() == itype.name.lower():
                return itype.id
        raise self._missing("issuetype", literal)

    def _status(self, literal: str) -> str:
        for status in STATUSES.values():
            if literal == status.id or literal.lower() == status.name.lower():
                return status.name.lower()
        raise self._missing("status", literal)

    def _statuscategory(self, literal: str) -> str:
        for key, cat in STATUS_CATEGORIES.items():
            if literal.lower() in (key, str(cat["id"]), cat["name"].lower()):
                return key
        raise self._missing("statusCategory", literal)


def _encode_token(offset: int, jql: str) -> str:
    raw = json.dumps({"o": offset, "h": zlib.crc32(jql.encode())}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, jql: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        offset = int(data["o"])
        matches = data["h"] == zlib.crc32(jql.encode())
    except (ValueError, KeyError, TypeError) as exc:
        raise JiraError(400, [BAD_TOKEN]) from exc
    if not matches or offset < 0:
        raise JiraError(400, [BAD_TOKEN])
    return offset


def parse_request(body: Any) -> dict[str, Any]:
    """Check a POST body against ``SearchAndReconcileRequestBean`` (unknown keys refused:
    ``startAt`` belongs to the removed ``/search`` and is a common migration mistake)."""
    if not isinstance(body, dict) or set(body) - REQUEST_KEYS:
        raise JiraError(
            400, ["Invalid request payload. Refer to the REST API documentation and try again."]
        )
    return body


def search(state: JiraState, render: Renderer, req: dict[str, Any]) -> dict[str, Any]:
    jql = str(req.get("jql") or "")
    properties = list(req.get("properties") or [])
    if len(properties) > 5:
        raise JiraError(400, ["The maximum number of properties that can be requested is 5."])
    sel = FieldSelection.parse(req.get("fields") or [], "id")
    expand = {e.strip() for e in str(req.get("expand") or "").split(",") if e.strip()}
    light = sel.id_only or (not sel.include_all and sel.names <= {"id", "key"})
    page = _page_size(req.get("maxResults"), MAX_LIGHT_PAGE if light else MAX_HEAVY_PAGE)
    with state.lock:
        try:
            query = jira_jql.parse(jql, _Resolver(state))
        except jira_jql.JqlError as exc:
            raise JiraError(400, [str(exc)]) from exc
        if not query.is_bounded:
            raise JiraError(400, [UNBOUNDED])
        offset = _decode_token(req["nextPageToken"], jql) if req.get("nextPageToken") else 0
        rows = [row_of(i, state) for i in state.issues.values()]
        assert query.predicate is not None
        matched = jira_jql.sort_rows(
            [r for r in rows if query.predicate(r)], query.order or [("key", False)]
        )
        chunk = matched[offset : offset + page]
        issues = [
            render.issue(r["issue"], sel, expand=expand, properties=properties) for r in chunk
        ]
    out: dict[str, Any] = {"issues": issues, "isLast": offset + page >= len(matched)}
    if not out["isLast"]:
        out["nextPageToken"] = _encode_token(offset + page, jql)
    if "names" in expand:
        out["names"] = {f.id: f.name for f in FIELDS.values() if sel.wants(f.id)}
    return out


def _page_size(raw: Any, cap: int) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise JiraError(400, ["maxResults must be a number."]) from exc
    return max(1, min(value, cap))
