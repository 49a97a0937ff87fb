"""The simulated Jira site's data and the rules that change it.

Everything here is plain Python (no HTTP): the route handlers (``sandbox/jira_*``)
parse requests, call one method of :class:`JiraState` and render the result.
A single re-entrant lock guards all state: the server is threaded, and
dictionaries plus one lock are fast enough for thousands of requests a second.

The rules live beside it: field values in :mod:`sandbox.jira_fields`, links in
:mod:`sandbox.jira_linking`, components and sprints in :mod:`sandbox.jira_planning`;
the records in :mod:`sandbox.jira_records`, whose names are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sandbox import jira_fields, jira_linking, jira_planning, jira_team
from sandbox.jira_fields import adf_or_error, merge_update, parse_properties, transition_comment
from sandbox.jira_records import (
    ADF_MESSAGE,
    NO_COMMENT,
    NO_ISSUE,
    NOT_ON_SCREEN,
    PROPERTY_LIMIT,
    SUMMARY_LIMIT,
    Attachment,
    Comment,
    Issue,
    JiraError,
    Link,
    RemoteLink,
    Settings,
    Sprint,
    json_size,
    later,
    now_ms,
    touch,
)
from sandbox.jira_workflow import (
    DEFAULT_RESOLUTION,
    DONE,
    RESOLUTIONS,
    STATUSES,
    IssueType,
    Transition,
    find_by_id_or_name,
)
from sandbox.people import Person

__all__ = [
    "ADF_MESSAGE",
    "NOT_ON_SCREEN",
    "NO_COMMENT",
    "NO_ISSUE",
    "PROPERTY_LIMIT",
    "SUMMARY_LIMIT",
    "Attachment",
    "Comment",
    "Issue",
    "JiraError",
    "JiraState",
    "Link",
    "RemoteLink",
    "Settings",
    "Sprint",
    "json_size",
    "later",
    "now_ms",
    "touch",
]


class JiraState:
    def __init__(
        self,
        *,
        project_key: str,
        me: Person,
        users: Sequence[Person],
        settings: Settings,
        team_key: str = jira_team.TEAM_KEY,
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
        # Both projects of the site: this company-managed one, then the team-managed one.
        self.projects = jira_team.site_projects(self, team_key)
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
        for project in self.projects[1:]:
            self._next[f"number {project.key}"] = 1

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
        """``ref`` names one of the site's projects."""
        return self.project_of(ref) is not None

    def project_of(self, ref: Any) -> jira_team.ProjectDef | None:
        return jira_team.find_project(self.projects, ref)

    def project_of_type(self, itype: IssueType) -> jira_team.ProjectDef:
        return jira_team.project_of_type(self.projects, itype)

    def normalise_fields(
        self,
        itype: IssueType,
        fields: dict[str, Any],
        *,
        creating: bool,
        issue: Issue | None = None,
    ) -> dict[str, Any]:
        """Check ``fields`` against the screen and the values Jira accepts (400 if not)."""
        return jira_fields.normalise_fields(self, itype, fields, creating=creating, issue=issue)

    # ------------------------------------------------------------------ issue writes
    def create_issue(self, body: Any) -> tuple[Issue, Transition | None]:
        if not isinstance(body, dict):
            raise JiraError(400, ["Request body must be a JSON object."])
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise JiraError(400, [], {"fields": "Fields must be an object."})
        fields = merge_update(fields, body.get("update"))
        with self.lock:
            itype = self._issue_type_for_create(fields)
            values = self.normalise_fields(itype, fields, creating=True)
            properties = parse_properties(body.get("properties"))
            transition = self._create_transition(itype, body.get("transition"))
            issue = self._insert(itype, values, properties)
            if transition is not None:
                self._apply_transition(issue, transition, None)
                issue.history[-1]["onCreate"] = True
            self.writes["issues_created"] += 1
            return issue, transition

    def _issue_type_for_create(self, fields: dict[str, Any]) -> IssueType:
        errors: dict[str, str] = {}
        project = self.project_of(fields["project"]) if "project" in fields else None
        if project is None:
            errors["project"] = "Specify a valid project ID or key"
        itype = (project or self.projects[0]).find_type(fields.get("issuetype"))
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
        project = self.project_of_type(itype)
        number = self.next_id("number" if project is self.projects[0] else f"number {project.key}")
        issue = Issue(
            id=self.next_id("issue"),
            key=f"{project.key}-{number}",
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
            fields = merge_update(fields, body.get("update"), issue.fields)
            values = self.normalise_fields(issue.type, fields, creating=False, issue=issue)
            properties = parse_properties(body.get("properties"))
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
                jira_linking.drop_link(self, link)
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
            comment = transition_comment(body.get("update"))
            if comment is not None:
                adf_or_error(comment)
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
        adf_or_error(body["body"])
        properties = parse_properties(body.get("properties"))
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
        adf_or_error(body["body"])
        properties = parse_properties(body.get("properties"))
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
        jira_linking.link_issues(self, body)

    def delete_link(self, link_id: str) -> None:
        """``deleteIssueLink``: 400 for an id that is not a number, 404 for an unknown one."""
        jira_linking.delete_link(self, link_id)

    def links_of(self, issue: Issue) -> list[Link]:
        return jira_linking.links_of(self, issue)

    def upsert_remote_link(self, id_or_key: str, body: Any) -> tuple[RemoteLink, bool]:
        return jira_linking.upsert_remote_link(self, id_or_key, body)

    def delete_remote_link(self, id_or_key: str, link_id: str) -> None:
        """``deleteRemoteIssueLinkById``: 400 for a bad id or one of another issue, else 404."""
        jira_linking.delete_remote_link(self, id_or_key, link_id)

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
        return jira_planning.create_component(self, body)

    def create_sprint(self, body: Any) -> Sprint:
        return jira_planning.create_sprint(self, body)

    def move_to_sprint(self, sprint_id: str, body: Any) -> None:
        jira_planning.move_to_sprint(self, sprint_id, body)
