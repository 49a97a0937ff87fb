"""JSON shapes of the simulated Jira, as the REST v3 API returns them.

Each function builds one schema of the official OpenAPI file (named in its
docstring); the tests validate them against it. ``base`` is the site URL the
client used (taken from the Host header) so ``self`` links resolve.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox import jira_adf, jira_custom, jira_team
from sandbox.jira_state import Attachment, Comment, Issue, JiraState, Link, RemoteLink, Sprint
from sandbox.jira_team import ProjectDef
from sandbox.jira_workflow import (
    FIELDS,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    SPRINT,
    STATUS_CATEGORIES,
    STATUSES,
    TEAM_POINTS,
    VERSIONS,
    FieldDef,
    IssueType,
    Status,
)
from sandbox.people import Person

API = "/rest/api/3"
NAVIGABLE_EXCLUDED = {"comment", "attachment"}


def jira_time(ts: float) -> str:
    """Jira's timestamp format: ``2024-01-31T09:30:00.000+0000``.

    Whole milliseconds are computed from the rounded total, so a time the state
    stored as ``n / 1000`` always shows millisecond ``n`` (never ``n - 1``).
    """
    seconds, millis = divmod(round(ts * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}+0000"


@dataclass(frozen=True)
class FieldSelection:
    """Jira's ``fields`` parameter: ``*all``, ``*navigable``, names, ``-name`` exclusions."""

    include_all: bool
    names: frozenset[str]
    excluded: frozenset[str]

    @classmethod
    def parse(cls, raw: Iterable[str], default: str) -> FieldSelection:
        tokens = [t.strip() for item in raw for t in str(item).split(",") if t.strip()]
        if not tokens:
            tokens = [default]
        names = {t for t in tokens if not t.startswith("-") and not t.startswith("*")}
        excluded = {t[1:] for t in tokens if t.startswith("-")}
        include_all = "*all" in tokens
        if "*navigable" in tokens:
            names |= set(FIELDS) - NAVIGABLE_EXCLUDED
        if not names and not include_all and excluded:
            include_all = True  # "-comment" alone means everything but the comments
        return cls(include_all, frozenset(names), frozenset(excluded))

    def wants(self, fid: str) -> bool:
        return fid not in self.excluded and (self.include_all or fid in self.names)

    @property
    def id_only(self) -> bool:
        return not self.include_all and self.names <= {"id"}


class Renderer:
    def __init__(self, state: JiraState, base: str) -> None:
        self.state = state
        self.base = base.rstrip("/")
        self.api = self.base + API

    # ------------------------------------------------------------------ people
    def avatars(self, seed: str) -> dict[str, str]:
        return {f"{n}x{n}": f"{self.base}/avatar/{seed}?size={n}" for n in (16, 24, 32, 48)}

    def user(self, person: Person, *, full: bool = False) -> dict[str, Any]:
        """``User`` (and, with ``full=False``, a valid ``UserDetails``)."""
        out: dict[str, Any] = {
            "self": f"{self.api}/user?accountId={person.jira_account_id}",
            "accountId": person.jira_account_id,
            "accountType": "atlassian",
            "avatarUrls": self.avatars(person.jira_account_id[-8:]),
            "displayName": person.display_name,
            "active": True,
            "timeZone": "Etc/UTC",
        }
        if not person.email_hidden:
            out["emailAddress"] = person.jira_address
        if full:
            out["locale"] = "en_US"
        return out

    def user_ref(self, account_id: str | None) -> dict[str, Any] | None:
        person = self.state.user(account_id)
        return self.user(person) if person else None

    # ------------------------------------------------------------------ catalogue
    def issue_type(self, itype: IssueType) -> dict[str, Any]:
        """``IssueTypeDetails``."""
        return {
            "self": f"{self.api}/issuetype/{itype.id}",
            "id": itype.id,
            "description": itype.description,
            "name": itype.name,
            "subtask": itype.subtask,
            "avatarId": 10300 + int(itype.id) % 100,
            "hierarchyLevel": itype.level,
            "iconUrl": f"{self.base}/images/icons/issuetypes/{itype.name.lower()}.svg",
            **jira_team.type_scope(itype),
        }

    def status(self, status: Status) -> dict[str, Any]:
        """``StatusDetails``."""
        cat = STATUS_CATEGORIES[status.category]
        return {
            "self": f"{self.api}/status/{status.id}",
            "id": status.id,
            "name": status.name,
            "description": "",
            "iconUrl": f"{self.base}/images/icons/status_generic.gif",
            "statusCategory": {"self": f"{self.api}/statuscategory/{cat['id']}", **cat},
            **jira_team.status_scope(status.id),
        }

    def priority(self, pid: str) -> dict[str, Any]:
        """``Priority``."""
        row = PRIORITIES[pid]
        return {
            "self": f"{self.api}/priority/{pid}",
            "iconUrl": f"{self.base}/images/icons/priorities/{row['name'].lower()}.svg",
            "isDefault": pid == "3",
            **row,
        }

    def resolution(self, rid: str) -> dict[str, Any]:
        return {"self": f"{self.api}/resolution/{rid}", **RESOLUTIONS[rid]}

    def link_type(self, lid: str) -> dict[str, Any]:
        """``IssueLinkType``."""
        return {"self": f"{self.api}/issueLinkType/{lid}", **LINK_TYPES[lid]}

    def version(self, vid: str) -> dict[str, Any]:
        return {
            "self": f"{self.api}/version/{vid}",
            "projectId": int(self.state.project_id),
            **VERSIONS[vid],
        }

    def component(self, row: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
        """``ProjectComponent``."""
        out: dict[str, Any] = {
            "self": f"{self.api}/component/{row['id']}",
            "id": row["id"],
            "name": row["name"],
        }
        if full:
            out.update(
                description=row["description"],
                project=self.state.project_key,
                projectId=int(self.state.project_id),
                assigneeType="PROJECT_DEFAULT",
                realAssigneeType="PROJECT_DEFAULT",
                isAssigneeTypeValid=False,
            )
            lead = self.user_ref(row.get("leadAccountId"))
            if lead:
                out.update(lead=lead, leadAccountId=lead["accountId"])
        return out

    def project_ref(self, project: ProjectDef | None = None) -> dict[str, Any]:
        p = project or self.state.projects[0]
        return {
            "self": f"{self.api}/project/{p.id}",
            "id": p.id,
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "simplified": p.team_managed,
            "avatarUrls": self.avatars("project"),
        }

    def project(self, project: ProjectDef | None = None) -> dict[str, Any]:
        """``Project``: company-managed (``simplified`` false, style classic) or
        team-managed (``simplified`` true, style next-gen, no components or versions)."""
        st, p = self.state, project or self.state.projects[0]
        components = [] if p.team_managed else list(st.components.values())
        return {
            **self.project_ref(p),
            "expand": "description,lead,issueTypes,url,projectKeys",
            "description": "Target of the Azure DevOps migration.",
            "style": p.style,
            "lead": self.user(st.me),
            "assigneeType": "UNASSIGNED",
            "isPrivate": False,
            "components": [self.component(c, full=True) for c in components],
            "issueTypes": [self.issue_type(t) for t in p.types.values()],
            "versions": [] if p.team_managed else [self.version(v) for v in VERSIONS],
            "properties": {},
        }

    def field(self, fd: FieldDef) -> dict[str, Any]:
        """``FieldDetails``."""
        return {
            "id": fd.id,
            "key": fd.id,
            "name": fd.name,
            "custom": fd.custom,
            "orderable": fd.id not in ("status", "created", "updated", "creator"),
            "navigable": fd.navigable,
            "searchable": True,
            "clauseNames": list(fd.clause_names),
            "schema": fd.schema,
        }

    # ------------------------------------------------------------------ create metadata
    def meta_issue_type(self, itype: IssueType) -> dict[str, Any]:
        """``IssueTypeIssueCreateMetadata`` without fields."""
        return self.issue_type(itype)

    def meta_field(self, fd: FieldDef, itype: IssueType) -> dict[str, Any]:
        """``FieldCreateMetadata``."""
        out: dict[str, Any] = {
            "required": self._required(fd.id, itype),
            "schema": fd.schema,
            "name": fd.name,
            "key": fd.id,
            "fieldId": fd.id,
            "hasDefaultValue": fd.id in ("priority", "reporter"),
            "operations": list(fd.operations),
        }
        allowed = self._allowed_values(fd.id, itype)
        if allowed is not None:
            out["allowedValues"] = allowed
        if fd.id == "priority":
            out["defaultValue"] = self.priority("3")
        if fd.id in ("assignee", "reporter"):
            out["autoCompleteUrl"] = f"{self.api}/user/search?query="
        return out

    def _required(self, fid: str, itype: IssueType) -> bool:
        if fid in ("summary", "issuetype", "project", "reporter"):
            return True
        if fid == "parent":
            return itype.subtask
        return (
            fid == "customfield_10016"
            and self.state.settings.require_story_points
            and itype.name == "Story"
        )

    def _allowed_values(self, fid: str, itype: IssueType) -> list[Any] | None:
        if fid == "priority":
            return [self.priority(p) for p in PRIORITIES]
        if fid == "issuetype":
            return [self.issue_type(itype)]
        if fid == "project":
            return [self.project_ref(self.state.project_of_type(itype))]
        if fid == "components":
            return [self.component(c) for c in self.state.components.values()]
        if fid == "fixVersions":
            return [self.version(v) for v in VERSIONS]
        if fid in jira_custom.OPTIONS:
            return [self.custom_option(o) for o in jira_custom.OPTIONS[fid]]
        return None

    def custom_option(self, row: dict[str, str]) -> dict[str, Any]:
        """``CustomFieldOption``."""
        return {"self": f"{self.api}/customFieldOption/{row['id']}", **row}

    def custom_value(self, fid: str, stored: Any) -> Any:
        """A custom field's value as GET issue shows it (options and users expanded)."""
        if stored is None:
            return None
        plugin = jira_custom.plugin_of(fid)
        if plugin == "select":
            row = jira_custom.option(fid, stored)
            return self.custom_option(row) if row else None
        if plugin == "multiselect":
            rows = [jira_custom.option(fid, o) for o in stored]
            return [self.custom_option(r) for r in rows if r] or None
        if plugin == "userpicker":
            return self.user_ref(stored)
        return stored

    def edit_meta(self, issue: Issue) -> dict[str, Any]:
        """``IssueUpdateMetadata``: the fields of the issue's edit screen (``FieldMetadata``)."""
        skip = {"project", "issuetype"}
        out = {}
        for fid in issue.type.screen:
            if fid not in skip:
                meta = self.meta_field(FIELDS[fid], issue.type)
                meta.pop("fieldId")
                meta["required"] = fid == "summary"
                out[fid] = meta
        return {"fields": out}

    def transition(self, tr: Any) -> dict[str, Any]:
        """``IssueTransition``."""
        return {
            "id": tr.id,
            "name": tr.name,
            "to": self.status(STATUSES[tr.to]),
            "hasScreen": False,
            "isGlobal": False,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }

    # ------------------------------------------------------------------ issue parts
    def issue_url(self, issue: Issue) -> str:
        return f"{self.api}/issue/{issue.id}"

    def linked_issue(self, issue: Issue) -> dict[str, Any]:
        """``LinkedIssue`` (also the shape of ``fields.parent`` and sub-tasks)."""
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": self.issue_url(issue),
            "fields": {
                "summary": issue.fields.get("summary", ""),
                "status": self.status(STATUSES[issue.status_id]),
                "priority": self.priority(issue.fields.get("priority", "3")),
                "issuetype": self.issue_type(issue.type),
            },
        }

    def link(self, link: Link, viewer: Issue | None = None) -> dict[str, Any]:
        """``IssueLink``; seen from ``viewer`` only the other issue is shown, as Jira does."""
        inward = self.state.issues[link.inward_id]
        outward = self.state.issues[link.outward_id]
        out: dict[str, Any] = {
            "id": str(link.id),
            "self": f"{self.api}/issueLink/{link.id}",
            "type": self.link_type(link.type_id),
        }
        if viewer is None or viewer.id != inward.id:
            out["inwardIssue"] = self.linked_issue(inward)
        if viewer is None or viewer.id != outward.id:
            out["outwardIssue"] = self.linked_issue(outward)
        return out

    def attachment(self, att: Attachment) -> dict[str, Any]:
        """``Attachment``."""
        out: dict[str, Any] = {
            "self": f"{self.api}/attachment/{att.id}",
            "id": str(att.id),
            "filename": att.filename,
            "author": self.user_ref(att.author),
            "created": jira_time(att.created),
            "size": att.size,
            "mimeType": att.mime_type,
            "content": f"{self.api}/attachment/content/{att.id}",
        }
        if att.mime_type.startswith("image/"):
            out["thumbnail"] = f"{self.api}/attachment/thumbnail/{att.id}"
        return out

    def comment(self, issue: Issue, c: Comment, expand: set[str]) -> dict[str, Any]:
        """``Comment``."""
        out: dict[str, Any] = {
            "self": f"{self.issue_url(issue)}/comment/{c.id}",
            "id": str(c.id),
            "author": self.user_ref(c.author),
            "body": c.body,
            "updateAuthor": self.user_ref(c.author),
            "created": jira_time(c.created),
            "updated": jira_time(c.updated),
            "jsdPublic": True,
        }
        if c.visibility:
            out["visibility"] = c.visibility
        if "properties" in expand:
            out["properties"] = [{"key": k, "value": v} for k, v in c.properties.items()]
        if "renderedBody" in expand:
            out["renderedBody"] = _html(c.body)
        return out

    def comment_property_keys(self, c: Comment) -> dict[str, Any]:
        """``PropertyKeys`` of a comment."""
        base = f"{self.api}/comment/{c.id}/properties/"
        return {"keys": [{"key": k, "self": base + k} for k in c.properties]}

    def remote_link(self, issue: Issue, rl: RemoteLink) -> dict[str, Any]:
        """``RemoteIssueLink``."""
        out: dict[str, Any] = {"id": rl.id, "self": f"{self.issue_url(issue)}/remotelink/{rl.id}"}
        for key in ("globalId", "application", "relationship", "object"):
            if key in rl.body:
                out[key] = rl.body[key]
        return out

    def sprint(self, sprint: Sprint) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": sprint.id,
            "self": f"{self.base}/rest/agile/1.0/sprint/{sprint.id}",
            "state": sprint.state,
            "name": sprint.name,
            "originBoardId": sprint.board_id,
            "goal": sprint.goal,
        }
        if sprint.start_date:
            out["startDate"] = sprint.start_date
        if sprint.end_date:
            out["endDate"] = sprint.end_date
        return out

    # ------------------------------------------------------------------ issue
    def issue_fields(self, issue: Issue, sel: FieldSelection) -> dict[str, Any]:
        producers = self._field_producers(issue)
        return {fid: make() for fid, make in producers.items() if sel.wants(fid)}

    def _field_producers(self, issue: Issue) -> dict[str, Any]:
        f, st = issue.fields, self.state
        out: dict[str, Any] = {
            "summary": lambda: f.get("summary"),
            "issuetype": lambda: self.issue_type(issue.type),
            "project": lambda: self.project_ref(st.project_of_type(issue.type)),
            "description": lambda: f.get("description"),
            "priority": lambda: self.priority(f.get("priority", "3")),
            "labels": lambda: list(f.get("labels", [])),
            "components": lambda: [
                self.component(st.components[c]) for c in f.get("components", [])
            ],
            "fixVersions": lambda: [self.version(v) for v in f.get("fixVersions", [])],
            "assignee": lambda: self.user_ref(f.get("assignee")),
            "reporter": lambda: self.user_ref(f.get("reporter")),
            "creator": lambda: self.user_ref(issue.creator),
            "status": lambda: self.status(STATUSES[issue.status_id]),
            "created": lambda: jira_time(issue.created),
            "updated": lambda: jira_time(issue.updated),
            "statuscategorychangedate": lambda: jira_time(issue.status_changed),
            "resolution": lambda: self.resolution(issue.resolution_id)
            if issue.resolution_id
            else None,
            "resolutiondate": lambda: jira_time(issue.resolved) if issue.resolved else None,
            "issuelinks": lambda: [self.link(ln, issue) for ln in st.links_of(issue)],
            "subtasks": lambda: [
                self.linked_issue(i)
                for i in st.issues.values()
                if i.fields.get("parent") == issue.id and i.type.subtask
            ],
            "attachment": lambda: [
                self.attachment(st.attachments[a]) for a in issue.attachment_ids
            ],
            "comment": lambda: {
                "comments": [self.comment(issue, c, set()) for c in issue.comments],
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
                "self": f"{self.issue_url(issue)}/comment",
            },
        }
        if "parent" in issue.type.screen:
            out["parent"] = lambda: (
                self.linked_issue(st.issues[f["parent"]]) if f.get("parent") else None
            )
        if "environment" in issue.type.screen:
            out["environment"] = lambda: f.get("environment")
        if "customfield_10016" in issue.type.screen:
            out["customfield_10016"] = lambda: f.get("customfield_10016")
        for fid in jira_custom.CUSTOM_IDS & set(issue.type.screen):
            out[fid] = lambda fid=fid: self.custom_value(fid, f.get(fid))
        if SPRINT in issue.type.screen:
            out[SPRINT] = lambda: ([self.sprint(st.sprints[f[SPRINT]])] if f.get(SPRINT) else None)
        if TEAM_POINTS in issue.type.screen:  # a team-managed project's "Story point estimate"
            out[TEAM_POINTS] = lambda: f.get(TEAM_POINTS)
        if jira_team.type_scope(issue.type):  # no components or versions in team-managed
            out.pop("components", None)
            out.pop("fixVersions", None)
        return out

    def issue(
        self,
        issue: Issue,
        sel: FieldSelection,
        *,
        expand: set[str] | None = None,
        properties: Iterable[str] = (),
    ) -> dict[str, Any]:
        """``IssueBean``."""
        expand = expand or set()
        if sel.id_only and not expand and not properties:
            return {"id": str(issue.id)}
        out: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,"
            "changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": self.issue_url(issue),
            "key": issue.key,
        }
        out["fields"] = self.issue_fields(issue, sel)
        wanted = list(properties)
        if wanted:
            keys = issue.properties if "*all" in wanted else wanted
            out["properties"] = {k: issue.properties[k] for k in keys if k in issue.properties}
        if "names" in expand:
            out["names"] = {fid: FIELDS[fid].name for fid in out["fields"] if fid in FIELDS}
        if "renderedFields" in expand:
            out["renderedFields"] = self._rendered(issue, out["fields"])
        if "transitions" in expand:
            out["transitions"] = [self.transition(t) for t in self.state.transitions_for(issue)]
        return out

    def _rendered(self, issue: Issue, fields: dict[str, Any]) -> dict[str, Any]:
        rendered: dict[str, Any] = {}
        for fid in ("description", "environment"):
            if fid in fields:
                rendered[fid] = _html(fields[fid]) if fields[fid] else None
        if "comment" in fields:
            rendered["comment"] = {
                "comments": [self.comment(issue, c, {"renderedBody"}) for c in issue.comments]
            }
        return rendered


def _html(doc: Any) -> str:
    """A rough HTML rendering; enough for a client that reads ``renderedFields``."""
    text = jira_adf.to_plain_text(doc)
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line)
