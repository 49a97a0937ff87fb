"""The simulated Jira site's data and the rules that change it.

Everything here is plain Python (no HTTP): the routes in ``sandbox/jira.py``
parse requests, call one method of :class:`JiraState` and render the result.
A single re-entrant lock guards all state: the server is threaded, and
dictionaries plus one lock are fast enough for thousands of requests a second.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox import jira_adf
from sandbox.jira_workflow import (
    DEFAULT_PRIORITY,
    DEFAULT_RESOLUTION,
    DONE,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    SPRINT,
    STATUSES,
    STORY_POINTS,
    VERSIONS,
    IssueType,
    Transition,
    find_by_id_or_name,
    find_issue_type,
)
from sandbox.people import Person

PROPERTY_LIMIT = 32768
SUMMARY_LIMIT = 255
NOT_ON_SCREEN = "Field '{0}' cannot be set. It is not on the appropriate screen, or unknown."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."
NO_COMMENT = "Can not find a comment for the id: {0}."
ADF_MESSAGE = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


class JiraError(Exception):
    """A refusal in Jira's shape: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self, status: int, messages: Sequence[str] = (), errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


@dataclass
class Comment:
    id: int
    body: Any
    author: str
    created: float
    updated: float
    properties: dict[str, Any] = field(default_factory=dict)
    visibility: dict[str, Any] | None = None


@dataclass
class Attachment:
    id: int
    issue_id: int
    filename: str
    mime_type: str
    data: bytes
    sha256: str
    author: str
    created: float

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class RemoteLink:
    id: int
    global_id: str | None
    body: dict[str, Any]


@dataclass
class Link:
    id: int
    type_id: str
    inward_id: int  # the request's inwardIssue
    outward_id: int  # the request's outwardIssue


@dataclass
class Sprint:
    id: int
    name: str
    board_id: int
    state: str = "future"
    goal: str = ""
    start_date: str | None = None
    end_date: str | None = None


@dataclass
class Issue:
    id: int
    key: str
    number: int
    type: IssueType
    status_id: str
    fields: dict[str, Any]  # normalised values: ids for references, ADF as sent
    creator: str
    created: float
    updated: float
    status_changed: float
    resolution_id: str | None = None
    resolved: float | None = None
    comments: list[Comment] = field(default_factory=list)
    attachment_ids: list[int] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    remote_links: list[RemoteLink] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Settings:
    """Jira-specific knobs; change them while running (``PATCH /_sandbox/jira/settings``)."""

    upload_limit: int = 10 * 1024 * 1024
    attachments_enabled: bool = True
    require_story_points: bool = False  # makes Story Points required on Story only
    max_files_per_upload: int = 60
    manage_components: bool = True  # False: the API user lacks project admin (403 on create)
    scrum_board: bool = True  # False: the project has no board (a team-managed list, say)
    # False: the API user lacks the Delete issues, Delete all comments and Delete all
    # attachments permissions (DELETE answers 403, or 400 for a comment, as the spec says).
    delete_permission: bool = True
    # False: the API user lacks the global Bulk change permission (bulk delete answers 403).
    bulk_change_permission: bool = True
    bulk_delete_ms_per_issue: int = 5  # how long the bulk-delete task takes per issue
    # The spec documents only ``renderedBody`` for ``expand`` on the comment GETs, so
    # ``expand=properties`` is ignored there; True honours it (the sandbox's old behaviour).
    comment_properties_in_list: bool = False

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply known keys (all checked first: a refused change changes nothing)."""
        unknown = [k for k in changes if not hasattr(self, k)]
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("upload_limit", "max_files_per_upload", "bulk_delete_ms_per_issue"):
                checked[key] = int(value)
            elif key in unknown:
                continue
            elif not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
            else:
                checked[key] = value
        for key, value in checked.items():
            setattr(self, key, value)
        return unknown


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def now_ms() -> float:
    """The current time, whole milliseconds (the precision of Jira's timestamps)."""
    return int(time.time() * 1000) / 1000


def later(previous: float, now: float) -> float:
    """``now``, or one millisecond after ``previous`` when ``now`` would not show a change."""
    return max(now, (round(previous * 1000) + 1) / 1000)


def touch(issue: Issue, now: float | None = None) -> float:
    """Mark ``issue`` changed: ``updated`` moves on, even within one millisecond."""
    issue.updated = later(issue.updated, now_ms() if now is None else now)
    return issue.updated


class JiraState:
    def __init__(
        self, *, project_key: str, me: Person, users: Sequence[Person], settings: Settings
    ) -> None:
        self.lock = threading.RLock()
        self.project_key = project_key.upper()
        self.project_id = "10000"
        self.project_name = f"{self.project_key} migration target"
        self.me = me
        self.users: dict[str, Person] = {p.jira_account_id: p for p in users if p.in_jira}
        self.users[me.jira_account_id] = me
        self.settings = settings
        self.issues: dict[int, Issue] = {}
        self.by_key: dict[str, int] = {}
        self.attachments: dict[int, Attachment] = {}
        self.links: dict[int, Link] = {}
        self.link_index: dict[tuple[str, int, int], int] = {}
        self.comment_owner: dict[int, int] = {}  # comment id -> issue id
        self.components: dict[str, dict[str, Any]] = {}
        self.sprints: dict[int, Sprint] = {}
        self.board_id = 1
        self.writes: Counter[str] = Counter()
        self.bulk_tasks: dict[str, Any] = {}  # task id -> sandbox.jira_bulk.BulkTask
        self._next = Counter(
            {
                "issue": 10000,
                "comment": 10000,
                "attachment": 10000,
                "link": 10000,
                "remotelink": 10000,
                "component": 10000,
                "sprint": 1,
                "number": 1,
                "task": 10600,
            }
        )

    def next_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] += 1
        return value

    # ------------------------------------------------------------------ look-ups
    def issue(self, id_or_key: str) -> Issue:
        with self.lock:
            found = self.find_issue(id_or_key)
        if found is None:
            raise JiraError(404, [NO_ISSUE])
        return found

    def find_issue(self, id_or_key: Any) -> Issue | None:
        ref = str(id_or_key).strip()
        if ref.isdigit():
            return self.issues.get(int(ref))
        issue_id = self.by_key.get(ref.upper())
        return self.issues.get(issue_id) if issue_id is not None else None

    def find_issue_ref(self, ref: Any) -> Issue | None:
        """``{"key": ...}`` or ``{"id": ...}`` as in fields.parent and issue links."""
        if not isinstance(ref, dict):
            return None
        value = ref.get("key", ref.get("id"))
        return self.find_issue(value) if value is not None else None

    def comment(self, issue: Issue, comment_id: str) -> Comment:
        """The comment ``comment_id`` of ``issue``, or 404."""
        found = next((c for c in issue.comments if str(c.id) == comment_id), None)
        if found is None:
            raise JiraError(404, [NO_COMMENT.format(comment_id)])
        return found

    def comment_by_id(self, comment_id: str) -> tuple[Issue, Comment]:
        """A comment found by its id alone (``/comment/{commentId}/...``): 400 or 404."""
        if not comment_id.isdigit():
            raise JiraError(400, [f"The comment ID '{comment_id}' is invalid."])
        with self.lock:
            issue_id = self.comment_owner.get(int(comment_id))
            issue = self.issues.get(issue_id) if issue_id is not None else None
            if issue is None:
                raise JiraError(404, [NO_COMMENT.format(comment_id)])
            return issue, self.comment(issue, comment_id)

    def user(self, account_id: str | None) -> Person | None:
        return self.users.get(account_id) if account_id else None

    def project_matches(self, ref: Any) -> bool:
        if isinstance(ref, dict):
            return (
                str(ref.get("id", "")) == self.project_id
                or str(ref.get("key", "")).upper() == self.project_key
            )
        return str(ref).upper() in (self.project_key, self.project_id)

    # ------------------------------------------------------------------ field rules
    def normalise_fields(
        self,
        itype: IssueType,
        fields: dict[str, Any],
        *,
        creating: bool,
        issue: Issue | None = None,
    ) -> dict[str, Any]:
        """Check ``fields`` against the screen and the values Jira accepts.

        Collects every field error before refusing, as Jira does.
        """
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        editable = set(itype.screen) - ({"project", "issuetype"} if not creating else set())
        for fid, value in fields.items():
            if fid not in editable:
                errors[fid] = NOT_ON_SCREEN.format(fid)
                continue
            if fid in ("project", "issuetype"):
                continue
            try:
                out[fid] = self._normalise(fid, value, itype, issue)
            except ValueError as exc:
                errors[fid] = str(exc)
        if creating:
            self._check_required(itype, fields, out, errors)
        if errors:
            raise JiraError(400, [], errors)
        return out

    def _check_required(
        self, itype: IssueType, fields: dict[str, Any], out: dict[str, Any], errors: dict[str, str]
    ) -> None:
        if "summary" not in fields and "summary" not in errors:
            errors["summary"] = "You must specify a summary of the issue."
        if itype.subtask and out.get("parent") is None and "parent" not in errors:
            errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."
        if (
            self.settings.require_story_points
            and itype.name == "Story"
            and out.get(STORY_POINTS) is None
            and STORY_POINTS not in errors
        ):
            errors[STORY_POINTS] = "Story Points is required."
        out.setdefault("priority", DEFAULT_PRIORITY)
        out.setdefault("reporter", self.me.jira_account_id)

    def _normalise(self, fid: str, value: Any, itype: IssueType, issue: Issue | None) -> Any:
        if fid == "summary":
            return _summary(value)
        if fid in ("description", "environment"):
            return _adf(value)
        if fid == "priority":
            row = find_by_id_or_name(PRIORITIES, value)
            if row is None:
                raise ValueError("Specify a valid 'id' or 'name' for Priority")
            return row["id"]
        if fid == "labels":
            return _labels(value)
        if fid == "components":
            return self._components(value)
        if fid == "fixVersions":
            return _versions(value)
        if fid in ("assignee", "reporter"):
            return self._account(fid, value)
        if fid == "parent":
            return self._parent(value, itype, issue)
        if fid == STORY_POINTS:
            return _number(value)
        if fid == SPRINT:
            return self._sprint(value)
        raise ValueError(NOT_ON_SCREEN.format(fid))

    def _components(self, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValueError("Components must be an array of objects with an id or a name.")
        ids = []
        for ref in value:
            row = find_by_id_or_name(self.components, ref)
            if row is None:
                shown = ref.get("name", ref.get("id")) if isinstance(ref, dict) else ref
                raise ValueError(f"Component name '{shown}' is not valid")
            ids.append(row["id"])
        return ids

    def _account(self, fid: str, value: Any) -> str | None:
        if value is None and fid == "assignee":
            return None
        account = value.get("accountId") if isinstance(value, dict) else None
        if not isinstance(account, str) or account not in self.users:
            raise ValueError(
                "Specified user does not exist or you do not have required permissions"
            )
        return account

    def _parent(self, value: Any, itype: IssueType, issue: Issue | None) -> int | None:
        if value is None and not itype.subtask:
            return None
        parent = self.find_issue_ref(value)
        if parent is None:
            raise ValueError("Could not find issue by id or key.")
        if parent.type.level != itype.level + 1 or (issue is not None and parent.id == issue.id):
            raise ValueError("Given parent work item does not belong to appropriate hierarchy.")
        return parent.id

    def _sprint(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("Number value expected as the Sprint id.")
        sprint = self.sprints.get(value)
        if sprint is None:
            raise ValueError(f"Sprint with id {value} does not exist.")
        if sprint.state == "closed":
            raise ValueError("Issues can be assigned to open or future sprints only.")
        return value

    # ------------------------------------------------------------------ issue writes
    def create_issue(self, body: Any) -> tuple[Issue, Transition | None]:
        if not isinstance(body, dict):
            raise JiraError(400, ["Request body must be a JSON object."])
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise JiraError(400, [], {"fields": "Fields must be an object."})
        fields = _merge_update(fields, body.get("update"))
        with self.lock:
            itype = self._issue_type_for_create(fields)
            values = self.normalise_fields(itype, fields, creating=True)
            properties = _properties(body.get("properties"))
            transition = self._create_transition(itype, body.get("transition"))
            issue = self._insert(itype, values, properties)
            if transition is not None:
                self._apply_transition(issue, transition, None)
            self.writes["issues_created"] += 1
            return issue, transition

    def _issue_type_for_create(self, fields: dict[str, Any]) -> IssueType:
        errors: dict[str, str] = {}
        if "project" not in fields or not self.project_matches(fields["project"]):
            errors["project"] = "Specify a valid project ID or key"
        itype = find_issue_type(fields.get("issuetype"))
        if "issuetype" not in fields:
            errors["issuetype"] = "Specify an issue type"
        elif itype is None:
            errors["issuetype"] = "Specify a valid issue type"
        if errors or itype is None:
            raise JiraError(400, [], errors)
        return itype

    def _create_transition(self, itype: IssueType, ref: Any) -> Transition | None:
        if ref is None:
            return None
        tid = str(ref.get("id", "")) if isinstance(ref, dict) else ""
        for t in itype.workflow.available(itype.workflow.initial):
            if t.id == tid:
                return t
        raise JiraError(400, [f"Transition id '{tid}' is not valid for this issue."])

    def _insert(
        self, itype: IssueType, values: dict[str, Any], properties: dict[str, Any]
    ) -> Issue:
        now = now_ms()
        number = self.next_id("number")
        issue = Issue(
            id=self.next_id("issue"),
            key=f"{self.project_key}-{number}",
            number=number,
            type=itype,
            status_id=itype.workflow.initial,
            fields=values,
            creator=self.me.jira_account_id,
            created=now,
            updated=now,
            status_changed=now,
            properties=properties,
        )
        self.issues[issue.id] = issue
        self.by_key[issue.key] = issue.id
        return issue

    def edit_issue(self, id_or_key: str, body: Any) -> Issue:
        if not isinstance(body, dict):
            raise JiraError(400, ["Request body must be a JSON object."])
        with self.lock:
            issue = self.issue(id_or_key)
            fields = body.get("fields", {})
            if not isinstance(fields, dict):
                raise JiraError(400, [], {"fields": "Fields must be an object."})
            overlap = set(fields) & set(body.get("update") or {})
            if overlap:
                raise JiraError(
                    400,
                    [],
                    {
                        f: f"Field '{f}' cannot be set in both 'fields' and 'update'."
                        for f in overlap
                    },
                )
            fields = _merge_update(fields, body.get("update"), issue.fields)
            values = self.normalise_fields(issue.type, fields, creating=False, issue=issue)
            properties = _properties(body.get("properties"))
            issue.fields.update(values)
            issue.properties.update(properties)
            touch(issue)
            self.writes["issues_edited"] += 1
            return issue

    def delete_issue(self, id_or_key: str, delete_subtasks: bool) -> list[Issue]:
        """``deleteIssue``: the issue (and, when asked, its sub-tasks) go; keys are not reused.

        Their comments, attachments, remote links and issue links go with them; the
        other end of each removed link is touched (its ``issuelinks`` changed), as
        are the children whose parent epic went (their ``parent`` is cleared).
        """
        with self.lock:
            issue = self.issue(id_or_key)
            if not self.settings.delete_permission:
                raise JiraError(
                    403, ["You do not have permission to delete issues in this project."]
                )
            subtasks = [
                i
                for i in self.issues.values()
                if i.type.subtask and i.fields.get("parent") == issue.id
            ]
            if subtasks and not delete_subtasks:
                raise JiraError(
                    400,
                    [
                        f"The issue {issue.key} has sub-tasks: set "
                        "deleteSubtasks to true to delete them with it."
                    ],
                )
            gone = [*subtasks, issue]
            gone_ids = {i.id for i in gone}
            now = now_ms()
            for link in [
                ln
                for ln in self.links.values()
                if ln.inward_id in gone_ids or ln.outward_id in gone_ids
            ]:
                self._drop_link(link)
                for end in (link.inward_id, link.outward_id):
                    if end not in gone_ids:
                        touch(self.issues[end], now)
            for child in self.issues.values():
                if child.id not in gone_ids and child.fields.get("parent") in gone_ids:
                    child.fields["parent"] = None
                    touch(child, now)
            for doomed in gone:
                for att_id in doomed.attachment_ids:
                    self.attachments.pop(att_id, None)
                for c in doomed.comments:
                    self.comment_owner.pop(c.id, None)
                del self.issues[doomed.id]
                del self.by_key[doomed.key]
                self.writes["issues_deleted"] += 1
            return gone

    def transitions_for(self, issue: Issue) -> list[Transition]:
        return issue.type.workflow.available(issue.status_id)

    def do_transition(self, id_or_key: str, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("transition"), dict):
            raise JiraError(400, ["Missing 'transition' identifier"])
        with self.lock:
            issue = self.issue(id_or_key)
            tid = str(body["transition"].get("id", ""))
            transition = next((t for t in self.transitions_for(issue) if t.id == tid), None)
            if transition is None:
                raise JiraError(400, [f"Transition id '{tid}' is not valid for this issue."])
            resolution = self._transition_fields(transition, body)
            comment = _transition_comment(body.get("update"))
            if comment is not None:
                _adf_or_error(comment)
            self._apply_transition(issue, transition, resolution)
            if comment is not None:
                self.add_comment(issue.key, {"body": comment})

    def _transition_fields(self, transition: Transition, body: dict[str, Any]) -> str | None:
        # The simulated transitions have no screens: only resolution (on the way to a done
        # status) may be sent, as Jira's default "Done" screens allow.
        fields = body.get("fields") or {}
        errors = {
            f: NOT_ON_SCREEN.format(f)
            for f in fields
            if f != "resolution" or STATUSES[transition.to].category != DONE
        }
        update = body.get("update") or {}
        errors.update({f: NOT_ON_SCREEN.format(f) for f in update if f != "comment"})
        if errors:
            raise JiraError(400, [], errors)
        if "resolution" not in fields:
            return None
        row = find_by_id_or_name(RESOLUTIONS, fields["resolution"])
        if row is None:
            raise JiraError(
                400, [], {"resolution": "Specify a valid 'id' or 'name' for Resolution"}
            )
        return str(row["id"])

    def _apply_transition(
        self, issue: Issue, transition: Transition, resolution: str | None
    ) -> None:
        now = now_ms()
        before = issue.status_id
        issue.status_id = transition.to
        done = STATUSES[transition.to].category == DONE
        if done:
            issue.resolution_id = resolution or DEFAULT_RESOLUTION.get(transition.to, "10000")
            issue.resolved = now
        else:
            issue.resolution_id, issue.resolved = None, None
        if STATUSES[before].category != STATUSES[transition.to].category:
            issue.status_changed = now
        touch(issue, now)
        issue.history.append(
            {
                "transition": transition.id,
                "from": STATUSES[before].name,
                "to": STATUSES[transition.to].name,
                "at": now,
            }
        )
        self.writes["transitions"] += 1

    # ------------------------------------------------------------------ comments
    def add_comment(self, id_or_key: str, body: Any) -> tuple[Issue, Comment]:
        if not isinstance(body, dict) or "body" not in body:
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        _adf_or_error(body["body"])
        properties = _properties(body.get("properties"))
        visibility = body.get("visibility")
        with self.lock:
            issue = self.issue(id_or_key)
            if len(issue.comments) >= 5000:
                raise JiraError(413, ["The per-issue limit for comments has been breached."])
            now = now_ms()
            comment = Comment(
                self.next_id("comment"),
                body["body"],
                self.me.jira_account_id,
                now,
                now,
                properties,
                visibility if isinstance(visibility, dict) else None,
            )
            issue.comments.append(comment)
            self.comment_owner[comment.id] = issue.id
            touch(issue, now)
            self.writes["comments"] += 1
            return issue, comment

    def update_comment(self, id_or_key: str, comment_id: str, body: Any) -> tuple[Issue, Comment]:
        """``updateComment``: a new body (required), visibility and properties (optional)."""
        if not isinstance(body, dict) or "body" not in body:
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        _adf_or_error(body["body"])
        properties = _properties(body.get("properties"))
        visibility = body.get("visibility")
        if visibility is not None and not isinstance(visibility, dict):
            raise JiraError(400, [], {"visibility": "Visibility must be an object."})
        with self.lock:
            issue = self.issue(id_or_key)
            comment = self.comment(issue, comment_id)
            comment.body = body["body"]
            if "visibility" in body:
                comment.visibility = visibility or None
            comment.properties.update(properties)
            comment.updated = later(comment.updated, now_ms())
            touch(issue, comment.updated)
            self.writes["comments_edited"] += 1
            return issue, comment

    def delete_comment(self, id_or_key: str, comment_id: str) -> None:
        with self.lock:
            issue = self.issue(id_or_key)
            comment = self.comment(issue, comment_id)
            if not self.settings.delete_permission:
                raise JiraError(
                    400,
                    [f"You do not have the permission to delete the comment with id {comment_id}."],
                )
            issue.comments.remove(comment)
            self.comment_owner.pop(comment.id, None)
            touch(issue)
            self.writes["comments_deleted"] += 1

    # ------------------------------------------------------------------ attachments
    def add_attachments(
        self, id_or_key: str, files: list[tuple[str, str, bytes]]
    ) -> list[Attachment]:
        with self.lock:
            issue = self.issue(id_or_key)
            limit = self.settings.upload_limit
            if len(files) > self.settings.max_files_per_upload:
                raise JiraError(
                    413,
                    [f"Too many files: at most {self.settings.max_files_per_upload} per request."],
                )
            for name, _, data in files:
                if len(data) > limit:
                    raise JiraError(
                        413,
                        [
                            f"The file '{name}' exceeds the maximum attachment "
                            f"size of {limit} bytes."
                        ],
                    )
            if len(issue.attachment_ids) + len(files) > 2000:
                raise JiraError(413, ["The per-issue limit for attachments has been breached."])
            now = now_ms()
            created = [self._store_attachment(issue, *f, now) for f in files]
            touch(issue, now)
            return created

    def _store_attachment(
        self, issue: Issue, name: str, mime: str, data: bytes, now: float
    ) -> Attachment:
        att = Attachment(
            self.next_id("attachment"),
            issue.id,
            name,
            mime,
            data,
            hashlib.sha256(data).hexdigest(),
            self.me.jira_account_id,
            now,
        )
        self.attachments[att.id] = att
        issue.attachment_ids.append(att.id)
        self.writes["attachments"] += 1
        self.writes["attachment_bytes"] += len(data)
        return att

    def attachment(self, att_id: str) -> Attachment:
        with self.lock:
            att = self.attachments.get(int(att_id)) if att_id.isdigit() else None
        if att is None:
            raise JiraError(404, [f"The attachment with id '{att_id}' does not exist"])
        return att

    def delete_attachment(self, att_id: str) -> None:
        """``removeAttachment``: 404 also when attachments are disabled, as the spec says."""
        with self.lock:
            if not self.settings.attachments_enabled:
                raise JiraError(404, ["Attachments are disabled."])
            att = self.attachment(att_id)
            if not self.settings.delete_permission:
                raise JiraError(
                    403,
                    [f"You do not have permission to delete the attachment with id '{att_id}'."],
                )
            del self.attachments[att.id]
            issue = self.issues[att.issue_id]
            issue.attachment_ids.remove(att.id)
            touch(issue)
            self.writes["attachments_deleted"] += 1

    # ------------------------------------------------------------------ links
    def link_issues(self, body: Any) -> None:
        if not isinstance(body, dict) or not all(
            k in body for k in ("type", "inwardIssue", "outwardIssue")
        ):
            raise JiraError(400, ["The type, inwardIssue and outwardIssue are required."])
        with self.lock:
            ltype = find_by_id_or_name(LINK_TYPES, body["type"])
            if ltype is None:
                shown = body["type"].get("name") if isinstance(body["type"], dict) else None
                raise JiraError(404, [f"No issue link type with name '{shown}' found."])
            inward = self.find_issue_ref(body["inwardIssue"])
            outward = self.find_issue_ref(body["outwardIssue"])
            if inward is None or outward is None:
                raise JiraError(404, ["Issue Does Not Exist"])
            if inward.id == outward.id:
                raise JiraError(400, ["You cannot link an issue to itself."])
            if isinstance(body.get("comment"), dict):
                _adf_or_error(body["comment"].get("body"))
            index_key = (ltype["id"], inward.id, outward.id)
            if index_key in self.link_index:
                return  # Jira answers 201 again and keeps the one link
            if self._link_count(inward.id) >= 2000 or self._link_count(outward.id) >= 2000:
                raise JiraError(413, ["The per-issue limit for issue links has been breached."])
            link = Link(self.next_id("link"), ltype["id"], inward.id, outward.id)
            self.links[link.id] = link
            self.link_index[index_key] = link.id
            now = touch(inward)
            touch(outward, now)
            self.writes["links"] += 1
            if isinstance(body.get("comment"), dict):
                self.add_comment(inward.key, body["comment"])

    def delete_link(self, link_id: str) -> None:
        """``deleteIssueLink``: 400 for an id that is not a number, 404 for an unknown one."""
        if not link_id.isdigit():
            raise JiraError(400, [f"The issue link ID '{link_id}' is invalid."])
        with self.lock:
            link = self.links.get(int(link_id))
            if link is None:
                raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
            self._drop_link(link)
            now = touch(self.issues[link.inward_id])
            touch(self.issues[link.outward_id], now)
            self.writes["links_deleted"] += 1

    def _drop_link(self, link: Link) -> None:
        del self.links[link.id]
        self.link_index.pop((link.type_id, link.inward_id, link.outward_id), None)

    def _link_count(self, issue_id: int) -> int:
        return sum(1 for ln in self.links.values() if issue_id in (ln.inward_id, ln.outward_id))

    def links_of(self, issue: Issue) -> list[Link]:
        return [ln for ln in self.links.values() if issue.id in (ln.inward_id, ln.outward_id)]

    def upsert_remote_link(self, id_or_key: str, body: Any) -> tuple[RemoteLink, bool]:
        obj = body.get("object") if isinstance(body, dict) else None
        if not isinstance(obj, dict) or not obj.get("url") or not obj.get("title"):
            raise JiraError(400, [], {"object": "The remote link object needs a url and a title."})
        global_id = body.get("globalId")
        with self.lock:
            issue = self.issue(id_or_key)
            if global_id:
                for existing in issue.remote_links:
                    if existing.global_id == global_id:
                        existing.body = dict(body)
                        touch(issue)
                        self.writes["remote_links_updated"] += 1
                        return existing, False
            link = RemoteLink(self.next_id("remotelink"), global_id, dict(body))
            issue.remote_links.append(link)
            touch(issue)
            self.writes["remote_links"] += 1
            return link, True

    def delete_remote_link(self, id_or_key: str, link_id: str) -> None:
        """``deleteRemoteIssueLinkById``: 400 for a bad id or one of another issue, else 404."""
        with self.lock:
            issue = self.issue(id_or_key)
            if not link_id.isdigit():
                raise JiraError(400, [f"The remote issue link ID '{link_id}' is invalid."])
            link = next((rl for rl in issue.remote_links if rl.id == int(link_id)), None)
            if link is None:
                if any(
                    rl.id == int(link_id)
                    for other in self.issues.values()
                    for rl in other.remote_links
                ):
                    raise JiraError(
                        400,
                        [
                            f"The remote issue link with id '{link_id}' does "
                            f"not belong to issue {issue.key}."
                        ],
                    )
                raise JiraError(404, [f"No remote issue link with id '{link_id}' exists."])
            issue.remote_links.remove(link)
            touch(issue)
            self.writes["remote_links_deleted"] += 1

    # ------------------------------------------------------------------ properties
    def set_property(self, id_or_key: str, key: str, raw: bytes) -> bool:
        if not raw.strip():
            raise JiraError(400, ["The property value cannot be empty."])
        if len(raw.decode("utf-8", "replace")) > PROPERTY_LIMIT:
            raise JiraError(
                400, [f"The property '{key}' has a value longer than {PROPERTY_LIMIT} characters."]
            )
        if len(key) > 255:
            raise JiraError(400, ["The property key cannot be longer than 255 characters."])
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JiraError(400, ["The property value must be valid JSON."]) from exc
        with self.lock:
            issue = self.issue(id_or_key)
            created = key not in issue.properties
            issue.properties[key] = value
            self.writes["properties"] += 1
            return created

    # ------------------------------------------------------------------ components, sprints
    def create_component(self, body: Any) -> dict[str, Any]:
        if not self.settings.manage_components:
            raise JiraError(
                403, ["You do not have permission to create components in this project."]
            )
        if not isinstance(body, dict):
            raise JiraError(400, ["Request body must be a JSON object."])
        name = body.get("name")
        errors: dict[str, str] = {}
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "The component name must not be empty."
        elif len(name) > 255:
            errors["name"] = "The component name must not exceed 255 characters."
        if not self.project_matches(body.get("project", "")):
            errors["project"] = "The project does not exist."
        with self.lock:
            if not errors and any(
                c["name"].lower() == str(name).lower() for c in self.components.values()
            ):
                errors["name"] = f"A component with the name {name} already exists in this project."
            if errors:
                raise JiraError(400, [], errors)
            cid = str(self.next_id("component"))
            row = {
                "id": cid,
                "name": str(name),
                "description": str(body.get("description") or ""),
                "leadAccountId": body.get("leadAccountId"),
            }
            self.components[cid] = row
            self.writes["components"] += 1
            return row

    def create_sprint(self, body: Any) -> Sprint:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("name"), str)
            or not body["name"].strip()
        ):
            raise JiraError(400, [], {"name": "The sprint name is required."})
        if body.get("originBoardId") != self.board_id:
            raise JiraError(
                400,
                [],
                {"originBoardId": "Board does not exist or you do not have permission to see it."},
            )
        with self.lock:
            sprint = Sprint(
                self.next_id("sprint"),
                body["name"][:255],
                self.board_id,
                goal=str(body.get("goal") or ""),
                start_date=body.get("startDate"),
                end_date=body.get("endDate"),
            )
            self.sprints[sprint.id] = sprint
            self.writes["sprints"] += 1
            return sprint

    def move_to_sprint(self, sprint_id: str, body: Any) -> None:
        keys = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not keys:
            raise JiraError(400, ["Issues must be a non-empty array."])
        if len(keys) > 50:
            raise JiraError(400, ["At most 50 issues can be moved in one operation."])
        with self.lock:
            sprint = self.sprints.get(int(sprint_id)) if sprint_id.isdigit() else None
            if sprint is None:
                raise JiraError(404, ["Sprint does not exist or you do not have permission."])
            if sprint.state == "closed":
                raise JiraError(400, ["Issues can be moved only to open or active sprints."])
            issues = [self.find_issue(k) for k in keys]
            if any(i is None for i in issues):
                raise JiraError(400, ["Some issues do not exist or you cannot see them."])
            now = now_ms()
            for issue in issues:
                assert issue is not None
                if issue.fields.get(SPRINT) != sprint.id:
                    issue.fields[SPRINT] = sprint.id
                    touch(issue, now)
                self.writes["sprint_moves"] += 1


# ---------------------------------------------------------------------- value helpers
def _adf_or_error(doc: Any) -> None:
    try:
        jira_adf.validate(doc)
    except jira_adf.AdfError as exc:
        raise JiraError(400, [], {"comment": f"{ADF_MESSAGE}: {exc}"}) from exc


def _summary(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("You must specify a summary of the issue.")
    if "\n" in value or "\r" in value:
        raise ValueError("The summary is invalid because it contains newline characters.")
    if len(value) > SUMMARY_LIMIT:
        raise ValueError("Summary must be less than 255 characters.")
    return value


def _adf(value: Any) -> Any:
    if value is None:
        return None
    try:
        jira_adf.validate(value)
    except jira_adf.AdfError as exc:
        raise ValueError(f"{ADF_MESSAGE}: {exc}") from exc
    return value


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("Labels must be an array of strings.")
    for label in value:
        if not label or any(ch.isspace() for ch in label):
            raise ValueError(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise ValueError("The label must not exceed 255 characters.")
    return list(dict.fromkeys(value))


def _versions(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("Fix versions must be an array of objects with an id or a name.")
    ids = []
    for ref in value:
        row = find_by_id_or_name(VERSIONS, ref)
        if row is None:
            raise ValueError(f"Version '{ref}' is not valid")
        ids.append(row["id"])
    return ids


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Operation value must be a number")
    return value


def _properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise JiraError(400, [], {"properties": "Properties must be an array of {key, value}."})
    out: dict[str, Any] = {}
    for prop in value:
        key = prop.get("key") if isinstance(prop, dict) else None
        if not isinstance(key, str) or not key or len(key) > 255:
            raise JiraError(
                400, [], {"properties": "Each property needs a key of 1 to 255 characters."}
            )
        if "value" not in prop or json_size(prop["value"]) > PROPERTY_LIMIT:
            raise JiraError(
                400,
                [],
                {
                    "properties": f"The property '{key}' has a missing value "
                    f"or one over {PROPERTY_LIMIT} characters."
                },
            )
        out[key] = prop["value"]
    return out


def _merge_update(
    fields: dict[str, Any], update: Any, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fold ``update: {field: [{add|set|remove: value}]}`` into plain field values."""
    if not update:
        return dict(fields)
    if not isinstance(update, dict):
        raise JiraError(400, [], {"update": "Update must be an object."})
    merged = dict(fields)
    for fid, ops in update.items():
        if not isinstance(ops, list):
            raise JiraError(400, [], {fid: "Update operations must be an array."})
        value: Any = list((current or {}).get(fid) or []) if fid in ("labels",) else None
        for op in ops:
            value = _apply_op(fid, value, op)
        merged[fid] = value
    return merged


def _apply_op(fid: str, value: Any, op: Any) -> Any:
    if not isinstance(op, dict) or len(op) != 1:
        raise JiraError(400, [], {fid: "Each update operation has exactly one verb."})
    verb, arg = next(iter(op.items()))
    if verb == "set":
        return arg
    if verb in ("add", "remove") and fid == "labels":
        labels = list(value or [])
        if verb == "add" and arg not in labels:
            labels.append(arg)
        if verb == "remove" and arg in labels:
            labels.remove(arg)
        return labels
    raise JiraError(400, [], {fid: f"Operation '{verb}' is not supported for field '{fid}'."})


def _transition_comment(update: Any) -> Any:
    ops = update.get("comment") if isinstance(update, dict) else None
    if not isinstance(ops, list) or not ops:
        return None
    add = ops[0].get("add") if isinstance(ops[0], dict) else None
    return add.get("body") if isinstance(add, dict) else None
