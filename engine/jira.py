"""Jira Cloud platform REST v3 write client: implements ``JiraTarget``.

Every request goes through the limiter (pacing plus in-flight bound) and the one
retry layer in :mod:`engine.http`. Writes that create something (bulk/single
create, comment, attachment, transition) are not idempotent: a timeout after
sending raises :class:`engine.http.OutcomeUnknown` instead of a blind retry.
Link creation, remote-link upsert (by ``globalId``), sprint moves and properties
are safe to repeat and are retried; edits are not re-sent blindly (a late copy
could undo a later edit). The API token goes only to the site's origin
(see :mod:`engine.netpolicy`); the transport refuses any other URL.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import quote

import requests

from engine.errors import PermanentError
from engine.http import (
    RetryPolicy,
    Transport,
    jira_error_collection,
    make_session,
)
from engine.jira_bulk import JiraBulk
from engine.jira_removals import JiraRemovals
from engine.model import (
    BulkCreateResult,
    CreatedIssue,
    FieldMeta,
    IssueType,
    JiraProject,
    Status,
    Transition,
)
from engine.multipart import FilePart, MultipartFiles, rewindable
from engine.netpolicy import AddressPolicy, Origin, OriginCredential, guard_session
from engine.ratelimit import AdaptiveRateLimiter, RateLimiter

API = "/rest/api/3"
AGILE = "/rest/agile/1.0"
BULK_MAX = 50
SPRINT_MOVE_MAX = 50
AGILE_PAGE = 50
CREATEMETA_PAGE = 200
COMMENTS_PAGE = 100


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _status(raw: Mapping[str, Any]) -> Status:
    category = raw.get("statusCategory") or {}
    return Status(
        id=str(raw.get("id", "")),
        name=str(raw.get("name", "")),
        category=str(category.get("key", "") if isinstance(category, dict) else category),
    )


def _field_meta(raw: Mapping[str, Any]) -> FieldMeta:
    return FieldMeta(
        field_id=str(raw.get("fieldId") or raw.get("key") or ""),
        name=str(raw.get("name", "")),
        required=bool(raw.get("required", False)),
        schema=dict(raw.get("schema") or {}),
        has_default=bool(raw.get("hasDefaultValue", False)),
        allowed_values=list(raw.get("allowedValues") or []),
    )


def _created(raw: Mapping[str, Any]) -> CreatedIssue:
    moved = raw.get("transition")
    status = moved.get("status") if isinstance(moved, dict) else None
    return CreatedIssue(
        id=str(raw.get("id", "")),
        key=str(raw.get("key", "")),
        self_url=str(raw.get("self", "")),
        transition_status=status if isinstance(status, int) else None,
    )


def parse_bulk(body: Any, count: int) -> BulkCreateResult:
    """Map a ``CreatedIssues`` body back to request indexes.

    ``issues[]`` lists the created issues in request order with the failed
    elements left out; ``errors[].failedElementNumber`` names those.
    """
    result = BulkCreateResult()
    body = body if isinstance(body, dict) else {}
    for err in body.get("errors") or []:
        index = err.get("failedElementNumber")
        if not isinstance(index, int) or not 0 <= index < count:
            continue
        reason = jira_error_collection(err.get("elementErrors") or {})
        status = err.get("status")
        result.errors[index] = (f"HTTP {status}: " if status else "") + (reason or "failed")
    issues = list(body.get("issues") or [])
    succeeded = [i for i in range(count) if i not in result.errors]
    for index, raw in zip(succeeded, issues, strict=False):
        result.created[index] = _created(raw)
    # Anything neither created nor reported (a short answer) is an error too.
    for index in succeeded[len(issues) :]:
        result.errors[index] = "not in the bulk create answer"
    return result


class JiraClient(JiraRemovals, JiraBulk):
    """``JiraTarget`` over HTTP with pooled connections and client-side rate limiting.

    Removals (deletes, existence checks, bulk delete) are in :class:`JiraRemovals`,
    bulk transitions in :class:`engine.jira_bulk.JiraBulk`."""

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        limiter: RateLimiter | None = None,
        max_in_flight: int = 8,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        policy: AddressPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter: RateLimiter = limiter or AdaptiveRateLimiter(max_in_flight=max_in_flight)
        pool = max(max_in_flight, int(getattr(self.limiter, "max_in_flight", max_in_flight)))
        if session is None:
            self.session = make_session(pool, policy=policy)
        else:
            self.session = session
            if policy is not None:
                guard_session(session, policy, pool)
        token = base64.b64encode(f"{email}:{api_token}".encode()).decode()
        self.credential = OriginCredential(Origin.of(self.base_url), f"Basic {token}")
        # The token is never a session default: the transport adds it per request,
        # and only on the site's origin.
        self.session.headers.pop("Authorization", None)
        self.session.headers.setdefault("Accept", "application/json")
        self.http = Transport(
            self.session,
            timeout=timeout,
            retry=retry,
            limiter=self.limiter,
            name="jira",
            credential=self.credential,
        )
        self._projects: dict[str, JiraProject] = {}

    # ------------------------------------------------------------------ guards
    def is_own_origin(self, url: str) -> bool:
        """True when ``url`` is on the Jira site's origin (the token would go with it)."""
        return self.credential.matches(url)

    def set_stop_check(self, check: Callable[[], bool] | None) -> None:
        """Make waits and unsent attempts raise StopRequested once ``check()`` is true."""
        self.http.stop_check = check

    def _url(self, path: str) -> str:
        return f"{self.base_url}{API}{path}"

    def _get(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> Any:
        return self.http.json("GET", self._url(path), params=params, what=what)

    # ------------------------------------------------------------------ metadata
    def myself(self) -> dict[str, Any]:
        return dict(self._get("/myself", what="current user") or {})

    def get_project(self, key: str) -> JiraProject:
        cached = self._projects.get(key)
        if cached is not None:
            return cached
        raw = self._get(f"/project/{_seg(key)}", what=f"project {key}") or {}
        project = JiraProject(
            id=str(raw.get("id", "")),
            key=str(raw.get("key", key)),
            name=str(raw.get("name", "")),
            style=str(raw.get("style") or ("next-gen" if raw.get("simplified") else "classic")),
        )
        self._projects[key] = project
        return project

    def _paged(
        self,
        path: str,
        items_key: str | Sequence[str],
        *,
        what: str,
        page: int,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """startAt/maxResults pages until a short page or ``total`` is reached."""
        keys = [items_key] if isinstance(items_key, str) else list(items_key)
        start = 0
        while True:
            query = dict(params or {})
            query.update({"startAt": start, "maxResults": page})
            body = self._get(path, query, what=what) or {}
            items: list[dict[str, Any]] = []
            for key in keys:
                if body.get(key):
                    items = list(body[key])
                    break
            yield from items
            start += len(items)
            total = body.get("total")
            if not items or (isinstance(total, int) and start >= total):
                return
            if total is None and len(items) < int(body.get("maxResults") or page):
                return

    def issue_types(self, project_key: str) -> list[IssueType]:
        raws = list(
            self._paged(
                f"/issue/createmeta/{_seg(project_key)}/issuetypes",
                ("issueTypes", "createMetaIssueType"),
                what=f"issue types of {project_key}",
                page=CREATEMETA_PAGE,
            )
        )
        levels: dict[str, int] = {}
        if any(r.get("hierarchyLevel") is None for r in raws):
            project = self.get_project(project_key)
            for r in (
                self._get(
                    "/issuetype/project",
                    {"projectId": project.id},
                    what=f"issue type hierarchy of {project_key}",
                )
                or []
            ):
                if r.get("hierarchyLevel") is not None:
                    levels[str(r.get("id"))] = int(r["hierarchyLevel"])
        out = []
        for r in raws:
            type_id = str(r.get("id", ""))
            subtask = bool(r.get("subtask", False))
            level = r.get("hierarchyLevel")
            if level is None:
                level = levels.get(type_id)
            if level is None:
                level = -1 if subtask else (1 if str(r.get("name", "")).lower() == "epic" else 0)
            out.append(
                IssueType(
                    id=type_id,
                    name=str(r.get("name", "")),
                    subtask=subtask,
                    hierarchy_level=int(level),
                )
            )
        return out

    def create_fields(self, project_key: str, issue_type_id: str) -> list[FieldMeta]:
        return [
            _field_meta(raw)
            for raw in self._paged(
                f"/issue/createmeta/{_seg(project_key)}/issuetypes/{_seg(issue_type_id)}",
                ("fields", "results"),
                what=f"create fields of {project_key}/{issue_type_id}",
                page=CREATEMETA_PAGE,
            )
        ]

    def project_statuses(self, project_key: str) -> dict[str, list[Status]]:
        body = (
            self._get(f"/project/{_seg(project_key)}/statuses", what=f"statuses of {project_key}")
            or []
        )
        return {str(t.get("id", "")): [_status(s) for s in t.get("statuses") or []] for t in body}

    def fields(self) -> list[dict[str, Any]]:
        return list(self._get("/field", what="fields") or [])

    def priorities(self) -> list[dict[str, Any]]:
        return list(self._get("/priority", what="priorities") or [])

    def link_types(self) -> list[dict[str, Any]]:
        body = self._get("/issueLinkType", what="issue link types") or {}
        return list(body.get("issueLinkTypes") or [])

    def attachment_upload_limit(self) -> int | None:
        body = self._get("/attachment/meta", what="attachment settings") or {}
        if not body.get("enabled"):
            return None
        limit = body.get("uploadLimit")
        return int(limit) if limit is not None else None

    # ------------------------------------------------------------------ issues
    def create_issues(self, payloads: Sequence[dict[str, Any]]) -> BulkCreateResult:
        """Bulk create (≤ 50). Per-element failures come back in ``errors``, not raised.

        Raises ``OutcomeUnknown`` when the request may have created issues but no
        answer arrived: search for the migration markers before re-sending.
        """
        if not payloads:
            return BulkCreateResult()
        if len(payloads) > BULK_MAX:
            raise ValueError(f"bulk create takes at most {BULK_MAX} issues, got {len(payloads)}")
        try:
            body = self.http.json(
                "POST",
                self._url("/issue/bulk"),
                json_body={"issueUpdates": list(payloads)},
                ok=(200, 201),
                what="bulk create issues",
            )
        except PermanentError as exc:
            # 400 = every element failed; the body still says which and why.
            if exc.status == 400 and isinstance(exc.body, dict) and exc.body.get("errors"):
                return parse_bulk(exc.body, len(payloads))
            raise
        return parse_bulk(body, len(payloads))

    def create_issue(self, payload: dict[str, Any]) -> CreatedIssue:
        body = self.http.json(
            "POST", self._url("/issue"), json_body=payload, ok=(200, 201), what="create issue"
        )
        return _created(body or {})

    def edit_issue(self, key: str, fields: dict[str, Any]) -> None:
        # A PUT, but not re-sent blindly: a copy landing late could overwrite a later
        # edit of the same issue (the description is edited twice in a run). The
        # caller waits until the first copy has settled (OutcomeUnknown).
        self.http.request(
            "PUT",
            self._url(f"/issue/{_seg(key)}"),
            json_body={"fields": fields},
            idempotent=False,
            what=f"edit {key}",
        ).close()

    def get_issue(self, key: str, fields: Sequence[str] = ()) -> dict[str, Any]:
        params = {"fields": ",".join(fields)} if fields else None
        return dict(self._get(f"/issue/{_seg(key)}", params, what=f"issue {key}") or {})

    def transitions(self, key: str) -> list[Transition]:
        body = self._get(f"/issue/{_seg(key)}/transitions", what=f"transitions of {key}") or {}
        return [
            Transition(
                id=str(t.get("id", "")), name=str(t.get("name", "")), to=_status(t.get("to") or {})
            )
            for t in body.get("transitions") or []
        ]

    def transition(self, key: str, transition_id: str) -> None:
        self.http.request(
            "POST",
            self._url(f"/issue/{_seg(key)}/transitions"),
            json_body={"transition": {"id": str(transition_id)}},
            what=f"transition {key}",
        ).close()

    # ------------------------------------------------------------------ comments
    def add_comment(
        self, key: str, body: dict[str, Any], properties: Sequence[dict[str, Any]] = ()
    ) -> str:
        payload: dict[str, Any] = {"body": body}
        if properties:
            payload["properties"] = list(properties)
        answer = self.http.json(
            "POST",
            self._url(f"/issue/{_seg(key)}/comment"),
            json_body=payload,
            ok=(200, 201),
            what=f"comment on {key}",
        )
        return str((answer or {}).get("id", ""))

    def comments(self, key: str) -> list[dict[str, Any]]:
        return list(
            self._paged(
                f"/issue/{_seg(key)}/comment",
                "comments",
                what=f"comments of {key}",
                page=COMMENTS_PAGE,
                params={"expand": "properties", "orderBy": "created"},
            )
        )

    # ------------------------------------------------------------------ attachments
    def add_attachment(
        self, key: str, filename: str, stream: IO[bytes], content_type: str
    ) -> list[dict[str, Any]]:
        """Upload one file (see :meth:`add_attachments`)."""
        return self.add_attachments(key, [FilePart(stream, filename, content_type)])

    def add_attachments(self, key: str, files: Sequence[FilePart]) -> list[dict[str, Any]]:
        """Upload files in one streamed multipart body (never read whole into memory);
        Jira answers with the attachments it made.

        Seekable streams are rewound for a retry after 429/503; a one-way stream
        cannot be re-sent, so its upload fails with the transient error instead.
        """
        starts = [f.stream.tell() if rewindable(f.stream) else None for f in files]
        names = ", ".join(repr(f.filename) for f in files)
        encoder = MultipartFiles(files)
        used = False

        def body() -> Any:
            nonlocal used
            if used:
                if any(start is None for start in starts):
                    raise PermanentError(
                        f"attachment {names} on {key}: the upload must be retried but "
                        "its stream cannot be rewound"
                    )
                for f, start in zip(files, starts, strict=True):
                    f.stream.seek(start or 0)
            used = True
            return encoder.body()

        answer = self.http.json(
            "POST",
            self._url(f"/issue/{_seg(key)}/attachments"),
            body_factory=body,
            headers={"X-Atlassian-Token": "no-check", "Content-Type": encoder.content_type},
            ok=(200,),
            what=f"attach {names} to {key}",
        )
        return list(answer or [])

    def attachments(self, key: str) -> list[dict[str, Any]]:
        issue = self.get_issue(key, ("attachment",))
        return list((issue.get("fields") or {}).get("attachment") or [])

    # ------------------------------------------------------------------ links, properties
    def link_issues(self, link_type: str, inward_key: str, outward_key: str) -> None:
        # Jira answers 201 to a duplicate link too, so a retry cannot double it.
        self.http.request(
            "POST",
            self._url("/issueLink"),
            json_body={
                "type": {"name": link_type},
                "inwardIssue": {"key": inward_key},
                "outwardIssue": {"key": outward_key},
            },
            idempotent=True,
            what=f"link {inward_key} -{link_type}-> {outward_key}",
            writes_to=(inward_key, outward_key),  # a link writes to both its ends
        ).close()

    def remote_link(self, key: str, url: str, title: str, global_id: str) -> None:
        # An upsert keyed by globalId: safe to repeat.
        self.http.request(
            "POST",
            self._url(f"/issue/{_seg(key)}/remotelink"),
            json_body={"globalId": global_id, "object": {"url": url, "title": title}},
            idempotent=True,
            what=f"remote link on {key}",
        ).close()

    def set_property(self, key: str, prop: str, value: Any) -> None:
        self.http.request(
            "PUT",
            self._url(f"/issue/{_seg(key)}/properties/{_seg(prop)}"),
            json_body=value,
            what=f"property {prop} on {key}",
        ).close()

    def comment_property(self, comment_id: str, prop: str) -> Any | None:
        """``GET /comment/{id}/properties/{key}``: the value, or None when it is not set."""
        try:
            body = self._get(
                f"/comment/{_seg(comment_id)}/properties/{_seg(prop)}",
                what=f"property {prop} of comment {comment_id}",
            )
        except PermanentError as exc:
            if exc.status == 404:
                return None
            raise
        return (body or {}).get("value") if isinstance(body, dict) else None

    # ------------------------------------------------------------------ search, users
    def search(
        self, jql: str, fields: Sequence[str] = ("key",), properties: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]:
        if len(properties) > 5:
            raise ValueError("search/jql returns at most 5 issue properties")
        wanted = list(fields) or ["id"]
        page = 5000 if set(wanted) <= {"id", "key"} and not properties else 100
        token: str | None = None
        while True:
            payload: dict[str, Any] = {"jql": jql, "fields": wanted, "maxResults": page}
            if properties:
                payload["properties"] = list(properties)
            if token:
                payload["nextPageToken"] = token
            body = (
                self.http.json(
                    "POST",
                    self._url("/search/jql"),
                    json_body=payload,
                    idempotent=True,
                    what="search",
                )
                or {}
            )
            yield from body.get("issues") or []
            token = body.get("nextPageToken")
            if body.get("isLast") or not token:
                return

    # ------------------------------------------------------------------ components
    def components(self, project_key: str) -> list[dict[str, Any]]:
        body = self._get(
            f"/project/{_seg(project_key)}/components", what=f"components of {project_key}"
        )
        return list(body or [])

    def create_component(self, project_key: str, name: str) -> dict[str, Any]:
        # Not idempotent in Jira (a second create is a 400 "already exists"): the
        # caller looks the name up first and re-reads the list on that 400.
        body = self.http.json(
            "POST",
            self._url("/component"),
            json_body={"name": name, "project": project_key},
            ok=(200, 201),
            what=f"create component {name!r}",
        )
        return dict(body or {})

    # ------------------------------------------------------------------ agile: boards, sprints
    def _agile(self, path: str) -> str:
        return f"{self.base_url}{AGILE}{path}"

    def _agile_pages(self, path: str, params: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            query = {**params, "startAt": start, "maxResults": AGILE_PAGE}
            body = self.http.json("GET", self._agile(path), params=query, what=what) or {}
            values = list(body.get("values") or [])
            out += values
            start += len(values)
            if not values or body.get("isLast", True):
                return out

    def boards(self, project_key: str) -> list[dict[str, Any]]:
        return self._agile_pages(
            "/board", {"projectKeyOrId": project_key}, what=f"boards of {project_key}"
        )

    def sprints(self, board_id: int) -> list[dict[str, Any]]:
        return self._agile_pages(f"/board/{int(board_id)}/sprint", {}, what="sprints")

    def create_sprint(
        self, board_id: int, name: str, start: str | None, end: str | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": name, "originBoardId": int(board_id)}
        if start:
            payload["startDate"] = start
        if end:
            payload["endDate"] = end
        body = self.http.json(
            "POST",
            self._agile("/sprint"),
            json_body=payload,
            ok=(200, 201),
            what=f"create sprint {name!r}",
        )
        return dict(body or {})

    def update_sprint(self, sprint_id: int, *, state: str) -> dict[str, Any]:
        body = self.http.json(
            "POST",
            self._agile(f"/sprint/{int(sprint_id)}"),
            json_body={"state": state},
            idempotent=True,
            what=f"sprint {sprint_id} -> {state}",
        )
        return dict(body or {})

    def move_to_sprint(self, sprint_id: int, keys: Sequence[str]) -> None:
        if len(keys) > SPRINT_MOVE_MAX:
            raise ValueError(f"a sprint move takes at most {SPRINT_MOVE_MAX} issues")
        if not keys:
            return
        # Moving an issue into the sprint it is in changes nothing: safe to repeat.
        self.http.request(
            "POST",
            self._agile(f"/sprint/{int(sprint_id)}/issue"),
            json_body={"issues": list(keys)},
            idempotent=True,
            what=f"move {len(keys)} issues to sprint {sprint_id}",
        ).close()

    def find_users(self, query: str) -> list[dict[str, Any]]:
        return list(
            self._get(
                "/user/search", {"query": query, "maxResults": 50}, what=f"user search {query!r}"
            )
            or []
        )
